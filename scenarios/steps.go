package scenarios

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// Drill is one run of a drill: the target, the run's record, and the
// instants its metrics are computed from. The steps every drill shares are
// its methods; each is a recorded step.
type Drill struct {
	T                target.Target
	Env              *harness.Env
	Primary, Replica *target.Site
	Marks
	// appliedRows and applyTime are the catch-up ApplyRate measured.
	appliedRows int64
	applyTime   time.Duration
}

// Marks are the instants a drill's metrics are computed from.
type Marks struct {
	FaultAt      time.Time // the fault was injected
	SeenAt       time.Time // the replica showed the outage
	RecoverStart time.Time // recovery began
	TunnelUpAt   time.Time // both gateways healthy again
	IOYesAt      time.Time // the replica's IO thread was Yes again
	AppliedAt    time.Time // the replica had applied the primary's position
}

// Begin starts a drill on t, recording into env.
func Begin(t target.Target, env *harness.Env) *Drill {
	return &Drill{T: t, Env: env, Primary: target.Primary(t), Replica: target.Replica(t)}
}

// Sides are the tunnel's sides in the documented order (the primary's first).
func (d *Drill) Sides() (first, second tunnel.Side) { return d.Primary.Side(), d.Replica.Side() }

func (d *Drill) replicaSource() string { return "replica/" + d.Replica.Name }

// Baseline checks the starting point (tunnel healthy on both sides, IO
// thread Yes), writes the seed's first row and waits until it is replicated.
func (d *Drill) Baseline(ctx context.Context) error {
	return d.Env.Step(ctx, "baseline: tunnel up, replica running, first row replicated", func(ctx context.Context) error {
		first, second := d.Sides()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := tunnel.WaitHealthy(wctx, 10*time.Millisecond, first, second); err != nil {
			return fmt.Errorf("tunnel not healthy before the drill: %w", err)
		}
		if _, err := replica.WaitIO(wctx, d.Replica.DB, harness.ReplicaPoll, replica.IOYes); err != nil {
			return fmt.Errorf("replica not replicating before the drill: %w", err)
		}
		if err := d.ping(ctx, workload.PhaseBefore, workload.MsgBefore); err != nil {
			return err
		}
		pos, err := d.Primary.DB.PrimaryPosition(ctx)
		if err != nil {
			return err
		}
		return d.Replica.DB.WaitApplied(wctx, pos, 10*time.Second)
	})
}

// Inject builds the named fault with its parameters and injects it as a
// step (harness.Env.Inject: its recovery runs on every path).
func (d *Drill) Inject(ctx context.Context, step, name string, p fault.Params) (*harness.Injection, error) {
	f, err := fault.New(name, d.T, d.Env.Timeline, p)
	if err != nil {
		return nil, err
	}
	in, err := d.Env.Inject(ctx, step+" ("+name+")", f)
	d.FaultAt = in.At
	return in, err
}

// WriteDuringOutage is the seed's step 2: one row written to the primary
// while the tunnel is down.
func (d *Drill) WriteDuringOutage(ctx context.Context) error {
	return d.Env.Step(ctx, "step 2: write during the outage", func(ctx context.Context) error {
		return d.ping(ctx, workload.PhaseDuring, workload.MsgDuring)
	})
}

// ping writes one of the seed's rows on the primary (pingSure).
func (d *Drill) ping(ctx context.Context, phase workload.Phase, msg string) error {
	return pingSure(ctx, d.Env.Workload, d.Primary.DB.DB(), phase, msg, func(err error) {
		d.Env.Note("write outcome unknown: written once more on a fresh connection", map[string]any{"error": err.Error()})
	})
}

// pingSure is Workload.Ping, tried once more, on a fresh connection and
// with the next seq, when the first write's outcome is unknown: the
// connection broke after the statement was sent, as when an SSH transport
// is re-established under the pool. The first stays in the ledger as
// unknown and is resolved when the rows are compared; retried says why.
func pingSure(ctx context.Context, w *workload.Workload, db *sql.DB, phase workload.Phase, msg string, retried func(error)) error {
	_, err := w.Ping(ctx, db, phase, msg)
	if errors.Is(err, workload.ErrOutcomeUnknown) && ctx.Err() == nil {
		retried(err)
		_, err = w.Ping(ctx, db, phase, msg)
	}
	return err
}

