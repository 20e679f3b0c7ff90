package workload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/go-sql-driver/mysql"
)

// TestMariaDB runs the writers against one throwaway mariadbd; each subtest
// uses its own drill id, so they do not see each other's rows.
func TestMariaDB(t *testing.T) {
	s := startMariaDB(t)
	t.Run("SeedPings", func(t *testing.T) { testSeedPings(t, s) })
	t.Run("ReadOnlyIsFailedNotUnknown", func(t *testing.T) { testReadOnly(t, s) })
	t.Run("UnknownResolvedLate", func(t *testing.T) { testUnknownResolvedLate(t, s) })
	t.Run("ResolveUnknownBothWays", func(t *testing.T) { testResolveBothWays(t, s) })
	t.Run("SteadyBounded", func(t *testing.T) { testSteadyBounded(t, s) })
	t.Run("SteadyThroughBlockedTable", func(t *testing.T) { testSteadyBlocked(t, s) })
	t.Run("ApplySchemaRejectsSeedTable", func(t *testing.T) { testSeedEraTable(t, s) })
	t.Run("SeedInsertsByHandDoNotCollide", func(t *testing.T) { testSeedByHand(t, s) })
	t.Run("NullTagsIgnoredOrUnexpected", func(t *testing.T) { testNullTags(t, s) })
	t.Run("OldSchemaTableCollidesUntilAltered", func(t *testing.T) { testOldSchemaTable(t, s) })
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// sameAsLedger fails unless rows are exactly the ledger's entries.
func sameAsLedger(t *testing.T, entries []Entry, rows []Row) {
	t.Helper()
	if len(rows) != len(entries) {
		t.Fatalf("read back %d rows, ledger has %d acknowledged", len(rows), len(entries))
	}
	for i, e := range entries {
		r := rows[i]
		if r.Writer != e.Writer || r.Seq != e.Seq || r.ID != e.ID || r.Phase != e.Phase || r.Msg != e.Msg {
			t.Fatalf("row %d = %+v, ledger entry %+v", i, r, e)
		}
	}
}

func testSeedPings(t *testing.T, s *server) {
	ctx := ctxT(t, 20*time.Second)
	tl := timeline.New()
	w := New("")
	w.SetTimeline(tl)
	for _, p := range []struct {
		phase Phase
		msg   string
	}{{PhaseBefore, MsgBefore}, {PhaseDuring, MsgDuring}, {PhaseAfter, MsgAfter}} {
		e, err := w.Ping(ctx, s.root, p.phase, p.msg)
		if err != nil {
			t.Fatalf("Ping(%s): %v", p.phase, err)
		}
		if e.ID == 0 || e.Writer != 0 || e.Phase != p.phase || e.Msg != p.msg || e.AckAt.Before(e.SentAt) {
			t.Fatalf("Ping(%s) entry = %+v", p.phase, e)
		}
	}
	entries := w.Ledger.Entries()
	for i, e := range entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d, want %d", i, e.Seq, i+1)
		}
	}
	rows, err := ReadBack(ctx, s.root, DefaultTable, w.DrillID)
	if err != nil {
		t.Fatal(err)
	}
	sameAsLedger(t, entries, rows)
	if other, err := ReadBack(ctx, s.root, DefaultTable, NewDrillID()); err != nil || len(other) != 0 {
		t.Fatalf("ReadBack(other drill) = %v, %v; want no rows", other, err)
	}
	if evs := tl.Filter(timeline.KindWrite, Source); len(evs) != 3 || evs[1].Map()["phase"] != "during" || evs[1].Map()["result"] != "acked" {
		t.Fatalf("timeline write events = %+v", evs)
	}
	if sum := w.Ledger.Summary(); sum.Acked != 3 || sum.AckedByPhase[PhaseDuring] != 1 || sum.Failed+sum.Unknown != 0 {
		t.Fatalf("summary = %+v", sum)
	}
}

