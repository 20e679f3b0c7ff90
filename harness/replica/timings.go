package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Server defaults used by the windows when a Timings field is zero.
const (
	DefaultNetTimeout   = 60 * time.Second // slave_net_timeout / replica_net_timeout
	DefaultConnectRetry = 60 * time.Second // MASTER_CONNECT_RETRY / SOURCE_CONNECT_RETRY
)

// Timings reads the settings that decide how fast the replica notices an
// outage and how fast it reconnects. A zero field could not be read (for
// example ConnectRetry on a server that is not a replica).
//
// MariaDB: @@slave_net_timeout, Connect_Retry from the status row, the
// heartbeat from SHOW GLOBAL STATUS LIKE 'Slave_heartbeat_period', and the
// retry count from @@master_retry_count when the server has it.
// MySQL: the net timeout variable and
// performance_schema.replication_connection_configuration.
func (c *Conn) Timings(ctx context.Context) (Timings, error) {
	var t Timings
	secs, err := c.queryString(ctx, "SELECT @@GLOBAL."+c.netTimeoutVar())
	if err != nil {
		return Timings{}, fmt.Errorf("read timings: %s: %w", c.netTimeoutVar(), err)
	}
	if t.NetTimeout, err = parseSeconds(secs); err != nil {
		return Timings{}, fmt.Errorf("read timings: %s: %w", c.netTimeoutVar(), err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return Timings{}, fmt.Errorf("read timings: %w", err)
	}
	if st.Configured {
		t.ConnectRetry = time.Duration(st.ConnectRetry) * time.Second
	}
	if c.flavor == MariaDB {
		return c.mariaTimings(ctx, t, st)
	}
	return c.mysqlTimings(ctx, t)
}

func (c *Conn) mariaTimings(ctx context.Context, t Timings, st Status) (Timings, error) {
	var name, val string
	err := c.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Slave_heartbeat_period'").Scan(&name, &val)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Timings{}, fmt.Errorf("read timings: Slave_heartbeat_period: %w", err)
	}
	if err == nil {
		if t.Heartbeat, err = parseSeconds(val); err != nil {
			return Timings{}, fmt.Errorf("read timings: Slave_heartbeat_period: %w", err)
		}
	}
	// MariaDB 10.11 has no @@master_retry_count: it is a startup option
	// (--master-retry-count, default 100000) that is not exposed as a
	// variable (error 1193). The IO thread does print it in Last_IO_Error
	// ("maximum-retries: 100000"), so fall back to that.
	n, err := c.queryString(ctx, "SELECT @@GLOBAL.master_retry_count")
	var me *mysql.MySQLError
	switch {
	case err == nil:
		if t.RetryCount, err = strconv.ParseInt(n, 10, 64); err != nil {
			return Timings{}, fmt.Errorf("read timings: master_retry_count: %q is not an integer", n)
		}
	case errors.As(err, &me) && me.Number == 1193: // unknown system variable
		t.RetryCount = retryCountFromError(st.LastIOError)
	default:
		return Timings{}, fmt.Errorf("read timings: master_retry_count: %w", err)
	}
	return t, nil
}

var maxRetriesRE = regexp.MustCompile(`maximum-retries: (\d+)`)

// retryCountFromError reads "maximum-retries: N" out of a MariaDB
// Last_IO_Error; 0 when absent.
func retryCountFromError(s string) int64 {
	m := maxRetriesRE.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func (c *Conn) mysqlTimings(ctx context.Context, t Timings) (Timings, error) {
	var interval, count sql.NullInt64
	var hb sql.NullString
	err := c.db.QueryRowContext(ctx, `SELECT CONNECTION_RETRY_INTERVAL, CONNECTION_RETRY_COUNT, HEARTBEAT_INTERVAL
		FROM performance_schema.replication_connection_configuration WHERE CHANNEL_NAME = ''`).Scan(&interval, &count, &hb)
	switch {
	case errors.Is(err, sql.ErrNoRows): // not a replica
		return t, nil
	case err != nil:
		// performance_schema off: keep what the status row gave.
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1146 || me.Number == 1142) {
			return t, nil
		}
		return Timings{}, fmt.Errorf("read timings: replication_connection_configuration: %w", err)
	}
	if interval.Valid {
		t.ConnectRetry = time.Duration(interval.Int64) * time.Second
	}
	t.RetryCount = count.Int64
	if hb.Valid {
		if t.Heartbeat, err = parseSeconds(hb.String); err != nil {
			return Timings{}, fmt.Errorf("read timings: HEARTBEAT_INTERVAL: %w", err)
		}
	}
	return t, nil
}

