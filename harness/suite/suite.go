package suite

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/drdrill/drdrill/harness/report"
)

// Schema identifies suite.json.
const Schema = "drdrill.suite/v1"

// File names in a suite directory.
const (
	JSONFile  = "suite.json"
	HTMLFile  = "suite.html"
	JUnitFile = "junit.xml"
)

// Outcomes of a run: a drill verdict (pass, fail, error), or why there is
// none.
const (
	Pass        = report.VerdictPass
	Fail        = report.VerdictFail
	Error       = report.VerdictError // the drill could not run to its checks
	Interrupted = "interrupted"       // stopped by ^C or SIGTERM (its report says so)
	Infra       = "infra"             // could not start: the lab did not come up, the target did not open
	NotRun      = "not-run"           // never started: the suite was interrupted first
)

// Job is one run to do: the n-th (from 1) of a drill's runs.
type Job struct {
	Scenario string
	N        int
}

// Dir is the job's report dir relative to the suite dir: "<scenario>/run-<n>".
func (j Job) Dir() string { return fmt.Sprintf("%s/run-%d", j.Scenario, j.N) }

// Jobs are count runs of each scenario, round by round (every drill's first
// run, then every drill's second), so that a drill's runs are spread over
// the suite rather than side by side.
func Jobs(scenarios []string, count int) []Job {
	var out []Job
	for n := 1; n <= count; n++ {
		for _, s := range scenarios {
			out = append(out, Job{Scenario: s, N: n})
		}
	}
	return out
}

// Run is one run's outcome in suite.json.
type Run struct {
	Scenario  string    `json:"scenario"`
	N         int       `json:"run"`
	Outcome   string    `json:"outcome"`
	Dir       string    `json:"dir,omitempty"` // its report dir, relative; "" when it wrote none
	Target    string    `json:"target,omitempty"`
	DrillID   string    `json:"drill_id,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// DurationMS is the drill's duration from its report (0 without one).
	DurationMS int64 `json:"duration_ms"`
	// Reason is the report's one-line diagnosis, or the infrastructure
	// error, when the outcome is not pass.
	Reason  string             `json:"reason,omitempty"`
	Metrics map[string]float64 `json:"metrics"` // report.Numbers
}

// FromReport is a run that produced report r (written to j.Dir()); secrets
// are scrubbed from its reason.
func FromReport(j Job, r *report.Report, secrets ...string) Run {
	out := Run{Scenario: j.Scenario, N: j.N, Outcome: r.Verdict, Dir: j.Dir(), Target: r.Target, DrillID: r.DrillID,
		StartedAt: r.StartedAt, DurationMS: r.DurationMS, Metrics: report.Numbers(r)}
	if r.Interrupted {
		out.Outcome = Interrupted
	}
	if r.Verdict != report.VerdictPass {
		out.Reason = report.Redact(report.Diagnose(r), secrets...)
	}
	return out
}

// InfraError is a run that could not start.
func InfraError(j Job, started time.Time, err error) Run {
	return Run{Scenario: j.Scenario, N: j.N, Outcome: Infra, StartedAt: started.UTC(), Reason: oneLine(err.Error()),
		Metrics: map[string]float64{}}
}

// Skipped is a run never started.
func Skipped(j Job) Run {
	return Run{Scenario: j.Scenario, N: j.N, Outcome: NotRun, Reason: "not started: the suite was interrupted",
		Metrics: map[string]float64{}}
}

// Drill is what a drill's runs add up to.
type Drill struct {
	Scenario    string `json:"scenario"`
	Runs        int    `json:"runs"`
	Passes      int    `json:"passes"`
	Failures    int    `json:"failures"`
	Errors      int    `json:"errors"` // verdict error
	Interrupted int    `json:"interrupted"`
	Infra       int    `json:"infra_errors"`
	NotRun      int    `json:"not_run"`
	// Flaky: at least one run passed and at least one failed or errored.
	Flaky bool `json:"flaky"`
	// Verdict: pass when every run passed; fail when a run failed; else
	// error (a run errored, was interrupted, or could not start).
	Verdict string `json:"verdict"`
	// Metrics: each metric over the runs that measured it.
	Metrics map[string]Stat `json:"metrics"`
}

// Stat is a metric over runs: how many measured it, and the nearest-rank
// percentiles (p50 of 1, 2, 3, 4 is 2; an observed value, never an
// interpolation).
type Stat struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// Suite is suite.json.
type Suite struct {
	Schema      string    `json:"schema"`
	Target      string    `json:"target"`
	StartedAt   time.Time `json:"started_at"`
	DurationMS  int64     `json:"duration_ms"`
	Parallel    int       `json:"parallel"`
	Count       int       `json:"count"`
	Interrupted bool      `json:"interrupted"`
	Drills      []Drill   `json:"drills"`
	Runs        []Run     `json:"runs"`
}

// New is the suite of these runs (in job order), with each drill's summary
// in the order the drills first appear.
func New(target string, started time.Time, took time.Duration, parallel, count int, interrupted bool, runs []Run) *Suite {
	return &Suite{Schema: Schema, Target: target, StartedAt: started.UTC(), DurationMS: took.Milliseconds(),
		Parallel: parallel, Count: count, Interrupted: interrupted, Drills: Summarize(runs), Runs: runs}
}

// Summarize adds up each drill's runs.
func Summarize(runs []Run) []Drill {
	var order []string
	by := map[string][]Run{}
	for _, r := range runs {
		if _, ok := by[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	out := make([]Drill, 0, len(order))
	for _, name := range order {
		d := Drill{Scenario: name, Metrics: map[string]Stat{}}
		values := map[string][]float64{}
		for _, r := range by[name] {
			d.Runs++
			switch r.Outcome {
			case Pass:
				d.Passes++
			case Fail:
				d.Failures++
			case Error:
				d.Errors++
			case Interrupted:
				d.Interrupted++
			case Infra:
				d.Infra++
			default:
				d.NotRun++
			}
			for k, v := range r.Metrics {
				values[k] = append(values[k], v)
			}
		}
		for k, vs := range values {
			d.Metrics[k] = StatOf(vs)
		}
		d.Flaky = d.Passes > 0 && d.Failures+d.Errors > 0
		switch {
		case d.Passes == d.Runs:
			d.Verdict = Pass
		case d.Failures > 0:
			d.Verdict = Fail
		default:
			d.Verdict = Error
		}
		out = append(out, d)
	}
	return out
}

// StatOf is the Stat of vs (which it sorts); the zero Stat for none.
func StatOf(vs []float64) Stat {
	if len(vs) == 0 {
		return Stat{}
	}
	sort.Float64s(vs)
	return Stat{N: len(vs), P50: Percentile(vs, 50), P95: Percentile(vs, 95), Min: vs[0], Max: vs[len(vs)-1]}
}

// Percentile is the nearest-rank p-th percentile of sorted values: the
// smallest value with at least p% of the values at or below it.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Ran is how many runs started their drill (whatever their verdict): not
// the infrastructure errors and the runs never started.
func (s *Suite) Ran() int {
	n := 0
	for _, r := range s.Runs {
		if r.Outcome != Infra && r.Outcome != NotRun {
			n++
		}
	}
	return n
}

// Passed reports whether every run passed.
func (s *Suite) Passed() bool {
	for _, r := range s.Runs {
		if r.Outcome != Pass {
			return false
		}
	}
	return len(s.Runs) > 0
}

func oneLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
