package fault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// TunnelTarget is what tunnel faults need: both gateways, what healthy looks
// like on each, and the timeline to record into.
type TunnelTarget interface {
	// TunnelSides returns the side the outage is caused from (the seed: AWS)
	// and the other side.
	TunnelSides() (first, second tunnel.Side)
	EventLog() *timeline.Timeline
}

// TunnelDown is the seed's step 1: `ipsec down onprem-aws` on the AWS side
// (terminate the IKE SA, which sends a DELETE). Recover is the seed's
// documented order: AWS down; on-prem down, on-prem up; AWS up.
type TunnelDown struct {
	First, Second tunnel.Side
	TL            *timeline.Timeline
	IKETimeout    time.Duration
}

func (f *TunnelDown) Name() string { return "tunnel-down" }

func (f *TunnelDown) Inject(ctx context.Context) error {
	_, err := f.First.GW.Down(ctx, f.First.Want.Connection, 2*time.Second)
	src := "tunnel/" + f.First.GW.Name()
	if errors.Is(err, tunnel.ErrNoMatchingSA) {
		// Nothing to take down means the drill is not starting from a healthy
		// tunnel: that is an error, not an expected outcome here.
		return fmt.Errorf("tunnel down from %s: nothing to terminate: the tunnel was not up", f.First.GW.Name())
	}
	if err != nil {
		return fmt.Errorf("tunnel down from %s: %w", f.First.GW.Name(), err)
	}
	f.TL.Add(src, timeline.KindFault, map[string]any{"fault": f.Name(), "action": "inject", "detail": "terminate IKE SA " + f.First.Want.Connection})
	return nil
}

func (f *TunnelDown) Recover(ctx context.Context) error {
	f.TL.Add("fault", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "recover", "detail": "documented order: " +
		f.First.GW.Name() + " down; " + f.Second.GW.Name() + " down, " + f.Second.GW.Name() + " up; " + f.First.GW.Name() + " up"})
	return tunnel.RecoverInOrder(ctx, f.First, f.Second, f.TL, f.IKETimeout)
}

func init() {
	Register("tunnel-down", "terminate the IKE SA from the first site (the seed: ipsec down onprem-aws on AWS); recover in the documented order",
		func(t Target) (Fault, error) {
			tt, ok := t.(TunnelTarget)
			if !ok {
				return nil, errors.New("tunnel-down needs a target with two gateways")
			}
			a, b := tt.TunnelSides()
			return &TunnelDown{First: a, Second: b, TL: tt.EventLog(), IKETimeout: 10 * time.Second}, nil
		})
}
