package replica

import (
	"context"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
)

// Watch polls until ctx is done and calls onChange with the previous and
// the current status on the first good read (prev is the zero Status) and
// whenever the IO state, the SQL thread, either errno or Configured
// changes. Poll errors are skipped; see [WatchErrors] to see them.
func Watch(ctx context.Context, c *Conn, poll time.Duration, onChange func(prev, cur Status)) {
	watch(ctx, c, poll, watchFuncs{change: onChange})
}

// WatchErrors is [Watch] that also reports every failed poll to onError
// (nil: ignore). The watch goes on after an error.
func WatchErrors(ctx context.Context, c *Conn, poll time.Duration, onChange func(prev, cur Status), onError func(error)) {
	watch(ctx, c, poll, watchFuncs{change: onChange, err: onError})
}

// Changed reports whether two statuses differ in what a watch reports.
func Changed(prev, cur Status) bool {
	return prev.Configured != cur.Configured || prev.IO != cur.IO || prev.SQLRunning != cur.SQLRunning ||
		prev.LastIOErrno != cur.LastIOErrno || prev.LastSQLErrno != cur.LastSQLErrno
}

// watchFuncs are a watch's callbacks; nil ones are skipped. ok runs on
// every good read, before change.
type watchFuncs struct {
	change func(prev, cur Status)
	err    func(error)
	ok     func(Status)
}

func watch(ctx context.Context, r statusReader, poll time.Duration, fn watchFuncs) {
	if poll <= 0 {
		poll = DefaultPoll
	}
	var (
		prev  Status
		first = true
	)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		st, err := probe(ctx, r)
		switch {
		case err == nil:
			if fn.ok != nil {
				fn.ok(st)
			}
			if (first || Changed(prev, st)) && fn.change != nil {
				fn.change(prev, st)
			}
			prev, first = st, false
		case ctx.Err() == nil && fn.err != nil:
			fn.err(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WatchTimeline is [Watch] writing to a timeline, until ctx is done:
//   - timeline.KindIOState, a timeline.IOState, when the IO state changes
//     (and for the first read, with Initial set: from is JSON null);
//   - timeline.KindSQLState, a timeline.SQLState, likewise for the SQL
//     thread ("Yes"/"No");
//   - timeline.KindNote, a timeline.IOErrorNote or timeline.SQLErrorNote,
//     when only an errno changes;
//   - timeline.KindNote, a timeline.Note with event "poll_error", once per
//     distinct poll error, and "poll_ok" when polls succeed again.
//
// State events are stamped with the status's ObservedAt.
func WatchTimeline(ctx context.Context, c *Conn, poll time.Duration, tl *timeline.Timeline, source string) {
	watchTimeline(ctx, c, poll, tl, source)
}

func watchTimeline(ctx context.Context, r statusReader, poll time.Duration, tl *timeline.Timeline, source string) {
	var lastErr string
	first := true
	onChange := func(prev, cur Status) {
		at := observedAt(cur)
		ioChanged := first || prev.IO != cur.IO || prev.Configured != cur.Configured
		sqlChanged := first || prev.SQLRunning != cur.SQLRunning || prev.Configured != cur.Configured
		if ioChanged {
			tl.AddAt(at, source, timeline.KindIOState, ioStateDetail(prev, cur, first))
		} else if prev.LastIOErrno != cur.LastIOErrno {
			tl.AddAt(at, source, timeline.KindNote, timeline.IOErrorNote{To: ioName(cur), SecondsBehind: secondsBehind(cur),
				LastIOErrno: cur.LastIOErrno, LastIOError: cur.LastIOError, PrevLastIOErrno: prev.LastIOErrno})
		}
		if sqlChanged {
			tl.AddAt(at, source, timeline.KindSQLState, sqlStateDetail(prev, cur, first))
		} else if prev.LastSQLErrno != cur.LastSQLErrno {
			tl.AddAt(at, source, timeline.KindNote, timeline.SQLErrorNote{To: sqlName(cur),
				LastSQLErrno: cur.LastSQLErrno, LastSQLError: cur.LastSQLError, PrevLastSQLErrno: prev.LastSQLErrno})
		}
		first = false
	}
	onError := func(err error) {
		msg := err.Error()
		if msg == lastErr {
			return
		}
		lastErr = msg
		tl.Add(source, timeline.KindNote, timeline.Note{"event": "poll_error", "error": msg})
	}
	onOK := func(cur Status) {
		if lastErr != "" {
			tl.AddAt(observedAt(cur), source, timeline.KindNote, timeline.Note{"event": "poll_ok", "after_error": lastErr})
			lastErr = ""
		}
	}
	watch(ctx, r, poll, watchFuncs{change: onChange, err: onError, ok: onOK})
}

func observedAt(s Status) time.Time {
	if s.ObservedAt.IsZero() {
		return time.Now()
	}
	return s.ObservedAt
}

// ioName is the IO state as events carry it; "" (not configured) stays "".
func ioName(s Status) string { return string(s.IO) }

func sqlName(s Status) string {
	if !s.Configured {
		return ""
	}
	if s.SQLRunning {
		return "Yes"
	}
	return "No"
}

// secondsBehind is a copy: the event must not share the status's pointer.
func secondsBehind(s Status) *int64 {
	if s.SecondsBehind == nil {
		return nil
	}
	v := *s.SecondsBehind
	return &v
}

// ioStateDetail is the IO thread's change from prev to cur (first: the
// watch's first read, with no previous state).
func ioStateDetail(prev, cur Status, first bool) timeline.IOState {
	d := timeline.IOState{From: ioName(prev), To: ioName(cur), Initial: first, SecondsBehind: secondsBehind(cur),
		LastIOErrno: cur.LastIOErrno, LastIOError: cur.LastIOError}
	if first {
		d.From = ""
	}
	return d
}

func sqlStateDetail(prev, cur Status, first bool) timeline.SQLState {
	d := timeline.SQLState{From: sqlName(prev), To: sqlName(cur), Initial: first,
		LastSQLErrno: cur.LastSQLErrno, LastSQLError: cur.LastSQLError}
	if first {
		d.From = ""
	}
	return d
}