// HoldUntilOutageSeen holds the outage until the replica shows the seed's
// outage state — IO Connecting with a last IO error — within the window its
// own timings give (OutageEvidenceWindow). If the IO thread never leaves
// Yes the fault had no effect and the drill fails. Sets outage_detect_ms.
func (d *Drill) HoldUntilOutageSeen(ctx context.Context) error {
	env := d.Env
	err := env.Step(ctx, "outage seen: replica IO Connecting", func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, OutageEvidenceWindow(env.Timings))
		defer cancel()
		// Connecting comes a moment before Last_IO_Errno is filled: wait
		// for both (docs/findings.md#io-connecting-before-errno).
		st, err := replica.WaitFor(wctx, d.Replica.DB, harness.ReplicaPoll, "IO thread Connecting with a last IO error",
			func(s replica.Status) bool { return s.IO != replica.IOYes && s.LastIOErrno != 0 })
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err == nil {
			d.SeenAt = st.ObservedAt
			// The watcher may stamp the change a poll later; give it that.
			waitEvent(ctx, env.Timeline, d.replicaSource(), d.FaultAt, ioErrno(st.IO))
		}
		return env.Check(check.OutageObserved(env.Timeline.Events(), d.replicaSource(), env.Timeline.Offset(d.FaultAt), env.Timeline.Since()))
	})
	if err == nil {
		env.Metric(harness.OutageDetectMS, d.SeenAt.Sub(d.FaultAt))
	}
	return err
}

// OutageEvidenceWindow is how long after the fault the replica must show
// the seed's outage state: the IO thread notices the dead connection
// (OutageDetectWindow), then its first reconnect must fail, which takes at
// most the connect retry plus a connect timeout (the net timeout) when the
// network drops packets silently.
func OutageEvidenceWindow(t replica.Timings) time.Duration {
	return t.OutageDetectWindow() + t.ConnectRetry + t.NetTimeout
}

// Recover undoes the fault's cause and waits for steady state, as a step;
// sets tunnel_recover_ms.
func (d *Drill) Recover(ctx context.Context, step string, in *harness.Injection) error {
	return d.RecoverWith(ctx, step, func(ctx context.Context) error {
		if err := in.Recover(ctx); err != nil {
			return err
		}
		return in.WaitRecovered(ctx)
	})
}

// RecoverWith runs a drill's own recovery as a step; sets tunnel_recover_ms.
func (d *Drill) RecoverWith(ctx context.Context, step string, recover func(context.Context) error) error {
	err := d.Env.Step(ctx, step, func(ctx context.Context) error {
		d.RecoverStart = time.Now()
		err := recover(ctx)
		// A step inside (a self-heal wait, the documented order) may have
		// seen the tunnel healthy already: keep that instant, not the end
		// of what followed it (over SSH the replica can be back first).
		if d.TunnelUpAt.Before(d.RecoverStart) {
			d.TunnelUpAt = time.Now()
		}
		return err
	})
	if err == nil {
		d.Env.Metric(harness.TunnelRecoverMS, d.TunnelUpAt.Sub(d.RecoverStart))
	}
	return err
}

// RecoverTunnelInOrder brings the tunnel back in the seed's documented
// order (first down; second down, second up; first up) as a step.
func (d *Drill) RecoverTunnelInOrder(ctx context.Context, step string) error {
	first, second := d.Sides()
	return d.RecoverWith(ctx, step, func(ctx context.Context) error {
		return tunnel.RecoverInOrder(ctx, first, second, d.Env.Timeline, 10*time.Second)
	})
}

// VerifyOptions vary VerifyRecovery.
type VerifyOptions struct {
	// NoRowAfter writes no row after recovery.
	NoRowAfter bool
	// BeforeVerify runs after catch-up and before the rows are compared
	// (tests damage the replica with it to prove the checks fail).
	BeforeVerify func(ctx context.Context, d *Drill) error
}

