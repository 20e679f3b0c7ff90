package target

import (
	"context"
	"fmt"
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
