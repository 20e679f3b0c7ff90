package replica

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadGrants reads a testdata file in the mysql client's --batch --raw
// format: the column name ("Grants for user@host"), then one line each.
func loadGrants(t *testing.T, name string) (account string, lines []string) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	require.True(t, strings.HasPrefix(all[0], "Grants for "), name)
	return strings.TrimPrefix(all[0], "Grants for "), all[1:]
}

func parseFile(t *testing.T, f Flavor, version, name string) *Grants {
	t.Helper()
	_, lines := loadGrants(t, name)
	g, err := ParseGrants(f, version, lines)
	require.NoError(t, err, name)
	return g
}

type can struct {
	priv, db, table string
	want            bool
}

func checkHas(t *testing.T, g *Grants, cases []can) {
	t.Helper()
	for _, c := range cases {
		assert.Equal(t, c.want, g.Has(c.priv, c.db, c.table), "%s on %s.%s", c.priv, c.db, c.table)
	}
}

func TestGrantsMariaDB(t *testing.T) {
	const v = "10.11.19-MariaDB-0+deb12u1-log"
	t.Run("root: ALL PRIVILEGES, a role, PROXY", func(t *testing.T) {
		g := parseFile(t, MariaDB, v, "grants_mariadb_root.txt")
		assert.Equal(t, []string{"dr_role"}, g.Roles)
		require.Len(t, g.Grants, 1, "PROXY is skipped")
		assert.Equal(t, Grant{Privileges: []string{PrivAll}, DB: "*", Table: "*", GrantOption: true}, g.Grants[0])
		checkHas(t, g, []can{
			{PrivReplicaMonitor, "", "", true}, {"SLAVE MONITOR", "", "", true},
			{PrivReplicationSlaveAdmin, "", "", true}, {PrivBinlogMonitor, "", "", true},
			{"INSERT", "drdrill", "ping", true}, {"CREATE", "drdrill", "", true},
			{"PROXY", "", "", false},
		})
	})
	t.Run("drdrill: the recommended grants, captured", func(t *testing.T) {
		g := parseFile(t, MariaDB, v, "grants_mariadb_drdrill.txt")
		assert.Equal(t, []string{"dr_role"}, g.Roles, "roles are noted, SET DEFAULT ROLE skipped")
		assert.Equal(t, []string{PrivBinlogMonitor, PrivReplicationSlaveAdmin, PrivReplicaMonitor}, g.Grants[0].Privileges,
			"SLAVE MONITOR is REPLICA MONITOR")
		assert.Equal(t, "`testdb`.`ping`", g.Grants[3].Level())
		assert.Equal(t, []string{"SELECT (msg, id)"}, g.Grants[3].Columns)
		checkHas(t, g, []can{
			{PrivReplicaMonitor, "", "", true}, {PrivReplicationSlaveAdmin, "", "", true}, {PrivBinlogMonitor, "", "", true},
			{"REPLICATION CLIENT", "", "", true}, // its other name
			{PrivReplicaMonitor, "drdrill", "ping", true},
			{"SELECT", "drdrill", "ping", true}, {"INSERT", "drdrill", "anything", true}, {"CREATE", "drdrill", "", true},
			{"DELETE", "drdrill", "ping", false}, {"SELECT", "other", "ping", false},
			{"SELECT", "testdb", "ping", true}, {"INSERT", "testdb", "ping", false}, {"SELECT", "testdb", "other", false},
			{"SELECT", "testdb", "", false}, // a table grant is not a database grant
			// `test\_%`: a pattern whose underscore is escaped
			{"INSERT", "test_1", "t", true}, {"INSERT", "testX1", "t", false}, {"INSERT", "test_", "t", true},
			{"SUPER", "", "", false},
		})
	})
	t.Run("SUPER covers the replication privileges (measured on 10.11.19)", func(t *testing.T) {
		g := parseFile(t, MariaDB, v, "grants_mariadb_super.txt")
		checkHas(t, g, []can{
			{PrivReplicaMonitor, "", "", true}, {PrivReplicationSlaveAdmin, "", "", true}, {PrivBinlogMonitor, "", "", true},
			{"SELECT", "drdrill", "ping", false},
		})
	})
	t.Run("REPLICATION CLIENT is BINLOG MONITOR, not REPLICA MONITOR", func(t *testing.T) {
		g := parseFile(t, MariaDB, v, "grants_mariadb_client.txt")
		assert.True(t, g.Grants[0].GrantOption)
		checkHas(t, g, []can{{PrivBinlogMonitor, "", "", true}, {PrivReplicaMonitor, "", "", true}, {PrivReplicationSlaveAdmin, "", "", false}})
		only, err := ParseGrants(MariaDB, v, []string{"GRANT REPLICATION CLIENT ON *.* TO `rc`@`localhost`"})
		require.NoError(t, err)
		checkHas(t, only, []can{{PrivBinlogMonitor, "", "", true}, {PrivReplicaMonitor, "", "", false}})
	})
	t.Run("REPLICATION SLAVE ADMIN alone: no SHOW REPLICA STATUS from 10.5.9", func(t *testing.T) {
		g := parseFile(t, MariaDB, v, "grants_mariadb_slave_admin.txt")
		checkHas(t, g, []can{{PrivReplicationSlaveAdmin, "", "", true}, {PrivReplicaMonitor, "", "", false}})
		old := parseFile(t, MariaDB, "10.5.8-MariaDB", "grants_mariadb_slave_admin.txt")
		checkHas(t, old, []can{{PrivReplicaMonitor, "", "", true}})
	})
	t.Run("before 10.5.2 REPLICATION CLIENT allowed SHOW SLAVE STATUS", func(t *testing.T) {
		g, err := ParseGrants(MariaDB, "10.4.32-MariaDB", []string{"GRANT REPLICATION CLIENT ON *.* TO 'u'@'%'"})
		require.NoError(t, err)
		checkHas(t, g, []can{{PrivReplicaMonitor, "", "", true}, {PrivReplicationSlaveAdmin, "", "", false}})
	})
	t.Run("quoted names", func(t *testing.T) {
		g := parseFile(t, MariaDB, v, "grants_mariadb_quoted.txt")
		checkHas(t, g, []can{{"INSERT", "we`ird", "t", true}, {"INSERT", "weird", "t", false}, {PrivReplicaMonitor, "", "", false}})
		assert.Equal(t, "ALL PRIVILEGES ON `we``ird`.*", g.Grants[1].String())
	})
	t.Run("USAGE only", func(t *testing.T) {
		g := parseFile(t, MariaDB, v, "grants_mariadb_usage.txt")
		checkHas(t, g, []can{{PrivReplicaMonitor, "", "", false}, {"SELECT", "drdrill", "ping", false}})
	})
}

