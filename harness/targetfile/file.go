package targetfile

import (
	"fmt"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/tunnel"
)

// Schema is the only schema this package reads.
const Schema = "drdrill.target/v1"

// Defaults of optional fields.
const (
	DefaultMaxFault = 5 * time.Minute
	DefaultDatabase = "drdrill"
	DefaultTable    = "ping"
)

// Exec settings of a host: what drdrill may run there.
const (
	ExecNone   = ""       // nothing
	ExecDirect = "direct" // commands as the login user
	ExecSudo   = "sudo"   // commands through sudo -n
)

// File is a validated target file. Passwords read from the environment at
// Load are kept unexported: they leave only through Secrets and Open, and
// no String, %v or %+v of anything here prints them.
type File struct {
	Path       string // as given to Load (Parse's source)
	Schema     string
	Name       string
	Objectives Objectives
	Workload   Workload
	// Replication is the account the databases replicate with (nil: not
	// given; drills that re-point replication cannot run).
	Replication *Account
	// SSH are the defaults for every ssh:// host (an endpoint's own ssh:
	// overrides them field by field).
	SSH SSH
	// Sites are the two sites, the primary's first.
	Sites []*Site

	safety   Safety // read with Safety()
	warnings []string
	lines    map[string]int
}

// Safety is what a destructive drill may do on this target.
type Safety struct {
	// AllowDestructive must be true (and --yes given) for a drill that
	// changes anything.
	AllowDestructive bool
	// MaxFault is the longest any fault may be held (> 0).
	MaxFault time.Duration
}

// Objectives are the DR objectives drills pass or fail against (nil: none;
// an RPO of 0 is an objective).
type Objectives struct {
	RPO, RTO *time.Duration
}

// Workload is drdrill's own table on the primary.
type Workload struct {
	Database, Table string
}

// SSH is how ssh:// hosts are reached. Paths are absolute (~ expanded,
// relative ones resolved against the target file's directory).
type SSH struct {
	KnownHosts   string // required when any host is ssh://
	IdentityFile string // "" : the ssh agent ($SSH_AUTH_SOCK)
	ProxyJump    string // "[user@]host[:port][,…]", as OpenSSH -J
	ProxyCommand string // as OpenSSH ProxyCommand (run by sh -c; %h %p %r)
	User         string // login user when the via names none
}

// Site is one side of the VPN.
type Site struct {
	Name    string
	Role    string // target.RolePrimary or target.RoleReplica
	Gateway Gateway
	DB      DB
}

// Gateway is a site's strongSwan charon.
type Gateway struct {
	Via        string // "" (this machine) or ssh://[user@]host[:port]
	VICI       string // unix:///abs/path or tcp://host:port, as on that host
	Connection string // the IKE connection
	Child      string // its CHILD_SA config (default: Connection)
	Exec       string // ExecNone, ExecDirect or ExecSudo
	// Retransmit is charon's IKE retransmission as its strongswan.conf sets
	// it (charon does not report it over VICI); tunnel.DefaultRetransmit
	// when the file does not declare it (RetransmitDeclared false).
	Retransmit         tunnel.Retransmit
	RetransmitDeclared bool
	// Keyingtries and StartAction as the connection sets them; nil / ""
	// when not declared.
	Keyingtries *int
	StartAction string
	// Commands crash and restart the IKE daemon (gateway-crash).
	Commands Commands
	// SSH are the effective ssh settings when Via is ssh:// (zero otherwise).
	SSH SSH
}

// Commands are argvs run on a gateway's host (needs Exec).
type Commands struct {
	// Kill crashes the IKE daemon (no DELETE may be sent: kill -9).
	Kill []string
	// Start starts it again; it must leave the daemon running with its
	// connection loaded.
	Start []string
}

// DB is a site's MySQL or MariaDB server.
type DB struct {
	Via          string // "" (this machine) or ssh://[user@]host[:port]
	Socket       string // a unix socket on that host, or
	Address      string // host:port as that host reaches it
	User         string
	PasswordEnv  string // the environment variable holding the password, or
	PasswordFile string // a file (0600) whose first line is the password
	// Exec is what drdrill may run on the database's host (ExecNone,
	// ExecDirect, ExecSudo): site-loss freezes the daemon there, reads its
	// binary logs and rebuilds it.
	Exec string
	TLS  *TLS // address form only
	SSH  SSH  // effective ssh settings when Via is ssh://

	password *secret // read at Load
}