// VerifyRecovery is the second half of every outage drill: IO thread Yes
// within the window the replica's timings give, a row after recovery,
// catch-up to the primary's GTID position, the replica's rows equal to the
// ledger, the tunnel healthy on both sides.
func (d *Drill) VerifyRecovery(ctx context.Context, o VerifyOptions) error {
	if err := d.WaitIOYes(ctx); err != nil {
		return err
	}
	return d.VerifyCaughtUp(ctx, o)
}

// VerifyCaughtUp is VerifyRecovery without the IO thread's wait: a row
// after recovery, catch-up, rows equal to the ledger, tunnel healthy.
func (d *Drill) VerifyCaughtUp(ctx context.Context, o VerifyOptions) error {
	if err := d.Env.Step(ctx, "step 4: write after recovery and catch up", func(ctx context.Context) error {
		if !o.NoRowAfter {
			if err := d.ping(ctx, workload.PhaseAfter, workload.MsgAfter); err != nil {
				return err
			}
		}
		return d.CatchUp(ctx, 60*time.Second)
	}); err != nil {
		return err
	}
	if o.BeforeVerify != nil {
		if err := o.BeforeVerify(ctx, d); err != nil {
			return err
		}
	}
	if err := d.VerifyRows(ctx); err != nil {
		return err
	}
	if err := d.VerifyTunnel(ctx); err != nil {
		return err
	}
	d.ProjectCatchUp(ctx)
	return nil
}

// CatchUp waits until the replica has applied the primary's GTID position,
// checks it, and sets catchup_ms (from the tunnel being healthy again).
func (d *Drill) CatchUp(ctx context.Context, timeout time.Duration) error {
	pos, err := d.Primary.DB.PrimaryPosition(ctx)
	if err != nil {
		return err
	}
	werr := d.Replica.DB.WaitApplied(ctx, pos, timeout)
	d.AppliedAt = time.Now()
	applied, aerr := d.Replica.DB.AppliedPosition(ctx)
	covered, cerr := false, errors.Join(werr, aerr)
	if cerr == nil {
		covered, cerr = replica.Covers(d.Replica.DB.Flavor(), applied, pos)
	}
	if err := d.Env.Check(check.GTIDApplied(pos, applied, covered, cerr)); err != nil {
		return err
	}
	if !d.TunnelUpAt.IsZero() {
		d.Env.Metric(harness.CatchupMS, d.AppliedAt.Sub(d.TunnelUpAt))
	}
	return nil
}

// VerifyRows compares the replica's rows of this drill with the ledger of
// acknowledged writes (unknown outcomes resolved against the primary first)
// and sets the row metrics.
func (d *Drill) VerifyRows(ctx context.Context) error {
	env := d.Env
	return env.Step(ctx, "verify: replica rows equal the ledger", func(ctx context.Context) error {
		ledger := env.Workload.Ledger
		if len(ledger.Unknown()) > 0 {
			if _, err := ledger.ResolveUnknown(ctx, d.Primary.DB.DB()); err != nil {
				return err
			}
		}
		rows, err := workload.ReadBack(ctx, d.Replica.DB.DB(), env.Workload.Table, env.Workload.DrillID)
		if err != nil {
			return err
		}
		diff := check.DiffLedger(ledger.Entries(), rows, ledger.Unknown()...)
		sum := ledger.Summary()
		env.Metric(harness.RowsWritten, sum.Acked)
		env.Metric(harness.RowsWrittenDuringOutage, sum.AckedByPhase[workload.PhaseDuring])
		env.Metric(harness.RowsMissingOnReplica, diff.RowsMissing())
		env.Metric(harness.RowsUnexpectedOnReplica, diff.RowsUnexpected())
		return env.Check(diff.Result())
	})
}

// VerifyTunnel checks both gateways: one IKE SA, one CHILD SA, ESTABLISHED/
// INSTALLED with the configured traffic selectors, "1 up".
func (d *Drill) VerifyTunnel(ctx context.Context) error {
	return d.Env.Step(ctx, "verify: tunnel ESTABLISHED/INSTALLED, 1 up, both sides", func(ctx context.Context) error {
		first, second := d.Sides()
		states, err := tunnel.Snapshot(ctx, first, second)
		if err != nil {
			return err
		}
		return d.Env.Check(check.TunnelHealthy(states, first.Want.Connection,
			map[string][]string{first.GW.Name(): first.Want.LocalTS, second.GW.Name(): second.Want.LocalTS},
			map[string][]string{first.GW.Name(): first.Want.RemoteTS, second.GW.Name(): second.Want.RemoteTS}))
	})
}

