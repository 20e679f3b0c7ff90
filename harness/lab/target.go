package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// Target is a running lab as drills see it (target.Target), with the lab's
// own powers as capabilities: exec on a host (target.HostExec), crash /
// restart a gateway (target.GatewayRestarter) and, on a failover lab, the
// writer/reader cluster (target.Cluster, cluster.go).
type Target struct {
	backend Backend
	handles *Handles
	sites   []*target.Site
	secrets []string
	sec     *Secrets
	cluster *cluster // nil on a four-host lab

	mu   sync.Mutex
	info *Info
}

var (
	_ target.Target           = (*Target)(nil)
	_ target.HostExec         = (*Target)(nil)
	_ target.GatewayRestarter = (*Target)(nil)
)

// Open connects to a running lab through its unix sockets. b nil: the
// backend the lab was made with.
func Open(ctx context.Context, info *Info, b Backend) (*Target, error) {
	if b == nil {
		b = Backends()[info.Backend]
		if b == nil {
			return nil, fmt.Errorf("lab %s: backend %q is not linked into this program", info.Dir, info.Backend)
		}
	}
	// Gateways are dialled on first use: a lab whose charon a drill killed
	// (then was itself killed) must still open, so that recover can start it.
	h := &Handles{Gateways: map[string]*tunnel.Gateway{}, DBs: map[string]*replica.Conn{}}
	for _, s := range Sites {
		site := info.Sites[s]
		if site == nil {
			return nil, fmt.Errorf("lab %s has no site %s", info.Dir, s)
		}
		h.Gateways[s] = tunnel.NewGateway(s, tunnel.UnixSocket(site.Gateway.VICI))
		db, err := replica.OpenSocket(ctx, site.DB.Socket, "root", "")
		if err != nil {
			h.Close()
			return nil, &HostError{Host: s + "-db", Err: err}
		}
		h.DBs[s] = db
	}
	cl, err := openCluster(ctx, info, h.DBs[SiteAWS])
	if err != nil {
		h.Close()
		return nil, err
	}
	t := &Target{backend: b, handles: h, info: info, cluster: cl}
	for _, s := range Sites {
		role := target.RoleReplica
		if info.Sites[s].DB.Role == RolePrimary {
			role = target.RolePrimary
		}
		t.sites = append(t.sites, &target.Site{Name: s, Role: role, Gateway: h.Gateways[s], Tunnel: Expectation(info, s), DB: h.DBs[s]})
	}
	if sec, err := LoadSecrets(info.Dir); err == nil {
		t.sec, t.secrets = sec, sec.Values()
	}
	return t, nil
}

// Info is the lab's state (its pids change when a gateway is restarted).
func (t *Target) Info() *Info {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.info
}

func (t *Target) Name() string          { return "lab" }
func (t *Target) Sites() []*target.Site { return t.sites }
func (t *Target) Secrets() []string     { return t.secrets }
func (t *Target) Close() error          { return errors.Join(t.handles.Close(), t.cluster.close()) }

// Describe is what reports state about the lab.
func (t *Target) Describe() map[string]any {
	info := t.Info()
	return map[string]any{"backend": info.Backend, "lab_dir": info.Dir, "lab_id": info.ID, "lab_timings": info.Timings}
}

// OpenDB opens a pool of its own to a site's MariaDB (over its socket).
func (t *Target) OpenDB(ctx context.Context, site string, conns int) (*replica.Conn, error) {
	s := t.Info().Sites[site]
	if s == nil {
		return nil, fmt.Errorf("lab has no site %q", site)
	}
	c, err := replica.OpenSocket(ctx, s.DB.Socket, "root", "")
	if err != nil {
		return nil, err
	}
	c.DB().SetMaxOpenConns(conns + 1)
	c.DB().SetMaxIdleConns(conns + 1)
	return c, nil
}

// IKETimings: DPD delay and action live from each charon (list-conns);
// retransmission from the strongswan.conf the lab rendered; keyingtries and
// start_action from the connection the lab loads.
func (t *Target) IKETimings(ctx context.Context) (tunnel.IKETimings, error) {
	info := t.Info()
	it := tunnel.IKETimings{Sites: Sites, DPDDelay: map[string]time.Duration{}, DPDAction: map[string]string{},
		StartAction: map[string]string{}, Keyingtries: map[string]int{},
		Source: "dpd: vici list-conns; retransmission: the lab's strongswan.conf; keyingtries, start_action: the lab's connection"}
	for _, site := range t.sites {
		s := site.Name
		ci, err := site.Gateway.Conn(ctx, site.Tunnel.Connection)
		if err != nil {
			return it, fmt.Errorf("read %s's IKE timings: %w", s, err)
		}
		it.DPDDelay[s], it.DPDAction[s] = ci.DPDDelay, ci.DPDAction[site.Tunnel.Connection]
		cc := ConnConfig(info, s)
		it.Keyingtries[s] = cc.Keyingtries
		for _, ch := range cc.Children {
			if ch.Name == site.Tunnel.Connection {
				it.StartAction[s] = ch.StartAction
			}
		}
		conf := filepath.Join(info.Dir, s, "strongswan.conf")
		b, err := os.ReadFile(conf)
		if err != nil {
			return it, fmt.Errorf("read %s's IKE retransmission settings: %w", s, err)
		}
		rt, err := tunnel.ParseRetransmit(string(b))
		if err != nil {
			return it, fmt.Errorf("%s: %w", conf, err)
		}
		if rt.Sequence() > it.Retransmit.Sequence() {
			it.Retransmit = rt
		}
	}
	return it, nil
}

// Exec runs a command inside a lab host (namespace or container).
func (t *Target) Exec(ctx context.Context, h target.Host, argv ...string) ([]byte, error) {
	return t.ExecInput(ctx, h, nil, argv...)
}

// ExecInput is Exec with stdin on the command's standard input.
func (t *Target) ExecInput(ctx context.Context, h target.Host, stdin []byte, argv ...string) ([]byte, error) {
	return t.backend.ExecInput(ctx, t.Info(), h.String(), stdin, argv...)
}

// KillGateway kills -9 a site's charon.
func (t *Target) KillGateway(ctx context.Context, site string) error {
	return t.backend.KillGateway(ctx, t.Info(), site)
}

// RestartGateway starts a site's charon again and loads the VPN into it.
func (t *Target) RestartGateway(ctx context.Context, site string) error {
	if err := RestartGateway(ctx, t.Info(), t.backend, site); err != nil {
		return err
	}
	t.reload()
	return nil
}

// StartGatewayUnconfigured starts a site's charon again WITHOUT loading its
// connection and PSK, as a gateway whose configuration is not loaded at
// start comes back (the gateway-crash fault's reload=false, for tests).
func (t *Target) StartGatewayUnconfigured(ctx context.Context, site string) error {
	if err := t.backend.StartGateway(ctx, t.Info(), RecorderFor(t.Info()), site); err != nil {
		return err
	}
	t.reload()
	return nil
}

func (t *Target) reload() {
	if info, err := Load(t.Info().Dir); err == nil {
		t.mu.Lock()
		t.info = info
		t.mu.Unlock()
	}
}
