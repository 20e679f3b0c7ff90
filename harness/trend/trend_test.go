package trend

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/suite"
)

func f(v float64) *float64 { return &v }

// writeReport writes a real report dir (report.Write) for scenario.
func writeReport(t *testing.T, scenario, verdict string, durMS int64, detect *float64, missing int64, extra map[string]any) string {
	t.Helper()
	r := report.New(scenario, "lab", "d-000000000001", time.Now())
	r.Verdict, r.DurationMS = verdict, durMS
	if verdict != report.VerdictPass {
		r.Diagnosis = "ledger_matches: missing seq 2"
	}
	r.Metrics.OutageDetectMS = detect
	r.Metrics.RowsMissingOnReplica = missing
	r.Metrics.RowsWritten = 3
	for k, v := range extra {
		r.Metrics.Extra[k] = v
	}
	dir := t.TempDir()
	if err := report.Write(dir, r); err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t *testing.T, p string) *Side {
	t.Helper()
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func metric(c *Comparison, scenario, name string) Metric {
	for _, d := range c.Drills {
		if d.Scenario == scenario {
			for _, m := range d.Metrics {
				if m.Name == name {
					return m
				}
			}
		}
	}
	return Metric{Name: "absent"}
}

func TestCompareReports(t *testing.T) {
	old := writeReport(t, "vpn-outage", "pass", 4000, f(3000), 0, map[string]any{"self_heal_ms": 100.0, "apply_rate_rows_per_s": 1000.0})
	for _, tc := range []struct {
		name     string
		verdict  string
		dur      int64
		detect   *float64
		missing  int64
		extra    map[string]any
		want     []string // regressions, by substring
		noChange bool
	}{
		{"same", "pass", 4000, f(3000), 0, map[string]any{"self_heal_ms": 100.0, "apply_rate_rows_per_s": 1000.0}, nil, true},
		{"within tolerance", "pass", 4700, f(3500), 0, nil, nil, false},
		{"faster is fine", "pass", 2000, f(1000), 0, map[string]any{"self_heal_ms": 10.0}, nil, false},
		{"slower past tolerance", "pass", 4900, f(3000), 0, nil, []string{"vpn-outage: duration_ms 4000 → 4900 (+900 (+22.5%))"}, false},
		{"a row lost from none", "pass", 4000, f(3000), 1, nil, []string{"rows_missing_on_replica 0 → 1 (+1)"}, false},
		{"verdict", "fail", 4000, f(3000), 0, nil, []string{"vpn-outage: verdict pass → fail"}, false},
		{"extra ms", "pass", 4000, f(3000), 0, map[string]any{"self_heal_ms": 300.0, "apply_rate_rows_per_s": 10.0}, []string{"self_heal_ms 100 → 300"}, false},
		// A metric not measured on the new side is shown, not a regression.
		{"unmeasured", "pass", 4000, nil, 0, nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(load(t, old), load(t, writeReport(t, "vpn-outage", tc.verdict, tc.dur, tc.detect, tc.missing, tc.extra)), Options{TolerancePct: 20})
			if len(c.Regressions) != len(tc.want) {
				t.Errorf("regressions %q, want %q", c.Regressions, tc.want)
			}
			for i, w := range tc.want {
				if i < len(c.Regressions) && !strings.Contains(c.Regressions[i], w) {
					t.Errorf("regression %q, want it to contain %q", c.Regressions[i], w)
				}
			}
			if tc.noChange {
				for _, m := range c.Drills[0].Metrics {
					if m.Delta == nil || *m.Delta != 0 {
						t.Errorf("%s changed: %+v", m.Name, m)
					}
				}
			}
		})
	}
	// The table says what changed, flags it and names the sides.
	c := Compare(load(t, old), load(t, writeReport(t, "vpn-outage", "fail", 4900, nil, 1, nil)), Options{TolerancePct: 20})
	var b bytes.Buffer
	c.Table(&b)
	out := b.String()
	for _, want := range []string{"old: " + old + " (report on lab, 1 run(s))", "DRILL", "verdict", "pass", "fail",
		"duration_ms", "+900 (+22.5%)", "REGRESSION", "outage_detect_ms", "–", "3 regression(s):", "up more than 20%"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if m := metric(c, "vpn-outage", "rows_written"); m.Regression || m.Delta == nil || *m.Delta != 0 {
		t.Errorf("rows_written: %+v", m)
	}
	// --json: the same, machine-readable.
	js, err := json.Marshal(c)
	if err != nil || !strings.Contains(string(js), `"regression":true`) || !strings.Contains(string(js), `"kind":"report"`) {
		t.Errorf("json: %v %s", err, js)
	}
	// A floor: a duration up 900 ms (+22.5%) is no regression under a
	// 1000 ms floor, one up 1000 ms is; rows lost have no floor.
	if c := Compare(load(t, old), load(t, writeReport(t, "vpn-outage", "pass", 4900, f(3000), 1, nil)), Options{TolerancePct: 20, MinMS: 1000}); len(c.Regressions) != 1 || !strings.Contains(c.Regressions[0], "rows_missing") {
		t.Errorf("floor 1000 ms: %q", c.Regressions)
	}
	if c := Compare(load(t, old), load(t, writeReport(t, "vpn-outage", "pass", 5000, f(3000), 0, nil)), Options{TolerancePct: 20, MinMS: 1000}); len(c.Regressions) != 1 {
		t.Errorf("floor 1000 ms, up 1000 ms: %q", c.Regressions)
	}
	// A tolerance of 0: any rise of a duration.
	if c := Compare(load(t, old), load(t, writeReport(t, "vpn-outage", "pass", 4001, f(3000), 0, nil)), Options{}); len(c.Regressions) != 1 {
		t.Errorf("tolerance 0: %q", c.Regressions)
	}
}

func TestCompareSuites(t *testing.T) {
	mk := func(runs ...suite.Run) string {
		dir := t.TempDir()
		if err := suite.Write(dir, suite.New("lab", time.Now(), time.Minute, 2, 3, false, runs)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	run := func(sc string, n int, outcome string, dur float64) suite.Run {
		return suite.Run{Scenario: sc, N: n, Outcome: outcome, Dir: sc, Metrics: map[string]float64{"duration_ms": dur}}
	}
	old := mk(run("a", 1, "pass", 4000), run("a", 2, "pass", 4100), run("a", 3, "pass", 9000), run("b", 1, "pass", 1000), run("gone", 1, "pass", 1))
	// p50 is compared: one slow run of three in the new suite does not
	// move it; b failing once is a regression of its verdict.
	nu := mk(run("a", 1, "pass", 4050), run("a", 2, "pass", 20000), run("a", 3, "pass", 4000), run("b", 1, "fail", 1000), run("new", 1, "pass", 1))
	c := Compare(load(t, old), load(t, filepath.Join(nu, suite.JSONFile)), Options{TolerancePct: 20})
	if len(c.Regressions) != 1 || c.Regressions[0] != "b: verdict pass → fail" {
		t.Errorf("regressions %q", c.Regressions)
	}
	if m := metric(c, "a", "duration_ms"); m.Old == nil || *m.Old != 4100 || *m.New != 4050 {
		t.Errorf("a duration p50: %+v", m)
	}
	if len(c.OnlyOld) != 1 || c.OnlyOld[0] != "gone" || len(c.OnlyNew) != 1 || c.OnlyNew[0] != "new" {
		t.Errorf("only old %v, only new %v", c.OnlyOld, c.OnlyNew)
	}
	if c.Old.Kind != "suite" || c.New.Kind != "suite" || c.Old.Runs != 5 {
		t.Errorf("sides: %+v %+v", c.Old, c.New)
	}
	// A suite against a single report of one of its drills.
	rep := writeReport(t, "b", "pass", 1000, nil, 0, nil)
	if c := Compare(load(t, rep), load(t, nu), Options{TolerancePct: 20}); len(c.Drills) != 1 || len(c.Regressions) != 1 || len(c.OnlyNew) != 2 {
		t.Errorf("report vs suite: %+v", c)
	}
}

func TestLoadRefusesWhatIsNotAReport(t *testing.T) {
	empty := t.TempDir()
	other := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(other, []byte("x"), 0o644)
	badSchema := t.TempDir()
	os.WriteFile(filepath.Join(badSchema, report.JSONFile), []byte(`{"schema":"other/v9","scenario":"x","verdict":"pass"}`), 0o644)
	garbage := t.TempDir()
	os.WriteFile(filepath.Join(garbage, report.JSONFile), []byte(`{`), 0o644)
	for path, want := range map[string]string{
		"/no/such/dir":                          "/no/such/dir: no such file or directory",
		empty:                                   "neither a report dir (report.json) nor a suite dir (suite.json)",
		other:                                   "not a report.json or suite.json",
		badSchema:                               `schema "other/v9", want "drdrill.report/v1"`,
		garbage:                                 "not a report",
		filepath.Join(garbage, report.JSONFile): "not a report",
	} {
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Load(%s): %v, want one line containing %q", path, err, want)
		}
	}
}

func TestParseTolerance(t *testing.T) {
	for in, want := range map[string]float64{"20%": 20, "20": 20, "0": 0, "12.5%": 12.5} {
		if got, err := ParseTolerance(in); err != nil || got != want {
			t.Errorf("ParseTolerance(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1%", "abc", "20%%", "NaN", "Inf"} {
		if _, err := ParseTolerance(in); err == nil {
			t.Errorf("ParseTolerance(%q) accepted", in)
		}
	}
}
