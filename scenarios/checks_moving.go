package scenarios

// Pure checks on their way to harness/check (temporary home).

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// IOError is one distinct Last_IO_Errno/Last_IO_Error the replica showed.
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

// ReplicaTimedOut is the check of [ReplicaTimesOut]: one of the errors seen
// within the window is timeout-class.
func ReplicaTimedOut(seen []IOError, from, window time.Duration) check.Result {
	r := check.Result{Name: "replica_timed_out",
		Expected: fmt.Sprintf("IO thread Connecting with errno %d or %d carrying OS errno 110 (ETIMEDOUT) within %.2fs of the fault", crConnHostError, crServerLost, window.Seconds()),
		Detail:   map[string]any{"window_ms": window.Milliseconds()}}
	var errs []string
	for _, e := range seen {
		os, ok := TimeoutClass(e.Errno, e.Msg)
		if ok && e.IO == string(replica.IOConnecting) {
			r.Verdict = check.Pass
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
	r.Verdict = check.Fail
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

// DPDDeclaredDead passes when each site's gateway reported an ike_updown
// with up=false within [from, to] and the harness did not terminate that
// gateway's SA in between (a "down" step or expected outcome recorded by
// the tunnel package): the peer was declared dead by DPD.
func DPDDeclaredDead(events []timeline.Event, sites []string, from, to time.Duration) check.Result {
	r := check.Result{Name: "dpd_declared_dead",
		Expected: fmt.Sprintf("%s: IKE SA down (ike_updown up=false) between %.2fs and %.2fs, not terminated by the harness", strings.Join(sites, ", "), from.Seconds(), to.Seconds()),
		Detail:   map[string]any{"window_from_ms": from.Milliseconds(), "window_to_ms": to.Milliseconds()}}
	var obs, problems []string
	var first time.Duration = -1
	per := map[string]any{}
	for _, site := range sites {
		src := "tunnel/" + site
		var ikeDown, childDown *timeline.Event
		var terminated *timeline.Event
		for _, e := range events {
			at := e.At()
			if e.Source != src || at < from || at > to {
				continue
			}
			switch {
			case (e.Kind == timeline.KindStep || e.Kind == timeline.KindExpected) && e.Detail["action"] == "down" && terminated == nil:
				terminated = &e
			case e.Kind == timeline.KindIKEUpDown && e.Detail["up"] == false && ikeDown == nil:
				ikeDown = &e
			case e.Kind == timeline.KindChildUpDown && e.Detail["up"] == false && childDown == nil:
				childDown = &e
			}
		}
		switch {
		case terminated != nil && (ikeDown == nil || terminated.At() <= ikeDown.At()):
			problems = append(problems, fmt.Sprintf("%s: the harness terminated the SA at %.2fs: not DPD", site, terminated.At().Seconds()))
		case ikeDown == nil:
			problems = append(problems, site+": no ike_updown down in the window")
		default:
			s := fmt.Sprintf("%s: IKE SA down at %.2fs", site, ikeDown.At().Seconds())
			d := map[string]any{"ike_down_ms": ikeDown.At().Milliseconds()}
			if childDown != nil {
				s += fmt.Sprintf(", CHILD SA down at %.2fs", childDown.At().Seconds())
				d["child_down_ms"] = childDown.At().Milliseconds()
			}
			obs = append(obs, s)
			per[site] = d
			if first < 0 || ikeDown.At() < first {
				first = ikeDown.At()
			}
		}
	}
	r.Detail["gateways"] = per
	if len(sites) == 0 {
		problems = append(problems, "no gateway to watch")
	}
	if len(problems) > 0 {
		r.Verdict, r.Observed = check.Fail, strings.Join(append(problems, obs...), "; ")
		return r
	}
	r.Verdict, r.Observed = check.Pass, strings.Join(obs, "; ")
	r.Detail["first_down_ms"] = first.Milliseconds()
	return r
}

// sasMatch is the check that both gateways hold the same single tunnel:
// one IKE SA and one CHILD SA per side, the IKE SPI pair equal, one side's
// CHILD spi-in the other's spi-out.
func sasMatch(a, b tunnel.State, conn string) check.Result {
	r := check.Result{Name: "tunnel_sas_match",
		Expected: "one IKE SA and one CHILD SA per side; IKE SPIs equal; each side's CHILD spi-in is the other's spi-out",
		Detail:   map[string]any{a.Gateway: a.Summary(), b.Gateway: b.Summary()}}
	if f := fault.Inconsistencies(a, b, conn); len(f) > 0 {
		r.Verdict, r.Observed = check.Fail, strings.Join(f, "; ")
		return r
	}
	ia, ib := ikeOf(a, conn), ikeOf(b, conn)
	ca, cb := ia.Children[0], ib.Children[0]
	r.Verdict = check.Pass
	r.Observed = fmt.Sprintf("IKE %s_i %s_r on both; %s in %s out %s, %s in %s out %s",
		ia.SPIInit, ia.SPIResp, a.Gateway, ca.SPIIn, ca.SPIOut, b.Gateway, cb.SPIIn, cb.SPIOut)
	return r
}

func ikeOf(s tunnel.State, conn string) tunnel.IKESA {
	for _, ike := range s.IKESAs {
		if ike.Name == conn {
			return ike
		}
	}
	return tunnel.IKESA{}
}
