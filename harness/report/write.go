package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"github.com/drdrill/drdrill/harness/atomicfile"
	"github.com/drdrill/drdrill/harness/junitxml"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/timeline"
)

// File names in a report directory.
const (
	JSONFile    = "report.json"
	JUnitFile   = "junit.xml"
	SummaryFile = "summary.md"
)

// Write writes report.json, junit.xml and summary.md into dir (created if
// needed), each atomically (temp file and rename), with every secret
// scrubbed from every string.
func Write(dir string, r *Report, secrets ...string) error {
	s, err := scrubbed(r, secrets)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	ju, err := junit(s)
	if err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create report dir: %w", err)
	}
	// JSON and XML are built from the scrubbed copy only; the text summary
	// gets a second pass for secrets split across fields it joins.
	files := []struct {
		name string
		data []byte
	}{{JSONFile, js.Bytes()}, {JUnitFile, ju}, {SummaryFile, []byte(Redact(summary(s), secrets...))}}
	if rep, enc := replacer(secrets), jsonReplacer(secrets); rep != nil {
		for _, name := range r.Artifacts {
			// Plain and JSON-encoded forms: artifacts are often JSON lines.
			files = append(files, struct {
				name string
				data []byte
			}{name, []byte(rep.Replace(enc.Replace(string(r.files[name]))))})
		}
	} else {
		for _, name := range r.Artifacts {
			files = append(files, struct {
				name string
				data []byte
			}{name, r.files[name]})
		}
	}
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return writeHTML(dir, s, secrets)
}

// JUnit XML (the common Jenkins/GitLab dialect).

func junitSecs(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }

func junit(r *Report) ([]byte, error) {
	class := "drdrill." + r.Scenario
	s := junitxml.Suite{Name: "drdrill/" + r.Scenario, Time: junitSecs(float64(r.DurationMS)),
		Properties: []junitxml.Property{{Name: "scenario", Value: r.Scenario}, {Name: "target", Value: r.Target}, {Name: "drill_id", Value: r.DrillID},
			{Name: "verdict", Value: r.Verdict}, {Name: "interrupted", Value: fmt.Sprint(r.Interrupted)}}}
	if !r.StartedAt.IsZero() {
		s.Timestamp = r.StartedAt.UTC().Format(time.RFC3339)
	}
	// Clients are properties: the clients_as_expected check is their test case.
	for _, c := range r.Clients {
		s.Properties = append(s.Properties, junitxml.Property{Name: "client " + c.Name, Value: c.Verdict + ": " + oneLine(c.Diagnosis)})
	}
	for _, st := range r.Steps {
		c := junitxml.Case{Name: "step: " + st.Name, Classname: class + ".steps", Time: junitSecs(st.DurationMS)}
		text := fmt.Sprintf("step %s at %s, took %s: %s", st.Name, secsMS(st.TMS), took(st.DurationMS), st.Verdict)
		if len(st.Detail) > 0 {
			text += "\ndetail: " + compactJSON(st.Detail)
		}
		switch {
		case st.Verdict == check.Pass:
		case skipped(st.Verdict):
			c.Skipped = &junitxml.Problem{Message: "skipped"}
		case st.Verdict == VerdictError:
			c.Error = &junitxml.Problem{Message: "step " + st.Name + " errored", Type: "error", Text: text}
		default:
			c.Failure = &junitxml.Problem{Message: "step " + st.Name + " " + st.Verdict, Type: st.Verdict, Text: text}
		}
		s.Cases = append(s.Cases, c)
	}
	for _, ch := range r.Checks {
		c := junitxml.Case{Name: "check: " + ch.Name, Classname: class + ".checks", Time: "0.000"}
		if !ch.Passed() {
			text := "expected: " + ch.Expected + "\nobserved: " + ch.Observed
			if len(ch.Detail) > 0 {
				text += "\ndetail: " + compactJSON(ch.Detail)
			}
			c.Failure = &junitxml.Problem{Message: ch.Observed, Type: ch.Verdict, Text: text}
		}
		s.Cases = append(s.Cases, c)
	}
	if r.Verdict == VerdictError || (r.Verdict != VerdictPass && len(r.Checks) == 0 && len(r.Steps) == 0) {
		msg := Diagnose(r)
		s.Cases = append(s.Cases, junitxml.Case{Name: "drill", Classname: class, Time: junitSecs(float64(r.DurationMS)),
			Error: &junitxml.Problem{Message: msg, Type: r.Verdict, Text: msg}})
	}
	for _, c := range s.Cases {
		s.Tests++
		switch {
		case c.Failure != nil:
			s.Fails++
		case c.Error != nil:
			s.Errors++
		case c.Skipped != nil:
			s.Skipped++
		}
	}
	root := junitxml.Suites{Name: "drdrill", Tests: s.Tests, Fails: s.Fails, Errors: s.Errors, Time: s.Time, Suites: []junitxml.Suite{s}}
	b, err := xml.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}

func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(b.String())
}

// secsMS formats milliseconds as seconds ("3.02s").
func secsMS(ms float64) string { return fmt.Sprintf("%.2fs", ms/1000) }

// took formats a step's duration: milliseconds below a second.
func took(ms float64) string {
	if ms < 1000 {
		return strconv.FormatFloat(math.Round(ms*10)/10, 'f', -1, 64) + "ms"
	}
	return secsMS(ms)
}

func mdCell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func mark(ok bool) string {
	if ok {
		return "✔"
	}
	return "✘"
}

func stepMark(v string) string {
	if skipped(v) {
		return "–"
	}
	return mark(v == check.Pass)
}

// summaryEvents caps the timeline in summary.md; report.json has them all.
const summaryEvents = 60

