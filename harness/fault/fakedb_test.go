package fault

import (
	"context"
	"database/sql/driver"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/internal/fakesql"
)

// fakeReplica is a MariaDB 10.11 replica as database/sql sees it: enough
// of SELECT @@…, SHOW REPLICA STATUS and CHANGE MASTER for the
// replica-stuck fault, with its timings as state. Every statement that
// changes something is recorded.
type fakeReplica struct {
	mu                         sync.Mutex
	netTimeout, retry, hbMilli int64 // seconds, seconds, milliseconds
	io                         string
	binlogPos, slavePos        string // what it wrote, what it applied
	changes                    []string
}

func newFakeReplica(t *testing.T, netTimeout, retry int64, hb time.Duration) (*replica.Conn, *fakeReplica) {
	t.Helper()
	r := &fakeReplica{netTimeout: netTimeout, retry: retry, hbMilli: hb.Milliseconds(), io: "Yes", binlogPos: "0-1-10", slavePos: "0-1-10"}
	s := &fakesql.Server{Version: "10.11.6-MariaDB-0+deb12u1", Comment: "Debian 12", Handle: r.query, Exec: r.exec}
	c, err := replica.FromDB(context.Background(), s.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

func (r *fakeReplica) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.changes...)
}

var (
	changeRE = regexp.MustCompile(`^CHANGE MASTER TO MASTER_CONNECT_RETRY=(\d+)(?:, MASTER_HEARTBEAT_PERIOD=([0-9.]+))?$`)
	netRE    = regexp.MustCompile(`^SET GLOBAL slave_net_timeout = (\d+)$`)
)

// exec records every statement run with Exec and applies the ones it
// knows.
func (r *fakeReplica) exec(q string, _ []driver.NamedValue) fakesql.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, q)
	switch {
	case q == "STOP SLAVE", q == "START SLAVE", q == "STOP REPLICA", q == "START REPLICA":
	case changeRE.MatchString(q):
		m := changeRE.FindStringSubmatch(q)
		r.retry, _ = strconv.ParseInt(m[1], 10, 64)
		if m[2] != "" {
			f, _ := strconv.ParseFloat(m[2], 64)
			r.hbMilli = int64(f * 1000)
		}
	case netRE.MatchString(q):
		r.netTimeout, _ = strconv.ParseInt(netRE.FindStringSubmatch(q)[1], 10, 64)
	default:
		return fakesql.Result{Err: fmt.Errorf("fake replica: unexpected statement %q", q)}
	}
	return fakesql.Result{}
}

func (r *fakeReplica) set(f func(r *fakeReplica)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (r *fakeReplica) query(q string, args []driver.NamedValue) fakesql.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch q {
	case "SELECT @@GLOBAL.slave_net_timeout":
		return fakesql.One(q[7:], strconv.FormatInt(r.netTimeout, 10))
	case "SELECT @@GLOBAL.gtid_slave_pos":
		return fakesql.One(q[7:], r.slavePos)
	case "SELECT @@GLOBAL.gtid_binlog_pos":
		return fakesql.One(q[7:], r.binlogPos)
	case "SELECT MASTER_GTID_WAIT(?, ?)":
		if args[0].Value == r.slavePos {
			return fakesql.One("w", "0")
		}
		return fakesql.One("w", "-1")
	case "SELECT @@GLOBAL.master_retry_count":
		return fakesql.One(q[7:], "100000")
	case "SHOW GLOBAL STATUS LIKE 'Slave_heartbeat_period'":
		return fakesql.Result{Cols: []string{"Variable_name", "Value"}, Rows: [][]any{{"Slave_heartbeat_period", strconv.FormatFloat(float64(r.hbMilli)/1000, 'f', 3, 64)}}}
	case "SHOW REPLICA STATUS":
		cols := []string{"Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master", "Master_Host", "Master_Port", "Connect_Retry",
			"Last_IO_Errno", "Last_IO_Error", "Last_SQL_Errno", "Last_SQL_Error", "Gtid_IO_Pos"}
		return fakesql.Result{Cols: cols, Rows: [][]any{{r.io, "Yes", "0", "10.20.11.123", "3306", strconv.FormatInt(r.retry, 10), "0", "", "0", "", r.slavePos}}}
	}
	return fakesql.Result{Err: fmt.Errorf("fake replica: unexpected query %q", q)}
}

// changesOnly drops STOP/START, keeping what changed a setting.
func changesOnly(qs []string) []string {
	var out []string
	for _, q := range qs {
		if !strings.HasPrefix(q, "STOP") && !strings.HasPrefix(q, "START") {
			out = append(out, q)
		}
	}
	return out
}
