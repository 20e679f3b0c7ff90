package scenarios

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/workload"
)

// Defaults of vpn-outage-under-load's steady writer.
const (
	DefaultUnderLoadConns = 4
	DefaultUnderLoadRate  = 300.0 // rows/s across all connections
)

// UnderLoadOptions vary vpn-outage-under-load for tests and the bench.
type UnderLoadOptions struct {
	// Fault is the registered fault that takes the tunnel down ("tunnel-down").
	Fault string
	// Conns and Rate shape the steady writer: connections, and rows/s
	// across all of them (defaults 4 and 300).
	Conns int
	Rate  float64
	// AfterRows is how many rows the writer must have acknowledged after
	// recovery before it is stopped (default: half a second's worth at Rate,
	// at least Conns).
	AfterRows int
	// BeforeVerify runs after catch-up and before the rows are compared
	// (tests use it to damage the replica and prove the checks fail).
	BeforeVerify func(ctx context.Context, env *harness.Env) error
}

func (o UnderLoadOptions) withDefaults() UnderLoadOptions {
	if o.Fault == "" {
		o.Fault = "tunnel-down"
	}
	if o.Conns <= 0 {
		o.Conns = DefaultUnderLoadConns
	}
	if o.Rate <= 0 {
		o.Rate = DefaultUnderLoadRate
	}
	if o.AfterRows <= 0 {
		o.AfterRows = max(o.Conns, int(math.Ceil(o.Rate/2)))
	}
	return o
}

// VPNOutageUnderLoad is the seed drill with a steady writer running through
// it: the rows the primary acknowledges while the tunnel is down pile up as
// a backlog, which the replica must apply after recovery without losing or
// duplicating one. Beyond the seed drill's checks it measures the backlog at
// recovery, the catch-up and the writer.
//
// Metrics (metrics.extra): backlog_at_recovery_rows (rows of this drill on
// the primary minus rows on the replica when the tunnel was healthy again),
// catchup_rows and apply_ms (rows the replica applied, and the time it took,
// from the IO thread Yes again, or tunnel up if later, to the primary's GTID
// position applied), apply_rate_rows_per_s (their quotient; it includes
// the transfer through the tunnel), writer_* (the steady writer's counters,
// achieved rate and shape), writes_late and writes_not_written (unknown
// outcomes as resolved against the primary).
func VPNOutageUnderLoad(o UnderLoadOptions) harness.Scenario {
	o = o.withDefaults()
	return harness.Scenario{
		Name:        "vpn-outage-under-load",
		Description: fmt.Sprintf("the seed drill under a steady writer (%d conns, %g rows/s): the outage's backlog must catch up with no acknowledged write lost or duplicated", o.Conns, o.Rate),
		Timeout:     2 * time.Minute,
		Run:         func(ctx context.Context, env *harness.Env) error { return runUnderLoad(ctx, env, o) },
	}
}

func init() { Register(VPNOutageUnderLoad(UnderLoadOptions{})) }