func TestGrantsMySQL(t *testing.T) {
	for _, tc := range []struct{ file, version string }{
		{"grants_mysql80_root.txt", "8.0.36"}, {"grants_mysql84_root.txt", "8.4.3"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			g := parseFile(t, MySQL, tc.version, tc.file)
			require.Len(t, g.Grants, 2, "static and dynamic privileges; PROXY skipped")
			assert.Contains(t, g.Grants[1].Privileges, PrivReplicationSlaveAdminDyn)
			checkHas(t, g, []can{
				{PrivReplicationClient, "", "", true}, {PrivReplicationSlaveAdminDyn, "", "", true},
				{"SELECT", "performance_schema", "replication_connection_configuration", true},
				{"INSERT", "drdrill", "ping", true}, {"CREATE", "drdrill", "", true},
				{"GROUP_REPLICATION_ADMIN", "", "", true}, {"NO_SUCH_ADMIN", "", "", false},
			})
		})
	}
	t.Run("drdrill: the recommended grants", func(t *testing.T) {
		g := parseFile(t, MySQL, "8.0.36", "grants_mysql80_drdrill.txt")
		checkHas(t, g, []can{
			{PrivReplicationClient, "", "", true}, {PrivReplicationSlaveAdminDyn, "", "", true},
			{"SELECT", "performance_schema", "replication_connection_configuration", true},
			{"SELECT", "performance_schema", "threads", false},
			{"INSERT", "drdrill", "ping", true}, {"CREATE", "drdrill", "", true}, {"SUPER", "", "", false},
		})
	})
	t.Run("monitor only (8.4)", func(t *testing.T) {
		g := parseFile(t, MySQL, "8.4.3", "grants_mysql84_monitor.txt")
		checkHas(t, g, []can{
			{PrivReplicationClient, "", "", true}, {PrivReplicationSlaveAdminDyn, "", "", false},
			{"INSERT", "drdrill", "ping", true}, {"CREATE", "drdrill", "ping", false}, {"CREATE", "drdrill", "", false},
		})
	})
	t.Run("SUPER covers REPLICATION CLIENT and REPLICATION_SLAVE_ADMIN", func(t *testing.T) {
		g := parseFile(t, MySQL, "8.0.36", "grants_mysql80_super.txt")
		checkHas(t, g, []can{
			{PrivReplicationClient, "", "", true}, {PrivReplicationSlaveAdminDyn, "", "", true},
			{"BINLOG_ADMIN", "", "", false}, {"INSERT", "drdrill", "ping", true},
		})
	})
	t.Run("roles are noted, not expanded", func(t *testing.T) {
		g := parseFile(t, MySQL, "8.0.36", "grants_mysql80_roles.txt")
		assert.Equal(t, []string{"r1@%", "r2@%"}, g.Roles)
		checkHas(t, g, []can{{PrivReplicationClient, "", "", false}, {"SELECT", "db1", "t", false}})
	})
	t.Run("partial revokes", func(t *testing.T) {
		g := parseFile(t, MySQL, "8.0.36", "grants_mysql80_partial_revoke.txt")
		g.LiteralDBNames = true
		require.Len(t, g.Revokes, 1)
		checkHas(t, g, []can{
			{"INSERT", "other", "t", true}, {"INSERT", "drdrill", "ping", false},
			{"SELECT", "drdrill", "ping", true}, {"UPDATE", "drdrill", "ping", false}, {"DELETE", "drdrill", "ping", true},
		})
	})
	t.Run("column and routine grants do not count; patterns", func(t *testing.T) {
		g := parseFile(t, MySQL, "8.0.36", "grants_mysql80_columns.txt")
		assert.Equal(t, []string{"SELECT (id)", "INSERT (id, msg)"}, g.Grants[1].Columns)
		assert.Empty(t, g.Grants[1].Privileges)
		assert.Len(t, g.Grants, 3, "EXECUTE ON PROCEDURE is skipped")
		checkHas(t, g, []can{
			{"SELECT", "drdrill", "ping", false}, {"INSERT", "drdrill", "ping", false},
			{"CREATE", "drill_x", "", true}, {"CREATE", "drillXx", "", false},
		})
		g.LiteralDBNames = true // partial_revokes ON: the name is literal
		checkHas(t, g, []can{{"CREATE", "drill_x", "", false}, {"CREATE", `drill\_%`, "", true}})
	})
	t.Run("5.7: single quotes", func(t *testing.T) {
		g := parseFile(t, MySQLLegacy, "5.7.44-log", "grants_mysql57_root.txt")
		checkHas(t, g, []can{{PrivReplicationClient, "", "", true}, {PrivSuper, "", "", true}, {"SELECT", "d", "t", true}})
	})
}

