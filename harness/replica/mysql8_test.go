package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"testing"
	"time"

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
			c, _ := newFakeConn(t, tc.version, func(q string, a []driver.NamedValue) fakeResult {
				if q == tc.fn {
					mu.Lock()
					args = a
					mu.Unlock()
					return one("r", "0")
				}
				return fakeResult{err: errors.New("unexpected " + q)}
			})
			c.readTimeout = tc.readTimeout
			require.NoError(t, c.WaitApplied(context.Background(), set, time.Minute))
			require.Len(t, args, 2)
			assert.Equal(t, uA+":1-9,"+uB+":1-3", args[0].Value)
			assert.Equal(t, tc.wantSecs, args[1].Value)
		})
	}
	t.Run("an unexpected return code is an error", func(t *testing.T) {
		c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakeResult { return one("r", "2") })
		err := c.WaitApplied(context.Background(), uA+":1", time.Second)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "WAIT_FOR_EXECUTED_GTID_SET returned 2")
	})
	t.Run("a MariaDB position is refused on MySQL before anything is sent", func(t *testing.T) {
		c, s := newFakeConn(t, "8.0.36", nil)
		var pe *PositionError
		require.ErrorAs(t, c.WaitApplied(context.Background(), "0-1-7", time.Second), &pe)
		assert.Len(t, s.statements(), 1)
	})
}
