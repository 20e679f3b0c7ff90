package scenarios

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// Steps about the gateways: IKE timings, DPD, self-healing, the documented
// order as a check, SA snapshots.

// IKETimings reads the gateways' IKE timings from the target and records
// them on the timeline.
func (d *Drill) IKETimings(ctx context.Context) (tunnel.IKETimings, error) {
	it, err := d.T.IKETimings(ctx)
	if err != nil {
		return it, err
	}
	d.Env.Timeline.Add("harness", timeline.KindNote, it.Note())
	return it, nil
}

// ReplicaTimesOut waits until the replica's IO thread is Connecting with a
// timeout-class error (errno 110: the WAN swallowed the packets) within the
// outage evidence window, and checks it.
func (d *Drill) ReplicaTimesOut(ctx context.Context) error {
	env := d.Env
	return env.Step(ctx, "replica reconnect times out (errno 110: silent WAN)", func(ctx context.Context) error {
		window := OutageEvidenceWindow(env.Timings)
		wctx, cancel := context.WithDeadline(ctx, d.FaultAt.Add(window))
		defer cancel()
		var seen []check.IOError
		_, err := replica.WaitFor(wctx, d.Replica.DB, harness.ReplicaPoll, "IO thread Connecting with a timeout-class error (errno 110)",
			func(s replica.Status) bool {
				if s.LastIOErrno != 0 && !slices.ContainsFunc(seen, func(e check.IOError) bool { return e.Errno == s.LastIOErrno && e.Msg == s.LastIOError }) {
					seen = append(seen, check.IOError{IO: string(s.IO), Errno: s.LastIOErrno, Msg: s.LastIOError, At: env.Timeline.Offset(s.ObservedAt)})
				}
				_, ok := check.TimeoutClass(s.LastIOErrno, s.LastIOError)
				return s.IO == replica.IOConnecting && ok
			})
		if err != nil && ctx.Err() != nil {
			return err
		}
		return env.Check(check.ReplicaTimedOut(seen, env.Timeline.Offset(d.FaultAt), window))
	})
}

// WaitDPDDead waits until each of sites has reported its IKE SA down (VICI
// ike-updown) after the fault, within the DPD window, and checks that it
// was DPD: nobody terminated it. Sets dpd_dead_ms.
func (d *Drill) WaitDPDDead(ctx context.Context, it tunnel.IKETimings, sites []string, step string) error {
	env := d.Env
	return env.Step(ctx, step, func(ctx context.Context) error {
		window := it.DPDWindow()
		from := env.Timeline.Offset(d.FaultAt)
		var r check.Result
		wctx, cancel := context.WithDeadline(ctx, d.FaultAt.Add(window))
		defer cancel()
		_ = poll.Until(wctx, "DPD to declare the peer dead", harness.ReplicaPoll, 0, func(context.Context) (bool, string, error) {
			r = check.DPDDeclaredDead(env.Timeline.Events(), sites, from, from+window)
			return r.Passed(), r.Observed, nil
		}) // the check says what was seen
		if at, ok := r.Detail["first_down_ms"].(int64); ok && r.Passed() {
			env.Metric(harness.DPDDeadMS, time.Duration(at)*time.Millisecond-from)
		}
		return env.Check(r)
	})
}

// WaitSelfHeal waits, initiating nothing, until both gateways are healthy
// within window of now (the moment the cause was removed), and checks it.
// Sets TunnelUpAt and self_heal_ms; on failure diagnoses what the gateways
// are doing.
func (d *Drill) WaitSelfHeal(ctx context.Context, it tunnel.IKETimings, after string, window time.Duration, logs *tunnel.LogFollower) error {
	env := d.Env
	first, second := d.Sides()
	start := time.Now()
	took, initiator, err := tunnel.WaitSelfHeal(ctx, window, first, second)
	d.TunnelUpAt = start.Add(took) // seen healthy; not after asking who initiated
	if err != nil && ctx.Err() != nil {
		return err
	}
	h := check.SelfHeal{After: after, Window: window, Took: took, Healed: err == nil, Initiator: initiator,
		Reinitiators: it.Reinitiators(), Hint: it.HealHint()}
	if err != nil {
		h.Doing = tunnel.Doing(ctx, logTail(logs), first, second)
	}
	r := check.TunnelSelfHealed(h)
	if !r.Passed() {
		env.Diagnose(fmt.Sprintf("the tunnel did not heal by itself within %.2fs of %s: %s", window.Seconds(), after, r.Observed))
		return env.Check(r)
	}
	env.Metric(harness.SelfHealMS, took)
	env.Timeline.AddAt(d.TunnelUpAt, "harness", timeline.KindNote, timeline.Note{"event": "tunnel healed by itself", "after": after,
		"initiator": initiator, "self_heal_ms": took.Milliseconds()})
	return env.Check(r)
}

