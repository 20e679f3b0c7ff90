package fault

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
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
	db := sql.OpenDB(r)
	t.Cleanup(func() { db.Close() })
	c, err := replica.FromDB(context.Background(), db)
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

func (r *fakeReplica) Connect(context.Context) (driver.Conn, error) { return fakeDBConn{r}, nil }
func (r *fakeReplica) Driver() driver.Driver                        { return fakeDBDriver{} }

type fakeDBDriver struct{}

func (fakeDBDriver) Open(string) (driver.Conn, error) { return nil, errors.New("use the connector") }

type fakeDBConn struct{ r *fakeReplica }

func (c fakeDBConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("fake: no prepare") }
func (c fakeDBConn) Close() error                        { return nil }
func (c fakeDBConn) Begin() (driver.Tx, error)           { return nil, errors.New("fake: no tx") }

var (
	changeRE = regexp.MustCompile(`^CHANGE MASTER TO MASTER_CONNECT_RETRY=(\d+)(?:, MASTER_HEARTBEAT_PERIOD=([0-9.]+))?$`)
	netRE    = regexp.MustCompile(`^SET GLOBAL slave_net_timeout = (\d+)$`)
)

func (c fakeDBConn) ExecContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Result, error) {
	r := c.r
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
		return nil, fmt.Errorf("fake replica: unexpected statement %q", q)
	}
	return driver.RowsAffected(0), nil
}

func (r *fakeReplica) set(f func(r *fakeReplica)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (c fakeDBConn) QueryContext(_ context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	one := func(col, v string) driver.Rows { return &fakeDBRows{cols: []string{col}, rows: [][]string{{v}}} }
	switch q {
	case "SELECT VERSION(), @@version_comment":
		return &fakeDBRows{cols: []string{"VERSION()", "@@version_comment"}, rows: [][]string{{"10.11.6-MariaDB-0+deb12u1", "Debian 12"}}}, nil
	case "SELECT @@GLOBAL.slave_net_timeout":
		return one(q[7:], strconv.FormatInt(r.netTimeout, 10)), nil
	case "SELECT @@GLOBAL.gtid_slave_pos":
		return one(q[7:], r.slavePos), nil
	case "SELECT @@GLOBAL.gtid_binlog_pos":
		return one(q[7:], r.binlogPos), nil
	case "SELECT MASTER_GTID_WAIT(?, ?)":
		if args[0].Value == r.slavePos {
			return one("w", "0"), nil
		}
		return one("w", "-1"), nil
	case "SELECT @@GLOBAL.master_retry_count":
		return one(q[7:], "100000"), nil
	case "SHOW GLOBAL STATUS LIKE 'Slave_heartbeat_period'":
		return &fakeDBRows{cols: []string{"Variable_name", "Value"}, rows: [][]string{{"Slave_heartbeat_period", strconv.FormatFloat(float64(r.hbMilli)/1000, 'f', 3, 64)}}}, nil
	case "SHOW REPLICA STATUS":
		cols := []string{"Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master", "Master_Host", "Master_Port", "Connect_Retry",
			"Last_IO_Errno", "Last_IO_Error", "Last_SQL_Errno", "Last_SQL_Error", "Gtid_IO_Pos"}
		return &fakeDBRows{cols: cols, rows: [][]string{{r.io, "Yes", "0", "10.20.11.123", "3306", strconv.FormatInt(r.retry, 10), "0", "", "0", "", r.slavePos}}}, nil
	}
	return nil, fmt.Errorf("fake replica: unexpected query %q", q)
}

type fakeDBRows struct {
	cols []string
	rows [][]string
	i    int
}

func (r *fakeDBRows) Columns() []string { return r.cols }
func (r *fakeDBRows) Close() error      { return nil }
func (r *fakeDBRows) Next(dest []driver.Value) error {
	if r.i >= len(r.rows) {
		return io.EOF
	}
	for j, v := range r.rows[r.i] {
		dest[j] = []byte(v)
	}
	r.i++
	return nil
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
