package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/suite"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/scenarios"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Fake drills of this test binary (drdrill list shows them here only).
var flakyRuns atomic.Int32

func init() {
	// needs a cluster: run brings the failover lab up for it; it checks
	// that the lab has the failover hosts (a second AWS instance).
	scenarios.Register(harness.Scenario{Name: "test-needs-cluster", Description: "test: needs a cluster", Timeout: time.Minute,
		Needs: []target.Capability{target.CapCluster},
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			n := len(t.(target.Cluster).Instances())
			v := check.Pass
			if n < 2 {
				v = check.Fail
			}
			return env.Check(check.Result{Name: "cluster", Verdict: v, Expected: "2 instances", Observed: fmt.Sprint(n, " instances")})
		}})
	// test-flaky passes on its odd runs and fails on its even ones.
	scenarios.Register(harness.Scenario{Name: "test-flaky", Description: "test: passes every other run", Timeout: time.Minute,
		Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
			env.Metric("fake_ms", 40*time.Millisecond)
			if flakyRuns.Add(1)%2 == 0 {
				return env.Check(check.Result{Name: "coin", Verdict: check.Fail, Expected: "heads", Observed: "tails"})
			}
			return env.Check(check.Result{Name: "coin", Verdict: check.Pass, Expected: "heads", Observed: "heads"})
		}})
}

// localTarget is a target file for two sites on this machine whose sockets
// do not exist: every drill on it is an infrastructure error.
func localTarget(t *testing.T) string {
	t.Helper()
	t.Setenv("DRDRILL_CLI_TEST_PW", "")
	dir := t.TempDir()
	text := `schema: drdrill.target/v1
name: nowhere
safety: {allow_destructive: true}
sites:
  aws:
    role: primary
    gateway: {vici: "unix://` + dir + `/aws.vici", connection: onprem-aws}
    db: {socket: ` + dir + `/aws.sock, user: drdrill, password_env: DRDRILL_CLI_TEST_PW}
  onprem:
    role: replica
    gateway: {vici: "unix://` + dir + `/onprem.vici", connection: onprem-aws}
    db: {socket: ` + dir + `/onprem.sock, user: drdrill, password_env: DRDRILL_CLI_TEST_PW}
`
	p := filepath.Join(dir, "nowhere.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func oneLineWith(t *testing.T, args []string, code int, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if code != exitCannotRun || len(lines) != 1 || !strings.HasPrefix(lines[0], "drdrill: ") || !strings.Contains(lines[0], want) {
		t.Errorf("drdrill %v: exit %d, want 2 and one line containing %q, got:\n%s", args, code, want, stderr)
	}
}

