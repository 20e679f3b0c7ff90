package preflight

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

// mysqlTarget is a MySQL 8 primary and replica answered from captured
// formats, behind gateways that cannot be reached. primaryVars and
// replicaGrants vary per test.
func mysqlTarget(t *testing.T, primaryVars map[string]string, replicaGrants string) (*fakeTarget, *fakesql.Server, *fakesql.Server) {
	t.Helper()
	table := func(q string, args []driver.NamedValue) (fakesql.Result, bool) {
		if strings.Contains(q, "information_schema.SCHEMATA") {
			return fakesql.Result{Cols: []string{"n", "cols"}, Rows: [][]any{{"1", "id,msg,created_at,drill_id,seq,phase,writer"}}}, true
		}
		return fakesql.Result{}, false
	}
	primary, ps := fakeDB(t, "8.4.3", func(q string, args []driver.NamedValue) fakesql.Result {
		if r, ok := table(q, args); ok {
			return r
		}
		switch {
		case strings.HasPrefix(q, "SHOW GLOBAL VARIABLES"):
			return fakesql.Vars(primaryVars)
		case q == "SHOW GRANTS FOR CURRENT_USER()":
			return grantsResult(t, "grants_mysql84_root.txt")
		case q == "SELECT @@GLOBAL.partial_revokes":
			return fakesql.One("v", "0")
		case q == "SHOW BINARY LOGS":
			return fakesql.Result{Cols: []string{"Log_name", "File_size", "Encrypted"}, Rows: [][]any{{"binlog.000002", "157", "No"}}}
		case q == "SELECT @@GLOBAL.gtid_purged":
			return fakesql.One("v", primaryVars["gtid_purged"])
		case strings.HasPrefix(q, "SHOW SESSION STATUS"): // reached over TCP with TLS
			return fakesql.Result{Cols: []string{"Variable_name", "Value"}, Rows: [][]any{{"Ssl_cipher", "TLS_AES_256_GCM_SHA384"}, {"Ssl_version", "TLSv1.3"}}}
		}
		return fakesql.Result{}
	})
	rep, rs := fakeDB(t, "8.4.3", func(q string, args []driver.NamedValue) fakesql.Result {
		if r, ok := table(q, args); ok {
			return r
		}
		switch {
		case strings.HasPrefix(q, "SHOW GLOBAL VARIABLES"):
			return fakesql.Vars(varsFile(t, "vars_mysql80_replica.txt"))
		case q == "SHOW GRANTS FOR CURRENT_USER()":
			return grantsResult(t, replicaGrants)
		case q == "SELECT @@GLOBAL.partial_revokes":
			return fakesql.One("v", "0")
		case q == "SHOW REPLICA STATUS":
			return statusResult(t, "mysql8_yes.txt")
		case q == "SELECT @@GLOBAL.replica_net_timeout":
			return fakesql.One("v", "30")
		case strings.HasPrefix(q, "SHOW SESSION STATUS"): // a unix socket: no TLS
			return fakesql.Result{Cols: []string{"Variable_name", "Value"}, Rows: [][]any{{"Ssl_cipher", ""}, {"Ssl_version", ""}}}
		case strings.Contains(q, "performance_schema.replication_connection_configuration"):
			return fakesql.Result{Cols: []string{"a", "b", "c"}, Rows: [][]any{{"10", "86400", "15.000"}}}
		}
		return fakesql.Result{}
	})
	ft := &fakeTarget{
		sites: []*target.Site{
			{Name: "aws", Role: target.RolePrimary, Gateway: deadGateway("aws"), Tunnel: tunnel.Expectation{Connection: "onprem-aws"}, DB: primary},
			{Name: "onprem", Role: target.RoleReplica, Gateway: deadGateway("onprem"), Tunnel: tunnel.Expectation{Connection: "onprem-aws"}, DB: rep},
		},
		ike: func(context.Context) (tunnel.IKETimings, error) {
			return tunnel.IKETimings{}, errors.New("read aws's IKE timings: dial: connection refused")
		},
	}
	return ft, ps, rs
}

