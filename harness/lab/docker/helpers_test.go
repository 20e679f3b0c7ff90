package docker

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
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

	"github.com/drdrill/drdrill/harness/lab"
)

// testRecorder applies records to the test's lab.Info, like the lab's own recorder would.
type testRecorder struct {
	mu   sync.Mutex
	info *lab.Info
	n    int
}

func (r *testRecorder) Record(fn func(*lab.Info)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.info)
	r.n++
	return nil
}

// testInfo is a lab description with docs/design.md's plan under dir.
func testInfo(id, dir string) *lab.Info {
	info := &lab.Info{Schema: lab.InfoSchema, ID: id, Backend: "docker", Dir: dir, Phase: lab.PhaseCreating, Sites: map[string]*lab.Site{}}
	for _, s := range sites {
		d := defaults[s]
		role, sid := lab.RolePrimary, 1
		if s == lab.SiteOnPrem {
			role, sid = lab.RoleReplica, 2
		}
		info.Sites[s] = &lab.Site{
			Name: s, Subnet: d.subnet,
			Gateway: lab.Gateway{VICI: filepath.Join(dir, s, "charon.vici"), WANAddr: d.wan, LANAddr: d.lan, ID: s + ".lab"},
			DB:      lab.DB{Socket: filepath.Join(dir, s, "mysqld.sock"), Role: role, Addr: d.db, ServerID: sid},
		}
	}
	return info
}

// testRender writes the configs the shared lab code renders (shapes of lab-prototype.sh).
// The datadirs stay empty: the db image's entrypoint initialises them.
func testRender(t testing.TB, info *lab.Info) {
	t.Helper()
	for _, s := range sites {
		site := info.Sites[s]
		other := info.Sites[defaults[s].remote]
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

func testID(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "drdt-" + hex.EncodeToString(b)
}

// needLab skips unless an engine answers, the images exist and no other lab holds
// the address plan. It never builds images.
func needLab(t *testing.T) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("docker lab test skipped in -short mode")
	}
	eng, err := connect(context.Background())
	if err != nil {
		t.Skipf("docker lab test skipped: %v (DOCKER_HOST=%q)", err, os.Getenv("DOCKER_HOST"))
	}
	t.Cleanup(eng.close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := checkImages(ctx, eng.cli, gatewayImage, dbImage); err != nil {
		t.Skipf("docker lab test skipped: %v", err)
	}
	res, err := eng.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", labelLab)})
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	for _, n := range res.Items {
		id := n.Labels[labelLab]
		hint := "`drdrill lab down` for it"
		switch {
		case id == "compose":
			hint = "scripts/compose-lab.sh down"
		case strings.HasPrefix(id, "drdt-"): // a killed test run
			hint = fmt.Sprintf("docker stop %[1]s-hostfw; docker ps -aq --filter label=%[2]s=%[1]s | xargs -r docker rm -f; docker network prune -f --filter label=%[2]s=%[1]s", id, labelLab)
		}
		t.Skipf("docker lab test skipped: network %s of lab %q holds the address plan; take it down first: %s", n.Name, id, hint)
	}
	return eng.cli
}

// leftovers lists what still carries the lab's label.
func leftovers(t *testing.T, cli *client.Client, id string) []string {
	t.Helper()
	ctx := context.Background()
	f := make(client.Filters).Add("label", labelLab+"="+id)
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

func viciVersion(ctx context.Context, path string) (string, error) {
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

func select1(ctx context.Context, sock string) error {
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

// fwRules returns the host's DOCKER-USER rules tagged for the lab, when this test can
// see them (root, iptables installed); ok is false otherwise.
func fwRules(id string) (rules []string, ok bool) {
	if os.Geteuid() != 0 {
		return nil, false
	}
	out, err := exec.Command("iptables", "-w", "-S", "DOCKER-USER").Output()
	if err != nil {
		return nil, false
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, labelLab+"="+id) {
			rules = append(rules, l)
		}
	}
	return rules, true
}
