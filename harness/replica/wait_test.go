package replica

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// script is a statusReader that plays a list of reads, then repeats the
// last one forever.
type script struct {
	mu    sync.Mutex
	steps []step
	n     int
}

type step struct {
	st  Status
	err error
}

func (s *script) Status(ctx context.Context) (Status, error) {
	if err := ctx.Err(); err != nil {
		return Status{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.n, len(s.steps)-1)
	s.n++
	st := s.steps[i]
	st.st.ObservedAt = time.Now()
	return st.st, st.err
}

func (s *script) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

var (
	stYes        = Status{Configured: true, IO: IOYes, SQLRunning: true, SecondsBehind: i64(0)}
	stConnecting = Status{Configured: true, IO: IOConnecting, SQLRunning: true, LastIOErrno: 2003,
		LastIOError: "error reconnecting to master 'repl@10.20.11.123:3306' - retry-time: 1  maximum-retries: 100000"}
	stConnecting1045 = Status{Configured: true, IO: IOConnecting, SQLRunning: true, LastIOErrno: 1045, LastIOError: "Access denied"}
	stSQLStopped     = Status{Configured: true, IO: IOYes, LastSQLErrno: 1062, LastSQLError: "Duplicate entry"}
	errGone          = errors.New("dial unix /lab/onprem/mysqld.sock: connect: connection refused")
)

func TestWaitIO(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := &script{steps: []step{{st: stYes}, {err: errGone}, {st: stConnecting}}}
	st, err := waitIO(ctx, s, time.Millisecond, IOConnecting, IONo)
	require.NoError(t, err)
	assert.Equal(t, IOConnecting, st.IO)
	assert.Equal(t, 3, s.calls(), "a poll error does not end the wait")
}

func TestWaitIOFirstProbeImmediate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := waitIO(ctx, &script{steps: []step{{st: stYes}}}, time.Hour, IOYes)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second)
}

func TestWaitIOTimesOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s := &script{steps: []step{{st: stConnecting}, {err: errGone}}}
	st, err := waitIO(ctx, s, 5*time.Millisecond, IOYes)
	require.Error(t, err)
	var we *StateWaitError
	require.ErrorAs(t, err, &we)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, IOConnecting, st.IO, "returns the last status seen")
	assert.True(t, we.Seen)
	msg := err.Error()
	for _, want := range []string{"IO thread Yes", "IO=Connecting", "last_io_errno=2003", "retry-time: 1", "connection refused"} {
		assert.Contains(t, msg, want)
	}
}

func TestWaitIONeverRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := waitIO(ctx, &script{steps: []step{{err: errGone}}}, 5*time.Millisecond, IOYes, IONone)
	var we *StateWaitError
	require.ErrorAs(t, err, &we)
	assert.False(t, we.Seen)
	assert.Contains(t, err.Error(), "IO thread Yes or not configured")
	assert.Contains(t, err.Error(), "no status was read")
	assert.Contains(t, err.Error(), "connection refused")
}

func TestWaitIONoState(t *testing.T) {
	_, err := waitIO(context.Background(), &script{steps: []step{{st: stYes}}}, 0)
	assert.Error(t, err)
}

func TestWaitSQLRunningAndWaitFor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := &script{steps: []step{{st: stSQLStopped}, {st: stYes}}}
	st, err := waitFor(ctx, s, time.Millisecond, "SQL thread Yes", func(s Status) bool { return s.SQLRunning })
	require.NoError(t, err)
	assert.True(t, st.SQLRunning)

	short, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	_, err = waitFor(short, &script{steps: []step{{st: stSQLStopped}}}, 5*time.Millisecond, "SQL thread Yes",
		func(s Status) bool { return s.SQLRunning })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wait for SQL thread Yes")
	assert.Contains(t, err.Error(), "SQL=No")
	assert.Contains(t, err.Error(), "last_sql_errno=1062")
}

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &script{steps: []step{
		{st: stYes}, {st: stYes}, {err: errGone}, {st: stConnecting}, {st: stConnecting},
		{st: stConnecting1045}, {st: stYes},
	}}
	type change struct{ prev, cur IOState }
	var got []change
	var errs int
	watch(ctx, s, time.Millisecond, watchFuncs{
		change: func(prev, cur Status) {
			got = append(got, change{prev.IO, cur.IO})
			if len(got) == 4 {
				cancel()
			}
		},
		err: func(error) { errs++ },
	})
	assert.Equal(t, []change{{IONone, IOYes}, {IOYes, IOConnecting}, {IOConnecting, IOConnecting}, {IOConnecting, IOYes}}, got)
	assert.Equal(t, 1, errs)
}

