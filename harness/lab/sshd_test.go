package lab_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/drdrill/drdrill/harness/lab"
	_ "github.com/drdrill/drdrill/harness/lab/docker" // the docker backend, for DRDRILL_BACKEND=docker
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/transport"
	"github.com/drdrill/drdrill/harness/transport/sshhost"
	"github.com/drdrill/drdrill/harness/tunnel"
)

func TestSSHProxyCommand(t *testing.T) {
	dir := "/tmp/lab 100%"
	info := &lab.Info{ID: lab.IDFor(dir), Dir: dir, Backend: "netns", Phase: lab.PhaseUp}
	got, err := lab.SSHProxyCommand(info, "aws-gw")
	if err != nil {
		t.Fatal(err)
	}
	want := "ip netns exec " + info.ID + "-aws-gw /usr/sbin/sshd -i -e -f '/tmp/lab 100%%/aws/ssh/aws-gw.sshd_config'"
	if got != want {
		t.Errorf("netns:\n got %s\nwant %s", got, want)
	}
	info.Backend = "docker"
	got, _ = lab.SSHProxyCommand(info, "onprem-db")
	if want := "docker exec -i " + info.ID + "-onprem-db /usr/sbin/sshd -i -e -f '/tmp/lab 100%%/onprem/ssh/onprem-db.sshd_config'"; got != want {
		t.Errorf("docker:\n got %s\nwant %s", got, want)
	}
	var ie *lab.InputError
	if _, err := lab.SSHProxyCommand(info, "aws"); !errors.As(err, &ie) || !strings.Contains(err.Error(), "aws-gw, aws-db") {
		t.Errorf("unknown host: %v", err)
	}
	info.Backend = "vm"
	if _, err := lab.SSHProxyCommand(info, "aws-gw"); err == nil {
		t.Error("unknown backend: want an error")
	}
	info.Backend, info.Phase = "netns", lab.PhaseCreating
	if _, err := lab.EnableSSH(info); !errors.As(err, &ie) || !strings.Contains(err.Error(), "not up") {
		t.Errorf("a lab that is not up: %v", err)
	}
}

// testBackend is netns unless DRDRILL_BACKEND names another (as the
// scenarios' tests do); it skips where that backend cannot run.
func testBackend(t *testing.T) lab.Backend {
	t.Helper()
	if testing.Short() {
		t.Skip("lab test: skipped with -short")
	}
	name := os.Getenv("DRDRILL_BACKEND")
	if name == "" {
		name = "netns"
	}
	b, err := lab.BackendByName(name)
	if err != nil {
		t.Fatalf("DRDRILL_BACKEND: %v", err)
	}
	if p, ok := b.(interface{ Preflight() error }); ok {
		if err := p.Preflight(); err != nil {
			t.Skipf("lab test: the %s lab cannot run here: %v", name, err)
		}
	}
	if name == "netns" {
		if _, err := os.Stat(lab.SSHDPath); err != nil {
			t.Skipf("no %s (make deps)", lab.SSHDPath)
		}
	}
	return b
}

// sshdWatch finds the sshd processes of a lab's hosts: for netns, on this
// machine, by the hosts' network namespaces (their inodes outlive their
// names); for docker, inside the containers.
type sshdWatch struct {
	b      lab.Backend
	info   *lab.Info
	inodes map[uint64]string
}

func watchSSHD(t *testing.T, b lab.Backend, info *lab.Info) *sshdWatch {
	t.Helper()
	w := &sshdWatch{b: b, info: info, inodes: map[uint64]string{}}
	if info.Backend == "netns" {
		for _, h := range lab.Hosts {
			var st syscall.Stat_t
			if err := syscall.Stat("/run/netns/"+lab.HostName(info.ID, h), &st); err != nil {
				t.Fatal(err)
			}
			w.inodes[st.Ino] = h
		}
	}
	return w
}

// running lists them ("pid in host"); after lab down, only the netns
// backend can still look (containers are gone, and their processes with them).
func (w *sshdWatch) running(ctx context.Context) []string {
	var out []string
	if w.info.Backend != "netns" {
		for _, h := range lab.Hosts {
			b, err := w.b.Exec(ctx, w.info, h, "sh", "-c", `for f in /proc/[0-9]*/comm; do read -r c < "$f" 2>/dev/null && [ "$c" = sshd ] && echo "${f%/comm}"; done; true`)
			if err != nil {
				out = append(out, h+": "+err.Error())
			}
			for _, p := range strings.Fields(string(b)) {
				out = append(out, strings.TrimPrefix(p, "/proc/")+" in "+h)
			}
		}
		return out
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "sshd" {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", e.Name(), "ns", "net"), &st) != nil {
			continue
		}
		if h, ok := w.inodes[st.Ino]; ok {
			out = append(out, e.Name()+" in "+h)
		}
	}
	return out
}

