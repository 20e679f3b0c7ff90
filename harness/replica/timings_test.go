package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"testing"
	"time"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimingsWindows(t *testing.T) {
	s := time.Second
	tests := []struct {
		name              string
		t                 Timings
		detect, reconnect time.Duration
		giveUp            time.Duration
	}{
		// The lab: slave_net_timeout=3, heartbeat 1, connect retry 1.
		{"lab", Timings{NetTimeout: 3 * s, Heartbeat: s, ConnectRetry: s, RetryCount: 100000},
			3*s + s + 1500*time.Millisecond, 3*s + s + s, 100000 * s},
		{"defaults", Timings{}, 60*s + 30*s + 30*s, 60*s + 60*s + 30*s, 0},
		{"no heartbeat set", Timings{NetTimeout: 10 * s, ConnectRetry: 4 * s, RetryCount: 2},
			10*s + 5*s + 5*s, 10*s + 4*s + 2*s, 8 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.detect, tt.t.OutageDetectWindow())
			assert.Equal(t, tt.reconnect, tt.t.ReconnectWindow())
			assert.Equal(t, tt.giveUp, tt.t.GiveUpAfter())
			// The windows are upper bounds: never below the intrinsic wait.
			assert.Greater(t, tt.t.OutageDetectWindow(), tt.t.netTimeout())
			assert.Greater(t, tt.t.ReconnectWindow(), tt.t.connectRetry())
		})
	}
}

func TestTimingsValidate(t *testing.T) {
	s := time.Second
	assert.NoError(t, Timings{}.Validate())
	assert.NoError(t, Timings{NetTimeout: 3 * s, Heartbeat: s, ConnectRetry: s}.Validate())
	bad := []struct {
		name string
		t    Timings
		want string
	}{
		{"negative", Timings{ConnectRetry: -s}, "negative"},
		{"net timeout under 1s", Timings{NetTimeout: 500 * time.Millisecond}, "net timeout"},
		{"connect retry under 1s", Timings{ConnectRetry: time.Millisecond}, "connect retry"},
		{"heartbeat equal to timeout", Timings{NetTimeout: 3 * s, Heartbeat: 3 * s}, "shorter than net timeout"},
		{"heartbeat over default timeout", Timings{Heartbeat: 61 * s}, "shorter than net timeout 1m0s"},
		{"heartbeat under 1ms", Timings{Heartbeat: time.Microsecond}, "at least 1ms"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.t.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestConnTimings(t *testing.T) {
	ctx := context.Background()
	connecting := loadRow(t, "mariadb_connecting.txt")
	t.Run("mariadb without master_retry_count", func(t *testing.T) {
		c, _ := newFakeConn(t, "10.11.19-MariaDB-log", func(q string, _ []driver.NamedValue) fakesql.Result {
			switch q {
			case "SELECT @@GLOBAL.slave_net_timeout":
				return fakesql.One("v", "3")
			case "SHOW REPLICA STATUS":
				return rowResult(connecting)
			case "SELECT @@GLOBAL.gtid_slave_pos":
				return fakesql.One("v", "0-1-7")
			case "SHOW GLOBAL STATUS LIKE 'Slave_heartbeat_period'":
				return fakesql.Result{Cols: []string{"Variable_name", "Value"}, Rows: [][]any{{"Slave_heartbeat_period", "1.000"}}}
			case "SELECT @@GLOBAL.master_retry_count":
				return fakesql.Result{Err: &mysql.MySQLError{Number: 1193, Message: "Unknown system variable 'master_retry_count'"}}
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		got, err := c.Timings(ctx)
		require.NoError(t, err)
		assert.Equal(t, Timings{NetTimeout: 3 * time.Second, ConnectRetry: time.Second, Heartbeat: time.Second, RetryCount: 100000}, got)
	})
	t.Run("mysql 8", func(t *testing.T) {
		row := loadRow(t, "mysql8_yes.txt")
		c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result {
			switch q {
			case "SELECT @@GLOBAL.replica_net_timeout":
				return fakesql.One("v", "30")
			case "SHOW REPLICA STATUS":
				return rowResult(row)
			}
			if len(q) > 60 && q[:60] == "SELECT CONNECTION_RETRY_INTERVAL, CONNECTION_RETRY_COUNT, HE" {
				return fakesql.Result{Cols: []string{"a", "b", "c"}, Rows: [][]any{{"2", "86400", "0.500"}}}
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		got, err := c.Timings(ctx)
		require.NoError(t, err)
		assert.Equal(t, Timings{NetTimeout: 30 * time.Second, ConnectRetry: 2 * time.Second, Heartbeat: 500 * time.Millisecond, RetryCount: 86400}, got)
	})
	t.Run("bad net timeout", func(t *testing.T) {
		c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result { return fakesql.One("v", "soon") })
		_, err := c.Timings(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `replica_net_timeout: "soon" is not a number of seconds`)
	})
	t.Run("server error", func(t *testing.T) {
		c, _ := newFakeConn(t, "5.7.44", func(q string, _ []driver.NamedValue) fakesql.Result {
			return fakesql.Result{Err: errors.New("gone")}
		})
		_, err := c.Timings(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "slave_net_timeout")
	})
}

func TestRetryCountFromError(t *testing.T) {
	assert.Equal(t, int64(100000), retryCountFromError("error reconnecting to master 'repl@h:3306' - retry-time: 1  maximum-retries: 100000  message: x"))
	assert.Equal(t, int64(0), retryCountFromError(""))
}
