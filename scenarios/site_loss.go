package scenarios

import (
	"context"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/target"
)

// SiteLossVariant is how the drill makes sure replication lags when the
// site is lost, so that the loss is real and not ~0 rows on a fast lab.
type SiteLossVariant string

const (
	// DuringVPNOutage: the WAN goes silent first (wan-blackhole), the
	// primary keeps acknowledging writes for AtRisk, then the site is lost.
	DuringVPNOutage SiteLossVariant = "during-vpn-outage"
	// RateLimited: the primary's WAN egress is rate-limited (tc tbf) under
	// a heavy steady writer until the replica trails by LagAtLeast, then
	// the site is lost.
	RateLimited SiteLossVariant = "rate-limited"
)

// Lab defaults of the DR objectives, used where the target declares none
// (target.Objectiver).
const (
	DefaultRPOObjective = 5 * time.Second
	DefaultRTOObjective = 60 * time.Second
)

// LostWritesFile is the artifact the site-loss drill writes to the report
// dir: one lost row change per line (divergence.LostWrite).
const LostWritesFile = "lost-writes.jsonl"

// SiteLoss is issue 11's drill: the primary site is lost while replication
// lags, on-prem is promoted the way a runbook does it, the business runs
// there, the site returns holding writes that never crossed the VPN; they
// are found exactly (lost-writes.jsonl), the returned server is rebuilt
// from the promoted one, and a planned switchover restores the topology.
// It passes or fails on the RPO and RTO objectives, not on zero loss.
func SiteLoss(o SiteLossOptions) harness.Scenario {
	typical := 8300 * time.Millisecond
	name, desc := "site-loss", "the primary site lost during a VPN outage with writes in flight: RPO/RTO against the objectives, on-prem promoted, the lost writes found exactly, the returned site rebuilt and switched back"
	if o.Variant == RateLimited {
		typical = 5600 * time.Millisecond
		name, desc = "site-loss-rate-limited", "site-loss with the WAN rate-limited (tbf) under load so the replica trails: RPO/RTO against the objectives, lost writes found, rebuilt, switched back"
	}
	return harness.Scenario{
		Name:        name,
		Description: desc,
		Timeout:     3 * time.Minute,
		Typical:     typical,
		Needs:       []target.Capability{target.CapExec, target.CapFreeze, target.CapReplicationAccount},
		Plan:        func(in harness.PlanInput) []harness.PlanStep { return planSiteLoss(in, o.withDefaults()) },
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			return runSiteLoss(ctx, Begin(t, env), o.withDefaults())
		},
	}
}

func init() {
	Register(SiteLoss(SiteLossOptions{}))
	Register(SiteLoss(SiteLossOptions{Variant: RateLimited}))
}

func runSiteLoss(ctx context.Context, d *Drill, o SiteLossOptions) error {
	s := &siteDrill{Drill: d, o: o, oldName: d.Primary.Name + "-db", newName: d.Replica.Name + "-db", onpremAdmin: d.Replica.DB}
	if err := s.prepare(); err != nil {
		return err
	}
	defer s.stopWriters()
	if err := d.Baseline(ctx); err != nil {
		return err
	}
	if err := s.baseline(ctx); err != nil {
		return err
	}
	if err := s.lagReplication(ctx); err != nil {
		return err
	}
	if err := s.loseSite(ctx); err != nil {
		return err
	}
	if err := s.promote(ctx); err != nil {
		return err
	}
	if err := s.runOnPrem(ctx); err != nil {
		return err
	}
	if err := s.siteReturns(ctx); err != nil {
		return err
	}
	if err := s.findLostWrites(ctx); err != nil {
		return err
	}
	if err := s.rebuild(ctx); err != nil {
		return err
	}
	if err := s.switchBack(ctx); err != nil {
		return err
	}
	return s.verify(ctx)
}
