package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// The building blocks every outage drill shares: a healthy start, a fault
// whose recovery always runs, the outage held until the replica shows it,
// and the proof after recovery. Each is a recorded step.

// Marks are the instants a drill's metrics are computed from.
type Marks struct {
	FaultAt      time.Time // the fault was injected
	SeenAt       time.Time // the replica showed the outage
	RecoverStart time.Time // recovery began
	TunnelUpAt   time.Time // both gateways healthy again
	IOYesAt      time.Time // the replica's IO thread was Yes again
	AppliedAt    time.Time // the replica had applied the primary's position
}

// replicaSource is the timeline source of the replica's watcher.
const replicaSource = "replica/" + harness.ReplicaSite

// Baseline checks the starting point (tunnel healthy on both sides, IO
// thread Yes), writes the seed's first row and waits until it is replicated.
func Baseline(ctx context.Context, env *harness.Env, msg string) error {
	return env.Step(ctx, "baseline: tunnel up, replica running, first row replicated", func(ctx context.Context) error {
		first, second := env.TunnelSides()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := tunnel.WaitHealthy(wctx, 10*time.Millisecond, first, second); err != nil {
			return fmt.Errorf("tunnel not healthy before the drill: %w", err)
		}
		if _, err := replica.WaitIO(wctx, env.Replica, harness.ReplicaPoll, replica.IOYes); err != nil {
			return fmt.Errorf("replica not replicating before the drill: %w", err)
		}
		if _, err := env.Workload.Ping(ctx, env.Primary.DB(), workload.PhaseBefore, msg); err != nil {
			return err
		}
		pos, err := env.Primary.PrimaryPosition(ctx)
		if err != nil {
			return err
		}
		return env.Replica.WaitApplied(wctx, pos, 10*time.Second)
	})
}

// Inject builds the named fault, registers its recovery (which runs on
// every path, with a fresh context) and injects it as a step. The returned
// recover function is for the drill's own recovery step; the deferred one
// then does nothing.
func Inject(ctx context.Context, env *harness.Env, name, step string, m *Marks) (recover func(context.Context) error, err error) {
	f, err := fault.New(name, env)
	if err != nil {
		return nil, err
	}
	recovered := false
	env.Defer("recover "+f.Name(), func(ctx context.Context) error {
		if recovered {
			return nil
		}
		return f.Recover(ctx)
	})
	if err := env.Step(ctx, step, func(ctx context.Context) error {
		m.FaultAt = time.Now()
		env.FaultInPlace(true)
		return f.Inject(ctx)
	}); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		err := f.Recover(ctx)
		recovered = err == nil
		env.FaultInPlace(!recovered)
		return err
	}, nil
}

// HoldUntilOutageSeen holds the outage until the replica shows the seed's
// outage state — IO Connecting with a last IO error — within the window its
// own timings give. If the IO thread never leaves Yes the fault had no
// effect and the drill fails. Sets outage_detect_ms.
func HoldUntilOutageSeen(ctx context.Context, env *harness.Env, m *Marks) error {
	err := env.Step(ctx, "outage seen: replica IO Connecting", func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, OutageEvidenceWindow(env.Timings))
		defer cancel()
		// Connecting comes a moment before Last_IO_Errno is filled: wait
		// for both, the seed's "IO: Connecting … Last_IO_Error".
		st, err := replica.WaitFor(wctx, env.Replica, harness.ReplicaPoll, "IO thread Connecting with a last IO error",
			func(s replica.Status) bool { return s.IO != replica.IOYes && s.LastIOErrno != 0 })
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err == nil {
			m.SeenAt = st.ObservedAt
			// The watcher may stamp the change a poll later; give it that.
			waitEvent(ctx, env.Timeline, replicaSource, m.FaultAt, func(e timeline.Event) bool {
				n, _ := e.Detail["last_io_errno"].(int)
				return e.Detail["to"] == string(st.IO) && n != 0
			})
		}
		return env.Check(check.OutageObserved(env.Timeline.Events(), replicaSource, env.Timeline.Offset(m.FaultAt), env.Timeline.Since()))
	})
	if err == nil {
		env.Metric("outage_detect_ms", m.SeenAt.Sub(m.FaultAt))
	}
	return err
}

