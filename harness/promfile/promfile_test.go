package promfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/suite"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parse(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("the metrics file does not parse: %v", err)
	}
	return mfs
}

// value is the gauge of family name whose labels include want; ok false
// when no series has them.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func testSuite() *suite.Suite {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	runs := []suite.Run{
		{Scenario: "vpn-outage", N: 1, Outcome: suite.Pass, Dir: "vpn-outage/run-1", StartedAt: t0,
			Metrics: map[string]float64{"duration_ms": 4050, "outage_detect_ms": 3010, "rows_missing_on_replica": 0, "rows_written": 3, "self_heal_ms": 120}},
		{Scenario: "vpn-outage", N: 2, Outcome: suite.Fail, Dir: "vpn-outage/run-2", StartedAt: t0.Add(5 * time.Second),
			Metrics: map[string]float64{"duration_ms": 4100, "outage_detect_ms": 3020, "rows_missing_on_replica": 1, "rows_written": 3, "writes_lost": 2}},
		{Scenario: "vpn-outage", N: 3, Outcome: suite.Pass, Dir: "vpn-outage/run-3", StartedAt: t0.Add(10 * time.Second),
			Metrics: map[string]float64{"duration_ms": 4000, "outage_detect_ms": 3000, "rows_missing_on_replica": 0, "rows_written": 3}},
		{Scenario: "gateway-crash", N: 1, Outcome: suite.Infra, StartedAt: t0, Reason: "lab up: failed", Metrics: map[string]float64{}},
	}
	return suite.New("lab", t0, 20*time.Second, 2, 3, false, runs)
}

func TestWriteParsesBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drdrill.prom")
	os.WriteFile(path, []byte("stale"), 0o600)
	if err := Write(path, testSuite()); err != nil {
		t.Fatal(err)
	}
	mfs := parse(t, path)
	vo := map[string]string{"scenario": "vpn-outage", "target": "lab"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range vo {
			m[a] = b
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		// A run failed: the drill's verdict is fail, not pass.
		{"drdrill_drill_verdict", with("verdict", "fail"), 1},
		{"drdrill_drill_verdict", with("verdict", "pass"), 0},
		{"drdrill_drill_verdict", with("verdict", "error"), 0},
		{"drdrill_drill_flaky", vo, 1},
		{"drdrill_drill_runs", with("outcome", "pass"), 2},
		{"drdrill_drill_runs", with("outcome", "fail"), 1},
		{"drdrill_drill_runs", with("outcome", "infra"), 0},
		{"drdrill_drill_duration_seconds", vo, 4.05},
		{"drdrill_drill_last_run_timestamp_seconds", vo, float64(time.Date(2025, 3, 4, 5, 6, 17, 0, time.UTC).Unix())},
		{"drdrill_metric_seconds", with("name", "outage_detect"), 3.01},
		{"drdrill_metric_seconds", with("name", "self_heal"), 0.12},
		{"drdrill_rows_missing_on_replica", vo, 1}, // the worst run, not p50 (0)
		{"drdrill_rows_written", vo, 3},
		{"drdrill_rows_lost", with("name", "writes_lost"), 2},
		// A drill that never started: error, and no duration.
		{"drdrill_drill_verdict", map[string]string{"scenario": "gateway-crash", "verdict": "error"}, 1},
		{"drdrill_drill_runs", map[string]string{"scenario": "gateway-crash", "outcome": "infra"}, 1},
	} {
		got, ok := value(mfs, tc.name, tc.labels)
		if !ok {
			t.Errorf("%s%v: no such series", tc.name, tc.labels)
		} else if got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if _, ok := value(mfs, "drdrill_drill_duration_seconds", map[string]string{"scenario": "gateway-crash"}); ok {
		t.Error("a drill that never ran has a duration")
	}
	if _, ok := value(mfs, "drdrill_metric_seconds", with("name", "duration")); ok {
		t.Error("duration_ms is also a drdrill_metric_seconds")
	}
	if mfs["drdrill_metric_seconds"].GetType() != dto.MetricType_GAUGE || mfs["drdrill_metric_seconds"].GetHelp() == "" {
		t.Error("drdrill_metric_seconds is not a gauge with help")
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v: node_exporter must be able to read it", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("%d files in the dir: a temp file was left", len(ents))
	}
}

func TestWriteFailsWithoutTouchingTheOldFile(t *testing.T) {
	err := Write(filepath.Join(t.TempDir(), "no", "such", "dir", "x.prom"), testSuite())
	if err == nil || !strings.Contains(err.Error(), "x.prom") {
		t.Errorf("write into a missing dir: %v", err)
	}
}
