package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/timeline"
)

// loadReport reads a report.json from testdata.
func loadReport(t testing.TB, name string) *Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r := new(Report)
	if err := json.Unmarshal(b, r); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// writeHTMLReport writes r's report dir and returns report.html.
func writeHTMLReport(t testing.TB, r *Report, secrets ...string) (dir, page string) {
	t.Helper()
	dir = t.TempDir()
	if err := Write(dir, r, secrets...); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	return dir, string(b)
}

var laneRE = regexp.MustCompile(`<g class="lane" data-lane="([^"]*)">`)

func lanesOf(page string) []string {
	var out []string
	for _, m := range laneRE.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

// selfContained says what in a page would fetch something: it must open
// from a CI artifact with no network.
func selfContained(page string) error {
	for _, s := range []string{"src=", "url(", "@import", "<link", "http://", "https://", "<iframe", "<object", "<embed"} {
		if i := strings.Index(page, s); i >= 0 {
			return fmt.Errorf("page has %q at byte %d: %.80q", s, i, page[max(0, i-20):])
		}
	}
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "#") {
			return fmt.Errorf("page links to %q", m[1])
		}
	}
	return nil
}

func TestHTMLSelfContainedCheckCatchesFetches(t *testing.T) {
	for _, bad := range []string{`<img src="x.png">`, `<style>a{background:url(x.png)}</style>`, `<link rel="stylesheet" href="a.css">`,
		`<a href="https://cdn.example/x.js">`} {
		if selfContained(bad) == nil {
			t.Errorf("selfContained(%q) = nil, want an error", bad)
		}
	}
}

func TestHTMLPassingReport(t *testing.T) {
	r := loadReport(t, "html_pass.json")
	_, page := writeHTMLReport(t, r)
	if err := selfContained(page); err != nil {
		t.Fatal(err)
	}
	want := []string{"steps", "faults", "tunnel/aws", "tunnel/onprem", "replica/onprem IO", "replica/onprem SQL", "workload", "harness", "checks"}
	if got := lanesOf(page); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("lanes %q, want %q", got, want)
	}
	for _, s := range []string{
		`<span class="verdict pass">PASS</span>`,
		`class="b-fault"`, `fault tunnel-down`, // the fault's band and its label
		`class="b-outage"`, `outage `, // the outage's band
		`IO thread Connecting 3.02s–4.02s`, // the IO thread's state, from io_state
		`CHILD_SA down 0.01s–3.04s`,        // the tunnel's, from child-updown
		`Yes→Connecting`, `Connecting→Yes`, // transitions labelled
		`<tr class="passed" data-check="ledger_matches">`,
		`lab_timings.slave_net_timeout_s`, // the environment, flattened
		`outage_detect_ms`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	for _, s := range []string{`class="failed-check"`, `id="diagnosis"`, `class="failed"`, `class="mk m-fail"`} {
		if strings.Contains(page, s) {
			t.Errorf("a passing report.html has %q", s)
		}
	}
}

var failedCheckRE = regexp.MustCompile(`<line class="failed-check" data-check="([^"]*)" x1="([0-9.]+)"`)

