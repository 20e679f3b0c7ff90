package scenarios

import (
	"context"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/workload"
	"github.com/drdrill/drdrill/harness/workload/clients"
)

// FailoverFailbackOptions vary the failover drill for tests and for a
// team's own applications.
type FailoverFailbackOptions struct {
	// Profiles are the client behaviours run from every app host (nil:
	// the built-in profiles; empty: no clients). A team names its own
	// apps' here.
	Profiles []clients.Profile
	// Params are the writer-failover fault's (the failing paths:
	// flip_dns=false, leave_old_writer_writable=true).
	Params fault.Params
	// NoFailback skips the failback (the failing path "a failback that
	// never happens"; the fault's own recovery still restores the
	// topology after the checks).
	NoFailback bool
	// Interval is each client's write interval: the resolution of the
	// unavailability measured (DefaultClientInterval if 0).
	Interval time.Duration
	// BeforeFailover runs after the baseline, with the clients writing,
	// right before the failover (tests lag the reader or plant an errant
	// transaction with it).
	BeforeFailover func(ctx context.Context, d *Drill) error
}

// DefaultClientInterval is the clients' write interval: unavailability is
// measured to about this.
const DefaultClientInterval = 8 * time.Millisecond

// FailoverFailback is the second seed (000_…): a planned writer failover
// the way `aws rds failover-db-cluster` does one, held while clients in the
// DB's own network and in a peered one keep writing, then a failback; it
// proves no acknowledged write was lost or duplicated on any server, never
// two writers, no errant GTID, and says per client whether and for how long
// it could not write, and why.
func FailoverFailback(o FailoverFailbackOptions) harness.Scenario {
	if o.Interval == 0 {
		o.Interval = DefaultClientInterval
	}
	return harness.Scenario{
		Name:        "failover-failback",
		Description: "the Aurora incident: planned writer failover and failback with clients from the DB's VPC and a peered VPC; per-client write unavailability and why, no lost or duplicated write, never two writers",
		Timeout:     3 * time.Minute,
		Typical:     5700 * time.Millisecond,
		Needs:       []target.Capability{target.CapCluster},
		Plan:        planFailoverFailback,
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			return runFailoverFailback(ctx, Begin(t, env), o)
		},
	}
}

func init() { Register(FailoverFailback(FailoverFailbackOptions{})) }

func runFailoverFailback(ctx context.Context, d *Drill, o FailoverFailbackOptions) error {
	env := d.Env
	c := &clusterDrill{Drill: d, cl: d.T.(target.Cluster), o: o}
	// Both instances' @@read_only, sampled through the whole drill.
	c.watch = replica.WatchWritable(ctx, c.adminConns(), writableEvery)
	defer c.checkWritable()
	if err := d.Baseline(ctx); err != nil {
		return err
	}
	if err := c.baseline(ctx); err != nil {
		return err
	}
	fleet, err := c.startClients(ctx)
	if err != nil {
		return err
	}
	defer fleet.Stop()
	if o.BeforeFailover != nil {
		if err := o.BeforeFailover(ctx, d); err != nil {
			return err
		}
	}

	fleet.SetPhase(workload.PhaseDuring)
	in, err := d.Inject(ctx, "step 2: failover "+c.writer.Name+" → "+c.reader.Name+" (planned, as aws rds failover-db-cluster)", "writer-failover", o.Params)
	if err != nil {
		return c.refused(err)
	}
	fo := failoverResult(in)
	env.Metric(harness.FailoverMS, fo.FailoverMS)
	if err := c.followsWriter(ctx, "step 2: "+d.Replica.Name+" follows the new writer "+fo.To, fo.To); err != nil {
		return err
	}
	if err := c.hold(ctx, fleet, fo); err != nil {
		return err
	}
	var failback time.Time
	if !o.NoFailback {
		fleet.SetPhase(workload.PhaseAfter)
		failback = time.Now()
		if err := env.Step(ctx, "step 4: failback "+fo.To+" → "+c.writer.Name+" (planned, the same way)", func(ctx context.Context) error {
			if err := in.Recover(ctx); err != nil {
				return err
			}
			return in.WaitRecovered(ctx)
		}); err != nil {
			return err
		}
		if fb := failoverResult(in); fb.To == c.writer.Name {
			env.Metric(harness.FailbackMS, fb.FailoverMS)
		}
		if err := c.followsWriter(ctx, "step 4: "+d.Replica.Name+" follows "+c.writer.Name+" again", c.writer.Name); err != nil {
			return err
		}
		if err := c.afterFailback(ctx, fleet); err != nil {
			return err
		}
	}
	stats := fleet.Stop()
	c.recordClients(stats, fo, failback)
	writer := c.writer
	if o.NoFailback {
		writer = target.InstanceNamed(c.cl, fo.To)
	}
	return c.verify(ctx, writer, stats, fo, failback)
}