// parseSeconds reads "3" or "1.000" seconds.
func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}

func (t Timings) netTimeout() time.Duration {
	if t.NetTimeout > 0 {
		return t.NetTimeout
	}
	return DefaultNetTimeout
}

func (t Timings) connectRetry() time.Duration {
	if t.ConnectRetry > 0 {
		return t.ConnectRetry
	}
	return DefaultConnectRetry
}

// margin is the slack added to a window: half the interval that dominates
// it, at least a second, for the poll interval, scheduling and the status
// query's own latency.
func margin(d time.Duration) time.Duration { return max(time.Second, d/2) }

// OutageDetectWindow is how long after traffic stops the IO thread must
// have left Yes.
//
// The IO thread blocks reading from the source with a read timeout of the
// net timeout (slave_net_timeout/replica_net_timeout). Each packet it
// receives, event or heartbeat, restarts that timer, so once nothing gets
// through the read fails at most NetTimeout after the last packet, which
// arrived before the outage began: NetTimeout bounds the detection. (On an
// idle source heartbeats arrive every Heartbeat, so detection comes no
// sooner than NetTimeout-Heartbeat.) One Heartbeat is added for a packet
// already in flight or queued in the tunnel when the outage starts, which
// restarts the timer once more, plus a margin of max(1s, NetTimeout/2).
// Zero fields are the server defaults (net timeout 60s, heartbeat half of it).
func (t Timings) OutageDetectWindow() time.Duration {
	n := t.netTimeout()
	hb := t.Heartbeat
	if hb <= 0 {
		hb = n / 2
	}
	return n + hb + margin(n)
}

// ReconnectWindow is how long after the network is back the IO thread must
// be Yes again.
//
// While disconnected the IO thread tries to connect, and after a failed
// try sleeps ConnectRetry before the next. If the failure was immediate
// (no route, refused) the next try comes within ConnectRetry. If the
// packets were silently dropped, a try in progress hangs until its connect
// timeout, which the servers set to the net timeout, before the sleep. So
// the bound is NetTimeout + ConnectRetry, plus a margin of
// max(1s, ConnectRetry/2). It assumes the outage was shorter than
// [Timings.GiveUpAfter]: after that the IO thread stops (No) for good.
func (t Timings) ReconnectWindow() time.Duration {
	r := t.connectRetry()
	return t.netTimeout() + r + margin(r)
}

// GiveUpAfter is how long the IO thread keeps retrying before it stops:
// ConnectRetry × RetryCount; 0 when the count is unknown.
func (t Timings) GiveUpAfter() time.Duration {
	if t.RetryCount <= 0 {
		return 0
	}
	return time.Duration(t.RetryCount) * t.connectRetry()
}

// Validate checks timings before they are configured: no negative values,
// whole or at least one second where the server needs it, and a heartbeat
// shorter than the net timeout (otherwise an idle source looks dead and
// the replica reconnects for nothing; MariaDB only warns, 1704).
func (t Timings) Validate() error {
	switch {
	case t.NetTimeout < 0, t.ConnectRetry < 0, t.Heartbeat < 0, t.RetryCount < 0:
		return errors.New("timings: negative value")
	case t.NetTimeout > 0 && t.NetTimeout < time.Second:
		return fmt.Errorf("timings: net timeout %s: must be at least 1s", t.NetTimeout)
	case t.ConnectRetry > 0 && t.ConnectRetry < time.Second:
		return fmt.Errorf("timings: connect retry %s: must be at least 1s", t.ConnectRetry)
	case t.Heartbeat > 0 && t.Heartbeat < time.Millisecond:
		return fmt.Errorf("timings: heartbeat %s: must be at least 1ms", t.Heartbeat)
	case t.Heartbeat > 0 && t.Heartbeat >= t.netTimeout():
		return fmt.Errorf("timings: heartbeat %s must be shorter than net timeout %s", t.Heartbeat, t.netTimeout())
	}
	return nil
}
