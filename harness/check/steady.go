package check

import (
	"fmt"
	"strings"
	"time"
)

// SteadyState is what a drill left behind once its faults were undone: the
// tunnel, the replica's threads and its catch-up, each nil when fine.
type SteadyState struct {
	Tunnel, Threads, CaughtUp error
	Window                    time.Duration // how long it was given in all
}

// SteadyStateRestored passes when the tunnel is healthy on both sides, the
// replica's IO and SQL threads run and it has applied the primary's
// position: the system is as the drill found it. Otherwise it says what
// was left.
func SteadyStateRestored(s SteadyState) Result {
	r := Result{Name: "steady_state",
		Expected: fmt.Sprintf("after recovery, within %.1fs: tunnel ESTABLISHED/INSTALLED on both sides, replica IO and SQL threads Yes, primary's GTID position applied", s.Window.Seconds())}
	var left []string
	for _, p := range []struct {
		what string
		err  error
	}{{"tunnel", s.Tunnel}, {"replica threads", s.Threads}, {"catch-up", s.CaughtUp}} {
		if p.err != nil {
			left = append(left, p.what+": "+oneLine(p.err.Error()))
		}
	}
	if len(left) > 0 {
		r.Verdict, r.Observed = Fail, "left behind: "+strings.Join(left, "; ")
		return r
	}
	r.Verdict, r.Observed = Pass, "tunnel healthy on both sides, replica IO/SQL Yes, caught up"
	return r
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// FaultWithinMaxFault passes when a fault was recovered by the drill, not
// by the max_fault watchdog: a drill must never hold a fault that long.
func FaultWithinMaxFault(fault string, maxFault time.Duration, watchdogFired bool) Result {
	r := Result{Name: "fault_within_max_fault",
		Expected: fmt.Sprintf("%s recovered by the drill within max_fault %s", fault, maxFault)}
	if watchdogFired {
		r.Verdict, r.Observed = Fail, fmt.Sprintf("%s held for max_fault %s: recovered by the watchdog, not the drill", fault, maxFault)
		return r
	}
	r.Verdict, r.Observed = Pass, fault+" recovered by the drill"
	return r
}
