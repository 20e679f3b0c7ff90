package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/workload"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const password = "s3cr3t-Repl-pw"

var started = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

func ev(ms float64, source, kind string, detail map[string]any) timeline.Event {
	return timeline.Event{TMS: ms, Source: source, Kind: kind, Detail: detail}
}

// sample is the seed drill's report; failing makes the replica lose the
// row written during the outage.
func sample(failing bool) *Report {
	r := New("vpn-outage", "lab", "d-0123456789ab", started)
	r.Timeline = []timeline.Event{
		ev(12.5, "replica/onprem", timeline.KindIOState, map[string]any{"from": "", "to": "Yes", "seconds_behind": 0, "last_io_errno": 0}),
		ev(40, "tunnel/aws", timeline.KindFault, map[string]any{"fault": "tunnel-down", "action": "inject"}),
		ev(3060, "replica/onprem", timeline.KindIOState, map[string]any{"from": "Yes", "to": "Connecting", "seconds_behind": nil,
			"last_io_errno": 2003, "last_io_error": "error connecting to master 'repl@10.20.11.123:3306'"}),
		ev(3400, "tunnel/onprem", timeline.KindChildUpDown, map[string]any{"up": true}),
		ev(4900, "replica/onprem", timeline.KindIOState, map[string]any{"from": "Connecting", "to": "Yes", "seconds_behind": 0, "last_io_errno": 0}),
	}
	r.Steps = []Step{
		{Name: "ping before", Verdict: "pass", TMS: 5, DurationMS: 3.2},
		{Name: "vpn down (aws)", Verdict: "pass", TMS: 40, DurationMS: 21.7, Detail: map[string]any{"side": "aws"}},
		{Name: "ping during outage", Verdict: "pass", TMS: 62, DurationMS: 2.9},
		{Name: "wait IO Connecting", Verdict: "pass", TMS: 65, DurationMS: 2995},
		{Name: "recover in documented order", Verdict: "pass", TMS: 3070, DurationMS: 330},
		{Name: "wait IO Yes", Verdict: "pass", TMS: 3400, DurationMS: 1500},
		{Name: "ping after recovery", Verdict: "pass", TMS: 4901, DurationMS: 2.4},
	}
	ledger := []workload.Entry{
		{Seq: 1, Phase: workload.PhaseBefore, Msg: workload.MsgBefore, ID: 1},
		{Seq: 2, Phase: workload.PhaseDuring, Msg: workload.MsgDuring, ID: 2},
		{Seq: 3, Phase: workload.PhaseAfter, Msg: workload.MsgAfter, ID: 3},
	}
	rows := []workload.Row{{ID: 1, Seq: 1, Phase: "before", Msg: workload.MsgBefore}, {ID: 2, Seq: 2, Phase: "during", Msg: workload.MsgDuring},
		{ID: 3, Seq: 3, Phase: "after", Msg: workload.MsgAfter}}
	if failing {
		rows = append(rows[:1], rows[2])
	}
	diff := check.DiffLedger(ledger, rows)
	evs := r.Timeline
	r.Checks = []check.Result{
		check.OutageObserved(evs, "replica/onprem", 40*time.Millisecond, 10*time.Second),
		check.IORecoveredWithin(evs, "replica/onprem", 3400*time.Millisecond, 3400*time.Millisecond, 10*time.Second),
		diff.Result(),
		check.WithinBudget("budget_replica_recover", 1500*time.Millisecond, 10*time.Second),
	}
	r.Metrics.OutageDetectMS = MS(3020 * time.Millisecond)
	r.Metrics.TunnelRecoverMS = MS(330 * time.Millisecond)
	r.Metrics.ReplicaRecoverMS = MS(1500 * time.Millisecond)
	if !failing {
		r.Metrics.CatchupMS = MS(41500 * time.Microsecond)
	}
	r.Metrics.RowsWritten, r.Metrics.RowsWrittenDuringOutage = 3, 1
	r.Metrics.RowsMissingOnReplica, r.Metrics.RowsUnexpectedOnReplica = int64(diff.RowsMissing()), int64(diff.RowsUnexpected())
	r.Environment = map[string]any{"backend": "netns", "mariadb_version": "10.11.19-MariaDB", "strongswan_version": "5.9.8",
		"replication_timings": map[string]any{"master_heartbeat_period_s": 1, "master_connect_retry_s": 1, "slave_net_timeout_s": 3}}
	r.Finish(started.Add(4912*time.Millisecond), nil)
	return r
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("report.json is not JSON: %v", err)
	}
	return m
}

