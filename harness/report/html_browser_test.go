package report

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The report.html tests in a real browser: Debian's chromium, headless
// (make deps installs it). They skip only where it is absent.

// chromium runs headless Chromium on a page with args and returns its
// stdout and stderr. Its profile and caches live in a temp dir; the whole
// process group is killed when it returns, so no helper outlives a test.
func chromium(t *testing.T, page string, args ...string) (stdout, stderr string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (make deps installs it): the report.html browser test needs it")
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir=" + filepath.Join(home, "profile"),
		// Nothing may come from the network: any name resolves to nothing.
		"--host-resolver-rules=MAP * ~NOTFOUND",
		"--enable-logging=stderr", "--v=0"}, args...)
	argv = append(argv, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	err = cmd.Wait()
	// Its helpers (zygote, crashpad) share its process group.
	if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		t.Errorf("kill chromium's process group %d: %v", cmd.Process.Pid, kerr)
	}
	if err != nil {
		t.Fatalf("chromium %s: %v (after %v)\nstderr: %s", filepath.Base(page), err, ctx.Err(), lastLines(errb.String(), 20))
	}
	return out.String(), errb.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// consoleErrors are the page's console messages and uncaught errors in
// chromium's log (report.html writes nothing to the console).
func consoleErrors(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, ":CONSOLE") || strings.Contains(l, "Uncaught") {
			out = append(out, l)
		}
	}
	return out
}

// probeJS, appended to a copy of the page, measures what the browser drew
// and writes it into the DOM for --dump-dom.
const probeJS = `<script>
(function () {
  var out = {lanes: [], failed: [], marks: 0, bands: 0, errors: []};
  document.querySelectorAll("g.lane").forEach(function (g) {
    var r = g.getBoundingClientRect();
    out.lanes.push({name: g.dataset.lane, w: r.width, h: r.height, n: g.children.length});
  });
  document.querySelectorAll("line.failed-check").forEach(function (l) {
    var r = l.getBoundingClientRect();
    out.failed.push({check: l.dataset.check, stroke: getComputedStyle(l).stroke, h: r.height});
  });
  out.marks = document.querySelectorAll("g.lane rect.mk").length;
  out.writeColumns = document.querySelectorAll("g.lane rect.w-ok, g.lane rect.w-bad").length;
  out.writeErrors = document.querySelectorAll("g.lane rect.w-bad").length;
  document.querySelectorAll("g.band rect").forEach(function (b) { if (b.getBoundingClientRect().width > 0) out.bands++; });
  var row = document.querySelector("#checks tr.failed");
  out.failedRowBg = row ? getComputedStyle(row.cells[1]).backgroundColor : "";
  var p = document.createElement("pre");
  p.id = "drdrill-probe";
  p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
})();
</script>`

type probe struct {
	Lanes []struct {
		Name string
		W, H float64
		N    int
	}
	Failed []struct {
		Check, Stroke string
		H             float64
	}
	Marks, Bands int
	WriteColumns int `json:"writeColumns"`
	WriteErrors  int `json:"writeErrors"`
	FailedRowBg  string
}

var probeRE = regexp.MustCompile(`(?s)<pre id="drdrill-probe">(.*?)</pre>`)

