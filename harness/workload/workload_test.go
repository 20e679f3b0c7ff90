package workload

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestFixtureSchemaIsTheEmbeddedOne(t *testing.T) {
	fixture, err := os.ReadFile("../../fixtures/schema.sql")
	if err != nil {
		t.Fatalf("read fixtures/schema.sql: %v", err)
	}
	if string(fixture) != Schema {
		t.Fatal("fixtures/schema.sql differs from harness/workload/schema.sql: copy the canonical one over")
	}
}

func TestSchemaStatements(t *testing.T) {
	st := statements(Schema)
	if len(st) != 2 {
		t.Fatalf("schema has %d statements, want 2: %q", len(st), st)
	}
	for _, want := range []string{"drill_id", "seq", "phase", "writer", "UNIQUE KEY drill_seq (drill_id, writer, seq)", "msg        VARCHAR(50)"} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(st[1]) {
			t.Errorf("CREATE TABLE lacks %q", want)
		}
	}
	// Untagged rows (the seed's INSERT by hand) must not collide in drill_seq:
	// every tag is nullable and NULL by default.
	for _, col := range []string{"drill_id   VARCHAR(40)", "seq        BIGINT", "phase      VARCHAR(16)", "writer     INT"} {
		if want := col + " NULL DEFAULT NULL,"; !strings.Contains(st[1], want) {
			t.Errorf("CREATE TABLE lacks %q", want)
		}
	}
	got := statements("-- c\nA;\n  -- d\nB ; ;\n")
	if len(got) != 2 || got[0] != "A" || got[1] != "B" {
		t.Fatalf("statements() = %q", got)
	}
}

func TestNewDrillID(t *testing.T) {
	re := regexp.MustCompile(`^d-[0-9a-f]{12}$`)
	a, b := NewDrillID(), NewDrillID()
	if !re.MatchString(a) || a == b {
		t.Fatalf("NewDrillID() = %q, %q", a, b)
	}
	if w := New(""); !re.MatchString(w.DrillID) || w.Ledger.DrillID() != w.DrillID {
		t.Fatalf("New(\"\") drill id %q / ledger %q", w.DrillID, w.Ledger.DrillID())
	}
	if w := New("d-fixed"); w.DrillID != "d-fixed" {
		t.Fatalf("New(d-fixed).DrillID = %q", w.DrillID)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		want  outcome
		sent  bool
		errno int
	}{
		{"ok", nil, acked, true, 0},
		{"read-only", &mysql.MySQLError{Number: 1290, Message: "read-only"}, failed, true, 1290},
		{"wrapped server error", fmt.Errorf("exec: %w", &mysql.MySQLError{Number: 1213}), failed, true, 1213},
		{"bad conn: nothing sent", driver.ErrBadConn, failed, false, 0},
		{"conn done", sql.ErrConnDone, failed, false, 0},
		{"timeout", context.DeadlineExceeded, unknown, true, 0},
		{"cancelled", context.Canceled, unknown, true, 0},
		{"broken connection", mysql.ErrInvalidConn, unknown, true, 0},
		{"eof", errors.New("unexpected EOF"), unknown, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, sent, errno := classify(tt.err)
			if o != tt.want || sent != tt.sent || errno != tt.errno {
				t.Fatalf("classify(%v) = %v, %v, %d; want %v, %v, %d", tt.err, o, sent, errno, tt.want, tt.sent, tt.errno)
			}
		})
	}
}

func TestLedgerConcurrentAndOrdered(t *testing.T) {
	l := NewLedger("d-test")
	var wg sync.WaitGroup
	for w := 3; w >= 1; w-- {
		wg.Go(func() {
			for seq := int64(10); seq >= 1; seq-- {
				switch {
				case seq%5 == 0:
					l.AddUnknown(Attempt{Writer: w, Seq: seq})
				case seq%4 == 0:
					l.AddFailed(Attempt{Writer: w, Seq: seq, Errno: 1290})
				default:
					l.Ack(Entry{Writer: w, Seq: seq, Phase: PhaseDuring})
				}
			}
		})
	}
	wg.Wait()
	e := l.Entries()
	for i := 1; i < len(e); i++ {
		if !less(e[i-1].Writer, e[i-1].Seq, e[i].Writer, e[i].Seq) {
			t.Fatalf("entries not ordered by (writer, seq) at %d: %+v %+v", i, e[i-1], e[i])
		}
	}
	s := l.Summary()
	if s.Acked != 18 || s.AckedByPhase[PhaseDuring] != 18 || s.Unknown != 6 || s.Failed != 6 || s.Late != 0 {
		t.Fatalf("summary = %+v", s)
	}
	if u := l.Unknown(); u[0].Writer != 1 || u[0].Seq != 5 {
		t.Fatalf("unknown not ordered: %+v", u)
	}
	l.settle(Attempt{Writer: 1, Seq: 5}, &Entry{Writer: 1, Seq: 5, Late: true})
	l.settle(Attempt{Writer: 1, Seq: 10}, nil)
	if s := l.Summary(); s.Unknown != 4 || s.Late != 1 || s.NotWritten != 1 || s.Acked != 19 {
		t.Fatalf("summary after settle = %+v", s)
	}
}

func TestResolveUnknownNothingToDo(t *testing.T) {
	// No unknown writes: the database is never touched (nil would panic).
	res, err := NewLedger("d-x").ResolveUnknown(context.Background(), nil)
	if err != nil || res != (Resolution{}) {
		t.Fatalf("ResolveUnknown on an empty ledger = %+v, %v", res, err)
	}
}

func TestSteadyDefaultsAndStopBeforeStart(t *testing.T) {
	w := New("d-x")
	s := w.NewSteady(nil, SteadyConfig{})
	if s.cfg.Conns != 4 || s.cfg.Rate != 300 || s.cfg.Timeout != DefaultTimeout || s.Phase() != PhaseBefore {
		t.Fatalf("defaults = %+v, phase %q", s.cfg, s.Phase())
	}
	if st := s.Stop(); st != (Stats{}) {
		t.Fatalf("Stop before Start = %+v", st)
	}
	// Stopped before it ran: Run returns at once without touching the nil db.
	done := make(chan Stats)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case st := <-done:
		if st.Attempted != 0 {
			t.Fatalf("Run after Stop attempted %d writes", st.Attempted)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run after Stop did not return")
	}
	<-s.Done()
	if st := (Stats{Acked: 300, Elapsed: 2 * time.Second}); st.Rate() != 150 {
		t.Fatalf("Rate() = %v, want 150", st.Rate())
	}
	if (Stats{}).Rate() != 0 {
		t.Fatal("Rate() of an empty run is not 0")
	}
}
