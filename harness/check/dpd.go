package check

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
)

// The checks of a silent WAN (scenarios/wan_blackhole.go) and of a tunnel
// that must come back by itself.

// IOError is one distinct Last_IO_Errno/Last_IO_Error the replica showed,
// with its IO state and when it was seen (offset on the drill's timeline).
type IOError struct {
	IO    string
	Errno int
	Msg   string
	At    time.Duration
}

// Client errors a reconnect can end with: CR_CONN_HOST_ERROR (connect()
// failed) and CR_SERVER_LOST (the connection died during the handshake).
const (
	crConnHostError = 2003
	crServerLost    = 2013
	etimedout       = 110
)

var osErrnoRE = regexp.MustCompile(`\((\d+)(?:\s+"[^"]*")?\)`)

// TimeoutClass reports whether a replica's IO error is a timeout, and the
// OS errno it carries. Timeout-class means precisely: the client error is
// 2003 (CR_CONN_HOST_ERROR) or 2013 (CR_SERVER_LOST) and the OS errno in
// its message is 110 (ETIMEDOUT), e.g. MariaDB's "Can't connect to server
// on '10.20.11.123' (110 "Connection timed out")" or MySQL's "… (110)":
// the packets were swallowed and the connect timed out. An answered
// failure (101 ENETUNREACH from an ICMP, 111 ECONNREFUSED, 113
// EHOSTUNREACH) is not: something on the path spoke.
func TimeoutClass(errno int, msg string) (osErrno int, ok bool) {
	ms := osErrnoRE.FindAllStringSubmatch(msg, -1)
	if len(ms) > 0 {
		osErrno, _ = strconv.Atoi(ms[len(ms)-1][1])
	}
	return osErrno, (errno == crConnHostError || errno == crServerLost) && osErrno == etimedout
}

// ReplicaTimedOut passes when one of the IO errors seen within the window
// (from is the fault's offset, window its length) is timeout-class (see
// [TimeoutClass]) while the IO thread was Connecting.
func ReplicaTimedOut(seen []IOError, from, window time.Duration) Result {
	r := Result{Name: "replica_timed_out",
		Expected: fmt.Sprintf("IO thread Connecting with errno %d or %d carrying OS errno 110 (ETIMEDOUT) within %.2fs of the fault", crConnHostError, crServerLost, window.Seconds()),
		Detail:   map[string]any{"window_ms": window.Milliseconds()}}
	var errs []string
	for _, e := range seen {
		os, ok := TimeoutClass(e.Errno, e.Msg)
		if ok && e.IO == ioConnecting {
			r.Verdict = Pass
			r.Observed = fmt.Sprintf("Connecting at %.2fs, errno %d (OS errno %d): %s", e.At.Seconds(), e.Errno, os, e.Msg)
			r.Detail["last_io_errno"], r.Detail["os_errno"], r.Detail["last_io_error"] = e.Errno, os, e.Msg
			r.Detail["detect_ms"] = (e.At - from).Milliseconds()
			return r
		}
		s := fmt.Sprintf("%s errno %d", e.IO, e.Errno)
		if os != 0 {
			s += fmt.Sprintf(" (OS errno %d)", os)
		}
		errs = append(errs, s+": "+e.Msg)
	}
	r.Verdict = Fail
	if len(errs) == 0 {
		r.Observed = "no IO error recorded in the window"
	} else {
		r.Observed = "no timeout-class error: " + strings.Join(errs, "; ")
		if slices.ContainsFunc(seen, func(e IOError) bool { os, _ := TimeoutClass(e.Errno, e.Msg); return os == 101 || os == 113 }) {
			r.Observed += " (an ICMP unreachable answered: the WAN was not silent)"
		}
	}
	return r
}

