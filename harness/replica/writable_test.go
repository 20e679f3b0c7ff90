package replica

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drdrill/drdrill/harness/poll"
)

// roServer is a fake server whose read_only (and super_read_only) the test
// sets; fail makes every read error.
type roServer struct {
	mu              sync.Mutex
	readOnly, super bool
	fail            error
	reads           int
}

func (s *roServer) set(readOnly bool) {
	s.mu.Lock()
	s.readOnly = readOnly
	s.mu.Unlock()
}

func (s *roServer) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *roServer) handle(q string, _ []driver.NamedValue) fakesql.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.fail != nil {
		return fakesql.Result{Err: s.fail}
	}
	switch q {
	case "SELECT @@GLOBAL.read_only":
		return fakesql.One("@@GLOBAL.read_only", boolStr(s.readOnly))
	case "SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only":
		return fakesql.Result{Cols: []string{"ro", "sro"}, Rows: [][]any{{boolStr(s.readOnly), boolStr(s.super)}}}
	}
	return fakesql.Result{Err: errors.New("fake: unexpected " + q)}
}

func waitRecord(t *testing.T, w *WritableWatch, what string, cond func(WritableRecord) bool) WritableRecord {
	t.Helper()
	var rec WritableRecord
	require.NoError(t, poll.Until(context.Background(), what, time.Millisecond, 5*time.Second,
		func(context.Context) (bool, string, error) {
			rec = w.Record()
			return cond(rec), fmt.Sprintf("%d rounds, changes %v, two writers %v, %d errors (%s)",
				rec.Rounds, rec.Changes, rec.TwoWriters, rec.Errors, rec.LastError), nil
		}))
	return rec
}

func TestWatchWritableSeesTwoWriters(t *testing.T) {
	for _, version := range []string{"10.11.19-MariaDB-log", "8.0.36"} {
		t.Run(version, func(t *testing.T) {
			old, nw := &roServer{}, &roServer{readOnly: true, super: true}
			oldC, _ := newFakeConn(t, version, old.handle)
			newC, _ := newFakeConn(t, version, nw.handle)
			w := WatchWritable(context.Background(), map[string]*Conn{"aws-db": oldC, "aws-db2": newC}, time.Millisecond)
			defer w.Stop()
			waitRecord(t, w, "first samples", func(r WritableRecord) bool { return r.Rounds >= 2 })

			nw.set(false) // promoted before the old writer was demoted: two writers
			waitRecord(t, w, "two writers seen", func(r WritableRecord) bool { return len(r.TwoWriters) == 1 })
			old.set(true)
			waitRecord(t, w, "aws-db read-only", func(r WritableRecord) bool { return len(r.Changes) == 4 })
			rec := w.Stop()
			assert.Equal(t, rec, w.Stop(), "Stop is idempotent")

			require.Len(t, rec.TwoWriters, 1)
			tw := rec.TwoWriters[0]
			assert.Equal(t, []string{"aws-db", "aws-db2"}, tw.Servers)
			assert.False(t, tw.To.Before(tw.From))
			assert.GreaterOrEqual(t, rec.TwoWritersFor(), time.Millisecond, "never less than one round")
			assert.Equal(t, tw.To.Sub(tw.From)+time.Millisecond, rec.TwoWritersFor())
			var seq []string
			for _, c := range rec.Changes {
				seq = append(seq, fmt.Sprintf("%s=%v", c.Server, c.Writable))
			}
			assert.Equal(t, []string{"aws-db=true", "aws-db2=false", "aws-db2=true", "aws-db=false"}, seq)
			assert.Zero(t, rec.Errors)
			assert.Positive(t, rec.MaxGap)
			assert.Equal(t, time.Millisecond, rec.Every)
		})
	}
}

