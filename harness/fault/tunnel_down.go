package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// TunnelDown is the seed's step 1: `ipsec down onprem-aws` on the first
// side (terminate the IKE SA, which sends a DELETE). Recover is the seed's
// documented order: first down; second down, second up; first up.
//
// Dead-man's switch: none. charon does not re-initiate after a deliberate
// terminate (dpd_action and close_action act on a dead or closing peer, not
// on a local terminate); a gateway whose child has start_action=trap brings
// it back with the next packet that matches its policy, by itself.
type TunnelDown struct {
	built
	First, Second tunnel.Side
	TL            *timeline.Timeline
	IKETimeout    time.Duration

	mu       sync.Mutex
	injected bool
	resumed  bool // injected by another process (Resume)
}

// Plan says what Inject will do; nothing is read.
func (f *TunnelDown) Plan(context.Context, time.Duration) (Plan, error) {
	conn := f.First.Want.Connection
	return Plan{Hosts: []string{gatewayHost(f.First).String()},
		What: fmt.Sprintf("terminate IKE SA %s on %s (a DELETE is sent: both sides drop the tunnel)", conn, f.First.GW.Name()),
		Undo: "the documented order: " + documentedOrder(f.First.GW.Name(), f.Second.GW.Name()) +
			fmt.Sprintf(" (swanctl --terminate --ike %[1]s; swanctl --initiate --child %[1]s)", conn)}, nil
}

// Resume marks the fault injected by another process: Recover brings the
// tunnel back in the documented order unless it is healthy already.
func (f *TunnelDown) Resume(json.RawMessage) error {
	f.mu.Lock()
	f.injected, f.resumed = true, true
	f.mu.Unlock()
	return nil
}

func (f *TunnelDown) Name() string { return "tunnel-down" }

func (f *TunnelDown) Inject(ctx context.Context) error {
	f.mu.Lock()
	f.injected = true
	f.mu.Unlock()
	before, serr := f.First.GW.State(ctx, f.First.Want.Connection)
	_, err := f.First.GW.Down(ctx, f.First.Want.Connection, 2*time.Second)
	detail := "terminate IKE SA " + f.First.Want.Connection
	switch {
	case errors.Is(err, tunnel.ErrNoMatchingSA) && serr == nil && len(before.IKESAs) > 0:
		// The SA was there a moment ago: the terminate went through and its
		// answer was lost with the connection (an SSH hop dropped); the
		// gateway's one retry on a fresh connection found nothing left.
		detail += " (its answer was lost with the connection; the retry found the SA gone)"
	case errors.Is(err, tunnel.ErrNoMatchingSA):
		// Nothing to take down: the drill did not start from a healthy tunnel.
		return fmt.Errorf("tunnel down from %s: nothing to terminate: the tunnel was not up", f.First.GW.Name())
	case err != nil:
		return fmt.Errorf("tunnel down from %s: %w", f.First.GW.Name(), err)
	}
	f.TL.Add("tunnel/"+f.First.GW.Name(), timeline.KindFault, map[string]any{"fault": f.Name(), "action": "inject", "detail": detail})
	return nil
}

// WaitForEffect returns once the first side holds no IKE SA of the connection.
func (f *TunnelDown) WaitForEffect(ctx context.Context) error {
	return noIKESA(ctx, f.First, 2*time.Second)
}

// noIKESA waits until a side holds no IKE SA of its connection.
func noIKESA(ctx context.Context, s tunnel.Side, timeout time.Duration) error {
	return poll.Until(ctx, s.GW.Name()+" without an IKE SA of "+s.Want.Connection, 20*time.Millisecond, timeout,
		func(ctx context.Context) (bool, string, error) {
			st, err := s.GW.State(ctx, s.Want.Connection)
			if err != nil {
				return false, err.Error(), nil
			}
			return len(st.IKESAs) == 0, st.Summary(), nil
		})
}

func (f *TunnelDown) Recover(ctx context.Context) error {
	if !f.wasInjected() {
		return nil
	}
	f.mu.Lock()
	resumed := f.resumed
	f.mu.Unlock()
	if resumed && healthyNow(ctx, f.First, f.Second) == nil {
		// Killed before the terminate, or repaired by hand since.
		f.TL.Add("fault", timeline.KindFault, timeline.Fault{Fault: f.Name(), Action: "recover", Detail: "tunnel already healthy on both sides: nothing to do"})
		return nil
	}
	f.TL.Add("fault", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "recover",
		"detail": "documented order: " + documentedOrder(f.First.GW.Name(), f.Second.GW.Name())})
	return tunnel.RecoverInOrder(ctx, f.First, f.Second, f.TL, f.IKETimeout)
}

func (f *TunnelDown) WaitRecovered(ctx context.Context) error {
	if !f.wasInjected() {
		return nil
	}
	return ensureTunnel(ctx, f.TL, f.Name(), f.First, f.Second, 0, f.IKETimeout)
}

func (f *TunnelDown) wasInjected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

func init() {
	Register(Spec{Name: "tunnel-down",
		Description: "terminate the IKE SA from one site (the seed: ipsec down onprem-aws on AWS); recover in the documented order",
		Params: []Param{{Name: "from", Default: "the primary's site", Doc: "the site whose gateway terminates the IKE SA"},
			{Name: "ike_timeout", Default: "10s", Doc: "bound of each IKE exchange of the recovery"}},
		New: func(t target.Target, tl *timeline.Timeline, p Params) (Fault, error) {
			first, second, err := sides(t, p.String("from", ""))
			if err != nil {
				return nil, fmt.Errorf("tunnel-down needs a target with two gateways: %w", err)
			}
			ike, err := p.Duration("ike_timeout", 10*time.Second)
			if err != nil {
				return nil, err
			}
			return &TunnelDown{First: first.Side(), Second: second.Side(), TL: tl, IKETimeout: ike}, nil
		}})
}
