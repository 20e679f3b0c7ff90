package preflight

import (
	"context"
	"testing"
)

// BenchmarkCheckLab is preflight's wall time on the netns lab (target: at
// most 1 s), through the lab's own unix sockets.
func BenchmarkCheckLab(b *testing.B) {
	_, tg := upLab(b)
	o := labOptions()
	ctx := context.Background()
	for b.Loop() {
		if r := Check(ctx, tg, o); !r.OK() {
			b.Fatalf("not OK: %v", r.Problems())
		}
	}
}