// The password hash MariaDB prints after IDENTIFIED BY PASSWORD is never
// kept or quoted, not even in an error.
func TestGrantsKeepNoSecret(t *testing.T) {
	const hash = "*6F5D264DA31138FC4C58A97A4CE98F23CC5C4B8A"
	g := parseFile(t, MariaDB, "", "grants_mariadb_drdrill.txt")
	b, err := json.Marshal(g)
	require.NoError(t, err)
	assert.NotContains(t, string(b), strings.TrimPrefix(hash, "*"))

	_, err = ParseGrants(MariaDB, "", []string{
		"GRANT SELECT, ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '" + hash + "'",
	})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), strings.TrimPrefix(hash, "*"))
	var ge *GrantsError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 1, ge.Line)
}

func TestGrantsMalformed(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"REVOKE ALL", "no FROM clause"},
		{"GRANT SELECT ON *.* `u`@`%`", "no TO clause"},
		{"GRANT SELECT ON `unterminated.* TO u", "unterminated quote"},
		{"GRANT ON *.* TO u", "no privileges"},
		{"GRANT SELECT ON a.b.c TO u", "privilege level"},
		{"GRANT SELECT ON *.t TO u", "privilege level"},
		{"GRANT SELECT (a ON *.* TO u", "no TO clause"},
		{"SELECT 1", "not a GRANT"},
		{"GRANT 'x' ON *.* TO u", "a string"},
		{"GRANT SELECT ON *.* TO u ~", "unexpected character"},
	} {
		_, err := ParseGrants(MySQL, "8.0.36", []string{"GRANT USAGE ON *.* TO `u`@`%`", tc.line})
		require.Error(t, err, tc.line)
		assert.Contains(t, err.Error(), tc.want, tc.line)
		assert.Contains(t, err.Error(), "line 2", tc.line)
	}
	_, err := ParseGrants(Flavor("x"), "", nil)
	assert.Error(t, err)
	_, err = ParseGrants(MySQL, "eight", nil)
	assert.Error(t, err)
}

