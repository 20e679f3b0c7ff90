package scenarios

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/workload"
)

// Defaults of vpn-outage-under-load's steady writer.
const (
	DefaultUnderLoadConns = 4
	DefaultUnderLoadRate  = 300.0 // rows/s across all connections
)

// UnderLoadOptions vary vpn-outage-under-load for tests and the bench.
type UnderLoadOptions struct {
	Fault string // the registered fault that takes the tunnel down ("tunnel-down")
	// Conns and Rate shape the steady writer (defaults 4 and 300 rows/s).
	Conns int
	Rate  float64
	// AfterRows is how many rows the writer must have acknowledged after
	// recovery before it is stopped (default: half a second's worth).
	AfterRows int
	Verify    VerifyOptions
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
// duplicating one. It measures the backlog at recovery, the catch-up and
// the writer (metrics.extra: backlog_at_recovery_rows, catchup_rows,
// apply_ms, apply_rate_rows_per_s, writer_*, writes_late, writes_not_written).
func VPNOutageUnderLoad(o UnderLoadOptions) harness.Scenario {
	o = o.withDefaults()
	return harness.Scenario{
		Name:        "vpn-outage-under-load",
		Description: fmt.Sprintf("the seed drill under a steady writer (%d conns, %g rows/s): the outage's backlog must catch up with no acknowledged write lost or duplicated", o.Conns, o.Rate),
		Timeout:     2 * time.Minute,
		Typical:     4300 * time.Millisecond,
		Plan:        planUnderLoad(o),
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			d := Begin(t, env)
			if err := d.Baseline(ctx); err != nil {
				return err
			}
			// The writer holds its connections for the whole drill: a pool of
			// its own, so that the drill's reads of the primary never wait.
			pool, err := t.OpenDB(ctx, d.Primary.Name, o.Conns)
			if err != nil {
				return err
			}
			defer pool.Close()
			st := env.Workload.NewSteady(pool.DB(), workload.SteadyConfig{Conns: o.Conns, Rate: o.Rate})
			// On every path the writer stops before the fault's recovery.
			defer func() { d.WriterMetrics(st.Stop(), o.Conns, o.Rate) }()
			before := int64(2 * o.Conns)
			if err := env.Step(ctx, fmt.Sprintf("steady writer: %d connections at %g rows/s", o.Conns, o.Rate), func(ctx context.Context) error {
				st.Start(ctx)
				return waitCount(ctx, fmt.Sprintf("%d rows acknowledged before the fault", before), before, rowsTimeout(before, o.Rate), func() int64 { return st.Stats().Acked })
			}); err != nil {
				return err
			}
			in, err := d.Inject(ctx, "step 1: VPN down from "+d.Primary.Name+" under load", o.Fault, nil)
			if err != nil {
				return err
			}
			st.SetPhase(workload.PhaseDuring)
			if err := d.HoldUntilOutageSeen(ctx); err != nil {
				return err
			}
			if err := d.Recover(ctx, "step 3: recover in the documented order", in); err != nil {
				return err
			}
			st.SetPhase(workload.PhaseAfter)
			atRecovery, err := d.Backlog(ctx)
			if err != nil {
				return err
			}
			if err := d.WaitIOYes(ctx); err != nil {
				return err
			}
			after := int64(o.AfterRows)
			if err := env.Step(ctx, fmt.Sprintf("step 4: %d rows written after recovery, then stop the writer", after), func(ctx context.Context) error {
				defer st.Stop()
				return waitCount(ctx, fmt.Sprintf("%d rows acknowledged after recovery", after), after, rowsTimeout(after, o.Rate),
					func() int64 { return int64(env.Workload.Ledger.Summary().AckedByPhase[workload.PhaseAfter]) })
			}); err != nil {
				return err
			}
			if err := env.Step(ctx, "catch up: replica applies the primary's GTID position", func(ctx context.Context) error {
				if err := d.CatchUp(ctx, 60*time.Second); err != nil {
					return err
				}
				return d.ApplyRate(ctx, atRecovery)
			}); err != nil {
				return err
			}
			o.Verify.NoRowAfter = true
			return d.VerifyCaughtUpRows(ctx, o.Verify)
		},
	}
}

func init() { Register(VPNOutageUnderLoad(UnderLoadOptions{})) }