func TestHTMLFailingReportMarksTheFailedCheck(t *testing.T) {
	r := loadReport(t, "html_fail.json")
	_, page := writeHTMLReport(t, r)
	if err := selfContained(page); err != nil {
		t.Fatal(err)
	}
	m := failedCheckRE.FindAllStringSubmatch(page, -1)
	if len(m) != 1 || m[0][1] != "ledger_matches" {
		t.Fatalf("failed-check marks %q, want one for ledger_matches", m)
	}
	// At the instant the check was recorded: its event's t_ms on the axis.
	var at float64
	for _, e := range r.Timeline {
		if c, ok := timeline.As[timeline.Check](e); ok && e.Kind == timeline.KindCheck && c.Name == "ledger_matches" {
			at = e.TMS
		}
	}
	x, _ := strconv.ParseFloat(m[0][2], 64)
	if want := (scale{span: 4117.553}).x(at); at == 0 || x < want-0.1 || x > want+0.1 {
		t.Errorf("ledger_matches marked at x=%v, want %.1f (t=%vms)", x, want, at)
	}
	for _, s := range []string{
		`<span class="verdict fail">FAIL</span>`,
		`<p class="why" id="diagnosis"><b>Why:</b> ledger_matches: missing seq 2 (phase during, &#39;replication_test_while_vpn_down&#39;)`,
		`<tr class="failed" data-check="ledger_matches">`,
		`class="s-fail"`,       // the failed step, red in the steps lane
		`class="failed-label"`, // the check named on the picture
		`class="mk m-fail"`,    // and its mark in the checks lane
		`✘ ledger_matches<title>`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
}

func TestHTMLFailedCheckWithoutEventMarksItsStep(t *testing.T) {
	r := New("x", "lab", "d-1", started)
	r.Steps = []Step{{Name: "a", Verdict: "pass", TMS: 0, DurationMS: 100}, {Name: "verify", Verdict: "fail", TMS: 100, DurationMS: 300}}
	r.Checks = []check.Result{{Name: "rows", Verdict: check.Fail, Expected: "3", Observed: "2"}}
	r.Finish(started.Add(time.Second), nil)
	_, page := writeHTMLReport(t, r)
	m := failedCheckRE.FindAllStringSubmatch(page, -1)
	if len(m) != 1 || m[0][1] != "rows" {
		t.Fatalf("failed-check marks %q, want one for rows", m)
	}
	x, _ := strconv.ParseFloat(m[0][2], 64)
	if want := (scale{span: 1000}).x(400); x != want {
		t.Errorf("rows marked at x=%v, want %v (the end of the failed step)", x, want)
	}
	if !strings.Contains(page, "end of failed step verify") {
		t.Error("the mark does not say where it was placed")
	}
}

func TestHTMLEscapes(t *testing.T) {
	r := sample(true)
	evil := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	r.Steps[0].Name = evil
	r.Checks[0].Observed = evil
	r.Timeline = append(r.Timeline, ev(100, "tunnel/aws", timeline.KindNote, map[string]any{"event": evil}))
	r.Environment[evil] = evil
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>alert") || strings.Contains(b.String(), "<img") {
		t.Fatal("report.html carries markup from the report unescaped")
	}
	if n := strings.Count(b.String(), "&lt;script&gt;alert("); n < 4 {
		t.Errorf("the escaped text appears %d times, want at least 4 (step, check, event, environment)", n)
	}
}

func TestHTMLNeverCarriesSecrets(t *testing.T) {
	r := loadReport(t, "html_fail.json")
	// In a timeline detail (on the picture's hover text and in the event
	// table), a step, a check and the environment.
	r.Timeline = append(r.Timeline, timeline.Event{TMS: 3030, Source: "tunnel/aws", Kind: timeline.KindNote,
		Detail: map[string]any{"event": "load psk", "secret": "psk " + password}})
	r.Steps[0].Name += " -p" + password
	r.Checks[0].Observed += " " + password
	r.Environment["dsn"] = "repl:" + password + "@unix(/x)/"
	_, page := writeHTMLReport(t, r, password)
	var direct bytes.Buffer
	if err := HTML(&direct, r, password); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"report.html": page, "HTML": direct.String()} {
		if strings.Contains(out, password) {
			t.Errorf("%s contains the password", name)
		}
		if n := strings.Count(out, Redacted); n < 5 {
			t.Errorf("%s has %d %s markers, want at least 5", name, n, Redacted)
		}
	}
	// The hover text of the tunnel lane's mark at 3030 ms carried it.
	if !strings.Contains(page, "secret=psk "+Redacted) {
		t.Error("the timeline detail is not on the page redacted")
	}
}

// underLoad is a synthetic under-load drill report: n write rows over
// ms, every 97th failed and every 1000th of unknown outcome, with the
// events of a real drill around them.
func underLoad(tb testing.TB, n int, ms float64) *Report {
	tb.Helper()
	r := loadReport(tb, "html_pass.json")
	r.Scenario = "vpn-outage-under-load"
	var evs []timeline.Event
	for _, e := range r.Timeline {
		if e.Source != "workload" {
			e.TMS *= ms / 4117.553
			evs = append(evs, e)
		}
	}
	for i := range r.Steps {
		r.Steps[i].TMS *= ms / 4117.553
		r.Steps[i].DurationMS *= ms / 4117.553
	}
	for i := 0; i < n; i++ {
		res := "acked"
		switch {
		case i%1000 == 999:
			res = "unknown"
		case i%97 == 96:
			res = "failed"
		}
		evs = append(evs, timeline.Event{TMS: float64(i) * ms / float64(n), Source: "workload", Kind: timeline.KindWrite,
			Detail: timeline.Note{"writer": i%4 + 1, "seq": i/4 + 1, "phase": "during", "msg": "steady", "result": res}})
	}
	sortEvents(evs)
	r.Timeline = evs
	r.DurationMS = int64(ms)
	return r
}

func sortEvents(evs []timeline.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].TMS < evs[j].TMS })
}

var bucketRE = regexp.MustCompile(`class="w-ok" data-hover="1"[^>]*><title>[^:]*: (\d+) acknowledged(?:, ([^<\n]*))?`)

