package scenarios

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/target"
)

// GatewayCrashOptions vary the gateway-crash drill.
type GatewayCrashOptions struct {
	// Site is the gateway whose charon is killed ("" : the replica's).
	Site string
	// NoReload starts the killed charon again without its VPN: the tunnel
	// cannot come back and the drill must fail naming the gateway.
	NoReload bool
}

// GatewayCrash kills -9 one gateway's charon during replication, starts it
// again with its VPN loaded over VICI, and proves that the tunnel came back
// — by itself when the survivor re-initiates (dpd_action=restart) or the
// restarted side starts it, else in the documented order — with one IKE SA
// and one CHILD SA per side, and that the replica caught up with every row.
// What the lab showed: docs/findings.md#gateway-crash.
func GatewayCrash(o GatewayCrashOptions) harness.Scenario {
	return harness.Scenario{
		Name:        "gateway-crash",
		Description: "kill -9 a gateway's charon (default onprem), start it again with its VPN: the survivor's DPD clears the stale SAs, the tunnel comes back, replication catches up",
		Timeout:     2 * time.Minute,
		Typical:     6500 * time.Millisecond,
		Needs:       []target.Capability{target.CapRestartGateway},
		Plan:        planGatewayCrash(o),
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			d := Begin(t, env)
			logs := d.FollowLogs(ctx)
			defer logs.Stop()
			crashed, err := d.Replica, error(nil)
			if o.Site != "" {
				if crashed, err = target.SiteNamed(t, o.Site); err != nil {
					return err
				}
			}
			site, other := crashed.Name, target.Other(t, crashed).Name
			it, err := d.IKETimings(ctx)
			if err != nil {
				return err
			}
			if err := d.Baseline(ctx); err != nil {
				return err
			}
			in, err := d.Inject(ctx, "step 1: kill -9 charon on "+site, "gateway-crash",
				fault.Params{"site": site, "reload": strconv.FormatBool(!o.NoReload), "heal_wait": it.HealWindow().String()})
			if err != nil {
				return err
			}
			if err := d.WriteDuringOutage(ctx); err != nil {
				return err
			}
			if err := d.HoldUntilOutageSeen(ctx); err != nil {
				return err
			}
			if it.DPDDelay[other] > 0 {
				if err := d.WaitDPDDead(ctx, it, []string{other}, other+"'s DPD declares the crashed peer dead (stale SAs)"); err != nil {
					return err
				}
			}
			selfHeal := slices.Contains(it.Restarters(), other) || it.StartAction[site] == "start"
			if err := d.RecoverWith(ctx, "step 3: restart charon on "+site+"; the tunnel comes back", func(ctx context.Context) error {
				if err := in.Recover(ctx); err != nil {
					return err
				}
				if selfHeal {
					if err := d.WaitSelfHeal(ctx, it, "the restart of "+site+"'s charon", it.HealWindow(), logs); err != nil {
						return err
					}
				} else if err := d.RecoverInOrderChecked(ctx, it, site, logs); err != nil {
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

func init() { Register(GatewayCrash(GatewayCrashOptions{})) }
