package fault

import (
	"context"
	"errors"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// ensureTunnel returns when both gateways are healthy: healed by themselves
// within heal while a gateway is trying (has an IKE SA, e.g. CONNECTING
// after a DPD restart; with none nothing comes back without an initiate),
// else brought back in the documented order.
func ensureTunnel(ctx context.Context, tl *timeline.Timeline, name string, first, second tunnel.Side, heal, ikeTimeout time.Duration) error {
	if !anyIKESA(ctx, first, second) {
		heal = 0
	}
	if heal == 0 && healthyNow(ctx, first, second) == nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, heal)
	err := tunnel.WaitHealthy(wctx, 20*time.Millisecond, first, second)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	tl.Add("fault", timeline.KindFault, map[string]any{"fault": name, "action": "recover",
		"detail": "tunnel did not come back by itself: documented order " + documentedOrder(first.GW.Name(), second.GW.Name()), "last_seen": err.Error()})
	return tunnel.RecoverInOrder(ctx, first, second, tl, ikeTimeout)
}

// anyIKESA reports whether any side has an IKE SA of its connection.
func anyIKESA(ctx context.Context, sides ...tunnel.Side) bool {
	for _, s := range sides {
		if st, err := s.GW.State(ctx, s.Want.Connection); err == nil && len(st.IKESAs) > 0 {
			return true
		}
	}
	return false
}

// healthyNow looks once at each side: nil when all are Healthy.
func healthyNow(ctx context.Context, sides ...tunnel.Side) error {
	var errs []error
	for _, s := range sides {
		st, err := s.GW.State(ctx, s.Want.Connection)
		if err == nil {
			err = st.Healthy(s.Want)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