func TestHTMLThinsTheWorkloadLane(t *testing.T) {
	const rows = 100_000
	r := underLoad(t, rows, 60_000)
	_, page := writeHTMLReport(t, r)
	if len(page) > 2<<20 {
		t.Errorf("report.html of %d rows is %d bytes, want ≤ 2 MiB", rows, len(page))
	}
	ms := bucketRE.FindAllStringSubmatch(page, -1)
	if len(ms) == 0 || len(ms) > plotColumns {
		t.Fatalf("%d acknowledged columns, want 1..%d (one per column of the picture)", len(ms), plotColumns)
	}
	var ok, failed, unknown int
	for _, m := range ms {
		n, _ := strconv.Atoi(m[1])
		ok += n
		for _, part := range strings.Split(m[2], ", ") {
			var k int
			var what string
			if _, err := fmt.Sscanf(part, "%d %s", &k, &what); err == nil {
				switch what {
				case "failed":
					failed += k
				case "unknown":
					unknown += k
				}
			}
		}
	}
	// Every row is counted once: the picture thins, it does not drop.
	wantUnknown := rows / 1000
	wantFailed := 0
	for i := range rows {
		if i%1000 != 999 && i%97 == 96 {
			wantFailed++
		}
	}
	if ok != rows-wantFailed-wantUnknown || failed != wantFailed || unknown != wantUnknown {
		t.Errorf("columns count %d acknowledged, %d failed, %d unknown; want %d, %d, %d", ok, failed, unknown,
			rows-wantFailed-wantUnknown, wantFailed, wantUnknown)
	}
	if strings.Count(page, `class="w-bad"`) == 0 {
		t.Error("failed writes are not drawn")
	}
	if !strings.Contains(page, "1000 more in report.json") && !strings.Contains(page, " more in report.json") {
		t.Error("the event table does not say it is capped")
	}
}

func TestHTMLClientLanes(t *testing.T) {
	r := sample(false)
	r.Timeline = append(r.Timeline,
		ev(100, "client/pool-pinned", timeline.KindWrite, map[string]any{"result": "acked"}),
		ev(200, "client/pool-pinned", timeline.KindWrite, map[string]any{"result": "failed", "errno": 1290}),
		ev(300, "client/dns-cached", timeline.KindWrite, map[string]any{"result": "acked"}),
		// The failover drills' notes: an outage of the client's writes.
		ev(1000, "client/pool-pinned", timeline.KindNote, map[string]any{"event": "write refused", "code": 1290, "error": "read-only"}),
		ev(2500, "client/pool-pinned", timeline.KindNote, map[string]any{"event": "writes again", "unavailable_ms": 1500}),
		ev(1200, "client/dns-cached", timeline.KindNote, map[string]any{"event": "write refused", "code": 2013, "error": "lost connection"}))
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	lanes := strings.Join(lanesOf(b.String()), ",")
	if !strings.Contains(lanes, "client/dns-cached,client/pool-pinned") {
		t.Errorf("lanes %s lack one per client", lanes)
	}
	for _, s := range []string{"1 failed", // a client's failed write
		`class="st-refused"`, "writes refused 1.00s–2.50s (1.50s): code=1290 error=read-only", // its outage
		"writes refused from 1.20s to the drill&#39;s end", // one that never ended
		`class="mk m-fail"`, // the refusal's mark, an error
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
}

func TestHTMLEmptyReport(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, &Report{Scenario: "vpn-outage", Verdict: VerdictError, Error: "lab: mariadbd not installed"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"No check ran.", "No step ran.", "lab: mariadbd not installed"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report.html of an empty report lacks %q", s)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for _, tt := range []struct{ raw, want float64 }{{0.3, 0.5}, {1, 1}, {1.1, 2}, {411, 500}, {4117, 5000}, {6000, 10000}, {0, 1}} {
		if got := niceStep(tt.raw); got != tt.want {
			t.Errorf("niceStep(%v) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// BenchmarkHTML renders report.html of a synthetic under-load drill
// report with 100 000 write rows: HTML (scrubbing included, as Write
// does) and the rendering alone; bytes is the page's size.
func BenchmarkHTML(b *testing.B) {
	r := underLoad(b, 100_000, 60_000)
	b.Run("scrub+render", func(b *testing.B) {
		var size int
		for b.Loop() {
			var buf bytes.Buffer
			if err := HTML(&buf, r, password); err != nil {
				b.Fatal(err)
			}
			size = buf.Len()
		}
		b.ReportMetric(float64(size), "bytes")
	})
	s, err := scrubbed(r, []string{password})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("render", func(b *testing.B) {
		var size int
		for b.Loop() {
			page, err := renderHTML(s, []string{password})
			if err != nil {
				b.Fatal(err)
			}
			size = len(page)
		}
		b.ReportMetric(float64(size), "bytes")
	})
}
