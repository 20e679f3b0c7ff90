package scenarios

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/targetfile"
	"github.com/drdrill/drdrill/harness/transport"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// newEnv brings a fresh lab up for one drill; Down is registered before the
// error check so that every path cleans up.
//
// The test then runs in parallel with the other drills: netns labs share
// nothing (namespaces, dirs, datadirs and sockets carry the lab's id, and
// every drill derives its windows from its own lab's timings), and a drill
// mostly waits on its replica. The docker lab's address plan is fixed, one
// lab per engine, so on docker the drills run one after another.
func newEnv(t *testing.T) *testEnv { return newEnvWith(t, labNeeds{}) }

// labNeeds is what a drill needs of its lab.
type labNeeds struct {
	failover  bool   // the failover extension (netns only)
	netnsOnly string // why the drill cannot run on docker ("" : it can)
}

// newEnvWith is newEnv for a drill with needs: one the backend cannot
// meet is skipped, naming why.
func newEnvWith(t *testing.T, n labNeeds) *testEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("drill: skipped with -short")
	}
	b := backendForTests(t)
	if n.failover && n.netnsOnly == "" {
		n.netnsOnly = "the failover lab runs on the netns backend only"
	}
	if b.Name() != "netns" && n.netnsOnly != "" {
		t.Skipf("%s (DRDRILL_BACKEND=%s)", n.netnsOnly, b.Name())
	}
	if b.Name() == "netns" {
		t.Parallel()
	}
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, map[string]lab.Backend{b.Name(): b}); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir, Backend: b, Failover: n.failover})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	tg, err := lab.Open(context.Background(), info, b)
	if err != nil {
		t.Fatalf("open lab: %v", err)
	}
	t.Cleanup(func() { tg.Close() })
	e, err := harness.NewEnv(context.Background(), tg, nil)
	if err != nil {
		t.Fatalf("new env: %v", err)
	}
	return &testEnv{Env: e, T: tg, Lab: info, Primary: target.Primary(tg).DB, Replica: target.Replica(tg).DB}
}

// backendForTests is netns unless DRDRILL_BACKEND=docker.
func backendForTests(t *testing.T) lab.Backend {
	t.Helper()
	name := os.Getenv("DRDRILL_BACKEND")
	if name == "" {
		name = "netns"
	}
	b, err := lab.BackendByName(name)
	if err != nil {
		t.Fatalf("DRDRILL_BACKEND: %v", err)
	}
	type preflighter interface{ Preflight() error }
	if p, ok := b.(preflighter); ok {
		if err := p.Preflight(); err != nil {
			t.Skipf("drill: the %s lab cannot run here: %v", b.Name(), err)
		}
	}
	return b
}

// writeReport keeps the report next to the test's output for a person to read.
func writeReport(t *testing.T, env *testEnv, r *report.Report) map[string]any {
	t.Helper()
	dir := t.TempDir()
	if err := report.Write(dir, r, env.Secrets()...); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	report.Console(&b, r, env.Secrets()...)
	t.Log("\n" + b.String())
	raw, err := os.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range env.Secrets() {
		if strings.Contains(string(raw), s) {
			t.Fatal("a lab secret reached report.json")
		}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVPNOutage(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), VPNOutage(VPNOutageOptions{}), env)
	m := writeReport(t, env, r)
	if r.Verdict != report.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	// The evidence the seed asks for, as the contract carries it.
	var sawConnecting, sawYesAfter bool
	for _, e := range m["timeline"].([]any) {
		ev := e.(map[string]any)
		if ev["kind"] != "io_state" {
			continue
		}
		d := ev["detail"].(map[string]any)
		if d["from"] == "Yes" && d["to"] == "Connecting" {
			sawConnecting = true
		}
		// MariaDB passes through Preparing on the way back: Connecting →
		// Preparing → Yes.
		if sawConnecting && d["to"] == "Yes" {
			sawYesAfter = true
		}
	}
	if !sawConnecting || !sawYesAfter {
		t.Errorf("timeline lacks io_state Yes→Connecting→Yes")
	}
	met := m["metrics"].(map[string]any)
	for _, k := range []string{"outage_detect_ms", "tunnel_recover_ms", "replica_recover_ms", "catchup_ms"} {
		if v, ok := met[k].(float64); !ok || v <= 0 {
			t.Errorf("metric %s = %v, want a positive number", k, met[k])
		}
	}
	if met["rows_written"].(float64) != 3 || met["rows_written_during_outage"].(float64) != 1 || met["rows_missing_on_replica"].(float64) != 0 {
		t.Errorf("row metrics: %v", met)
	}
	if len(r.Checks) != 6 {
		t.Errorf("want the 5 checks of the seed drill and steady_state, got %d", len(r.Checks))
	}
}

