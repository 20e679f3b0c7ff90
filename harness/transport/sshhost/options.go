package sshhost

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Options say how a Pool reaches and authenticates to hosts. Paths may
// start with ~/.
type Options struct {
	// KnownHosts is the known_hosts file every host key (jump hosts too)
	// is checked against. Required.
	KnownHosts string
	// IdentityFile is an unencrypted private key (an encrypted one is
	// refused: load it into the agent instead).
	IdentityFile string
	// UseAgent authenticates with the keys of the ssh agent at
	// $SSH_AUTH_SOCK. At least one of IdentityFile and UseAgent is needed.
	UseAgent bool
	// ProxyJump is a comma-separated chain of jump hosts,
	// [user@]host[:port], as OpenSSH's -J: the first is dialled directly,
	// each next one through the previous, the destination through the last.
	ProxyJump string
	// ProxyCommand reaches the destination as OpenSSH's ProxyCommand: run
	// with sh -c, %h %p %r replaced by host, port and user (%% is %), its
	// stdin and stdout are the connection. Not together with ProxyJump.
	ProxyCommand string
	// ProxyCommands are per-host proxy commands, by host name as it appears
	// in a via or a jump (no user, no port). A host listed here is reached
	// only through its command, whatever ProxyJump and ProxyCommand say.
	ProxyCommands map[string]string
	// User logs in where a via or jump names none (default: the current
	// user).
	User string
	// Keepalive is the interval of keepalive@openssh.com requests; a reply
	// missing for one interval marks the connection lost. Default 5 s;
	// negative turns keepalives off.
	Keepalive time.Duration
	// OnReconnect is told each time a lost connection to host (its name
	// as ssh://user@host:port) has been dialled again, with why it was lost.
	OnReconnect func(host string, err error)
}

// DefaultKeepalive is Options.Keepalive's default.
const DefaultKeepalive = 5 * time.Second

// connectTimeout bounds one connection's dial and handshake when ctx has no
// earlier deadline.
const connectTimeout = 15 * time.Second

// validated is what NewPool derives from Options.
type validated struct {
	o          Options
	knownHosts string
	hostKeys   ssh.HostKeyCallback
	auth       []ssh.AuthMethod
	agentConn  net.Conn
	jumps      []hop
	probe      ssh.PublicKey // a key no known_hosts holds: asks which keys a host has
}

func validate(o Options) (*validated, error) {
	v := &validated{o: o}
	if o.Keepalive == 0 {
		v.o.Keepalive = DefaultKeepalive
	}
	if o.KnownHosts == "" {
		return nil, errors.New("ssh: known_hosts is required (host keys are always checked)")
	}
	kh, err := expandHome(o.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("ssh: known_hosts %s: %w", o.KnownHosts, err)
	}
	if fi, err := os.Stat(kh); err != nil {
		return nil, fmt.Errorf("ssh: known_hosts %s: %w", kh, errors.Unwrap(err))
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("ssh: known_hosts %s: not a regular file", kh)
	}
	if v.hostKeys, err = knownhosts.New(kh); err != nil {
		// knownhosts names the file and line.
		return nil, fmt.Errorf("ssh: known_hosts: %w", err)
	}
	v.knownHosts = kh
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	v.probe, _ = ssh.NewPublicKey(pub)

	if o.ProxyJump != "" && o.ProxyCommand != "" {
		return nil, errors.New("ssh: proxy_jump and proxy_command are mutually exclusive (say which one reaches the host)")
	}
	if o.ProxyJump != "" {
		for _, j := range strings.Split(o.ProxyJump, ",") {
			h, err := parseHop(strings.TrimSpace(j))
			if err != nil {
				return nil, fmt.Errorf("ssh: proxy_jump: %w", err)
			}
			v.jumps = append(v.jumps, h)
		}
	}
	for h, c := range o.ProxyCommands {
		if !hostRE.MatchString(h) {
			return nil, fmt.Errorf("ssh: proxy command for %q: not a host name", h)
		}
		if strings.TrimSpace(c) == "" {
			return nil, fmt.Errorf("ssh: proxy command for %s is empty", h)
		}
	}

	if o.IdentityFile != "" {
		p, err := expandHome(o.IdentityFile)
		if err != nil {
			return nil, fmt.Errorf("ssh: identity_file %s: %w", o.IdentityFile, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("ssh: identity_file %s: %w", p, errors.Unwrap(err))
		}
		signer, err := ssh.ParsePrivateKey(b)
		var pm *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pm):
			return nil, fmt.Errorf("ssh: identity_file %s is encrypted with a passphrase and drdrill does not prompt: add it to the ssh agent (ssh-add %s) and use the agent instead", p, p)
		case err != nil:
			return nil, fmt.Errorf("ssh: identity_file %s: not a private key drdrill can use: %v", p, err)
		}
		v.auth = append(v.auth, ssh.PublicKeys(signer))
	}
	if o.UseAgent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, errors.New("ssh: agent: SSH_AUTH_SOCK is not set (start ssh-agent and ssh-add the key, or give identity_file)")
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("ssh: agent at SSH_AUTH_SOCK=%s: %w", sock, err)
		}
		v.agentConn = c
		v.auth = append(v.auth, ssh.PublicKeysCallback(agent.NewClient(c).Signers))
	}
	if len(v.auth) == 0 {
		return nil, errors.New("ssh: no way to authenticate: give identity_file or use the ssh agent (keys only, never passwords)")
	}
	return v, nil
}

