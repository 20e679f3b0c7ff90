package scenarios

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// Steps about the replica beyond the outage: a stuck IO thread, the
// remediation, a backlog and its catch-up.

// DetectStuck waits until the window after the tunnel came back has passed
// or the IO thread is Yes. It returns "" with replica_stuck_detected failed
// ("fault had no effect") when the IO thread came back on its own, and the
// one-line description of the stuck replica (check passed) when the tunnel
// is healthy and the IO thread is still not Yes.
func (d *Drill) DetectStuck(ctx context.Context, window time.Duration) (string, error) {
	env := d.Env
	s := check.StuckReplica{Window: window, WindowFrom: "the replica's timings before the fault"}
	wctx, cancel := context.WithDeadline(ctx, d.TunnelUpAt.Add(window))
	defer cancel()
	st, err := replica.WaitIO(wctx, d.Replica.DB, harness.ReplicaPoll, replica.IOYes)
	if err != nil && ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		// The window has passed: is the tunnel healthy, and the IO thread still not Yes?
		first, second := d.Sides()
		hctx, hcancel := context.WithTimeout(ctx, time.Second)
		s.TunnelErr = tunnel.WaitHealthy(hctx, 20*time.Millisecond, first, second)
		hcancel()
		if st, err = d.Replica.DB.Status(ctx); err != nil {
			return "", fmt.Errorf("read replica status: %w", err)
		}
	}
	s.Status, s.After = st, st.ObservedAt.Sub(d.TunnelUpAt)
	if st.IO == replica.IOYes {
		d.IOYesAt = st.ObservedAt
	}
	r := check.ReplicaStuckDetected(s)
	if !r.Passed() {
		return "", env.Check(r)
	}
	env.Timeline.AddAt(st.ObservedAt, "harness", timeline.KindNote, timeline.Note{"event": "recognised", "condition": r.Observed})
	return r.Observed, env.Check(r)
}

// RestartReplica is the seed's remedy for a stuck IO thread, STOP REPLICA;
// START REPLICA, as a recorded remediation, then the IO thread Yes within
// window, checked (io_recovered_after_remediation). Sets replica_stuck_ms,
// replica_recover_ms and remediation_to_io_yes_ms.
func (d *Drill) RestartReplica(ctx context.Context, why string, window time.Duration) error {
	env := d.Env
	env.Remediated("seed troubleshooting 2: STOP REPLICA; START REPLICA — " + why)
	var at time.Time
	if err := env.Step(ctx, "remediation: STOP REPLICA; START REPLICA", func(ctx context.Context) error {
		at = time.Now()
		env.Metric(harness.ReplicaStuckMS, at.Sub(d.TunnelUpAt))
		return d.Replica.DB.Restart(ctx)
	}); err != nil {
		return err
	}
	if err := env.Step(ctx, "replica IO thread back to Yes after the remediation", func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, window)
		defer cancel()
		st, err := replica.WaitIO(wctx, d.Replica.DB, harness.ReplicaPoll, replica.IOYes)
		if err == nil {
			d.IOYesAt = st.ObservedAt
			waitEvent(ctx, env.Timeline, d.replicaSource(), at, ioYes)
		}
		return env.Check(check.IORecoveredAfterRemediation(env.Timeline.Events(), d.replicaSource(), env.Timeline.Offset(at), window))
	}); err != nil {
		return err
	}
	env.Metric(harness.ReplicaRecoverMS, d.IOYesAt.Sub(d.TunnelUpAt))
	env.Metric(harness.RemediationToIOYesMS, d.IOYesAt.Sub(at))
	return nil
}

// IORunning waits for the IO thread Yes within the reconnect window (no
// outage was seen, so no transition is required) and checks it.
func (d *Drill) IORunning(ctx context.Context) error {
	return d.Env.Step(ctx, "replica IO thread Yes", func(ctx context.Context) error {
		window := d.Env.Timings.ReconnectWindow()
		wctx, cancel := context.WithTimeout(ctx, window)
		defer cancel()
		st, err := replica.WaitIO(wctx, d.Replica.DB, harness.ReplicaPoll, replica.IOYes)
		if err == nil {
			d.IOYesAt = st.ObservedAt
		}
		return d.Env.Check(check.IORunning(string(st.IO), err, window))
	})
}

// Backlog records the rows of this drill the primary holds and the replica
// has not applied (backlog_at_recovery_rows) and returns the replica's count.
func (d *Drill) Backlog(ctx context.Context) (onReplica int64, err error) {
	err = d.Env.Step(ctx, "backlog at recovery: rows on the primary the replica has not applied", func(ctx context.Context) error {
		onPrimary, err := countRows(ctx, d.Primary.DB.DB(), d.Env.Workload)
		if err != nil {
			return fmt.Errorf("count rows on the primary: %w", err)
		}
		if onReplica, err = countRows(ctx, d.Replica.DB.DB(), d.Env.Workload); err != nil {
			return fmt.Errorf("count rows on the replica: %w", err)
		}
		d.Env.Metric(harness.BacklogAtRecoveryRows, onPrimary-onReplica)
		return nil
	})
	return onReplica, err
}

