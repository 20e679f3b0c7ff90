package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// ReplicaStuckOptions vary the drill.
type ReplicaStuckOptions struct {
	// Fault is the registered fault ("" is replica-stuck-connecting); tests
	// pass "tunnel-down" to prove the drill notices a fault without effect.
	Fault string
	// NoRemediation detects the stuck IO thread but does not restart it: the
	// drill then fails with the diagnosis.
	NoRemediation bool
}

// ReplicaStuckConnecting is seed troubleshooting 2: the VPN is healthy
// again but the replica's IO thread stays Connecting. The fault sets an
// hour's connect retry on the replica while the tunnel is up, then takes
// the tunnel down (the seed's step 1); the IO thread's first reconnect
// fails at once and it goes to sleep for the hour. After the documented-
// order recovery the drill waits the window the lab's intended timings give
// (net timeout + connect retry + margin: 5 s on the lab) — never the
// sabotaged 3600 s — and if the tunnel is healthy and the IO thread is
// still not Yes, it has recognised troubleshooting 2. It then applies the
// seed's remedy, STOP REPLICA; START REPLICA, as a recorded remediation and
// verifies the IO thread, catch-up and rows.
//
// A remediated drill passes. The drill's purpose is to prove that the
// harness recognises this failure and that the documented remedy brings
// replication back without losing a row; the report says that remediation
// was needed (environment.remediation, a remediation event on the
// timeline, the remediation step and the replica_stuck_detected check) and
// how long the replica was stuck (metrics.extra.replica_stuck_ms). With
// NoRemediation the stuck replica is the failure. A drill in which the
// replica was not stuck fails: the fault had no effect.
//
// The fault's Recover restores the replica's original connect retry and
// heartbeat (STOP; CHANGE MASTER; START) on every path; Run defers it.
func ReplicaStuckConnecting(o ReplicaStuckOptions) harness.Scenario {
	if o.Fault == "" {
		o.Fault = "replica-stuck-connecting"
	}
	return harness.Scenario{
		Name:        "replica-stuck-connecting",
		Description: "troubleshooting 2: the tunnel is back but the IO thread stays Connecting (an hour's connect retry); detect it after the expected window, STOP/START REPLICA, verify catch-up and rows",
		Timeout:     2 * time.Minute,
		Run: func(ctx context.Context, env *harness.Env) error {
			var m Marks
			intended, from := intendedTimings(env)
			window := intended.ReconnectWindow()
			env.Metric("expected_reconnect_window_ms", window)
			env.Timeline.Add("harness", timeline.KindNote, map[string]any{"event": "expected reconnect window", "from": from,
				"net_timeout_s": intended.NetTimeout.Seconds(), "connect_retry_s": intended.ConnectRetry.Seconds(),
				"window_ms": window.Milliseconds()})

			if err := Baseline(ctx, env, workload.MsgBefore); err != nil {
				return err
			}
			f, err := fault.New(o.Fault, env)
			if err != nil {
				return err
			}
			if err := injectFault(ctx, env, f, "step 1: hour-long connect retry on the replica, then VPN down from aws ("+f.Name()+")", &m); err != nil {
				return err
			}
			if err := WriteDuringOutage(ctx, env); err != nil {
				return err
			}
			if err := HoldUntilOutageSeen(ctx, env, &m); err != nil {
				return err
			}
			first, second := env.TunnelSides()
			if err := Recover(ctx, env, "step 3: recover the tunnel in the documented order", &m, func(ctx context.Context) error {
				return tunnel.RecoverInOrder(ctx, first, second, env.Timeline, 10*time.Second)
			}); err != nil {
				return err
			}

			var stuck string
			if err := env.Step(ctx, fmt.Sprintf("replica IO thread back to Yes within the expected %.1f s?", window.Seconds()), func(ctx context.Context) error {
				var err error
				stuck, err = detectStuck(ctx, env, &m, window, from)
				if err != nil || stuck == "" {
					return err
				}
				if o.NoRemediation {
					env.Diagnose(stuck)
					return env.Check(check.IORecoveredWithin(env.Timeline.Events(), replicaSource, env.Timeline.Offset(m.TunnelUpAt), window))
				}
				return nil
			}); err != nil {
				return err
			}

			env.Remediated("seed troubleshooting 2: STOP REPLICA; START REPLICA — " + stuck)
			var remediatedAt time.Time
			if err := env.Step(ctx, "remediation: STOP REPLICA; START REPLICA", func(ctx context.Context) error {
				remediatedAt = time.Now()
				env.Metric("replica_stuck_ms", remediatedAt.Sub(m.TunnelUpAt))
				return env.Replica.Restart(ctx)
			}); err != nil {
				return err
			}
			if err := env.Step(ctx, "replica IO thread back to Yes after the remediation", func(ctx context.Context) error {
				wctx, cancel := context.WithTimeout(ctx, window)
				defer cancel()
				st, err := replica.WaitIO(wctx, env.Replica, harness.ReplicaPoll, replica.IOYes)
				if err == nil {
					m.IOYesAt = st.ObservedAt
					waitEvent(ctx, env.Timeline, replicaSource, remediatedAt, func(e timeline.Event) bool { return e.Detail["to"] == string(replica.IOYes) })
				}
				r := check.IORecoveredWithin(env.Timeline.Events(), replicaSource, env.Timeline.Offset(remediatedAt), window)
				r.Name = "io_recovered_after_remediation"
				r.Observed = strings.ReplaceAll(r.Observed, "tunnel up", "STOP/START REPLICA")
				r.Expected = fmt.Sprintf("IO thread Yes within %.2fs of STOP/START REPLICA at %.2fs", window.Seconds(), env.Timeline.Offset(remediatedAt).Seconds())
				return env.Check(r)
			}); err != nil {
				return err
			}
			// From the tunnel being back, stuck time and remediation included.
			env.Metric("replica_recover_ms", m.IOYesAt.Sub(m.TunnelUpAt))
			env.Metric("remediation_to_io_yes_ms", m.IOYesAt.Sub(remediatedAt))

			if err := env.Step(ctx, "step 4: write after recovery and catch up", func(ctx context.Context) error {
				if _, err := env.Workload.Ping(ctx, env.Primary.DB(), workload.PhaseAfter, workload.MsgAfter); err != nil {
					return err
				}
				return CatchUp(ctx, env, &m, 60*time.Second)
			}); err != nil {
				return err
			}
			if err := VerifyRows(ctx, env); err != nil {
				return err
			}
			return VerifyTunnel(ctx, env)
		},
	}
}

