package targetfile

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/transport"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// HostResolver gives the host an endpoint's via names: "" is this machine
// (transport.Local{}), ssh://… the caller's SSH pool. It is called once per
// gateway and once per database; a pool returns the same Host for the same
// via. The resolver owns the hosts: Target.Close does not close them.
type HostResolver func(ctx context.Context, via string, site string) (transport.Host, error)

// RestartTimeout bounds RestartGateway's wait for the restarted daemon to
// answer VICI with its connection loaded.
const RestartTimeout = 30 * time.Second

// Target is a target file opened (target.Target). Open returns it as it is
// when the file allows no commands, and wrapped otherwise: with HostExec
// when a gateway has exec set, and GatewayRestarter too when both gateways
// have commands. Base gets it back from any of them.
type Target struct {
	file   *File
	sites  []*target.Site
	gwHost map[string]transport.Host
	dbHost map[string]transport.Host
	// lenient: opened with Recovering.
	lenient bool

	closeOnce sync.Once
	closeErr  error
	// frozen is the pid each db host's Freeze stopped (marker → pid), for
	// Thaw; another process finds it in the watchdog's arguments.
	frozen sync.Map
}

type execTarget struct{ *Target }

type restartTarget struct{ *execTarget }

var (
	_ target.Target           = (*Target)(nil)
	_ target.HostExec         = (*execTarget)(nil)
	_ target.GatewayRestarter = (*restartTarget)(nil)
	_ target.HostExec         = (*restartTarget)(nil)
)

// Base is the *Target behind a target Open returned.
func Base(t target.Target) (*Target, bool) {
	switch v := t.(type) {
	case *Target:
		return v, true
	case *execTarget:
		return v.Target, true
	case *restartTarget:
		return v.Target, true
	}
	return nil, false
}

// Open connects to every gateway and database of f through the hosts
// hosts gives (nil: this machine only) and reads what a healthy tunnel
// looks like from each gateway's loaded connection. Errors name the site.
func Open(ctx context.Context, f *File, hosts HostResolver, opts ...OpenOption) (target.Target, error) {
	if hosts == nil {
		hosts = localOnly
	}
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	t := &Target{file: f, gwHost: map[string]transport.Host{}, dbHost: map[string]transport.Host{}, lenient: o.lenient}
	for _, s := range f.Sites {
		site, err := t.openSite(ctx, s, hosts)
		if site != nil {
			t.sites = append(t.sites, site)
		}
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("target %s: site %s: %w", f.Name, s.Name, err)
		}
	}
	if o.lenient {
		if err := t.mirrorExpectations(); err != nil {
			t.Close()
			return nil, fmt.Errorf("target %s: %w", f.Name, err)
		}
	}
	return wrap(t), nil
}

// OpenOption varies Open.
type OpenOption func(*openOptions)

type openOptions struct{ lenient bool }

// Recovering opens a target whose gateway daemon may be down (a drill
// crashed it and was killed before it restarted it): such a gateway is
// dialled on first use, and what its healthy tunnel looks like is the
// other gateway's, mirrored. drdrill recover opens targets this way.
func Recovering() OpenOption { return func(o *openOptions) { o.lenient = true } }

// mirrorExpectations fills a gateway's unread expectation from the other
// side's (local and remote swapped).
func (t *Target) mirrorExpectations() error {
	for i, s := range t.sites {
		if s.Tunnel.LocalTS != nil {
			continue
		}
		o := t.sites[1-i]
		if o.Tunnel.LocalTS == nil {
			return fmt.Errorf("neither gateway answers: cannot tell what a healthy tunnel looks like")
		}
		s.Tunnel.LocalTS, s.Tunnel.RemoteTS = o.Tunnel.RemoteTS, o.Tunnel.LocalTS
	}
	return nil
}

// wrap gives t the capabilities its file allows.
func wrap(t *Target) target.Target {
	restart, exec := true, false
	for _, s := range t.file.Sites {
		exec = exec || s.Gateway.Exec != ExecNone || s.DB.Exec != ExecNone
		restart = restart && s.Gateway.Commands.Kill != nil && s.Gateway.Commands.Start != nil
	}
	switch {
	case restart: // commands need exec (Load checks)
		return &restartTarget{&execTarget{t}}
	case exec:
		return &execTarget{t}
	}
	return t
}

