package scenarios

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
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
	r := check.Result{Name: "replica_stuck_detected",
		Expected: fmt.Sprintf("tunnel healthy and IO thread not Yes %.2fs after the tunnel came back (window from the replica's timings before the fault)", window.Seconds())}
	wctx, cancel := context.WithDeadline(ctx, d.TunnelUpAt.Add(window))
	defer cancel()
	if st, err := replica.WaitIO(wctx, d.Replica.DB, harness.ReplicaPoll, replica.IOYes); err == nil {
		d.IOYesAt = st.ObservedAt
		r.Verdict = check.Fail
		r.Observed = fmt.Sprintf("fault had no effect: IO thread Yes %.2fs after the tunnel came back, within the expected %.2fs",
			st.ObservedAt.Sub(d.TunnelUpAt).Seconds(), window.Seconds())
		return "", env.Check(r)
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	first, second := d.Sides()
	hctx, hcancel := context.WithTimeout(ctx, time.Second)
	defer hcancel()
	if err := tunnel.WaitHealthy(hctx, 20*time.Millisecond, first, second); err != nil {
		r.Verdict, r.Observed = check.Fail, "tunnel not healthy, so this is not a stuck replica: "+err.Error()
		return "", env.Check(r)
	}
	now, err := d.Replica.DB.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("read replica status: %w", err)
	}
	if now.IO == replica.IOYes { // came back between the wait and now
		d.IOYesAt = now.ObservedAt
		r.Verdict = check.Fail
		r.Observed = fmt.Sprintf("fault had no effect: IO thread Yes %.2fs after the tunnel came back", now.ObservedAt.Sub(d.TunnelUpAt).Seconds())
		return "", env.Check(r)
	}
	io := string(now.IO)
	if io == "" {
		io = "(not configured)"
	}
	line := fmt.Sprintf("IO thread %s for %.1f s after the tunnel came back: Last_IO_Errno %d: %s (Connect_Retry %d s; expected Yes within %.1f s)",
		io, now.ObservedAt.Sub(d.TunnelUpAt).Seconds(), now.LastIOErrno, now.LastIOError, now.ConnectRetry, window.Seconds())
	r.Verdict, r.Observed = check.Pass, line
	r.Detail = map[string]any{"io": string(now.IO), "last_io_errno": now.LastIOErrno, "last_io_error": now.LastIOError,
		"connect_retry_s": now.ConnectRetry, "stuck_ms": now.ObservedAt.Sub(d.TunnelUpAt).Milliseconds()}
	env.Timeline.AddAt(now.ObservedAt, "harness", timeline.KindNote, map[string]any{"event": "recognised", "condition": line})
	return line, env.Check(r)
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
			waitEvent(ctx, env.Timeline, d.replicaSource(), at, func(e timeline.Event) bool { return e.Detail["to"] == string(replica.IOYes) })
		}
		r := check.IORecoveredWithin(env.Timeline.Events(), d.replicaSource(), env.Timeline.Offset(at), window)
		r.Name = "io_recovered_after_remediation"
		r.Observed = strings.ReplaceAll(r.Observed, "tunnel up", "STOP/START REPLICA")
		r.Expected = fmt.Sprintf("IO thread Yes within %.2fs of STOP/START REPLICA at %.2fs", window.Seconds(), env.Timeline.Offset(at).Seconds())
		return env.Check(r)
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
		r := check.Result{Name: "io_running", Expected: fmt.Sprintf("IO thread Yes within %.2fs of the tunnel being consistent", window.Seconds())}
		if err != nil {
			r.Verdict, r.Observed = check.Fail, err.Error()
		} else {
			d.IOYesAt = st.ObservedAt
			r.Verdict, r.Observed = check.Pass, "IO thread "+string(st.IO)
		}
		return d.Env.Check(r)
	})
}

// Backlog records the rows of this drill the primary holds and the replica
// has not applied (backlog_at_recovery_rows) and returns the replica's count.
func (d *Drill) Backlog(ctx context.Context) (onReplica int64, err error) {
	err = d.Env.Step(ctx, "backlog at recovery: rows on the primary the replica has not applied", func(ctx context.Context) error {
		onPrimary, err := countRows(ctx, d.Primary.DB.DB(), d.Env.Workload.DrillID)
		if err != nil {
			return fmt.Errorf("count rows on the primary: %w", err)
		}
		if onReplica, err = countRows(ctx, d.Replica.DB.DB(), d.Env.Workload.DrillID); err != nil {
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
	onReplica, err := countRows(ctx, d.Replica.DB.DB(), d.Env.Workload.DrillID)
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
func countRows(ctx context.Context, db *sql.DB, drillID string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+workload.Table+` WHERE drill_id = ?`, drillID).Scan(&n)
	return n, err
}