func typed[T any](t *testing.T, m map[string]any, key string) T {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("key %q missing from %v", key, m)
	}
	x, ok := v.(T)
	if !ok {
		t.Fatalf("key %q is %T (%v), want %T", key, v, v, *new(T))
	}
	return x
}

func TestReportJSONContract(t *testing.T) {
	r := sample(false)
	r.Metrics.OutageDetectMS = nil // not measured
	r.Metrics.Extra["catchup_rows_per_s"] = 1234.5
	dir := filepath.Join(t.TempDir(), "nested", "report")
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	m := readJSON(t, filepath.Join(dir, JSONFile))
	if s := typed[string](t, m, "schema"); s != "drdrill.report/v1" {
		t.Fatalf("schema = %q", s)
	}
	for _, k := range []string{"scenario", "target", "drill_id", "started_at", "diagnosis"} {
		if k == "diagnosis" {
			if _, ok := m[k]; ok {
				t.Fatalf("a passing report has a diagnosis: %v", m[k])
			}
			continue
		}
		typed[string](t, m, k)
	}
	if v := typed[string](t, m, "verdict"); v != "pass" {
		t.Fatalf("verdict = %q", v)
	}
	if d := typed[float64](t, m, "duration_ms"); d != 4912 {
		t.Fatalf("duration_ms = %v", d)
	}
	if typed[bool](t, m, "interrupted") {
		t.Fatal("interrupted = true")
	}
	if _, err := time.Parse(time.RFC3339Nano, m["started_at"].(string)); err != nil {
		t.Fatalf("started_at: %v", err)
	}

	tl := typed[[]any](t, m, "timeline")
	if len(tl) != 5 {
		t.Fatalf("timeline has %d events", len(tl))
	}
	io := tl[2].(map[string]any)
	typed[float64](t, io, "t_ms")
	typed[string](t, io, "source")
	if k := typed[string](t, io, "kind"); k != "io_state" {
		t.Fatalf("kind = %q", k)
	}
	det := typed[map[string]any](t, io, "detail")
	if typed[string](t, det, "from") != "Yes" || typed[string](t, det, "to") != "Connecting" {
		t.Fatalf("io_state detail = %v", det)
	}
	if v, ok := det["seconds_behind"]; !ok || v != nil {
		t.Fatalf("seconds_behind = %v (present %v), want null", v, ok)
	}

	checks := typed[[]any](t, m, "checks")
	if len(checks) != 4 {
		t.Fatalf("%d checks", len(checks))
	}
	for _, c := range checks {
		cm := c.(map[string]any)
		for _, k := range []string{"name", "verdict", "expected", "observed"} {
			typed[string](t, cm, k)
		}
	}
	steps := typed[[]any](t, m, "steps")
	sm := steps[1].(map[string]any)
	for _, k := range []string{"name", "verdict"} {
		typed[string](t, sm, k)
	}
	typed[float64](t, sm, "t_ms")
	typed[float64](t, sm, "duration_ms")
	typed[map[string]any](t, sm, "detail")

	metrics := typed[map[string]any](t, m, "metrics")
	if v, ok := metrics["outage_detect_ms"]; !ok || v != nil {
		t.Fatalf("outage_detect_ms = %v (present %v), want null", v, ok)
	}
	for _, k := range []string{"tunnel_recover_ms", "replica_recover_ms", "catchup_ms", "rows_written",
		"rows_written_during_outage", "rows_missing_on_replica", "rows_unexpected_on_replica"} {
		typed[float64](t, metrics, k)
	}
	if v := metrics["catchup_ms"].(float64); v != 41.5 {
		t.Fatalf("catchup_ms = %v, want 41.5", v)
	}
	if x := typed[map[string]any](t, metrics, "extra"); x["catchup_rows_per_s"] != 1234.5 {
		t.Fatalf("extra = %v", x)
	}
	env := typed[map[string]any](t, m, "environment")
	typed[map[string]any](t, env, "replication_timings")
	typed[string](t, env, "mariadb_version")

	// And it decodes back into a Report.
	var back Report
	b, _ := os.ReadFile(filepath.Join(dir, JSONFile))
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Scenario != r.Scenario || back.Verdict != r.Verdict || len(back.Checks) != 4 || back.Metrics.OutageDetectMS != nil ||
		*back.Metrics.ReplicaRecoverMS != 1500 || !back.StartedAt.Equal(started) {
		t.Fatalf("round trip = %+v", back)
	}
}