var (
	plainDrill = harness.Scenario{Name: "vpn-outage"}
	execDrill  = harness.Scenario{Name: "wan-blackhole", Needs: []target.Capability{target.CapExec}}
	stuck      = harness.Scenario{Name: stuckDrill}
	siteLoss   = harness.Scenario{Name: "site-loss"}
)

// A MySQL 8 target as preflight sees it: privileges by MySQL's names, the
// replica's applied set against the primary's gtid_purged, binlog
// retention, unreachable gateways named.
func TestCheckMySQL8(t *testing.T) {
	pv := varsFile(t, "vars_mysql84_primary.txt") // binlog_expire_logs_seconds=3600
	pv["gtid_purged"] = uuidA + ":1-3"            // the replica has applied 1-23: it can resume
	ft, ps, rs := mysqlTarget(t, pv, "grants_mysql84_monitor.txt")
	o := Options{MaxFault: 30 * time.Minute, Scenarios: []harness.Scenario{plainDrill, execDrill, stuck, siteLoss}, Workload: Workload{Database: "drdrill", Table: "ping"}}
	r := Check(context.Background(), ft, o)
	t.Log("\n" + printed(r))

	probs := strings.Join(r.Problems(), "\n")
	require.False(t, r.OK())
	assert.Contains(t, probs, "aws gateway (ssh://gw-aws/var/run/charon.vici): unreachable: connect to aws gateway at ssh://gw-aws/var/run/charon.vici: dial: connection refused")
	assert.Contains(t, probs, "onprem gateway (ssh://gw-onprem/var/run/charon.vici): unreachable")
	assert.Contains(t, probs, "IKE timings: read aws's IKE timings: dial: connection refused")
	assert.Len(t, r.Problems(), 3, "the databases are healthy: %s", probs)

	require.NotNil(t, r.Timings.Replica)
	assert.Equal(t, ReplicaTimings{NetTimeoutMS: 30000, ConnectRetryMS: 10000, HeartbeatMS: 15000, RetryCount: 86400, GiveUpAfterMS: 864000000}, *r.Timings.Replica)
	assert.Nil(t, r.Timings.IKE)
	assert.Zero(t, r.Windows.DPDMS, "no window from timings that could not be read")
	require.NotNil(t, r.Replication.CanResume)
	assert.True(t, *r.Replication.CanResume)
	require.NotNil(t, r.Replication.CaughtUp)
	assert.True(t, *r.Replication.CaughtUp)

	have := map[string]bool{}
	for _, p := range r.Privileges {
		have[p.Site+" "+p.Privilege+" "+p.On] = p.Have
	}
	assert.Equal(t, map[string]bool{
		"onprem REPLICATION CLIENT *.*":                                             true,
		"onprem REPLICATION_SLAVE_ADMIN *.*":                                        false,
		"aws REPLICATION CLIENT *.*":                                                true,
		"onprem SELECT `performance_schema`.`replication_connection_configuration`": false,
		"aws SELECT `drdrill`.`ping`":                                               true,
		"aws INSERT `drdrill`.`ping`":                                               true,
		"onprem SELECT `drdrill`.`ping`":                                            true,
	}, have)
	drills := map[string]Drill{}
	for _, d := range r.Drills {
		drills[d.Name] = d
	}
	assert.True(t, drills["vpn-outage"].Runnable)
	assert.Equal(t, []target.Capability{target.CapExec}, drills["wan-blackhole"].MissingCapabilities)
	assert.Equal(t, []string{"REPLICATION_SLAVE_ADMIN on *.* at onprem"}, drills[stuckDrill].MissingPrivileges)
	assert.Equal(t, "TLSv1.3 TLS_AES_256_GCM_SHA384", r.Sites[0].DB.TLS)
	assert.Empty(t, r.Sites[1].DB.TLS)
	assert.Contains(t, printed(r), "root@localhost over TLSv1.3 TLS_AES_256_GCM_SHA384")
	assert.Equal(t, []string{"aws db is mysql: " + siteLossBlocked, "onprem db is mysql: " + siteLossBlocked}, drills["site-loss"].Blocked)
	assert.Contains(t, strings.Join(r.Warnings(), "\n"), "onprem db: drmon@10.% lacks SELECT on `performance_schema`.`replication_connection_configuration`")

	for _, srv := range []*fakesql.Server{ps, rs} {
		for _, q := range srv.Statements() {
			u := strings.ToUpper(q)
			assert.True(t, strings.HasPrefix(u, "SELECT ") || strings.HasPrefix(u, "SHOW "), "not a read: %s", q)
		}
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"ok":false`)
	assert.Contains(t, string(b), `"gtid_executed":"`+uuidA+`:1-23,5a9c2e1f-8b0d-11ee-9f4e-0242ac140002:1-5"`)
}

// The MySQL 8 ways a target can never catch up or is misconfigured.
func TestCheckMySQL8Problems(t *testing.T) {
	pv := varsFile(t, "vars_mysql84_primary.txt")
	pv["gtid_purged"] = uuidA + ":1-30" // purged beyond the replica's 1-23
	pv["read_only"], pv["super_read_only"] = "ON", "ON"
	pv["server_id"] = "7" // the replica's row says Source_Server_Id 1
	ft, _, _ := mysqlTarget(t, pv, "grants_mysql80_roles.txt")
	r := Check(context.Background(), ft, Options{MaxFault: 2 * time.Hour, Scenarios: []harness.Scenario{plainDrill}})
	probs := strings.Join(r.Problems(), "\n")
	t.Log("\n" + probs)
	for _, want := range []string{
		"aws db: the primary is read_only",
		"aws db: binary logs are purged after 1h0m0s (binlog_expire_logs_seconds=3600), not longer than max_fault 2h0m0s: an outage longer than the retention can never catch up (error 1236)",
		"onprem db: the primary's binary logs begin after the replica's position (" + uuidA + ":1-30, replica at " + uuidA + ":1-23,",
		"onprem db: u1@localhost lacks REPLICATION CLIENT on *.*, which every drill needs",
		"onprem db: the replica replicates from server_id 1, but the primary at aws is server_id 7: it is not this primary's replica",
	} {
		assert.Contains(t, probs, want)
	}
	assert.Contains(t, strings.Join(r.Warnings(), "\n"), "u1@localhost has roles (r1@%, r2@%): privileges they give are not counted")
	assert.False(t, r.Drills[0].Runnable)

	pv = varsFile(t, "vars_mysql84_no_auto_purge.txt") // log_bin OFF, gtid_mode OFF
	ft, _, _ = mysqlTarget(t, pv, "grants_mysql80_drdrill.txt")
	probs = strings.Join(Check(context.Background(), ft, Options{}).Problems(), "\n")
	assert.Contains(t, probs, "aws db: binary logging is off (log_bin=OFF)")
	assert.Contains(t, probs, "aws db: gtid_mode=OFF")
}

// A target missing a site's database or gateway is named, not a panic;
// the secrets of the target never reach the report.
func TestCheckIncompleteTarget(t *testing.T) {
	ft := &fakeTarget{
		sites:   []*target.Site{{Name: "aws", Role: target.RolePrimary, Gateway: deadGateway("aws"), Tunnel: tunnel.Expectation{Connection: "c"}}},
		ike:     func(context.Context) (tunnel.IKETimings, error) { return tunnel.IKETimings{}, errors.New("not called") },
		secrets: []string{"refused"},
	}
	r := Check(context.Background(), ft, Options{Scenarios: []harness.Scenario{plainDrill}})
	require.False(t, r.OK())
	probs := strings.Join(r.Problems(), "\n")
	assert.Contains(t, probs, "target fake: want two sites, one primary and one replica")
	assert.NotContains(t, probs, "refused")
	assert.Contains(t, probs, "[REDACTED]")
	assert.NotContains(t, printed(r), "refused")
}
