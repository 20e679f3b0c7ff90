package report

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/timeline"
)

// Schema identifies the report.json format.
const Schema = "drdrill.report/v1"

// Verdicts of a drill.
const (
	VerdictPass  = "pass"
	VerdictFail  = "fail"
	VerdictError = "error" // the drill could not run to its checks
)

// Report is report.json.
type Report struct {
	Schema      string           `json:"schema"`
	Scenario    string           `json:"scenario"`
	Target      string           `json:"target"`
	Verdict     string           `json:"verdict"`
	DurationMS  int64            `json:"duration_ms"`
	StartedAt   time.Time        `json:"started_at"`
	DrillID     string           `json:"drill_id"`
	Interrupted bool             `json:"interrupted"`
	Error       string           `json:"error,omitempty"`     // when the verdict is error
	Diagnosis   string           `json:"diagnosis,omitempty"` // one line, when not pass
	Timeline    []timeline.Event `json:"timeline"`
	Checks      []check.Result   `json:"checks"`
	Steps       []Step           `json:"steps"`
	Metrics     Metrics          `json:"metrics"`
	// Clients are a failover drill's application clients (absent for
	// other drills).
	Clients []Client `json:"clients,omitempty"`
	// Environment: replication timings, MariaDB and strongSwan versions,
	// backend, ... (e.g. "replication_timings", "mariadb_version",
	// "strongswan_version", "backend").
	Environment map[string]any `json:"environment"`
	// Artifacts names the further files the drill left in the report dir
	// (the site-loss drill's lost-writes.jsonl); AddFile adds one.
	Artifacts []string `json:"artifacts,omitempty"`

	files map[string][]byte
}

// AddFile adds a file Write puts in the report dir beside report.json
// (redacted like the rest). name is a plain file name that is not one of
// the report's own.
func (r *Report) AddFile(name string, data []byte) error {
	switch {
	case name == "" || name != filepath.Base(name) || strings.HasPrefix(name, "."):
		return fmt.Errorf("report file %q: want a plain file name", name)
	case name == JSONFile || name == JUnitFile || name == SummaryFile || name == HTMLFile:
		return fmt.Errorf("report file %q: the report's own", name)
	}
	if r.files == nil {
		r.files = map[string][]byte{}
	}
	if _, ok := r.files[name]; !ok {
		r.Artifacts = append(r.Artifacts, name)
	}
	r.files[name] = data
	return nil
}

// Step is one drill step.
type Step struct {
	Name       string         `json:"name"`
	Verdict    string         `json:"verdict"` // pass, fail, error or skip
	TMS        float64        `json:"t_ms"`    // start, on the drill's timeline
	DurationMS float64        `json:"duration_ms"`
	Detail     map[string]any `json:"detail,omitempty"`
}

// Metrics are the drill's measurements. A nil *_ms is "not measured"
// (null in JSON), never 0.
type Metrics struct {
	OutageDetectMS          *float64       `json:"outage_detect_ms"`
	TunnelRecoverMS         *float64       `json:"tunnel_recover_ms"`
	ReplicaRecoverMS        *float64       `json:"replica_recover_ms"`
	CatchupMS               *float64       `json:"catchup_ms"`
	RowsWritten             int64          `json:"rows_written"`
	RowsWrittenDuringOutage int64          `json:"rows_written_during_outage"`
	RowsMissingOnReplica    int64          `json:"rows_missing_on_replica"`
	RowsUnexpectedOnReplica int64          `json:"rows_unexpected_on_replica"`
	Extra                   map[string]any `json:"extra"` // scenario-specific
}

// MS is a measured duration for a *_ms metric, in milliseconds rounded to
// the microsecond.
func MS(d time.Duration) *float64 {
	v := math.Round(float64(d.Microseconds())) / 1000
	return &v
}

// New starts a report.
func New(scenario, target, drillID string, startedAt time.Time) *Report {
	return &Report{Schema: Schema, Scenario: scenario, Target: target, DrillID: drillID, StartedAt: startedAt,
		Timeline: []timeline.Event{}, Checks: []check.Result{}, Steps: []Step{},
		Metrics: Metrics{Extra: map[string]any{}}, Environment: map[string]any{}}
}

// Finish sets the duration, the verdict (Decide) and the diagnosis, for a
// report whose checks and steps are in place; err is what stopped the drill.
func (r *Report) Finish(end time.Time, err error) {
	r.DurationMS = end.Sub(r.StartedAt).Milliseconds()
	var reason string
	r.Verdict, reason = Decide(Outcome{Err: err, Checks: r.Checks, Steps: r.Steps})
	if r.Verdict == VerdictError {
		r.Error = reason
	}
	r.Diagnosis = ""
	r.Diagnosis = Diagnose(r)
}

func skipped(v string) bool { return v == "skip" || v == "skipped" }

// Diagnose is the one-line reason a drill did not pass ("" when it
// passed): the report's own Diagnosis, else the error, else the first
// failed check or step.
func Diagnose(r *Report) string {
	if r.Verdict == VerdictPass {
		return ""
	}
	line := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if r.Diagnosis != "" {
		return line(r.Diagnosis)
	}
	suffix := ""
	if r.Interrupted {
		suffix = " (interrupted)"
	}
	if r.Error != "" {
		return line(r.Error) + suffix
	}
	for _, c := range r.Checks {
		if !c.Passed() {
			return line(c.Name+": "+c.Observed) + suffix
		}
	}
	for _, s := range r.Steps {
		if s.Verdict != check.Pass && !skipped(s.Verdict) {
			return line("step "+s.Name+": "+s.Verdict) + suffix
		}
	}
	if r.Interrupted {
		return "interrupted"
	}
	if len(r.Checks) == 0 {
		return NothingChecked
	}
	return "verdict " + r.Verdict
}