// hop is one SSH server: the destination or a jump host.
type hop struct {
	user, host string // user "" until defaulted
	port       int
}

// hostport is the address known_hosts and a TCP dial use.
func (h hop) hostport() string { return net.JoinHostPort(h.host, strconv.Itoa(h.port)) }

// name is how errors and OnReconnect name the hop.
func (h hop) name() string { return "ssh://" + h.user + "@" + h.hostport() }

// hostRE is what a host may be: a name, an IPv4 or an IPv6 address (no
// shell metacharacters: hosts are substituted into proxy commands).
var (
	hostRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?$|^[0-9A-Fa-f:.]+$`)
	userRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
)

// parseHop reads [user@]host[:port].
func parseHop(s string) (hop, error) {
	if s == "" {
		return hop{}, errors.New("empty host")
	}
	return parseURL(s)
}

// parseVia reads ssh://[user@]host[:port].
func parseVia(via string) (hop, error) {
	u, err := url.Parse(via)
	if err != nil {
		return hop{}, fmt.Errorf("via %q: want ssh://[user@]host[:port]", via)
	}
	if u.Scheme != "ssh" {
		return hop{}, fmt.Errorf("via %q: want ssh://[user@]host[:port]", via)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return hop{}, fmt.Errorf("via %q: want ssh://[user@]host[:port], nothing after the port", via)
	}
	if _, ok := u.User.Password(); ok {
		return hop{}, fmt.Errorf("via %q: passwords are never used (keys only); remove it from the via", redactVia(u))
	}
	h, err := hopFromURL(u)
	if err != nil {
		return hop{}, fmt.Errorf("via %q: %w", via, err)
	}
	return h, nil
}

func parseURL(s string) (hop, error) {
	u, err := url.Parse("ssh://" + s)
	if err != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return hop{}, fmt.Errorf("%q: want [user@]host[:port]", s)
	}
	if _, ok := u.User.Password(); ok {
		return hop{}, fmt.Errorf("%q: passwords are never used (keys only)", redactVia(u))
	}
	return hopFromURL(u)
}

func hopFromURL(u *url.URL) (hop, error) {
	h := hop{host: u.Hostname(), port: 22}
	if u.User != nil {
		h.user = u.User.Username()
		if !userRE.MatchString(h.user) {
			return hop{}, fmt.Errorf("user %q: letters, digits, . _ - only", h.user)
		}
	}
	if !hostRE.MatchString(h.host) {
		return hop{}, fmt.Errorf("host %q: not a host name or address", h.host)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return hop{}, fmt.Errorf("port %q: want 1-65535", p)
		}
		h.port = n
	}
	return h, nil
}

func redactVia(u *url.URL) string {
	c := *u
	c.User = url.User(u.User.Username())
	return c.String()
}

// defaultUser is who logs in where nothing names a user.
func (v *validated) defaultUser() (string, error) {
	if v.o.User != "" {
		return v.o.User, nil
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	if u := os.Getenv("USER"); u != "" {
		return u, nil
	}
	return "", errors.New("no user: name one in the via (ssh://user@host) or in the options")
}

func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, p[1:]), nil
	}
	return p, nil
}
