package fault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
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

// SteadyCatchUpMargin is added to the replica's reconnect window to bound
// its catch-up with the primary in WaitSteady.
const SteadyCatchUpMargin = 10 * time.Second

// WaitSteady waits for steady state on t — the tunnel healthy on both
// sides (one IKE SA, one CHILD SA each), the replica's IO and SQL threads
// running, and the replica caught up with the primary's GTID position as
// read once the threads run — each within a window derived from live
// timings: the gateways' heal window, the replica's reconnect window (plus
// SteadyCatchUpMargin to catch up). It repairs nothing; the error says what
// was left. Recorded on tl as a note.
func WaitSteady(ctx context.Context, t target.Target, tl *timeline.Timeline) error {
	if err := target.Validate(t); err != nil {
		return err
	}
	if tl == nil {
		tl = timeline.New()
	}
	first, second := target.Primary(t), target.Replica(t)
	heal := 10 * time.Second
	if it, err := t.IKETimings(ctx); err == nil && it.HealWindow() > 0 {
		heal = it.HealWindow()
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, heal)
	err := tunnel.WaitHealthy(wctx, 20*time.Millisecond, first.Side(), second.Side())
	cancel()
	if err != nil {
		// The wait's last look may be a probe its deadline cut: look once
		// more, on a context of its own, to say what is left.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		left := healthyNow(lctx, first.Side(), second.Side())
		cancel()
		if left != nil {
			return fmt.Errorf("steady state: tunnel not healthy after %s: %w", time.Since(start).Round(time.Millisecond), left)
		}
		return fmt.Errorf("steady state: %w", err)
	}
	rep := second.DB
	tm, err := rep.Timings(ctx)
	if err != nil {
		return fmt.Errorf("steady state: %w", err)
	}
	window := tm.ReconnectWindow()
	wctx, cancel = context.WithTimeout(ctx, window)
	_, err = replica.WaitFor(wctx, rep, 20*time.Millisecond, "IO and SQL threads Yes", func(s replica.Status) bool {
		return s.IO == replica.IOYes && s.SQLRunning
	})
	cancel()
	if err != nil {
		return fmt.Errorf("steady state: %w", err)
	}
	pos, err := first.DB.PrimaryPosition(ctx)
	if err != nil {
		return fmt.Errorf("steady state: %w", err)
	}
	if pos != "" {
		if err := rep.WaitApplied(ctx, pos, window+SteadyCatchUpMargin); err != nil {
			return fmt.Errorf("steady state: replica not caught up: %w", err)
		}
	}
	tl.Add("harness", timeline.KindNote, timeline.Note{"event": "steady state", "detail": "tunnel healthy on both sides, replica IO/SQL Yes, caught up to " + pos,
		"duration_ms": time.Since(start).Milliseconds()})
	return nil
}
