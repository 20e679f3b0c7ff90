package check

import (
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
)

// IO thread states as SHOW REPLICA STATUS reports them.
const (
	ioYes        = "Yes"
	ioConnecting = "Connecting"
)

// stateBefore is the IO state last reported at or before t ("" if none),
// and when it was reported.
func stateBefore(ios []timeline.Event, t time.Duration) (string, time.Duration, bool) {
	state, when, ok := "", time.Duration(0), false
	for _, e := range ios {
		if at(e) > t {
			break
		}
		state, when, ok = str(e.Detail, "to"), at(e), true
	}
	return state, when, ok
}

// inWindow are the events within [from, to].
func inWindow(ios []timeline.Event, from, to time.Duration) []timeline.Event {
	var out []timeline.Event
	for _, e := range ios {
		if t := at(e); t >= from && t <= to {
			out = append(out, e)
		}
	}
	return out
}

// noEffect explains a window in which the IO thread never left Yes, or ""
// when it did leave Yes.
func noEffect(ios []timeline.Event, source string, from, to time.Duration) string {
	win := inWindow(ios, from, to)
	for _, e := range win {
		if str(e.Detail, "to") != ioYes {
			return ""
		}
	}
	before, when, known := stateBefore(ios, from)
	switch {
	case !known && len(win) == 0 && len(ios) == 0:
		return fmt.Sprintf("no io_state events from %s", source)
	case !known && len(win) == 0:
		return fmt.Sprintf("no io_state events from %s until %s, after the window", source, secs(at(ios[0])))
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
	for _, e := range inWindow(ios, from, to) {
		if s := str(e.Detail, "to"); s != ioYes {
			r.Verdict, r.Observed = Pass, fmt.Sprintf("%s at %s", s, secs(at(e)))
			r.Detail["t_ms"], r.Detail["to"] = ms(at(e)), s
			r.Detail["detect_ms"] = ms(at(e) - from)
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
	var firstEv *timeline.Event
	for _, e := range inWindow(ios, from, to) {
		if str(e.Detail, "to") != ioConnecting {
			continue
		}
		sb, sbRecorded := e.Detail["seconds_behind"]
		errno, errnoOK := num(e.Detail["last_io_errno"])
		var problem string
		switch {
		case !sbRecorded:
			problem = "seconds_behind not recorded"
		case !isNull(sb):
			problem = fmt.Sprintf("seconds_behind %v, not NULL", str(e.Detail, "seconds_behind"))
		case !errnoOK:
			problem = "last_io_errno not recorded"
		case errno == 0:
			problem = "last_io_errno 0"
		}
		if problem == "last_io_errno 0" {
			// MariaDB shows Connecting a moment before it fills Last_IO_Errno;
			// the error recorded later in the same Connecting spell counts.
			if late, ok := errnoWhileConnecting(events, source, e, to); ok {
				errno, _ = num(late.Detail["last_io_errno"])
				e, problem = late, ""
			}
		}
		if problem == "" {
			r.Verdict = Pass
			r.Observed = fmt.Sprintf("Connecting at %s, errno %d", secs(at(e)), errno)
			if msg := str(e.Detail, "last_io_error"); msg != "" {
				r.Observed += ": " + msg
			}
			observation(r.Detail, e, from)
			return r
		}
		if firstEv == nil {
			ev := e
			firstEv, firstProblem = &ev, problem
		}
	}
	r.Verdict = Fail
	if firstEv != nil {
		r.Observed = fmt.Sprintf("Connecting at %s but %s", secs(at(*firstEv)), firstProblem)
		observation(r.Detail, *firstEv, from)
		return r
	}
	// The thread left Yes, but never to Connecting.
	for _, e := range inWindow(ios, from, to) {
		if s := str(e.Detail, "to"); s != ioYes {
			r.Observed = fmt.Sprintf("IO thread went %s at %s, never Connecting", quoteEmpty(s), secs(at(e)))
			if errno, ok := num(e.Detail["last_io_errno"]); ok && errno != 0 {
				r.Observed += fmt.Sprintf(" (errno %d)", errno)
			}
			observation(r.Detail, e, from)
			break
		}
	}
	return r
}

func observation(d map[string]any, e timeline.Event, from time.Duration) {
	d["t_ms"] = ms(at(e))
	d["detect_ms"] = ms(at(e) - from)
	for _, k := range []string{"from", "to", "seconds_behind", "last_io_errno", "last_io_error"} {
		if v, ok := e.Detail[k]; ok {
			if isNull(v) {
				v = nil
			}
			d[k] = v
		}
	}
}

// IORecoveredWithin passes when source's IO thread turned Yes at or after
// tunnelUpAt and no later than window after it. Detail.delay_ms is the
// measured delay.
func IORecoveredWithin(events []timeline.Event, source string, tunnelUpAt, window time.Duration) Result {
	ios := ioEvents(events, source)
	r := Result{Name: "io_recovered",
		Expected: fmt.Sprintf("IO thread Yes within %s of tunnel up at %s", secs(window), secs(tunnelUpAt)),
		Detail:   map[string]any{"source": source, "tunnel_up_ms": ms(tunnelUpAt), "window_ms": ms(window)}}
	for _, e := range ios {
		if at(e) < tunnelUpAt || str(e.Detail, "to") != ioYes {
			continue
		}
		delay := at(e) - tunnelUpAt
		r.Detail["t_ms"], r.Detail["delay_ms"] = ms(at(e)), ms(delay)
		if delay <= window {
			r.Verdict = Pass
			r.Observed = fmt.Sprintf("Yes at %s, %s after tunnel up", secs(at(e)), secs(delay))
		} else {
			r.Verdict = Fail
			r.Observed = fmt.Sprintf("Yes at %s, %s after tunnel up: %s over", secs(at(e)), secs(delay), secs(delay-window))
		}
		return r
	}
	r.Verdict = Fail
	r.Observed = fmt.Sprintf("no io_state → Yes after tunnel up at %s", secs(tunnelUpAt))
	if len(ios) > 0 {
		last := ios[len(ios)-1]
		state := str(last.Detail, "to")
		r.Observed += fmt.Sprintf("; last state %s at %s", quoteEmpty(state), secs(at(last)))
		if state == ioYes {
			r.Observed += ", before tunnel up"
		}
		r.Detail["last_state"], r.Detail["last_state_ms"] = state, ms(at(last))
	}
	return r
}

// errnoWhileConnecting finds the first io_error note of source after the
// Connecting event conn (and before the IO thread changes state again, or
// the window ends) with a non-zero errno and seconds_behind NULL.
func errnoWhileConnecting(events []timeline.Event, source string, conn timeline.Event, to time.Duration) (timeline.Event, bool) {
	for _, e := range events {
		if e.Source != source || at(e) <= at(conn) || at(e) > to {
			continue
		}
		if e.Kind == timeline.KindIOState {
			return timeline.Event{}, false
		}
		if e.Kind != timeline.KindNote || str(e.Detail, "event") != "io_error" || str(e.Detail, "to") != ioConnecting {
			continue
		}
		sb, recorded := e.Detail["seconds_behind"]
		if errno, ok := num(e.Detail["last_io_errno"]); ok && errno != 0 && recorded && isNull(sb) {
			return e, true
		}
	}
	return timeline.Event{}, false
}
