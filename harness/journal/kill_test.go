package journal_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/journal"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

// helperEnv makes the test binary a drill that injects a fault and waits
// to be killed: "DIR|FAULT|POINT".
const helperEnv = "DRDRILL_JOURNAL_HELPER"

// Kill points: before the fault changed anything (its entry written), with
// the fault just in place, with its outage seen by the replica (IO thread
// no longer Yes), and with its cause undone but steady state not yet
// waited for.
var killPoints = []string{"before", "injected", "outage", "recovering"}

// TestHelperInjector is the killed process of TestRecoverAfterKill9 (it
// does nothing unless started by it).
func TestHelperInjector(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process of TestRecoverAfterKill9")
	}
	parts := strings.Split(spec, "|")
	dir, name, point := parts[0], parts[1], parts[2]
	fail := func(err error) {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	ctx := context.Background()
	info, err := lab.Load(dir)
	if err != nil {
		fail(err)
	}
	tg, err := lab.Open(ctx, info, nil)
	if err != nil {
		fail(err)
	}
	j, err := journal.Open(dir)
	if err != nil {
		fail(err)
	}
	j.SetTarget(journal.LabRef(dir))
	env, err := harness.NewEnv(ctx, tg, nil)
	if err != nil {
		fail(err)
	}
	env.Journal = j
	f, err := fault.New(name, tg, env.Timeline, nil)
	if err != nil {
		fail(err)
	}
	if point == "before" {
		f = &stopBefore{f}
	}
	in, err := env.Inject(ctx, "step 1", f)
	if err != nil {
		fail(err)
	}
	if point == "outage" || point == "recovering" {
		if err := in.WaitForEffect(ctx); err != nil {
			fail(err)
		}
	}
	if point == "outage" {
		wctx, cancel := context.WithTimeout(ctx, 2*env.Timings.OutageDetectWindow())
		_, err := replica.WaitFor(wctx, target.Replica(tg).DB, 20*time.Millisecond, "the replica to lose its source",
			func(s replica.Status) bool { return s.IO != replica.IOYes })
		cancel()
		if err != nil {
			fail(err)
		}
	}
	if point == "recovering" {
		if err := in.Recover(ctx); err != nil {
			fail(err)
		}
	}
	fmt.Println("READY")
	select {} // until kill -9
}

// stopBefore is a fault whose process stops (to be killed) between its
// journal entry and its Inject.
type stopBefore struct{ fault.Fault }

func (s *stopBefore) Plan(ctx context.Context, limit time.Duration) (fault.Plan, error) {
	if p, ok := s.Fault.(fault.Planner); ok {
		return p.Plan(ctx, limit)
	}
	return fault.Plan{}, nil
}

func (s *stopBefore) Inject(context.Context) error {
	fmt.Println("READY")
	select {}
}

// A drill killed with SIGKILL before, during and after each fault: drdrill
// recover's engine undoes what it left (tunnel and replication back,
// steady state verified), and a second recover is a no-op.
func TestRecoverAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test: skipped with -short")
	}
	b := lab.NetnsBackend{}
	if err := b.Preflight(); err != nil {
		t.Skipf("lab test: the netns lab cannot run here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, map[string]lab.Backend{b.Name(): b}); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	if _, err := lab.Up(context.Background(), lab.Options{Dir: dir, Backend: b}); err != nil {
		t.Fatalf("lab up: %v", err)
	}
	for _, name := range []string{"tunnel-down", "wan-blackhole", "gateway-crash", "replica-stuck-connecting", "one-sided-reset"} {
		for _, point := range killPoints {
			t.Run(name+"/"+point, func(t *testing.T) {
				pid := runAndKill(t, dir, name, point)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				j, err := journal.Open(dir)
				if err != nil {
					t.Fatalf("journal after kill -9 of %d: %v", pid, err)
				}
				defer j.Close()
				open, _ := j.OpenFaults()
				if len(open) != 1 || open[0].Fault != name || open[0].PID != pid {
					t.Fatalf("open faults after the kill: %+v", open)
				}
				tg := openForRecover(t, ctx, dir)
				defer tg.Close()
				tl := timeline.New()
				start := time.Now()
				got, err := journal.Recover(ctx, j, tg, tl)
				if err != nil || len(got) != 1 {
					t.Fatalf("recover: %v (recovered %d)", err, len(got))
				}
				took := time.Since(start)
				rep, _ := target.Replica(tg).DB.Status(ctx)
				t.Logf("replica when recover began: %s", rep)
				if err := fault.WaitSteady(ctx, tg, tl); err != nil {
					t.Fatalf("after recover: %v\n%s", err, timelineText(tl))
				}
				t.Logf("recovered in %.2fs, steady %.2fs after the recover began", took.Seconds(), time.Since(start).Seconds())
				again, err := journal.Recover(ctx, j, tg, timeline.New())
				if err != nil || len(again) != 0 {
					t.Fatalf("second recover: %v, recovered %d", err, len(again))
				}
				assertNothingLeft(t, ctx, tg)
			})
		}
	}
}