func TestWatchWritableOneWriterIsClean(t *testing.T) {
	a, b := &roServer{}, &roServer{readOnly: true}
	ac, _ := newFakeConn(t, "10.11.19-MariaDB", a.handle)
	bc, _ := newFakeConn(t, "10.11.19-MariaDB", b.handle)
	w := WatchWritable(context.Background(), map[string]*Conn{"a": ac, "b": bc}, 0)
	waitRecord(t, w, "10 rounds", func(r WritableRecord) bool { return r.Rounds >= 10 })
	rec := w.Stop()
	assert.Empty(t, rec.TwoWriters)
	assert.Zero(t, rec.TwoWritersFor())
	assert.Equal(t, DefaultWritableEvery, rec.Every)
	assert.Len(t, rec.Changes, 2, "first sample of each server only")
	assert.Zero(t, rec.Errors)
	js, err := json.Marshal(rec)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"two_writers":[]`)
}

func TestWatchWritableCountsFailedReads(t *testing.T) {
	a, b := &roServer{}, &roServer{readOnly: true}
	ac, _ := newFakeConn(t, "10.11.19-MariaDB", a.handle)
	bc, _ := newFakeConn(t, "10.11.19-MariaDB", b.handle)
	b.setFail(errors.New("connection refused"))
	w := WatchWritable(context.Background(), map[string]*Conn{"a": ac, "b": bc, "c": nil}, time.Millisecond)
	rec := waitRecord(t, w, "failed reads", func(r WritableRecord) bool { return r.Errors >= 6 })
	rec = w.Stop()
	assert.Zero(t, rec.Rounds, "no round read every server")
	assert.Empty(t, rec.TwoWriters)
	assert.Len(t, rec.Changes, 1, "a failed read is neither writable nor read-only")
	assert.Equal(t, "c: no connection", rec.LastError, "servers are read in name order; the last failure is kept")
	assert.Zero(t, rec.MaxGap)

	b.setFail(nil)
	a.setFail(errors.New("Lost connection to server during query"))
	w = WatchWritable(context.Background(), map[string]*Conn{"a": ac, "b": bc}, time.Millisecond)
	rec = waitRecord(t, w, "a's failed reads", func(r WritableRecord) bool { return r.Errors >= 3 })
	rec = w.Stop()
	assert.Contains(t, rec.LastError, "a: read read_only: Lost connection")
	assert.Equal(t, []WritableChange{{At: rec.Changes[0].At, Server: "b", Writable: false}}, rec.Changes)
}

func TestWatchWritableEndsWithContext(t *testing.T) {
	a := &roServer{}
	ac, _ := newFakeConn(t, "10.11.19-MariaDB", a.handle)
	ctx, cancel := context.WithCancel(context.Background())
	w := WatchWritable(ctx, map[string]*Conn{"a": ac}, time.Millisecond)
	waitRecord(t, w, "a round", func(r WritableRecord) bool { return r.Rounds >= 1 })
	cancel()
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end with its context")
	}
	assert.Zero(t, w.Stop().Errors, "reads cut short by the end are not errors")
}

// The round rules, on samples given directly.
func TestWritableRoundRules(t *testing.T) {
	w := &WritableWatch{names: []string{"a", "b", "c"}, last: make([]int8, 3), open: -1,
		rec: WritableRecord{Every: 5 * time.Millisecond}}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	rw, ro, bad := sample{}, sample{readOnly: true}, sample{err: errors.New("timeout")}
	for _, r := range []struct {
		at      int
		samples []sample
	}{
		{0, []sample{rw, ro, ro}},
		{5, []sample{rw, rw, ro}},   // two writers open
		{10, []sample{rw, bad, ro}}, // cannot tell: neither ends nor extends
		{15, []sample{rw, ro, rw}},  // seen again: extended, c joins
		{20, []sample{rw, ro, ro}},  // ended
		{40, []sample{rw, rw, ro}},  // a second interval, one round
		{45, []sample{rw, rw, ro}},  // extended
		{50, []sample{bad, ro, ro}}, // at most one writer even if a was: ended
		{55, []sample{rw, bad, rw}}, // a third interval, opened by a round with a failed read
	} {
		w.round(ms(r.at), r.samples, nil)
	}
	rec := w.rec
	require.Len(t, rec.TwoWriters, 3)
	assert.Equal(t, TwoWriters{From: ms(5), To: ms(15), Servers: []string{"a", "b", "c"}}, rec.TwoWriters[0])
	assert.Equal(t, TwoWriters{From: ms(40), To: ms(45), Servers: []string{"a", "b"}}, rec.TwoWriters[1])
	assert.Equal(t, TwoWriters{From: ms(55), To: ms(55), Servers: []string{"a", "c"}}, rec.TwoWriters[2])
	assert.Equal(t, (10+5)*time.Millisecond+(5+5)*time.Millisecond+5*time.Millisecond, rec.TwoWritersFor())
	assert.Equal(t, 6, rec.Rounds)
	assert.Equal(t, 3, rec.Errors)
	assert.Equal(t, "b: timeout", rec.LastError)
	assert.Equal(t, 20*time.Millisecond, rec.MaxGap, "20 → 40 ms")
	w.round(ms(90), []sample{ro, ro, bad}, nil)
	assert.Equal(t, 45*time.Millisecond, w.rec.MaxGap, "a failing tail: 45 → 90 ms")
}

// BenchmarkWritableRound measures one round over two servers (the fake
// driver's own allocations included).
func BenchmarkWritableRound(b *testing.B) {
	a, c := &roServer{}, &roServer{readOnly: true}
	ac, _ := newFakeConn(b, "10.11.19-MariaDB", a.handle)
	cc, _ := newFakeConn(b, "10.11.19-MariaDB", c.handle)
	w := &WritableWatch{names: []string{"a", "c"}, conns: []*Conn{ac, cc}, last: make([]int8, 2), open: -1}
	results := make([]sample, 2)
	var buf []int
	var wg sync.WaitGroup
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		at := time.Now()
		for i, c := range w.conns {
			wg.Add(1)
			go w.read(ctx, c, &results[i], &wg)
		}
		wg.Wait()
		buf = w.round(at, results, buf[:0])
	}
}

// BenchmarkWritableRecord is round's own cost, without the reads.
func BenchmarkWritableRecord(b *testing.B) {
	w := &WritableWatch{names: []string{"a", "c"}, last: make([]int8, 2), open: -1}
	results := []sample{{}, {readOnly: true}}
	var buf []int
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(time.Millisecond)
		buf = w.round(at, results, buf[:0])
	}
}