func testReadOnly(t *testing.T, s *server) {
	ctx := ctxT(t, 20*time.Second)
	// root has READ ONLY ADMIN; an ordinary user is refused with 1290.
	s.exec(t, "CREATE USER IF NOT EXISTS 'app'@'localhost'")
	s.exec(t, "GRANT SELECT, INSERT ON testdb.* TO 'app'@'localhost'")
	app := s.open(t, "app")
	w := New("")
	if _, err := w.Ping(ctx, app, PhaseBefore, MsgBefore); err != nil {
		t.Fatalf("Ping as app: %v", err)
	}
	s.exec(t, "SET GLOBAL read_only = 1")
	t.Cleanup(func() { _, _ = s.root.Exec("SET GLOBAL read_only = 0") })
	_, err := w.Ping(ctx, app, PhaseDuring, MsgDuring)
	if err == nil || isUnknown(err) {
		t.Fatalf("Ping on read-only server: err = %v, want a definite failure", err)
	}
	failed := w.Ledger.Failed()
	if len(failed) != 1 || failed[0].Errno != 1290 || !failed[0].Sent || failed[0].Seq != 2 {
		t.Fatalf("failed = %+v, want one sent write with errno 1290, seq 2", failed)
	}
	if u := w.Ledger.Unknown(); len(u) != 0 {
		t.Fatalf("unknown = %+v, want none", u)
	}
	s.exec(t, "SET GLOBAL read_only = 0")
	if _, err := w.Ping(ctx, app, PhaseAfter, MsgAfter); err != nil {
		t.Fatalf("Ping after read_only=0: %v", err)
	}
	rows, err := ReadBack(ctx, s.root, DefaultTable, w.DrillID)
	if err != nil {
		t.Fatal(err)
	}
	sameAsLedger(t, w.Ledger.Entries(), rows)
	if rows[1].Seq != 3 {
		t.Fatalf("seq after a failed write = %d, want 3 (seqs are never reused)", rows[1].Seq)
	}
}

// lockTable holds LOCK TABLES testdb.ping WRITE on its own connection until
// the returned unlock runs (also in t.Cleanup).
func lockTable(t *testing.T, s *server) (unlock func()) {
	t.Helper()
	c, err := s.root.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(t.Context(), "LOCK TABLES "+DefaultTable.String()+" WRITE"); err != nil {
		c.Close()
		t.Fatal(err)
	}
	done := false
	unlock = func() {
		if done {
			return
		}
		done = true
		if _, err := c.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
			t.Errorf("unlock tables: %v", err)
		}
		c.Close()
	}
	t.Cleanup(unlock)
	return unlock
}

// An insert that times out client-side keeps waiting on the server and
// commits once the lock goes: its outcome was unknown, and it was written.
func testUnknownResolvedLate(t *testing.T, s *server) {
	ctx := ctxT(t, 30*time.Second)
	w := New("")
	unlock := lockTable(t, s)
	w.Pinger.Timeout = 200 * time.Millisecond
	_, err := w.Ping(ctx, s.root, PhaseDuring, MsgDuring)
	if !isUnknown(err) {
		t.Fatalf("Ping on a locked table: err = %v, want ErrOutcomeUnknown", err)
	}
	u := w.Ledger.Unknown()
	if len(u) != 1 || u[0].ConnID == 0 || len(w.Ledger.Entries()) != 0 {
		t.Fatalf("unknown = %+v, entries = %+v; want one unknown with its connection id", u, w.Ledger.Entries())
	}

	// While the statement still runs on the server it cannot be resolved.
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	res, err := w.Ledger.ResolveUnknown(short, s.root)
	cancel()
	if err == nil || res.Pending != 1 || res.Late+res.NotWritten != 0 {
		t.Fatalf("ResolveUnknown while the insert waits = %+v, %v; want 1 pending and an error", res, err)
	}

	unlock()
	res, err = w.Ledger.ResolveUnknown(ctx, s.root)
	if err != nil || res != (Resolution{Late: 1}) {
		t.Fatalf("ResolveUnknown = %+v, %v; want 1 late", res, err)
	}
	entries := w.Ledger.Entries()
	if len(entries) != 1 || !entries[0].Late || entries[0].ID == 0 || len(w.Ledger.Unknown()) != 0 {
		t.Fatalf("entries = %+v, unknown = %+v", entries, w.Ledger.Unknown())
	}
	rows, err := ReadBack(ctx, s.root, DefaultTable, w.DrillID)
	if err != nil {
		t.Fatal(err)
	}
	sameAsLedger(t, entries, rows)
}

