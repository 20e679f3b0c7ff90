package lab

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/moby/moby/client"
	"github.com/strongswan/govici/vici"
)

// dockerTestRecorder applies records to the test's Info, like the lab's own recorder would.
type dockerTestRecorder struct {
	mu   sync.Mutex
	info *Info
	n    int
}

func (r *dockerTestRecorder) Record(fn func(*Info)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.info)
	r.n++
	return nil
}

// dockerTestInfo is a lab description with DESIGN.md's plan under dir.
func dockerTestInfo(id, dir string) *Info {
	info := &Info{Schema: InfoSchema, ID: id, Backend: "docker", Dir: dir, Phase: PhaseCreating, Sites: map[string]*Site{}}
	for _, s := range dockerSites {
		d := dockerDefaults[s]
		role, sid := RolePrimary, 1
		if s == SiteOnPrem {
			role, sid = RoleReplica, 2
		}
		info.Sites[s] = &Site{
			Name: s, Subnet: d.subnet,
			Gateway: Gateway{VICI: filepath.Join(dir, s, "charon.vici"), WANAddr: d.wan, LANAddr: d.lan, ID: s + ".lab"},
			DB:      DB{Socket: filepath.Join(dir, s, "mysqld.sock"), Role: role, Addr: d.db, ServerID: sid},
		}
	}
	return info
}

