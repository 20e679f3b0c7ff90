package scenarios

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
	"github.com/strongswan/govici/vici"
)

// OneSidedRecoveryOptions vary the drill.
type OneSidedRecoveryOptions struct {
	// InitiateFrom is the site that re-initiates alone. "" is the side that
	// still holds the stale SA (on-prem): the operator skipped "on-prem
	// down" and ran "on-prem up", which is what leaves the tunnel broken on
	// strongSwan 5.9.8. The reset side (aws) shows the other outcome: the
	// stale side replaces its SA on INITIAL_CONTACT and nothing needs fixing.
	InitiateFrom string
	// NoRemediation recognises the condition but does not repair it: the
	// drill then fails with the diagnosis (tests prove the failing path).
	NoRemediation bool
}

// oneSidedIKETimeout bounds an initiate: the lab's retransmit budget
// (0.5 s × 1.4ⁿ, 3 tries ≈ 3.6 s) with room to spare.
const oneSidedIKETimeout = 10 * time.Second

// OneSidedRecovery is seed troubleshooting 1 ("peer not responding"): only
// one side's session is cleaned up and a reconnect is attempted. The fault
// one-sided-reset makes aws drop its IKE SA while its DELETE never reaches
// on-prem; one side then re-initiates alone. What strongSwan 5.9.8 does
// then (see fault.OneSidedReset for the evidence):
//
//   - from the stale side (the default): the initiate is refused locally
//     ("not establishing CHILD_SA … due to existing duplicate"), nothing is
//     sent, no retransmits, no second IKE SA. On-prem keeps an IKE SA and a
//     CHILD SA that aws does not have; the tunnel carries nothing. DPD would
//     heal it about 5.5 s later (dpd_action=restart); the harness does not
//     wait for that: it recognises the condition from both gateways' VICI
//     state — a side without an IKE SA, SAs (by SPI) one side has and the
//     other does not, more than one IKE SA — and applies the documented fix
//     as a recorded remediation: both sides fully down, the outage held
//     until the replica shows it (so that the replication proof below has
//     its Connecting → Yes), then up in the documented order.
//   - from the reset side: INITIAL_CONTACT makes on-prem destroy the stale
//     IKE SA; the tunnel is consistent at once and the drill records that
//     no remediation was needed.
//
// The seed's literal symptom (IKE_SA_INIT retransmitted until "peer not
// responding") is not what a stale peer causes here; a stale responder
// still answers IKE_SA_INIT. If an initiate does end in
// tunnel.ErrPeerNotResponding the drill records it and remediates the same
// way.
//
// The drill then proves the tunnel (one IKE SA and one CHILD SA per side,
// the IKE SPIs equal and one side's CHILD spi-in the other's spi-out) and
// replication (VerifyRecovery).
func OneSidedRecovery(o OneSidedRecoveryOptions) harness.Scenario {
	return harness.Scenario{
		Name:        "one-sided-recovery",
		Description: "troubleshooting 1: aws loses its SAs without on-prem learning of it, one side re-initiates alone; recognise the stale state, fix it (both sides down, then up in the documented order), verify",
		Timeout:     2 * time.Minute,
		Run: func(ctx context.Context, env *harness.Env) error {
			logs := followCharonLog(env)
			defer logs.stop()
			first, second := env.TunnelSides()
			conn := first.Want.Connection
			initiator := second
			switch o.InitiateFrom {
			case "", second.GW.Name():
			case first.GW.Name():
				initiator = first
			default:
				return fmt.Errorf("one-sided-recovery: initiate from %q: no such site (want %s or %s)", o.InitiateFrom, first.GW.Name(), second.GW.Name())
			}

			var m Marks
			if err := Baseline(ctx, env, workload.MsgBefore); err != nil {
				return err
			}
			if _, err := Inject(ctx, env, "one-sided-reset",
				"step 1: "+first.GW.Name()+" loses its IKE SA, its DELETE never reaches "+second.GW.Name()+" (one-sided-reset)", &m); err != nil {
				return err
			}
			if _, _, err := tunnelSnapshot(ctx, env, "after the one-sided reset"); err != nil {
				return err
			}
			if err := env.Step(ctx, "step 2: write during the outage", func(ctx context.Context) error {
				_, err := env.Workload.Ping(ctx, env.Primary.DB(), workload.PhaseDuring, workload.MsgDuring)
				return err
			}); err != nil {
				return err
			}

			var outcome string
			if err := env.Step(ctx, "step 3: "+initiator.GW.Name()+" re-initiates alone (no down on either side)", func(ctx context.Context) error {
				m.RecoverStart = time.Now()
				outcome = initiateAlone(ctx, env, initiator)
				m.TunnelUpAt = time.Now()
				return nil // the outcome is evidence, not a failure of the step
			}); err != nil {
				return err
			}

			var findings []string
			var recognised string
			if err := env.Step(ctx, "recognise: compare both gateways' SAs", func(ctx context.Context) error {
				a, b, err := tunnelSnapshot(ctx, env, "after the one-sided re-initiate")
				if err != nil {
					return err
				}
				findings = fault.Inconsistencies(a, b, conn)
				recognised = recognise(initiator.GW.Name(), outcome, findings, logs.keyLines(m.FaultAt))
				env.Timeline.Add("harness", timeline.KindNote, map[string]any{"event": "recognised", "condition": recognised,
					"findings": findings, "charon_log": logs.keyLines(m.FaultAt)})
				env.Metric("one_sided_recognised", recognised)
				if len(findings) > 0 && o.NoRemediation {
					env.Diagnose("one-sided recovery left the tunnel inconsistent: " + strings.Join(findings, "; "))
					return env.Check(sasMatch(a, b, conn))
				}
				return nil
			}); err != nil {
				return err
			}

			if len(findings) == 0 {
				// strongSwan repaired it itself (INITIAL_CONTACT): nothing to
				// remediate, and the outage was too short for the replica.
				env.Metric("tunnel_recover_ms", m.TunnelUpAt.Sub(m.RecoverStart))
				return verifyWithoutOutage(ctx, env, &m)
			}

			env.Remediated("seed troubleshooting 1: both sides fully down, then up in the documented order; recognised: " + recognised)
			var downFor time.Duration
			if err := env.Step(ctx, "remediation: both sides fully down ("+first.GW.Name()+", then "+second.GW.Name()+")", func(ctx context.Context) error {
				start := time.Now()
				defer func() { downFor = time.Since(start) }()
				return errors.Join(downSide(ctx, env, first), downSide(ctx, env, second))
			}); err != nil {
				return err
			}
			// Hold the outage (nothing can heal while both sides are down)
			// until the replica shows it, so that VerifyRecovery sees the
			// IO thread come back. The stale side's down takes the second
			// of an unanswered DELETE, so this adds well under the net
			// timeout.
			holdStart := time.Now()
			if err := HoldUntilOutageSeen(ctx, env, &m); err != nil {
				return err
			}
			env.Metric("outage_hold_ms", time.Since(holdStart))
			if err := Recover(ctx, env, "remediation: up in the documented order", &m, func(ctx context.Context) error {
				return tunnel.RecoverInOrder(ctx, first, second, env.Timeline, oneSidedIKETimeout)
			}); err != nil {
				return err
			}
			// tunnel_recover_ms: the remediation's downs plus its ups, not
			// the hold between them.
			env.Metric("tunnel_recover_ms", downFor+m.TunnelUpAt.Sub(m.RecoverStart))
			if err := VerifyRecovery(ctx, env, &m, VerifyOptions{AfterMsg: workload.MsgAfter}); err != nil {
				return err
			}
			return verifySAsMatch(ctx, env)
		},
	}
}

