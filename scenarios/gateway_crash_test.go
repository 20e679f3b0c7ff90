package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/report"
)

func testGatewayCrash(t *testing.T, site string) {
	env := newEnv(t)
	r := runDrill(context.Background(), GatewayCrash(GatewayCrashOptions{Site: site}), env)
	m := writeReport(t, env, r)
	if r.Verdict != report.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	for _, name := range []string{"outage_observed", "dpd_declared_dead", "io_recovered", "gtid_applied", "ledger_matches", "tunnel_healthy"} {
		if !reportHasCheck(r, name, check.Pass) {
			t.Errorf("check %s did not pass", name)
		}
	}
	if !reportHasCheck(r, "tunnel_self_healed", check.Pass) && !reportHasCheck(r, "tunnel_recovered_in_order", check.Pass) {
		t.Error("no check of how the tunnel came back")
	}
	// The crash and the restart are in the timeline, and the event stream
	// of the killed charon was lost and resumed.
	var killed, restarted, lost, resumed bool
	for _, e := range m["timeline"].([]any) {
		ev := e.(map[string]any)
		d, _ := ev["detail"].(map[string]any)
		if ev["source"] != "tunnel/"+site {
			continue
		}
		switch {
		case ev["kind"] == "fault" && d["action"] == "inject":
			killed = true
		case ev["kind"] == "fault" && d["action"] == "restart":
			restarted = true
		case d["event"] == "vici event stream lost":
			lost = true
		case d["event"] == "vici event stream resumed":
			resumed = true
		}
	}
	if !killed || !restarted || !lost || !resumed {
		t.Errorf("timeline: killed %v restarted %v stream lost %v resumed %v", killed, restarted, lost, resumed)
	}
	if r.Metrics.RowsMissingOnReplica != 0 || r.Metrics.RowsWritten != 3 || r.Metrics.RowsWrittenDuringOutage != 1 {
		t.Errorf("row metrics: %+v", r.Metrics)
	}
}

func TestGatewayCrash(t *testing.T)    { testGatewayCrash(t, "onprem") }
func TestGatewayCrashAWS(t *testing.T) { testGatewayCrash(t, "aws") }

// The restarted charon does not get its connection back: the tunnel cannot
// come back, and the drill fails naming the gateway. The deferred recovery
// restarts it properly.
func TestGatewayCrashFailsWithoutReload(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), GatewayCrash(GatewayCrashOptions{NoReload: true}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail {
		t.Fatalf("want fail, got %s: %s (error %s)", r.Verdict, r.Diagnosis, r.Error)
	}
	if !strings.Contains(r.Diagnosis, "onprem's charon") || !strings.Contains(r.Diagnosis, "onprem: ") {
		t.Fatalf("diagnosis must name the restarted gateway and what it does: %s", r.Diagnosis)
	}
	first, second := env.TunnelSides()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitHealthyForTest(wctx, first, second); err != nil {
		t.Fatalf("tunnel not recovered after the drill: %v", err)
	}
}
