package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Console writes a summary that fits one screen: a header with scenario,
// verdict and duration, each step (✔/✘, start, duration), each check
// (✔/✘, observed, expected), the metrics, a failover drill's clients (one
// line each), and when the drill did not pass one "why:" line. Secrets are scrubbed as in Write.
func Console(w io.Writer, r *Report, secrets ...string) {
	s, err := scrubbed(r, secrets)
	if err != nil {
		fmt.Fprintf(w, "drdrill %s: %s (report not renderable: %v)\n", Redact(r.Scenario, secrets...),
			strings.ToUpper(r.Verdict), Redact(err.Error(), secrets...))
		return
	}
	var b bytes.Buffer
	header := fmt.Sprintf("drdrill %s on %s: %s in %s", s.Scenario, s.Target, strings.ToUpper(s.Verdict), secsMS(float64(s.DurationMS)))
	if s.DrillID != "" {
		header += "  (drill " + s.DrillID + ")"
	}
	if s.Interrupted {
		header += "  INTERRUPTED"
	}
	b.WriteString(header + "\n")

	width := 0
	for _, st := range s.Steps {
		width = max(width, utf8.RuneCountInString(st.Name))
	}
	for _, c := range s.Checks {
		width = max(width, utf8.RuneCountInString(c.Name))
	}
	pad := func(name string) string { return name + strings.Repeat(" ", width-utf8.RuneCountInString(name)) }
	if len(s.Steps) > 0 {
		b.WriteString("steps\n")
		for _, st := range s.Steps {
			fmt.Fprintf(&b, "  %s %s  at %7s  took %8s", stepMark(st.Verdict), pad(st.Name), secsMS(st.TMS), took(st.DurationMS))
			if st.Verdict != "pass" {
				fmt.Fprintf(&b, "  %s", st.Verdict)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("checks\n")
	if len(s.Checks) == 0 {
		b.WriteString("  (none ran)\n")
	}
	for _, c := range s.Checks {
		fmt.Fprintf(&b, "  %s %s  observed: %s\n", mark(c.Passed()), pad(c.Name), oneLine(c.Observed))
		fmt.Fprintf(&b, "    %s  expected: %s\n", strings.Repeat(" ", width), oneLine(c.Expected))
	}
	b.WriteString("metrics\n")
	var line []string
	for i, m := range metricList(s.Metrics) {
		line = append(line, m[0]+" "+m[1])
		if i == 3 || i == 7 { // durations, rows, then extras
			fmt.Fprintf(&b, "  %s\n", strings.Join(line, " · "))
			line = nil
		}
	}
	if len(line) > 0 {
		fmt.Fprintf(&b, "  %s\n", strings.Join(line, " · "))
	}
	if len(s.Clients) > 0 {
		b.WriteString("clients\n")
		cw, ew, uw := 0, 0, 0
		for _, c := range s.Clients {
			cw = max(cw, utf8.RuneCountInString(c.Name))
			ew = max(ew, utf8.RuneCountInString(clientExpected(c)))
			uw = max(uw, utf8.RuneCountInString(msCell(c.WriteUnavailableMS)))
		}
		padTo := func(s string, w int) string { return s + strings.Repeat(" ", w-utf8.RuneCountInString(s)) }
		for _, c := range s.Clients {
			stuck := ""
			if c.Stuck {
				stuck = "  stuck"
			}
			fmt.Fprintf(&b, "  %s %s  expected %s  unavailable %s  %s  to demoted %d%s\n", clientVerdictMark(c), padTo(c.Name, cw),
				padTo(clientExpected(c), ew), padTo(msCell(c.WriteUnavailableMS), uw), errorsByCode(c.ErrorsByCode),
				c.WritesToDemotedWriter, stuck)
		}
	}
	// A drill that passed only because the harness repaired something says so.
	if rem := Remediations(s); len(rem) > 0 {
		fmt.Fprintf(&b, "remediation needed: %s\n", oneLine(strings.Join(rem, "; ")))
	}
	if s.Error != "" && !strings.HasPrefix(Diagnose(s), oneLine(s.Error)) {
		fmt.Fprintf(&b, "error: %s\n", oneLine(s.Error))
	}
	if s.Verdict != VerdictPass {
		fmt.Fprintf(&b, "why: %s\n", Diagnose(s))
	}
	_, _ = io.WriteString(w, Redact(b.String(), secrets...))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Remediations lists what the harness had to repair for the drill to pass
// (environment.remediation), empty when nothing.
func Remediations(r *Report) []string {
	switch v := r.Environment["remediation"].(type) {
	case []string:
		return v
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}
