package scenarios

import (
	"context"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

type timelineEvent = timeline.Event

func waitHealthyForTest(ctx context.Context, sides ...tunnel.Side) error {
	return tunnel.WaitHealthy(ctx, 20*time.Millisecond, sides...)
}
