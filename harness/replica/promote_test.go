package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRO is a server's read-only state for the fake driver: SET GLOBAL
// statements change it (with MySQL's coupling of read_only and
// super_read_only unless ignore is set), SELECTs read it.
type fakeRO struct {
	mu              sync.Mutex
	readOnly, super bool
	ignore          bool // the server "forgets" the change: read back differs
	replica         bool // SHOW REPLICA STATUS returns row until RESET
	row             map[string]*string
	statusStmt      string
	changeErr       error // returned by CHANGE … TO
}

func (f *fakeRO) handle(q string, _ []driver.NamedValue) fakesql.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := func(p *bool, v bool) {
		if !f.ignore {
			*p = v
		}
	}
	switch {
	case strings.HasPrefix(q, "SET SESSION lock_wait_timeout = "), q == "SELECT @@SESSION.sql_mode": // the fake answers sql_mode
	case q == "SET GLOBAL read_only = ON":
		set(&f.readOnly, true)
	case q == "SET GLOBAL read_only = OFF":
		set(&f.readOnly, false)
		set(&f.super, false)
	case q == "SET GLOBAL super_read_only = ON":
		set(&f.super, true)
		set(&f.readOnly, true)
	case q == "SET GLOBAL super_read_only = OFF":
		set(&f.super, false)
	case q == "SELECT @@GLOBAL.read_only":
		return fakesql.One("@@GLOBAL.read_only", boolStr(f.readOnly))
	case q == "SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only":
		return fakesql.Result{Cols: []string{"ro", "sro"}, Rows: [][]any{{boolStr(f.readOnly), boolStr(f.super)}}}
	case q == f.statusStmt:
		if !f.replica {
			return rowResult()
		}
		return rowResult(f.row)
	case strings.HasPrefix(q, "RESET "):
		f.replica = false
	case strings.HasPrefix(q, "CHANGE "):
		if f.changeErr != nil {
			return fakesql.Result{Err: f.changeErr}
		}
		f.replica = true
	case q == "SELECT @@GLOBAL.gtid_slave_pos":
		return fakesql.One("p", "0-1-7")
	case strings.HasPrefix(q, "STOP "), strings.HasPrefix(q, "START "), strings.HasPrefix(q, "SET GLOBAL "):
	default:
		return fakesql.Result{Err: errors.New("fake: unexpected " + q)}
	}
	return fakesql.Result{}
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// withoutSetup drops the flavor detection and sql_mode reads.
func withoutSetup(stmts []string) []string {
	var out []string
	for _, s := range stmts {
		if s != "SELECT VERSION(), @@version_comment" && s != "SELECT @@SESSION.sql_mode" {
			out = append(out, s)
		}
	}
	return out
}

func TestSetReadOnly(t *testing.T) {
	for _, tc := range []struct {
		version  string
		on, off  []string
		readBack string
	}{
		{"10.11.19-MariaDB-log", []string{"SET GLOBAL read_only = ON"}, []string{"SET GLOBAL read_only = OFF"}, "SELECT @@GLOBAL.read_only"},
		{"8.0.36", []string{"SET GLOBAL super_read_only = ON"}, []string{"SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"},
			"SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only"},
		{"5.7.44-log", []string{"SET GLOBAL super_read_only = ON"}, []string{"SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"},
			"SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			f := &fakeRO{}
			c, s := newFakeConn(t, tc.version, f.handle)
			ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
			defer cancel()
			require.NoError(t, c.SetReadOnly(ctx, true))
			ro, err := c.ReadOnly(ctx)
			require.NoError(t, err)
			assert.True(t, ro)
			require.NoError(t, c.SetReadOnly(context.Background(), false))
			ro, err = c.ReadOnly(ctx)
			require.NoError(t, err)
			assert.False(t, ro)
			want := append([]string{"SET SESSION lock_wait_timeout = 3"}, tc.on...)
			want = append(want, tc.readBack, tc.readBack)
			want = append(append(want, tc.off...), tc.readBack, tc.readBack) // no deadline: no lock_wait_timeout
			assert.Equal(t, want, withoutSetup(s.Statements()))

			// A setting that did not take is an error, not success.
			f.ignore = true
			err = c.SetReadOnly(ctx, true)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "read back read_only=OFF")
		})
	}
	t.Run("MySQL read_only without super_read_only is not read-only enough", func(t *testing.T) {
		f := &fakeRO{}
		c, _ := newFakeConn(t, "8.0.36", func(q string, a []driver.NamedValue) fakesql.Result {
			if q == "SET GLOBAL super_read_only = ON" {
				f.readOnly = true // as if only read_only took
				return fakesql.Result{}
			}
			return f.handle(q, a)
		})
		err := c.SetReadOnly(context.Background(), true)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "read_only=ON super_read_only=OFF")
	})
	t.Run("a bad value is an error", func(t *testing.T) {
		c, _ := newFakeConn(t, "10.11.19-MariaDB-log", func(q string, _ []driver.NamedValue) fakesql.Result {
			return fakesql.One("x", "maybe")
		})
		_, err := c.ReadOnly(context.Background())
		assert.ErrorContains(t, err, `"maybe" is not ON or OFF`)
		_, err = c.ServerID(context.Background())
		assert.ErrorContains(t, err, `"maybe" is not an integer`)
	})
}