// Bad suite input: one line, exit 2, no lab dir, nothing written.
func TestSuiteBadInputExitsTwo(t *testing.T) {
	tf := localTarget(t)
	heldLab := t.TempDir()
	os.WriteFile(filepath.Join(heldLab, lab.InfoFile), []byte(`{"schema":"`+lab.InfoSchema+`","phase":"up","backend":"netns"}`), 0o644)
	aDir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--all", "vpn-outage"}, "--all runs every drill; name none"},
		{[]string{"run", "vpn-outage", "vpn-outage"}, "vpn-outage named twice"},
		{[]string{"run", "vpn-outage", "nope"}, `unknown scenario "nope"`},
		{[]string{"run", "vpn-outage", "--count", "0"}, "--count 0: want at least 1"},
		{[]string{"run", "vpn-outage", "--count", "x"}, `invalid argument "x" for "--count"`},
		{[]string{"run", "--all", "--parallel", "0"}, "--parallel 0: want at least 1"},
		{[]string{"run", "--all", "--keep-lab"}, "--keep-lab keeps the lab of one drill"},
		{[]string{"run", "--all", "--state", t.TempDir()}, "--state: a suite on the lab keeps each run's fault journal"},
		{[]string{"run", "vpn-outage", "gateway-crash", "--backend", "docker", "--parallel", "2"}, "the docker lab's address plan is fixed"},
		{[]string{"run", "test-needs-cluster", "--backend", "docker"}, "needs the failover lab, which runs on the netns backend only; got --backend docker"},
		{[]string{"run", "test-needs-cluster", "vpn-outage", "--backend", "docker"}, "needs the failover lab, which runs on the netns backend only"},
		{[]string{"run", "--all", "--target", tf, "--yes", "--parallel", "2"}, "--parallel 2: target nowhere (" + tf + ") is one set of real systems; its drills run one at a time"},
		{[]string{"run", "--all", "--target", tf}, "it needs --yes"},
		{[]string{"run", "--all", "--lab", heldLab}, "--lab " + heldLab + " holds a lab (up)"},
		{[]string{"run", "--all", "--metrics-file", "/no/such/dir/x.prom"}, "--metrics-file /no/such/dir/x.prom: cannot write in /no/such/dir"},
		{[]string{"run", "vpn-outage", "--metrics-file", aDir}, "--metrics-file " + aDir + ": a directory, not a file"},
		{[]string{"lab", "up", "--failover", "--backend", "docker"}, "lab up: --failover: the failover lab runs on the netns backend only"},
		{[]string{"lab", "up", "--tls", "--backend", "docker"}, "lab up: --tls: the netns backend only; got --backend docker"},
	} {
		labDir := filepath.Join(t.TempDir(), "lab")
		rep := filepath.Join(t.TempDir(), "rep")
		args := append(append([]string{}, tc.args...), "--lab", labDir, "--report", rep)
		if tc.args[0] == "lab" {
			args = append(append([]string{}, tc.args...), "--lab", labDir)
		}
		if strings.Contains(tc.want, "holds a lab") {
			args = append(append([]string{}, tc.args...), "--report", rep)
		}
		code, _, stderr := runCLI(args...)
		oneLineWith(t, args, code, stderr, tc.want)
		if _, err := os.Stat(labDir); err == nil {
			t.Errorf("drdrill %v: a lab dir was created", args)
		}
		if ents, _ := os.ReadDir(rep); len(ents) > 0 {
			t.Errorf("drdrill %v: the report dir got %d entries", args, len(ents))
		}
	}
}

// A suite on a target whose systems are not there: every run is an
// infrastructure error, not a failed drill; exit 2; junit.xml, suite.json,
// suite.html and the metrics file say so.
func TestSuiteOnATargetThatIsNotThereIsInfra(t *testing.T) {
	tf := localTarget(t)
	rep, state := t.TempDir(), t.TempDir()
	prom := filepath.Join(t.TempDir(), "drdrill.prom")
	args := []string{"run", "vpn-outage", "gateway-crash", "--count", "2", "--target", tf, "--yes", "--state", state,
		"--report", rep, "--metrics-file", prom}
	code, out, stderr := runCLI(args...)
	oneLineWith(t, args, code, stderr, "no drill could run: ")
	if !strings.Contains(out, "suite: 2 drill(s) × 2 = 4 run(s), 1 at a time, on target nowhere") ||
		!strings.Contains(out, "vpn-outage run 2: INFRA  why: ") {
		t.Errorf("stdout:\n%s", out)
	}
	s, err := suite.Load(rep)
	if err != nil {
		t.Fatal(err)
	}
	if s.Target != "nowhere" || len(s.Runs) != 4 || s.Ran() != 0 || s.Drills[0].Infra != 2 || s.Drills[0].Verdict != suite.Error {
		t.Errorf("suite.json: %+v", s)
	}
	for _, r := range s.Runs {
		if r.Outcome != suite.Infra || r.Dir != "" || r.Reason == "" {
			t.Errorf("run %+v: want an infra error with its reason and no report", r)
		}
	}
	b, _ := os.ReadFile(filepath.Join(rep, suite.JUnitFile))
	var ju struct {
		Tests  int `xml:"tests,attr"`
		Errors int `xml:"errors,attr"`
		Fails  int `xml:"failures,attr"`
		Suites []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &ju); err != nil || ju.Tests != 4 || ju.Errors != 4 || ju.Fails != 0 || len(ju.Suites) != 2 {
		t.Errorf("junit.xml: %v %+v", err, ju)
	}
	mfs := parseProm(t, prom)
	if v, ok := promValue(mfs, "drdrill_drill_runs", map[string]string{"scenario": "gateway-crash", "target": "nowhere", "outcome": "infra"}); !ok || v != 2 {
		t.Errorf("metrics file: gateway-crash infra runs %v (%v)", v, ok)
	}
	if _, err := os.Stat(filepath.Join(rep, suite.HTMLFile)); err != nil {
		t.Error(err)
	}
}

