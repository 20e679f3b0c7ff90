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
		{nil, ""},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run"}, "want exactly one scenario"},
		{[]string{"run", "no-such-drill"}, `unknown scenario "no-such-drill"`},
		{[]string{"run", "vpn-outage", "--target", "/no/such/target.yaml"}, "--target /no/such/target.yaml: no such target file"},
		{[]string{"run", "vpn-outage", "--frob"}, "flag provided but not defined: -frob"},
		{[]string{"run", "vpn-outage", "--backend", "vmware"}, `--backend "vmware"`},
		{[]string{"lab", "up", "--frob"}, "flag provided but not defined"},
		{[]string{"lab", "sideways"}, `unknown subcommand "sideways"`},
		{[]string{"lab", "status", "--lab", empty}, "no lab at " + empty},
		{[]string{"list", "extra"}, `unexpected argument "extra"`},
		{[]string{"lab", "up", "--lab", "/tmp/" + strings.Repeat("x", 100)}, "more than the 107 a unix socket allows"},
		{[]string{"lab", "up", "--lab", inUse}, "is in use"},
		{[]string{"run", "vpn-outage", "--lab", bogus, "--report", t.TempDir()}, "vici socket " + filepath.Join(bogus, "aws", "charon.vici")},
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
	t.Cleanup(func() { lab.Down(context.Background(), dir, backends()) })
	code, out, stderr := runCLI("run", "vpn-outage", "--lab", dir, "--report", rep)
	if code != exitPass {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	for _, f := range []string{"report.json", "junit.xml", "summary.md"} {
		if _, err := os.Stat(filepath.Join(rep, f)); err != nil {
			t.Errorf("report file %s: %v", f, err)
		}
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