func localOnly(_ context.Context, via, site string) (transport.Host, error) {
	if via != "" {
		return nil, fmt.Errorf("%s: this program reaches no ssh:// hosts", via)
	}
	return transport.Local{}, nil
}

func (t *Target) openSite(ctx context.Context, s *Site, hosts HostResolver) (*target.Site, error) {
	site := &target.Site{Name: s.Name, Role: s.Role}
	gh, err := hosts(ctx, s.Gateway.Via, s.Name)
	if err != nil {
		return nil, fmt.Errorf("gateway host: %w", err)
	}
	t.gwHost[s.Name] = gh
	network, addr := s.Gateway.Endpoint()
	name := where(s.Gateway.Via, s.Gateway.VICI)
	dial := tunnel.DialFunc(name, func(ctx context.Context) (net.Conn, error) {
		return gh.Dial(ctx, network, addr)
	})
	gw, err := tunnel.Open(ctx, s.Name, dial)
	switch {
	case err != nil && t.lenient:
		site.Gateway = tunnel.NewGateway(s.Name, dial)
		site.Tunnel = tunnel.Expectation{Connection: s.Gateway.Connection}
	case err != nil:
		return nil, fmt.Errorf("gateway %s: %w", name, err)
	default:
		site.Gateway = gw
		if site.Tunnel, err = expectation(ctx, gw, s.Gateway); err != nil {
			return site, fmt.Errorf("gateway %s: %w", name, err)
		}
	}
	dh, err := hosts(ctx, s.DB.Via, s.Name)
	if err != nil {
		return site, fmt.Errorf("database host: %w", err)
	}
	t.dbHost[s.Name] = dh
	if t.lenient && s.DB.Exec != ExecNone {
		site.DB, err = t.openFrozenDB(ctx, s)
	} else {
		site.DB, err = t.openDB(ctx, s)
	}
	if err != nil {
		return site, err
	}
	return site, nil
}

// expectation reads the traffic selectors of the gateway's loaded child:
// what its CHILD_SA must show when the tunnel is healthy.
func expectation(ctx context.Context, gw *tunnel.Gateway, g Gateway) (tunnel.Expectation, error) {
	want := tunnel.Expectation{Connection: g.Connection}
	ci, err := gw.Conn(ctx, g.Connection)
	if err != nil {
		return want, err
	}
	local, ok := ci.LocalTS[g.Child]
	if !ok {
		var have []string
		for k := range ci.LocalTS {
			have = append(have, k)
		}
		slices.Sort(have)
		return want, fmt.Errorf("connection %s has no child %s (it has: %s)", g.Connection, g.Child, strings.Join(have, ", "))
	}
	remote := ci.RemoteTS[g.Child]
	for _, ts := range [][]string{local, remote} {
		if len(ts) == 0 || slices.Contains(ts, "dynamic") {
			return want, fmt.Errorf("child %s has traffic selectors %v === %v: drdrill needs them as subnets (local_ts, remote_ts in swanctl.conf) to know a healthy tunnel", g.Child, local, remote)
		}
	}
	want.LocalTS, want.RemoteTS = local, remote
	return want, nil
}

func (t *Target) openDB(ctx context.Context, s *Site) (*replica.Conn, error) {
	d := s.DB
	network, addr := d.Endpoint()
	e := replica.Endpoint{Network: network, Addr: addr, User: d.User, Password: d.password.value(), Dial: t.dbHost[s.Name].Dial}
	if d.TLS != nil {
		host, _, _ := net.SplitHostPort(addr)
		cfg, err := d.TLS.Config(host)
		if err != nil {
			return nil, fmt.Errorf("database %s: tls %w", where(d.Via, addr), err)
		}
		e.TLS = cfg
	}
	c, err := replica.OpenEndpoint(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", where(d.Via, addr), replica.Redact(err, d.password.value()))
	}
	return c, nil
}

func (s *secret) value() string {
	if s == nil {
		return ""
	}
	return s.v
}

// File is the target file t was opened from.
func (t *Target) File() *File { return t.file }

// Name is the file's name.
func (t *Target) Name() string { return t.file.Name }

