package scenarios

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/divergence"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/report"
)

// newSiteLossEnv is newEnv on a lab that can freeze a database (netns only).
func newSiteLossEnv(t *testing.T) *testEnv {
	return newEnvWith(t, labNeeds{netnsOnly: "site-loss freezes a database: netns backend only"})
}

func runSiteLossDrill(t *testing.T, o SiteLossOptions) (*testEnv, *report.Report) {
	t.Helper()
	env := newSiteLossEnv(t)
	r := runDrill(context.Background(), SiteLoss(o), env)
	writeReport(t, env, r)
	keepReport(t, r)
	return env, r
}

func lostWrites(t *testing.T, env *testEnv) []divergence.LostWrite {
	t.Helper()
	data, ok := env.Artifact(LostWritesFile)
	if !ok {
		t.Fatalf("no %s artifact", LostWritesFile)
	}
	var out []divergence.LostWrite
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var w divergence.LostWrite
		if err := json.Unmarshal([]byte(l), &w); err != nil {
			t.Fatalf("%s: %v: %s", LostWritesFile, err, l)
		}
		out = append(out, w)
	}
	return out
}

func wantCheck(t *testing.T, r *report.Report, name, verdict string, observed ...string) {
	t.Helper()
	v, obs := checkVerdict(r, name)
	if v != verdict {
		t.Errorf("check %s: %q (%s), want %s", name, v, obs, verdict)
	}
	for _, o := range observed {
		if !strings.Contains(obs, o) {
			t.Errorf("check %s: observed %q lacks %q", name, obs, o)
		}
	}
}

// The drill users need most: the site is lost with writes at risk, RPO > 0
// and within the objective, every lost acknowledged write found in
// lost-writes.jsonl and nowhere else, the topology restored.
func TestSiteLoss(t *testing.T) {
	env, r := runSiteLossDrill(t, SiteLossOptions{})
	if r.Verdict != report.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	ex := r.Metrics.Extra
	rows, _ := ex["rpo_rows"].(int)
	if rows == 0 {
		t.Fatalf("rpo_rows %v: the loss was not real", ex["rpo_rows"])
	}
	for _, k := range []string{"rpo_ms", "rto_ms", "lag_p50_ms", "lag_max_ms", "lag_before_loss_ms", "promote_ms", "rebuild_ms", "rebuild_mb_per_s", "switchback_ms", "lost_transactions"} {
		if _, ok := ex[k]; !ok {
			t.Errorf("metric %s missing: %v", k, ex)
		}
	}
	// The file lists exactly the acknowledged writes the ledger says were
	// lost: each matched, with its GTID, table and primary key.
	acked := 0
	for _, w := range lostWrites(t, env) {
		if w.GTID == "" || w.Table == "" || len(w.PK) == 0 {
			t.Errorf("lost write without GTID, table or key: %+v", w)
		}
		if w.Table == "testdb.ping" && w.Acknowledged {
			acked++
		}
	}
	if acked != rows {
		t.Errorf("%d acknowledged lost writes in the file, rpo_rows %d", acked, rows)
	}
	for _, name := range []string{"rpo_within_objective", "rto_within_objective", "old_primary_fenced", "lost_writes_found", "ledger_on_every_server", "checksums_equal", "no_errant_gtids", "steady_state"} {
		wantCheck(t, r, name, "pass")
	}
	t.Logf("rpo %v rows / %v ms, rto %v ms, lag p50 %v max %v, rebuild %v ms (%v MB/s)", rows, ex["rpo_ms"], ex["rto_ms"], ex["lag_p50_ms"], ex["lag_max_ms"], ex["rebuild_ms"], ex["rebuild_mb_per_s"])
}

// RPO over the objective fails the drill, naming the lag that caused it;
// the drill still fails back and leaves the topology as it found it.
func TestSiteLossRPOOverObjective(t *testing.T) {
	_, r := runSiteLossDrill(t, SiteLossOptions{RPO: 1})
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s, want fail: %s", r.Verdict, r.Diagnosis)
	}
	wantCheck(t, r, "rpo_within_objective", "fail", "over the objective", "replication lagged")
	wantCheck(t, r, "steady_state", "pass")
}

// An old primary that still answers and is writable is not fenced: the
// drill refuses to promote, naming the split brain; nothing is promoted.
func TestSiteLossRefusesSplitBrain(t *testing.T) {
	env, r := runSiteLossDrill(t, SiteLossOptions{NoFreeze: true})
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s, want fail: %s", r.Verdict, r.Diagnosis)
	}
	wantCheck(t, r, "old_primary_fenced", "fail", "split brain", "still answers and is writable", "promotion of onprem-db refused")
	if ro, err := env.Replica.ReadOnly(context.Background()); err != nil || !ro {
		t.Errorf("onprem-db read_only %v (%v): a refused promotion changed it", ro, err)
	}
	if !strings.Contains(r.Diagnosis, "split brain") {
		t.Errorf("diagnosis does not name the split brain: %s", r.Diagnosis)
	}
}

// A lost write missing from lost-writes.jsonl fails the drill.
func TestSiteLossLostWriteNotFound(t *testing.T) {
	_, r := runSiteLossDrill(t, SiteLossOptions{EditLostWrites: func(b []byte) []byte {
		lines := strings.SplitAfter(string(b), "\n")
		for i, l := range lines {
			if strings.Contains(l, `"acknowledged":true`) {
				return []byte(strings.Join(append(lines[:i:i], lines[i+1:]...), ""))
			}
		}
		return b
	}})
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s, want fail: %s", r.Verdict, r.Diagnosis)
	}
	wantCheck(t, r, "lost_writes_found", "fail", "lost acknowledged writes not in lost-writes.jsonl")
}

// A failback straight onto the divergent server is refused: the rebuild
// will not discard lost writes that were not set aside, and aws-db still
// holds them.
func TestSiteLossRefusesFailbackOntoDivergent(t *testing.T) {
	env, r := runSiteLossDrill(t, SiteLossOptions{NoSetAside: true})
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s, want fail: %s", r.Verdict, r.Diagnosis)
	}
	wantCheck(t, r, "lost_writes_set_aside", "fail", "failback onto the divergent aws-db refused", "holds transactions onprem-db lacks")
	errant, err := replica.ErrantGTIDs(context.Background(), env.Primary, env.Replica)
	if err != nil || errant == "" {
		t.Errorf("aws-db's lost writes: errant %q (%v): the refused rebuild discarded them", errant, err)
	}
}

// The rate-limited variant: the replica trails under load behind a slow
// WAN, then the site is lost; the same proof.
func TestSiteLossRateLimited(t *testing.T) {
	_, r := runSiteLossDrill(t, SiteLossOptions{Variant: RateLimited})
	if r.Verdict != report.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	ex := r.Metrics.Extra
	if rows, _ := ex["rpo_rows"].(int); rows == 0 {
		t.Fatalf("rpo_rows %v: the loss was not real", ex["rpo_rows"])
	}
	t.Logf("rpo %v rows / %v ms, lag before the loss %v ms, rto %v ms", ex["rpo_rows"], ex["rpo_ms"], ex["lag_before_loss_ms"], ex["rto_ms"])
}