// dockerTestRender writes the configs the shared lab code renders (shapes of lab-prototype.sh).
// The datadirs stay empty: the db image's entrypoint initialises them.
func dockerTestRender(t testing.TB, info *Info) {
	t.Helper()
	for _, s := range dockerSites {
		site := info.Sites[s]
		other := info.Sites[dockerDefaults[s].remote]
		d := filepath.Join(info.Dir, s)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{
			"strongswan.conf": fmt.Sprintf(`charon {
  load_modular = no
  load = random nonce aes sha1 sha2 hmac pem pkcs1 x509 revocation constraints pubkey gmp curve25519 kdf openssl kernel-libipsec kernel-netlink socket-default vici updown
  filelog { log { path = %s/charon.log
    default = 1
    ike = 2 } }
  plugins { vici { socket = unix://%s } }
}
`, d, site.Gateway.VICI),
			"swanctl.conf": fmt.Sprintf(`connections { onprem-aws { version = 2
    local_addrs = %s
    remote_addrs = %s
    proposals = aes256-sha256-modp2048
    dpd_delay = 2s
    local { auth = psk
      id = %s }
    remote { auth = psk
      id = %s }
    children { onprem-aws { local_ts = %s
        remote_ts = %s
        esp_proposals = aes256-sha256
        dpd_action = restart } } } }
secrets { ike-1 { id-1 = %s
    id-2 = %s
    secret = "docker-test-only-psk-0123456789" } }
`, site.Gateway.WANAddr, other.Gateway.WANAddr, site.Gateway.ID, other.Gateway.ID, site.Subnet, other.Subnet, site.Gateway.ID, other.Gateway.ID),
			"my.cnf": fmt.Sprintf(`[mysqld]
datadir=%[1]s/data
tmpdir=%[1]s/tmp
socket=%[2]s
pid-file=%[1]s/mysqld.pid
bind-address=%[3]s
server-id=%[4]d
log-bin=%[1]s/data/binlog
binlog-format=ROW
user=root
skip-name-resolve
`, d, site.DB.Socket, site.DB.Addr, site.DB.ServerID),
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func dockerTestID(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "drdt-" + hex.EncodeToString(b)
}

// dockerTestNeedLab skips unless an engine answers, the images exist and no other lab holds
// the address plan. It never builds images.
func dockerTestNeedLab(t *testing.T) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("docker lab test skipped in -short mode")
	}
	eng, err := dockerConnect(context.Background())
	if err != nil {
		t.Skipf("docker lab test skipped: %v (DOCKER_HOST=%q)", err, os.Getenv("DOCKER_HOST"))
	}
	t.Cleanup(eng.close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dockerCheckImages(ctx, eng.cli, dockerGatewayImage, dockerDBImage); err != nil {
		t.Skipf("docker lab test skipped: %v", err)
	}
	res, err := eng.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", dockerLabelLab)})
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	for _, n := range res.Items {
		id := n.Labels[dockerLabelLab]
		hint := "`drdrill lab down` for it"
		switch {
		case id == "compose":
			hint = "scripts/compose-lab.sh down"
		case strings.HasPrefix(id, "drdt-"): // a killed test run
			hint = fmt.Sprintf("docker stop %[1]s-hostfw; docker ps -aq --filter label=%[2]s=%[1]s | xargs -r docker rm -f; docker network prune -f --filter label=%[2]s=%[1]s", id, dockerLabelLab)
		}
		t.Skipf("docker lab test skipped: network %s of lab %q holds the address plan; take it down first: %s", n.Name, id, hint)
	}
	return eng.cli
}

// dockerTestLeft lists what still carries the lab's label.
func dockerTestLeft(t *testing.T, cli *client.Client, id string) []string {
	t.Helper()
	ctx := context.Background()
	f := make(client.Filters).Add("label", dockerLabelLab+"="+id)
	var left []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, c := range cs.Items {
		left = append(left, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	for _, n := range ns.Items {
		left = append(left, "network "+n.Name)
	}
	return left
}

func dockerTestVICIVersion(ctx context.Context, path string) (string, error) {
	s, err := vici.NewSession(vici.WithSocketPath(path))
	if err != nil {
		return "", err
	}
	defer s.Close()
	m, err := s.Call(ctx, "version", nil)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%v %v", m.Get("daemon"), m.Get("version")), nil
}

func dockerTestSelect1(ctx context.Context, sock string) error {
	db, err := sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		return err
	}
	defer db.Close()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return fmt.Errorf("SELECT 1 returned %d", one)
	}
	return nil
}

// dockerTestFWRules returns the host's DOCKER-USER rules tagged for the lab, when this test can
// see them (root, iptables installed); ok is false otherwise.
func dockerTestFWRules(id string) (rules []string, ok bool) {
	if os.Geteuid() != 0 {
		return nil, false
	}
	out, err := exec.Command("iptables", "-w", "-S", "DOCKER-USER").Output()
	if err != nil {
		return nil, false
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, dockerLabelLab+"="+id) {
			rules = append(rules, l)
		}
	}
	return rules, true
}

func TestDockerProvisionTeardown(t *testing.T) {
	cli := dockerTestNeedLab(t)
	id := dockerTestID(t)
	info := dockerTestInfo(id, t.TempDir())
	dockerTestRender(t, info)
	rec := &dockerTestRecorder{info: info}
	b := NewDockerBackend()
	if b.Name() != "docker" {
		t.Fatalf("Name() = %q", b.Name())
	}
	// Registered before Provision's error is looked at: whatever was made goes away.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := b.Teardown(ctx, info); err != nil {
			t.Errorf("cleanup Teardown: %v", err)
		}
		if left := dockerTestLeft(t, cli, id); len(left) > 0 {
			t.Errorf("left after cleanup Teardown: %v", left)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	err := b.Provision(ctx, info, rec)
	t.Logf("Provision: %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if got := len(info.Resources.Containers); got != 5 {
		t.Errorf("recorded containers = %v, want 4 hosts + hostfw", info.Resources.Containers)
	}
	if got := len(info.Resources.Networks); got != 3 {
		t.Errorf("recorded networks = %v, want wan, aws, onprem", info.Resources.Networks)
	}
	if rec.n == 0 {
		t.Error("Provision recorded nothing through the Recorder")
	}
	if got, want := info.Sites[SiteAWS].Gateway.Host, id+"-aws-gw"; got != want {
		t.Errorf("aws gateway host = %q, want %q", got, want)
	}

	t.Run("sockets answer", func(t *testing.T) {
		for _, s := range dockerSites {
			v, err := dockerTestVICIVersion(ctx, info.Sites[s].Gateway.VICI)
			if err != nil {
				t.Errorf("%s VICI version: %v", s, err)
			} else {
				t.Logf("%s VICI: %s", s, v)
			}
			if err := dockerTestSelect1(ctx, info.Sites[s].DB.Socket); err != nil {
				t.Errorf("%s MySQL SELECT 1: %v", s, err)
			}
		}
	})

	t.Run("exec and host setup", func(t *testing.T) {
		out, err := b.Exec(ctx, info, "aws-db", "ip", "route")
		if err != nil || !strings.Contains(string(out), "192.168.64.0/24 via 10.20.0.1") {
			t.Errorf("aws-db routes: %q, %v; want 192.168.64.0/24 via 10.20.0.1", out, err)
		}
		out, err = b.Exec(ctx, info, id+"-onprem-db", "ip", "route")
		if err != nil || !strings.Contains(string(out), "10.20.0.0/16 via 192.168.64.1") {
			t.Errorf("onprem-db routes: %q, %v", out, err)
		}
		out, err = b.Exec(ctx, info, "onprem-gw", "cat", "/proc/sys/net/ipv4/ip_forward")
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Errorf("onprem-gw ip_forward = %q, %v", out, err)
		}
		out, err = b.Exec(ctx, info, "aws-gw", "ip", "-4", "-o", "addr")
		for _, a := range []string{"198.51.100.1/24", "10.20.0.1/16"} {
			if err != nil || !strings.Contains(string(out), a) {
				t.Errorf("aws-gw addresses %q, %v: want %s", out, err, a)
			}
		}
		for _, h := range []string{"aws-gw", "aws-db", "onprem-gw", "onprem-db"} {
			out, err := b.Exec(ctx, info, h, "ip", "route", "show", "default")
			if err != nil || strings.TrimSpace(string(out)) != "" {
				t.Errorf("%s has a default route (%q, %v): lab traffic could leave the lab", h, out, err)
			}
		}
		if _, err := b.Exec(ctx, info, "aws-db", "false"); err == nil || !strings.Contains(err.Error(), "status 1") {
			t.Errorf("Exec(false) error = %v, want exit status 1", err)
		}
	})

	// The LAN hop carries the other site's addresses: this is what Docker's internal-network
	// isolation drops without the hostfw helper. TCP from aws-db to onprem-db's MariaDB, through
	// the tunnel, entirely inside the lab's containers.
	t.Run("tunnel carries the LAN", func(t *testing.T) {
		for _, s := range dockerSites {
			uri := "unix://" + info.Sites[s].Gateway.VICI
			if out, err := b.Exec(ctx, info, s+"-gw", "swanctl", "--load-all", "--uri", uri, "--file", filepath.Join(info.Dir, s, "swanctl.conf")); err != nil {
				t.Fatalf("%s swanctl --load-all: %v\n%s", s, err, out)
			}
		}
		if out, err := b.Exec(ctx, info, "aws-gw", "swanctl", "--initiate", "--child", ConnName, "--uri", "unix://"+info.Sites[SiteAWS].Gateway.VICI); err != nil {
			t.Fatalf("swanctl --initiate: %v\n%s", err, out)
		}
		// bash's /dev/tcp inside aws-db, bounded by timeout(1): a deadline, not a sleep.
		out, err := b.Exec(ctx, info, "aws-db", "timeout", "20", "bash", "-c",
			"until (exec 3<>/dev/tcp/192.168.64.15/3306) 2>/dev/null; do sleep 0.05; done; echo connected")
		if err != nil || !strings.Contains(string(out), "connected") {
			t.Fatalf("aws-db -> 192.168.64.15:3306 through the tunnel: %q, %v", out, err)
		}
	})

	t.Run("kill and start gateway", func(t *testing.T) {
		before, err := cli.ContainerInspect(ctx, id+"-aws-gw", client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.KillGateway(ctx, info, SiteAWS); err != nil {
			t.Fatalf("KillGateway: %v", err)
		}
		if c, err := net.DialTimeout("unix", info.Sites[SiteAWS].Gateway.VICI, time.Second); err == nil {
			c.Close()
			t.Fatal("VICI socket still accepts connections after KillGateway")
		}
		if out, err := b.Exec(ctx, info, "aws-gw", dockerGatewayCmd, "status"); err == nil {
			t.Fatalf("charon still running after KillGateway: %s", out)
		}
		start := time.Now()
		if err := b.StartGateway(ctx, info, rec, SiteAWS); err != nil {
			t.Fatalf("StartGateway: %v", err)
		}
		t.Logf("StartGateway: %s", time.Since(start).Round(time.Millisecond))
		if _, err := dockerTestVICIVersion(ctx, info.Sites[SiteAWS].Gateway.VICI); err != nil {
			t.Errorf("VICI after StartGateway: %v", err)
		}
		after, err := cli.ContainerInspect(ctx, id+"-aws-gw", client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.Container.State.StartedAt != before.Container.State.StartedAt || !after.Container.State.Running {
			t.Errorf("the gateway container was restarted (%s -> %s): its network state was not kept",
				before.Container.State.StartedAt, after.Container.State.StartedAt)
		}
	})

	if rules, ok := dockerTestFWRules(id); ok && len(rules) != 2 {
		t.Errorf("hostfw rules for the lab = %q, want one per LAN bridge", rules)
	}
	start = time.Now()
	if err := b.Teardown(context.Background(), info); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	t.Logf("Teardown: %s", time.Since(start).Round(time.Millisecond))
	if left := dockerTestLeft(t, cli, id); len(left) > 0 {
		t.Errorf("left after Teardown: %v", left)
	}
	if rules, ok := dockerTestFWRules(id); ok && len(rules) != 0 {
		t.Errorf("hostfw rules left after Teardown: %q", rules)
	}
	if err := b.Teardown(context.Background(), info); err != nil {
		t.Errorf("second Teardown (idempotent): %v", err)
	}
}

// A daemon that cannot start fails Provision at once (not at the deadline), with its logs, and
// the cleanup removes everything.
func TestDockerProvisionFailureShowsLogs(t *testing.T) {
	cli := dockerTestNeedLab(t)
	id := dockerTestID(t)
	info := dockerTestInfo(id, t.TempDir())
	dockerTestRender(t, info)
	cnf := filepath.Join(info.Dir, SiteOnPrem, dockerMyCnf)
	body, err := os.ReadFile(cnf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cnf, append(body, "no-such-mariadb-option=1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	b := NewDockerBackend()
	t.Cleanup(func() {
		if err := b.Teardown(context.Background(), info); err != nil {
			t.Errorf("cleanup Teardown: %v", err)
		}
		if left := dockerTestLeft(t, cli, id); len(left) > 0 {
			t.Errorf("left after cleanup Teardown: %v", left)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	err = b.Provision(ctx, info, &dockerTestRecorder{info: info})
	if err == nil {
		t.Fatal("Provision succeeded with a broken my.cnf")
	}
	t.Logf("Provision failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	for _, want := range []string{"onprem-db", "exited", "no-such-mariadb-option"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q", want)
		}
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("Provision took %s to notice a dead daemon", d)
	}
}

// A crashed run leaves labelled resources that info.Resources does not list: Teardown finds them.
func TestDockerTeardownFindsLeftovers(t *testing.T) {
	cli := dockerTestNeedLab(t)
	id := dockerTestID(t)
	ctx := context.Background()
	name := id + "-orphan"
	t.Cleanup(func() { cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}) })
	_, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge", Internal: true, Labels: map[string]string{dockerLabelLab: id},
	})
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	info := &Info{ID: id, Dir: t.TempDir(), Resources: Resources{Containers: []string{id + "-never-created"}}}
	if err := NewDockerBackend().Teardown(ctx, info); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if left := dockerTestLeft(t, cli, id); len(left) > 0 {
		t.Errorf("left after Teardown: %v", left)
	}
}

func TestDockerMissingImage(t *testing.T) {
	eng, err := dockerConnect(context.Background())
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	defer eng.close()
	err = dockerCheckImages(context.Background(), eng.cli, "drdrill/no-such-image:local")
	if err == nil || !strings.Contains(err.Error(), "make images") || !strings.Contains(err.Error(), "drdrill/no-such-image:local") {
		t.Errorf("error = %v, want it to name the image and `make images`", err)
	} else if _, ok := err.(*EnvError); !ok {
		t.Errorf("error is a %T, want *EnvError (exit 2)", err)
	}
	if err := NewDockerBackend().(interface{ Preflight() error }).Preflight(); err != nil {
		t.Logf("Preflight with an engine: %v (images missing?)", err)
	}
}

// No engine: DOCKER_HOST names a socket that does not exist.
func TestDockerNoEngine(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "no-such-docker.sock"))
	info := dockerTestInfo(dockerTestID(t), filepath.Join(dir, "lab"))
	dockerTestRender(t, info)
	b := NewDockerBackend()
	ctx := context.Background()
	want := "the docker backend needs a running Docker engine"
	if err := b.Provision(ctx, info, &dockerTestRecorder{info: info}); err == nil || err.Error() != want {
		t.Errorf("Provision error = %v, want exactly %q", err, want)
	}
	if p, ok := b.(interface{ Preflight() error }); !ok {
		t.Error("the docker backend has no Preflight")
	} else if err := p.Preflight(); err == nil || err.Error() != want {
		t.Errorf("Preflight error = %v, want exactly %q", err, want)
	} else if _, ok := err.(*EnvError); !ok {
		t.Errorf("Preflight error is a %T, want *EnvError (exit 2)", err)
	}
	if len(info.Resources.Containers)+len(info.Resources.Networks) != 0 {
		t.Errorf("Provision recorded resources without an engine: %+v", info.Resources)
	}
	if _, err := b.Exec(ctx, info, "aws-gw", "true"); err == nil || err.Error() != want {
		t.Errorf("Exec error = %v, want exactly %q", err, want)
	}
	if err := b.Teardown(ctx, info); err != nil {
		t.Errorf("Teardown of a lab that created nothing: %v, want nil", err)
	}
	info.Resources.Networks = []string{info.ID + "-wan"}
	if err := b.Teardown(ctx, info); err == nil || err.Error() != want {
		t.Errorf("Teardown with recorded resources: error = %v, want exactly %q", err, want)
	}
}