// Account is a MySQL account the file names (the replication account).
type Account struct {
	User         string
	PasswordEnv  string
	PasswordFile string

	password *secret // read at Load
}

// String is the user; never the password.
func (a *Account) String() string { return a.User }

// GoString is String (so that %#v cannot print the password).
func (a *Account) GoString() string { return a.String() }

// TLS is a TCP database's TLS. Paths are absolute.
type TLS struct {
	CA, Cert, Key string
	ServerName    string // default: the address's host
}

// secret is a password kept behind a pointer: fmt prints nested pointers
// as addresses, so %+v of a DB or a File never shows it.
type secret struct{ v string }

func (*secret) String() string   { return "[redacted]" }
func (*secret) GoString() string { return "[redacted]" }

// Endpoint is the VICI endpoint's network and address ("unix",
// "/var/run/charon.vici") as the gateway's host sees it.
func (g Gateway) Endpoint() (network, addr string) {
	if p, ok := strings.CutPrefix(g.VICI, "unix://"); ok {
		return "unix", p
	}
	return "tcp", strings.TrimPrefix(g.VICI, "tcp://")
}

// Endpoint is the database's network and address ("unix", socket path).
func (d DB) Endpoint() (network, addr string) {
	if d.Socket != "" {
		return "unix", d.Socket
	}
	return "tcp", d.Address
}

// Safety is the file's safety settings.
func (f *File) Safety() Safety { return f.safety }

// Warnings are what the file allows but an operator should know (VICI over
// TCP has no authentication, a database over TCP without TLS).
func (f *File) Warnings() []string { return append([]string{}, f.warnings...) }

// Secrets are the passwords read from the environment (empty ones left
// out): strings no output may carry.
func (f *File) Secrets() []string {
	var out []string
	add := func(p *secret) {
		if p != nil && p.v != "" && !contains(out, p.v) {
			out = append(out, p.v)
		}
	}
	for _, s := range f.Sites {
		add(s.DB.password)
	}
	if f.Replication != nil {
		add(f.Replication.password)
	}
	return out
}

// Site is the named site, or nil.
func (f *File) Site(name string) *Site {
	for _, s := range f.Sites {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Pos is where a field was given ("t.yaml:12"), for errors about it; the
// file alone when it was not given.
func (f *File) Pos(field string) string {
	if l := f.lines[field]; l > 0 {
		return fmt.Sprintf("%s:%d", f.Path, l)
	}
	return f.Path
}

// Vias are the distinct ssh:// hosts of the file, in file order.
func (f *File) Vias() []string {
	var out []string
	for _, s := range f.Sites {
		for _, v := range []string{s.Gateway.Via, s.DB.Via} {
			if v != "" && !contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// SSHFor is the effective ssh settings of an ssh:// host of the file (the
// same for every endpoint on it: Load refuses a file where they differ).
func (f *File) SSHFor(via string) (SSH, bool) {
	for _, s := range f.Sites {
		if s.Gateway.Via == via && via != "" {
			return s.Gateway.SSH, true
		}
		if s.DB.Via == via && via != "" {
			return s.DB.SSH, true
		}
	}
	return SSH{}, false
}

// String names the file and its sites; never a secret.
func (f *File) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "target %s (%s):", f.Name, f.Path)
	for _, s := range f.Sites {
		b.WriteString(" " + s.String())
	}
	return b.String()
}

// GoString is String (so that %#v cannot print a secret either).
func (f *File) GoString() string { return f.String() }

// String names the site and its endpoints; never the password.
func (s *Site) String() string {
	return fmt.Sprintf("%s[%s gateway %s, db %s]", s.Name, s.Role, s.Gateway.String(), s.DB.String())
}

// String is where the gateway is and its connection.
func (g Gateway) String() string { return where(g.Via, g.VICI) + " " + g.Connection }

// String is user@where; never the password.
func (d DB) String() string {
	_, addr := d.Endpoint()
	return d.User + "@" + where(d.Via, addr)
}

// GoString is String (so that %#v cannot print the password).
func (d DB) GoString() string { return d.String() }

func where(via, addr string) string {
	if via == "" {
		return addr
	}
	return via + " " + addr
}
