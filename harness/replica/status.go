package replica

import "time"

// Flavor is the server family behind a connection; names of columns,
// statements and functions differ between them.
type Flavor string

const (
	MariaDB     Flavor = "mariadb"      // Slave_*/*_Master columns, MASTER_GTID_WAIT, gtid_binlog_pos
	MySQL       Flavor = "mysql"        // MySQL >= 8.0.22: Replica_*/*_Source, WAIT_FOR_EXECUTED_GTID_SET
	MySQLLegacy Flavor = "mysql-legacy" // MySQL < 8.0.22: Slave_* names, SHOW SLAVE STATUS
)

// IOState is the replica IO thread as SHOW REPLICA STATUS reports it.
type IOState string

const (
	IOYes        IOState = "Yes"
	IONo         IOState = "No"
	IOConnecting IOState = "Connecting"
	// IOPreparing: MariaDB (10.6+) shows it for a moment while the IO thread
	// starts, before Connecting or Yes.
	IOPreparing IOState = "Preparing"
	IONone      IOState = "" // replication is not configured at all
)

// Status is one normalised SHOW REPLICA STATUS (or SHOW SLAVE STATUS) row.
type Status struct {
	Configured    bool    `json:"configured"` // false when the server returned no row
	IO            IOState `json:"io_running"`
	SQLRunning    bool    `json:"sql_running"`
	SecondsBehind *int64  `json:"seconds_behind"` // nil is SQL NULL: the lag is unknown
	LastIOErrno   int     `json:"last_io_errno"`
	LastIOError   string  `json:"last_io_error,omitempty"`
	LastSQLErrno  int     `json:"last_sql_errno"`
	LastSQLError  string  `json:"last_sql_error,omitempty"`
	SourceHost    string  `json:"source_host"`
	SourcePort    int     `json:"source_port"`
	ConnectRetry  int     `json:"connect_retry"`
	// GTID positions: MariaDB's Gtid_IO_Pos, MySQL's Retrieved_Gtid_Set and
	// Executed_Gtid_Set. Empty when the flavor does not report them.
	RetrievedGTID string `json:"retrieved_gtid,omitempty"`
	ExecutedGTID  string `json:"executed_gtid,omitempty"`
	// ObservedAt is when the row was read (monotonic clock reading).
	ObservedAt time.Time `json:"-"`
}

// Timings are the replica settings that decide how fast an outage is noticed
// and how fast replication comes back; drills derive their windows from them.
type Timings struct {
	NetTimeout   time.Duration `json:"net_timeout"`   // slave_net_timeout / replica_net_timeout
	ConnectRetry time.Duration `json:"connect_retry"` // MASTER_CONNECT_RETRY / SOURCE_CONNECT_RETRY
	Heartbeat    time.Duration `json:"heartbeat"`     // MASTER_HEARTBEAT_PERIOD / SOURCE_HEARTBEAT_PERIOD
	RetryCount   int64         `json:"retry_count"`   // master_retry_count / SOURCE_RETRY_COUNT (0 = unknown)
}