// OutageEvidenceWindow is how long after the fault the replica must show
// the seed's outage state: the IO thread notices the dead connection
// (OutageDetectWindow), then its first reconnect must fail, which takes at
// most the connect retry plus a connect timeout (MariaDB and MySQL use the
// net timeout for it) when the network drops packets silently. On the lab
// the reconnect is refused at once.
func OutageEvidenceWindow(t replica.Timings) time.Duration {
	return t.OutageDetectWindow() + t.ConnectRetry + t.NetTimeout
}

// Recover runs the drill's recovery as a step and sets tunnel_recover_ms.
func Recover(ctx context.Context, env *harness.Env, step string, m *Marks, recover func(context.Context) error) error {
	err := env.Step(ctx, step, func(ctx context.Context) error {
		m.RecoverStart = time.Now()
		err := recover(ctx)
		m.TunnelUpAt = time.Now()
		return err
	})
	if err == nil {
		env.Metric("tunnel_recover_ms", m.TunnelUpAt.Sub(m.RecoverStart))
	}
	return err
}

// VerifyOptions vary VerifyRecovery.
type VerifyOptions struct {
	// AfterMsg is the row written after recovery ("" writes none).
	AfterMsg string
	// BeforeVerify runs after catch-up and before the rows are compared.
	BeforeVerify func(ctx context.Context, env *harness.Env) error
}

// VerifyRecovery is the second half of every outage drill: IO thread Yes
// within the window the replica's timings give, a row after recovery,
// catch-up to the primary's GTID position, the replica's rows equal to the
// ledger, the tunnel healthy on both sides.
func VerifyRecovery(ctx context.Context, env *harness.Env, m *Marks, o VerifyOptions) error {
	if err := WaitIOYes(ctx, env, m); err != nil {
		return err
	}
	if err := env.Step(ctx, "step 4: write after recovery and catch up", func(ctx context.Context) error {
		if o.AfterMsg != "" {
			if _, err := env.Workload.Ping(ctx, env.Primary.DB(), workload.PhaseAfter, o.AfterMsg); err != nil {
				return err
			}
		}
		return CatchUp(ctx, env, m, 60*time.Second)
	}); err != nil {
		return err
	}
	if o.BeforeVerify != nil {
		if err := o.BeforeVerify(ctx, env); err != nil {
			return err
		}
	}
	if err := VerifyRows(ctx, env); err != nil {
		return err
	}
	return VerifyTunnel(ctx, env)
}

// CatchUp waits until the replica has applied the primary's GTID position,
// checks it, and sets catchup_ms (from the tunnel being healthy again).
func CatchUp(ctx context.Context, env *harness.Env, m *Marks, timeout time.Duration) error {
	pos, err := env.Primary.PrimaryPosition(ctx)
	if err != nil {
		return err
	}
	werr := env.Replica.WaitApplied(ctx, pos, timeout)
	m.AppliedAt = time.Now()
	applied, aerr := env.Replica.AppliedPosition(ctx)
	covered, cerr := false, errors.Join(werr, aerr)
	if cerr == nil {
		covered, cerr = replica.Covers(env.Replica.Flavor(), applied, pos)
	}
	if err := env.Check(check.GTIDApplied(pos, applied, covered, cerr)); err != nil {
		return err
	}
	if !m.TunnelUpAt.IsZero() {
		env.Metric("catchup_ms", m.AppliedAt.Sub(m.TunnelUpAt))
	}
	return nil
}

