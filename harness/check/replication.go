package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
)

// IO thread states as SHOW REPLICA STATUS reports them.
const (
	ioYes        = "Yes"
	ioConnecting = "Connecting"
)

// ioObs is one observation of source's IO thread: an io_state event, or
// an io_error note (same state, a new errno), typed.
type ioObs struct {
	at            time.Duration
	from          string
	hasFrom       bool // io_state events say where from (JSON null when initial); notes do not
	initial       bool
	to            string
	secondsBehind *int64 // nil: SQL NULL
	errno         int
	msg           string
}

func fromIOState(e timeline.Event, st timeline.IOState) ioObs {
	return ioObs{at: at(e), from: st.From, hasFrom: true, initial: st.Initial, to: st.To,
		secondsBehind: st.SecondsBehind, errno: st.LastIOErrno, msg: st.LastIOError}
}

// ioEvents are source's io_state observations in time order. An event
// whose detail is not an IOState (nor a map that reads as one) is skipped.
func ioEvents(events []timeline.Event, source string) []ioObs {
	var out []ioObs
	for _, e := range events {
		if e.Kind != timeline.KindIOState || e.Source != source {
			continue
		}
		if st, ok := timeline.As[timeline.IOState](e); ok {
			out = append(out, fromIOState(e, st))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out
}

// stateBefore is the IO state last reported at or before t ("" if none),
// and when it was reported.
func stateBefore(ios []ioObs, t time.Duration) (string, time.Duration, bool) {
	state, when, ok := "", time.Duration(0), false
	for _, o := range ios {
		if o.at > t {
			break
		}
		state, when, ok = o.to, o.at, true
	}
	return state, when, ok
}

// inWindow are the observations within [from, to].
func inWindow(ios []ioObs, from, to time.Duration) []ioObs {
	var out []ioObs
	for _, o := range ios {
		if o.at >= from && o.at <= to {
			out = append(out, o)
		}
	}
	return out
}

// noEffect explains a window in which the IO thread never left Yes, or ""
// when it did leave Yes.
func noEffect(ios []ioObs, source string, from, to time.Duration) string {
	win := inWindow(ios, from, to)
	for _, o := range win {
		if o.to != ioYes {
			return ""
		}
	}
	before, when, known := stateBefore(ios, from)
	switch {
	case !known && len(win) == 0 && len(ios) == 0:
		return fmt.Sprintf("no io_state events from %s", source)
	case !known && len(win) == 0:
		return fmt.Sprintf("no io_state events from %s until %s, after the window", source, secs(ios[0].at))
	case before == ioYes || !known:
		return fmt.Sprintf("fault had no effect: IO thread stayed Yes for %.1f s", (to - from).Seconds())
	default:
		return fmt.Sprintf("IO thread already %s since %s, before the fault; no change in the window", before, secs(when))
	}
}

func window(source string, from, to time.Duration) map[string]any {
	return map[string]any{"source": source, "window_from_ms": ms(from), "window_to_ms": ms(to)}
}

// FaultHadEffect passes when source's IO thread left Yes within [from, to].
func FaultHadEffect(events []timeline.Event, source string, from, to time.Duration) Result {
	ios := ioEvents(events, source)
	r := Result{Name: "fault_had_effect", Detail: window(source, from, to),
		Expected: fmt.Sprintf("IO thread leaves Yes between %s and %s", secs(from), secs(to))}
	if why := noEffect(ios, source, from, to); why != "" {
		r.Verdict, r.Observed = Fail, why
		return r
	}
	for _, o := range inWindow(ios, from, to) {
		if o.to != ioYes {
			r.Verdict, r.Observed = Pass, fmt.Sprintf("%s at %s", o.to, secs(o.at))
			r.Detail["t_ms"], r.Detail["to"] = ms(o.at), o.to
			r.Detail["detect_ms"] = ms(o.at - from)
			break
		}
	}
	return r
}

// OutageObserved passes when, within [from, to], source's IO thread was
// seen Connecting with seconds_behind NULL and a non-zero last_io_errno:
// the seed's outage signature. Detail carries the observation and
// detect_ms, its delay after from.
func OutageObserved(events []timeline.Event, source string, from, to time.Duration) Result {
	ios := ioEvents(events, source)
	r := Result{Name: "outage_observed", Detail: window(source, from, to),
		Expected: fmt.Sprintf("IO thread Connecting between %s and %s, seconds_behind NULL, last_io_errno ≠ 0", secs(from), secs(to))}
	if why := noEffect(ios, source, from, to); why != "" {
		r.Verdict, r.Observed = Fail, why
		return r
	}
	var firstProblem string
	var first *ioObs
	for _, o := range inWindow(ios, from, to) {
		if o.to != ioConnecting {
			continue
		}
		var problem string
		switch {
		case o.secondsBehind != nil:
			problem = fmt.Sprintf("seconds_behind %d, not NULL", *o.secondsBehind)
		case o.errno == 0:
			problem = "last_io_errno 0"
			// MariaDB shows Connecting a moment before it fills Last_IO_Errno;
			// the error recorded later in the same Connecting spell counts.
			if late, ok := errnoWhileConnecting(events, source, o.at, to); ok {
				o, problem = late, ""
			}
		}
		if problem == "" {
			r.Verdict = Pass
			r.Observed = fmt.Sprintf("Connecting at %s, errno %d", secs(o.at), o.errno)
			if o.msg != "" {
				r.Observed += ": " + o.msg
			}
			observation(r.Detail, o, from)
			return r
		}
		if first == nil {
			first, firstProblem = &o, problem
		}
	}
	r.Verdict = Fail
	if first != nil {
		r.Observed = fmt.Sprintf("Connecting at %s but %s", secs(first.at), firstProblem)
		observation(r.Detail, *first, from)
		return r
	}
	// The thread left Yes, but never to Connecting.
	for _, o := range inWindow(ios, from, to) {
		if o.to != ioYes {
			r.Observed = fmt.Sprintf("IO thread went %s at %s, never Connecting", quoteEmpty(o.to), secs(o.at))
			if o.errno != 0 {
				r.Observed += fmt.Sprintf(" (errno %d)", o.errno)
			}
			observation(r.Detail, o, from)
			break
		}
	}
	return r
}

// observation puts what was seen into a result's detail (from only when
// the observation says where from: null for the watch's first read).
func observation(d map[string]any, o ioObs, from time.Duration) {
	d["t_ms"] = ms(o.at)
	d["detect_ms"] = ms(o.at - from)
	if o.hasFrom {
		d["from"] = any(o.from)
		if o.initial {
			d["from"] = nil
		}
	}
	d["to"] = o.to
	d["seconds_behind"] = nil
	if o.secondsBehind != nil {
		d["seconds_behind"] = *o.secondsBehind
	}
	d["last_io_errno"] = o.errno
	d["last_io_error"] = o.msg
}

// IORecoveredWithin passes when source's IO thread turned Yes after the
// recovery began (recoverFrom: the fault's cause undone) and no later than
// window after tunnelUpAt. The tunnel's up is when the harness saw both
// gateways healthy, a poll that can lag the moment the CHILD SA carried
// traffic: a replica seen Yes between recoverFrom and tunnelUpAt came back
// as the tunnel did (delay 0). Yes before recoverFrom cannot be a
// recovery. Detail.delay_ms is the measured delay.
func IORecoveredWithin(events []timeline.Event, source string, recoverFrom, tunnelUpAt, window time.Duration) Result {
	ios := ioEvents(events, source)
	r := Result{Name: "io_recovered",
		Expected: fmt.Sprintf("IO thread Yes within %s of tunnel up at %s", secs(window), secs(tunnelUpAt)),
		Detail:   map[string]any{"source": source, "tunnel_up_ms": ms(tunnelUpAt), "recover_from_ms": ms(recoverFrom), "window_ms": ms(window)}}
	for _, o := range ios {
		if o.at < recoverFrom || o.to != ioYes {
			continue
		}
		delay := max(o.at-tunnelUpAt, 0)
		r.Detail["t_ms"], r.Detail["delay_ms"] = ms(o.at), ms(delay)
		switch {
		case o.at < tunnelUpAt:
			r.Verdict = Pass
			r.Observed = fmt.Sprintf("Yes at %s, as the tunnel came up (seen healthy at %s)", secs(o.at), secs(tunnelUpAt))
		case delay <= window:
			r.Verdict = Pass
			r.Observed = fmt.Sprintf("Yes at %s, %s after tunnel up", secs(o.at), secs(delay))
		default:
			r.Verdict = Fail
			r.Observed = fmt.Sprintf("Yes at %s, %s after tunnel up: %s over", secs(o.at), secs(delay), secs(delay-window))
		}
		return r
	}
	r.Verdict = Fail
	r.Observed = fmt.Sprintf("no io_state → Yes after recovery began at %s", secs(recoverFrom))
	if len(ios) > 0 {
		last := ios[len(ios)-1]
		r.Observed += fmt.Sprintf("; last state %s at %s", quoteEmpty(last.to), secs(last.at))
		if last.to == ioYes {
			r.Observed += ", before recovery began"
		}
		r.Detail["last_state"], r.Detail["last_state_ms"] = last.to, ms(last.at)
	}
	return r
}

// errnoWhileConnecting finds the first io_error note of source after the
// Connecting observation at conn (and before the IO thread changes state
// again, or the window ends) with a non-zero errno and seconds_behind NULL.
func errnoWhileConnecting(events []timeline.Event, source string, conn, to time.Duration) (ioObs, bool) {
	var notes []timeline.Event
	for _, e := range events {
		if e.Source == source && at(e) > conn && at(e) <= to && (e.Kind == timeline.KindIOState || e.Kind == timeline.KindNote) {
			notes = append(notes, e)
		}
	}
	sort.SliceStable(notes, func(i, j int) bool { return at(notes[i]) < at(notes[j]) })
	for _, e := range notes {
		if e.Kind == timeline.KindIOState {
			return ioObs{}, false
		}
		n, ok := timeline.As[timeline.IOErrorNote](e)
		if !ok || n.To != ioConnecting {
			continue
		}
		if n.LastIOErrno != 0 && n.SecondsBehind == nil {
			return ioObs{at: at(e), to: n.To, errno: n.LastIOErrno, msg: n.LastIOError}, true
		}
	}
	return ioObs{}, false
}