func init() { Register(ReplicaStuckConnecting(ReplicaStuckOptions{})) }

// intendedTimings are the timings the drill's windows come from: the lab's
// intended ones when the target is a lab, else what the replica had when the
// drill started (before any fault). Never the sabotaged values.
func intendedTimings(env *harness.Env) (replica.Timings, string) {
	if env.Lab != nil {
		t := env.Lab.Timings.Replica()
		if t.NetTimeout > 0 && t.ConnectRetry > 0 {
			t.RetryCount = env.Timings.RetryCount
			return t, "the lab's intended timings"
		}
	}
	return env.Timings, "the replica's timings before the fault"
}

// injectFault is Inject for a fault built here: its recovery is deferred
// (it runs on every path) before it is injected as a step.
func injectFault(ctx context.Context, env *harness.Env, f fault.Fault, step string, m *Marks) error {
	env.Defer("recover "+f.Name(), f.Recover)
	return env.Step(ctx, step, func(ctx context.Context) error {
		m.FaultAt = time.Now()
		return f.Inject(ctx)
	})
}

// detectStuck waits until the window after the tunnel came back has passed
// or the IO thread is Yes. It returns "" with the replica_stuck_detected
// check failed ("fault had no effect") when the IO thread came back on its
// own, and the one-line description of the stuck replica (check passed)
// when the tunnel is healthy and the IO thread is still not Yes.
func detectStuck(ctx context.Context, env *harness.Env, m *Marks, window time.Duration, from string) (string, error) {
	r := check.Result{Name: "replica_stuck_detected",
		Expected: fmt.Sprintf("tunnel healthy and IO thread not Yes %.2fs after the tunnel came back (window from %s)", window.Seconds(), from)}
	wctx, cancel := context.WithDeadline(ctx, m.TunnelUpAt.Add(window))
	defer cancel()
	st, err := replica.WaitIO(wctx, env.Replica, harness.ReplicaPoll, replica.IOYes)
	if err == nil {
		m.IOYesAt = st.ObservedAt
		r.Verdict = check.Fail
		r.Observed = fmt.Sprintf("fault had no effect: IO thread Yes %.2fs after the tunnel came back, within the expected %.2fs",
			st.ObservedAt.Sub(m.TunnelUpAt).Seconds(), window.Seconds())
		return "", env.Check(r)
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	first, second := env.TunnelSides()
	hctx, hcancel := context.WithTimeout(ctx, time.Second)
	defer hcancel()
	if err := tunnel.WaitHealthy(hctx, 20*time.Millisecond, first, second); err != nil {
		r.Verdict, r.Observed = check.Fail, "tunnel not healthy, so this is not a stuck replica: "+err.Error()
		return "", env.Check(r)
	}
	now, err := env.Replica.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("read replica status: %w", err)
	}
	if now.IO == replica.IOYes { // came back between the wait and now
		m.IOYesAt = now.ObservedAt
		r.Verdict = check.Fail
		r.Observed = fmt.Sprintf("fault had no effect: IO thread Yes %.2fs after the tunnel came back", now.ObservedAt.Sub(m.TunnelUpAt).Seconds())
		return "", env.Check(r)
	}
	line := fmt.Sprintf("IO thread %s for %.1f s after the tunnel came back: Last_IO_Errno %d: %s (Connect_Retry %d s; expected Yes within %.1f s from %s)",
		orNone(string(now.IO)), now.ObservedAt.Sub(m.TunnelUpAt).Seconds(), now.LastIOErrno, now.LastIOError, now.ConnectRetry, window.Seconds(), from)
	r.Verdict, r.Observed = check.Pass, line
	r.Detail = map[string]any{"io": string(now.IO), "last_io_errno": now.LastIOErrno, "last_io_error": now.LastIOError,
		"connect_retry_s": now.ConnectRetry, "stuck_ms": now.ObservedAt.Sub(m.TunnelUpAt).Milliseconds()}
	env.Timeline.AddAt(now.ObservedAt, "harness", timeline.KindNote, map[string]any{"event": "recognised", "condition": line})
	return line, env.Check(r)
}

func orNone(s string) string {
	if s == "" {
		return "(not configured)"
	}
	return s
}