// Sites are the two sites, the primary's first.
func (t *Target) Sites() []*target.Site { return t.sites }

// Secrets are the database passwords.
func (t *Target) Secrets() []string { return t.file.Secrets() }

// String names the target and its file (GoString too: never a secret).
func (t *Target) String() string   { return fmt.Sprintf("target %s (%s)", t.file.Name, t.file.Path) }
func (t *Target) GoString() string { return t.String() }

// OpenDB opens a further pool to a site's database, with room for conns
// connections. The caller closes it.
func (t *Target) OpenDB(ctx context.Context, site string, conns int) (*replica.Conn, error) {
	s := t.file.Site(site)
	if s == nil || t.dbHost[site] == nil {
		return nil, fmt.Errorf("target %s has no site %q", t.file.Name, site)
	}
	c, err := t.openDB(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", site, err)
	}
	c.DB().SetMaxOpenConns(conns + 1)
	c.DB().SetMaxIdleConns(conns + 1)
	return c, nil
}

// IKETimings: DPD delay and action live from each gateway (list-conns);
// retransmission, keyingtries and start_action as the file declares them.
func (t *Target) IKETimings(ctx context.Context) (tunnel.IKETimings, error) {
	it := tunnel.IKETimings{DPDDelay: map[string]time.Duration{}, DPDAction: map[string]string{},
		StartAction: map[string]string{}, Keyingtries: map[string]int{}}
	var declared, defaulted, undeclared []string
	for i, site := range t.sites {
		g := t.file.Sites[i].Gateway
		it.Sites = append(it.Sites, site.Name)
		ci, err := site.Gateway.Conn(ctx, g.Connection)
		if err != nil {
			return it, fmt.Errorf("read %s's IKE timings: %w", site.Name, err)
		}
		it.DPDDelay[site.Name], it.DPDAction[site.Name] = ci.DPDDelay, ci.DPDAction[g.Child]
		if g.RetransmitDeclared {
			declared = append(declared, site.Name)
		} else {
			defaulted = append(defaulted, site.Name)
		}
		if g.Retransmit.Sequence() > it.Retransmit.Sequence() {
			it.Retransmit = g.Retransmit
		}
		if g.Keyingtries != nil {
			it.Keyingtries[site.Name] = *g.Keyingtries
		}
		if g.StartAction != "" {
			it.StartAction[site.Name] = g.StartAction
		}
		if g.Keyingtries == nil || g.StartAction == "" {
			undeclared = append(undeclared, site.Name)
		}
	}
	src := []string{"dpd: vici list-conns"}
	if len(declared) > 0 {
		src = append(src, fmt.Sprintf("retransmission: declared in %s (%s)", t.file.Path, strings.Join(declared, ", ")))
	}
	if len(defaulted) > 0 {
		src = append(src, fmt.Sprintf("retransmission: charon's default, not declared (%s)", strings.Join(defaulted, ", ")))
	}
	src = append(src, "keyingtries, start_action: declared in "+t.file.Path)
	if len(undeclared) > 0 {
		src[len(src)-1] += fmt.Sprintf(" (not all declared: %s)", strings.Join(undeclared, ", "))
	}
	it.Source = strings.Join(src, "; ")
	return it, nil
}

// Describe is what reports state about the target: where each endpoint is,
// the safety settings. No secrets (the password variables' names only).
func (t *Target) Describe() map[string]any {
	f := t.file
	sites := map[string]any{}
	for _, s := range f.Sites {
		g, d := s.Gateway, s.DB
		gw := map[string]any{"via": viaName(g.Via), "vici": g.VICI, "connection": g.Connection, "child": g.Child,
			"exec": g.Exec, "retransmit_declared": g.RetransmitDeclared, "commands": g.Commands.Kill != nil}
		db := map[string]any{"via": viaName(d.Via), "user": d.User, "password_env": d.PasswordEnv, "password_file": d.PasswordFile,
			"exec": d.Exec, "tls": d.TLS != nil}
		if d.Socket != "" {
			db["socket"] = d.Socket
		} else {
			db["address"] = d.Address
		}
		sites[s.Name] = map[string]any{"role": s.Role, "gateway": gw, "db": db}
	}
	sf := f.Safety()
	out := map[string]any{"backend": "target-file", "target": f.Name, "target_file": f.Path, "sites": sites,
		"safety":   map[string]any{"allow_destructive": sf.AllowDestructive, "max_fault_s": sf.MaxFault.Seconds()},
		"workload": f.Workload.Database + "." + f.Workload.Table, "warnings": f.Warnings()}
	obj := map[string]any{}
	if f.Objectives.RPO != nil {
		obj["rpo_s"] = f.Objectives.RPO.Seconds()
	}
	if f.Objectives.RTO != nil {
		obj["rto_s"] = f.Objectives.RTO.Seconds()
	}
	if len(obj) > 0 {
		out["objectives"] = obj
	}
	if r := f.Replication; r != nil {
		out["replication"] = map[string]any{"user": r.User, "password_env": r.PasswordEnv, "password_file": r.PasswordFile}
	}
	return out
}

