package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/timeline"
)

// assertTimingsRestored proves the fault's Recover put the replica's
// timings back as they were before the drill.
func assertTimingsRestored(t *testing.T, env *testEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := env.Replica.Timings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.ConnectRetry != env.Timings.ConnectRetry || got.Heartbeat != env.Timings.Heartbeat || got.NetTimeout != env.Timings.NetTimeout {
		t.Fatalf("replica timings after the drill %+v, want the original %+v", got, env.Timings)
	}
	if want := env.Lab.Timings.Replica(); got.ConnectRetry != want.ConnectRetry {
		t.Fatalf("connect retry %s, want the lab's %s", got.ConnectRetry, want.ConnectRetry)
	}
}

func TestReplicaStuckConnecting(t *testing.T) {
	env := newEnv(t)
	start := time.Now()
	r := runDrill(context.Background(), ReplicaStuckConnecting(ReplicaStuckOptions{}), env)
	t.Logf("drill wall time %s", time.Since(start).Round(time.Millisecond))
	writeReport(t, env, r)
	keepReport(t, r)
	if r.Verdict != report.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	rem, _ := r.Environment["remediation"].([]string)
	if len(rem) != 1 || !strings.Contains(rem[0], "STOP REPLICA; START REPLICA") || !strings.Contains(rem[0], "IO thread Connecting for") {
		t.Fatalf("the report must say that remediation was needed and why: %v", r.Environment["remediation"])
	}
	if !timelineHas(env.Timeline.Events(), "harness", timeline.KindRemediation, "action", "STOP REPLICA") {
		t.Errorf("timeline lacks the remediation event")
	}
	if v, _ := r.Metrics.Extra["replica_stuck_ms"].(float64); v < 5000 {
		t.Errorf("replica_stuck_ms %v: want at least the 5 s window", r.Metrics.Extra["replica_stuck_ms"])
	}
	if r.Metrics.RowsWritten != 3 || r.Metrics.RowsMissingOnReplica != 0 || r.Metrics.RowsUnexpectedOnReplica != 0 {
		t.Errorf("row metrics: %+v", r.Metrics)
	}
	assertTimingsRestored(t, env)
}

// Remediation disabled: the stuck replica is the failure, named with its
// IO state, how long and the last IO error; Recover still restores the
// connect retry.
func TestReplicaStuckConnectingFailsWithoutRemediation(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), ReplicaStuckConnecting(ReplicaStuckOptions{NoRemediation: true}), env)
	writeReport(t, env, r)
	keepReport(t, r)
	if r.Verdict != report.VerdictFail {
		t.Fatalf("want fail, got %s: %s", r.Verdict, r.Diagnosis)
	}
	for _, want := range []string{"IO thread Connecting for", "after the tunnel came back: Last_IO_Errno 2003: ", "Connect_Retry 3600 s"} {
		if !strings.Contains(r.Diagnosis, want) {
			t.Errorf("diagnosis lacks %q: %s", want, r.Diagnosis)
		}
	}
	if _, ok := r.Environment["remediation"]; ok {
		t.Errorf("remediation recorded although disabled")
	}
	assertTimingsRestored(t, env)
}

// The plain seed fault does not leave the replica stuck: the drill must
// say that its fault had no effect (replica_stuck_detected can fail).
func TestReplicaStuckConnectingFailsWhenNotStuck(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), ReplicaStuckConnecting(ReplicaStuckOptions{Fault: "tunnel-down"}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail || !strings.Contains(r.Diagnosis, "fault had no effect") {
		t.Fatalf("want fail 'fault had no effect', got %s: %s", r.Verdict, r.Diagnosis)
	}
}

// Interrupted while the replica sleeps its hour: Recover still brings the
// tunnel back and restores the connect retry.
func TestReplicaStuckConnectingInterruptedRestoresTimings(t *testing.T) {
	env := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.Timeline.Subscribe(func(e timelineEvent) {
		if e.Kind == "step" && e.Map()["event"] == "end" && strings.HasPrefix(e.Map()["step"].(string), "outage seen") {
			cancel()
		}
	})
	r := runDrill(ctx, ReplicaStuckConnecting(ReplicaStuckOptions{}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictError || !r.Interrupted {
		t.Fatalf("want an interrupted error verdict, got %s interrupted=%v: %s", r.Verdict, r.Interrupted, r.Error)
	}
	first, second := env.TunnelSides()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := waitHealthyForTest(wctx, first, second); err != nil {
		t.Fatalf("tunnel not recovered after the interrupt: %v", err)
	}
	assertTimingsRestored(t, env)
}
