package target

import (
	"context"
	"fmt"
	"strings"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// Site roles.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// Site is one side of the VPN as a drill sees it.
type Site struct {
	Name string // e.g. "aws", "onprem"
	Role string // RolePrimary or RoleReplica
	// Gateway is the site's IKE daemon, reached over the target's dialer.
	Gateway *tunnel.Gateway
	// Tunnel is what a healthy tunnel looks like from this gateway.
	Tunnel tunnel.Expectation
	// DB is the drill's own connection to the site's database.
	DB *replica.Conn
}

// Side pairs the gateway with its expectation, as the tunnel package takes it.
func (s *Site) Side() tunnel.Side { return tunnel.Side{GW: s.Gateway, Want: s.Tunnel} }

// Target is what a drill may observe and change.
type Target interface {
	// Name is shown in reports: "lab" or the target file's name.
	Name() string
	// Sites are the VPN's sides, the primary's first.
	Sites() []*Site
	// OpenDB opens a further connection pool to a site's database with
	// room for conns connections (a steady writer's own pool). The caller
	// closes it.
	OpenDB(ctx context.Context, site string, conns int) (*replica.Conn, error)
	// IKETimings are the gateways' DPD and retransmission settings: live
	// from the daemons where they tell (VICI list-conns), declared by the
	// target otherwise.
	IKETimings(ctx context.Context) (tunnel.IKETimings, error)
	// Describe is what reports state about the target (backend, where it
	// is, declared timings). No secrets.
	Describe() map[string]any
	// Secrets are the strings no output may carry (PSKs, passwords).
	Secrets() []string
	// Close releases the connections (it does not stop anything).
	Close() error
}

// Primary is the primary's site (the first).
func Primary(t Target) *Site { return byRole(t, RolePrimary) }

// Replica is the replica's site.
func Replica(t Target) *Site { return byRole(t, RoleReplica) }

func byRole(t Target, role string) *Site {
	for _, s := range t.Sites() {
		if s.Role == role {
			return s
		}
	}
	return nil
}

// SiteNamed returns the named site, or an error listing the sites there are.
func SiteNamed(t Target, name string) (*Site, error) {
	var names []string
	for _, s := range t.Sites() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return nil, fmt.Errorf("no site %q (have %s)", name, strings.Join(names, ", "))
}

// Other is the other side of a two-site VPN.
func Other(t Target, s *Site) *Site {
	for _, o := range t.Sites() {
		if o != s {
			return o
		}
	}
	return nil
}

// Validate checks that a target has what every drill assumes: one primary
// site and one replica site, each with a gateway, a connection name and a
// database.
func Validate(t Target) error {
	p, r := Primary(t), Replica(t)
	if p == nil || r == nil || len(t.Sites()) != 2 {
		return fmt.Errorf("target %s: want two sites, one primary and one replica", t.Name())
	}
	for _, s := range t.Sites() {
		switch {
		case s.Gateway == nil:
			return fmt.Errorf("target %s: site %s has no gateway", t.Name(), s.Name)
		case s.Tunnel.Connection == "":
			return fmt.Errorf("target %s: site %s has no IKE connection name", t.Name(), s.Name)
		case s.DB == nil:
			return fmt.Errorf("target %s: site %s has no database", t.Name(), s.Name)
		}
	}
	return nil
}
