package suite

import (
	"context"
	"encoding/xml"
	"errors"
	"github.com/drdrill/drdrill/harness/junitxml"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/report"
)

func run(sc string, n int, outcome string, ms map[string]float64) Run {
	r := Run{Scenario: sc, N: n, Outcome: outcome, Metrics: ms}
	if outcome != Infra && outcome != NotRun {
		r.Dir = Job{sc, n}.Dir()
	}
	if outcome != Pass {
		r.Reason = "why " + outcome
	}
	return r
}

func TestPercentileIsNearestRank(t *testing.T) {
	for _, tc := range []struct {
		vs       []float64
		p50, p95 float64
	}{
		{[]float64{7}, 7, 7},
		{[]float64{1, 2}, 1, 2},
		{[]float64{1, 2, 3, 4}, 2, 4},
		{[]float64{5, 1, 4, 2, 3}, 3, 5},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, 10, 19},
	} {
		st := StatOf(append([]float64(nil), tc.vs...))
		if st.P50 != tc.p50 || st.P95 != tc.p95 || st.N != len(tc.vs) {
			t.Errorf("%v: p50 %v p95 %v n %d, want %v %v %d", tc.vs, st.P50, st.P95, st.N, tc.p50, tc.p95, len(tc.vs))
		}
	}
	if st := StatOf(nil); st.N != 0 {
		t.Errorf("no values: %+v", st)
	}
}

func TestSummarizeTellsOutcomesApart(t *testing.T) {
	runs := []Run{
		run("a", 1, Pass, map[string]float64{"duration_ms": 4000, "catchup_ms": 10}),
		run("b", 1, Pass, map[string]float64{"duration_ms": 5000}),
		run("a", 2, Fail, map[string]float64{"duration_ms": 6000}),
		run("b", 2, Pass, map[string]float64{"duration_ms": 5200}),
		run("a", 3, Infra, nil),
		run("c", 1, Error, nil),
		run("c", 2, Interrupted, nil),
		run("c", 3, NotRun, nil),
		run("d", 1, Infra, nil),
	}
	ds := Summarize(runs)
	if len(ds) != 4 || ds[0].Scenario != "a" || ds[1].Scenario != "b" || ds[2].Scenario != "c" || ds[3].Scenario != "d" {
		t.Fatalf("drills out of first-seen order: %+v", ds)
	}
	a, b, c, d := ds[0], ds[1], ds[2], ds[3]
	if a.Runs != 3 || a.Passes != 1 || a.Failures != 1 || a.Infra != 1 || !a.Flaky || a.Verdict != Fail {
		t.Errorf("a: %+v", a)
	}
	if st := a.Metrics["duration_ms"]; st.N != 2 || st.P50 != 4000 || st.P95 != 6000 {
		t.Errorf("a duration: %+v", st)
	}
	if st := a.Metrics["catchup_ms"]; st.N != 1 {
		t.Errorf("a catchup measured once: %+v", st)
	}
	if b.Runs != 2 || b.Passes != 2 || b.Flaky || b.Verdict != Pass {
		t.Errorf("b: %+v", b)
	}
	if c.Errors != 1 || c.Interrupted != 1 || c.NotRun != 1 || c.Flaky || c.Verdict != Error {
		t.Errorf("c: %+v", c)
	}
	if d.Infra != 1 || d.Verdict != Error || d.Flaky {
		t.Errorf("d: %+v", d)
	}
	s := New("lab", time.Now(), time.Second, 2, 3, false, runs)
	if s.Passed() || s.Ran() != 6 {
		t.Errorf("suite: passed %v ran %d, want false 6", s.Passed(), s.Ran())
	}
	if ok := New("lab", time.Now(), 0, 1, 1, false, []Run{run("b", 1, Pass, nil)}); !ok.Passed() {
		t.Error("a suite whose every run passed did not pass")
	}
	if New("lab", time.Now(), 0, 1, 1, false, nil).Passed() {
		t.Error("an empty suite passed")
	}
}

func TestFromReport(t *testing.T) {
	r := report.New("vpn-outage", "lab", "d-000000000001", time.Now())
	ms := 3010.5
	r.Metrics.OutageDetectMS = &ms
	r.Metrics.Extra["self_heal_ms"] = 12.5
	r.Metrics.Extra["note"] = "text"
	r.DurationMS = 4050
	r.Verdict, r.Diagnosis = report.VerdictFail, "ledger_matches: missing seq 2 hunter2"
	got := FromReport(Job{"vpn-outage", 2}, r, "hunter2")
	if got.Outcome != Fail || got.Dir != "vpn-outage/run-2" || got.DurationMS != 4050 {
		t.Errorf("run: %+v", got)
	}
	if strings.Contains(got.Reason, "hunter2") || !strings.Contains(got.Reason, "missing seq 2") {
		t.Errorf("reason not scrubbed or lost: %q", got.Reason)
	}
	if got.Metrics["outage_detect_ms"] != 3010.5 || got.Metrics["self_heal_ms"] != 12.5 || got.Metrics["duration_ms"] != 4050 {
		t.Errorf("metrics: %v", got.Metrics)
	}
	if _, ok := got.Metrics["tunnel_recover_ms"]; ok {
		t.Error("an unmeasured metric is in the run's metrics")
	}
	if _, ok := got.Metrics["note"]; ok {
		t.Error("a string metric is in the run's metrics")
	}
	r.Verdict, r.Interrupted = report.VerdictError, true
	if got := FromReport(Job{"vpn-outage", 1}, r); got.Outcome != Interrupted {
		t.Errorf("interrupted report: outcome %s", got.Outcome)
	}
	inf := InfraError(Job{"x", 1}, time.Now(), errors.New("lab up: aws-gw: charon died\n  last log lines"))
	if inf.Outcome != Infra || inf.Dir != "" || inf.Reason != "lab up: aws-gw: charon died" {
		t.Errorf("infra: %+v", inf)
	}
}