func testResolveBothWays(t *testing.T, s *server) {
	ctx := ctxT(t, 20*time.Second)
	w := New("")
	// Seq 1 reached the server, seq 2 did not; the client saw neither reply.
	s.exec(t, "INSERT INTO "+DefaultTable.String()+" (msg, drill_id, writer, seq, phase) VALUES (?, ?, 0, 1, 'during')", MsgDuring, w.DrillID)
	now := time.Now()
	w.Ledger.AddUnknown(Attempt{Writer: 0, Seq: 1, Phase: PhaseDuring, Msg: MsgDuring, SentAt: now, Sent: true, Err: "invalid connection"})
	w.Ledger.AddUnknown(Attempt{Writer: 0, Seq: 2, Phase: PhaseDuring, Msg: MsgDuring, SentAt: now, Sent: true, Err: "invalid connection"})
	res, err := w.Ledger.ResolveUnknown(ctx, s.root)
	if err != nil || res != (Resolution{Late: 1, NotWritten: 1}) {
		t.Fatalf("ResolveUnknown = %+v, %v; want 1 late, 1 not written", res, err)
	}
	if e := w.Ledger.Entries(); len(e) != 1 || e[0].Seq != 1 || !e[0].Late {
		t.Fatalf("entries = %+v", e)
	}
	if nw := w.Ledger.NotWritten(); len(nw) != 1 || nw[0].Seq != 2 {
		t.Fatalf("not written = %+v", nw)
	}
	if sum := w.Ledger.Summary(); sum.Unknown != 0 || sum.Late != 1 || sum.NotWritten != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	// Nothing left: a second call is a no-op.
	if res, err := w.Ledger.ResolveUnknown(ctx, s.root); err != nil || res != (Resolution{}) {
		t.Fatalf("second ResolveUnknown = %+v, %v", res, err)
	}
}

