package harness

import (
	"context"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/target"
)

// steadyState waits, after a drill's faults were undone, for what the drill
// found at its start (fault.ReadSteady): the tunnel healthy on both sides
// (within the IKE heal window), the replica's IO and SQL threads running
// (within the reconnect window of the timings read before any fault) and
// the primary's position applied (within CatchUpWindow more). Every part
// is looked at, so that the check says all that was left.
func steadyState(t target.Target, env *Env) check.Result {
	return check.SteadyStateRestored(fault.ReadSteady(context.Background(), t, env.Timings.ReconnectWindow(), CatchUpWindow, false, nil))
}

// CatchUpWindow bounds the steady-state catch-up after a drill (beyond the
// reconnect window).
const CatchUpWindow = 30 * time.Second