func parseProm(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	return mfs
}

func promValue(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
next:
	for _, m := range mfs[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

// report compare: a table and exit 0 without regression, 1 with one, 2 on
// bad input; --json is the same as JSON.
func TestReportCompare(t *testing.T) {
	write := func(verdict string, dur int64) string {
		r := report.New("vpn-outage", "lab", "d-000000000001", time.Now())
		r.Verdict, r.DurationMS = verdict, dur
		dir := t.TempDir()
		if err := report.Write(dir, r); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	good, same, slow, failed := write("pass", 4000), write("pass", 4100), write("pass", 6000), write("fail", 4000)
	code, out, stderr := runCLI("report", "compare", good, same)
	if code != exitPass || stderr != "" || !strings.Contains(out, "duration_ms") || !strings.Contains(out, "+100 (+2.5%)") || !strings.Contains(out, "no regression") {
		t.Errorf("compare same: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runCLI("report", "compare", good, slow)
	if code != exitFail || !strings.Contains(out, "REGRESSION") || !strings.Contains(stderr, "1 regression(s), first: vpn-outage: duration_ms 4000 → 6000") {
		t.Errorf("compare slow: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, _, _ := runCLI("report", "compare", "--tolerance", "60%", good, slow); code != exitPass {
		t.Errorf("compare slow within 60%%: exit %d", code)
	}
	code, out, _ = runCLI("report", "compare", "--json", good, failed)
	var c struct {
		Drills []struct {
			OldVerdict, NewVerdict string `json:"-"`
			Regression             bool   `json:"regression"`
		} `json:"drills"`
		Regressions []string `json:"regressions"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || code != exitFail || len(c.Regressions) != 1 || !c.Drills[0].Regression {
		t.Errorf("compare --json to a failed drill: exit %d, %v\n%s", code, err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "report: want compare"},
		{[]string{"report", "comapre"}, `unknown subcommand "comapre"`},
		{[]string{"report", "compare", good}, "want OLD and NEW"},
		{[]string{"report", "compare", good, "/no/such"}, "NEW /no/such: no such file or directory"},
		{[]string{"report", "compare", t.TempDir(), good}, "neither a report dir"},
		{[]string{"report", "compare", "--tolerance", "-5%", good, same}, `--tolerance "-5%"`},
	} {
		code, _, stderr := runCLI(tc.args...)
		oneLineWith(t, tc.args, code, stderr, tc.want)
	}
	for _, args := range [][]string{{"report", "--help"}, {"report", "compare", "--help"}, {"help", "report", "compare"}} {
		if code, out, _ := runCLI(args...); code != exitPass || !strings.Contains(out, "--tolerance") && args[1] == "compare" {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
}

// A suite on labs side by side: a lab per run, each run's report in its
// own dir, a flaky drill told apart from one that errored, exit 1, every
// lab taken down; the failover drill got the failover lab.
func TestSuiteOnLabs(t *testing.T) {
	requireLab(t)
	base, rep := filepath.Join(t.TempDir(), "labs"), t.TempDir()
	t.Cleanup(func() {
		for i := 1; i <= 4; i++ {
			lab.Down(context.Background(), filepath.Join(base, fmt.Sprint(i)), backends())
		}
	})
	prom := filepath.Join(t.TempDir(), "drdrill.prom")
	flakyRuns.Store(0)
	args := []string{"run", "test-flaky", "test-needs-cluster", "--count", "2", "--parallel", "2", "--lab", base, "--report", rep, "--metrics-file", prom}
	code, out, stderr := runCLI(args...)
	// test-flaky fails once; test-needs-cluster passes on a lab target that
	// has the Cluster capability and errors (target.Require) on one that
	// has not yet: 1 or 3 runs of 4 did not pass.
	if code != exitFail || !(strings.Contains(stderr, "1 of 4 run(s) did not pass") || strings.Contains(stderr, "3 of 4 run(s) did not pass")) {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, stderr)
	}
	if _, err := os.Stat(base); err == nil {
		t.Errorf("the suite left %s behind", base)
	}
	s, err := suite.Load(rep)
	if err != nil {
		t.Fatal(err)
	}
	if s.Parallel != 2 || s.Count != 2 || len(s.Runs) != 4 || s.Ran() != 4 {
		t.Errorf("suite: parallel %d count %d runs %d ran %d", s.Parallel, s.Count, len(s.Runs), s.Ran())
	}
	fl, cl := s.Drills[0], s.Drills[1]
	if fl.Scenario != "test-flaky" || fl.Passes != 1 || fl.Failures != 1 || !fl.Flaky || fl.Metrics["fake_ms"].N != 2 {
		t.Errorf("test-flaky: %+v", fl)
	}
	// Its lab came up (no infrastructure error): the failover lab.
	if cl.Scenario != "test-needs-cluster" || cl.Infra != 0 || cl.Flaky || cl.Passes+cl.Errors != 2 {
		t.Errorf("test-needs-cluster: %+v", cl)
	}
	for _, r := range s.Runs {
		b, err := os.ReadFile(filepath.Join(rep, r.Dir, report.JSONFile))
		if err != nil || r.Dir != fmt.Sprintf("%s/run-%d", r.Scenario, r.N) {
			t.Errorf("run %s/%d: report %s: %v", r.Scenario, r.N, r.Dir, err)
			continue
		}
		var rj report.Report
		if err := json.Unmarshal(b, &rj); err != nil || rj.Scenario != r.Scenario {
			t.Errorf("run %s/%d: report.json: %v", r.Scenario, r.N, err)
		}
		if r.Scenario == "test-needs-cluster" && r.Outcome != suite.Pass && !strings.Contains(r.Reason, "cluster") {
			t.Errorf("the failover drill's reason does not name the cluster: %q", r.Reason)
		}
	}
	mfs := parseProm(t, prom)
	if v, ok := promValue(mfs, "drdrill_drill_flaky", map[string]string{"scenario": "test-flaky", "target": "lab"}); !ok || v != 1 {
		t.Errorf("metrics: test-flaky flaky %v (%v)", v, ok)
	}
	if v, ok := promValue(mfs, "drdrill_metric_seconds", map[string]string{"scenario": "test-flaky", "name": "fake"}); !ok || v != 0.04 {
		t.Errorf("metrics: fake_ms as seconds %v (%v)", v, ok)
	}
	for _, want := range []string{"test-flaky run 1: ", "test-needs-cluster run 2: ", "FLAKY", "suite: " + rep + "/junit.xml"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

// lab up --failover brings the failover lab up (its hosts recorded, its
// reader's socket there) and lab down takes it all down.
func TestLabUpFailover(t *testing.T) {
	requireLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() { lab.Down(context.Background(), dir, backends()) })
	code, out, stderr := runCLI("lab", "up", "--failover", "--lab", dir)
	if code != exitPass {
		t.Fatalf("lab up --failover: exit %d\n%s\n%s", code, out, stderr)
	}
	info, err := lab.Load(dir)
	if err != nil || info.Failover == nil {
		t.Fatalf("lab up --failover: no failover hosts in lab.json (%v)", err)
	}
	if _, err := os.Stat(info.Failover.DB2.Socket); err != nil || !strings.Contains(out, "failover: reader mysql "+info.Failover.DB2.Socket) {
		t.Errorf("the reader's socket: %v\n%s", err, out)
	}
	// A run of a cluster drill uses it as it is; one on a four-host lab
	// is refused before anything changes.
	if code, _, stderr := runCLI("lab", "down", "--lab", dir); code != exitPass {
		t.Fatalf("lab down: %s", stderr)
	}
	if code, out, stderr := runCLI("lab", "up", "--lab", dir); code != exitPass {
		t.Fatalf("lab up: exit %d\n%s\n%s", code, out, stderr)
	}
	args := []string{"run", "test-needs-cluster", "--lab", dir, "--report", t.TempDir()}
	code, _, stderr = runCLI(args...)
	oneLineWith(t, args, code, stderr, "drill test-needs-cluster needs the failover lab; the lab up at "+dir+" has none")
}

// SIGINT while two labs side by side are in their outage: every fault is
// undone, both labs are taken down, the runs say interrupted, exit 2.
func TestSuiteInterruptedBySIGINT(t *testing.T) {
	requireLab(t)
	base, rep := filepath.Join(t.TempDir(), "labs"), t.TempDir()
	dirs := []string{filepath.Join(base, "1"), filepath.Join(base, "2")}
	t.Cleanup(func() {
		for _, d := range dirs {
			lab.Down(context.Background(), d, backends())
		}
	})
	cmd := exec.Command(os.Args[0], "run", "vpn-outage", "--count", "3", "--parallel", "2", "--lab", base, "--report", rep)
	cmd.Env = append(os.Environ(), "DRDRILL_TEST_AS_CLI=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Both labs up, both AWS gateways without an IKE SA: both outages.
	err := poll.Until(context.Background(), "both labs in their outage", 10*time.Millisecond, 30*time.Second,
		func(ctx context.Context) (bool, string, error) {
			var seen []string
			for _, d := range dirs {
				info, err := lab.Load(d)
				if err != nil || info.Phase != lab.PhaseUp {
					seen = append(seen, d+": not up")
					continue
				}
				g, err := tunnel.Open(ctx, "aws", tunnel.UnixSocket(info.Sites[lab.SiteAWS].Gateway.VICI))
				if err != nil {
					seen = append(seen, d+": "+err.Error())
					continue
				}
				st, err := g.State(ctx, lab.ConnName)
				g.Close()
				if err != nil || len(st.IKESAs) > 0 {
					seen = append(seen, d+": tunnel up")
				}
			}
			return len(seen) == 0, strings.Join(seen, "; "), nil
		})
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%v\n%s", err, out.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	werr := cmd.Wait()
	if ee, ok := werr.(*exec.ExitError); !ok || ee.ExitCode() != exitCannotRun {
		t.Fatalf("want exit 2 after SIGINT, got %v\n%s", werr, out.String())
	}
	if !strings.Contains(out.String(), "suite interrupted after 2 of 3 run(s)") {
		t.Errorf("output does not say interrupted:\n%s", out.String())
	}
	if _, err := os.Stat(base); err == nil {
		t.Errorf("labs left behind after SIGINT:\n%s", out.String())
	}
	s, err := suite.Load(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Interrupted || s.Drills[0].Interrupted != 2 || s.Drills[0].NotRun != 1 {
		t.Errorf("suite.json: interrupted %v, drill %+v", s.Interrupted, s.Drills[0])
	}
	for _, r := range s.Runs[:2] {
		b, err := os.ReadFile(filepath.Join(rep, r.Dir, report.JSONFile))
		if err != nil || !strings.Contains(string(b), `"interrupted": true`) || !strings.Contains(string(b), "documented order") {
			t.Errorf("run %d: report not interrupted or without the documented-order recovery: %v", r.N, err)
		}
	}
}

// A suite starts its longest drills first (Scenario.Typical), so that labs
// side by side finish together; runs keep their numbers.
func TestSuiteStartsLongestFirst(t *testing.T) {
	o := runOptions{count: 2, parallel: 2, dir: t.TempDir(), reportDir: t.TempDir(), target: "lab", backend: "netns"}
	p, err := o.checkSuite([]string{"vpn-outage", "replica-stuck-connecting", "wan-blackhole"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range p.jobs {
		got = append(got, fmt.Sprintf("%s#%d", j.Scenario, j.N))
	}
	want := "replica-stuck-connecting#1 replica-stuck-connecting#2 wan-blackhole#1 wan-blackhole#2 vpn-outage#1 vpn-outage#2"
	if strings.Join(got, " ") != want {
		t.Errorf("job order %v, want %s", got, want)
	}
}
