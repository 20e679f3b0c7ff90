package suite

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"github.com/drdrill/drdrill/harness/atomicfile"
	"github.com/drdrill/drdrill/harness/junitxml"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/report"
)

// Write writes junit.xml, suite.json and suite.html into dir (created if
// needed), each atomically (temp file and rename). The runs' own reports
// are already in their dirs.
func Write(dir string, s *Suite) error {
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", JSONFile, err)
	}
	ju, err := junit(s)
	if err != nil {
		return fmt.Errorf("encode %s: %w", JUnitFile, err)
	}
	var h bytes.Buffer
	if err := page.Execute(&h, htmlView(s)); err != nil {
		return fmt.Errorf("render %s: %w", HTMLFile, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create suite dir: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{JSONFile, append(js, '\n')}, {JUnitFile, ju}, {HTMLFile, h.Bytes()}} {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Load reads dir/suite.json.
func Load(dir string) (*Suite, error) {
	b, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		return nil, err
	}
	var s Suite
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, JSONFile), err)
	}
	if s.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", filepath.Join(dir, JSONFile), s.Schema, Schema)
	}
	return &s, nil
}

// JUnit XML: the dialect Jenkins, GitLab and GitHub's test reporters read.

func secs(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }

// junit is a testsuite per drill and a testcase per run: a failed run is a
// failure; an errored, interrupted or unstarted one (infra) an error; a run
// never started skipped.
func junit(s *Suite) ([]byte, error) {
	root := junitxml.Suites{Name: "drdrill", Time: secs(s.DurationMS)}
	for _, d := range s.Drills {
		js := junitxml.Suite{Name: "drdrill/" + d.Scenario, Properties: []junitxml.Property{{Name: "scenario", Value: d.Scenario},
			{Name: "target", Value: s.Target}, {Name: "verdict", Value: d.Verdict}, {Name: "flaky", Value: fmt.Sprint(d.Flaky)}}}
		var total int64
		for _, r := range s.Runs {
			if r.Scenario != d.Scenario {
				continue
			}
			total += r.DurationMS
			c := junitxml.Case{Name: fmt.Sprintf("run-%d", r.N), Classname: "drdrill." + d.Scenario, Time: secs(r.DurationMS)}
			if !r.StartedAt.IsZero() {
				c.Timestamp = r.StartedAt.UTC().Format(time.RFC3339)
			}
			if r.Dir != "" {
				c.SystemOut = "report: " + r.Dir + "/" + report.JSONFile
			}
			p := &junitxml.Problem{Message: r.Reason, Type: r.Outcome, Text: r.Reason}
			switch r.Outcome {
			case Pass:
			case Fail:
				c.Failure = p
			case NotRun:
				c.Skipped = p
			case Infra:
				p.Text = "infrastructure error, the drill did not run: " + r.Reason
				c.Error = p
			default:
				c.Error = p
			}
			js.Cases = append(js.Cases, c)
			js.Tests++
			switch {
			case c.Failure != nil:
				js.Fails++
			case c.Error != nil:
				js.Errors++
			case c.Skipped != nil:
				js.Skipped++
			}
		}
		js.Time = secs(total)
		root.Tests += js.Tests
		root.Fails += js.Fails
		root.Errors += js.Errors
		root.Skipped += js.Skipped
		root.Suites = append(root.Suites, js)
	}
	b, err := xml.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}

// The HTML page: self-contained (no script, no external style), a table of
// drills and one of runs.
type htmlDrill struct {
	Drill
	Rows []htmlMetric
}

type htmlMetric struct {
	Name          string
	N             int
	P50, P95, Max string
}

type htmlPage struct {
	S      *Suite
	Drills []htmlDrill
}

func htmlView(s *Suite) htmlPage {
	p := htmlPage{S: s}
	for _, d := range s.Drills {
		hd := htmlDrill{Drill: d}
		vals := map[string]float64{}
		for k := range d.Metrics {
			vals[k] = 0
		}
		for _, k := range report.SortedNames(vals) {
			st := d.Metrics[k]
			hd.Rows = append(hd.Rows, htmlMetric{Name: k, N: st.N, P50: num(st.P50), P95: num(st.P95), Max: num(st.Max)})
		}
		p.Drills = append(p.Drills, hd)
	}
	return p
}

func num(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

var page = template.Must(template.New("suite").Funcs(template.FuncMap{
	"secs":  func(ms int64) string { return fmt.Sprintf("%.2fs", float64(ms)/1000) },
	"stamp": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>drdrill suite on {{.S.Target}}</title>
<style>
body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left}td.n{text-align:right}
.pass{background:#dfd}.fail{background:#fdd}.error,.infra,.interrupted{background:#fed}.not-run{background:#eee}
</style></head><body>
<h1>drdrill suite on {{.S.Target}}</h1>
<p>started {{stamp .S.StartedAt}}, took {{secs .S.DurationMS}}, {{.S.Parallel}} at a time, each drill {{.S.Count}}×{{if .S.Interrupted}}, <b>interrupted</b>{{end}}</p>
<h2>Drills</h2>
<table><tr><th>drill</th><th>verdict</th><th>runs</th><th>passes</th><th>failures</th><th>errors</th><th>interrupted</th><th>infra errors</th><th>not run</th><th>flaky</th></tr>
{{range .Drills}}<tr><td>{{.Scenario}}</td><td class="{{.Verdict}}">{{.Verdict}}</td><td class="n">{{.Runs}}</td><td class="n">{{.Passes}}</td><td class="n">{{.Failures}}</td><td class="n">{{.Errors}}</td><td class="n">{{.Interrupted}}</td><td class="n">{{.Infra}}</td><td class="n">{{.NotRun}}</td><td>{{if .Flaky}}<b>flaky</b>{{else}}no{{end}}</td></tr>
{{end}}</table>
{{range .Drills}}<h2>{{.Scenario}}: metrics</h2>
{{if .Rows}}<table><tr><th>metric</th><th>runs</th><th>p50</th><th>p95</th><th>max</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td class="n">{{.N}}</td><td class="n">{{.P50}}</td><td class="n">{{.P95}}</td><td class="n">{{.Max}}</td></tr>
{{end}}</table>{{else}}<p>No run measured anything.</p>{{end}}
{{end}}<h2>Runs</h2>
<table><tr><th>drill</th><th>run</th><th>outcome</th><th>took</th><th>report</th><th>why</th></tr>
{{range .S.Runs}}<tr><td>{{.Scenario}}</td><td class="n">{{.N}}</td><td class="{{.Outcome}}">{{.Outcome}}</td><td class="n">{{secs .DurationMS}}</td><td>{{if .Dir}}<a href="{{.Dir}}/summary.md">{{.Dir}}</a>{{end}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>
</body></html>
`))
