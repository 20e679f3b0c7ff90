package sshhost

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/drdrill/drdrill/harness/poll"
)

const sshdPath = "/usr/sbin/sshd"

// TestMain makes the test binary a child subreaper: whatever a proxy
// command or sshd leaves behind is re-parented to it, so that
// assertNoChildren sees every process a test left.
func TestMain(m *testing.M) {
	const prSetChildSubreaper = 36
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	os.Exit(m.Run())
}

// requireSSHD skips where no sshd can be run in inetd mode (it needs root
// here: it logs in as root).
func requireSSHD(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sshd -i")
	}
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("no %s (apt-get install openssh-server; scripts/deps.sh)", sshdPath)
	}
	// sshd's privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
}

// server is an sshd reached through a proxy command (sshd -i: inetd mode
// over the command's stdin and stdout; nothing listens).
type server struct {
	dir      string
	hostKey  ssh.Signer
	config   string
	identity string // the client's private key
	userPub  ssh.PublicKey
}

func writeKey(t testing.TB, path string) (ssh.Signer, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.PublicKey()
}

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }

// newServer writes a host key, a user key, authorized_keys and an
// sshd_config into a temp dir. extra lines go into sshd_config.
func newServer(t testing.TB, extra ...string) *server {
	t.Helper()
	requireSSHD(t)
	d := t.TempDir()
	s := &server{dir: d, config: filepath.Join(d, "sshd_config"), identity: filepath.Join(d, "id_ed25519")}
	s.hostKey, _ = writeKey(t, filepath.Join(d, "host_key"))
	_, s.userPub = writeKey(t, s.identity)
	if err := os.WriteFile(filepath.Join(d, "authorized_keys"), ssh.MarshalAuthorizedKey(s.userPub), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`HostKey %s/host_key
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
PidFile none
LogLevel ERROR
%s
`, d, d, strings.Join(extra, "\n"))
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// proxy is the command that reaches this server.
func (s *server) proxy() string { return sshdPath + " -i -e -f " + s.config }

// knownHosts writes a known_hosts with lines and returns its path.
func knownHosts(t testing.TB, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// line is a known_hosts line for host with key.
func line(host string, key ssh.PublicKey) string {
	return host + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

// options reach host "target" through this server's sshd.
func (s *server) options(t testing.TB) Options {
	return Options{
		KnownHosts:    knownHosts(t, line("target", s.hostKey.PublicKey())),
		IdentityFile:  s.identity,
		User:          "root",
		ProxyCommands: map[string]string{"target": s.proxy()},
	}
}

// newPool opens a pool closed at cleanup, then checks that no process is left.
func newPool(t testing.TB, o Options) *Pool {
	t.Helper()
	p, err := NewPool(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		assertNoChildren(t)
	})
	return p
}

// children are the live processes whose parent is this test binary (a
// subreaper: orphans of proxy commands and sshd land here). Zombies are
// reaped.
func children() []string {
	var out []string
	self := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid != self {
			continue
		}
		if f[0] == "Z" {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")))
	}
	return out
}

// assertNoChildren fails when a process this test started is still alive
// shortly after everything was closed.
func assertNoChildren(t testing.TB) {
	t.Helper()
	var left []string
	err := poll.Until(context.Background(), "no process left by the test", 10*time.Millisecond, 3*time.Second, func(context.Context) (bool, string, error) {
		left = children()
		return len(left) == 0, strings.Join(left, "; "), nil
	})
	if err != nil {
		t.Errorf("processes left behind: %v", left)
	}
}
