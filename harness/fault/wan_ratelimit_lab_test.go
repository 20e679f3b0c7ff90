package fault_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

// wan-ratelimit on a lab: with aws-gw's WAN egress at 1mbit, a 512 KiB
// write reaches the replica no faster than the rate allows; the watchdog
// is in place while it is held; recovered, the qdisc and the watchdog are
// gone and the replica is steady.
func TestWANRateLimitLab(t *testing.T) {
	tg := upLab(t)
	ctx := context.Background()
	tl := timeline.New()
	f, err := fault.New("wan-ratelimit", tg, tl, fault.Params{"rate": "1mbit"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f.Recover(rctx)
	})
	p, err := f.(fault.Planner).Plan(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan: %s", p.What)
	// This fault's own watchdog: other tests' labs run side by side, and
	// their namespaces share this machine's processes.
	var end fault.RateLimitEnd
	if err := json.Unmarshal(p.Data, &end); err != nil || end.Token == "" {
		t.Fatalf("plan data %s: %v", p.Data, err)
	}
	watchdog := "drdrill-watchdog-" + end.Token
	if !strings.Contains(p.What, "(wan0, toward 198.51.100.2)") {
		t.Fatalf("the WAN interface was not found from the route to the peer: %s", p.What)
	}
	prim, rep := target.Primary(tg).DB, target.Replica(tg).DB
	if _, err := prim.DB().ExecContext(ctx, "CREATE TABLE IF NOT EXISTS testdb.bulk (id INT AUTO_INCREMENT PRIMARY KEY, b LONGBLOB)"); err != nil {
		t.Fatal(err)
	}
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	gw := target.Host{Site: "aws", Kind: target.GatewayHost}
	if out, _ := tg.Exec(ctx, gw, "ps", "-eo", "args"); !strings.Contains(string(out), watchdog) {
		t.Fatalf("no watchdog in aws-gw:\n%s", out)
	}
	const size = 512 << 10
	start := time.Now()
	if _, err := prim.DB().ExecContext(ctx, "INSERT INTO testdb.bulk(b) VALUES (REPEAT('x', ?))", size); err != nil {
		t.Fatal(err)
	}
	pos, err := prim.PrimaryPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WaitForEffect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rep.WaitApplied(ctx, pos, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	rate := float64(size*8) / took.Seconds() / 1e6
	t.Logf("512 KiB replicated through a 1mbit WAN in %.2fs: %.2f Mbit/s of payload", took.Seconds(), rate)
	if rate > 1.2 {
		t.Fatalf("the replica received %.2f Mbit/s through a 1mbit limit: the limit did not hold", rate)
	}
	if err := f.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitRecovered(ctx); err != nil {
		t.Fatal(err)
	}
	out, _ := tg.Exec(ctx, gw, "tc", "qdisc", "show", "dev", "wan0")
	if strings.Contains(string(out), fault.RateLimitHandle) {
		t.Fatalf("qdisc left: %s", out)
	}
	if err := poll.Until(ctx, "the watchdog to be gone", 20*time.Millisecond, 2*time.Second, func(ctx context.Context) (bool, string, error) {
		out, _ := tg.Exec(ctx, gw, "ps", "-eo", "args")
		return !strings.Contains(string(out), watchdog), "its watchdog " + watchdog + " still runs", nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := fault.WaitSteady(ctx, tg, tl); err != nil {
		t.Fatal(err)
	}
}

// The watchdog alone: injected with a short limit and never recovered,
// the qdisc goes away by itself.
func TestWANRateLimitDeadManLab(t *testing.T) {
	tg := upLab(t)
	ctx := context.Background()
	f, err := fault.New("wan-ratelimit", tg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Recover(context.Background()) })
	if _, err := f.(fault.Planner).Plan(ctx, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	gw := target.Host{Site: "aws", Kind: target.GatewayHost}
	err = poll.Until(ctx, "the watchdog to remove the qdisc", 20*time.Millisecond, 5*time.Second, func(ctx context.Context) (bool, string, error) {
		out, err := tg.Exec(ctx, gw, "tc", "qdisc", "show", "dev", "wan0")
		return err == nil && !strings.Contains(string(out), fault.RateLimitHandle), string(out), err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("qdisc removed by the watchdog %.2fs after the inject (limit 1.5s)", time.Since(start).Seconds())
	if time.Since(start) < 1400*time.Millisecond {
		t.Fatal("removed before the limit")
	}
}
