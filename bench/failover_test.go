package bench

import (
	"context"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/scenarios"
)

// BenchmarkDrillFailoverFailback runs the failover drill on the failover
// lab and reports its wall time against its intrinsic wait (the endpoint
// TTL the hold lasts after the flip: a client that honours it has had its
// chance; after the failback the drill waits only until every client
// wrote again),
// failover_ms and failback_ms (target ≤ 1 s for a planned failover with no
// backlog), and each profile's measured write unavailability (mean over
// its clients) next to the bound a follower is allowed.
func BenchmarkDrillFailoverFailback(b *testing.B) {
	be := backend(b, "netns")
	dir := labDir(b)
	b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
	b.StopTimer()
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir, Backend: be, Failover: true})
	if err != nil {
		b.Fatal(err)
	}
	sc := scenarios.FailoverFailback(scenarios.FailoverFailbackOptions{})
	var wall, intrinsic time.Duration
	var failover, failback, bound float64
	unavailable := map[string]float64{}
	resolution := 0.0
	for i := 0; i < b.N; i++ {
		env := openEnv(b, info, be)
		b.StartTimer()
		start := time.Now()
		r := harness.Run(context.Background(), sc, env.T, env.Env)
		d := time.Since(start)
		b.StopTimer()
		env.Close()
		if r.Verdict != report.VerdictPass {
			b.Fatalf("failover-failback: %s: %s", r.Verdict, r.Diagnosis)
		}
		wall += d
		intrinsic += lab.CNAMETTL
		failover += num(r.Metrics.Extra[string(harness.FailoverMS)])
		failback += num(r.Metrics.Extra[string(harness.FailbackMS)])
		for _, c := range r.Clients {
			if c.WriteUnavailableMS != nil {
				unavailable[c.Profile] += *c.WriteUnavailableMS / 2 // two app hosts
			}
			if c.ResolutionMS != nil {
				resolution = max(resolution, *c.ResolutionMS)
			}
			if c.BoundMS != nil {
				bound = max(bound, *c.BoundMS)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "s/drill")
	b.ReportMetric(intrinsic.Seconds()/n, "s-intrinsic/drill")
	b.ReportMetric(wall.Seconds()/intrinsic.Seconds(), "x-intrinsic")
	b.ReportMetric(failover/n, "failover-ms")
	b.ReportMetric(failback/n, "failback-ms")
	b.ReportMetric(bound, "follower-bound-ms")
	b.ReportMetric(resolution, "max-resolution-ms")
	for p, ms := range unavailable {
		b.ReportMetric(ms/n, p+"-unavailable-ms")
	}
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	}
	return 0
}