func TestServerID(t *testing.T) {
	v := loadVars(t, "vars_mysql80_candidate.txt")
	c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result {
		return fakesql.One("id", v["server_id"])
	})
	id, err := c.ServerID(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(3), id)
}

func TestPromoteStatements(t *testing.T) {
	for _, tc := range []struct {
		version, row string
		want         []string
	}{
		{"8.0.36", "mysql8_yes.txt", []string{"STOP REPLICA", "SHOW REPLICA STATUS", "RESET REPLICA ALL",
			"SET SESSION lock_wait_timeout = 5", "SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF",
			"SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only", "SHOW REPLICA STATUS"}},
		{"5.7.44-log", "mysql57_yes.txt", []string{"STOP SLAVE", "SHOW SLAVE STATUS", "RESET SLAVE ALL",
			"SET SESSION lock_wait_timeout = 5", "SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF",
			"SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only", "SHOW SLAVE STATUS"}},
		{"10.11.19-MariaDB-log", "mariadb_yes.txt", []string{"STOP REPLICA", "SHOW REPLICA STATUS", "SELECT @@GLOBAL.gtid_slave_pos",
			"RESET REPLICA ALL", "SET SESSION lock_wait_timeout = 5", "SET GLOBAL read_only = OFF", "SELECT @@GLOBAL.read_only",
			"SHOW REPLICA STATUS"}},
		{"10.4.32-MariaDB", "mariadb_yes.txt", []string{"STOP SLAVE", "SHOW SLAVE STATUS", "SELECT @@GLOBAL.gtid_slave_pos",
			"RESET SLAVE ALL", "SET SESSION lock_wait_timeout = 5", "SET GLOBAL read_only = OFF", "SELECT @@GLOBAL.read_only",
			"SHOW SLAVE STATUS"}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			f := &fakeRO{readOnly: true, super: true, replica: true, row: loadRow(t, tc.row)}
			c, s := newFakeConn(t, tc.version, f.handle)
			f.statusStmt = c.statusStmt()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, Promote(ctx, c))
			assert.Equal(t, tc.want, withoutSetup(s.Statements()))
			assert.False(t, f.readOnly || f.super)
		})
	}
}

// A candidate whose SQL thread is behind its IO thread is not reset: the
// relay log would be lost. Replication is started again.
func TestPromoteRefusesUnappliedRelayLog(t *testing.T) {
	row := cloneRow(loadRow(t, "mysql8_yes.txt"), map[string]*string{
		"Retrieved_Gtid_Set": ptr(uB + ":1-20"),
		"Executed_Gtid_Set":  ptr(uA + ":1-23,\n" + uB + ":1-17"),
	})
	f := &fakeRO{readOnly: true, super: true, replica: true, row: row}
	c, s := newFakeConn(t, "8.0.36", f.handle)
	f.statusStmt = c.statusStmt()
	err := Promote(context.Background(), c)
	require.Error(t, err)
	for _, want := range []string{"refused", uB + ":1-20", "3 transactions", uB + ":18-20"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Equal(t, []string{"STOP REPLICA", "SHOW REPLICA STATUS", "START REPLICA"}, withoutSetup(s.Statements()))
	assert.True(t, f.readOnly && f.super && f.replica, "nothing else changed")
}

func TestDemoteMySQL8(t *testing.T) {
	const pw = "S3cret-demote-pw"
	src := Source{Host: "10.20.12.45", Port: 3306, User: "repl", Password: pw}
	tm := Timings{NetTimeout: 3 * time.Second, ConnectRetry: time.Second, Heartbeat: time.Second}
	f := &fakeRO{}
	c, s := newFakeConn(t, "8.0.36", f.handle)
	f.statusStmt = c.statusStmt()
	require.NoError(t, Demote(context.Background(), c, src, tm))
	assert.Equal(t, []string{
		"SET GLOBAL super_read_only = ON", "SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only",
		"STOP REPLICA", "SET GLOBAL replica_net_timeout = 3",
		"CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.20.12.45', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='" + pw +
			"', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=1, SOURCE_HEARTBEAT_PERIOD=1.000",
		"START REPLICA",
	}, withoutSetup(s.Statements()), "no gtid_slave_pos on MySQL: gtid_executed holds its own writes")
	assert.True(t, f.readOnly && f.super && f.replica)

	t.Run("a server error does not show the password", func(t *testing.T) {
		f := &fakeRO{changeErr: &mysql.MySQLError{Number: 1064, Message: "You have an error near '" + pw + "'"}}
		c, _ := newFakeConn(t, "8.0.36", f.handle)
		err := Demote(context.Background(), c, src, tm)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "S3cret")
		var se *SecretError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, uint16(1064), se.Number)
	})
	t.Run("bad input changes nothing", func(t *testing.T) {
		for _, bad := range []struct {
			src Source
			tm  Timings
		}{
			{Source{Port: 3306, User: "repl"}, tm},
			{src, Timings{ConnectRetry: time.Millisecond}},
		} {
			f := &fakeRO{}
			c, s := newFakeConn(t, "8.0.36", f.handle)
			require.Error(t, Demote(context.Background(), c, bad.src, bad.tm))
			require.Error(t, Repoint(context.Background(), c, bad.src, bad.tm))
			assert.Empty(t, withoutSetup(s.Statements()))
		}
	})
}

