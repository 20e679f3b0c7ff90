package scenarios

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/workload"
	"github.com/drdrill/drdrill/internal/fakesql"
)

// site-loss refuses a MySQL server before it changes anything: its lost
// writes are read with mariadb-binlog and the rebuild uses mariadb-dump.
func TestSiteLossRefusesMySQL(t *testing.T) {
	conn := func(version, comment string) *replica.Conn {
		s := &fakesql.Server{Version: version, Comment: comment}
		c, err := replica.FromDB(context.Background(), s.Open(t))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	maria := conn("10.11.6-MariaDB-log", "mariadb.org binary distribution")
	mysql := conn("8.4.3", "MySQL Community Server - GPL")
	for _, tc := range []struct {
		primary, replica *replica.Conn
		want             string
	}{
		{mysql, maria, "aws's database is mysql: the drill is MariaDB only"},
		{maria, mysql, "onprem's database is mysql: the drill is MariaDB only"},
	} {
		s := &siteDrill{Drill: &Drill{Primary: &target.Site{Name: "aws", DB: tc.primary}, Replica: &target.Site{Name: "onprem", DB: tc.replica}},
			o: SiteLossOptions{}.withDefaults()}
		if err := s.prepare(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("prepare: %v, want %q", err, tc.want)
		}
	}
}

// The outage's errno is recorded with the change to Connecting or, when it
// is filled a poll later, as an io_error note: both match (a matcher that
// missed the note cost every wan-blackhole drill a 2 s wait).
func TestIOErrnoMatchesTheStateOrTheNote(t *testing.T) {
	tl := timeline.New()
	match := ioErrno(replica.IOConnecting)
	for _, tc := range []struct {
		kind   string
		detail any
		want   bool
	}{
		{timeline.KindIOState, timeline.IOState{From: "Yes", To: "Connecting", LastIOErrno: 2003}, true},
		{timeline.KindIOState, timeline.IOState{From: "Yes", To: "Connecting"}, false},
		{timeline.KindNote, timeline.IOErrorNote{To: "Connecting", LastIOErrno: 2003}, true},
		{timeline.KindNote, timeline.IOErrorNote{To: "No", LastIOErrno: 2003}, false},
		{timeline.KindIOState, timeline.IOState{From: "Connecting", To: "Yes"}, false},
	} {
		if got := match(tl.Add("replica/onprem", tc.kind, tc.detail)); got != tc.want {
			t.Errorf("%s %+v: match %v, want %v", tc.kind, tc.detail, got, tc.want)
		}
	}
}

// A seed row whose write's outcome is unknown (the connection broke after
// the statement was sent) is written once more on a fresh connection; the
// first stays unknown in the ledger. A definite failure is not retried.
func TestPingSureWritesOnceMoreAfterAnUnknownOutcome(t *testing.T) {
	var inserts int
	failFirst := mysql.ErrInvalidConn
	srv := &fakesql.Server{Version: "10.11.6-MariaDB-log",
		Handle: func(q string, _ []driver.NamedValue) fakesql.Result { return fakesql.One("id", "7") }, // CONNECTION_ID()
		Exec: func(q string, _ []driver.NamedValue) fakesql.Result {
			if inserts++; inserts == 1 {
				return fakesql.Result{Err: failFirst}
			}
			return fakesql.Result{InsertID: int64(40 + inserts)}
		}}
	db := srv.Open(t)
	w := workload.New("d-unit")
	var why error
	if err := pingSure(context.Background(), w, db, workload.PhaseDuring, workload.MsgDuring, func(err error) { why = err }); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(why, workload.ErrOutcomeUnknown) || inserts != 2 {
		t.Fatalf("retried because %v after %d inserts, want an unknown outcome and 2 inserts", why, inserts)
	}
	if e, u := w.Ledger.Entries(), w.Ledger.Unknown(); len(e) != 1 || e[0].Seq != 2 || e[0].ID != 42 || len(u) != 1 || u[0].Seq != 1 {
		t.Fatalf("ledger: acked %+v, unknown %+v", e, u)
	}
	// A refusal by the server is an answer: no second write.
	inserts, failFirst, why = 0, &mysql.MySQLError{Number: 1290, Message: "read-only"}, nil
	if err := pingSure(context.Background(), w, db, workload.PhaseDuring, workload.MsgDuring, func(err error) { why = err }); err == nil || why != nil || inserts != 1 {
		t.Fatalf("a refused write: err %v, retried %v, %d inserts", err, why, inserts)
	}
}
