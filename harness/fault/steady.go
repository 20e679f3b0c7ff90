package fault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness/check"
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
// was left (the first part that is not steady). Recorded on tl as a note.
func WaitSteady(ctx context.Context, t target.Target, tl *timeline.Timeline) error {
	if err := target.Validate(t); err != nil {
		return err
	}
	if tl == nil {
		tl = timeline.New()
	}
	start := time.Now()
	var pos string
	st := ReadSteady(ctx, t, 0, SteadyCatchUpMargin, true, &pos)
	switch {
	case st.Tunnel != nil:
		return fmt.Errorf("steady state: %w", st.Tunnel)
	case st.Threads != nil:
		return fmt.Errorf("steady state: %w", st.Threads)
	case st.CaughtUp != nil:
		return fmt.Errorf("steady state: replica not caught up: %w", st.CaughtUp)
	}
	tl.Add("harness", timeline.KindNote, timeline.Note{"event": "steady state", "detail": "tunnel healthy on both sides, replica IO/SQL Yes, caught up to " + pos,
		"duration_ms": time.Since(start).Milliseconds()})
	return nil
}

// ReadSteady waits for each part of steady state in turn, each within its
// window: the tunnel within the gateways' heal window, the replica's IO and
// SQL threads within reconnect (0: the replica's reconnect window read
// now), its catch-up with the primary's position within reconnect plus
// catchUp. It repairs nothing. With firstOnly it stops at the first part
// that is not steady (the others stay nil: not looked at); else it looks
// at the threads after a tunnel that did not come back, as a report does.
// pos, when not nil, gets the primary's position waited for.
func ReadSteady(ctx context.Context, t target.Target, reconnect, catchUp time.Duration, firstOnly bool, pos *string) check.SteadyState {
	var s check.SteadyState
	first, second := target.Primary(t), target.Replica(t)
	heal := 10 * time.Second
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if it, err := t.IKETimings(ictx); err == nil && it.HealWindow() > 0 {
		heal = it.HealWindow()
	}
	cancel()
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
		s.Tunnel = err
		if left != nil {
			s.Tunnel = fmt.Errorf("tunnel not healthy after %s: %w", time.Since(start).Round(time.Millisecond), left)
		}
		if firstOnly {
			return s
		}
	}
	rep := second.DB
	if reconnect <= 0 {
		tm, err := rep.Timings(ctx)
		if err != nil {
			s.Threads = err
			return s
		}
		reconnect = tm.ReconnectWindow()
	}
	s.Window = heal + reconnect + catchUp
	wctx, cancel = context.WithTimeout(ctx, reconnect)
	_, s.Threads = replica.WaitFor(wctx, rep, 20*time.Millisecond, "IO and SQL threads Yes", func(st replica.Status) bool {
		return st.IO == replica.IOYes && st.SQLRunning
	})
	cancel()
	if s.Threads != nil {
		return s
	}
	p, err := first.DB.PrimaryPosition(ctx)
	if err != nil {
		s.CaughtUp = fmt.Errorf("read the primary's position: %w", err)
		return s
	}
	if pos != nil {
		*pos = p
	}
	if p != "" {
		s.CaughtUp = rep.WaitApplied(ctx, p, reconnect+catchUp)
	}
	return s
}