// WaitIOYes waits for the IO thread Yes again within the window the
// replica's timings give (from the tunnel up), and checks it. Sets
// replica_recover_ms.
func (d *Drill) WaitIOYes(ctx context.Context) error {
	env := d.Env
	window := env.Timings.ReconnectWindow()
	if err := env.Step(ctx, "replica IO thread back to Yes", func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, window)
		defer cancel()
		st, err := replica.WaitIO(wctx, d.Replica.DB, harness.ReplicaPoll, replica.IOYes)
		if err == nil {
			d.IOYesAt = st.ObservedAt
			waitEvent(ctx, env.Timeline, d.replicaSource(), d.RecoverStart, ioYes)
		}
		return env.Check(check.IORecoveredWithin(env.Timeline.Events(), d.replicaSource(), env.Timeline.Offset(d.RecoverStart), env.Timeline.Offset(d.TunnelUpAt), window))
	}); err != nil {
		return err
	}
	env.Metric(harness.ReplicaRecoverMS, max(d.IOYesAt.Sub(d.TunnelUpAt), 0))
	return nil
}

// watcherLag bounds waitEvent: how far the replica watcher may trail what
// a step saw directly.
const watcherLag = 2 * time.Second

// ioErrno matches the watcher's record of the IO thread in state io with a
// last IO error: the state change itself, or, when the errno is filled a
// poll after Connecting (docs/findings.md#io-connecting-before-errno), the
// io_error note that follows it.
func ioErrno(io replica.IOState) func(timeline.Event) bool {
	return func(e timeline.Event) bool {
		if s, ok := timeline.As[timeline.IOState](e); ok {
			return s.To == string(io) && s.LastIOErrno != 0
		}
		n, ok := timeline.As[timeline.IOErrorNote](e)
		return ok && n.To == string(io) && n.LastIOErrno != 0
	}
}

// ioYes matches the IO thread's change to Yes.
func ioYes(e timeline.Event) bool {
	io, ok := timeline.As[timeline.IOState](e)
	return ok && io.To == string(replica.IOYes)
}

// waitEvent gives the watcher time to record what the caller just saw, so
// that checks which read the timeline see it too (a check that then misses
// it says so). The watcher polls every ReplicaPoll, but under load one of
// its SHOW SLAVE STATUS round trips can take far longer (a suite run with
// the CPU saturated failed io_recovered when this wait was 4 polls).
func waitEvent(ctx context.Context, tl *timeline.Timeline, src string, since time.Time, match func(timeline.Event) bool) {
	after := tl.Offset(since)
	_ = poll.Until(ctx, "the watcher to record "+src, harness.ReplicaPoll/4, watcherLag, func(context.Context) (bool, string, error) {
		evs := tl.Events()
		for i := len(evs) - 1; i >= 0; i-- {
			if e := evs[i]; e.At() >= after && e.Source == src && (e.Kind == timeline.KindIOState || e.Kind == timeline.KindNote) && match(e) {
				return true, "", nil
			}
		}
		return false, "", nil
	})
}

// VerifyCaughtUpRows is the proof of a drill that caught up already: rows
// equal to the ledger (with writes_late and writes_not_written from the
// resolved unknown outcomes), the tunnel healthy.
func (d *Drill) VerifyCaughtUpRows(ctx context.Context, o VerifyOptions) error {
	if o.BeforeVerify != nil {
		if err := o.BeforeVerify(ctx, d); err != nil {
			return err
		}
	}
	err := d.VerifyRows(ctx)
	sum := d.Env.Workload.Ledger.Summary()
	d.Env.Metric(harness.WritesLate, sum.Late)
	d.Env.Metric(harness.WritesNotWritten, sum.NotWritten)
	if err != nil {
		return err
	}
	if err := d.VerifyTunnel(ctx); err != nil {
		return err
	}
	d.ProjectCatchUp(ctx)
	return nil
}