func TestVPNOutageFailsWhenFaultHasNoEffect(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), VPNOutage(VPNOutageOptions{Fault: "none"}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail || !strings.Contains(r.Diagnosis, "fault had no effect") {
		t.Fatalf("want fail 'fault had no effect', got %s: %s", r.Verdict, r.Diagnosis)
	}
}

// damage runs SQL on the replica without binlogging it, as an operator's
// stray write would diverge a replica.
func damage(sql string, args ...any) func(context.Context, *Drill) error {
	return func(ctx context.Context, d *Drill) error {
		conn, err := d.Replica.DB.DB().Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
			return err
		}
		_, err = conn.ExecContext(ctx, sql, append([]any{d.Env.Workload.DrillID}, args...)...)
		return err
	}
}

func TestVPNOutageFailsOnMissingRow(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), VPNOutage(VPNOutageOptions{Verify: VerifyOptions{
		BeforeVerify: damage("DELETE FROM testdb.ping WHERE drill_id = ? AND phase = ?", string(workload.PhaseDuring)),
	}}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail || r.Metrics.RowsMissingOnReplica != 1 {
		t.Fatalf("want fail with 1 missing row, got %s (%d missing): %s", r.Verdict, r.Metrics.RowsMissingOnReplica, r.Diagnosis)
	}
	if !strings.Contains(r.Diagnosis, "missing") || !strings.Contains(r.Diagnosis, workload.MsgDuring) {
		t.Fatalf("diagnosis must name the missing row: %s", r.Diagnosis)
	}
}

func TestVPNOutageFailsOnUnexpectedRow(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), VPNOutage(VPNOutageOptions{Verify: VerifyOptions{
		BeforeVerify: damage("INSERT INTO testdb.ping (msg, drill_id, writer, seq, phase) VALUES ('not from the primary', ?, 0, 999, 'during')"),
	}}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail || r.Metrics.RowsUnexpectedOnReplica != 1 || !strings.Contains(r.Diagnosis, "unexpected") {
		t.Fatalf("want fail with 1 unexpected row, got %s (%d unexpected): %s", r.Verdict, r.Metrics.RowsUnexpectedOnReplica, r.Diagnosis)
	}
}