func TestDockerPlan(t *testing.T) {
	dir := t.TempDir()
	info := dockerTestInfo("lab1", dir)
	p, err := dockerMakePlan(info)
	if err != nil {
		t.Fatal(err)
	}
	aws, onprem := p.sites[SiteAWS], p.sites[SiteOnPrem]
	if aws.routes != "192.168.64.0/24 via 10.20.0.1" || onprem.routes != "10.20.0.0/16 via 192.168.64.1" {
		t.Errorf("routes = %q / %q", aws.routes, onprem.routes)
	}
	if len(aws.mounts) != 1 || aws.mounts[0] != filepath.Join(dir, "aws") {
		t.Errorf("aws mounts = %v, want only the site dir", aws.mounts)
	}
	hosts := p.hosts()
	if len(hosts) != 4 || hosts[0].nets[0] != "lab1-wan" || hosts[0].addrs[1].String() != "10.20.0.1" {
		t.Errorf("hosts = %+v", hosts)
	}

	// Empty fields take DESIGN.md's plan; a socket outside the site dir is mounted too.
	bare := &Info{ID: "lab2", Dir: dir, Sites: map[string]*Site{SiteAWS: {Gateway: Gateway{VICI: "/run/drdrill-x/charon.vici"}}}}
	p, err = dockerMakePlan(bare)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.sites[SiteOnPrem].dbAddr.String(); got != "192.168.64.15" {
		t.Errorf("default onprem db addr = %s", got)
	}
	if m := p.sites[SiteAWS].mounts; len(m) != 2 || m[1] != "/run/drdrill-x" {
		t.Errorf("aws mounts = %v", m)
	}

	for name, mut := range map[string]func(*Info){
		"relative dir":       func(i *Info) { i.Dir = "lab" },
		"bad id":             func(i *Info) { i.ID = "-x y" },
		"db outside subnet":  func(i *Info) { i.Sites[SiteAWS].DB.Addr = "192.168.64.99" },
		"wan outside wan":    func(i *Info) { i.Sites[SiteOnPrem].Gateway.WANAddr = "10.0.0.2" },
		"relative socket":    func(i *Info) { i.Sites[SiteOnPrem].DB.Socket = "mysqld.sock" },
		"subnet not a range": func(i *Info) { i.Sites[SiteAWS].Subnet = "10.20.0.0" },
	} {
		i := dockerTestInfo("lab3", dir)
		mut(i)
		if _, err := dockerMakePlan(i); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDockerDaemonLog(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, dockerMyCnf), []byte("[mysqld]\ndatadir=/x/data\nlog-error=/x/aws/mysqld.log\n"), 0o600)
	os.WriteFile(filepath.Join(dir, dockerStrongswanConf), []byte("charon {\n  filelog {\n    log {\n      path = /x/aws/charon.log\n      default = 1\n"), 0o600)
	if got := dockerDaemonLog(dir, false); got != "/x/aws/mysqld.log" {
		t.Errorf("db log = %q", got)
	}
	if got := dockerDaemonLog(dir, true); got != "/x/aws/charon.log" {
		t.Errorf("charon log = %q", got)
	}
	if got := dockerDaemonLog(t.TempDir(), true); got != "" {
		t.Errorf("no config: %q", got)
	}
	log := filepath.Join(dir, "d.log")
	os.WriteFile(log, []byte("one\ntwo\n"), 0o600)
	if got := dockerFileTail(log); !strings.Contains(got, "last lines of "+log+":\none\ntwo") {
		t.Errorf("dockerFileTail = %q", got)
	}
}

