package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
)

// Hosts of a lab, in the order they are made.
var Hosts = []string{"aws-gw", "aws-db", "onprem-gw", "onprem-db"}

// Sites in a stable order.
var Sites = []string{SiteAWS, SiteOnPrem}

// maxSocketPath is sun_path (108 bytes) minus the terminating NUL.
const maxSocketPath = 107

// IDFor derives a lab's id from its absolute dir, so that two labs in two
// dirs never share a name and a crashed lab's leftovers can be found from
// the dir alone. "drd" + 8 hex digits keeps namespace and container names
// short.
func IDFor(absDir string) string {
	h := sha256.Sum256([]byte(filepath.Clean(absDir)))
	return "drd" + hex.EncodeToString(h[:4])
}

// HostName is a lab host's namespace or container name.
func HostName(id, host string) string { return id + "-" + host }

// plan is the docs/design.md address plan.
type sitePlan struct {
	subnet, gwLAN, gwLANCIDR, dbAddr, dbCIDR, wanAddr, ikeID string
	serverID                                                 int
	role                                                     string
}

var plan = map[string]sitePlan{
	SiteAWS: {subnet: "10.20.0.0/16", gwLAN: "10.20.0.1", gwLANCIDR: "10.20.0.1/16", dbAddr: "10.20.11.123", dbCIDR: "10.20.11.123/16",
		wanAddr: "198.51.100.1", ikeID: "aws.lab", serverID: 1, role: RolePrimary},
	SiteOnPrem: {subnet: "192.168.64.0/24", gwLAN: "192.168.64.1", gwLANCIDR: "192.168.64.1/24", dbAddr: "192.168.64.15", dbCIDR: "192.168.64.15/24",
		wanAddr: "198.51.100.2", ikeID: "onprem.lab", serverID: 2, role: RoleReplica},
}

const wanPrefixLen = 24

// peer is the other site.
func peer(site string) string {
	if site == SiteAWS {
		return SiteOnPrem
	}
	return SiteAWS
}

// newInfo lays out a lab in dir (absolute) for a backend.
func newInfo(dir, backend string) *Info {
	id := IDFor(dir)
	info := &Info{Schema: InfoSchema, ID: id, Backend: backend, Dir: dir, Phase: PhaseCreating,
		Sites: map[string]*Site{}, Timings: DefaultTimings}
	for _, s := range Sites {
		p := plan[s]
		sd := filepath.Join(dir, s)
		info.Sites[s] = &Site{
			Name: s, Subnet: p.subnet,
			Gateway: Gateway{Host: HostName(id, s+"-gw"), VICI: filepath.Join(sd, "charon.vici"), WANAddr: p.wanAddr, LANAddr: p.gwLAN, ID: p.ikeID},
			DB:      DB{Host: HostName(id, s+"-db"), Socket: filepath.Join(sd, "mysqld.sock"), Role: p.role, Addr: p.dbAddr, ServerID: p.serverID, DataDir: filepath.Join(sd, "data")},
		}
	}
	return info
}

// checkSocketPaths fails when a socket path would not fit in sun_path.
func checkSocketPaths(info *Info) error {
	for _, s := range Sites {
		for _, p := range []string{info.Sites[s].Gateway.VICI, info.Sites[s].DB.Socket} {
			if len(p) > maxSocketPath {
				return inputErrorf("lab dir %s: socket path %s is %d bytes, more than the %d a unix socket allows; use a shorter --lab",
					info.Dir, p, len(p), maxSocketPath)
			}
		}
	}
	return nil
}

// InputError is bad input: the caller exits 2 and nothing was changed.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputErrorf(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }
