package preflight

import (
	"encoding/json"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// Report is what Check found. Durations are in milliseconds in JSON.
type Report struct {
	Target     string    `json:"target"`
	CheckedAt  time.Time `json:"checked_at"`
	DurationMS int64     `json:"duration_ms"`
	MaxFaultMS int64     `json:"max_fault_ms"`
	Sites      []*Site   `json:"sites"`
	Timings    Timings   `json:"timings"`
	Windows    Windows   `json:"windows"`
	// Replication compares the replica with the primary.
	Replication Replication   `json:"replication"`
	Workload    WorkloadState `json:"workload"`
	Privileges  []Privilege   `json:"privileges"`
	Drills      []Drill       `json:"drills"`

	problems, warnings []string
}

// Site is one side of the VPN: its gateway and its database.
type Site struct {
	Name    string  `json:"name"`
	Role    string  `json:"role"`
	Gateway Gateway `json:"gateway"`
	DB      DB      `json:"db"`
}

// Gateway is the tunnel as this gateway sees it.
type Gateway struct {
	Endpoint   string        `json:"endpoint"`
	Connection string        `json:"connection"`
	Daemon     string        `json:"daemon,omitempty"` // "charon 5.9.13"
	Tunnel     *tunnel.State `json:"tunnel,omitempty"`
	Summary    string        `json:"summary,omitempty"` // the seed's words: "ESTABLISHED/INSTALLED …, 1 up"
	Healthy    bool          `json:"healthy"`
	Unhealthy  string        `json:"unhealthy,omitempty"` // what is wrong with the tunnel
	Error      string        `json:"error,omitempty"`     // the gateway could not be read
}

// DB is a site's database as the drill's account sees it.
type DB struct {
	Version string `json:"version,omitempty"`
	Flavor  string `json:"flavor,omitempty"`
	Account string `json:"account,omitempty"` // "drdrill@%"
	// TLS is drdrill's connection's TLS version and cipher ("" : none).
	TLS string `json:"tls,omitempty"`
	// Server: read-only state, binlog retention, GTID positions.
	Server *replica.ServerInfo `json:"server,omitempty"`
	// Replication is the replica's SHOW REPLICA STATUS, normalised.
	Replication *replica.Status `json:"replication,omitempty"`
	// SourceServerID is the server_id the replica last replicated from
	// (0: never connected).
	SourceServerID int64 `json:"source_server_id,omitempty"`
	// OldestBinlog is where the primary's binary logs begin.
	OldestBinlog *replica.OldestBinlog `json:"oldest_binlog,omitempty"`
	Grants       *replica.Grants       `json:"grants,omitempty"`
	// Errors are the reads that failed ("grants: …"); the first one of a
	// database that could not be reached at all is its only one.
	Errors []string `json:"errors,omitempty"`
}

// Timings are the live timings drills derive their windows from.
type Timings struct {
	Replica *ReplicaTimings `json:"replica,omitempty"`
	IKE     *IKETimings     `json:"ike,omitempty"`
}

// ReplicaTimings are the replica's own (replica.Timings).
type ReplicaTimings struct {
	NetTimeoutMS   int64 `json:"net_timeout_ms"`
	ConnectRetryMS int64 `json:"connect_retry_ms"`
	HeartbeatMS    int64 `json:"heartbeat_ms"` // 0: not read
	RetryCount     int64 `json:"retry_count"`  // 0: unknown
	// GiveUpAfterMS is when the IO thread stops retrying (0: unknown).
	GiveUpAfterMS int64 `json:"give_up_after_ms"`
}

// IKETimings are the gateways' (tunnel.IKETimings).
type IKETimings struct {
	Sites map[string]IKESite `json:"sites"`
	// The slowest site's retransmission of IKE requests.
	RetransmitTimeoutMS int64   `json:"retransmit_timeout_ms"`
	RetransmitBase      float64 `json:"retransmit_base"`
	RetransmitTries     int     `json:"retransmit_tries"`
	RetransmitSeqMS     int64   `json:"retransmit_sequence_ms"`
	Source              string  `json:"source"`
}

// IKESite is one gateway's DPD.
type IKESite struct {
	DPDDelayMS  int64  `json:"dpd_delay_ms"`
	DPDAction   string `json:"dpd_action"`
	StartAction string `json:"start_action,omitempty"`
	Keyingtries int    `json:"keyingtries,omitempty"`
}

// Windows are the bounds drills wait within, derived from Timings (0: not
// derivable, the timings could not be read).
type Windows struct {
	OutageDetectMS   int64 `json:"outage_detect_ms"`   // replica.Timings.OutageDetectWindow
	ReconnectMS      int64 `json:"reconnect_ms"`       // replica.Timings.ReconnectWindow
	OutageEvidenceMS int64 `json:"outage_evidence_ms"` // scenarios.OutageEvidenceWindow: how long a fault may be held
	DPDMS            int64 `json:"dpd_ms"`             // tunnel.IKETimings.DPDWindow
	HealMS           int64 `json:"heal_ms"`            // tunnel.IKETimings.HealWindow
}

// Replication compares the replica's positions with the primary's.
type Replication struct {
	// CaughtUp: the replica has applied everything the primary had
	// written when it was read (nil: not compared).
	CaughtUp *bool `json:"caught_up,omitempty"`
	// CanResume: every event after the replica's position is still in
	// the primary's binary logs (nil: not known).
	CanResume *bool `json:"can_resume,omitempty"`
}

// WorkloadState is drdrill's own table on the primary (and the replica).
type WorkloadState struct {
	Workload
	DatabaseExists bool `json:"database_exists"`
	Exists         bool `json:"exists"`
	// MissingColumns are drill tag columns an existing table lacks: it is
	// not drdrill's and is never altered.
	MissingColumns []string `json:"missing_columns,omitempty"`
	// OnReplica: the replica has the table too (nil: not read).
	OnReplica *bool  `json:"on_replica,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Privilege is one privilege a site's account needs, and whether it has it.
type Privilege struct {
	Site      string `json:"site"`
	Role      string `json:"role"`
	Privilege string `json:"privilege"`
	On        string `json:"on"` // *.*, `db`.*, `db`.`table`
	Why       string `json:"why"`
	// Drills that need it; empty: every drill.
	Drills []string `json:"drills,omitempty"`
	// Optional: nothing fails without it, but preflight (or a drill's
	// windows) sees less.
	Optional bool `json:"optional,omitempty"`
	Have     bool `json:"have"`
	// Unknown: the grants could not be read.
	Unknown bool `json:"unknown,omitempty"`
}

// Drill is one drill's readiness on this target.
type Drill struct {
	Name     string `json:"name"`
	Runnable bool   `json:"runnable"`
	// MissingCapabilities the target lacks (target.Missing of its Needs).
	MissingCapabilities []target.Capability `json:"missing_capabilities,omitempty"`
	// MissingPrivileges: "REPLICATION SLAVE ADMIN on *.* at onprem".
	MissingPrivileges []string `json:"missing_privileges,omitempty"`
	// Blocked: other reasons (max_fault shorter than a window it needs).
	Blocked []string `json:"blocked,omitempty"`
}

// OK is true only when every gateway and database was reached and is
// healthy: no problem was found.
func (r *Report) OK() bool { return len(r.problems) == 0 }

// Problems are what is unreachable or unhealthy, one line each, naming the
// site and what was seen.
func (r *Report) Problems() []string { return append([]string(nil), r.problems...) }

// Warnings are worth knowing but do not make the target unhealthy (a
// privilege only preflight uses, a table drills will create).
func (r *Report) Warnings() []string { return append([]string(nil), r.warnings...) }

// MarshalJSON adds ok, problems and warnings (arrays are [], never null).
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return json.Marshal(struct {
		OK bool `json:"ok"`
		*plain
		Problems []string `json:"problems"`
		Warnings []string `json:"warnings"`
	}{r.OK(), (*plain)(r), nonNil(r.problems), nonNil(r.warnings)})
}
