package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/drdrill/drdrill/harness/atomicfile"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/drdrill/drdrill/harness/transport/sshhost"
)

// SSHDPath is where Debian's openssh-server installs sshd, on this machine
// and in the docker lab's images.
var SSHDPath = "/usr/sbin/sshd"

// SSHUser is who the lab's sshd lets in (the lab's daemons run as root).
const SSHUser = "root"

// SSHAccess is how to reach a running lab's hosts over SSH, as a target
// file reaches real ones: a per-lab host key listed in a known_hosts, a
// per-lab client key, and per host a proxy command that runs sshd in inetd
// mode inside the host (sshd -i over the command's stdin and stdout).
// Nothing listens, and no lab address is dialled from this machine's own
// network namespace.
type SSHAccess struct {
	User         string             // SSHUser
	IdentityFile string             // DIR/ssh/id_ed25519, unencrypted, 0600
	KnownHosts   string             // DIR/ssh/known_hosts: every lab host with the lab's host key
	Hosts        map[string]SSHHost // by lab host: aws-gw, aws-db, onprem-gw, onprem-db
}

// SSHHost is one lab host over SSH.
type SSHHost struct {
	Via          string // ssh://root@aws-gw
	ProxyCommand string // runs its sshd -i (no %-escapes left but %%)
	Config       string // its sshd_config
}

// ProxyCommands are the hosts' proxy commands by host name, as
// sshhost.Options.ProxyCommands takes them.
func (a *SSHAccess) ProxyCommands() map[string]string {
	out := make(map[string]string, len(a.Hosts))
	for h, s := range a.Hosts {
		out[h] = s.ProxyCommand
	}
	return out
}

// Where EnableSSH puts things. The client side stays in DIR/ssh; what an
// sshd reads is in its site's dir, the one the docker backend mounts (at
// the same path) into that site's containers.
const (
	sshDir      = "ssh"
	hostKeyName = "ssh_host_ed25519_key"
	clientKey   = "id_ed25519"
)

// EnableSSH makes a running lab reachable over SSH (see SSHAccess): in
// DIR/ssh a host key, a client key pair and known_hosts; in DIR/<site>/ssh
// the host key, authorized_keys and an sshd_config per host. Keys made by
// an earlier call are kept, so target files printed before stay valid.
// Nothing is recorded in lab.json: everything lives in the lab dir, which
// lab down removes, and an sshd -i ends with its connection.
func EnableSSH(info *Info) (*SSHAccess, error) {
	if info == nil {
		return nil, errors.New("enable ssh: no lab")
	}
	if info.Phase != PhaseUp {
		return nil, inputErrorf("enable ssh: the lab at %s is %s, not up", info.Dir, info.Phase)
	}
	if err := sshdReady(info); err != nil {
		return nil, err
	}
	dir := filepath.Join(info.Dir, sshDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("enable ssh: %w", err)
	}
	hostKey, err := loadOrMakeKey(filepath.Join(dir, hostKeyName), "drdrill lab "+info.ID+" host")
	if err != nil {
		return nil, fmt.Errorf("enable ssh: host key: %w", err)
	}
	userKey, err := loadOrMakeKey(filepath.Join(dir, clientKey), "drdrill lab "+info.ID+" client")
	if err != nil {
		return nil, fmt.Errorf("enable ssh: client key: %w", err)
	}
	hostPEM, err := os.ReadFile(filepath.Join(dir, hostKeyName))
	if err != nil {
		return nil, fmt.Errorf("enable ssh: %w", err)
	}
	acc := &SSHAccess{User: SSHUser, IdentityFile: filepath.Join(dir, clientKey), KnownHosts: filepath.Join(dir, "known_hosts"),
		Hosts: map[string]SSHHost{}}
	type file struct {
		path string
		data []byte
		mode os.FileMode
	}
	files := []file{
		{filepath.Join(dir, clientKey+".pub"), ssh.MarshalAuthorizedKey(userKey.PublicKey()), 0o644},
		{acc.KnownHosts, []byte(strings.Join(Hosts, ",") + " " + string(ssh.MarshalAuthorizedKey(hostKey.PublicKey()))), 0o644},
	}
	for _, s := range Sites {
		sd := filepath.Join(info.Dir, s, sshDir)
		if err := os.MkdirAll(sd, 0o700); err != nil {
			return nil, fmt.Errorf("enable ssh: %w", err)
		}
		files = append(files,
			file{filepath.Join(sd, hostKeyName), hostPEM, 0o600},
			file{filepath.Join(sd, "authorized_keys"), ssh.MarshalAuthorizedKey(userKey.PublicKey()), 0o644})
		for _, h := range []string{s + "-gw", s + "-db"} {
			cfg := sshdConfigPath(info, h)
			files = append(files, file{cfg, []byte(sshdConfig(sd)), 0o644})
			pc, err := SSHProxyCommand(info, h)
			if err != nil {
				return nil, err
			}
			acc.Hosts[h] = SSHHost{Via: "ssh://" + SSHUser + "@" + h, ProxyCommand: pc, Config: cfg}
		}
	}
	for _, f := range files {
		if err := atomicfile.Write(f.path, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("enable ssh: %w", err)
		}
	}
	return acc, nil
}

