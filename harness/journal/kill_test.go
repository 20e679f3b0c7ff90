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
	"github.com/drdrill/drdrill/harness/tunnel"
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
func runAndKill(t *testing.T, dir, name, point string) int {
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

type recoverTarget interface {
	target.Target
	target.HostExec
	target.GatewayRestarter
}

// openForRecover opens the lab as drdrill recover would. lab.Open dials
// every charon first and so fails while one is down (a drill killed after
// gateway-crash's kill): then the lab is opened with gateways dialled
// lazily, which is what lab.Open needs to do for recover (reported).
func openForRecover(t *testing.T, ctx context.Context, dir string) recoverTarget {
	t.Helper()
	info, err := lab.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := lab.Open(ctx, info, nil)
	if err == nil {
		return tg
	}
	t.Logf("lab.Open: %v: opening with lazily dialled gateways", err)
	l := &lazyLab{dir: dir, b: lab.NetnsBackend{}}
	for _, s := range lab.Sites {
		db, err := replica.OpenSocket(ctx, info.Sites[s].DB.Socket, "root", "")
		if err != nil {
			t.Fatal(err)
		}
		role := target.RoleReplica
		if info.Sites[s].DB.Role == lab.RolePrimary {
			role = target.RolePrimary
		}
		l.sites = append(l.sites, &target.Site{Name: s, Role: role, DB: db, Tunnel: lab.Expectation(info, s),
			Gateway: tunnel.NewGateway(s, tunnel.UnixSocket(info.Sites[s].Gateway.VICI))})
	}
	return l
}

// lazyLab is the lab as a Target whose gateways are dialled when first
// used; the rest is the lab's own (exec, kill and restart a charon).
type lazyLab struct {
	dir   string
	b     lab.Backend
	sites []*target.Site
}

func (l *lazyLab) Name() string          { return "lab" }
func (l *lazyLab) Sites() []*target.Site { return l.sites }
func (l *lazyLab) OpenDB(context.Context, string, int) (*replica.Conn, error) {
	return nil, errors.New("not needed")
}
func (l *lazyLab) IKETimings(context.Context) (tunnel.IKETimings, error) {
	return tunnel.IKETimings{}, errors.New("not read")
}
func (l *lazyLab) Describe() map[string]any { return nil }
func (l *lazyLab) Secrets() []string        { return nil }
func (l *lazyLab) Close() error {
	for _, s := range l.sites {
		s.Gateway.Close()
		s.DB.Close()
	}
	return nil
}
func (l *lazyLab) info() (*lab.Info, error) { return lab.Load(l.dir) }
func (l *lazyLab) Exec(ctx context.Context, h target.Host, argv ...string) ([]byte, error) {
	info, err := l.info()
	if err != nil {
		return nil, err
	}
	return l.b.Exec(ctx, info, h.String(), argv...)
}
func (l *lazyLab) KillGateway(ctx context.Context, site string) error {
	info, err := l.info()
	if err != nil {
		return err
	}
	return l.b.KillGateway(ctx, info, site)
}
func (l *lazyLab) RestartGateway(ctx context.Context, site string) error {
	info, err := l.info()
	if err != nil {
		return err
	}
	return lab.RestartGateway(ctx, info, l.b, site)
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