// An interrupt in the middle of the outage still brings the tunnel back in
// the documented order and says the drill was interrupted.
func TestVPNOutageInterruptedDuringOutageRecovers(t *testing.T) {
	env := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Interrupt in the middle of the outage: when step 2 (the write during
	// the outage) has ended, as a ^C would arrive.
	env.Timeline.Subscribe(func(e timelineEvent) {
		if e.Kind == "step" && e.Map()["event"] == "end" && strings.HasPrefix(e.Map()["step"].(string), "step 2") {
			cancel()
		}
	})
	r := runDrill(ctx, VPNOutage(VPNOutageOptions{}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictError || !r.Interrupted {
		t.Fatalf("want an interrupted error verdict, got %s interrupted=%v", r.Verdict, r.Interrupted)
	}
	first, second := env.TunnelSides()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := waitHealthyForTest(wctx, first, second); err != nil {
		t.Fatalf("tunnel not recovered after the interrupt: %v", err)
	}
}

// A drill that runs out of time in the middle of the outage still brings the
// tunnel back and says it timed out.
func TestVPNOutageTimeoutDuringOutageRecovers(t *testing.T) {
	env := newEnv(t)
	sc := VPNOutage(VPNOutageOptions{})
	sc.Timeout = 1500 * time.Millisecond // the outage needs ~3 s to be seen
	r := runDrill(context.Background(), sc, env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictError || r.Interrupted || !strings.Contains(r.Error, "timed out") {
		t.Fatalf("want a timed-out error verdict, got %s interrupted=%v error=%q", r.Verdict, r.Interrupted, r.Error)
	}
	first, second := env.TunnelSides()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitHealthyForTest(wctx, first, second); err != nil {
		t.Fatalf("tunnel not recovered after the timeout: %v", err)
	}
}

// testEnv is a drill's record together with the lab it runs on, for tests
// that look at both.
type testEnv struct {
	*harness.Env
	T                *lab.Target
	Lab              *lab.Info
	Primary, Replica *replica.Conn
}

func runDrill(ctx context.Context, sc harness.Scenario, e *testEnv) *report.Report {
	return harness.Run(ctx, sc, e.T, e.Env)
}

// TunnelSides are the lab's tunnel sides, the primary's first.
func (e *testEnv) TunnelSides() (tunnel.Side, tunnel.Side) {
	return target.Primary(e.T).Side(), target.Replica(e.T).Side()
}

// ExecHost runs a command on a lab host named as the lab names it ("aws-gw").
func (e *testEnv) ExecHost(ctx context.Context, host string, argv ...string) ([]byte, error) {
	site, kind, _ := strings.Cut(host, "-")
	return e.T.Exec(ctx, target.Host{Site: site, Kind: target.HostKind(kind)}, argv...)
}

// A drill that leaves the replica's SQL thread stopped does not pass, even
// when its own checks did: the steady state after recovery says what was
// left.
func TestSteadyStateCatchesWhatADrillLeaves(t *testing.T) {
	env := newEnv(t)
	sc := harness.Scenario{Name: "leaves-sql-stopped", Timeout: time.Minute,
		Run: func(ctx context.Context, tg target.Target, env *harness.Env) error {
			if err := env.Check(check.Result{Name: "something", Verdict: check.Pass}); err != nil {
				return err
			}
			_, err := target.Replica(tg).DB.DB().ExecContext(ctx, "STOP SLAVE SQL_THREAD")
			return err
		}}
	r := runDrill(context.Background(), sc, env)
	writeReport(t, env, r)
	last := r.Checks[len(r.Checks)-1]
	if r.Verdict != report.VerdictFail || last.Name != "steady_state" || last.Passed() || !strings.Contains(r.Diagnosis, "replica threads") {
		t.Fatalf("want fail at steady_state naming the replica threads, got %s: %s (%+v)", r.Verdict, r.Diagnosis, last)
	}
}

// drdrill plan reads the live timings and changes nothing: the SAs (by
// SPI) and both servers' GTID positions are the same before and after
// every drill's plan.
func TestPlanChangesNothing(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	snapshot := func() string {
		first, second := env.TunnelSides()
		states, err := tunnel.Snapshot(ctx, first, second)
		if err != nil {
			t.Fatal(err)
		}
		s := ""
		for _, st := range states {
			for _, ike := range st.IKESAs {
				s += ike.Describe() + "\n"
			}
		}
		p, err := env.Primary.PrimaryPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := env.Replica.AppliedPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s + "primary " + p + "\nreplica " + r
	}
	before := snapshot()
	for _, sc := range All() {
		p, err := harness.MakePlan(ctx, sc, env.T)
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		var b strings.Builder
		p.Print(&b)
		if m := target.Missing(env.T, sc.Needs...); len(m) > 0 {
			// The four-host lab has no cluster: the plan says so.
			if !strings.Contains(b.String(), "cannot run here: the target lacks") {
				t.Errorf("%s: the plan does not say the target lacks %v:\n%s", sc.Name, m, b.String())
			}
			continue
		}
		if len(p.Steps) < 5 || p.Expected() <= 0 || p.Bound() < p.Expected() || !strings.Contains(b.String(), "changes nothing") {
			t.Errorf("%s: plan of %d steps, expected %s, bound %s:\n%s", sc.Name, len(p.Steps), p.Expected(), p.Bound(), b.String())
		}
		t.Logf("\n%s", b.String())
	}
	if after := snapshot(); after != before {
		t.Fatalf("plan changed something:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// The seed drill through the lab's own target file, on whichever backend
// DRDRILL_BACKEND names (make test runs it on docker too): hosts reached
// with ip netns exec or docker exec, sockets through the filesystem.
func TestVPNOutageTargetFile(t *testing.T) {
	env := newEnv(t)
	b, err := lab.TargetFile(env.Lab, lab.TargetFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := targetfile.Parse(b, "lab.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	tg, err := targetfile.Open(context.Background(), f, func(_ context.Context, via, _ string) (transport.Host, error) {
		if kind, name, ok := targetfile.LocalVia(via); ok {
			if kind == "docker" {
				return transport.NewDocker(name)
			}
			return transport.NewNetns(name)
		}
		return transport.Local{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	e, err := harness.NewEnv(context.Background(), tg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := harness.Run(context.Background(), VPNOutage(VPNOutageOptions{}), tg, e)
	writeReport(t, &testEnv{Env: e}, r)
	if r.Verdict != report.VerdictPass || r.Target != f.Name {
		t.Fatalf("verdict %s on %s: %s", r.Verdict, r.Target, r.Diagnosis)
	}
}
