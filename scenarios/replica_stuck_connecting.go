package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/target"
)

// ReplicaStuckOptions vary the drill.
type ReplicaStuckOptions struct {
	// Fault is the registered fault ("" is replica-stuck-connecting); tests
	// pass "tunnel-down" to prove the drill notices a fault without effect.
	Fault string
	// NoRemediation detects the stuck IO thread but does not restart it:
	// the drill then fails with the diagnosis.
	NoRemediation bool
}

// ReplicaStuckConnecting is seed troubleshooting 2: the VPN is healthy
// again but the replica's IO thread stays Connecting (an hour's connect
// retry, set by the fault before it takes the tunnel down). After the
// documented-order recovery the drill waits the window the replica's own
// timings before the fault give — never the sabotaged hour — and if the
// tunnel is healthy and the IO thread still not Yes it has recognised
// troubleshooting 2: it applies the seed's remedy, STOP REPLICA; START
// REPLICA, as a recorded remediation and verifies catch-up and rows. A
// remediated drill passes and its report says remediation was needed; a
// replica that was not stuck fails the drill (the fault had no effect).
func ReplicaStuckConnecting(o ReplicaStuckOptions) harness.Scenario {
	if o.Fault == "" {
		o.Fault = "replica-stuck-connecting"
	}
	return harness.Scenario{
		Name:        "replica-stuck-connecting",
		Description: "troubleshooting 2: the tunnel is back but the IO thread stays Connecting (an hour's connect retry); detect it after the expected window, STOP/START REPLICA, verify catch-up and rows",
		Timeout:     2 * time.Minute,
		Typical:     9300 * time.Millisecond,
		Plan:        planReplicaStuck,
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			d := Begin(t, env)
			window := env.Timings.ReconnectWindow()
			env.Metric(harness.ExpectedReconnectWindowMS, window)
			if err := d.Baseline(ctx); err != nil {
				return err
			}
			if _, err := d.Inject(ctx, "step 1: hour-long connect retry on the replica, then VPN down from "+d.Primary.Name, o.Fault, nil); err != nil {
				return err
			}
			if err := d.WriteDuringOutage(ctx); err != nil {
				return err
			}
			if err := d.HoldUntilOutageSeen(ctx); err != nil {
				return err
			}
			if err := d.RecoverTunnelInOrder(ctx, "step 3: recover the tunnel in the documented order"); err != nil {
				return err
			}
			var stuck string
			if err := env.Step(ctx, fmt.Sprintf("replica IO thread back to Yes within the expected %.1f s?", window.Seconds()), func(ctx context.Context) (err error) {
				if stuck, err = d.DetectStuck(ctx, window); err != nil || stuck == "" || !o.NoRemediation {
					return err
				}
				env.Diagnose(stuck)
				return env.Check(check.IORecoveredWithin(env.Timeline.Events(), d.replicaSource(), env.Timeline.Offset(d.RecoverStart), env.Timeline.Offset(d.TunnelUpAt), window))
			}); err != nil {
				return err
			}
			if err := d.RestartReplica(ctx, stuck, window); err != nil {
				return err
			}
			return d.VerifyCaughtUp(ctx, VerifyOptions{})
		},
	}
}

func init() { Register(ReplicaStuckConnecting(ReplicaStuckOptions{})) }