func TestJobsRoundByRound(t *testing.T) {
	got := Jobs([]string{"a", "b"}, 2)
	want := []Job{{"a", 1}, {"b", 1}, {"a", 2}, {"b", 2}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("job %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// Execute keeps at most parallel runs going, returns them in job order, and
// starts nothing after its context is cancelled.
func TestExecuteBoundsAndStopsOnCancel(t *testing.T) {
	jobs := Jobs([]string{"a", "b", "c"}, 3)
	var running, peak atomic.Int32
	var gate sync.WaitGroup
	gate.Add(1)
	started := make(chan struct{}, len(jobs))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var dones []Run
	go func() {
		// Two runs hold; once both are in, cancel and let them end.
		<-started
		<-started
		cancel()
		gate.Done()
	}()
	runs := Execute(ctx, jobs, 2, func(ctx context.Context, j Job) Run {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		started <- struct{}{}
		gate.Wait()
		running.Add(-1)
		return run(j.Scenario, j.N, Pass, nil)
	}, func(r Run) { dones = append(dones, r) })
	if peak.Load() != 2 {
		t.Errorf("peak %d runs at once, want 2", peak.Load())
	}
	if len(runs) != len(jobs) {
		t.Fatalf("%d runs for %d jobs", len(runs), len(jobs))
	}
	ran := 0
	for i, r := range runs {
		if r.Scenario != jobs[i].Scenario || r.N != jobs[i].N {
			t.Errorf("run %d is %s/%d, want job %v", i, r.Scenario, r.N, jobs[i])
		}
		if r.Outcome == Pass {
			ran++
		} else if r.Outcome != NotRun {
			t.Errorf("run %d: outcome %s", i, r.Outcome)
		}
	}
	// The two held ones, plus at most one a worker took between the
	// cancel and seeing it.
	if ran < 2 || ran > 3 || len(dones) != ran {
		t.Errorf("%d ran (%d reported done) after a cancel while 2 ran", ran, len(dones))
	}
	if runs[len(runs)-1].Outcome != NotRun {
		t.Error("the last job ran after the cancel")
	}
}

func TestExecuteRunsEveryJob(t *testing.T) {
	jobs := Jobs([]string{"a", "b"}, 3)
	var n atomic.Int32
	runs := Execute(context.Background(), jobs, 8, func(_ context.Context, j Job) Run {
		n.Add(1)
		return run(j.Scenario, j.N, Pass, nil)
	}, nil)
	if n.Load() != 6 || len(runs) != 6 {
		t.Errorf("%d runs of 6 jobs", n.Load())
	}
}

func TestWriteJUnitJSONHTML(t *testing.T) {
	runs := []Run{
		run("vpn-outage", 1, Pass, map[string]float64{"duration_ms": 4050}),
		run("vpn-outage", 2, Fail, map[string]float64{"duration_ms": 4100}),
		run("gateway-crash", 1, Infra, nil),
		run("gateway-crash", 2, Error, nil),
		run("gateway-crash", 3, NotRun, nil),
	}
	runs[1].Reason = `ledger_matches: missing seq 2 <&"`
	s := New("lab", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), 9*time.Second, 2, 2, false, runs)
	dir := t.TempDir()
	if err := Write(dir, s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var ju junitxml.Suites
	if err := xml.Unmarshal(b, &ju); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, b)
	}
	if ju.Tests != 5 || ju.Fails != 1 || ju.Errors != 2 || ju.Skipped != 1 || len(ju.Suites) != 2 {
		t.Errorf("junit totals: tests %d failures %d errors %d skipped %d suites %d", ju.Tests, ju.Fails, ju.Errors, ju.Skipped, len(ju.Suites))
	}
	vo := ju.Suites[0]
	if vo.Name != "drdrill/vpn-outage" || len(vo.Cases) != 2 || vo.Cases[0].Failure != nil || vo.Cases[1].Failure == nil ||
		vo.Cases[1].Failure.Message != runs[1].Reason || vo.Cases[1].Name != "run-2" {
		t.Errorf("vpn-outage testsuite: %+v", vo)
	}
	gc := ju.Suites[1]
	if gc.Cases[0].Error == nil || !strings.HasPrefix(gc.Cases[0].Error.Text, "infrastructure error") || gc.Cases[0].Error.Type != Infra {
		t.Errorf("an infra error is not an error saying so: %+v", gc.Cases[0])
	}
	if gc.Cases[1].Error == nil || gc.Cases[1].Error.Type != Error || gc.Cases[2].Skipped == nil {
		t.Errorf("gateway-crash cases: %+v", gc.Cases)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 5 || back.Drills[0].Metrics["duration_ms"].P95 != 4100 || !back.Drills[0].Flaky {
		t.Errorf("suite.json read back: %+v", back)
	}
	h, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	for _, want := range []string{"<table>", "vpn-outage", "<b>flaky</b>", "ledger_matches: missing seq 2 &lt;&amp;&#34;", "vpn-outage/run-1/summary.md"} {
		if !strings.Contains(string(h), want) {
			t.Errorf("suite.html lacks %q", want)
		}
	}
	if strings.Contains(string(h), "<script") || strings.Contains(string(h), "http") {
		t.Error("suite.html is not self-contained")
	}
	// Load refuses what is not a suite.
	os.WriteFile(filepath.Join(dir, JSONFile), []byte(`{"schema":"drdrill.report/v1"}`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("Load of another schema: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("suite dir holds %d entries (temp files left?)", len(ents))
	}
}