func TestEmptyReportHasArraysNotNulls(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, &Report{Scenario: "vpn-outage", Verdict: VerdictError, Error: "lab: mariadbd not installed"}); err != nil {
		t.Fatal(err)
	}
	m := readJSON(t, filepath.Join(dir, JSONFile))
	for _, k := range []string{"timeline", "checks", "steps"} {
		typed[[]any](t, m, k)
	}
	typed[map[string]any](t, m, "environment")
	typed[map[string]any](t, typed[map[string]any](t, m, "metrics"), "extra")
	if typed[string](t, m, "schema") != Schema || typed[string](t, m, "diagnosis") != "lab: mariadbd not installed" {
		t.Fatalf("schema/diagnosis = %v / %v", m["schema"], m["diagnosis"])
	}
}

type xmlSuites struct {
	XMLName xml.Name `xml:"testsuites"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, dir string) xmlSuites {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var s xmlSuites
	if err := xml.Unmarshal(b, &s); err != nil {
		t.Fatalf("junit.xml is not well-formed: %v\n%s", err, b)
	}
	if len(s.Suites) != 1 {
		t.Fatalf("%d testsuites, want 1", len(s.Suites))
	}
	return s
}

func TestJUnit(t *testing.T) {
	tests := []struct {
		name     string
		r        *Report
		failures int
		errors   int
	}{
		{"pass", sample(false), 0, 0},
		{"a check fails", sample(true), 1, 0},
		{"could not run", func() *Report {
			r := New("vpn-outage", "lab", "d-1", started)
			r.Finish(started.Add(time.Second), errors.New("open replica: dial unix /x.sock: no such file <&>"))
			return r
		}(), 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(dir, tt.r); err != nil {
				t.Fatal(err)
			}
			s := readJUnit(t, dir).Suites[0]
			if s.Failures != tt.failures || s.Errors != tt.errors || s.Tests != len(s.Cases) {
				t.Fatalf("suite tests/failures/errors = %d/%d/%d, want failures %d errors %d", s.Tests, s.Failures, s.Errors, tt.failures, tt.errors)
			}
			if want := len(tt.r.Steps) + len(tt.r.Checks); tt.errors == 0 && len(s.Cases) != want {
				t.Fatalf("%d testcases, want %d (one per step and check)", len(s.Cases), want)
			}
			for _, c := range s.Cases {
				if c.Failure == nil {
					continue
				}
				if c.Name != "check: ledger_matches" || !strings.Contains(c.Failure.Message, "missing seq 2") ||
					!strings.Contains(c.Failure.Text, "expected: replica holds exactly the 3 acknowledged rows") ||
					!strings.Contains(c.Failure.Text, "observed: missing seq 2 (phase during, 'replication_test_while_vpn_down')") {
					t.Fatalf("failure = %s: %+v", c.Name, c.Failure)
				}
			}
		})
	}
}

func TestSecretsNeverWritten(t *testing.T) {
	r := sample(true)
	r.Checks[2].Observed += " (dsn repl:" + password + "@tcp(10.20.11.123:3306))"
	r.Timeline[2].Detail.(map[string]any)["last_io_error"] = "Access denied for user 'repl' using password " + password
	r.Timeline = append(r.Timeline, ev(5000, "lab", timeline.KindNote, map[string]any{
		"nested": map[string]any{"list": []any{"psk=" + password}}, password: "as a key"}))
	r.Steps[1].Detail["cmd"] = "mariadb -p" + password
	r.Environment["dsn"] = "repl:" + password + "@unix(/x)/"
	r.Metrics.Extra["note"] = password
	r.Diagnosis = "replica rejected password " + password
	dir := t.TempDir()
	if err := Write(dir, r, password, ""); err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	Console(&console, r, password)
	outputs := map[string]string{"console": console.String()}
	for _, f := range []string{JSONFile, JUnitFile, SummaryFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		outputs[f] = string(b)
	}
	for name, out := range outputs {
		if strings.Contains(out, password) {
			t.Errorf("%s contains the password", name)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s has no %s marker", name, Redacted)
		}
	}
	// The caller's report is untouched.
	if !strings.Contains(r.Checks[2].Observed, password) || !strings.Contains(r.Timeline[2].Detail.(map[string]any)["last_io_error"].(string), password) {
		t.Fatal("Write modified the caller's report")
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		in      string
		secrets []string
		want    string
	}{
		{"pw=abc", nil, "pw=abc"},
		{"pw=abc", []string{""}, "pw=abc"},
		{"pw=abc abc", []string{"abc"}, "pw=[REDACTED] [REDACTED]"},
		{"key=abcdef", []string{"abc", "abcdef"}, "key=[REDACTED]"}, // longest first
		{"a=x1 b=y2", []string{"x1", "y2", "x1"}, "a=[REDACTED] b=[REDACTED]"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in, tt.secrets...); got != tt.want {
			t.Errorf("Redact(%q, %q) = %q, want %q", tt.in, tt.secrets, got, tt.want)
		}
	}
}

func TestWriteIsAtomicAndRepeatable(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		if err := Write(dir, sample(true)); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "junit.xml,report.html,report.json,summary.md" {
		t.Fatalf("report dir holds %v, want exactly the four files (no temp files)", names)
	}
	if err := Write(filepath.Join(dir, JSONFile, "sub"), sample(true)); err == nil {
		t.Fatal("Write under a file succeeded")
	}
}

func TestFinishAndDiagnose(t *testing.T) {
	pass := check.WithinBudget("b", 1, 2)
	fail := check.WithinBudget("b", 3, 2)
	tests := []struct {
		name        string
		checks      []check.Result
		steps       []Step
		err         error
		interrupted bool
		verdict     string
		diagnosis   string
	}{
		{"pass", []check.Result{pass}, []Step{{Name: "s", Verdict: "pass"}, {Name: "t", Verdict: "skip"}}, nil, false, "pass", ""},
		{"check fails", []check.Result{pass, fail}, nil, nil, false, "fail", "b: 0.00s, 0.00s over"},
		{"step fails", []check.Result{pass}, []Step{{Name: "vpn down", Verdict: "fail"}}, nil, false, "fail", "step vpn down: fail"},
		{"no checks", nil, nil, nil, false, "fail", NothingChecked},
		{"error", []check.Result{fail}, nil, errors.New("open gateway aws:\nno socket"), true, "error", "open gateway aws: no socket (interrupted)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New("x", "lab", "d-1", started)
			r.Checks, r.Steps, r.Interrupted = tt.checks, tt.steps, tt.interrupted
			r.Finish(started.Add(1500*time.Millisecond), tt.err)
			if r.Verdict != tt.verdict || r.Diagnosis != tt.diagnosis || r.DurationMS != 1500 {
				t.Fatalf("verdict %q diagnosis %q duration %d; want %q %q 1500", r.Verdict, r.Diagnosis, r.DurationMS, tt.verdict, tt.diagnosis)
			}
		})
	}
}

func TestMS(t *testing.T) {
	if got := *MS(1234567 * time.Microsecond); got != 1234.567 {
		t.Fatalf("MS = %v", got)
	}
}

func TestSummaryMarkdown(t *testing.T) {
	r := sample(true)
	r.Checks[0].Observed = "a | b"
	s, err := scrubbed(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	md := summary(s)
	for _, want := range []string{"# drdrill vpn-outage: FAIL", "**Why:** ledger_matches: missing seq 2",
		`a \| b`, "| outage_detect_ms | 3020 |", "| catchup_ms | – |", "## Timeline", "| ✘ | ledger_matches |"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
}

func TestConsoleGolden(t *testing.T) {
	interrupted := sample(true)
	interrupted.Interrupted = true
	interrupted.Finish(started.Add(4912*time.Millisecond), nil)
	errored := New("vpn-outage", "lab", "d-0123456789ab", started)
	errored.Steps = []Step{{Name: "lab up", Verdict: "error", TMS: 0, DurationMS: 812}}
	errored.Finish(started.Add(812*time.Millisecond), errors.New("lab up: mariadb-install-db: exit status 1"))
	tests := []struct {
		name string
		r    *Report
	}{{"pass", sample(false)}, {"fail", sample(true)}, {"interrupted", interrupted}, {"error", errored}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			Console(&b, tt.r)
			golden := filepath.Join("testdata", "console_"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if b.String() != string(want) {
				t.Fatalf("console output differs from %s (go test -update to accept):\n--- got\n%s--- want\n%s", golden, b.String(), want)
			}
			if lines := strings.Count(b.String(), "\n"); lines > 30 {
				t.Fatalf("console summary is %d lines, does not fit a screen", lines)
			}
		})
	}
}

func TestRemediationIsShown(t *testing.T) {
	r := New("replica-stuck-connecting", "lab", "d-1", time.Now())
	r.Verdict = VerdictPass
	r.Environment["remediation"] = []string{"STOP REPLICA; START REPLICA"}
	var b strings.Builder
	Console(&b, r)
	if !strings.Contains(b.String(), "remediation needed: STOP REPLICA; START REPLICA") {
		t.Fatalf("console does not say remediation was needed:\n%s", b.String())
	}
	if !strings.Contains(summary(r), "Remediation needed") {
		t.Fatal("summary.md does not say remediation was needed")
	}
	delete(r.Environment, "remediation")
	b.Reset()
	Console(&b, r)
	if strings.Contains(b.String(), "remediation") {
		t.Fatal("remediation shown when there was none")
	}
}

// typedTimeline is a drill's timeline as the converted producers record it,
// and the same events as the maps they recorded before.
func typedTimeline(secret string) (typed, maps []timeline.Event) {
	zero := int64(0)
	tl := timeline.New()
	at := func(ms float64) time.Time { return tl.Start().Add(time.Duration(ms * float64(time.Millisecond))) }
	tl.AddAt(at(12.5), "replica/onprem", timeline.KindIOState, timeline.IOState{To: "Yes", Initial: true, SecondsBehind: &zero})
	tl.AddAt(at(40), "tunnel/aws", timeline.KindFault, timeline.Fault{Fault: "tunnel-down", Action: "inject", Detail: "terminate IKE SA onprem-aws",
		Extra: map[string]any{"duration_ms": int64(4)}})
	tl.AddAt(at(41), "tunnel/aws", timeline.KindStep, timeline.TunnelAction{Action: "down", Connection: "onprem-aws", DurationMS: 4, Result: "ok"})
	tl.AddAt(at(3060), "replica/onprem", timeline.KindIOState, timeline.IOState{From: "Yes", To: "Connecting", LastIOErrno: 1045,
		LastIOError: "Access denied for user 'repl' using password " + secret})
	tl.AddAt(at(3400), "tunnel/onprem", timeline.KindChildUpDown, timeline.ChildUpDown{Event: "child-updown", Up: true, IKE: "onprem-aws",
		IKEState: "ESTABLISHED", IKEID: "2", Children: []timeline.SAChild{{Name: "onprem-aws", ID: "3", State: "INSTALLED", SPIIn: "c1", SPIOut: "c2"}}})
	tl.AddAt(at(3500), "step", timeline.KindStep, timeline.Step{Step: "wait IO Yes", Event: "end", Verdict: "pass"})
	tl.AddAt(at(3600), "check", timeline.KindCheck, timeline.Check{Name: "io_recovered", Verdict: "pass", Observed: "Yes at 4.90s"})
	tl.AddAt(at(5000), "harness", timeline.KindRecovery, timeline.Recovery{Action: "recover tunnel-down", DurationMS: 2})
	tl.AddAt(at(5001), "harness", timeline.KindNote, timeline.Note{"event": "ike_timings", "dpd_window_ms": int64(8330)})
	typed = tl.Events()
	for _, e := range typed {
		maps = append(maps, timeline.Event{TMS: e.TMS, Source: e.Source, Kind: e.Kind, Detail: e.Detail})
	}
	return typed, maps
}

// A report with typed details writes the same report.json as with the maps
// producers wrote before, redacts secrets inside them, and reads back typed.
func TestTypedTimelineRoundTrip(t *testing.T) {
	typed, maps := typedTimeline(password)
	write := func(tl []timeline.Event) (string, []byte) {
		r := sample(false)
		r.Timeline = tl
		dir := t.TempDir()
		if err := Write(dir, r, password); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, JSONFile))
		if err != nil {
			t.Fatal(err)
		}
		md, err := os.ReadFile(filepath.Join(dir, SummaryFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(md), b
	}
	mdTyped, jsonTyped := write(typed)
	mdMaps, jsonMaps := write(maps)
	if string(jsonTyped) != string(jsonMaps) {
		t.Fatalf("report.json with typed details differs from the maps':\n%s\n%s", jsonTyped, jsonMaps)
	}
	if mdTyped != mdMaps || !strings.Contains(mdTyped, "last_io_errno=1045") || !strings.Contains(mdTyped, "dpd_window_ms=8330") {
		t.Fatalf("summary.md differs or lacks details:\n%s\n%s", mdTyped, mdMaps)
	}
	if strings.Contains(string(jsonTyped), password) || !strings.Contains(string(jsonTyped), Redacted) {
		t.Fatal("the secret inside a typed detail was not redacted")
	}
	if st := typed[3].Detail.(timeline.IOState); !strings.Contains(st.LastIOError, password) {
		t.Fatal("Write modified the caller's typed detail")
	}

	var back Report
	if err := json.Unmarshal(jsonTyped, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Timeline) != len(typed) {
		t.Fatalf("read back %d events", len(back.Timeline))
	}
	for i, e := range back.Timeline {
		if reflect.TypeOf(e.Detail) != reflect.TypeOf(typed[i].Detail) {
			t.Errorf("event %d (%s) read back as %T, written as %T", i, e.Kind, e.Detail, typed[i].Detail)
		}
	}
	io, ok := timeline.As[timeline.IOState](back.Timeline[3])
	if !ok || io.LastIOErrno != 1045 || io.LastIOError != "Access denied for user 'repl' using password "+Redacted {
		t.Fatalf("io_state read back = %+v, %v", io, ok)
	}
	if up, ok := timeline.As[timeline.ChildUpDown](back.Timeline[4]); !ok || !up.Up || up.Children[0].SPIOut != "c2" {
		t.Fatalf("child_updown read back = %+v, %v", up, ok)
	}
}

// Secrets with characters JSON escapes are redacted on the fast path; a
// secret that also matches inside an escape sequence ("n" of "\n") sends
// scrubbed to the slow path, which redacts the same as the fast one would
// for aligned matches.
func TestScrubbedEscapesAndMisalignedSecrets(t *testing.T) {
	for _, secret := range []string{`pa"ss\word<&>`, "tab\there", "unicode-ü-secret", "nope"} {
		r := sample(true)
		r.Diagnosis = "got " + secret + " and\nope"
		r.Environment[secret] = []any{"x" + secret + "y"}
		s, err := scrubbed(r, []string{secret})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s.Diagnosis, secret) || strings.Contains(fmt.Sprint(s.Environment), secret) {
			t.Errorf("secret %q survived: %s %v", secret, s.Diagnosis, s.Environment)
		}
		if !strings.Contains(s.Diagnosis, "got [REDACTED] and\n") {
			t.Errorf("secret %q: diagnosis %q", secret, s.Diagnosis)
		}
		if _, ok := s.Environment[Redacted]; !ok {
			t.Errorf("secret %q as a key not redacted: %v", secret, s.Environment)
		}
	}
}

// A drill's own files land beside report.json, listed in it and redacted;
// a name that is not a plain new file name is refused.
func TestArtifactsWrittenAndRedacted(t *testing.T) {
	r := sample(true)
	if err := r.AddFile("lost-writes.jsonl", []byte(`{"row":{"msg":"`+password+`"}}`+"\n")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", JSONFile, HTMLFile} {
		if err := r.AddFile(bad, nil); err == nil {
			t.Errorf("AddFile(%q) accepted", bad)
		}
	}
	dir := t.TempDir()
	if err := Write(dir, r, password); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "lost-writes.jsonl"))
	if err != nil || strings.Contains(string(b), password) || !strings.Contains(string(b), Redacted) {
		t.Fatalf("artifact: %v %q", err, b)
	}
	js, _ := os.ReadFile(filepath.Join(dir, JSONFile))
	if !strings.Contains(string(js), `"artifacts": [`) || !strings.Contains(string(js), "lost-writes.jsonl") {
		t.Errorf("report.json does not list the artifact")
	}
}