// proxiesLeft are this machine's processes still running a lab host's
// proxy command (docker exec -i … sshd; ip netns exec replaces itself with
// sshd, which the namespaces show).
func proxiesLeft(info *lab.Info) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, info.ID+"-") && strings.Contains(cmd, "sshd") {
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}

// TestLabOverSSH reaches a lab the way a target file reaches real hosts:
// over SSH, to each host's sshd run by its proxy command inside the host
// (its namespace or container); VICI and MariaDB through their unix sockets
// (direct-streamlocal), commands in a session. DRDRILL_BACKEND=docker runs
// it on the docker lab (its images need openssh-server: make images).
func TestLabOverSSH(t *testing.T) {
	b := testBackend(t)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, lab.Backends()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	info, err := lab.Up(ctx, lab.Options{Dir: dir, Backend: b, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	acc, err := lab.EnableSSH(info)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(acc.IdentityFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file %s: %v %v, want 0600", acc.IdentityFile, fi.Mode(), err)
	}
	for _, h := range lab.Hosts {
		want, _ := lab.SSHProxyCommand(info, h)
		if acc.Hosts[h].Via != "ssh://root@"+h || acc.Hosts[h].ProxyCommand != want || !strings.Contains(want, lab.HostName(info.ID, h)+" ") {
			t.Errorf("%s: %+v", h, acc.Hosts[h])
		}
	}
	watch := watchSSHD(t, b, info)
	var mu sync.Mutex
	reconnected := map[string]int{}
	pool, err := sshhost.NewPool(sshhost.Options{KnownHosts: acc.KnownHosts, IdentityFile: acc.IdentityFile, User: acc.User,
		ProxyCommands: acc.ProxyCommands(), OnReconnect: func(h string, _ error) {
			mu.Lock()
			reconnected[h]++
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	host := func(h string) transport.Host {
		t.Helper()
		x, err := pool.Host(ctx, acc.Hosts[h].Via)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		return x
	}
	gw, db, rdb := host("aws-gw"), host("aws-db"), host("onprem-db")

	// VICI over SSH: version, and list-conns (a streamed command).
	vici := info.Sites[lab.SiteAWS].Gateway.VICI
	viciOverSSH := tunnel.DialFunc("ssh://root@aws-gw unix://"+vici, func(ctx context.Context) (net.Conn, error) {
		return gw.Dial(ctx, "unix", vici)
	})
	g := tunnel.NewGateway(lab.SiteAWS, viciOverSSH)
	defer g.Close()
	v, err := g.Version(ctx)
	if err != nil || v["daemon"] == "" {
		t.Fatalf("VICI version over ssh: %v %v", v, err)
	}
	ci, err := g.Conn(ctx, lab.ConnName)
	if err != nil || ci.DPDDelay != time.Duration(info.Timings.DPDDelayS)*time.Second {
		t.Errorf("list-conns over ssh: %+v %v", ci, err)
	}

	// MariaDB over SSH, the primary and the replica.
	open := func(h transport.Host, site string) *replica.Conn {
		c, err := replica.OpenEndpoint(ctx, replica.Endpoint{Network: "unix", Addr: info.Sites[site].DB.Socket, User: "root", Dial: h.Dial})
		if err != nil {
			t.Fatalf("%s over ssh: %v", site, err)
		}
		return c
	}
	pc, rc := open(db, lab.SiteAWS), open(rdb, lab.SiteOnPrem)
	defer pc.Close()
	defer rc.Close()
	var one, sid int
	if err := pc.DB().QueryRowContext(ctx, "SELECT 1, @@server_id").Scan(&one, &sid); err != nil || one != 1 || sid != 1 {
		t.Fatalf("SELECT 1 on aws over ssh: %d %d %v", one, sid, err)
	}
	st, err := rc.Status(ctx)
	if err != nil || st.IO != "Yes" {
		t.Errorf("replica status over ssh: %+v %v", st, err)
	}

	// Commands run inside the host.
	out, err := gw.Exec(ctx, []string{"ip", "-brief", "addr"}, false)
	if err != nil || !strings.Contains(string(out), "198.51.100.1/") {
		t.Errorf("ip -brief addr on aws-gw: %v\n%s", err, out)
	}
	out, err = rdb.Exec(ctx, []string{"ip", "-brief", "addr"}, false)
	if err != nil || !strings.Contains(string(out), "192.168.64.15/") || strings.Contains(string(out), "198.51.100.") {
		t.Errorf("ip -brief addr on onprem-db: %v\n%s", err, out)
	}

	// What a round trip costs over SSH against the local socket.
	measure := func(name string, f func() error) time.Duration {
		var ds []time.Duration
		n := 30
		if name == "exec" {
			n = 9 // a session runs root's shell rc here (~80 ms on this machine)
		}
		for range n {
			t0 := time.Now()
			if err := f(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	local, err := replica.OpenSocket(ctx, info.Sites[lab.SiteAWS].DB.Socket, "root", "")
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	lg := tunnel.NewGateway(lab.SiteAWS, tunnel.UnixSocket(vici))
	defer lg.Close()
	q := func(c *replica.Conn) func() error {
		return func() error { return c.DB().QueryRowContext(ctx, "SELECT 1").Scan(&one) }
	}
	ver := func(g *tunnel.Gateway) func() error {
		return func() error { _, err := g.Version(ctx); return err }
	}
	t.Logf("%s backend, medians: SELECT 1 %v over ssh, %v local; VICI version %v over ssh, %v local; new VICI session over ssh %v; exec true %v",
		info.Backend, measure("select ssh", q(pc)), measure("select local", q(local)), measure("vici ssh", ver(g)), measure("vici local", ver(lg)),
		measure("vici session", func() error {
			g := tunnel.NewGateway(lab.SiteAWS, viciOverSSH)
			defer g.Close()
			_, err := g.Version(ctx)
			return err
		}),
		measure("exec", func() error { _, err := gw.Exec(ctx, []string{"true"}, false); return err }))

	// The connections to aws-gw and aws-db dropped (their sshd killed): the
	// VICI session and the MySQL pool carry on over new ones.
	for _, h := range []string{"aws-gw", "aws-db"} {
		if n, err := lab.KillSSHD(ctx, info, h); err != nil || n == 0 {
			t.Fatalf("kill sshd on %s: %d killed, %v", h, n, err)
		}
	}
	t0 := time.Now()
	var failed []string
	if err := poll.Until(ctx, "VICI and MySQL to answer over new SSH connections", 20*time.Millisecond, 10*time.Second, func(ctx context.Context) (bool, string, error) {
		if _, err := g.Version(ctx); err != nil {
			failed = append(failed, err.Error())
			return false, err.Error(), nil
		}
		if err := pc.DB().QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			failed = append(failed, err.Error())
			return false, err.Error(), nil
		}
		return true, "", nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("after the drop: answering again in %v; calls that failed on the way: %q", time.Since(t0), failed)
	mu.Lock()
	if reconnected["ssh://root@aws-gw:22"] != 1 || reconnected["ssh://root@aws-db:22"] != 1 || len(reconnected) != 2 {
		t.Errorf("reconnects: %v, want one each to aws-gw and aws-db", reconnected)
	}
	mu.Unlock()

	// EnableSSH again keeps the keys: what was printed before stays valid.
	kh, _ := os.ReadFile(acc.KnownHosts)
	id, _ := os.ReadFile(acc.IdentityFile)
	if _, err := lab.EnableSSH(info); err != nil {
		t.Fatal(err)
	}
	kh2, _ := os.ReadFile(acc.KnownHosts)
	id2, _ := os.ReadFile(acc.IdentityFile)
	if string(kh) != string(kh2) || string(id) != string(id2) {
		t.Error("a second EnableSSH changed the keys")
	}
	if f := strings.SplitN(string(kh), " ", 2); len(f) != 2 || f[0] != strings.Join(lab.Hosts, ",") {
		t.Errorf("known_hosts: %s", kh)
	} else if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(f[1])); err != nil {
		t.Errorf("known_hosts: %s: %v", kh, err)
	}

	// Closing the pool ends every sshd: nothing is left for lab down to kill.
	if left := watch.running(ctx); len(left) < 3 {
		t.Fatalf("sshd seen in the lab's hosts while connected to 3 of them: %v (the check cannot see them)", left)
	}
	g.Close()
	pc.Close()
	rc.Close()
	pool.Close()
	if err := poll.Until(ctx, "every sshd and proxy command to end with its connection", 20*time.Millisecond, 10*time.Second, func(ctx context.Context) (bool, string, error) {
		left := append(watch.running(ctx), proxiesLeft(info)...)
		return len(left) == 0, strings.Join(left, ", "), nil
	}); err != nil {
		t.Error(err)
	}
	if err := lab.Down(context.Background(), dir, lab.Backends()); err != nil {
		t.Fatal(err)
	}
	if info.Backend == "netns" {
		if left := watch.running(ctx); len(left) > 0 {
			t.Errorf("sshd left after lab down: %v", left)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("lab down left the lab dir (and its ssh keys)")
	}
}