// RecoverInOrderChecked brings the tunnel back in the documented order when
// no gateway re-initiates by itself, and checks that it came back.
func (d *Drill) RecoverInOrderChecked(ctx context.Context, it tunnel.IKETimings, restarted string, logs *tunnel.LogFollower) error {
	env := d.Env
	first, second := d.Sides()
	env.Note("no gateway re-initiates by itself ("+it.Reinitiators()+"): documented order", nil)
	start := time.Now()
	err := tunnel.RecoverInOrder(ctx, first, second, env.Timeline, 10*time.Second)
	d.TunnelUpAt = time.Now()
	if err != nil && ctx.Err() != nil {
		return err
	}
	o := check.InOrderRecovery{First: first.GW.Name(), Second: second.GW.Name(), Restarted: restarted, Err: err, Took: d.TunnelUpAt.Sub(start)}
	if err != nil {
		o.Doing = tunnel.Doing(ctx, logTail(logs), first, second)
		env.Diagnose(fmt.Sprintf("the tunnel did not come back after %s's charon was restarted, documented order: %v; %s", restarted, err, o.Doing))
	} else {
		o.Initiator = tunnel.InitiatorOf(ctx, first, second)
	}
	return env.Check(check.TunnelRecoveredInOrder(o))
}

// FollowLogs follows both gateways' charon logs (VICI) until stop.
func (d *Drill) FollowLogs(ctx context.Context) *tunnel.LogFollower {
	return tunnel.FollowLog(ctx, d.Env.Timeline, d.Primary.Gateway, d.Replica.Gateway)
}

func logTail(lf *tunnel.LogFollower) func(string) []string {
	if lf == nil {
		return nil
	}
	return func(gw string) []string { return lf.Tail(gw, 3) }
}

// TunnelSnapshot reads both gateways' SAs and records each side's summary,
// SA counts and SPIs on the timeline.
func (d *Drill) TunnelSnapshot(ctx context.Context, when string) (a, b tunnel.State, err error) {
	first, second := d.Sides()
	states, err := tunnel.Snapshot(ctx, first, second)
	if err != nil {
		return a, b, err
	}
	for _, st := range states {
		children := 0
		var sas []string
		for _, ike := range st.IKESAs {
			children += len(ike.Children)
			sas = append(sas, ike.Describe())
		}
		d.Env.Timeline.Add("tunnel/"+st.Gateway, timeline.KindNote, map[string]any{"event": "tunnel state", "when": when,
			"summary": st.Summary(), "ike_sas": len(st.IKESAs), "child_sas": children, "sas": sas})
	}
	return states[0], states[1], nil
}

// VerifySAsMatch checks that both gateways hold the same single tunnel.
func (d *Drill) VerifySAsMatch(ctx context.Context) error {
	return d.Env.Step(ctx, "verify: the same SAs on both sides (SPIs match)", func(ctx context.Context) error {
		a, b, err := d.TunnelSnapshot(ctx, "after recovery")
		if err != nil {
			return err
		}
		return d.Env.Check(check.SAsMatch(a, b, d.Primary.Tunnel.Connection))
	})
}

// oneSidedIKETimeout bounds an initiate: the lab's retransmit budget
// (0.5 s × 1.4ⁿ, 3 tries ≈ 3.6 s) with room to spare.
const oneSidedIKETimeout = 10 * time.Second

