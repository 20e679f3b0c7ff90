package trend

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/suite"
)

// Side is one of the two outcomes compared.
type Side struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"` // "report" or "suite"
	Target string `json:"target"`
	Runs   int    `json:"runs"`
	suite  *suite.Suite
}

func newSide(path, kind string, s *suite.Suite) *Side {
	return &Side{Path: path, Kind: kind, Target: s.Target, Runs: len(s.Runs), suite: s}
}

// Load reads a report dir, a suite dir, or the report.json or suite.json
// in one. A dir with both is a suite.
func Load(path string) (*Side, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	dir, file := path, ""
	if !fi.IsDir() {
		dir, file = filepath.Dir(path), filepath.Base(path)
	}
	if file == suite.JSONFile || (file == "" && exists(filepath.Join(dir, suite.JSONFile))) {
		s, err := suite.Load(dir)
		if err != nil {
			return nil, err
		}
		return newSide(path, "suite", s), nil
	}
	if file == "" {
		file = report.JSONFile
		if !exists(filepath.Join(dir, file)) {
			return nil, fmt.Errorf("%s: neither a report dir (%s) nor a suite dir (%s)", path, report.JSONFile, suite.JSONFile)
		}
	}
	if file != report.JSONFile {
		return nil, fmt.Errorf("%s: not a %s or %s", path, report.JSONFile, suite.JSONFile)
	}
	r, err := readReport(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	run := suite.FromReport(suite.Job{Scenario: r.Scenario, N: 1}, r)
	return newSide(path, "report", suite.New(r.Target, r.StartedAt, 0, 1, 1, r.Interrupted, []suite.Run{run})), nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readReport reads what a comparison needs of a report.json: its identity,
// verdict and metrics (the timeline and checks are not decoded).
func readReport(path string) (*report.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	var r struct {
		Schema      string         `json:"schema"`
		Scenario    string         `json:"scenario"`
		Target      string         `json:"target"`
		Verdict     string         `json:"verdict"`
		Interrupted bool           `json:"interrupted"`
		DurationMS  int64          `json:"duration_ms"`
		Diagnosis   string         `json:"diagnosis"`
		Error       string         `json:"error"`
		Metrics     report.Metrics `json:"metrics"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a report: %v", path, err)
	}
	if r.Schema != report.Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, r.Schema, report.Schema)
	}
	if r.Scenario == "" || r.Verdict == "" {
		return nil, fmt.Errorf("%s: a report without scenario or verdict", path)
	}
	out := report.New(r.Scenario, r.Target, "", time.Time{})
	out.Verdict, out.Interrupted, out.DurationMS, out.Diagnosis, out.Error, out.Metrics = r.Verdict, r.Interrupted, r.DurationMS, r.Diagnosis, r.Error, r.Metrics
	return out, nil
}

// Metric is one metric of a drill, old → new (nil: not measured on that
// side).
type Metric struct {
	Name       string   `json:"name"`
	Old        *float64 `json:"old"`
	New        *float64 `json:"new"`
	Delta      *float64 `json:"delta"`
	DeltaPct   *float64 `json:"delta_pct"` // nil when old is 0 or either is missing
	Regression bool     `json:"regression"`
}

// Drill is one drill on both sides.
type Drill struct {
	Scenario   string   `json:"scenario"`
	OldVerdict string   `json:"old_verdict"`
	NewVerdict string   `json:"new_verdict"`
	Regression bool     `json:"regression"` // the verdict: was pass, is not
	Metrics    []Metric `json:"metrics"`
}

// Options say what is a regression.
type Options struct {
	// TolerancePct is how far (in percent of old) a Worse metric may rise
	// before it is a regression.
	TolerancePct float64 `json:"tolerance_pct"`
	// MinMS is a floor for durations: a *_ms metric that rose by less
	// than this many ms is not a regression, whatever the percentage (a
	// 23 ms tunnel recovery that takes 36 ms is +60% of noise).
	MinMS float64 `json:"min_ms"`
}

// Comparison is the outcome of Compare (compare --json prints it).
type Comparison struct {
	Old *Side `json:"old"`
	New *Side `json:"new"`
	Options
	Drills      []Drill  `json:"drills"`
	OnlyOld     []string `json:"only_old"` // drills not in new
	OnlyNew     []string `json:"only_new"`
	Regressions []string `json:"regressions"` // one line each
}

// Worse reports whether a rise of metric name is a regression: a duration
// (*_ms) or a count of rows lost.
func Worse(name string) bool { return strings.HasSuffix(name, "_ms") || report.CountsLoss(name) }

// Compare compares the drills both sides ran.
func Compare(old, new *Side, o Options) *Comparison {
	c := &Comparison{Old: old, New: new, Options: o, Drills: []Drill{}, OnlyOld: []string{}, OnlyNew: []string{}, Regressions: []string{}}
	newBy := map[string]suite.Drill{}
	for _, d := range new.suite.Drills {
		newBy[d.Scenario] = d
	}
	seen := map[string]bool{}
	for _, od := range old.suite.Drills {
		nd, ok := newBy[od.Scenario]
		if !ok {
			c.OnlyOld = append(c.OnlyOld, od.Scenario)
			continue
		}
		seen[od.Scenario] = true
		d := Drill{Scenario: od.Scenario, OldVerdict: od.Verdict, NewVerdict: nd.Verdict, Metrics: []Metric{}}
		if od.Verdict == suite.Pass && nd.Verdict != suite.Pass {
			d.Regression = true
			c.Regressions = append(c.Regressions, fmt.Sprintf("%s: verdict %s → %s", d.Scenario, od.Verdict, nd.Verdict))
		}
		names := map[string]float64{}
		for k, st := range od.Metrics {
			if st.N > 0 {
				names[k] = 0
			}
		}
		for k, st := range nd.Metrics {
			if st.N > 0 {
				names[k] = 0
			}
		}
		for _, k := range report.SortedNames(names) {
			m := Metric{Name: k, Old: p50(od.Metrics, k), New: p50(nd.Metrics, k)}
			if m.Old != nil && m.New != nil {
				delta := *m.New - *m.Old
				m.Delta = &delta
				if *m.Old != 0 {
					pct := delta / math.Abs(*m.Old) * 100
					m.DeltaPct = &pct
				}
				floor := strings.HasSuffix(k, "_ms") && delta < o.MinMS
				if Worse(k) && delta > 0 && !floor && (m.DeltaPct == nil || *m.DeltaPct > o.TolerancePct) {
					m.Regression = true
					c.Regressions = append(c.Regressions, fmt.Sprintf("%s: %s %s → %s (%s)", d.Scenario, k, num(*m.Old), num(*m.New), change(m)))
				}
			}
			d.Metrics = append(d.Metrics, m)
		}
		c.Drills = append(c.Drills, d)
	}
	for _, nd := range new.suite.Drills {
		if !seen[nd.Scenario] {
			c.OnlyNew = append(c.OnlyNew, nd.Scenario)
		}
	}
	sort.Strings(c.OnlyOld)
	sort.Strings(c.OnlyNew)
	return c
}

func p50(m map[string]suite.Stat, k string) *float64 {
	st, ok := m[k]
	if !ok || st.N == 0 {
		return nil
	}
	v := st.P50
	return &v
}

func num(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

func change(m Metric) string {
	if m.Delta == nil {
		return ""
	}
	s := num(*m.Delta)
	if *m.Delta >= 0 {
		s = "+" + s
	}
	if m.DeltaPct == nil {
		return s
	}
	p := strconv.FormatFloat(math.Round(*m.DeltaPct*10)/10, 'f', -1, 64)
	if *m.DeltaPct >= 0 {
		p = "+" + p
	}
	return s + " (" + p + "%)"
}

func describe(s *Side) string {
	return fmt.Sprintf("%s (%s on %s, %d run(s))", s.Path, s.Kind, s.Target, s.Runs)
}

// Table writes the comparison for people: a header, a row per verdict and
// metric, the drills only one side ran, and the regressions.
func (c *Comparison) Table(w io.Writer) error {
	floor := ""
	if c.MinMS > 0 {
		floor = fmt.Sprintf(" (a *_ms by %s ms at least)", num(c.MinMS))
	}
	fmt.Fprintf(w, "old: %s\nnew: %s\nregression: a verdict no longer pass, or a *_ms or rows-lost metric up more than %s%%%s\n\n",
		describe(c.Old), describe(c.New), num(c.TolerancePct), floor)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DRILL\tMETRIC\tOLD\tNEW\tCHANGE\t")
	dash := func(p *float64) string {
		if p == nil {
			return "–"
		}
		return num(*p)
	}
	flag := func(b bool) string {
		if b {
			return "REGRESSION"
		}
		return ""
	}
	for _, d := range c.Drills {
		fmt.Fprintf(tw, "%s\tverdict\t%s\t%s\t\t%s\n", d.Scenario, d.OldVerdict, d.NewVerdict, flag(d.Regression))
		for _, m := range d.Metrics {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Scenario, m.Name, dash(m.Old), dash(m.New), change(m), flag(m.Regression))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(c.OnlyOld) > 0 {
		fmt.Fprintf(w, "\nonly in old (not compared): %s\n", strings.Join(c.OnlyOld, ", "))
	}
	if len(c.OnlyNew) > 0 {
		fmt.Fprintf(w, "\nonly in new (not compared): %s\n", strings.Join(c.OnlyNew, ", "))
	}
	if c.Old.Target != c.New.Target {
		fmt.Fprintf(w, "\nnote: the targets differ (%s, %s)\n", c.Old.Target, c.New.Target)
	}
	if len(c.Regressions) == 0 {
		fmt.Fprintln(w, "\nno regression")
		return nil
	}
	fmt.Fprintf(w, "\n%d regression(s):\n", len(c.Regressions))
	for _, r := range c.Regressions {
		fmt.Fprintln(w, "  "+r)
	}
	return nil
}

// ParseTolerance reads --tolerance: a percentage, "20%" or "20", at least 0.
func ParseTolerance(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("--tolerance %q: want a percentage of at least 0, such as 20%%", s)
	}
	return v, nil
}