func runUnderLoad(ctx context.Context, env *harness.Env, o UnderLoadOptions) error {
	var m Marks
	if err := Baseline(ctx, env, workload.MsgBefore); err != nil {
		return err
	}

	// The writer holds one connection per writer for its whole run: it gets
	// a pool of its own, so the drill's reads of the primary never wait.
	pool, err := env.OpenWriterPool(ctx, o.Conns)
	if err != nil {
		return err
	}
	defer pool.Close()
	st := env.Workload.NewSteady(pool.DB(), workload.SteadyConfig{Conns: o.Conns, Rate: o.Rate})
	// On every path: the writer stops before the drill returns (and before
	// the fault's deferred recovery), and its counters reach the report.
	defer func() { writerMetrics(env, st.Stop(), o) }()

	beforeRows := int64(2 * o.Conns)
	if err := env.Step(ctx, fmt.Sprintf("steady writer: %d connections at %g rows/s", o.Conns, o.Rate), func(ctx context.Context) error {
		st.Start(ctx)
		return waitCount(ctx, fmt.Sprintf("%d rows acknowledged before the fault", beforeRows), beforeRows,
			rowsTimeout(beforeRows, o.Rate), func() int64 { return st.Stats().Acked })
	}); err != nil {
		return err
	}

	recoverFault, err := Inject(ctx, env, o.Fault, "step 1: VPN down from aws ("+o.Fault+") under load", &m)
	if err != nil {
		return err
	}
	// The fault is in place: what the writer sends from now on is written
	// during the outage.
	st.SetPhase(workload.PhaseDuring)
	if err := HoldUntilOutageSeen(ctx, env, &m); err != nil {
		return err
	}
	if err := Recover(ctx, env, "step 3: recover in the documented order", &m, func(ctx context.Context) error {
		err := recoverFault(ctx)
		if err == nil {
			st.SetPhase(workload.PhaseAfter)
		}
		return err
	}); err != nil {
		return err
	}

	var onReplicaAtRecovery int64
	if err := env.Step(ctx, "backlog at recovery: rows on the primary the replica has not applied", func(ctx context.Context) error {
		onPrimary, err := countRows(ctx, env.Primary.DB(), env.Workload.DrillID)
		if err != nil {
			return fmt.Errorf("count rows on the primary: %w", err)
		}
		if onReplicaAtRecovery, err = countRows(ctx, env.Replica.DB(), env.Workload.DrillID); err != nil {
			return fmt.Errorf("count rows on the replica: %w", err)
		}
		env.Metric("backlog_at_recovery_rows", onPrimary-onReplicaAtRecovery)
		return nil
	}); err != nil {
		return err
	}

	if err := WaitIOYes(ctx, env, &m); err != nil {
		return err
	}

	afterRows := int64(o.AfterRows)
	if err := env.Step(ctx, fmt.Sprintf("step 4: %d rows written after recovery, then stop the writer", afterRows), func(ctx context.Context) error {
		err := waitCount(ctx, fmt.Sprintf("%d rows acknowledged after recovery", afterRows), afterRows, rowsTimeout(afterRows, o.Rate),
			func() int64 { return int64(env.Workload.Ledger.Summary().AckedByPhase[workload.PhaseAfter]) })
		st.Stop()
		return err
	}); err != nil {
		return err
	}

	if err := env.Step(ctx, "catch up: replica applies the primary's GTID position", func(ctx context.Context) error {
		if err := CatchUp(ctx, env, &m, 60*time.Second); err != nil {
			return err
		}
		onReplica, err := countRows(ctx, env.Replica.DB(), env.Workload.DrillID)
		if err != nil {
			return fmt.Errorf("count rows on the replica: %w", err)
		}
		applyRate(env, &m, onReplica-onReplicaAtRecovery)
		return nil
	}); err != nil {
		return err
	}
	if o.BeforeVerify != nil {
		if err := o.BeforeVerify(ctx, env); err != nil {
			return err
		}
	}
	err = VerifyRows(ctx, env)
	sum := env.Workload.Ledger.Summary()
	env.Metric("writes_late", sum.Late)
	env.Metric("writes_not_written", sum.NotWritten)
	if err != nil {
		return err
	}
	return VerifyTunnel(ctx, env)
}

// applyRate sets catchup_rows, apply_ms and apply_rate_rows_per_s: the
// rows the replica applied from the moment it could (IO thread Yes, or the
// tunnel up if the IO thread was back earlier) until it had applied the
// primary's position. Until then it could apply nothing, so the rows it
// held at tunnel up are the start.
func applyRate(env *harness.Env, m *Marks, rows int64) {
	from := m.IOYesAt
	if from.Before(m.TunnelUpAt) {
		from = m.TunnelUpAt
	}
	d := m.AppliedAt.Sub(from)
	env.Metric("catchup_rows", rows)
	env.Metric("apply_ms", d)
	if d > 0 {
		env.Metric("apply_rate_rows_per_s", math.Round(float64(rows)/d.Seconds()*10)/10)
	}
}

// writerMetrics records the steady writer's counters and shape.
func writerMetrics(env *harness.Env, s workload.Stats, o UnderLoadOptions) {
	env.Metric("writer_conns", o.Conns)
	env.Metric("writer_target_rate_rows_per_s", o.Rate)
	env.Metric("writer_attempted", s.Attempted)
	env.Metric("writer_acked", s.Acked)
	env.Metric("writer_failed", s.Failed)
	env.Metric("writer_unknown", s.Unknown)
	env.Metric("writer_elapsed_ms", s.Elapsed)
	env.Metric("writer_rate_rows_per_s", math.Round(s.Rate()*10)/10)
}

// rowsTimeout bounds a wait for n rows at rate: four times the expected
// time plus room for a statement timeout.
func rowsTimeout(n int64, rate float64) time.Duration {
	return 4*time.Duration(float64(n)/rate*float64(time.Second)) + 2*workload.DefaultTimeout
}

// waitCount polls count until it reaches n, for at most timeout.
func waitCount(ctx context.Context, what string, n int64, timeout time.Duration, count func() int64) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		got := count()
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for %s: %d after %s", what, got, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %d so far: %w", what, got, ctx.Err())
		case <-t.C:
		}
	}
}

// countRows counts one drill's rows on a server.
func countRows(ctx context.Context, db *sql.DB, drillID string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+workload.Table+` WHERE drill_id = ?`, drillID).Scan(&n)
	return n, err
}
