package scenarios

import (
	"context"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/workload"
)

// VPNOutageOptions vary the seed drill for tests and for harsher variants.
type VPNOutageOptions struct {
	// Fault is the registered fault that takes the tunnel down ("tunnel-down").
	Fault string
	// BeforeVerify runs after catch-up and before the rows are compared
	// (tests use it to damage the replica and prove the checks fail).
	BeforeVerify func(ctx context.Context, env *harness.Env) error
}

// VPNOutage is the seed drill (004_…, sections 6–8): VPN down from the AWS
// side, a row written during the outage, recovery in the documented order,
// and proof that the replica went Connecting → Yes and holds every row from
// before, during and after the outage.
func VPNOutage(o VPNOutageOptions) harness.Scenario {
	if o.Fault == "" {
		o.Fault = "tunnel-down"
	}
	return harness.Scenario{
		Name:        "vpn-outage",
		Description: "the seed drill: VPN down from AWS, write during the outage, recover in the documented order, verify every row",
		Timeout:     2 * time.Minute,
		Run: func(ctx context.Context, env *harness.Env) error {
			var m Marks
			if err := Baseline(ctx, env, workload.MsgBefore); err != nil {
				return err
			}
			recover, err := Inject(ctx, env, o.Fault, "step 1: VPN down from aws ("+o.Fault+")", &m)
			if err != nil {
				return err
			}
			if err := WriteDuringOutage(ctx, env); err != nil {
				return err
			}
			if err := HoldUntilOutageSeen(ctx, env, &m); err != nil {
				return err
			}
			if err := Recover(ctx, env, "step 3: recover in the documented order", &m, recover); err != nil {
				return err
			}
			return VerifyRecovery(ctx, env, &m, VerifyOptions{AfterMsg: workload.MsgAfter, BeforeVerify: o.BeforeVerify})
		},
	}
}

func init() { Register(VPNOutage(VPNOutageOptions{})) }
