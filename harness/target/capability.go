package target

import (
	"context"
	"fmt"
	"time"
)

// Capability names an optional ability a drill or fault may need.
type Capability string

// The capabilities a Target may have, each an interface below.
const (
	CapExec           Capability = "exec"            // HostExec
	CapRestartGateway Capability = "restart-gateway" // GatewayRestarter
)

// HostKind is which host of a site.
type HostKind string

const (
	GatewayHost HostKind = "gw"
	DBHost      HostKind = "db"
)

// Host is one host of a site: its gateway's or its database's.
type Host struct {
	Site string
	Kind HostKind
}

// String is the host's name as the lab names it: "aws-gw".
func (h Host) String() string { return h.Site + "-" + string(h.Kind) }

// HostExec runs a command on a host (in the lab: inside its namespace or
// container; on a real target: over SSH, with sudo where allowed), for
// faults such as an nftables blackhole. argv never carries a secret.
type HostExec interface {
	Exec(ctx context.Context, h Host, argv ...string) ([]byte, error)
	// ExecInput is Exec with stdin on the command's standard input (nil:
	// none): how a secret reaches the host.
	ExecInput(ctx context.Context, h Host, stdin []byte, argv ...string) ([]byte, error)
}

// GatewayRestarter can crash a site's IKE daemon (kill -9: no DELETE is
// sent) and start it again with its VPN configuration loaded, returning
// once it answers. The site's Gateway handle keeps working across it.
type GatewayRestarter interface {
	KillGateway(ctx context.Context, site string) error
	RestartGateway(ctx context.Context, site string) error
}

// Has reports whether t has the capability.
func Has(t Target, c Capability) bool {
	switch c {
	case CapExec:
		_, ok := t.(HostExec)
		return ok
	case CapRestartGateway:
		_, ok := t.(GatewayRestarter)
		return ok
	case CapCluster:
		c, ok := t.(Cluster)
		return ok && len(c.Instances()) >= 2
	case CapFreeze:
		f, ok := t.(Freezer)
		return ok && f.CanFreeze()
	case CapReplicationAccount:
		a, ok := t.(ReplicationAccounter)
		if !ok {
			return false
		}
		user, _ := a.ReplicationAccount()
		return user != ""
	}
	return false
}

// Missing returns the capabilities of needs that t lacks.
func Missing(t Target, needs ...Capability) []Capability {
	var out []Capability
	for _, c := range needs {
		if !Has(t, c) {
			out = append(out, c)
		}
	}
	return out
}

// MissingError says which capabilities a drill or fault needs that the
// target lacks.
type MissingError struct {
	Target  string
	Who     string
	Missing []Capability
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s needs capabilities the target %s lacks: %v", e.Who, e.Target, e.Missing)
}

// Require returns a *MissingError when t lacks any of needs.
func Require(t Target, who string, needs ...Capability) error {
	if m := Missing(t, needs...); len(m) > 0 {
		return &MissingError{Target: t.Name(), Who: who, Missing: m}
	}
	return nil
}

// Workloader is a target that names the table drills write their rows to
// (a target file's workload: {database, table}); without it a drill uses
// the lab's testdb.ping. The table is created when absent (when the user
// may) and never altered.
type Workloader interface {
	WorkloadTable() (database, table string)
}

// CapFreeze is Freezer: stop a site's database daemon (site-loss).
const CapFreeze Capability = "freeze"

// Freezer can freeze a host's database daemon (SIGSTOP): its connections
// neither answer nor close, as when a site goes dark with writes in flight.
//
// Freeze arms a dead-man's switch in the host before it stops the daemon:
// with limit > 0 something outside drdrill (a detached watchdog in the
// host) thaws it after limit even when drdrill is killed. Thaw cancels the
// switch, continues the daemon and returns once it is no longer stopped;
// it is idempotent, and safe when Freeze never ran or was done by another
// process. CanFreeze says whether this target can (the lab: on the netns
// backend).
type Freezer interface {
	Freeze(ctx context.Context, h Host, limit time.Duration) error
	Thaw(ctx context.Context, h Host) error
	CanFreeze() bool
}
