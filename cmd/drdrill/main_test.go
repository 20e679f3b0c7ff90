package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// TestMain lets the tests run this binary as drdrill itself (for signals).
func TestMain(m *testing.M) {
	if os.Getenv("DRDRILL_TEST_AS_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	lab.TeardownOnSignal()
	os.Exit(m.Run())
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInputExitsTwoWithOneLine(t *testing.T) {
	empty := t.TempDir()
	inUse := t.TempDir()
	os.WriteFile(filepath.Join(inUse, "someone-elses-file"), []byte("x"), 0o644)
	// A lab marked up whose sockets do not exist: a wrong VICI socket.
	bogus := t.TempDir()
	info := lab.Info{Schema: lab.InfoSchema, ID: "drd00000000", Backend: "netns", Dir: bogus, Phase: lab.PhaseUp,
		Sites: map[string]*lab.Site{}}
	for _, s := range lab.Sites {
		info.Sites[s] = &lab.Site{Name: s, Gateway: lab.Gateway{VICI: filepath.Join(bogus, s, "charon.vici")},
			DB: lab.DB{Socket: filepath.Join(bogus, s, "mysqld.sock")}}
	}
	b, _ := json.Marshal(info)
	os.WriteFile(filepath.Join(bogus, lab.InfoFile), b, 0o644)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "want a command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"lsit"}, `unknown command "lsit" (want completion, lab, list, plan, preflight, recover, report or run); did you mean list?`},
		{[]string{"--frob"}, "unknown flag: --frob"},
		{[]string{"help", "frobnicate"}, `help: unknown command "frobnicate"`},
		{[]string{"run"}, "run: want a scenario name, several, or --all"},
		{[]string{"run", "vpn-outage", "b"}, `unknown scenario "b"`},
		{[]string{"run", "no-such-drill"}, `unknown scenario "no-such-drill"`},
		{[]string{"run", "vpn-outage", "--target", "/no/such/target.yaml"}, "--target /no/such/target.yaml: no such target file"},
		{[]string{"run", "vpn-outage", "--target", empty}, "a directory, not a target file"},
		{[]string{"run", "vpn-outage", "--frob"}, "run: unknown flag: --frob"},
		{[]string{"run", "--frob", "vpn-outage"}, "run: unknown flag: --frob"},
		{[]string{"run", "vpn-outage", "--lab"}, "run: flag needs an argument: --lab"},
		{[]string{"run", "vpn-outage", "--backend", "vmware"}, `--backend "vmware"`},
		{[]string{"lab"}, "lab: want down, gateway, status, target or up"},
		{[]string{"lab", "up", "--frob"}, "lab up: unknown flag: --frob"},
		{[]string{"lab", "sideways"}, `unknown subcommand "sideways"`},
		{[]string{"lab", "up", "extra"}, `lab up: unexpected argument "extra"`},
		{[]string{"lab", "status", "--lab", empty}, "no lab at " + empty},
		// lab down --backend docker and the like still parse, as before.
		{[]string{"lab", "status", "--lab", empty, "--backend", "docker"}, "no lab at " + empty},
		{[]string{"list", "extra"}, `unexpected argument "extra"`},
		{[]string{"completion"}, "completion: want a shell"},
		{[]string{"completion", "tcsh"}, `unknown shell "tcsh"`},
		{[]string{"plan"}, "plan: want exactly one scenario name"},
		{[]string{"plan", "nope"}, `unknown scenario "nope"`},
		{[]string{"plan", "vpn-outage", "--lab", "/nonexistent/lab"}, "no lab is up at /nonexistent/lab"},
		{[]string{"lab", "up", "--lab", "/tmp/" + strings.Repeat("x", 100)}, "more than the 107 a unix socket allows"},
		{[]string{"lab", "up", "--lab", inUse}, "is in use"},
		{[]string{"run", "vpn-outage", "--lab", bogus, "--report", t.TempDir()}, "open socket " + filepath.Join(bogus, "aws", "mysqld.sock")},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != exitCannotRun {
			t.Errorf("drdrill %v: exit %d, want 2", tc.args, code)
		}
		if tc.want == "" {
			continue
		}
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "drdrill: ") || !strings.Contains(lines[0], tc.want) {
			t.Errorf("drdrill %v: want one line containing %q, got:\n%s", tc.args, tc.want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(bogus, lab.InfoFile)); err != nil {
		t.Error("a failed run on an existing lab must not touch it")
	}
}

// --help, -h and help CMD print the command's usage and flags to stdout
// and exit 0, for every command.
func TestHelpExitsZeroWithTheFlags(t *testing.T) {
	for _, tc := range []struct {
		cmd   []string
		flags []string
	}{
		{nil, []string{"--help"}},
		{[]string{"lab"}, []string{"--help"}},
		{[]string{"lab", "up"}, []string{"--lab", "--backend"}},
		{[]string{"lab", "down"}, []string{"--lab"}},
		{[]string{"lab", "status"}, []string{"--lab", "--json"}},
		{[]string{"recover"}, []string{"--target", "--lab", "--state"}},
		{[]string{"preflight"}, []string{"--target", "--lab", "--json", "--print-grants"}},
		{[]string{"list"}, []string{"--help"}},
		{[]string{"run"}, []string{"--target", "--lab", "--report", "--keep-lab", "--backend", "--all", "--count", "--parallel", "--metrics-file"}},
		{[]string{"lab", "up"}, []string{"--failover", "--tls"}},
		{[]string{"report"}, []string{"--help"}},
		{[]string{"report", "compare"}, []string{"--tolerance", "--min-ms", "--json"}},
		{[]string{"plan"}, []string{"--target", "--lab"}},
		{[]string{"completion"}, []string{"--help"}},
		{[]string{"completion", "bash"}, []string{"--no-descriptions"}},
	} {
		path := strings.TrimSpace("drdrill " + strings.Join(tc.cmd, " "))
		for _, args := range [][]string{
			append(append([]string{}, tc.cmd...), "--help"),
			append(append([]string{}, tc.cmd...), "-h"),
			append([]string{"help"}, tc.cmd...),
		} {
			code, out, stderr := runCLI(args...)
			if code != exitPass || stderr != "" {
				t.Errorf("drdrill %v: exit %d, stderr:\n%s", args, code, stderr)
				continue
			}
			if !strings.Contains(out, "Usage:\n  "+path) || !strings.Contains(out, "Flags:") {
				t.Errorf("drdrill %v: no usage of %s:\n%s", args, path, out)
			}
			for _, f := range append(tc.flags, "--help") {
				if !strings.Contains(out, f) {
					t.Errorf("drdrill %v: help does not show %s:\n%s", args, f, out)
				}
			}
		}
	}
	// The help of run says what its exit codes mean.
	if _, out, _ := runCLI("run", "--help"); !strings.Contains(out, "1  the drill ran and a check failed") {
		t.Errorf("run --help does not give the exit codes:\n%s", out)
	}
}

func TestCompletionBash(t *testing.T) {
	code, out, stderr := runCLI("completion", "bash")
	if code != exitPass || stderr != "" {
		t.Fatalf("completion bash: exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(out, "# bash completion") || !strings.Contains(out, "complete -o default -F __start_drdrill drdrill") {
		t.Errorf("completion bash: not a bash completion script for drdrill:\n%.300s", out)
	}
	// The script asks drdrill itself: scenario names complete.
	if code, out, _ := runCLI("__complete", "run", "vpn-"); code != exitPass || !strings.Contains(out, "vpn-outage\t") {
		t.Errorf("__complete run vpn-: exit %d:\n%s", code, out)
	}
}

// A report directory that cannot be written fails the run in milliseconds,
// before any lab comes up.
func TestRunChecksTheReportDirFirst(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, []byte("x"), 0o644)
	for _, rep := range []string{"/proc/x", notADir, filepath.Join(notADir, "sub")} {
		dir := filepath.Join(t.TempDir(), "lab")
		start := time.Now()
		code, _, stderr := runCLI("run", "--report", rep, "vpn-outage", "--lab", dir)
		took := time.Since(start)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != exitCannotRun || len(lines) != 1 || !strings.HasPrefix(lines[0], "drdrill: report directory "+rep+": ") {
			t.Errorf("run --report %s: exit %d, want 2 and one line naming the report dir, got:\n%s", rep, code, stderr)
		}
		if took > 500*time.Millisecond {
			t.Errorf("run --report %s: took %v to fail", rep, took)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("run --report %s: a lab dir was created", rep)
		}
	}
	// A report dir that can be written is created and left empty.
	rep := filepath.Join(t.TempDir(), "a", "b")
	if err := checkReportDir(rep); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(rep); err != nil || len(ents) != 0 {
		t.Errorf("checkReportDir left %v (%v)", ents, err)
	}
}

func TestList(t *testing.T) {
	code, out, _ := runCLI("list")
	if code != 0 || !strings.Contains(out, "vpn-outage") {
		t.Fatalf("list: exit %d, output:\n%s", code, out)
	}
}

func requireLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("lab test: skipped with -short")
	}
	if err := (lab.NetnsBackend{}).Preflight(); err != nil {
		t.Skipf("lab test: the netns lab cannot run here: %v", err)
	}
}