func TestDockerBridgeGateway(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.0/24": "198.51.100.254",
		"10.20.0.0/16":    "10.20.255.254",
		"192.168.64.0/24": "192.168.64.254",
		"10.20.0.0/20":    "10.20.15.254",
	} {
		if got := dockerBridgeGateway(netip.MustParsePrefix(in)).String(); got != want {
			t.Errorf("dockerBridgeGateway(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestDockerContainerName(t *testing.T) {
	info := &Info{ID: "lab1"}
	for in, want := range map[string]string{"aws-gw": "lab1-aws-gw", "lab1-onprem-db": "lab1-onprem-db"} {
		if got, err := dockerContainerName(info, in); err != nil || got != want {
			t.Errorf("dockerContainerName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := dockerContainerName(info, ""); err == nil {
		t.Error("empty host: no error")
	}
}

// BenchmarkDockerLab measures Provision and Teardown (reported as up-ms and down-ms) with
// datadirs initialised beforehand, as the shared lab code does: the first iteration's
// Provision initialises them in the db containers and is not counted.
//
//	go test ./harness/lab -run '^$' -bench DockerLab -benchtime 5x
func BenchmarkDockerLab(b *testing.B) {
	if testing.Short() {
		b.Skip("skipped in -short mode")
	}
	eng, err := dockerConnect(context.Background())
	if err != nil {
		b.Skipf("skipped: %v", err)
	}
	defer eng.close()
	if err := dockerCheckImages(context.Background(), eng.cli, dockerGatewayImage, dockerDBImage); err != nil {
		b.Skipf("skipped: %v", err)
	}
	dir := b.TempDir()
	info := dockerTestInfo("drdb-"+fmt.Sprint(time.Now().UnixNano()%1e8), dir)
	dockerTestRender(b, info)
	be := NewDockerBackend()
	ctx := context.Background()
	round := func() (up, down time.Duration) {
		i := dockerTestInfo(info.ID, dir)
		start := time.Now()
		err := be.Provision(ctx, i, &dockerTestRecorder{info: i})
		up = time.Since(start)
		start = time.Now()
		if terr := be.Teardown(ctx, i); terr != nil {
			b.Fatalf("Teardown: %v", terr)
		}
		down = time.Since(start)
		if err != nil {
			b.Fatalf("Provision: %v", err)
		}
		return up, down
	}
	round() // initialises the datadirs
	var upSum, downSum time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		up, down := round()
		upSum += up
		downSum += down
	}
	b.ReportMetric(float64(upSum.Milliseconds())/float64(b.N), "up-ms")
	b.ReportMetric(float64(downSum.Milliseconds())/float64(b.N), "down-ms")
}
