package scenarios

import (
	"context"
	"errors"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/target"
)

// WANBlackholeOptions vary the wan-blackhole drill for tests.
type WANBlackholeOptions struct {
	// KeepBlackhole skips the lift: the tunnel cannot heal, and the drill
	// must fail saying what the gateways are doing (the deferred recovery
	// lifts it afterwards, as on every path).
	KeepBlackhole bool
}

// WANBlackhole is the silent-WAN drill: everything between the gateways is
// dropped for longer than DPD, with no DELETE and no ICMP. DPD declares the
// peer dead, the replica's reconnects time out (errno 110, the seed's
// error), and once the WAN is back the tunnel comes back by itself
// (dpd_action=restart) — nobody calls initiate. What the lab showed:
// docs/findings.md#dpd-silent-wan.
func WANBlackhole(o WANBlackholeOptions) harness.Scenario {
	return harness.Scenario{
		Name:        "wan-blackhole",
		Description: "the WAN drops IKE/ESP silently past DPD: DPD declares the peer dead, the replica times out (errno 110), the tunnel heals by itself once the WAN is back",
		Timeout:     2 * time.Minute,
		Typical:     7400 * time.Millisecond,
		Needs:       []target.Capability{target.CapExec},
		Plan:        planWANBlackhole,
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			d := Begin(t, env)
			logs := d.FollowLogs(ctx)
			defer logs.Stop()
			it, err := d.IKETimings(ctx)
			if err != nil {
				return err
			}
			if len(it.DPDSites()) == 0 {
				return errors.New("wan-blackhole: no gateway has DPD configured: nothing would notice a silent WAN")
			}
			if err := d.Baseline(ctx); err != nil {
				return err
			}
			in, err := d.Inject(ctx, "step 1: WAN blackhole between the gateways", "wan-blackhole", nil)
			if err != nil {
				return err
			}
			if err := d.WriteDuringOutage(ctx); err != nil {
				return err
			}
			if err := d.HoldUntilOutageSeen(ctx); err != nil {
				return err
			}
			if err := d.ReplicaTimesOut(ctx); err != nil {
				return err
			}
			if err := d.WaitDPDDead(ctx, it, it.DPDSites(), "DPD declares the peer dead (no DELETE, no terminate)"); err != nil {
				return err
			}
			if err := d.RecoverWith(ctx, "step 3: lift the blackhole; the tunnel heals by itself (no initiate)", func(ctx context.Context) error {
				if o.KeepBlackhole {
					env.Note("blackhole kept (test option): the tunnel cannot heal", nil)
				} else if err := in.Recover(ctx); err != nil {
					return err
				}
				if err := d.WaitSelfHeal(ctx, it, "the lift", it.HealWindow(), logs); err != nil {
					return err
				}
				return in.WaitRecovered(ctx)
			}); err != nil {
				return err
			}
			return d.VerifyRecovery(ctx, VerifyOptions{})
		},
	}
}

func init() { Register(WANBlackhole(WANBlackholeOptions{})) }