func TestRunBringsALabUpAndTakesItDown(t *testing.T) {
	requireLab(t)
	dir, rep := filepath.Join(t.TempDir(), "lab"), t.TempDir()
	prom := filepath.Join(t.TempDir(), "drdrill.prom")
	t.Cleanup(func() { lab.Down(context.Background(), dir, backends()) })
	code, out, stderr := runCLI("run", "vpn-outage", "--lab", dir, "--report", rep, "--metrics-file", prom)
	if code != exitPass {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	// The report dir's layout is the contract: exactly these four files.
	if ents, _ := os.ReadDir(rep); len(ents) != 4 {
		t.Errorf("report dir holds %d entries, want 4", len(ents))
	}
	for _, f := range []string{"report.json", "junit.xml", "summary.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(rep, f)); err != nil {
			t.Errorf("report file %s: %v", f, err)
		}
	}
	mfs := parseProm(t, prom)
	vo := map[string]string{"scenario": "vpn-outage", "target": "lab"}
	if v, ok := promValue(mfs, "drdrill_drill_verdict", map[string]string{"scenario": "vpn-outage", "target": "lab", "verdict": "pass"}); !ok || v != 1 {
		t.Errorf("metrics file: pass verdict %v (%v)", v, ok)
	}
	if v, ok := promValue(mfs, "drdrill_drill_duration_seconds", vo); !ok || v < 1 {
		t.Errorf("metrics file: duration %v s (%v)", v, ok)
	}
	if v, ok := promValue(mfs, "drdrill_metric_seconds", map[string]string{"scenario": "vpn-outage", "name": "outage_detect"}); !ok || v <= 0 {
		t.Errorf("metrics file: outage_detect %v s (%v)", v, ok)
	}
	if v, ok := promValue(mfs, "drdrill_rows_missing_on_replica", vo); !ok || v != 0 {
		t.Errorf("metrics file: rows missing %v (%v)", v, ok)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("the lab the run brought up is still there")
	}
	// --keep-lab leaves it up, and a second run uses it as it is.
	if code, out, stderr := runCLI("run", "vpn-outage", "--lab", dir, "--report", rep, "--keep-lab"); code != exitPass {
		t.Fatalf("keep-lab run: exit %d\n%s\n%s", code, out, stderr)
	}
	if info, err := lab.Load(dir); err != nil || info.Phase != lab.PhaseUp {
		t.Fatalf("--keep-lab: lab not up afterwards: %v", err)
	}
	code, out, _ = runCLI("run", "vpn-outage", "--lab", dir, "--report", rep)
	if code != exitPass || !strings.Contains(out, "using the lab already up") {
		t.Fatalf("run on a running lab: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Error("a run must not take down a lab it did not bring up")
	}
}

// SIGINT in the middle of the outage: the tunnel comes back in the documented
// order, the lab is taken down, the report says interrupted, exit 2.
func TestRunInterruptedBySIGINT(t *testing.T) {
	requireLab(t)
	dir, rep := filepath.Join(t.TempDir(), "lab"), t.TempDir()
	t.Cleanup(func() { lab.Down(context.Background(), dir, backends()) })
	cmd := exec.Command(os.Args[0], "run", "vpn-outage", "--lab", dir, "--report", rep)
	cmd.Env = append(os.Environ(), "DRDRILL_TEST_AS_CLI=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the lab is up and the AWS gateway has no IKE SA: the outage.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for inOutage := false; !inOutage; {
		select {
		case <-ctx.Done():
			cmd.Process.Kill()
			t.Fatalf("never saw the outage; output:\n%s", out.String())
		case <-tick.C:
		}
		info, err := lab.Load(dir)
		if err != nil || info.Phase != lab.PhaseUp {
			continue
		}
		g, err := tunnel.Open(ctx, "aws", tunnel.UnixSocket(info.Sites[lab.SiteAWS].Gateway.VICI))
		if err != nil {
			continue
		}
		st, err := g.State(ctx, lab.ConnName)
		g.Close()
		inOutage = err == nil && len(st.IKESAs) == 0
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitCannotRun {
		t.Fatalf("want exit 2 after SIGINT, got %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Errorf("output does not say interrupted:\n%s", out.String())
	}
	b, err := os.ReadFile(filepath.Join(rep, "report.json"))
	if err != nil || !strings.Contains(string(b), `"interrupted": true`) {
		t.Errorf("report does not say interrupted: %v", err)
	}
	if !strings.Contains(string(b), "documented order") {
		t.Errorf("report has no documented-order recovery")
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("lab left behind after SIGINT")
	}
}
