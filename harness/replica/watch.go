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
//   - timeline.KindIOState when the IO state changes (and for the first
//     read, with from = nil and initial = true): from, to, last_io_errno,
//     last_io_error, seconds_behind (nil is JSON null);
//   - timeline.KindSQLState likewise for the SQL thread ("Yes"/"No"), with
//     last_sql_errno and last_sql_error;
//   - timeline.KindNote "io_error"/"sql_error" when only an errno changes;
//   - timeline.KindNote "poll_error" once per distinct poll error, and
//     "poll_ok" when polls succeed again.
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
			d := ioDetail(cur)
			d["from"] = ioName(prev)
			if first {
				d["from"], d["initial"] = nil, true
			}
			tl.AddAt(at, source, timeline.KindIOState, d)
		} else if prev.LastIOErrno != cur.LastIOErrno {
			d := ioDetail(cur)
			d["event"] = "io_error"
			d["io"] = ioName(cur)
			d["prev_last_io_errno"] = prev.LastIOErrno
			tl.AddAt(at, source, timeline.KindNote, d)
		}
		if sqlChanged {
			d := sqlDetail(cur)
			d["from"] = sqlName(prev)
			if first {
				d["from"], d["initial"] = nil, true
			}
			tl.AddAt(at, source, timeline.KindSQLState, d)
		} else if prev.LastSQLErrno != cur.LastSQLErrno {
			d := sqlDetail(cur)
			d["event"] = "sql_error"
			d["sql"] = sqlName(cur)
			d["prev_last_sql_errno"] = prev.LastSQLErrno
			tl.AddAt(at, source, timeline.KindNote, d)
		}
		first = false
	}
	onError := func(err error) {
		msg := err.Error()
		if msg == lastErr {
			return
		}
		lastErr = msg
		tl.Add(source, timeline.KindNote, map[string]any{"event": "poll_error", "error": msg})
	}
	onOK := func(cur Status) {
		if lastErr != "" {
			tl.AddAt(observedAt(cur), source, timeline.KindNote, map[string]any{"event": "poll_ok", "after_error": lastErr})
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

func ioDetail(s Status) map[string]any {
	var behind any
	if s.SecondsBehind != nil {
		behind = *s.SecondsBehind
	}
	return map[string]any{
		"to":             ioName(s),
		"last_io_errno":  s.LastIOErrno,
		"last_io_error":  s.LastIOError,
		"seconds_behind": behind,
	}
}

func sqlDetail(s Status) map[string]any {
	return map[string]any{
		"to":             sqlName(s),
		"last_sql_errno": s.LastSQLErrno,
		"last_sql_error": s.LastSQLError,
	}
}
