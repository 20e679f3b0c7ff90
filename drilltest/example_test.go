package drilltest_test

import (
	"context"
	"testing"
	"time"

	"github.com/drdrill/drdrill/drilltest"
	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/scenarios"
)

// outageFromOnPrem is a team's own drill, written outside scenarios/ from
// the shared steps: the VPN is taken down from the on-prem side this time.
var outageFromOnPrem = harness.Scenario{
	Name:        "outage-from-onprem",
	Description: "VPN down from on-prem, a row written during the outage, documented recovery, every row verified",
	Timeout:     2 * time.Minute,
	Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
		d := scenarios.Begin(t, env)
		if err := d.Baseline(ctx); err != nil {
			return err
		}
		in, err := d.Inject(ctx, "VPN down from "+d.Replica.Name, "tunnel-down", fault.Params{"from": d.Replica.Name})
		if err != nil {
			return err
		}
		if err := d.WriteDuringOutage(ctx); err != nil {
			return err
		}
		if err := d.HoldUntilOutageSeen(ctx); err != nil {
			return err
		}
		if err := d.Recover(ctx, "recover in the documented order", in); err != nil {
			return err
		}
		return d.VerifyRecovery(ctx, scenarios.VerifyOptions{})
	},
}

// A drill of your own in a go test: a fresh lab, the drill, its report.
func Example() {
	var t *testing.T // your test's t
	drilltest.Run(t, outageFromOnPrem, drilltest.Lab(t))
}

func TestOutageFromOnPrem(t *testing.T) {
	r := drilltest.Run(t, outageFromOnPrem, drilltest.Lab(t))
	if len(r.Checks) < 5 {
		t.Errorf("want the seed drill's checks, got %d", len(r.Checks))
	}
}