// DPDDeclaredDead passes when each site's gateway (source "tunnel/<site>")
// reported an ike_updown with up=false within [from, to] and the harness
// did not terminate that gateway's SA in between (a "down" TunnelAction
// recorded as a step or an expected outcome): the peer was declared dead by
// DPD. Detail.first_down_ms (int64) is the earliest IKE SA down.
func DPDDeclaredDead(events []timeline.Event, sites []string, from, to time.Duration) Result {
	r := Result{Name: "dpd_declared_dead",
		Expected: fmt.Sprintf("%s: IKE SA down (ike_updown up=false) between %.2fs and %.2fs, not terminated by the harness", strings.Join(sites, ", "), from.Seconds(), to.Seconds()),
		Detail:   map[string]any{"window_from_ms": from.Milliseconds(), "window_to_ms": to.Milliseconds()}}
	var obs, problems []string
	var first time.Duration = -1
	per := map[string]any{}
	for _, site := range sites {
		src := "tunnel/" + site
		var ikeDown, childDown, terminated time.Duration = -1, -1, -1
		for _, e := range events {
			t := at(e)
			if e.Source != src || t < from || t > to {
				continue
			}
			switch e.Kind {
			case timeline.KindStep, timeline.KindExpected:
				if a, ok := timeline.As[timeline.TunnelAction](e); ok && a.Action == "down" && terminated < 0 {
					terminated = t
				}
			case timeline.KindIKEUpDown:
				if d, ok := timeline.As[timeline.IKEUpDown](e); ok && !d.Up && ikeDown < 0 {
					ikeDown = t
				}
			case timeline.KindChildUpDown:
				if d, ok := timeline.As[timeline.ChildUpDown](e); ok && !d.Up && childDown < 0 {
					childDown = t
				}
			}
		}
		switch {
		case terminated >= 0 && (ikeDown < 0 || terminated <= ikeDown):
			problems = append(problems, fmt.Sprintf("%s: the harness terminated the SA at %.2fs: not DPD", site, terminated.Seconds()))
		case ikeDown < 0:
			problems = append(problems, site+": no ike_updown down in the window")
		default:
			s := fmt.Sprintf("%s: IKE SA down at %.2fs", site, ikeDown.Seconds())
			d := map[string]any{"ike_down_ms": ikeDown.Milliseconds()}
			if childDown >= 0 {
				s += fmt.Sprintf(", CHILD SA down at %.2fs", childDown.Seconds())
				d["child_down_ms"] = childDown.Milliseconds()
			}
			obs = append(obs, s)
			per[site] = d
			if first < 0 || ikeDown < first {
				first = ikeDown
			}
		}
	}
	r.Detail["gateways"] = per
	if len(sites) == 0 {
		problems = append(problems, "no gateway to watch")
	}
	if len(problems) > 0 {
		r.Verdict, r.Observed = Fail, strings.Join(append(problems, obs...), "; ")
		return r
	}
	r.Verdict, r.Observed = Pass, strings.Join(obs, "; ")
	r.Detail["first_down_ms"] = first.Milliseconds()
	return r
}

// SelfHeal is what a drill saw while it waited, initiating nothing, for
// the tunnel to come back by itself.
type SelfHeal struct {
	After  string        // what the heal is timed from, in words ("the lift")
	Window time.Duration // how long it may take
	Took   time.Duration // from After until healthy, or until the wait gave up
	Healed bool          // both gateways healthy: one IKE SA and one CHILD SA each
	// Initiator is the gateway that initiated the new IKE SA (when Healed).
	Initiator string
	// Reinitiators says what each gateway does after DPD
	// ("aws dpd_action=restart, onprem dpd_action=clear").
	Reinitiators string
	// Doing is what the gateways were doing when the wait gave up (their
	// SAs, charon's last lines), and Hint why the configuration may keep
	// the tunnel down ("" when none).
	Doing, Hint string
}

// TunnelSelfHealed passes when the tunnel healed by itself within the
// window. Detail: window_ms, and when healed self_heal_ms and initiator.
func TunnelSelfHealed(h SelfHeal) Result {
	r := Result{Name: "tunnel_self_healed",
		Expected: fmt.Sprintf("both gateways ESTABLISHED/INSTALLED, one IKE SA and one CHILD SA each, within %.2fs of %s, nobody calling initiate (%s)",
			h.Window.Seconds(), h.After, h.Reinitiators),
		Detail: map[string]any{"window_ms": h.Window.Milliseconds()}}
	if !h.Healed {
		doing := h.Doing
		if h.Hint != "" {
			doing += " (" + h.Hint + ")"
		}
		r.Verdict = Fail
		r.Observed = fmt.Sprintf("not healthy %.2fs after %s: %s", h.Took.Seconds(), h.After, doing)
		return r
	}
	r.Detail["self_heal_ms"], r.Detail["initiator"] = h.Took.Milliseconds(), h.Initiator
	if h.Took > h.Window {
		r.Verdict = Fail
		r.Observed = fmt.Sprintf("healthy %.2fs after %s, %.2fs over the window; new IKE SA initiated by %s",
			h.Took.Seconds(), h.After, (h.Took - h.Window).Seconds(), h.Initiator)
		return r
	}
	r.Verdict = Pass
	r.Observed = fmt.Sprintf("healthy %.2fs after %s; new IKE SA initiated by %s", h.Took.Seconds(), h.After, h.Initiator)
	return r
}
