package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// MySQL's WAIT_FOR_EXECUTED_GTID_SET takes whole seconds (5.7 refuses a
// fraction), so WaitApplied passes ceil(slice) and at least 1; MariaDB's
// MASTER_GTID_WAIT takes the fraction. The GTID set is passed normalised
// (MySQL prints long sets over several lines).
func TestWaitAppliedArguments(t *testing.T) {
	const set = uA + ":1-9,\n" + uB + ":1-3"
	for _, tc := range []struct {
		version, fn string
		readTimeout time.Duration
		wantSecs    any
	}{
		{"8.0.36", "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)", 10 * time.Second, int64(5)},
		{"8.4.3", "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)", 300 * time.Millisecond, int64(1)},
		{"5.7.44-log", "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)", 3 * time.Second, int64(2)},
	} {
		t.Run(tc.version, func(t *testing.T) {
			var mu sync.Mutex
			var args []driver.NamedValue
			c, _ := newFakeConn(t, tc.version, func(q string, a []driver.NamedValue) fakesql.Result {
				if q == tc.fn {
					mu.Lock()
					args = a
					mu.Unlock()
					return fakesql.One("r", "0")
				}
				return fakesql.Result{Err: errors.New("unexpected " + q)}
			})
			c.readTimeout = tc.readTimeout
			require.NoError(t, c.WaitApplied(context.Background(), set, time.Minute))
			require.Len(t, args, 2)
			assert.Equal(t, uA+":1-9,"+uB+":1-3", args[0].Value)
			assert.Equal(t, tc.wantSecs, args[1].Value)
		})
	}
	t.Run("an unexpected return code is an error", func(t *testing.T) {
		c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result { return fakesql.One("r", "2") })
		err := c.WaitApplied(context.Background(), uA+":1", time.Second)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "WAIT_FOR_EXECUTED_GTID_SET returned 2")
	})
	t.Run("a MariaDB position is refused on MySQL before anything is sent", func(t *testing.T) {
		c, s := newFakeConn(t, "8.0.36", nil)
		var pe *PositionError
		require.ErrorAs(t, c.WaitApplied(context.Background(), "0-1-7", time.Second), &pe)
		assert.Len(t, s.Statements(), 1)
	})
}

func TestTimingStatements(t *testing.T) {
	tm := Timings{NetTimeout: 3 * time.Second, ConnectRetry: time.Hour, Heartbeat: 1500 * time.Millisecond, RetryCount: 10}
	for _, tc := range []struct {
		version string
		want    []string
	}{
		{"10.11.19-MariaDB-log", []string{"STOP REPLICA", "SET GLOBAL slave_net_timeout = 3",
			"CHANGE MASTER TO MASTER_CONNECT_RETRY=3600, MASTER_HEARTBEAT_PERIOD=1.500", "START REPLICA"}},
		{"10.4.32-MariaDB", []string{"STOP SLAVE", "SET GLOBAL slave_net_timeout = 3",
			"CHANGE MASTER TO MASTER_CONNECT_RETRY=3600, MASTER_HEARTBEAT_PERIOD=1.500", "START SLAVE"}},
		{"5.7.44-log", []string{"STOP SLAVE", "SET GLOBAL slave_net_timeout = 3",
			"CHANGE MASTER TO MASTER_CONNECT_RETRY=3600, MASTER_HEARTBEAT_PERIOD=1.500, MASTER_RETRY_COUNT=10", "START SLAVE"}},
		{"8.0.22", []string{"STOP REPLICA", "SET GLOBAL slave_net_timeout = 3",
			"CHANGE MASTER TO MASTER_CONNECT_RETRY=3600, MASTER_HEARTBEAT_PERIOD=1.500, MASTER_RETRY_COUNT=10", "START REPLICA"}},
		{"8.0.25", []string{"STOP REPLICA", "SET GLOBAL slave_net_timeout = 3",
			"CHANGE REPLICATION SOURCE TO SOURCE_CONNECT_RETRY=3600, SOURCE_HEARTBEAT_PERIOD=1.500, SOURCE_RETRY_COUNT=10", "START REPLICA"}},
		{"8.0.36", []string{"STOP REPLICA", "SET GLOBAL replica_net_timeout = 3",
			"CHANGE REPLICATION SOURCE TO SOURCE_CONNECT_RETRY=3600, SOURCE_HEARTBEAT_PERIOD=1.500, SOURCE_RETRY_COUNT=10", "START REPLICA"}},
		{"8.4.3", []string{"STOP REPLICA", "SET GLOBAL replica_net_timeout = 3",
			"CHANGE REPLICATION SOURCE TO SOURCE_CONNECT_RETRY=3600, SOURCE_HEARTBEAT_PERIOD=1.500, SOURCE_RETRY_COUNT=10", "START REPLICA"}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			c, s := newFakeConn(t, tc.version, nil)
			got, err := c.TimingStatements(tm, true)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Len(t, s.Statements(), 1, "building statements sends nothing")
		})
	}
	c, _ := newFakeConn(t, "8.0.36", nil)
	got, err := c.TimingStatements(Timings{ConnectRetry: 2 * time.Second}, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"STOP REPLICA", "CHANGE REPLICATION SOURCE TO SOURCE_CONNECT_RETRY=2", "START REPLICA"}, got)
	for _, bad := range []Timings{{ConnectRetry: 500 * time.Millisecond}, {ConnectRetry: time.Second, NetTimeout: 2 * time.Second, Heartbeat: 2 * time.Second}} {
		_, err := c.TimingStatements(bad, false)
		assert.Error(t, err, "%+v", bad)
	}
	_, err = c.TimingStatements(Timings{ConnectRetry: time.Second}, true)
	assert.ErrorContains(t, err, "net timeout 0s")
}
