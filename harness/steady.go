package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// steadyState waits, after a drill's faults were undone, for what the drill
// found at its start: the tunnel healthy on both sides (within the IKE heal
// window), the replica's IO and SQL threads running (within its reconnect
// window) and the primary's position applied (within CatchUpWindow). Each
// wait is bounded and derived from the live timings.
func steadyState(t target.Target, env *Env) check.Result {
	ctx := context.Background()
	heal := 10 * time.Second
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if it, err := t.IKETimings(ictx); err == nil {
		heal = it.HealWindow()
	}
	cancel()
	reconnect := env.Timings.ReconnectWindow()
	var s check.SteadyState
	s.Window = heal + reconnect + CatchUpWindow
	var sides []tunnel.Side
	for _, site := range t.Sites() {
		sides = append(sides, site.Side())
	}
	tctx, cancel := context.WithTimeout(ctx, heal)
	s.Tunnel = tunnel.WaitHealthy(tctx, 20*time.Millisecond, sides...)
	cancel()
	rep, prim := target.Replica(t).DB, target.Primary(t).DB
	rctx, cancel := context.WithTimeout(ctx, reconnect)
	_, s.Threads = replica.WaitFor(rctx, rep, ReplicaPoll, "IO and SQL threads Yes", func(st replica.Status) bool {
		return st.IO == replica.IOYes && st.SQLRunning
	})
	cancel()
	if s.Threads == nil {
		cctx, cancel := context.WithTimeout(ctx, CatchUpWindow)
		if pos, err := prim.PrimaryPosition(cctx); err != nil {
			s.CaughtUp = fmt.Errorf("read the primary's position: %w", err)
		} else {
			s.CaughtUp = rep.WaitApplied(cctx, pos, CatchUpWindow)
		}
		cancel()
	}
	return check.SteadyStateRestored(s)
}

// CatchUpWindow bounds the steady-state catch-up after a drill.
const CatchUpWindow = 30 * time.Second