// runAndKill starts the helper, waits for it to reach point, checks that
// the state dir is locked by it, and kills it with SIGKILL.
func runAndKill(t testing.TB, dir, name, point string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperInjector$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir+"|"+name+"|"+point)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(time.Minute)
	var seen []string
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("helper exited before %s: %q %s", point, seen, stderr.String())
			}
			if l == "READY" {
				break wait
			}
			seen = append(seen, l)
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper did not reach %s: %q %s", point, seen, stderr.String())
		}
	}
	_, lerr := journal.Open(dir)
	var le *journal.LockedError
	if !errors.As(lerr, &le) || le.PID != cmd.Process.Pid {
		t.Errorf("the running drill's state dir: %v, want locked by pid %d", lerr, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	go func() {
		for range lines {
		}
	}()
	return cmd.Process.Pid
}

// assertNothingLeft: no drop table on a gateway.
func assertNothingLeft(t *testing.T, ctx context.Context, tg interface {
	Exec(context.Context, target.Host, ...string) ([]byte, error)
}) {
	t.Helper()
	for _, site := range []string{"aws", "onprem"} {
		h := target.Host{Site: site, Kind: target.GatewayHost}
		out, err := tg.Exec(ctx, h, "nft", "list", "tables")
		if err != nil || strings.Contains(string(out), "drdrill_") {
			t.Errorf("%s: %v %s", h, err, out)
		}
	}
}

func timelineText(tl *timeline.Timeline) string {
	var b strings.Builder
	for _, e := range tl.Events() {
		fmt.Fprintf(&b, "%8.1f %s %s %v\n", e.TMS, e.Source, e.Kind, e.Map())
	}
	return b.String()
}

// openForRecover opens the lab as drdrill recover does: lab.Open dials the
// gateways on first use, so a lab whose charon the killed drill had killed
// still opens.
func openForRecover(tb testing.TB, ctx context.Context, dir string) *lab.Target {
	tb.Helper()
	info, err := lab.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tg, err := lab.Open(ctx, info, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return tg
}

// On a lab, a fault held past MaxFault is recovered by the watchdog: the
// drop is lifted (not just expired), the entry closed, steady state back,
// and the drill's own Recover finds nothing to do.
func TestWatchdogOnLab(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test: skipped with -short")
	}
	b := lab.NetnsBackend{}
	if err := b.Preflight(); err != nil {
		t.Skipf("lab test: the netns lab cannot run here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, map[string]lab.Backend{b.Name(): b}); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	ctx := context.Background()
	info, err := lab.Up(ctx, lab.Options{Dir: dir, Backend: b})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	tg, err := lab.Open(ctx, info, b)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	j, err := journal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	env, err := harness.NewEnv(ctx, tg, nil)
	if err != nil {
		t.Fatal(err)
	}
	env.Journal, env.MaxFault = j, 2*time.Second
	f, err := fault.New("wan-blackhole", tg, env.Timeline, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := env.Inject(ctx, "step 1", f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(in.DeadMan(), "2s") {
		t.Fatalf("dead man %q", in.DeadMan())
	}
	err = poll.Until(ctx, "the watchdog to recover the fault", 20*time.Millisecond, env.MaxFault+harness.RecoveryTimeout, func(context.Context) (bool, string, error) {
		open, _ := j.OpenFaults()
		return in.WatchdogFired() && len(open) == 0, fmt.Sprintf("fired %v, %d open", in.WatchdogFired(), len(open)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovered by the watchdog %.2fs after the inject (max_fault %s)", time.Since(in.At).Seconds(), env.MaxFault)
	assertNothingLeft(t, ctx, tg)
	if err := fault.WaitSteady(ctx, tg, env.Timeline); err != nil {
		t.Fatal(err)
	}
	n := len(env.Timeline.Filter(timeline.KindFault, ""))
	if err := in.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.WaitRecovered(ctx); err != nil {
		t.Fatal(err)
	}
	if m := len(env.Timeline.Filter(timeline.KindFault, "")); m != n {
		t.Fatalf("the drill's Recover acted again after the watchdog: %d more fault events", m-n)
	}
}

// BenchmarkRecoverAfterKill9 is drdrill recover's engine after a drill was
// killed with its fault in place and its outage seen by the replica:
// undo-ms is the undo alone, steady-ms until steady state is back (the
// tunnel healthy on both sides, the replica's IO thread reconnected and
// caught up: the lab's connect retry is 1 s). Target: ≤ 2 s plus the
// replica's reconnect.
func BenchmarkRecoverAfterKill9(b *testing.B) {
	lb := lab.NetnsBackend{}
	if err := lb.Preflight(); err != nil {
		b.Skipf("the netns lab cannot run here: %v", err)
	}
	dir := filepath.Join(b.TempDir(), "lab")
	b.Cleanup(func() { lab.Down(context.Background(), dir, map[string]lab.Backend{lb.Name(): lb}) })
	if _, err := lab.Up(context.Background(), lab.Options{Dir: dir, Backend: lb}); err != nil {
		b.Fatalf("lab up: %v", err)
	}
	for _, name := range []string{"tunnel-down", "wan-blackhole", "gateway-crash"} {
		b.Run(name, func(b *testing.B) {
			var undo, steady time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				runAndKill(b, dir, name, "outage")
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				j, err := journal.Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				tg := openForRecover(b, ctx, dir)
				tl := timeline.New()
				b.StartTimer()
				start := time.Now()
				if got, err := journal.Recover(ctx, j, tg, tl); err != nil || len(got) != 1 {
					b.Fatalf("recover: %v (recovered %d)", err, len(got))
				}
				undo += time.Since(start)
				if err := fault.WaitSteady(ctx, tg, tl); err != nil {
					b.Fatalf("after recover: %v", err)
				}
				steady += time.Since(start)
				b.StopTimer()
				tg.Close()
				j.Close()
				cancel()
			}
			b.ReportMetric(float64(undo.Milliseconds())/float64(b.N), "undo-ms")
			b.ReportMetric(float64(steady.Milliseconds())/float64(b.N), "steady-ms")
		})
	}
}