func init() { Register(OneSidedRecovery(OneSidedRecoveryOptions{})) }

// initiateAlone initiates the CHILD SA on one gateway only and records and
// returns the outcome in words.
func initiateAlone(ctx context.Context, env *harness.Env, s tunnel.Side) string {
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
	d := map[string]any{"action": "up (alone)", "connection": s.Want.Connection, "outcome": outcome,
		"duration_ms": time.Since(start).Milliseconds()}
	if len(log) > 0 {
		d["log"] = log
	}
	env.Timeline.AddAt(start, "tunnel/"+s.GW.Name(), timeline.KindStep, d)
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

// recognise says in one line what the harness saw after the one-sided
// re-initiate.
func recognise(initiator, outcome string, findings, logLines []string) string {
	s := initiator + " re-initiated alone: " + outcome
	if len(findings) == 0 {
		s += "; tunnel consistent on both sides"
		for _, l := range logLines {
			if strings.Contains(l, "INITIAL_CONTACT") && strings.Contains(l, "duplicate") {
				s += "; the stale side replaced its SA itself (" + l + ")"
				break
			}
		}
		return s
	}
	return s + "; " + strings.Join(findings, "; ")
}

// downSide terminates a side's IKE SA as the first half of the documented
// fix; "no matching SAs" is expected (that side has nothing), and a DELETE
// the peer does not answer (it never had that SA) ends in a forced delete.
// A second's timeout: the lab's first retransmit comes at 0.5 s, an
// answering peer answers in milliseconds, a peer without the SA never does.
func downSide(ctx context.Context, env *harness.Env, s tunnel.Side) error {
	start := time.Now()
	result, log, err := fault.ForceDown(ctx, s, time.Second)
	d := map[string]any{"action": "down", "connection": s.Want.Connection, "result": result,
		"duration_ms": time.Since(start).Milliseconds()}
	if len(log) > 0 {
		d["log"] = log
	}
	src := "tunnel/" + s.GW.Name()
	kind := timeline.KindRemediation
	switch {
	case err != nil:
		d["error"] = err.Error()
		env.Timeline.AddAt(start, src, kind, d)
		return fmt.Errorf("down %s: %w", s.GW.Name(), err)
	case result == fault.ResultNoMatchingSA:
		kind = timeline.KindExpected
	case result == fault.ResultForced:
		d["note"] = "the peer did not answer the DELETE (it never had this SA): deleted locally"
	}
	env.Timeline.AddAt(start, src, kind, d)
	return nil
}

// tunnelSnapshot reads both gateways' SAs of the connection and records each
// side's summary, SA counts and SPIs in the timeline.
func tunnelSnapshot(ctx context.Context, env *harness.Env, when string) (a, b tunnel.State, err error) {
	first, second := env.TunnelSides()
	a, aerr := first.GW.State(ctx, first.Want.Connection)
	b, berr := second.GW.State(ctx, second.Want.Connection)
	if err := errors.Join(aerr, berr); err != nil {
		return a, b, err
	}
	for _, st := range []tunnel.State{a, b} {
		children := 0
		var sas []string
		for _, ike := range st.IKESAs {
			children += len(ike.Children)
			sas = append(sas, describeIKE(ike))
		}
		env.Timeline.Add("tunnel/"+st.Gateway, timeline.KindNote, map[string]any{"event": "tunnel state", "when": when,
			"summary": st.Summary(), "ike_sas": len(st.IKESAs), "child_sas": children, "sas": sas})
	}
	return a, b, nil
}

func describeIKE(ike tunnel.IKESA) string {
	s := fmt.Sprintf("IKE #%s %s %s_i %s_r", ike.UniqueID, ike.State, ike.SPIInit, ike.SPIResp)
	for _, c := range ike.Children {
		s += fmt.Sprintf("; CHILD {%s} %s in %s out %s", c.UniqueID, c.State, c.SPIIn, c.SPIOut)
	}
	return s
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

func verifySAsMatch(ctx context.Context, env *harness.Env) error {
	return env.Step(ctx, "verify: the same SAs on both sides (SPIs match)", func(ctx context.Context) error {
		a, b, err := tunnelSnapshot(ctx, env, "after recovery")
		if err != nil {
			return err
		}
		return env.Check(sasMatch(a, b, env.Expect[harness.PrimarySite].Connection))
	})
}

// verifyWithoutOutage is the proof when strongSwan repaired the stale state
// itself before the replica could notice: the IO thread runs (whether or
// not it reconnected), a row after recovery catches up, rows equal the
// ledger, the tunnel is healthy and the same on both sides.
func verifyWithoutOutage(ctx context.Context, env *harness.Env, m *Marks) error {
	if err := env.Step(ctx, "replica IO thread Yes", func(ctx context.Context) error {
		window := env.Timings.ReconnectWindow()
		wctx, cancel := context.WithTimeout(ctx, window)
		defer cancel()
		st, err := replica.WaitIO(wctx, env.Replica, harness.ReplicaPoll, replica.IOYes)
		r := check.Result{Name: "io_running", Expected: fmt.Sprintf("IO thread Yes within %.2fs of the tunnel being consistent", window.Seconds())}
		if err != nil {
			r.Verdict, r.Observed = check.Fail, err.Error()
		} else {
			m.IOYesAt = st.ObservedAt
			r.Verdict, r.Observed = check.Pass, "IO thread "+string(st.IO)
		}
		return env.Check(r)
	}); err != nil {
		return err
	}
	if err := env.Step(ctx, "step 4: write after recovery and catch up", func(ctx context.Context) error {
		if _, err := env.Workload.Ping(ctx, env.Primary.DB(), workload.PhaseAfter, workload.MsgAfter); err != nil {
			return err
		}
		return CatchUp(ctx, env, m, 60*time.Second)
	}); err != nil {
		return err
	}
	if err := VerifyRows(ctx, env); err != nil {
		return err
	}
	if err := VerifyTunnel(ctx, env); err != nil {
		return err
	}
	return verifySAsMatch(ctx, env)
}

// charonLog follows each lab charon's own log over VICI ("log" events, the
// control level: what swanctl --log shows) for the length of a drill, and
// records the lines that matter for SA state into the timeline. The
// charon.log files in the lab dir carry the same lines but are written
// through a stdio buffer (filelog without flush_line): during a drill they
// lag by seconds to minutes, so they cannot serve as evidence in time.
type charonLog struct {
	mu    sync.Mutex
	lines []charonLine
	stop  func()
}

type charonLine struct {
	at   time.Time
	site string
	msg  string
}

// relevantLog are the lines about SA state worth a timeline entry.
var relevantLog = regexp.MustCompile(`INIT_CONTACT|INITIAL_CONTACT|duplicate|retransmit|giving up|not responding|DELETE|destroying|deleting IKE_SA|DPD|initiating IKE_SA|established|restarting CHILD_SA|INVALID_IKE_SPI|ignoring`)

// keyLog are the lines that explain a one-sided outcome.
var keyLog = regexp.MustCompile(`INITIAL_CONTACT|duplicate|giving up|not responding|retransmit|without notification`)

const maxCharonLines = 5000

func followCharonLog(env *harness.Env) *charonLog {
	cl := &charonLog{stop: func() {}}
	if env.Lab == nil {
		return cl
	}
	var wg sync.WaitGroup
	var sessions []*vici.Session
	for _, site := range lab.Sites {
		s := env.Lab.Sites[site]
		if s == nil {
			continue
		}
		src := "tunnel/" + site
		sess, err := vici.NewSession(vici.WithSocketPath(s.Gateway.VICI))
		if err == nil {
			if err = sess.Subscribe("log"); err != nil {
				sess.Close()
			}
		}
		if err != nil {
			env.Timeline.Add(src, timeline.KindNote, map[string]any{"event": "cannot follow charon log", "error": err.Error()})
			continue
		}
		ch := make(chan vici.Event, 4096)
		sess.NotifyEvents(ch)
		sessions = append(sessions, sess)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range ch { // closed when the session closes
				msg, _ := ev.Message.Get("msg").(string)
				if msg == "" {
					continue
				}
				cl.mu.Lock()
				if len(cl.lines) < maxCharonLines {
					cl.lines = append(cl.lines, charonLine{ev.Timestamp, site, msg})
				}
				cl.mu.Unlock()
				if relevantLog.MatchString(msg) {
					env.Timeline.AddAt(ev.Timestamp, src, timeline.KindNote, map[string]any{"event": "charon log", "line": msg})
				}
			}
		}()
	}
	cl.stop = func() {
		for _, s := range sessions {
			s.Close()
		}
		wg.Wait()
	}
	return cl
}

// keyLines are the explanatory lines since t, "site: line".
func (cl *charonLog) keyLines(since time.Time) []string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var out []string
	for _, l := range cl.lines {
		if !l.at.Before(since) && keyLog.MatchString(l.msg) {
			out = append(out, l.site+": "+l.msg)
		}
	}
	return out
}
