package preflight

import (
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGrantStatements(t *testing.T) {
	w := Workload{Database: "drdrill", Table: "ping"}
	assert.Equal(t, []string{
		"GRANT REPLICA MONITOR, REPLICATION SLAVE ADMIN, BINLOG MONITOR ON *.* TO `drdrill`@`%`;",
		"GRANT SELECT, INSERT, CREATE ON `drdrill`.* TO `drdrill`@`%`;",
		"-- only for site-loss and site-loss-rate-limited, on both servers: GRANT ALL PRIVILEGES ON *.* TO `drdrill`@`%` WITH GRANT OPTION;",
	}, GrantStatements(replica.MariaDB, "drdrill", w))
	assert.Equal(t, []string{
		"GRANT REPLICATION CLIENT, REPLICATION_SLAVE_ADMIN ON *.* TO `drdrill`@`10.%`;",
		"GRANT SELECT ON `performance_schema`.`replication_connection_configuration` TO `drdrill`@`10.%`;",
		"GRANT SELECT, INSERT, CREATE ON `drdrill`.* TO `drdrill`@`10.%`;",
	}, GrantStatements(replica.MySQL, "drdrill@10.%", w))
	assert.Equal(t, "GRANT REPLICATION CLIENT, SUPER ON *.* TO `dr``ill`@`%`;",
		GrantStatements(replica.MySQLLegacy, "dr`ill", w)[0], "a backtick in a name is doubled")
}

// What GrantStatements prints gives every privilege needs asks for, as the
// grants parser reads it back (SHOW GRANTS prints the same statements).
func TestGrantStatementsSatisfyNeeds(t *testing.T) {
	w := Workload{Database: "drill_db", Table: "ping"}
	for _, f := range []replica.Flavor{replica.MariaDB, replica.MySQL, replica.MySQLLegacy} {
		t.Run(string(f), func(t *testing.T) {
			var lines, admin []string
			for _, s := range GrantStatements(f, "drdrill", w) {
				if c, ok := strings.CutPrefix(s, "-- "); ok {
					_, grant, _ := strings.Cut(c, ": ")
					admin = append(admin, strings.TrimSuffix(grant, ";"))
					continue
				}
				lines = append(lines, strings.TrimSuffix(s, ";"))
			}
			g, err := replica.ParseGrants(f, "", lines)
			require.NoError(t, err)
			ga, err := replica.ParseGrants(f, "", append(lines, admin...))
			require.NoError(t, err)
			for _, create := range []bool{false, true} {
				for _, n := range needs(f, w, create, create) {
					// The least-privilege grants lack only the admin ones;
					// the commented-out grant gives those.
					assert.Equal(t, !n.admin, g.Has(n.priv, n.db, n.table), "%s on %s (%s)", n.priv, n.level(), n.why)
					assert.True(t, ga.Has(n.priv, n.db, n.table), "with the admin grant: %s on %s", n.priv, n.level())
				}
			}
			// and the check can fail: the same need on another database
			assert.False(t, g.Has("INSERT", "other", "ping"))
		})
	}
}

func TestNeeds(t *testing.T) {
	w := Workload{Database: "drdrill", Table: "ping"}
	names := func(ns []need) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.role+" "+n.priv+" "+n.level())
		}
		return out
	}
	maria := names(needs(replica.MariaDB, w, false, false))
	assert.Equal(t, []string{
		"replica REPLICA MONITOR *.*", "replica REPLICATION SLAVE ADMIN *.*", "primary BINLOG MONITOR *.*",
		"primary SELECT `drdrill`.`ping`", "primary INSERT `drdrill`.`ping`", "replica SELECT `drdrill`.`ping`",
		"primary ALL PRIVILEGES *.*", "primary GRANT OPTION *.*", "replica ALL PRIVILEGES *.*", "replica GRANT OPTION *.*",
	}, maria)
	assert.Contains(t, names(needs(replica.MariaDB, w, true, false)), "primary CREATE `drdrill`.`ping`")
	assert.Contains(t, names(needs(replica.MariaDB, w, true, true)), "primary CREATE `drdrill`.*")
	my := names(needs(replica.MySQL, w, false, false))
	assert.Contains(t, my, "replica REPLICATION CLIENT *.*")
	assert.Contains(t, my, "replica REPLICATION_SLAVE_ADMIN *.*")
	assert.Contains(t, my, "replica SELECT `performance_schema`.`replication_connection_configuration`")
	for _, n := range needs(replica.MySQL, w, false, false) {
		if n.priv == replica.PrivReplicationSlaveAdminDyn {
			assert.Equal(t, []string{stuckDrill}, n.drills, "only the stuck drill changes the replica's settings")
		}
	}
}
