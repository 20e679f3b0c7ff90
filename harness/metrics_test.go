package harness

import (
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/report"
)

// The failover metrics go to metrics.extra, durations in ms.
func TestFailoverMetrics(t *testing.T) {
	e := testEnv(t, false)
	e.Metric(FailoverMS, 23500*time.Microsecond)
	e.Metric(TwoWritersMS, time.Duration(0))
	e.Metric(RPORows, 0)
	e.Metric(RTOMS, 6200*time.Millisecond)
	e.Metric(ErrantGTIDs, "")
	e.Metric(FailbackMS, 31*time.Millisecond)
	e.Metric(RPOMS, time.Duration(0))
	want := map[string]any{"failover_ms": 23.5, "two_writers_ms": 0.0, "rpo_rows": 0, "rto_ms": 6200.0, "errant_gtids": "",
		"failback_ms": 31.0, "rpo_ms": 0.0}
	for k, v := range want {
		if got, ok := e.metrics.Extra[k]; !ok || got != v {
			t.Errorf("metrics.extra[%s] = %v (%T), want %v (%T)", k, got, got, v, v)
		}
	}
}

func TestAddClient(t *testing.T) {
	e := testEnv(t, false)
	e.AddClient(report.Client{Name: "peer-app/pool-pinned", Verdict: "pass"})
	e.AddClient(report.Client{Name: "aws-app/fresh-per-write", Verdict: "fail"})
	cs := e.Clients()
	if len(cs) != 2 || cs[0].Name != "peer-app/pool-pinned" || cs[1].Verdict != "fail" {
		t.Fatalf("Clients() = %+v", cs)
	}
	cs[0].Name = "changed"
	if e.Clients()[0].Name != "peer-app/pool-pinned" {
		t.Fatal("Clients() shares the env's slice")
	}
}
