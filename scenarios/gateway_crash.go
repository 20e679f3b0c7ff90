package scenarios

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// GatewayCrashOptions vary the gateway-crash drill.
type GatewayCrashOptions struct {
	// Site is the gateway whose charon is killed: "onprem" (default, the
	// replica's) or "aws".
	Site string
	// SkipReload starts the killed charon again without loading its
	// connection and PSK (as a gateway whose configuration is not loaded at
	// start would come back): the tunnel cannot come back, and the drill
	// must fail naming the gateway. The deferred recovery restarts it
	// properly afterwards.
	SkipReload bool
}

// GatewayCrash kills -9 one gateway's charon during replication, starts it
// again with its VPN loaded over VICI, and proves that the tunnel came back
// with exactly one IKE SA and one CHILD SA per side and that the replica
// caught up with every row.
//
// What the lab showed (strongSwan 5.9.8, kernel-libipsec, DPD 2 s,
// retransmits 0.5 s × 1.4, 3 tries):
//   - the killed charon sends nothing (no DELETE). Its TUN device goes with
//     it, so its gateway has no route to the other site any more;
//   - the survivor keeps its SAs ESTABLISHED/INSTALLED ("stale") and keeps
//     encrypting into them until its DPD — sent once nothing came from the
//     peer for 2 s, unanswered, given up after 3 retransmits — declares the
//     peer dead: ike_updown/child_updown down 4.3–5.3 s after the kill;
//   - the replica shows errno 101 (ICMP net unreachable from a gateway with
//     no route): at ~3.0 s when onprem is killed, at ~5.0 s when aws is
//     (onprem's stale CHILD SA swallows the traffic until its DPD);
//   - dpd_action=restart on the survivor: it re-initiates every 3.55 s
//     (keyingtries 0) and the tunnel is back by itself 0.36–0.5 s after the
//     restarted charon has its connection, initiated by the survivor, one
//     IKE SA and one CHILD SA per side. dpd_action=clear: the survivor
//     drops its SAs, nothing re-initiates (the restarted side has no
//     start_action) and the documented order brings it back;
//   - a charon that comes back without its connection answers the
//     survivor's IKE_SA_INIT with NO_PROPOSAL_CHOSEN ("no IKE config found
//     for 198.51.100.2...198.51.100.1"); the survivor destroys that IKE SA
//     and does not retry (keyingtries covers timeouts only): the tunnel
//     stays down until someone initiates. The same could happen to a
//     properly restarted charon if the survivor's packet arrived in the few
//     ms between charon opening its IKE sockets and the VICI load; it did
//     not in 40 tries.
//
// Which of the two recoveries must happen is derived from the connection
// the lab loads (the survivor's dpd_action, the restarted side's
// start_action), and the drill checks that one.
func GatewayCrash(o GatewayCrashOptions) harness.Scenario {
	if o.Site == "" {
		o.Site = fault.DefaultCrashSite
	}
	return harness.Scenario{
		Name:        "gateway-crash",
		Description: "kill -9 a gateway's charon (default onprem), start it again with its VPN: the survivor's DPD clears the stale SAs, the tunnel comes back, replication catches up",
		Timeout:     2 * time.Minute,
		Run: func(ctx context.Context, env *harness.Env) error {
			if env.Lab == nil {
				return errors.New("gateway-crash needs a lab target (it kills and restarts charon)")
			}
			it, err := readIKETimings(env.Lab)
			if err != nil {
				return err
			}
			it.record(env.Timeline)
			f, err := fault.New("gateway-crash", env)
			if err != nil {
				return err
			}
			gc := f.(*fault.GatewayCrash)
			gc.Site, gc.HealWait = o.Site, it.healWindow()
			crashed, survivor, err := gc.Sides()
			if err != nil {
				return err
			}
			site, other := crashed.GW.Name(), survivor.GW.Name()

			var m Marks
			if err := Baseline(ctx, env, workload.MsgBefore); err != nil {
				return err
			}
			// Recover is idempotent: it restarts charon only if the drill did
			// not, and returns at once when the tunnel is healthy.
			env.Defer("recover "+f.Name(), gc.Recover)
			if err := env.Step(ctx, "step 1: kill -9 charon on "+site+" (gateway-crash)", func(ctx context.Context) error {
				m.FaultAt = time.Now()
				if err := gc.Inject(ctx); err != nil {
					return err
				}
				// The survivor heard nothing: it still holds its SAs.
				if st, err := survivor.GW.State(ctx, survivor.Want.Connection); err == nil {
					env.Timeline.Add("tunnel/"+other, timeline.KindNote, map[string]any{"event": "survivor's SAs after the crash (stale)", "summary": st.Summary()})
				}
				return nil
			}); err != nil {
				return err
			}
			if err := WriteDuringOutage(ctx, env); err != nil {
				return err
			}
			if err := HoldUntilOutageSeen(ctx, env, &m); err != nil {
				return err
			}
			if it.DPDDelay[other] > 0 {
				if err := WaitDPDDead(ctx, env, it, []string{other}, m.FaultAt, other+"'s DPD declares the crashed peer dead (stale SAs)"); err != nil {
					return err
				}
				if st, err := survivor.GW.State(ctx, survivor.Want.Connection); err == nil {
					env.Timeline.Add("tunnel/"+other, timeline.KindNote, map[string]any{"event": "survivor's SAs after DPD",
						"dpd_action": it.DPDAction[other], "summary": st.Summary()})
				}
			} else {
				env.Timeline.Add("tunnel/"+other, timeline.KindNote, map[string]any{"event": "survivor has no DPD: it keeps its stale SAs"})
			}

			if err := env.Step(ctx, "step 3: restart charon on "+site, func(ctx context.Context) error {
				m.RecoverStart = time.Now()
				if o.SkipReload {
					env.Timeline.Add("tunnel/"+site, timeline.KindNote, map[string]any{"event": "charon restarted WITHOUT its connection and PSK (test option)"})
					if err := env.Backend.StartGateway(ctx, env.Lab, lab.RecorderFor(env.Lab), site); err != nil {
						return fmt.Errorf("start charon on %s: %w", site, err)
					}
					return nil
				}
				return gc.Restart(ctx)
			}); err != nil {
				return err
			}
			selfHeal := slices.Contains(it.restarters(), other) || it.StartAction[site] == "start"
			step := "tunnel back in the documented order (no gateway re-initiates by itself)"
			if selfHeal {
				step = "tunnel heals by itself (" + other + " re-initiates: dpd_action=" + it.DPDAction[other] + ")"
				if it.StartAction[site] == "start" {
					step = "tunnel heals by itself (" + site + " initiates: start_action=start)"
				}
			}
			if err := env.Step(ctx, step, func(ctx context.Context) error {
				if selfHeal {
					return WaitSelfHeal(ctx, env, it, &m, "the restart of "+site+"'s charon", it.healWindow())
				}
				return recoverInOrder(ctx, env, it, &m, site)
			}); err != nil {
				return err
			}
			env.Metric("tunnel_recover_ms", m.TunnelUpAt.Sub(m.RecoverStart))
			return VerifyRecovery(ctx, env, &m, VerifyOptions{AfterMsg: workload.MsgAfter})
		},
	}
}

