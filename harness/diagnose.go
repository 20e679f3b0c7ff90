package harness

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// Evidence is what a failed drill's one-line diagnosis is built from. It is
// gathered the moment the drill stops, before any recovery runs, so it
// describes the broken state and not the repaired one.
type Evidence struct {
	Sites       []string                 // in order, primary's site first
	Tunnel      map[string]*tunnel.State // nil entry: could not be read
	TunnelErr   map[string]string
	Expect      map[string]tunnel.Expectation
	Replica     *replica.Status // nil: could not be read
	ReplicaErr  string
	Events      []timeline.Event
	Now         time.Duration // offset on the drill's timeline
	FailedCheck *check.Result
	Error       string
	// FaultActive: the drill's fault was still in place, so the tunnel and
	// replica state are its effect and say nothing about the failure.
	FaultActive bool
}

// gatherEvidence reads both gateways and the replica with a short deadline.
func gatherEvidence(t target.Target, e *Env, failed *check.Result, err error) Evidence {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ev := Evidence{Tunnel: map[string]*tunnel.State{}, TunnelErr: map[string]string{}, Expect: map[string]tunnel.Expectation{},
		Events: e.Timeline.Events(), Now: e.Timeline.Since(), FailedCheck: failed, FaultActive: e.faultInPlace()}
	if err != nil {
		ev.Error = err.Error()
	}
	for _, s := range t.Sites() {
		ev.Sites = append(ev.Sites, s.Name)
		ev.Expect[s.Name] = s.Tunnel
		st, err := s.Gateway.State(ctx, s.Tunnel.Connection)
		if err != nil {
			ev.TunnelErr[s.Name] = err.Error()
			continue
		}
		ev.Tunnel[s.Name] = &st
	}
	if st, err := target.Replica(t).DB.Status(ctx); err != nil {
		ev.ReplicaErr = err.Error()
	} else {
		ev.Replica = &st
	}
	return ev
}

// Diagnose says in one line why a drill failed, from evidence, most
// fundamental cause first: a fault that did nothing; a tunnel that is not up
// on both sides; a replica that does not replicate although the tunnel is
// up; then the first failed check; then the error.
func Diagnose(ev Evidence) string {
	if c := ev.FailedCheck; c != nil && strings.Contains(c.Observed, "fault had no effect") {
		return oneLine(c.Observed)
	}
	if ev.FaultActive {
		return diagnoseFromResult(ev)
	}
	var sides []string
	healthy := true
	for _, s := range ev.Sites {
		st := ev.Tunnel[s]
		var phrase string
		switch {
		case st == nil:
			phrase = "unreadable (" + firstLine(ev.TunnelErr[s]) + ")"
			healthy = false
		default:
			if err := st.Healthy(ev.Expect[s]); err != nil {
				healthy = false
				phrase = strings.TrimPrefix(err.Error(), st.Gateway+": ")
			} else {
				phrase = "INSTALLED"
			}
		}
		sides = append(sides, fmt.Sprintf("%s on %s", phrase, s))
	}
	if !healthy && len(ev.Tunnel)+len(ev.TunnelErr) > 0 {
		return "tunnel " + strings.Join(sides, ", ")
	}
	if r := ev.Replica; r != nil && healthy {
		if r.IO != replica.IOYes {
			line := fmt.Sprintf("IO thread %s", orNone(string(r.IO)))
			if up, ok := tunnelCameBack(ev.Events); ok && ev.Now > up {
				line += fmt.Sprintf(" for %.0f s after the tunnel came back", (ev.Now - up).Seconds())
			} else {
				line += " with the tunnel up"
			}
			if r.LastIOErrno != 0 {
				line += fmt.Sprintf(": Last_IO_Errno %d", r.LastIOErrno)
				if n := socketErrno(r.LastIOError); n != "" {
					line += ", errno " + n
				}
			}
			return line
		}
		if !r.SQLRunning {
			return oneLine(fmt.Sprintf("SQL thread stopped: Last_SQL_Errno %d: %s", r.LastSQLErrno, r.LastSQLError))
		}
	}
	return diagnoseFromResult(ev)
}

// diagnoseFromResult: the first failed check, else the error.
func diagnoseFromResult(ev Evidence) string {
	if c := ev.FailedCheck; c != nil {
		return oneLine(c.Name + ": " + c.Observed)
	}
	if ev.Error != "" {
		return oneLine(ev.Error)
	}
	if ev.ReplicaErr != "" {
		return oneLine("replica unreadable: " + ev.ReplicaErr)
	}
	return ""
}

// tunnelCameBack is the last time a gateway reported a CHILD SA up.
func tunnelCameBack(evs []timeline.Event) (time.Duration, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if d, ok := timeline.As[timeline.ChildUpDown](evs[i]); ok && d.Up {
			e := evs[i]
			return e.At(), true
		}
	}
	return 0, false
}

// socketErrno finds the OS error in a MySQL client message, e.g.
// "Can't connect to server on '10.20.11.123' (110 "Connection timed out")".
var socketErrnoRE = regexp.MustCompile(`\((\d{2,3})[ ")]`)

func socketErrno(msg string) string {
	m := socketErrnoRE.FindAllStringSubmatch(msg, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "not configured"
	}
	return s
}