// InitiateAlone initiates the CHILD SA on one gateway only, records the
// outcome on the timeline and returns it in words.
func (d *Drill) InitiateAlone(ctx context.Context, s tunnel.Side) string {
	start := time.Now()
	r, err := s.GW.Up(ctx, s.Want.Connection, s.Want.Connection, oneSidedIKETimeout)
	log := r.Log
	if ce := (*tunnel.CommandError)(nil); errors.As(err, &ce) {
		log = ce.Log
	}
	var outcome string
	switch {
	case err == nil:
		outcome = "established"
	case errors.Is(err, tunnel.ErrDuplicateChild):
		outcome = "refused locally, nothing sent: " + firstMatch(log, "duplicate", tunnel.ErrDuplicateChild.Error())
	case errors.Is(err, tunnel.ErrPeerNotResponding):
		outcome = "peer not responding: " + firstMatch(log, "giving up", err.Error())
	default:
		outcome = "failed: " + err.Error()
	}
	det := map[string]any{"action": "up (alone)", "connection": s.Want.Connection, "outcome": outcome, "duration_ms": time.Since(start).Milliseconds()}
	if len(log) > 0 {
		det["log"] = log
	}
	d.Env.Timeline.AddAt(start, "tunnel/"+s.GW.Name(), timeline.KindStep, det)
	return outcome
}

func firstMatch(lines []string, sub, def string) string {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return def
}

// DownSide terminates a side's IKE SA as the first half of the documented
// fix; "no matching SAs" is expected (that side has nothing), and a DELETE
// the peer does not answer (it never had that SA) ends in a forced delete.
func (d *Drill) DownSide(ctx context.Context, s tunnel.Side) error {
	start := time.Now()
	result, log, err := fault.ForceDown(ctx, s, time.Second)
	det := map[string]any{"action": "down", "connection": s.Want.Connection, "result": result, "duration_ms": time.Since(start).Milliseconds()}
	if len(log) > 0 {
		det["log"] = log
	}
	src, kind := "tunnel/"+s.GW.Name(), timeline.KindRemediation
	switch {
	case err != nil:
		det["error"] = err.Error()
		d.Env.Timeline.AddAt(start, src, kind, det)
		return fmt.Errorf("down %s: %w", s.GW.Name(), err)
	case result == fault.ResultNoMatchingSA:
		kind = timeline.KindExpected
	case result == fault.ResultForced:
		det["note"] = "the peer did not answer the DELETE (it never had this SA): deleted locally"
	}
	d.Env.Timeline.AddAt(start, src, kind, det)
	return nil
}

// keyLog are the charon log lines that explain a one-sided outcome.
var keyLog = regexp.MustCompile(`INITIAL_CONTACT|duplicate|giving up|not responding|retransmit|without notification`)

// Recognise compares both gateways' SAs after a one-sided re-initiate and
// says in one line what the harness saw; findings is empty when the tunnel
// is consistent.
func (d *Drill) Recognise(ctx context.Context, initiator, outcome string, logs *tunnel.LogFollower) (findings []string, line string, a, b tunnel.State, err error) {
	a, b, err = d.TunnelSnapshot(ctx, "after the one-sided re-initiate")
	if err != nil {
		return nil, "", a, b, err
	}
	findings = check.Inconsistencies(a, b, d.Primary.Tunnel.Connection)
	keys := logs.Lines(d.FaultAt, keyLog)
	line = initiator + " re-initiated alone: " + outcome
	if len(findings) > 0 {
		line += "; " + strings.Join(findings, "; ")
	} else {
		line += "; tunnel consistent on both sides"
		for _, l := range keys {
			if strings.Contains(l, "INITIAL_CONTACT") && strings.Contains(l, "duplicate") {
				line += "; the stale side replaced its SA itself (" + l + ")"
				break
			}
		}
	}
	d.Env.Note("recognised", map[string]any{"condition": line, "findings": findings, "charon_log": keys})
	d.Env.Metric(harness.OneSidedRecognised, line)
	return findings, line, a, b, nil
}