func viaName(via string) string {
	if via == "" {
		return "local"
	}
	return via
}

// Close closes the gateways' VICI sessions and the databases' pools it
// opened (not the hosts: the resolver owns them). It is idempotent.
func (t *Target) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		for _, s := range t.sites {
			if s.Gateway != nil {
				errs = append(errs, s.Gateway.Close())
			}
			if s.DB != nil {
				errs = append(errs, s.DB.Close())
			}
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// gateway is a site's gateway as the file gives it and its host, or an
// error naming the site.
func (t *Target) gateway(site string) (*Site, transport.Host, error) {
	s := t.file.Site(site)
	if s == nil || t.gwHost[site] == nil {
		return nil, nil, fmt.Errorf("target %s has no site %q", t.file.Name, site)
	}
	return s, t.gwHost[site], nil
}

// Exec runs argv on a gateway's or database's host, through sudo when its
// exec says so. A host whose exec is not set is refused.
func (t *execTarget) Exec(ctx context.Context, h target.Host, argv ...string) ([]byte, error) {
	return t.ExecInput(ctx, h, nil, argv...)
}

// ExecInput is Exec with stdin on the command's standard input.
func (t *execTarget) ExecInput(ctx context.Context, h target.Host, stdin []byte, argv ...string) ([]byte, error) {
	host, sudo, err := t.execHost(h)
	if err != nil {
		return nil, err
	}
	return host.ExecInput(ctx, argv, sudo, stdin)
}

// KillGateway runs the gateway's commands.kill on its host.
func (t *restartTarget) KillGateway(ctx context.Context, site string) error {
	s, host, err := t.gateway(site)
	if err != nil {
		return fmt.Errorf("kill gateway: %w", err)
	}
	if _, err := host.Exec(ctx, s.Gateway.Commands.Kill, s.Gateway.Exec == ExecSudo); err != nil {
		return fmt.Errorf("kill %s's gateway: %w", site, err)
	}
	return nil
}

// RestartGateway runs the gateway's commands.start on its host, then waits
// (at most RestartTimeout) until the daemon answers VICI with its
// connection loaded.
func (t *restartTarget) RestartGateway(ctx context.Context, site string) error {
	s, host, err := t.gateway(site)
	if err != nil {
		return fmt.Errorf("restart gateway: %w", err)
	}
	if _, err := host.Exec(ctx, s.Gateway.Commands.Start, s.Gateway.Exec == ExecSudo); err != nil {
		return fmt.Errorf("start %s's gateway: %w", site, err)
	}
	var gw *tunnel.Gateway
	for _, ts := range t.sites {
		if ts.Name == site {
			gw = ts.Gateway
		}
	}
	conn := s.Gateway.Connection
	return poll.Until(ctx, fmt.Sprintf("%s's gateway to answer VICI with connection %s loaded after its start command", site, conn),
		50*time.Millisecond, RestartTimeout, func(ctx context.Context) (bool, string, error) {
			if _, err := gw.Conn(ctx, conn); err != nil {
				return false, err.Error(), nil
			}
			return true, "", nil
		})
}

// WorkloadTable is the file's workload table (target.Workloader): drills
// write their rows there, creating it when absent.
func (t *Target) WorkloadTable() (database, table string) {
	return t.file.Workload.Database, t.file.Workload.Table
}
