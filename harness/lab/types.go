package lab

import (
	"context"
	"time"
)

// Names fixed by the address plan in docs/design.md.
const (
	SiteAWS    = "aws"
	SiteOnPrem = "onprem"
	// ConnName is both the IKE connection and its child, as in the seed.
	ConnName = "onprem-aws"

	RolePrimary = "primary"
	RoleReplica = "replica"

	InfoSchema = "drdrill.lab/v1"
	InfoFile   = "lab.json"
)

// Phases of a lab's life, persisted so that `lab down` after a crash knows
// that it is cleaning up a half-built lab.
const (
	PhaseCreating = "creating"
	PhaseUp       = "up"
	PhaseFailed   = "failed"
)

// Info is what a lab is: where its sockets are, what it started. It is
// written to DIR/lab.json before each resource is created, so that a lab
// killed halfway can still be taken down.
type Info struct {
	Schema    string           `json:"schema"`
	ID        string           `json:"id"`      // per-lab prefix of every name the lab creates
	Backend   string           `json:"backend"` // "netns" or "docker"
	Dir       string           `json:"dir"`
	Phase     string           `json:"phase"`
	CreatedAt time.Time        `json:"created_at"`
	Sites     map[string]*Site `json:"sites"`
	Timings   Timings          `json:"timings"`
	Resources Resources        `json:"resources"`
	// Failover is the failover drills' extension (Options.Failover); nil on
	// a four-host lab.
	Failover *FailoverInfo `json:"failover,omitempty"`
	// TLS: the databases take TLS on their addresses too (Options.TLS);
	// nil: not.
	TLS *TLSInfo `json:"tls,omitempty"`
}

// Site is one side of the VPN: a gateway and a database behind it.
type Site struct {
	Name    string  `json:"name"`
	Subnet  string  `json:"subnet"`
	Gateway Gateway `json:"gateway"`
	DB      DB      `json:"db"`
}

// Gateway is a strongSwan charon reached through its VICI unix socket.
type Gateway struct {
	Host    string `json:"host"` // namespace or container name
	VICI    string `json:"vici"` // unix socket path on this machine
	WANAddr string `json:"wan_addr"`
	LANAddr string `json:"lan_addr"`
	ID      string `json:"ike_id"`
	PID     int    `json:"pid,omitempty"`
}

// DB is a MariaDB server reached through its unix socket.
type DB struct {
	Host     string `json:"host"`
	Socket   string `json:"socket"`
	Role     string `json:"role"` // primary or replica
	Addr     string `json:"addr"`
	ServerID int    `json:"server_id"`
	DataDir  string `json:"datadir"` // throwaway: tmpfs for the netns backend
	PID      int    `json:"pid,omitempty"`
}

// Timings are the replication timings the lab configures (docs/design.md); every
// report states them.
type Timings struct {
	HeartbeatPeriodS int `json:"master_heartbeat_period_s"`
	ConnectRetryS    int `json:"master_connect_retry_s"`
	NetTimeoutS      int `json:"slave_net_timeout_s"`
	DPDDelayS        int `json:"dpd_delay_s"`
}

// DefaultTimings are docs/design.md's lab timings.
var DefaultTimings = Timings{HeartbeatPeriodS: 1, ConnectRetryS: 1, NetTimeoutS: 3, DPDDelayS: 2}

// Resources are what a backend created, recorded as it goes so that Down
// removes exactly these and nothing else.
type Resources struct {
	Namespaces []string  `json:"namespaces,omitempty"`
	Processes  []Process `json:"processes,omitempty"`
	Containers []string  `json:"containers,omitempty"`
	Networks   []string  `json:"networks,omitempty"`
	// Dirs outside the lab dir that the lab made (datadirs on tmpfs).
	Dirs []string `json:"dirs,omitempty"`
}

// Process is a daemon the lab started. StartTime (from /proc/PID/stat) guards
// against killing an unrelated process that reused the pid after a reboot.
type Process struct {
	Name      string `json:"name"` // e.g. "aws-gw/charon"
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
}

// Recorder persists resources the moment a backend creates them.
type Recorder interface {
	Record(func(*Info)) error
}

// Backend makes hosts and starts daemons. Everything above that (loading
// the VPN over VICI, replication, schema, readiness) is shared and lives in
// this package, so that both backends give the same lab.
type Backend interface {
	Name() string
	// Provision creates the four hosts and starts charon and MariaDB on them.
	// It returns when every VICI and MySQL socket in info accepts connections.
	// It records each resource with rec before or as it creates it.
	Provision(ctx context.Context, info *Info, rec Recorder) error
	// Teardown removes what info.Resources lists (and anything else carrying
	// info.ID that a crashed run left). Idempotent.
	Teardown(ctx context.Context, info *Info) error
	// Exec runs a command inside a lab host (namespace or container), for faults.
	Exec(ctx context.Context, info *Info, host string, argv ...string) ([]byte, error)
	// ExecInput is Exec with stdin on the command's standard input (nil: none).
	ExecInput(ctx context.Context, info *Info, host string, stdin []byte, argv ...string) ([]byte, error)
	// KillGateway kills -9 a site's charon; StartGateway starts it again and
	// returns when its VICI socket accepts connections.
	KillGateway(ctx context.Context, info *Info, site string) error
	StartGateway(ctx context.Context, info *Info, rec Recorder, site string) error
}
