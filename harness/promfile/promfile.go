package promfile

import (
	"bytes"
	"fmt"
	"github.com/drdrill/drdrill/harness/atomicfile"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/suite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Verdicts and outcomes every drill gets a series for (0 when not its), so
// that a rule can test == 1 and a missing series means no drill.
var (
	verdicts = []string{suite.Pass, suite.Fail, suite.Error}
	outcomes = []string{suite.Pass, suite.Fail, suite.Error, suite.Interrupted, suite.Infra, suite.NotRun}
)

// Gather registers the suite's series in a fresh registry.
func Gather(s *suite.Suite) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	labels := []string{"scenario", "target"}
	gv := func(name, help string, extra ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append(append([]string(nil), labels...), extra...))
		reg.MustRegister(g)
		return g
	}
	verdict := gv("drdrill_drill_verdict", "The drill's verdict: 1 for the current one (pass only when every run passed).", "verdict")
	flaky := gv("drdrill_drill_flaky", "1 when the drill both passed and failed (or errored) over its runs.")
	runs := gv("drdrill_drill_runs", "The drill's runs in this suite by outcome (infra: could not start).", "outcome")
	duration := gv("drdrill_drill_duration_seconds", "The drill's duration (p50 over its runs).")
	last := gv("drdrill_drill_last_run_timestamp_seconds", "When the drill's last run started, in Unix time.")
	secs := gv("drdrill_metric_seconds", "Each *_ms metric of the drill's report, in seconds, named without _ms (p50 over its runs).", "name")
	missing := gv("drdrill_rows_missing_on_replica", "Acknowledged rows missing on the replica after recovery (the worst run).")
	unexpected := gv("drdrill_rows_unexpected_on_replica", "Rows on the replica the drill never acknowledged (the worst run).")
	written := gv("drdrill_rows_written", "Rows the drill wrote and had acknowledged (p50 over runs).")
	lost := gv("drdrill_rows_lost", "Other metrics counting rows or writes lost or missing (the worst run).", "name")

	for _, d := range s.Drills {
		l := prometheus.Labels{"scenario": d.Scenario, "target": s.Target}
		with := func(k, v string) prometheus.Labels {
			m := prometheus.Labels{k: v}
			for a, b := range l {
				m[a] = b
			}
			return m
		}
		for _, v := range verdicts {
			verdict.With(with("verdict", v)).Set(b2f(d.Verdict == v))
		}
		flaky.With(l).Set(b2f(d.Flaky))
		counts := map[string]int{suite.Pass: d.Passes, suite.Fail: d.Failures, suite.Error: d.Errors,
			suite.Interrupted: d.Interrupted, suite.Infra: d.Infra, suite.NotRun: d.NotRun}
		for _, o := range outcomes {
			runs.With(with("outcome", o)).Set(float64(counts[o]))
		}
		var latest time.Time
		for _, r := range s.Runs {
			if r.Scenario == d.Scenario && r.StartedAt.After(latest) {
				latest = r.StartedAt
			}
		}
		if !latest.IsZero() {
			last.With(l).Set(float64(latest.UnixMilli()) / 1000)
		}
		for name, st := range d.Metrics {
			switch {
			case st.N == 0:
			case name == "duration_ms":
				duration.With(l).Set(st.P50 / 1000)
			case strings.HasSuffix(name, "_ms"):
				secs.With(with("name", strings.TrimSuffix(name, "_ms"))).Set(st.P50 / 1000)
			case name == "rows_missing_on_replica":
				missing.With(l).Set(st.Max)
			case name == "rows_unexpected_on_replica":
				unexpected.With(l).Set(st.Max)
			case name == "rows_written":
				written.With(l).Set(st.P50)
			case report.CountsLoss(name):
				lost.With(with("name", name)).Set(st.Max)
			}
		}
	}
	return reg
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Encode is the suite in the Prometheus text format.
func Encode(s *suite.Suite) ([]byte, error) {
	mfs, err := Gather(s).Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	return b.Bytes(), nil
}

// Write writes the suite's metrics to path atomically.
func Write(path string, s *suite.Suite) error {
	b, err := Encode(s)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}
