package scenarios

import (
	"context"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/target"
)

// VPNOutageOptions vary the seed drill for tests and harsher variants.
type VPNOutageOptions struct {
	// Fault is the registered fault that takes the tunnel down ("tunnel-down").
	Fault  string
	Params fault.Params
	Verify VerifyOptions
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
		Typical:     4100 * time.Millisecond,
		Plan:        planVPNOutage,
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			d := Begin(t, env)
			if err := d.Baseline(ctx); err != nil {
				return err
			}
			in, err := d.Inject(ctx, "step 1: VPN down from "+d.Primary.Name, o.Fault, o.Params)
			if err != nil {
				return err
			}
			if err := d.WriteDuringOutage(ctx); err != nil {
				return err
			}
			if err := d.HoldUntilOutageSeen(ctx); err != nil {
				return err
			}
			if err := d.Recover(ctx, "step 3: recover in the documented order", in); err != nil {
				return err
			}
			return d.VerifyRecovery(ctx, o.Verify)
		},
	}
}

func init() { Register(VPNOutage(VPNOutageOptions{})) }