// waitStats polls st's counters until cond holds or ctx ends; giving up, it
// says what it waited for and the counters it saw last.
func waitStats(ctx context.Context, t *testing.T, st *Steady, what string, cond func(Stats) bool) {
	t.Helper()
	err := poll.Until(ctx, what, 5*time.Millisecond, 0, func(context.Context) (bool, string, error) {
		stats := st.Stats()
		return cond(stats), fmt.Sprintf("%+v", stats), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testSteadyBounded(t *testing.T, s *server) {
	ctx := ctxT(t, 30*time.Second)
	w := New("")
	if _, err := w.Ping(ctx, s.root, PhaseBefore, MsgBefore); err != nil { // writer 0 next to the steady writers
		t.Fatal(err)
	}
	st := w.NewSteady(s.root, SteadyConfig{Conns: 4, Rate: 600, MaxRows: 300})
	if first, n := st.Writers(); first != 1 || n != 4 {
		t.Fatalf("Writers() = %d, %d; want 1, 4", first, n)
	}
	st.Start(ctx)
	waitStats(ctx, t, st, "100 acknowledged writes", func(s Stats) bool { return s.Acked >= 100 })
	st.SetPhase(PhaseDuring)
	stats := st.Wait() // stops by itself at MaxRows
	if stats.Attempted != 300 || stats.Acked != 300 || stats.Failed+stats.Unknown != 0 {
		t.Fatalf("stats = %+v, want 300 attempted and acknowledged", stats)
	}
	if stats.Elapsed <= 0 || stats.Rate() <= 0 {
		t.Fatalf("stats elapsed/rate = %v / %v", stats.Elapsed, stats.Rate())
	}
	if again := st.Stop(); again != stats {
		t.Fatalf("Stop after Wait = %+v, want %+v", again, stats)
	}
	entries := w.Ledger.Entries()
	rows, err := ReadBack(ctx, s.root, DefaultTable, w.DrillID)
	if err != nil {
		t.Fatal(err)
	}
	sameAsLedger(t, entries, rows)
	phases := map[Phase]int{}
	next := map[int]int64{}
	for _, e := range entries {
		phases[e.Phase]++
		next[e.Writer]++
		if e.Seq != next[e.Writer] {
			t.Fatalf("writer %d: seq %d, want %d (gap or reuse)", e.Writer, e.Seq, next[e.Writer])
		}
		if e.Writer > 0 && e.Msg != fmt.Sprintf("steady_%s_w%d_%d", e.Phase, e.Writer, e.Seq) {
			t.Fatalf("message %q does not match its tags %+v", e.Msg, e)
		}
	}
	if len(next) != 5 || phases[PhaseBefore] < 100 || phases[PhaseDuring] == 0 {
		t.Fatalf("writers %v, phases %v; want 5 writers, both phases", next, phases)
	}
	// A second Steady takes fresh writer numbers.
	if first, _ := w.NewSteady(s.root, SteadyConfig{}).Writers(); first != 5 {
		t.Fatalf("second Steady starts at writer %d, want 5", first)
	}
}

// Writes into a locked table time out: each is recorded as unknown (or, for
// a connection that could not even prepare, as failed) and never retried
// under the same seq; once resolved, the ledger equals the table exactly.
func testSteadyBlocked(t *testing.T, s *server) {
	ctx := ctxT(t, 30*time.Second)
	w := New("")
	st := w.NewSteady(s.root, SteadyConfig{Conns: 2, Rate: 100, Timeout: 150 * time.Millisecond, MaxRows: 60})
	st.Start(ctx)
	waitStats(ctx, t, st, "20 acknowledged writes", func(s Stats) bool { return s.Acked >= 20 })
	unlock := lockTable(t, s)
	waitStats(ctx, t, st, "4 unknown outcomes", func(s Stats) bool { return s.Unknown >= 4 })
	unlock()
	stats := st.Wait()
	if stats.Attempted != 60 || stats.Acked+stats.Failed+stats.Unknown != 60 || stats.Unknown < 4 {
		t.Fatalf("stats = %+v", stats)
	}
	if got := len(w.Ledger.Unknown()); int64(got) != stats.Unknown {
		t.Fatalf("ledger has %d unknown, stats %d", got, stats.Unknown)
	}
	res, err := w.Ledger.ResolveUnknown(ctx, s.root)
	if err != nil || int64(res.Late+res.NotWritten) != stats.Unknown {
		t.Fatalf("ResolveUnknown = %+v, %v; want all %d settled", res, err, stats.Unknown)
	}
	rows, err := ReadBack(ctx, s.root, DefaultTable, w.DrillID)
	if err != nil {
		t.Fatal(err)
	}
	sameAsLedger(t, w.Ledger.Entries(), rows)
	// Every attempted seq is accounted for exactly once.
	seen := map[[2]int64]string{}
	add := func(kind string, writer int, seq int64) {
		k := [2]int64{int64(writer), seq}
		if prev, ok := seen[k]; ok {
			t.Fatalf("writer %d seq %d is both %s and %s", writer, seq, prev, kind)
		}
		seen[k] = kind
	}
	for _, e := range w.Ledger.Entries() {
		add("acked", e.Writer, e.Seq)
	}
	for _, a := range w.Ledger.Failed() {
		add("failed", a.Writer, a.Seq)
	}
	for _, a := range w.Ledger.NotWritten() {
		add("not written", a.Writer, a.Seq)
	}
	if len(seen) != 60 {
		t.Fatalf("%d writes accounted for, want 60", len(seen))
	}
	t.Logf("stats %+v, resolution %+v", stats, res)
}

func testSeedEraTable(t *testing.T, s *server) {
	ctx := ctxT(t, 20*time.Second)
	s.exec(t, "RENAME TABLE testdb.ping TO testdb.ping_drill")
	t.Cleanup(func() {
		_, _ = s.root.Exec("DROP TABLE IF EXISTS testdb.ping")
		_, _ = s.root.Exec("RENAME TABLE testdb.ping_drill TO testdb.ping")
	})
	// The seed's own table (section 6).
	s.exec(t, `CREATE TABLE testdb.ping (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50),
		created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)`)
	err := ApplySchema(ctx, s.root)
	if err == nil {
		t.Fatal("ApplySchema accepted a table without drill columns")
	}
	for _, col := range []string{"drill_id", "phase", "seq", "writer"} {
		if !strings.Contains(err.Error(), col) {
			t.Fatalf("error %q does not name column %s", err, col)
		}
	}
}

// The seed's own statements by hand (CREATE ... IF NOT EXISTS, then its
// untagged INSERT again and again) succeed on drdrill's table, and a drill
// between them reads back exactly its own rows.
func testSeedByHand(t *testing.T, s *server) {
	ctx := ctxT(t, 20*time.Second)
	before, err := SeedRows(ctx, s.root)
	if err != nil {
		t.Fatal(err)
	}
	w := New("")
	if _, err := w.Ping(ctx, s.root, PhaseBefore, MsgBefore); err != nil {
		t.Fatal(err)
	}
	if err := SeedByHand(ctx, s.root, 5); err != nil {
		t.Fatalf("the seed's statements by hand: %v", err)
	}
	if _, err := w.Ping(ctx, s.root, PhaseAfter, MsgAfter); err != nil {
		t.Fatal(err)
	}
	after, err := SeedRows(ctx, s.root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := UntaggedSeedRows(after), UntaggedSeedRows(before)+5; got != want {
		t.Fatalf("%s shows %d untagged seed rows, want %d", SeedSelect, got, want)
	}
	if len(after) != len(before)+7 {
		t.Fatalf("%s shows %d rows, want %d (+5 by hand, +2 by the drill)", SeedSelect, len(after), len(before)+7)
	}
	rows, err := ReadBack(ctx, s.root, DefaultTable, w.DrillID)
	if err != nil {
		t.Fatal(err)
	}
	sameAsLedger(t, w.Ledger.Entries(), rows)
}

// A row that carries a drill's id but NULL writer, seq and phase (written by
// hand, never by drdrill) is read back with zero tags, which no write has
// (seq starts at 1), so the ledger check reports it; resolving an unknown
// write never mistakes it for one.
func testNullTags(t *testing.T, s *server) {
	ctx := ctxT(t, 20*time.Second)
	w := New("")
	if _, err := w.Ping(ctx, s.root, PhaseBefore, MsgBefore); err != nil {
		t.Fatal(err)
	}
	s.exec(t, "INSERT INTO "+DefaultTable.String()+" (msg, drill_id) VALUES ('by hand', ?)", w.DrillID)
	s.exec(t, "INSERT INTO "+DefaultTable.String()+" (msg) VALUES (NULL)")
	rows, err := ReadBack(ctx, s.root, DefaultTable, w.DrillID)
	if err != nil {
		t.Fatalf("ReadBack with NULL tags: %v", err)
	}
	if len(rows) != 2 || rows[0] != (Row{ID: rows[0].ID, Msg: "by hand"}) || rows[1].Seq != 1 {
		t.Fatalf("rows = %+v, want the hand row with zero tags, then seq 1", rows)
	}
	w.Ledger.AddUnknown(Attempt{Writer: 0, Seq: 2, Phase: PhaseDuring, Msg: MsgDuring, SentAt: time.Now(), Sent: true, Err: "invalid connection"})
	if res, err := w.Ledger.ResolveUnknown(ctx, s.root); err != nil || res != (Resolution{NotWritten: 1}) {
		t.Fatalf("ResolveUnknown = %+v, %v; want 1 not written", res, err)
	}
}

// A table made by the old schema (tags NOT NULL, empty or zero by default)
// is left as it is by CREATE TABLE IF NOT EXISTS: drills still work on it,
// the seed's second untagged INSERT collides, and the documented ALTER
// fixes it.
func testOldSchemaTable(t *testing.T, s *server) {
	ctx := ctxT(t, 20*time.Second)
	s.exec(t, "RENAME TABLE testdb.ping TO testdb.ping_drill")
	t.Cleanup(func() {
		_, _ = s.root.Exec("DROP TABLE IF EXISTS testdb.ping")
		_, _ = s.root.Exec("RENAME TABLE testdb.ping_drill TO testdb.ping")
	})
	s.exec(t, oldSchemaTable)
	if err := ApplySchema(ctx, s.root); err != nil {
		t.Fatalf("ApplySchema on an old-schema table: %v", err)
	}
	var nullable string
	if err := s.root.QueryRowContext(ctx, `SELECT IS_NULLABLE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = 'testdb' AND TABLE_NAME = 'ping' AND COLUMN_NAME = 'drill_id'`).Scan(&nullable); err != nil || nullable != "NO" {
		t.Fatalf("drill_id IS_NULLABLE = %q, %v; want NO (IF NOT EXISTS leaves the table as it is)", nullable, err)
	}
	w := New("")
	if _, err := w.Ping(ctx, s.root, PhaseBefore, MsgBefore); err != nil {
		t.Fatalf("a drill's write on an old-schema table: %v", err)
	}
	err := SeedByHand(ctx, s.root, 2)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1062 || !strings.Contains(err.Error(), "insert 2 of 2") || !strings.Contains(me.Message, "drill_seq") {
		t.Fatalf("the seed's second INSERT on an old-schema table: err = %v, want 1062 on drill_seq", err)
	}
	t.Logf("old schema, second untagged INSERT: %v", me)

	s.exec(t, alterTagsNullable)
	if err := SeedByHand(ctx, s.root, 3); err != nil {
		t.Fatalf("the seed's statements after the ALTER: %v", err)
	}
	if _, err := w.Ping(ctx, s.root, PhaseAfter, MsgAfter); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadBack(ctx, s.root, DefaultTable, w.DrillID)
	if err != nil {
		t.Fatal(err)
	}
	sameAsLedger(t, w.Ledger.Entries(), rows)
}
