package fault_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

var awsDB = target.Host{Site: "aws", Kind: target.DBHost}

// site-loss on a lab: the primary's site goes dark (its db frozen, the
// WAN silent), the replica loses its source; recovered, the db answers,
// the tunnel is healthy and the replica catches up with a write the
// primary took just before it went dark.
func TestSiteLossLab(t *testing.T) {
	tg := upLab(t)
	ctx := context.Background()
	tl := timeline.New()
	f, err := fault.New("site-loss", tg, tl, fault.Params{"heal_wait": "10s"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f.Recover(rctx)
		f.WaitRecovered(rctx)
	})
	p, err := f.(fault.Planner).Plan(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan: %s; dead man: %s", p.What, p.DeadMan)
	start := time.Now()
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitForEffect(ctx); err != nil {
		t.Fatal(err)
	}
	if frozen, err := tg.Frozen(awsDB); err != nil || !frozen {
		t.Fatalf("aws-db not frozen after the effect: %v", err)
	}
	rep := target.Replica(tg).DB
	tm, err := rep.Timings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The replica sees its source gone: heartbeats stop, IO leaves Yes
	// within its net timeout.
	wctx, cancel := context.WithTimeout(ctx, tm.NetTimeout+tm.ConnectRetry+2*time.Second)
	st, err := replica.WaitFor(wctx, rep, 20*time.Millisecond, "IO thread to leave Yes", func(s replica.Status) bool { return s.IO != replica.IOYes })
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replica IO %s %.2fs after the inject: %s", st.IO, time.Since(start).Seconds(), st.LastIOError)
	if err := f.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitRecovered(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("recovered %.2fs after the inject", time.Since(start).Seconds())
	if frozen, _ := tg.Frozen(awsDB); frozen {
		t.Fatal("aws-db still frozen after recovery")
	}
	if err := fault.WaitSteady(ctx, tg, tl); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range tl.Events() {
		kinds = append(kinds, fmt.Sprint(e.Detail))
	}
	if s := strings.Join(kinds, "\n"); !strings.Contains(s, "SIGSTOP") || !strings.Contains(s, "SIGCONT") {
		t.Fatalf("timeline lacks the freeze and thaw:\n%s", s)
	}
}
