package report

import (
	"bytes"
	"fmt"
	"github.com/drdrill/drdrill/harness/atomicfile"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/check"
)

// HTMLFile is the report directory's page for people: one self-contained
// file (inline CSS and SVG, a few lines of plain JS, nothing fetched).
const HTMLFile = "report.html"

// htmlEvents caps the event table of report.html; report.json has them all.
const htmlEvents = 1000

// HTML writes report.html for r: a timeline picture with one lane per
// source (steps, faults, each tunnel, the replica's IO and SQL threads,
// the workload, clients, checks), the outage and each fault shaded, a
// failed check marked in red at the instant it was recorded; below it the
// checks, steps, metrics, diagnosis and environment. Secrets are scrubbed
// as in Write.
func HTML(w io.Writer, r *Report, secrets ...string) error {
	s, err := scrubbed(r, secrets)
	if err != nil {
		return fmt.Errorf("render %s: %w", HTMLFile, err)
	}
	b, err := renderHTML(s, secrets)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// writeHTML writes report.html into dir from s, a report already scrubbed
// by Write.
func writeHTML(dir string, s *Report, secrets []string) error {
	b, err := renderHTML(s, secrets)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, HTMLFile), b, 0o644)
}

// renderHTML renders a scrubbed report. The page gets a second pass for
// secrets split across fields it joins, as summary.md does.
func renderHTML(s *Report, secrets []string) ([]byte, error) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, newPage(s)); err != nil {
		return nil, fmt.Errorf("render %s: %w", HTMLFile, err)
	}
	if rep := replacer(secrets); rep != nil {
		return []byte(rep.Replace(b.String())), nil
	}
	return b.Bytes(), nil
}

// page is what the template shows.
type page struct {
	Title, Scenario, Verdict string
	Diagnosis                string
	Remediations             []string
	Facts                    [][2]string
	Picture                  picture
	Steps                    []pageStep
	Checks                   []pageCheck
	Metrics                  [][2]string
	Environment              [][2]string
	Events                   []pageEvent
	MoreEvents               int
}

type pageStep struct {
	Mark, Name, Verdict, At, Took, Detail string
	Failed                                bool
}

type pageCheck struct {
	Mark, Name, Verdict, Expected, Observed, Detail, At string
	Failed                                              bool
}

type pageEvent struct {
	At, Source, Kind, Detail string
	Failed                   bool
}

func newPage(s *Report) page {
	p := page{Scenario: s.Scenario, Verdict: s.Verdict, Remediations: Remediations(s)}
	p.Title = fmt.Sprintf("drdrill %s: %s", s.Scenario, strings.ToUpper(s.Verdict))
	if s.Verdict != VerdictPass {
		p.Diagnosis = Diagnose(s)
	}
	started := "–"
	if !s.StartedAt.IsZero() {
		started = s.StartedAt.UTC().Format(time.RFC3339)
	}
	p.Facts = [][2]string{{"target", s.Target}, {"drill id", s.DrillID}, {"started", started},
		{"duration", secsMS(float64(s.DurationMS))}, {"interrupted", fmt.Sprint(s.Interrupted)}}
	if s.Error != "" {
		p.Facts = append(p.Facts, [2]string{"error", s.Error})
	}
	p.Picture = newPicture(s)
	for _, st := range s.Steps {
		ps := pageStep{Mark: stepMark(st.Verdict), Name: st.Name, Verdict: st.Verdict, At: secsMS(st.TMS), Took: took(st.DurationMS),
			Failed: st.Verdict != check.Pass && !skipped(st.Verdict)}
		if len(st.Detail) > 0 {
			ps.Detail = detailString(st.Detail)
		}
		p.Steps = append(p.Steps, ps)
	}
	for _, c := range s.Checks {
		pc := pageCheck{Mark: mark(c.Passed()), Name: c.Name, Verdict: c.Verdict, Expected: c.Expected, Observed: c.Observed,
			Failed: !c.Passed(), At: "–"}
		if at, ok := p.Picture.checkAt[c.Name]; ok {
			pc.At = secsMS(at)
		}
		if len(c.Detail) > 0 {
			pc.Detail = compactJSON(c.Detail)
		}
		p.Checks = append(p.Checks, pc)
	}
	p.Metrics = metricList(s.Metrics)
	p.Environment = flatten("", s.Environment, nil)
	for i, e := range s.Timeline {
		if i == htmlEvents {
			p.MoreEvents = len(s.Timeline) - htmlEvents
			break
		}
		d := e.Map()
		p.Events = append(p.Events, pageEvent{At: secsMS(e.TMS), Source: e.Source, Kind: e.Kind,
			Detail: clip(detailString(d), 400), Failed: failedEvent(e.Kind, d)})
	}
	return p
}

// flatten lists nested maps as dotted keys ("lab_timings.dpd_delay_s"),
// sorted.
func flatten(prefix string, m map[string]any, out [][2]string) [][2]string {
	for _, k := range sortedKeys(m) {
		if sub, ok := m[k].(map[string]any); ok && len(sub) > 0 {
			out = flatten(prefix+k+".", sub, out)
			continue
		}
		out = append(out, [2]string{prefix + k, valueString(m[k])})
	}
	return out
}

// clip shortens s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