// VerifyRows compares the replica's rows of this drill with the ledger of
// acknowledged writes (unknown outcomes resolved against the primary first)
// and sets the row metrics.
func VerifyRows(ctx context.Context, env *harness.Env) error {
	return env.Step(ctx, "verify: replica rows equal the ledger", func(ctx context.Context) error {
		ledger := env.Workload.Ledger
		if len(ledger.Unknown()) > 0 {
			if _, err := ledger.ResolveUnknown(ctx, env.Primary.DB()); err != nil {
				return err
			}
		}
		rows, err := workload.ReadBack(ctx, env.Replica.DB(), env.Workload.DrillID)
		if err != nil {
			return err
		}
		diff := check.DiffLedger(ledger.Entries(), rows, ledger.Unknown()...)
		sum := ledger.Summary()
		env.Metric("rows_written", sum.Acked)
		env.Metric("rows_written_during_outage", sum.AckedByPhase[workload.PhaseDuring])
		env.Metric("rows_missing_on_replica", diff.RowsMissing())
		env.Metric("rows_unexpected_on_replica", diff.RowsUnexpected())
		return env.Check(diff.Result())
	})
}

// VerifyTunnel checks both gateways: one IKE SA, one CHILD SA, ESTABLISHED/
// INSTALLED with the configured traffic selectors, "1 up".
func VerifyTunnel(ctx context.Context, env *harness.Env) error {
	return env.Step(ctx, "verify: tunnel ESTABLISHED/INSTALLED, 1 up, both sides", func(ctx context.Context) error {
		first, second := env.TunnelSides()
		a, aerr := first.GW.State(ctx, first.Want.Connection)
		b, berr := second.GW.State(ctx, second.Want.Connection)
		if err := errors.Join(aerr, berr); err != nil {
			return err
		}
		return env.Check(check.TunnelHealthy([]tunnel.State{a, b}, first.Want.Connection,
			map[string][]string{first.GW.Name(): first.Want.LocalTS, second.GW.Name(): second.Want.LocalTS},
			map[string][]string{first.GW.Name(): first.Want.RemoteTS, second.GW.Name(): second.Want.RemoteTS}))
	})
}

// waitEvent waits briefly (a few polls) for the watcher to record what the
// caller just saw, so that checks which read the timeline see it too.
func waitEvent(ctx context.Context, tl *timeline.Timeline, src string, since time.Time, match func(timeline.Event) bool) {
	after := tl.Offset(since)
	t := time.NewTicker(harness.ReplicaPoll / 4)
	defer t.Stop()
	deadline := time.After(4 * harness.ReplicaPoll)
	for {
		evs := tl.Events()
		for i := len(evs) - 1; i >= 0; i-- {
			if e := evs[i]; e.At() >= after && e.Source == src && (e.Kind == timeline.KindIOState || e.Kind == timeline.KindNote) && match(e) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-t.C:
		}
	}
}

// WaitIOYes is VerifyRecovery's first step: the IO thread Yes again within
// the window the replica's timings give. Sets replica_recover_ms.
func WaitIOYes(ctx context.Context, env *harness.Env, m *Marks) error {
	window := env.Timings.ReconnectWindow()
	if err := env.Step(ctx, "replica IO thread back to Yes", func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, window)
		defer cancel()
		st, err := replica.WaitIO(wctx, env.Replica, harness.ReplicaPoll, replica.IOYes)
		if err == nil {
			m.IOYesAt = st.ObservedAt
			waitEvent(ctx, env.Timeline, replicaSource, m.TunnelUpAt, func(e timeline.Event) bool { return e.Detail["to"] == string(replica.IOYes) })
		}
		return env.Check(check.IORecoveredWithin(env.Timeline.Events(), replicaSource, env.Timeline.Offset(m.TunnelUpAt), window))
	}); err != nil {
		return err
	}
	env.Metric("replica_recover_ms", m.IOYesAt.Sub(m.TunnelUpAt))
	return nil
}

// WriteDuringOutage is the seed's step 2: one row written to the primary
// while the tunnel is down.
func WriteDuringOutage(ctx context.Context, env *harness.Env) error {
	return env.Step(ctx, "step 2: write during the outage", func(ctx context.Context) error {
		_, err := env.Workload.Ping(ctx, env.Primary.DB(), workload.PhaseDuring, workload.MsgDuring)
		return err
	})
}
