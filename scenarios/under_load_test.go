package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/workload"
)

// runUnderLoadT runs the drill on a fresh lab, bounded well below the
// scenario's own timeout (the drill takes about 5 s on the lab).
func runUnderLoadT(t *testing.T, o UnderLoadOptions) (*testEnv, *report.Report, map[string]any) {
	t.Helper()
	env := newEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	start := time.Now()
	r := runDrill(ctx, VPNOutageUnderLoad(o), env)
	t.Logf("drill wall time %s", time.Since(start).Round(time.Millisecond))
	return env, r, writeReport(t, env, r)
}

func TestUnderLoadRegistered(t *testing.T) {
	sc, err := Lookup("vpn-outage-under-load")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Description == "" || strings.Contains(sc.Description, "\n") || !strings.Contains(sc.Description, "4 conns, 300 rows/s") {
		t.Fatalf("description %q: want one line naming the default load", sc.Description)
	}
	o := UnderLoadOptions{}.withDefaults()
	if o.Fault != "tunnel-down" || o.Conns != 4 || o.Rate != 300 || o.AfterRows != 150 {
		t.Fatalf("defaults = %+v", o)
	}
}

func TestUnderLoad(t *testing.T) {
	env, r, m := runUnderLoadT(t, UnderLoadOptions{})
	if r.Verdict != report.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	want := []string{"outage_observed", "io_recovered", "gtid_applied", "ledger_matches", "tunnel_healthy", "steady_state"}
	if len(r.Checks) != len(want) {
		t.Fatalf("checks %d, want %v", len(r.Checks), want)
	}
	for i, c := range r.Checks {
		if c.Name != want[i] {
			t.Errorf("check %d is %s, want %s", i, c.Name, want[i])
		}
	}

	met := m["metrics"].(map[string]any)
	for _, k := range []string{"outage_detect_ms", "tunnel_recover_ms", "replica_recover_ms", "catchup_ms", "rows_written_during_outage"} {
		if v, ok := met[k].(float64); !ok || v <= 0 {
			t.Errorf("metric %s = %v, want a positive number", k, met[k])
		}
	}
	for _, k := range []string{"rows_missing_on_replica", "rows_unexpected_on_replica"} {
		if met[k] != 0.0 {
			t.Errorf("metric %s = %v, want 0", k, met[k])
		}
	}
	extra := met["extra"].(map[string]any)
	num := func(k string) float64 {
		v, ok := extra[k].(float64)
		if !ok {
			t.Errorf("metrics.extra.%s = %v, want a number", k, extra[k])
		}
		return v
	}
	for _, k := range []string{"backlog_at_recovery_rows", "catchup_rows", "apply_ms", "apply_rate_rows_per_s",
		"writer_attempted", "writer_acked", "writer_rate_rows_per_s", "writer_elapsed_ms"} {
		if v := num(k); v <= 0 {
			t.Errorf("metrics.extra.%s = %v, want > 0", k, v)
		}
	}
	for _, k := range []string{"writer_failed", "writer_unknown", "writes_late", "writes_not_written"} {
		if v := num(k); v < 0 {
			t.Errorf("metrics.extra.%s = %v, want ≥ 0", k, v)
		}
	}
	// The backlog is the rows acknowledged during the outage, give or take
	// the few sent while the fault was being injected or the tunnel had
	// just come back; the catch-up applies at least the backlog.
	if b, d := num("backlog_at_recovery_rows"), met["rows_written_during_outage"].(float64); b > d+30 {
		t.Errorf("backlog %v exceeds the %v rows written during the outage", b, d)
	}
	if c, b := num("catchup_rows"), num("backlog_at_recovery_rows"); c < b {
		t.Errorf("catch-up applied %v rows, fewer than the backlog of %v", c, b)
	}
	// Every write is accounted for: the seed's first ping plus the writer's
	// acknowledged ones plus the unknown ones found on the primary.
	if got, want := met["rows_written"].(float64), 1+num("writer_acked")+num("writes_late"); got != want {
		t.Errorf("rows_written %v, want 1 + writer_acked + writes_late = %v", got, want)
	}
	if a, s := num("writer_attempted"), num("writer_acked")+num("writer_failed")+num("writer_unknown"); a != s {
		t.Errorf("writer attempted %v ≠ acked+failed+unknown %v", a, s)
	}
	sum := env.Workload.Ledger.Summary()
	for _, p := range []workload.Phase{workload.PhaseBefore, workload.PhaseDuring, workload.PhaseAfter} {
		if sum.AckedByPhase[p] == 0 {
			t.Errorf("no rows acknowledged in phase %s: %+v", p, sum.AckedByPhase)
		}
	}
	if sum.AckedByPhase[workload.PhaseAfter] < 150 {
		t.Errorf("%d rows after recovery, want the writer stopped only after 150", sum.AckedByPhase[workload.PhaseAfter])
	}
	if sum.Unknown != 0 {
		t.Errorf("%d writes still of unknown outcome after the drill", sum.Unknown)
	}
}

// The ledger check fails when an acknowledged write is lost: one row
// written during the outage is removed from the replica after catch-up.
func TestUnderLoadFailsOnLostWrite(t *testing.T) {
	_, r, _ := runUnderLoadT(t, UnderLoadOptions{Conns: 2, Rate: 100,
		Verify: VerifyOptions{BeforeVerify: damage("DELETE FROM testdb.ping WHERE drill_id = ? AND phase = ? AND writer > 0 ORDER BY id LIMIT 1", string(workload.PhaseDuring))},
	})
	if r.Verdict != report.VerdictFail || r.Metrics.RowsMissingOnReplica < 1 {
		t.Fatalf("want fail with a missing row, got %s (%d missing): %s", r.Verdict, r.Metrics.RowsMissingOnReplica, r.Diagnosis)
	}
	if !strings.Contains(r.Diagnosis, "ledger_matches") || !strings.Contains(r.Diagnosis, "missing") || !strings.Contains(r.Diagnosis, "steady_during_w") {
		t.Fatalf("diagnosis must name the missing steady row written during the outage: %s", r.Diagnosis)
	}
	if r.Metrics.Extra["writer_conns"] != 2 || r.Metrics.Extra["writer_target_rate_rows_per_s"] != 100.0 {
		t.Errorf("writer shape in metrics: %v", r.Metrics.Extra)
	}
}