func summary(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# drdrill %s: %s\n\n", r.Scenario, strings.ToUpper(r.Verdict))
	if r.Verdict != VerdictPass {
		fmt.Fprintf(&b, "**Why:** %s\n\n", mdCell(Diagnose(r)))
	}
	if rem := Remediations(r); len(rem) > 0 {
		fmt.Fprintf(&b, "**Remediation needed:** %s\n\n", mdCell(strings.Join(rem, "; ")))
	}
	b.WriteString("| | |\n|---|---|\n")
	rows := [][2]string{{"target", r.Target}, {"drill id", r.DrillID},
		{"started", r.StartedAt.UTC().Format(time.RFC3339)}, {"duration", secsMS(float64(r.DurationMS))},
		{"interrupted", fmt.Sprint(r.Interrupted)}}
	if r.Error != "" {
		rows = append(rows, [2]string{"error", r.Error})
	}
	for _, kv := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], mdCell(kv[1]))
	}
	if len(r.Steps) > 0 {
		b.WriteString("\n## Steps\n\n| | step | at | took |\n|---|---|---|---|\n")
		for _, s := range r.Steps {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", stepMark(s.Verdict), mdCell(s.Name), secsMS(s.TMS), took(s.DurationMS))
		}
	}
	b.WriteString("\n## Checks\n\n")
	if len(r.Checks) == 0 {
		b.WriteString("No check ran.\n")
	} else {
		b.WriteString("| | check | expected | observed |\n|---|---|---|---|\n")
		for _, c := range r.Checks {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mark(c.Passed()), mdCell(c.Name), mdCell(c.Expected), mdCell(c.Observed))
		}
	}
	b.WriteString("\n## Metrics\n\n| metric | value |\n|---|---|\n")
	for _, m := range metricList(r.Metrics) {
		fmt.Fprintf(&b, "| %s | %s |\n", m[0], mdCell(m[1]))
	}
	if len(r.Clients) > 0 {
		b.WriteString("\n## Clients\n\n| | client | profile | expected | unavailable | errors by code | to demoted writer | stuck | verdict |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range r.Clients {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d | %v | %s |\n", clientVerdictMark(c), mdCell(c.Name), mdCell(c.Profile),
				mdCell(clientExpected(c)), msCell(c.WriteUnavailableMS), mdCell(errorsByCode(c.ErrorsByCode)), c.WritesToDemotedWriter,
				c.Stuck, mdCell(c.Verdict))
		}
		for _, c := range r.Clients {
			if c.Verdict != check.Pass {
				fmt.Fprintf(&b, "\n- %s\n", mdCell(c.Diagnosis))
			}
		}
	}
	if len(r.Environment) > 0 {
		b.WriteString("\n## Environment\n\n| | |\n|---|---|\n")
		for _, k := range sortedKeys(r.Environment) {
			fmt.Fprintf(&b, "| %s | %s |\n", mdCell(k), mdCell(valueString(r.Environment[k])))
		}
	}
	if n := len(r.Timeline); n > 0 {
		b.WriteString("\n## Timeline\n\n| t | source | kind | detail |\n|---|---|---|---|\n")
		for _, e := range r.Timeline[:min(n, summaryEvents)] {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", secsMS(e.TMS), mdCell(e.Source), mdCell(e.Kind), mdCell(detailString(eventDetail(e))))
		}
		if n > summaryEvents {
			fmt.Fprintf(&b, "\n%d more events in %s.\n", n-summaryEvents, JSONFile)
		}
	}
	return b.String()
}

// metricList is the metrics as (name, value) in contract order, then the
// extras by name; an unmeasured duration reads "–".
func metricList(m Metrics) [][2]string {
	d := func(p *float64) string {
		if p == nil {
			return "–"
		}
		return strconv.FormatFloat(math.Round(*p*10)/10, 'f', -1, 64)
	}
	out := [][2]string{
		{"outage_detect_ms", d(m.OutageDetectMS)}, {"tunnel_recover_ms", d(m.TunnelRecoverMS)},
		{"replica_recover_ms", d(m.ReplicaRecoverMS)}, {"catchup_ms", d(m.CatchupMS)},
		{"rows_written", fmt.Sprint(m.RowsWritten)}, {"rows_written_during_outage", fmt.Sprint(m.RowsWrittenDuringOutage)},
		{"rows_missing_on_replica", fmt.Sprint(m.RowsMissingOnReplica)}, {"rows_unexpected_on_replica", fmt.Sprint(m.RowsUnexpectedOnReplica)},
	}
	for _, k := range sortedKeys(m.Extra) {
		out = append(out, [2]string{k, valueString(m.Extra[k])})
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func valueString(v any) string {
	switch t := v.(type) {
	case nil:
		return "–"
	case string:
		return t
	case json.Number, float64, int, int64, bool:
		return fmt.Sprint(t)
	case map[string]any:
		// An object that says itself in one line (e.g. a catch-up
		// projection's summary) is shown by that line.
		if s, ok := t["summary"].(string); ok {
			return s
		}
	}
	return compactJSON(v)
}

// eventDetail is an event's detail, typed or not, as the map its JSON is
// (numbers kept exact); nil when it has none or it is not a JSON object.
func eventDetail(e timeline.Event) map[string]any {
	v := e.Value()
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if decode(b, &m) != nil {
		return nil
	}
	return m
}

// detailString is k=v pairs by key.
func detailString(d map[string]any) string {
	var parts []string
	for _, k := range sortedKeys(d) {
		parts = append(parts, k+"="+valueString(d[k]))
	}
	return strings.Join(parts, " ")
}