func TestRepoint(t *testing.T) {
	src := Source{Host: "10.20.12.45", User: "repl", Password: "pw"}
	f := &fakeRO{}
	c, s := newFakeConn(t, "8.0.36", f.handle)
	f.statusStmt = c.statusStmt()
	err := Repoint(context.Background(), c, src, Timings{})
	assert.ErrorContains(t, err, "not a replica")
	assert.Equal(t, []string{"SHOW REPLICA STATUS"}, withoutSetup(s.Statements()))

	f2 := &fakeRO{replica: true, row: loadRow(t, "mysql8_yes.txt")}
	c2, s2 := newFakeConn(t, "8.0.36", f2.handle)
	f2.statusStmt = c2.statusStmt()
	require.NoError(t, Repoint(context.Background(), c2, src, Timings{}))
	got := withoutSetup(s2.Statements())
	require.Len(t, got, 4)
	assert.Equal(t, "STOP REPLICA", got[1])
	assert.True(t, strings.HasPrefix(got[2], "CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.20.12.45', SOURCE_PORT=3306,"), got[2])
	assert.Contains(t, got[2], "SOURCE_AUTO_POSITION=1")
	assert.Equal(t, "START REPLICA", got[3])
}

// WaitCaughtUp on MySQL 8 names the GTIDs the candidate lacks (positions
// from the captured-format testdata).
func TestWaitCaughtUpMySQL8(t *testing.T) {
	vars := func(name string, waitResult string) func(q string, _ []driver.NamedValue) fakesql.Result {
		v := loadVars(t, name)
		return func(q string, _ []driver.NamedValue) fakesql.Result {
			switch q {
			case "SELECT @@GLOBAL.gtid_executed":
				return fakesql.One("g", v["gtid_executed"])
			case "SELECT @@GLOBAL.server_id":
				return fakesql.One("id", v["server_id"])
			case "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)":
				return fakesql.One("r", waitResult)
			case "SHOW REPLICA STATUS":
				return rowResult()
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		}
	}
	primary, _ := newFakeConn(t, "8.0.36", vars("vars_mysql80_primary_days.txt", ""))
	lagging, _ := newFakeConn(t, "8.0.36", vars("vars_mysql80_candidate.txt", "1"))
	err := WaitCaughtUp(context.Background(), primary, lagging, 20*time.Millisecond)
	var ce *CatchUpError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "3e11fa47-71ca-11e1-9e33-c80aa9429562:21-23", ce.Gap)
	assert.Equal(t, uint64(3), ce.Behind)
	assert.Equal(t, int64(1), ce.PrimaryID)
	assert.Equal(t, int64(3), ce.CandidateID)
	assert.Contains(t, err.Error(), "candidate (server 3) lacks 3e11fa47-71ca-11e1-9e33-c80aa9429562:21-23 of primary (server 1)")

	caughtUp, _ := newFakeConn(t, "8.0.36", vars("vars_mysql80_candidate.txt", "0"))
	require.NoError(t, WaitCaughtUp(context.Background(), primary, caughtUp, 20*time.Millisecond))

	maria, _ := newFakeConn(t, "10.11.19-MariaDB-log", nil)
	assert.ErrorContains(t, WaitCaughtUp(context.Background(), primary, maria, time.Second), "primary is mysql, candidate is mariadb")
}

func TestLaterPerDomain(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"", "", ""},
		{"0-1-7", "0-1-7", "0-1-7"},
		{"", "0-1-7", "0-1-7"},
		{"0-1-7", "0-1-5", "0-1-7"},
		{"0-1-7", "0-3-9", "0-3-9"},
		{"0-1-7,1-2-3", "0-3-9", "0-3-9,1-2-3"},
		{"0-1-7", "1-1-2", "0-1-7,1-1-2"},
	} {
		got, err := laterPerDomain(tc.a, tc.b)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%q %q", tc.a, tc.b)
	}
	_, err := laterPerDomain("0-1", "")
	assert.Error(t, err)
	_, err = laterPerDomain("", "x")
	assert.Error(t, err)
}