// ApplyRate sets catchup_rows, apply_ms and apply_rate_rows_per_s: the rows
// the replica applied from the moment it could (IO thread Yes, or the
// tunnel up if later) until it had applied the primary's position.
func (d *Drill) ApplyRate(ctx context.Context, onReplicaAtRecovery int64) error {
	onReplica, err := countRows(ctx, d.Replica.DB.DB(), d.Env.Workload)
	if err != nil {
		return fmt.Errorf("count rows on the replica: %w", err)
	}
	rows := onReplica - onReplicaAtRecovery
	from := d.IOYesAt
	if from.Before(d.TunnelUpAt) {
		from = d.TunnelUpAt
	}
	dur := d.AppliedAt.Sub(from)
	d.Env.Metric(harness.CatchupRows, rows)
	d.Env.Metric(harness.ApplyMS, dur)
	d.appliedRows, d.applyTime = rows, dur
	if dur > 0 {
		d.Env.Metric(harness.ApplyRateRowsPerS, math.Round(float64(rows)/dur.Seconds()*10)/10)
	}
	return nil
}

// WriterMetrics records a steady writer's counters and shape.
func (d *Drill) WriterMetrics(s workload.Stats, conns int, rate float64) {
	env := d.Env
	env.Metric(harness.WriterConns, conns)
	env.Metric(harness.WriterTargetRateRowsPerS, rate)
	env.Metric(harness.WriterAttempted, s.Attempted)
	env.Metric(harness.WriterAcked, s.Acked)
	env.Metric(harness.WriterFailed, s.Failed)
	env.Metric(harness.WriterUnknown, s.Unknown)
	env.Metric(harness.WriterElapsedMS, s.Elapsed)
	env.Metric(harness.WriterRateRowsPerS, math.Round(s.Rate()*10)/10)
}

// rowsTimeout bounds a wait for n rows at rate: four times the expected
// time plus room for a statement timeout.
func rowsTimeout(n int64, rate float64) time.Duration {
	return 4*time.Duration(float64(n)/rate*float64(time.Second)) + 2*workload.DefaultTimeout
}

// waitCount waits until count reaches n, for at most timeout.
func waitCount(ctx context.Context, what string, n int64, timeout time.Duration, count func() int64) error {
	return poll.Until(ctx, what, 10*time.Millisecond, timeout, func(context.Context) (bool, string, error) {
		got := count()
		return got >= n, fmt.Sprintf("%d so far", got), nil
	})
}

// countRows counts one drill's rows on a server.
func countRows(ctx context.Context, db *sql.DB, w *workload.Workload) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+w.Table.String()+` WHERE drill_id = ?`, w.DrillID).Scan(&n)
	return n, err
}

// MinApplyRows is the smallest catch-up that measures an apply rate: a
// handful of rows is applied faster than the clock's resolution says
// anything about throughput.
const MinApplyRows = 500

// ProjectCatchUp records catchup_projection: the backlog that outages of
// 1 min, 10 min and 1 h would leave at this drill's write rate, how long
// the replica would take to catch up at the apply rate measured (when the
// drill's backlog was big enough to measure one) while the writes go on,
// and whether the primary's binlog retention covers it. It reads, never
// fails the drill: what it cannot read is said in the projection.
func (d *Drill) ProjectCatchUp(ctx context.Context) {
	entries := d.Env.Workload.Ledger.Entries()
	var first, last time.Time
	for _, e := range entries {
		if first.IsZero() || e.SentAt.Before(first) {
			first = e.SentAt
		}
		if e.AckAt.After(last) {
			last = e.AckAt
		}
	}
	var write float64
	if span := last.Sub(first); len(entries) > 1 && span > 0 {
		write = float64(len(entries)) / span.Seconds()
	}
	var apply float64
	note := "this drill's backlog is a few rows, too few to measure it (vpn-outage-under-load measures it)"
	if d.appliedRows > 0 {
		note = fmt.Sprintf("a catch-up of %d rows is too small (%d or more; vpn-outage-under-load measures it)", d.appliedRows, MinApplyRows)
	}
	if d.appliedRows >= MinApplyRows && d.applyTime > 0 {
		apply = float64(d.appliedRows) / d.applyTime.Seconds()
	}
	info, err := d.Primary.DB.ServerInfo(ctx)
	ret := info.Retention
	if err != nil {
		ret.Setting = "unknown: " + err.Error()
	}
	p := replica.Project(write, apply, note, ret, replica.ProjectedOutages)
	d.Env.Metric(harness.CatchupProjection, p)
	d.Env.Note("catch-up projection", map[string]any{"projection": p.String()})
}