func TestWatchTimeline(t *testing.T) {
	tl := timeline.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &script{steps: []step{
		{st: stYes}, {err: errGone}, {err: errGone}, {st: stYes},
		{st: stConnecting}, {st: stConnecting1045}, {st: stYes}, {st: stSQLStopped},
	}}
	tl.Subscribe(func(e timeline.Event) {
		if e.Kind == timeline.KindSQLState && e.Map()["to"] == "No" {
			cancel()
		}
	})
	done := make(chan struct{})
	go func() { watchTimeline(ctx, s, time.Millisecond, tl, "replica/onprem"); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not end")
	}

	evs := tl.Filter("", "replica/onprem")
	var kinds []string
	for _, e := range evs {
		k := e.Kind
		if ev, ok := e.Map()["event"]; ok {
			k += ":" + ev.(string)
		}
		kinds = append(kinds, k)
	}
	assert.Equal(t, []string{
		"io_state", "sql_state", // first read
		"note:poll_error", // once, though it failed twice
		"note:poll_ok",
		"io_state",      // Yes -> Connecting
		"note:io_error", // 2003 -> 1045 while Connecting
		"io_state",      // Connecting -> Yes
		"sql_state",     // Yes -> No
	}, kinds)

	io := tl.Filter(timeline.KindIOState, "")
	require.Len(t, io, 3)
	assert.Nil(t, io[0].Map()["from"])
	assert.Equal(t, true, io[0].Map()["initial"])
	assert.Equal(t, "Yes", io[1].Map()["from"])
	assert.Equal(t, "Connecting", io[1].Map()["to"])
	assert.Equal(t, 2003, io[1].Map()["last_io_errno"])
	assert.Nil(t, io[1].Map()["seconds_behind"])
	assert.Equal(t, int64(0), io[2].Map()["seconds_behind"])

	b, err := json.Marshal(io[1])
	require.NoError(t, err)
	assert.Contains(t, string(b), `"seconds_behind":null`)
	assert.Contains(t, string(b), `"kind":"io_state"`)

	sqlEv := tl.Filter(timeline.KindSQLState, "")
	require.Len(t, sqlEv, 2)
	assert.Equal(t, "Yes", sqlEv[1].Map()["from"])
	assert.Equal(t, 1062, sqlEv[1].Map()["last_sql_errno"])

	// The same, typed (Detail above is the legacy map view of these).
	first, ok := timeline.As[timeline.IOState](io[0])
	require.True(t, ok)
	assert.Equal(t, timeline.IOState{To: "Yes", Initial: true, SecondsBehind: first.SecondsBehind}, first)
	require.NotNil(t, first.SecondsBehind)
	assert.Equal(t, int64(0), *first.SecondsBehind)
	down, ok := timeline.As[timeline.IOState](io[1])
	require.True(t, ok)
	assert.Equal(t, timeline.IOState{From: "Yes", To: "Connecting", LastIOErrno: 2003, LastIOError: stConnecting.LastIOError}, down)
	var errNote timeline.IOErrorNote
	for _, e := range evs {
		if n, ok := timeline.As[timeline.IOErrorNote](e); ok {
			errNote = n
		}
	}
	assert.Equal(t, timeline.IOErrorNote{To: "Connecting", LastIOErrno: 1045, LastIOError: stConnecting1045.LastIOError, PrevLastIOErrno: 2003}, errNote)
	stopped, ok := timeline.As[timeline.SQLState](sqlEv[1])
	require.True(t, ok)
	assert.Equal(t, timeline.SQLState{From: "Yes", To: "No", LastSQLErrno: 1062, LastSQLError: stSQLStopped.LastSQLError}, stopped)
}

// A watch stamps events with the moment the status was read, not later.
func TestWatchTimelineStampsObservedAt(t *testing.T) {
	tl := timeline.New()
	observed := tl.Start().Add(123 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	r := readerFunc(func(context.Context) (Status, error) {
		st := stYes
		st.ObservedAt = observed
		cancel()
		return st, nil
	})
	watchTimeline(ctx, r, time.Millisecond, tl, "r")
	evs := tl.Events()
	require.NotEmpty(t, evs)
	assert.Equal(t, 123.0, evs[0].TMS)
}

type readerFunc func(context.Context) (Status, error)

func (f readerFunc) Status(ctx context.Context) (Status, error) { return f(ctx) }

// The exported waits and Watch on a *Conn (fake server): a replica whose SQL
// thread stopped on a duplicate key and is then started again.
func TestConnWaitsAndWatch(t *testing.T) {
	stopped := loadRow(t, "mysql8_sql_error.txt")
	running := loadRow(t, "mysql8_yes.txt")
	newConn := func(t *testing.T, recoverAfter int) *Conn {
		var mu sync.Mutex
		calls := 0
		c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if recoverAfter > 0 && calls > recoverAfter {
				return rowResult(running)
			}
			return rowResult(stopped)
		})
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	st, err := WaitSQLRunning(ctx, newConn(t, 2), time.Millisecond)
	require.NoError(t, err)
	assert.True(t, st.SQLRunning)

	short, cancel2 := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel2()
	_, err = WaitSQLRunning(short, newConn(t, 0), 5*time.Millisecond)
	var we *StateWaitError
	require.ErrorAs(t, err, &we)
	assert.Contains(t, err.Error(), "SQL thread Yes")
	assert.Contains(t, err.Error(), "last_sql_errno=1062")

	wctx, stop := context.WithCancel(ctx)
	var seen []bool
	Watch(wctx, newConn(t, 2), time.Millisecond, func(prev, cur Status) {
		seen = append(seen, cur.SQLRunning)
		if cur.SQLRunning {
			stop()
		}
	})
	assert.Equal(t, []bool{false, true}, seen)
}
