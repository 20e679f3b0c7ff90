package drilltest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
)

// Lab brings a fresh embedded lab up for the test and returns it as a
// target; it is taken down in t.Cleanup (registered before it comes up, so
// a half-built lab goes too). It skips under -short and where the lab
// cannot run (not root, a missing package): it says why.
func Lab(t testing.TB) target.Target {
	t.Helper()
	name := os.Getenv("DRDRILL_BACKEND")
	if name == "" {
		name = "netns"
	}
	b, err := lab.BackendByName(name)
	if err != nil {
		t.Fatalf("drilltest: DRDRILL_BACKEND: %v", err)
	}
	return up(t, b)
}

// NetnsLab is Lab on the netns backend whatever DRDRILL_BACKEND says, as
// the lab's own *lab.Target: for tests of what needs the lab's powers on
// its db hosts (freezing a daemon, commands in its namespace).
func NetnsLab(t testing.TB) *lab.Target {
	t.Helper()
	return up(t, lab.NetnsBackend{})
}

func up(t testing.TB, b lab.Backend) *lab.Target {
	t.Helper()
	if testing.Short() {
		t.Skip("drilltest: lab drills are skipped with -short")
	}
	if p, ok := b.(interface{ Preflight() error }); ok {
		if err := p.Preflight(); err != nil {
			t.Skipf("drilltest: the %s lab cannot run here: %v", b.Name(), err)
		}
	}
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, lab.Backends()); err != nil {
			t.Errorf("drilltest: lab down: %v", err)
		}
	})
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir, Backend: b})
	if err != nil {
		t.Fatalf("drilltest: lab up: %v", err)
	}
	tg, err := lab.Open(context.Background(), info, b)
	if err != nil {
		t.Fatalf("drilltest: open lab: %v", err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// Option varies Run.
type Option func(*options)

type options struct{ reportDir string }

// ReportDir keeps the report in dir instead of t.TempDir().
func ReportDir(dir string) Option { return func(o *options) { o.reportDir = dir } }

// Run runs the drill on tg, writes its report (report.json, junit.xml,
// summary.md) to a temporary dir or ReportDir, logs the summary, and fails
// t with the diagnosis when the verdict is not pass. It returns the report
// for further assertions.
func Run(t testing.TB, sc harness.Scenario, tg target.Target, opts ...Option) *report.Report {
	t.Helper()
	o := options{}
	for _, f := range opts {
		f(&o)
	}
	if o.reportDir == "" {
		o.reportDir = t.TempDir()
	}
	ctx := context.Background()
	if d, ok := t.(interface{ Context() context.Context }); ok {
		ctx = d.Context()
	}
	env, err := harness.NewEnv(ctx, tg, nil)
	if err != nil {
		t.Fatalf("drilltest: %v", err)
	}
	r := harness.Run(ctx, sc, tg, env)
	if err := report.Write(o.reportDir, r, env.Secrets()...); err != nil {
		t.Errorf("drilltest: write report: %v", err)
	}
	var b strings.Builder
	report.Console(&b, r, env.Secrets()...)
	t.Logf("\n%sreport: %s", b.String(), filepath.Join(o.reportDir, report.JSONFile))
	if r.Verdict != report.VerdictPass {
		t.Errorf("drill %s: %s: %s", sc.Name, r.Verdict, r.Diagnosis)
	}
	return r
}