// SSHProxyCommand is the command that reaches a lab host's sshd: sshd -i
// run inside the host (ip netns exec, or docker exec -i), so that its
// stdin and stdout are the SSH connection. EnableSSH writes what it reads.
func SSHProxyCommand(info *Info, host string) (string, error) {
	if info == nil {
		return "", errors.New("ssh proxy command: no lab")
	}
	if !isHost(host) {
		return "", inputErrorf("ssh proxy command: no lab host %q (have %s)", host, strings.Join(Hosts, ", "))
	}
	sshd := []string{SSHDPath, "-i", "-e", "-f", sshdConfigPath(info, host)}
	var argv []string
	switch info.Backend {
	case "netns":
		argv = append([]string{"ip", "netns", "exec", HostName(info.ID, host)}, sshd...)
	case "docker":
		argv = append([]string{"docker", "exec", "-i", HostName(info.ID, host)}, sshd...)
	default:
		return "", fmt.Errorf("ssh proxy command: backend %q has no way into its hosts", info.Backend)
	}
	// %-escapes are the proxy command's own (%h %p %r): a % in the lab dir
	// is literal.
	return strings.ReplaceAll(sshhost.ShellJoin(argv), "%", "%%"), nil
}

func isHost(h string) bool {
	for _, x := range Hosts {
		if x == h {
			return true
		}
	}
	return false
}

// sshdConfigPath is a host's sshd_config, in its site's dir.
func sshdConfigPath(info *Info, host string) string {
	site := strings.TrimSuffix(strings.TrimSuffix(host, "-gw"), "-db")
	return filepath.Join(info.Dir, site, sshDir, host+".sshd_config")
}

// sshdConfig lets the lab's client key in as root and nothing else: no
// passwords, no PAM; unix socket and TCP forwarding for VICI and MySQL.
// StrictModes is off because the lab dir belongs to whoever made it.
func sshdConfig(dir string) string {
	return fmt.Sprintf(`# drdrill lab sshd, run in inetd mode (sshd -i) by a proxy command.
HostKey %s
AuthorizedKeysFile %s
AuthenticationMethods publickey
PubkeyAuthentication yes
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
PrintLastLog no
PidFile none
LogLevel ERROR
`, filepath.Join(dir, hostKeyName), filepath.Join(dir, "authorized_keys"))
}

// sshdReady checks that every lab host can run sshd, and makes its
// privilege separation directory (/run/sshd).
func sshdReady(info *Info) error {
	if info.Backend == "netns" {
		// The namespaces share this machine's file system.
		if _, err := os.Stat(SSHDPath); err != nil {
			return &EnvError{Msg: fmt.Sprintf("ssh to the lab needs %s: run `make deps` (apt-get install -y openssh-server)", SSHDPath)}
		}
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return &EnvError{Msg: fmt.Sprintf("ssh to the lab: sshd's privilege separation dir: %v", err)}
		}
		return nil
	}
	b := Backends()[info.Backend]
	if b == nil {
		return fmt.Errorf("enable ssh: backend %q is not linked into this program", info.Backend)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var missing []string
	var errs []error
	var wg sync.WaitGroup
	for _, h := range Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := b.Exec(ctx, info, h, "sh", "-c", "test -x "+SSHDPath+" || { echo no-sshd; exit 1; }; mkdir -p /run/sshd")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && strings.Contains(string(out)+err.Error(), "no-sshd"):
				missing = append(missing, h)
			case err != nil:
				errs = append(errs, fmt.Errorf("enable ssh on %s: %w", h, err))
			}
		}()
	}
	wg.Wait()
	if len(missing) > 0 {
		sort.Strings(missing)
		return &EnvError{Msg: fmt.Sprintf("ssh to the %s lab: %s has no %s: rebuild the images with openssh-server (FORCE=1 scripts/images.sh), then bring the lab up again",
			info.Backend, strings.Join(missing, ", "), SSHDPath)}
	}
	return errors.Join(errs...)
}

// loadOrMakeKey returns the ed25519 key at path, making it (unencrypted,
// 0600) when there is none. Two callers at once agree on one key: it is
// linked into place only if absent.
func loadOrMakeKey(path, comment string) (ssh.Signer, error) {
	if b, err := os.ReadFile(path); err == nil {
		return ssh.ParsePrivateKey(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pem.EncodeToMemory(blk)); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(b)
}

// KillSSHD kills -9 every sshd running in a lab host (its namespace or
// container), which drops the SSH connections to it: for tests of a
// connection lost mid-drill. It returns how many it killed.
func KillSSHD(ctx context.Context, info *Info, host string) (int, error) {
	if !isHost(host) {
		return 0, inputErrorf("kill sshd: no lab host %q (have %s)", host, strings.Join(Hosts, ", "))
	}
	if info.Backend == "netns" {
		out, err := run(ctx, "ip", "netns", "pids", HostName(info.ID, host))
		if err != nil {
			return 0, err
		}
		n := 0
		for _, f := range strings.Fields(string(out)) {
			comm, err := os.ReadFile("/proc/" + f + "/comm")
			if err != nil || strings.TrimSpace(string(comm)) != "sshd" {
				continue
			}
			if pid, err := strconv.Atoi(f); err == nil && syscall.Kill(pid, syscall.SIGKILL) == nil {
				n++
			}
		}
		return n, nil
	}
	b := Backends()[info.Backend]
	if b == nil {
		return 0, fmt.Errorf("kill sshd: backend %q is not linked into this program", info.Backend)
	}
	out, err := b.Exec(ctx, info, host, "sh", "-c",
		`n=0; for f in /proc/[0-9]*/comm; do read -r c < "$f" 2>/dev/null && [ "$c" = sshd ] && p=${f%/comm} && kill -9 "${p#/proc/}" 2>/dev/null && n=$((n+1)); done; echo $n`)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}