// drawn loads a copy of the page with the probe and returns what it saw.
func drawn(t *testing.T, pagePath string) probe {
	t.Helper()
	b, err := os.ReadFile(pagePath)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "probed.html")
	if err := os.WriteFile(cp, []byte(strings.Replace(string(b), "</body>", probeJS+"</body>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, stderr := chromium(t, cp, "--window-size=1400,1000", "--dump-dom")
	if errs := consoleErrors(stderr); len(errs) > 0 {
		t.Fatalf("console errors with the probe: %s", strings.Join(errs, "\n"))
	}
	m := probeRE.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the probe wrote nothing into the DOM (did the page's script fail?); dom ends: %s", lastLines(dom, 5))
	}
	var p probe
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &p); err != nil {
		t.Fatalf("probe output %q: %v", m[1], err)
	}
	return p
}

func TestHTMLInChromium(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("chromium not installed (make deps installs it): the report.html browser test needs it")
	}
	for _, tt := range []struct {
		name   string
		report func(t *testing.T) *Report
		failed []string
	}{
		{"pass", func(t *testing.T) *Report { return loadReport(t, "html_pass.json") }, nil},
		{"fail", func(t *testing.T) *Report { return loadReport(t, "html_fail.json") }, []string{"ledger_matches"}},
		// A minute under load, 20 000 rows, some failed: the workload lane's columns.
		{"under-load", func(t *testing.T) *Report { return underLoad(t, 20_000, 60_000) }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, page := writeHTMLReport(t, tt.report(t))
			path := filepath.Join(dir, HTMLFile)
			shot := filepath.Join(dir, "report-"+tt.name+".png")
			_, stderr := chromium(t, path, "--window-size=1400,1800", "--screenshot="+shot)
			if errs := consoleErrors(stderr); len(errs) > 0 {
				t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
			}
			st, err := os.Stat(shot)
			if err != nil || st.Size() < 10_000 {
				t.Fatalf("screenshot %s: %v (size %v)", shot, err, st)
			}
			t.Logf("screenshot of the %s report: %s (%d bytes)", tt.name, shot, st.Size())
			keep(t, path, shot)

			p := drawn(t, path)
			want := lanesOf(page)
			if len(p.Lanes) != len(want) {
				t.Fatalf("the browser drew %d lanes, the page has %d", len(p.Lanes), len(want))
			}
			for _, l := range p.Lanes {
				// Its name and at least one state, bar or mark.
				if l.W <= 0 || l.H < 10 || l.N < 2 {
					t.Errorf("lane %s drawn %.0f×%.0f px with %d elements, want a visible lane with its name and content", l.Name, l.W, l.H, l.N)
				}
			}
			if p.Marks == 0 || p.Bands < 2 {
				t.Errorf("the browser drew %d marks and %d bands, want marks and the fault and outage bands", p.Marks, p.Bands)
			}
			if want := strings.Count(page, `class="w-bad"`); p.WriteErrors != want || p.WriteColumns < 3 {
				t.Errorf("the browser drew %d write columns, %d with errors; the page has %d with errors, want all and at least 3 columns",
					p.WriteColumns, p.WriteErrors, want)
			}
			var got []string
			for _, f := range p.Failed {
				got = append(got, f.Check)
				if f.Stroke != "rgb(208, 0, 0)" || f.H < 100 {
					t.Errorf("failed check %s drawn with stroke %s, %.0f px tall; want red across the lanes", f.Check, f.Stroke, f.H)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.failed, ",") {
				t.Errorf("failed checks drawn %q, want %q", got, tt.failed)
			}
			if tt.failed != nil && p.FailedRowBg != "rgb(253, 236, 234)" {
				t.Errorf("the failed check's row has background %q, want the red tint", p.FailedRowBg)
			}
		})
	}
}

// keep copies files to $DRDRILL_KEEP_REPORTS/<test>/ when that is set, for
// a person to look at after the run (the test's temp dir is removed).
func keep(t *testing.T, files ...string) {
	root := os.Getenv("DRDRILL_KEEP_REPORTS")
	if root == "" {
		return
	}
	dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("kept in %s", dir)
}

// The console check is not blind: a page with an uncaught error fails it.
func TestHTMLConsoleCheckCatchesAnError(t *testing.T) {
	page := filepath.Join(t.TempDir(), "bad.html")
	if err := os.WriteFile(page, []byte(`<!DOCTYPE html><p>x</p><script>undefinedFunction();</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr := chromium(t, page, "--dump-dom")
	if errs := consoleErrors(stderr); len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), "undefinedFunction") {
		t.Fatalf("no console error found for a page that throws; chromium said:\n%s", lastLines(stderr, 10))
	}
}