func TestConnGrants(t *testing.T) {
	ctx := context.Background()
	t.Run("mariadb", func(t *testing.T) {
		account, lines := loadGrants(t, "grants_mariadb_drdrill.txt")
		c, s := newFakeConn(t, "10.11.19-MariaDB-0+deb12u1-log", func(q string, _ []driver.NamedValue) fakesql.Result {
			if q == "SHOW GRANTS FOR CURRENT_USER()" {
				r := fakesql.Result{Cols: []string{"Grants for " + account}}
				for _, l := range lines {
					r.Rows = append(r.Rows, []any{l})
				}
				return r
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		g, err := c.Grants(ctx)
		require.NoError(t, err)
		assert.Equal(t, "drdrill@%", g.Account)
		assert.True(t, g.Has(PrivReplicaMonitor, "", ""))
		assert.Len(t, s.Statements(), 2, "MariaDB has no partial_revokes to read")
	})
	t.Run("mysql with partial_revokes", func(t *testing.T) {
		_, lines := loadGrants(t, "grants_mysql80_partial_revoke.txt")
		for _, pr := range []struct {
			val     any
			literal bool
		}{{"1", true}, {"0", false}, {nil, false}} {
			c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result {
				switch q {
				case "SHOW GRANTS FOR CURRENT_USER()":
					r := fakesql.Result{Cols: []string{"Grants for u1@%"}}
					for _, l := range lines {
						r.Rows = append(r.Rows, []any{l})
					}
					return r
				case "SELECT @@GLOBAL.partial_revokes":
					if pr.val == nil {
						return fakesql.Result{Err: &mysql.MySQLError{Number: 1193, Message: "Unknown system variable 'partial_revokes'"}}
					}
					return fakesql.One("v", pr.val)
				}
				return fakesql.Result{Err: errors.New("unexpected " + q)}
			})
			g, err := c.Grants(ctx)
			require.NoError(t, err)
			assert.Equal(t, pr.literal, g.LiteralDBNames)
		}
	})
	t.Run("denied", func(t *testing.T) {
		c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result {
			return fakesql.Result{Err: &mysql.MySQLError{Number: 1142, Message: "SELECT command denied"}}
		})
		_, err := c.Grants(ctx)
		require.Error(t, err)
		assert.True(t, IsAccessDenied(err))
	})
}
