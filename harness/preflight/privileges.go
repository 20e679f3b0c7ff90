package preflight

import (
	"fmt"
	"strings"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
)

// Workload names drdrill's own table: the rows drills write on the primary
// and read back on the replica.
type Workload struct {
	Database string `json:"database"`
	Table    string `json:"table"`
}

// String is "db.table".
func (w Workload) String() string { return w.Database + "." + w.Table }

// need is one privilege one site's account needs.
type need struct {
	role      string // target.RolePrimary or RoleReplica
	priv      string // as the flavor names it
	db, table string // "" = global; table "" = database level
	why       string
	// drills that need it; nil: every drill. optional: nothing fails
	// without it (a missing one is a warning).
	drills   []string
	optional bool
	// admin: an administrator's privilege a few drills need; GrantStatements
	// prints it apart (commented out), not in the least-privilege grants.
	admin bool
}

func (n need) level() string {
	switch {
	case n.db == "":
		return "*.*"
	case n.table == "":
		return replica.QuoteIdent(n.db) + ".*"
	}
	return replica.QuoteIdent(n.db) + "." + replica.QuoteIdent(n.table)
}

// stuckDrill changes the replica's connect retry (CHANGE MASTER / CHANGE
// REPLICATION SOURCE) and restarts its threads: the one drill that needs
// the replication admin privilege.
const stuckDrill = "replica-stuck-connecting"

// siteLossBlocked is why the site-loss drills cannot run on a MySQL
// server: they read the lost writes with mariadb-binlog and rebuild with
// mariadb-dump, MariaDB's binary log format and tools.
const siteLossBlocked = "MariaDB only: lost writes are read with mariadb-binlog and the rebuild uses mariadb-dump"

// siteLossDrills promote the replica, rebuild the returned primary from it
// (read_only, RESET MASTER, gtid_slave_pos, CHANGE MASTER, a temporary dump
// account granted what it needs) and switch back: on both sites they need
// an administrator's account.
var siteLossDrills = []string{"site-loss", "site-loss-rate-limited"}

// needs lists what each site's account needs on flavor f. create: the
// workload table is absent and drills would create it (dbToo: its database
// as well).
func needs(f replica.Flavor, w Workload, create, dbToo bool) []need {
	var monitor, admin, binlog string
	switch f {
	case replica.MariaDB:
		monitor, admin, binlog = replica.PrivReplicaMonitor, replica.PrivReplicationSlaveAdmin, replica.PrivBinlogMonitor
	case replica.MySQL:
		monitor, admin, binlog = replica.PrivReplicationClient, replica.PrivReplicationSlaveAdminDyn, replica.PrivReplicationClient
	default: // MySQL before 8.0: no dynamic privileges
		monitor, admin, binlog = replica.PrivReplicationClient, replica.PrivSuper, replica.PrivReplicationClient
	}
	out := []need{
		{role: target.RoleReplica, priv: monitor, why: "SHOW REPLICA STATUS: every drill watches the IO and SQL threads"},
		{role: target.RoleReplica, priv: admin, why: "CHANGE MASTER/REPLICATION SOURCE TO, STOP/START REPLICA", drills: []string{stuckDrill}},
		{role: target.RolePrimary, priv: binlog, why: "SHOW BINARY LOGS: preflight checks the replica's position is still in the primary's binary logs", optional: true},
	}
	if f != replica.MariaDB {
		out = append(out, need{role: target.RoleReplica, priv: "SELECT", db: "performance_schema", table: "replication_connection_configuration",
			why: "the replica's heartbeat: without it drills assume the server default", optional: true})
	}
	out = append(out,
		need{role: target.RolePrimary, priv: "SELECT", db: w.Database, table: w.Table, why: "read back drdrill's own rows"},
		need{role: target.RolePrimary, priv: "INSERT", db: w.Database, table: w.Table, why: "write drdrill's own rows"},
		need{role: target.RoleReplica, priv: "SELECT", db: w.Database, table: w.Table, why: "compare the replica's copy with the ledger"},
	)
	for _, role := range []string{target.RolePrimary, target.RoleReplica} {
		if f != replica.MariaDB {
			break // site-loss is MariaDB only (SiteLossBlocked)
		}
		out = append(out,
			need{role: role, priv: replica.PrivAll, why: "promote, rebuild and re-point replication (read_only, RESET MASTER, CHANGE MASTER, CREATE USER)", drills: siteLossDrills, admin: true},
			need{role: role, priv: "GRANT OPTION", why: "grant the rebuild's temporary dump account", drills: siteLossDrills, admin: true})
	}
	switch {
	case create && dbToo:
		out = append(out, need{role: target.RolePrimary, priv: "CREATE", db: w.Database, why: "create the database and table " + w.String() + " (absent)"})
	case create:
		out = append(out, need{role: target.RolePrimary, priv: "CREATE", db: w.Database, table: w.Table, why: "create the table " + w.String() + " (absent)"})
	}
	return out
}

// GrantStatements are the GRANT statements that give user (a name, or
// name@host; host defaults to %) every privilege drills and preflight need
// on a server of flavor f, with w drdrill's own table. Run them where the
// account lives; on the primary they replicate to the replica. The last
// line is a comment: the administrator's grant only the site-loss drills
// need, for whoever runs them.
func GrantStatements(f replica.Flavor, user string, w Workload) []string {
	name, host, ok := strings.Cut(user, "@")
	if !ok || host == "" {
		host = "%"
	}
	// Backticks: no escapes to depend on sql_mode, as SHOW GRANTS prints it.
	account := replica.QuoteIdent(name) + "@" + replica.QuoteIdent(host)
	var global []string
	seen := map[string]bool{}
	var stmts []string
	for _, n := range needs(f, w, true, true) {
		switch {
		case n.admin:
		case n.db == "" && !seen[n.priv]:
			global = append(global, n.priv)
			seen[n.priv] = true
		case n.db == "performance_schema":
			stmts = append(stmts, fmt.Sprintf("GRANT %s ON %s TO %s;", n.priv, n.level(), account))
		}
	}
	out := []string{fmt.Sprintf("GRANT %s ON *.* TO %s;", strings.Join(global, ", "), account)}
	out = append(out, stmts...)
	// Database level: CREATE there also allows CREATE DATABASE of that name.
	out = append(out, fmt.Sprintf("GRANT SELECT, INSERT, CREATE ON %s.* TO %s;", replica.QuoteIdent(w.Database), account))
	if f != replica.MariaDB {
		return out
	}
	return append(out, fmt.Sprintf("-- only for %s, on both servers: GRANT ALL PRIVILEGES ON *.* TO %s WITH GRANT OPTION;",
		strings.Join(siteLossDrills, " and "), account))
}
