package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"testing"
	"time"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	uA = "3E11FA47-71CA-11E1-9E33-C80AA9429562"
	uB = "5a9c2e1f-8b0d-11ee-9f4e-0242ac140002"
)

func TestCovers(t *testing.T) {
	tests := []struct {
		name            string
		f               Flavor
		applied, target string
		want            bool
	}{
		{"maria equal", MariaDB, "0-1-7", "0-1-7", true},
		{"maria ahead", MariaDB, "0-1-9", "0-1-7", true},
		{"maria behind", MariaDB, "0-1-6", "0-1-7", false},
		{"maria other server after failover", MariaDB, "0-2-8", "0-1-7", true},
		{"maria missing domain", MariaDB, "0-1-9", "0-1-7,1-1-3", false},
		{"maria extra domain in applied", MariaDB, "0-1-9, 1-3-4", "0-1-7", true},
		{"maria one domain behind", MariaDB, "0-1-9,1-3-2", "1-3-3,0-1-1", false},
		{"maria empty target", MariaDB, "", "", true},
		{"maria empty applied", MariaDB, "", "0-1-1", false},
		{"maria whitespace", MariaDB, " 0-1-7 ,\n1-1-2 ", "1-1-2", true},
		{"mysql equal", MySQL, uA + ":1-5", uA + ":1-5", true},
		{"mysql case-insensitive uuid", MySQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", uA + ":2-3", true},
		{"mysql behind", MySQL, uA + ":1-4", uA + ":1-5", false},
		{"mysql hole", MySQL, uA + ":1-3:5-9", uA + ":1-9", false},
		{"mysql hole not needed", MySQL, uA + ":1-3:5-9", uA + ":5-7:2", true},
		{"mysql adjacent intervals merge", MySQL, uA + ":1-3:4-6," + uA + ":7", uA + ":1-7", true},
		{"mysql missing uuid", MySQL, uA + ":1-9", uA + ":1-9," + uB + ":1", false},
		{"mysql newline and spaces", MySQLLegacy, uA + ":1-9,\n" + uB + ":1-3", uB + ": 2 ,\n" + uA + ":9", true},
		{"mysql single", MySQL, uA + ":7", uA + ":7", true},
		{"mysql single not", MySQL, uA + ":7", uA + ":6", false},
		{"mysql empty target", MySQL, uA + ":1", "", true},
		{"mysql empty applied", MySQL, "", uA + ":1", false},
		{"mysql tags", MySQL, uA + ":1-5:blue:1-4", uA + ":3:blue:2-3:4", true},
		{"mysql tag behind", MySQL, uA + ":1-5:blue:1-3", uA + ":blue:2-3:4", false},
		{"mysql tag not covered by untagged", MySQL, uA + ":1-5", uA + ":blue:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Covers(tt.f, tt.applied, tt.target)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCoversMalformed(t *testing.T) {
	tests := []struct {
		name            string
		f               Flavor
		applied, target string
		want            string
	}{
		{"maria two parts", MariaDB, "0-1", "0-1-1", "applied"},
		{"maria letters", MariaDB, "0-1-1", "0-x-1", "target"},
		{"maria negative", MariaDB, "0-1--1", "", "applied"},
		{"maria trailing comma", MariaDB, "0-1-1,", "", "applied"},
		{"maria mysql set", MariaDB, "", uA + ":1-5", "target"},
		{"mysql bad uuid", MySQL, "3e11fa47:1-5", "", "not a uuid"},
		{"mysql no interval", MySQL, uA, "", "no intervals"},
		{"mysql zero", MySQL, uA + ":0-5", "", "not an interval"},
		{"mysql reversed", MySQL, uA + ":5-1", "", "not an interval"},
		{"mysql empty element", MySQL, uA + ":1,,", "", "not a uuid"},
		{"mysql dangling tag", MySQL, uA + ":1:blue", "", "no intervals"},
		{"mysql tag then tag", MySQL, "", uA + ":blue:red:1", "tag without intervals"},
		{"mysql maria position", MySQL, "0-1-7", "", "not a uuid"},
		{"unknown flavor", Flavor("x"), "", "", "unknown flavor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Covers(tt.f, tt.applied, tt.target)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			var pe *PositionError
			assert.ErrorAs(t, err, &pe)
		})
	}
}

func TestPositions(t *testing.T) {
	maria, ms := newFakeConn(t, "10.11.19-MariaDB-0+deb12u1-log", func(q string, _ []driver.NamedValue) fakesql.Result {
		switch q {
		case "SELECT @@GLOBAL.gtid_binlog_pos":
			return fakesql.One("p", "0-1-9")
		case "SELECT @@GLOBAL.gtid_slave_pos":
			return fakesql.One("p", "0-1-7")
		}
		return fakesql.Result{Err: errors.New("unexpected " + q)}
	})
	ctx := context.Background()
	p, err := maria.PrimaryPosition(ctx)
	require.NoError(t, err)
	assert.Equal(t, "0-1-9", p)
	a, err := maria.AppliedPosition(ctx)
	require.NoError(t, err)
	assert.Equal(t, "0-1-7", a)
	assert.Len(t, ms.Statements(), 3)

	my, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result {
		if q == "SELECT @@GLOBAL.gtid_executed" {
			return fakesql.One("p", uA+":1-5,\n"+uB+":1-3")
		}
		return fakesql.Result{Err: errors.New("unexpected " + q)}
	})
	p, err = my.PrimaryPosition(ctx)
	require.NoError(t, err)
	assert.Equal(t, uA+":1-5,"+uB+":1-3", p)
	a, err = my.AppliedPosition(ctx)
	require.NoError(t, err)
	assert.Equal(t, p, a)
}

// gtidWaiter fakes MASTER_GTID_WAIT / WAIT_FOR_EXECUTED_GTID_SET: it
// reports "reached" once reachAfter calls have been made (never when < 0).
func gtidWaiter(reachAfter int, timeoutCode string, applied string) func(string, []driver.NamedValue) fakesql.Result {
	calls := 0
	return func(q string, args []driver.NamedValue) fakesql.Result {
		switch q {
		case "SELECT MASTER_GTID_WAIT(?, ?)", "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)":
			calls++
			if reachAfter >= 0 && calls >= reachAfter {
				return fakesql.One("r", "0")
			}
			time.Sleep(2 * time.Millisecond)
			return fakesql.One("r", timeoutCode)
		case "SELECT @@GLOBAL.gtid_slave_pos", "SELECT @@GLOBAL.gtid_executed":
			return fakesql.One("p", applied)
		}
		return fakesql.Result{Err: errors.New("unexpected " + q)}
	}
}

func TestWaitApplied(t *testing.T) {
	ctx := context.Background()
	t.Run("maria reached after two slices", func(t *testing.T) {
		c, s := newFakeConn(t, "10.11.19-MariaDB", gtidWaiter(3, "-1", "0-1-9"))
		c.readTimeout = 20 * time.Millisecond // 10ms slices
		require.NoError(t, c.WaitApplied(ctx, "0-1-9", 5*time.Second))
		assert.Contains(t, s.Statements(), "SELECT MASTER_GTID_WAIT(?, ?)")
	})
	t.Run("maria timeout", func(t *testing.T) {
		c, _ := newFakeConn(t, "10.11.19-MariaDB", gtidWaiter(-1, "-1", "0-1-7"))
		err := c.WaitApplied(ctx, "0-1-9", 30*time.Millisecond)
		var we *WaitError
		require.ErrorAs(t, err, &we)
		assert.Equal(t, "0-1-9", we.Target)
		assert.Equal(t, "0-1-7", we.Applied)
		assert.Nil(t, we.Err)
		assert.Contains(t, err.Error(), `did not apply "0-1-9"`)
		assert.Contains(t, err.Error(), "applied: 0-1-7")
	})
	t.Run("mysql timeout", func(t *testing.T) {
		c, s := newFakeConn(t, "8.0.36", gtidWaiter(-1, "1", ""))
		err := c.WaitApplied(ctx, uA+":1-9", 30*time.Millisecond)
		var we *WaitError
		require.ErrorAs(t, err, &we)
		assert.Contains(t, err.Error(), "applied: nothing")
		assert.Contains(t, s.Statements(), "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)")
	})
	t.Run("mysql reached", func(t *testing.T) {
		c, _ := newFakeConn(t, "8.0.36", gtidWaiter(1, "1", ""))
		require.NoError(t, c.WaitApplied(ctx, uA+":1-9", time.Second))
	})
	t.Run("ctx ends first", func(t *testing.T) {
		c, _ := newFakeConn(t, "10.11.19-MariaDB", func(q string, _ []driver.NamedValue) fakesql.Result {
			if q == "SELECT @@GLOBAL.gtid_slave_pos" {
				return fakesql.One("p", "0-1-1")
			}
			return fakesql.Result{Err: context.DeadlineExceeded}
		})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := c.WaitApplied(cctx, "0-1-9", time.Minute)
		var we *WaitError
		require.ErrorAs(t, err, &we)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, "0-1-1", we.Applied)
	})
	t.Run("NULL result", func(t *testing.T) {
		c, _ := newFakeConn(t, "10.11.19-MariaDB", func(string, []driver.NamedValue) fakesql.Result { return fakesql.One("r", nil) })
		err := c.WaitApplied(ctx, "0-1-9", time.Second)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "NULL")
	})
	t.Run("malformed position", func(t *testing.T) {
		c, s := newFakeConn(t, "10.11.19-MariaDB", nil)
		err := c.WaitApplied(ctx, "0-1", time.Second)
		require.Error(t, err)
		var pe *PositionError
		assert.ErrorAs(t, err, &pe)
		assert.Len(t, s.Statements(), 1, "nothing but flavor detection was sent")
	})
	t.Run("bad timeout", func(t *testing.T) {
		c, _ := newFakeConn(t, "10.11.19-MariaDB", nil)
		assert.Error(t, c.WaitApplied(ctx, "0-1-9", 0))
	})
}