func init() { Register(GatewayCrash(GatewayCrashOptions{})) }

// recoverInOrder is the recovery when no gateway re-initiates by itself:
// the seed's documented order, checked.
func recoverInOrder(ctx context.Context, env *harness.Env, it ikeTimings, m *Marks, restarted string) error {
	first, second := env.TunnelSides()
	env.Timeline.Add("harness", timeline.KindNote, map[string]any{"event": "no gateway re-initiates by itself (" + it.reinitiators() + "): documented order"})
	start := time.Now()
	err := tunnel.RecoverInOrder(ctx, first, second, env.Timeline, 10*time.Second)
	m.TunnelUpAt = time.Now()
	if err != nil && ctx.Err() != nil {
		return err
	}
	order := first.GW.Name() + " down; " + second.GW.Name() + " down, " + second.GW.Name() + " up; " + first.GW.Name() + " up"
	r := check.Result{Name: "tunnel_recovered_in_order",
		Expected: "both gateways ESTABLISHED/INSTALLED, one IKE SA and one CHILD SA each, after the documented order (" + order + ")",
		Detail:   map[string]any{"restarted": restarted}}
	if err != nil {
		doing := gatewaysDoing(ctx, env)
		r.Verdict, r.Observed = check.Fail, err.Error()+"; "+doing
		env.Diagnose(fmt.Sprintf("the tunnel did not come back after %s's charon was restarted, documented order: %v; %s", restarted, err, doing))
		return env.Check(r)
	}
	r.Verdict = check.Pass
	r.Observed = fmt.Sprintf("healthy %.2fs after the documented order began; new IKE SA initiated by %s", m.TunnelUpAt.Sub(start).Seconds(), initiatorOf(ctx, first, second))
	return env.Check(r)
}
