package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadVars reads a testdata file of SHOW GLOBAL VARIABLES in the
// client's --batch --raw format.
func loadVars(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	vars, err := fakesql.ParseVars(string(b))
	require.NoError(t, err, name)
	return vars
}

func TestParseServerInfo(t *testing.T) {
	const (
		u1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
		u2 = "5a9c2e1f-8b0d-11ee-9f4e-0242ac140002"
	)
	tests := []struct {
		file    string
		f       Flavor
		want    ServerInfo
		retains string
	}{
		{"vars_mariadb_primary.txt", MariaDB, ServerInfo{ServerID: "1",
			Retention: BinlogRetention{LogBin: true, Never: true, Setting: "binlog_expire_logs_seconds=0"},
			GTID:      Positions{BinlogPos: "0-1-4", CurrentPos: "0-1-4"}}, "never purged automatically (binlog_expire_logs_seconds=0)"},
		{"vars_mariadb_replica.txt", MariaDB, ServerInfo{ServerID: "2", ReadOnly: true,
			Retention: BinlogRetention{LogBin: true, Never: true, Setting: "binlog_expire_logs_seconds=0"},
			GTID:      Positions{BinlogPos: "0-1-4", CurrentPos: "0-1-4", SlavePos: "0-1-4"}}, ""},
		{"vars_mariadb_hour.txt", MariaDB, ServerInfo{ServerID: "1",
			Retention: BinlogRetention{LogBin: true, Expire: time.Hour, ExpireSeconds: 3600, Setting: "binlog_expire_logs_seconds=3600"},
			GTID:      Positions{BinlogPos: "0-1-90,1-3-7", CurrentPos: "0-1-90,1-3-7", SlavePos: "0-1-90"}}, "purged after 1h0m0s (binlog_expire_logs_seconds=3600)"},
		{"vars_mariadb105_primary.txt", MariaDB, ServerInfo{ServerID: "1",
			Retention: BinlogRetention{LogBin: true, Expire: 240 * time.Hour, ExpireSeconds: 864000, Setting: "expire_logs_days=10"},
			GTID:      Positions{BinlogPos: "0-1-1742", CurrentPos: "0-1-1742"}}, ""},
		{"vars_mysql80_replica.txt", MySQL, ServerInfo{ServerID: "2", ReadOnly: true, SuperReadOnly: true,
			Retention: BinlogRetention{LogBin: true, Expire: 720 * time.Hour, ExpireSeconds: 2592000, Setting: "binlog_expire_logs_seconds=2592000"},
			GTID:      Positions{Executed: u1 + ":1-23," + u2 + ":1-5", Purged: u1 + ":1-3", Mode: "ON"}}, ""},
		{"vars_mysql80_primary_days.txt", MySQL, ServerInfo{ServerID: "1",
			Retention: BinlogRetention{LogBin: true, Expire: 168 * time.Hour, ExpireSeconds: 604800, Setting: "expire_logs_days=7"},
			GTID:      Positions{Executed: u1 + ":1-23", Purged: u1 + ":1-10", Mode: "ON"}}, ""},
		{"vars_mysql84_primary.txt", MySQL, ServerInfo{ServerID: "1",
			Retention: BinlogRetention{LogBin: true, Expire: time.Hour, ExpireSeconds: 3600, Setting: "binlog_expire_logs_seconds=3600"},
			GTID:      Positions{Executed: u1 + ":1-23", Mode: "ON"}}, ""},
		{"vars_mysql84_no_auto_purge.txt", MySQL, ServerInfo{ServerID: "1",
			Retention: BinlogRetention{Expire: time.Hour, ExpireSeconds: 3600, Never: true, Setting: "binlog_expire_logs_seconds=3600, binlog_expire_logs_auto_purge=OFF"},
			GTID:      Positions{Mode: "OFF"}}, "binary logging is off"},
		{"vars_mysql57_primary.txt", MySQLLegacy, ServerInfo{ServerID: "1",
			Retention: BinlogRetention{LogBin: true, Expire: 72 * time.Hour, ExpireSeconds: 259200, Setting: "expire_logs_days=3"},
			GTID:      Positions{Executed: u1 + ":1-23", Mode: "ON"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseServerInfo(tt.f, loadVars(t, tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			if tt.retains != "" {
				assert.Equal(t, tt.retains, got.Retention.String())
			}
		})
	}
}

func TestParseServerInfoFails(t *testing.T) {
	base := func() map[string]string {
		return map[string]string{"log_bin": "ON", "read_only": "OFF", "binlog_expire_logs_seconds": "0", "server_id": "1"}
	}
	for _, tc := range []struct {
		name string
		edit func(map[string]string)
		want string
	}{
		{"bad read_only", func(m map[string]string) { m["read_only"] = "maybe" }, `read_only: "maybe" is not ON or OFF`},
		{"bad seconds", func(m map[string]string) { m["binlog_expire_logs_seconds"] = "-1" }, "binlog_expire_logs_seconds"},
		{"bad days", func(m map[string]string) {
			delete(m, "binlog_expire_logs_seconds")
			m["expire_logs_days"] = "ten"
		}, `expire_logs_days: "ten"`},
		{"no retention variable", func(m map[string]string) { delete(m, "binlog_expire_logs_seconds") }, "neither"},
		{"bad auto purge", func(m map[string]string) { m["binlog_expire_logs_auto_purge"] = "sometimes" }, "binlog_expire_logs_auto_purge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.edit(m)
			_, err := ParseServerInfo(MySQL, m)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestRetentionCheck(t *testing.T) {
	hour := BinlogRetention{LogBin: true, Expire: time.Hour, ExpireSeconds: 3600, Setting: "binlog_expire_logs_seconds=3600"}
	require.NoError(t, hour.Check(5*time.Minute))
	err := hour.Check(time.Hour)
	require.Error(t, err, "an outage as long as the retention may lose events")
	assert.Contains(t, err.Error(), "error 1236")
	assert.Contains(t, err.Error(), "binlog_expire_logs_seconds=3600")
	assert.Error(t, hour.Check(2*time.Hour))
	assert.NoError(t, hour.Check(0), "no max_fault: nothing to compare")
	assert.NoError(t, BinlogRetention{LogBin: true, Never: true}.Check(1000*time.Hour))
	err = BinlogRetention{}.Check(time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "log_bin=OFF")
}

func TestConnServerInfo(t *testing.T) {
	vars := loadVars(t, "vars_mysql80_replica.txt")
	c, s := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result {
		if strings.HasPrefix(q, "SHOW GLOBAL VARIABLES WHERE Variable_name IN (") {
			return fakesql.Vars(vars)
		}
		return fakesql.Result{Err: errors.New("unexpected " + q)}
	})
	si, err := c.ServerInfo(context.Background())
	require.NoError(t, err)
	assert.True(t, si.SuperReadOnly)
	assert.Equal(t, "ON", si.GTID.Mode)
	q := s.Statements()[1]
	assert.Contains(t, q, "'binlog_expire_logs_auto_purge'")
	assert.Contains(t, q, "'gtid_purged'")

	_, err = c.Variables(context.Background(), "x'; DROP TABLE t; --")
	require.Error(t, err)
	assert.Len(t, s.Statements(), 2, "a bad name is refused before anything is sent")
}

func TestOldestBinlog(t *testing.T) {
	ctx := context.Background()
	logs := fakesql.Result{Cols: []string{"Log_name", "File_size"}, Rows: [][]any{{"binlog.000007", "1380"}, {"binlog.000008", "379"}}}
	t.Run("mariadb", func(t *testing.T) {
		c, _ := newFakeConn(t, "10.11.19-MariaDB-log", func(q string, args []driver.NamedValue) fakesql.Result {
			switch q {
			case "SHOW BINARY LOGS":
				return logs
			case "SELECT BINLOG_GTID_POS(?, 4)":
				if args[0].Value == "binlog.000007" {
					return fakesql.One("p", "0-1-100")
				}
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		ob, err := c.OldestBinlog(ctx)
		require.NoError(t, err)
		assert.Equal(t, OldestBinlog{File: "binlog.000007", Start: "0-1-100"}, ob)
		for applied, ok := range map[string]bool{"0-1-100": true, "0-2-150": true, "0-1-99": false, "": false} {
			got, err := CanResume(MariaDB, applied, ob.Start)
			require.NoError(t, err)
			assert.Equal(t, ok, got, "applied %q", applied)
		}
	})
	t.Run("mysql", func(t *testing.T) {
		const u = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
		c, _ := newFakeConn(t, "8.4.3", func(q string, _ []driver.NamedValue) fakesql.Result {
			switch q {
			case "SHOW BINARY LOGS":
				return fakesql.Result{Cols: []string{"Log_name", "File_size", "Encrypted"}, Rows: [][]any{{"binlog.000002", "157", "No"}}}
			case "SELECT @@GLOBAL.gtid_purged":
				return fakesql.One("p", u+":1-10")
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		ob, err := c.OldestBinlog(ctx)
		require.NoError(t, err)
		assert.Equal(t, OldestBinlog{File: "binlog.000002", Start: u + ":1-10"}, ob)
		ok, err := CanResume(MySQL, u+":1-9", ob.Start)
		require.NoError(t, err)
		assert.False(t, ok, "purged transaction 10 was never applied")
		ok, err = CanResume(MySQL, u+":1-23", ob.Start)
		require.NoError(t, err)
		assert.True(t, ok)
	})
	t.Run("binary logging off, denied", func(t *testing.T) {
		for _, e := range []*mysql.MySQLError{{Number: 1381, Message: "You are not using binary logging"}, {Number: 1227, Message: "Access denied"}} {
			c, _ := newFakeConn(t, "10.11.19-MariaDB-log", func(q string, _ []driver.NamedValue) fakesql.Result { return fakesql.Result{Err: e} })
			_, err := c.OldestBinlog(ctx)
			require.Error(t, err)
			assert.Equal(t, e.Number == 1227, IsAccessDenied(err))
		}
	})
}

func TestSourceServerID(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ version, file, stmt string }{
		{"10.11.19-MariaDB-log", "mariadb_yes.txt", "SHOW REPLICA STATUS"},
		{"8.0.36", "mysql8_yes.txt", "SHOW REPLICA STATUS"},
		{"5.7.44-log", "mysql57_yes.txt", "SHOW SLAVE STATUS"},
	} {
		row := loadRow(t, tc.file)
		c, _ := newFakeConn(t, tc.version, func(q string, _ []driver.NamedValue) fakesql.Result {
			if q == tc.stmt {
				return rowResult(row)
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		id, err := c.SourceServerID(ctx)
		require.NoError(t, err, tc.file)
		assert.Equal(t, int64(1), id, tc.file)
	}
	c, _ := newFakeConn(t, "10.11.19-MariaDB-log", func(q string, _ []driver.NamedValue) fakesql.Result { return rowResult() })
	id, err := c.SourceServerID(ctx)
	require.NoError(t, err)
	assert.Zero(t, id, "not a replica")
	bad := cloneRow(loadRow(t, "mysql8_yes.txt"), map[string]*string{"Source_Server_Id": ptr("one")})
	c, _ = newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result { return rowResult(bad) })
	_, err = c.SourceServerID(ctx)
	assert.ErrorContains(t, err, `column Source_Server_Id: not an integer: "one"`)
}
