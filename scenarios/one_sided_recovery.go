package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// OneSidedRecoveryOptions vary the drill.
type OneSidedRecoveryOptions struct {
	// InitiateFrom is the site that re-initiates alone: "" is the side that
	// still holds the stale SA (the replica's), which leaves the tunnel
	// broken; the reset side shows the other outcome (nothing to fix).
	InitiateFrom string
	// NoRemediation recognises the condition but does not repair it: the
	// drill then fails with the diagnosis.
	NoRemediation bool
}

// OneSidedRecovery is seed troubleshooting 1: only one side's session is
// cleaned up and a reconnect is attempted. The fault one-sided-reset makes
// the primary's gateway drop its IKE SA while its DELETE never reaches the
// other; one side then re-initiates alone. The harness recognises a stale
// state from both gateways' VICI state (SPIs one side has and the other not)
// and applies the documented fix as a recorded remediation: both sides
// fully down, the outage held until the replica shows it, then up in the
// documented order. What strongSwan does: docs/findings.md#one-sided-reset.
func OneSidedRecovery(o OneSidedRecoveryOptions) harness.Scenario {
	return harness.Scenario{
		Name:        "one-sided-recovery",
		Description: "troubleshooting 1: aws loses its SAs without on-prem learning of it, one side re-initiates alone; recognise the stale state, fix it (both sides down, then up in the documented order), verify",
		Timeout:     2 * time.Minute,
		Typical:     4300 * time.Millisecond,
		Needs:       []target.Capability{target.CapExec},
		Plan:        planOneSided,
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			d := Begin(t, env)
			logs := d.FollowLogs(ctx)
			defer logs.Stop()
			first, second := d.Sides()
			initiator := second
			switch o.InitiateFrom {
			case "", second.GW.Name():
			case first.GW.Name():
				initiator = first
			default:
				return fmt.Errorf("one-sided-recovery: initiate from %q: no such site (want %s or %s)", o.InitiateFrom, first.GW.Name(), second.GW.Name())
			}
			if err := d.Baseline(ctx); err != nil {
				return err
			}
			in, err := d.Inject(ctx, "step 1: "+first.GW.Name()+" loses its IKE SA, its DELETE never reaches "+second.GW.Name(), "one-sided-reset", nil)
			if err != nil {
				return err
			}
			if err := d.WriteDuringOutage(ctx); err != nil {
				return err
			}
			var outcome string
			if err := d.RecoverWith(ctx, "step 3: "+initiator.GW.Name()+" re-initiates alone (no down on either side)", func(ctx context.Context) error {
				outcome = d.InitiateAlone(ctx, initiator)
				return nil // the outcome is evidence, not a failure of the step
			}); err != nil {
				return err
			}
			var findings []string
			var recognised string
			if err := env.Step(ctx, "recognise: compare both gateways' SAs", func(ctx context.Context) error {
				var a, b tunnel.State
				var err error
				findings, recognised, a, b, err = d.Recognise(ctx, initiator.GW.Name(), outcome, logs)
				if err != nil || len(findings) == 0 || !o.NoRemediation {
					return err
				}
				env.Diagnose("one-sided recovery left the tunnel inconsistent: " + strings.Join(findings, "; "))
				return env.Check(check.SAsMatch(a, b, first.Want.Connection))
			}); err != nil {
				return err
			}
			if len(findings) == 0 {
				// strongSwan repaired it itself (INITIAL_CONTACT), too fast for
				// the replica to notice: no remediation, no outage to see.
				if err := in.WaitRecovered(ctx); err != nil {
					return err
				}
				if err := d.IORunning(ctx); err != nil {
					return err
				}
				if err := d.VerifyCaughtUp(ctx, VerifyOptions{}); err != nil {
					return err
				}
				return d.VerifySAsMatch(ctx)
			}
			env.Remediated("seed troubleshooting 1: both sides fully down, then up in the documented order; recognised: " + recognised)
			if err := env.Step(ctx, "remediation: both sides fully down ("+first.GW.Name()+", then "+second.GW.Name()+")", func(ctx context.Context) error {
				return errors.Join(d.DownSide(ctx, first), d.DownSide(ctx, second))
			}); err != nil {
				return err
			}
			// Nothing heals while both sides are down: hold the outage until
			// the replica shows it, so that the proof sees Connecting → Yes.
			if err := d.HoldUntilOutageSeen(ctx); err != nil {
				return err
			}
			if err := d.Recover(ctx, "remediation: up in the documented order", in); err != nil {
				return err
			}
			if err := d.VerifyRecovery(ctx, VerifyOptions{}); err != nil {
				return err
			}
			return d.VerifySAsMatch(ctx)
		},
	}
}

func init() { Register(OneSidedRecovery(OneSidedRecoveryOptions{})) }
