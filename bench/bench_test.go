package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/scenarios"
)

var backends = lab.Backends()

// forBackends runs f as a sub-benchmark per lab backend (netns, docker),
// skipping a backend that cannot run here; DRDRILL_BACKEND picks one.
func forBackends(b *testing.B, f func(b *testing.B, be lab.Backend)) {
	for _, name := range []string{"netns", "docker"} {
		if only := os.Getenv("DRDRILL_BACKEND"); only != "" && only != name {
			continue
		}
		b.Run(name, func(b *testing.B) { f(b, backend(b, name)) })
	}
}

func backend(b *testing.B, name string) lab.Backend {
	be := backends[name]
	if p, ok := be.(interface{ Preflight() error }); ok {
		if err := p.Preflight(); err != nil {
			b.Skipf("the %s lab cannot run here: %v", name, err)
		}
	}
	return be
}

func labDir(b *testing.B) string { return filepath.Join(b.TempDir(), "lab") }

func up(b *testing.B, be lab.Backend, dir string) *lab.Info {
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir, Backend: be})
	if err != nil {
		b.Fatal(err)
	}
	return info
}

func down(b *testing.B, dir string) {
	if err := lab.Down(context.Background(), dir, backends); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLabUp: target ≤ 1.5 s on 2 cores (the shell recipe: 1.2 s).
func BenchmarkLabUp(b *testing.B) { forBackends(b, benchLabUp) }

func benchLabUp(b *testing.B, be lab.Backend) {
	for i := 0; i < b.N; i++ {
		dir := labDir(b)
		b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
		b.StartTimer()
		up(b, be, dir)
		b.StopTimer()
		down(b, dir)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/up")
}

// BenchmarkLabUpTLS is lab up --tls: a CA and a certificate per database
// made, the servers started with TLS, an account for TCP created.
func BenchmarkLabUpTLS(b *testing.B) {
	for i := 0; i < b.N; i++ {
		dir := labDir(b)
		b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
		b.StartTimer()
		if _, err := lab.Up(context.Background(), lab.Options{Dir: dir, TLS: true}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		down(b, dir)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/up")
}

// BenchmarkLabDown: target ≤ 0.5 s (the shell recipe: 2.1 s).
func BenchmarkLabDown(b *testing.B) { forBackends(b, benchLabDown) }

func benchLabDown(b *testing.B, be lab.Backend) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := labDir(b)
		b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
		up(b, be, dir)
		b.StartTimer()
		down(b, dir)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/down")
}

// benchDrill runs a scenario b.N times on one lab and reports its wall time
// against the intrinsic waits: the replica's net timeout (the outage is
// noticed), its connect retry (it reconnects) and the IKE exchange (measured
// as tunnel_recover_ms). Target: ≤ 1.1×.
func benchDrill(b *testing.B, be lab.Backend, name string) {
	sc, err := scenarios.Lookup(name)
	if err != nil {
		b.Fatal(err)
	}
	dir := labDir(b)
	b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
	b.StopTimer()
	info := up(b, be, dir)
	var wall, intrinsic, overhead time.Duration
	for i := 0; i < b.N; i++ {
		env := openEnv(b, info, be)
		b.StartTimer()
		start := time.Now()
		r := harness.Run(context.Background(), sc, env.T, env.Env)
		d := time.Since(start)
		b.StopTimer()
		env.Close()
		if r.Verdict != report.VerdictPass {
			b.Fatalf("%s: %s: %s", name, r.Verdict, r.Diagnosis)
		}
		ike := time.Duration(0)
		if r.Metrics.TunnelRecoverMS != nil {
			ike = time.Duration(*r.Metrics.TunnelRecoverMS * float64(time.Millisecond))
		}
		in := env.Timings.NetTimeout + env.Timings.ConnectRetry + ike
		wall += d
		intrinsic += in
		overhead += d - in
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "s/drill")
	b.ReportMetric(intrinsic.Seconds()/n, "s-intrinsic/drill")
	b.ReportMetric(wall.Seconds()/intrinsic.Seconds(), "x-intrinsic")
	b.ReportMetric(float64(harness.ReplicaPoll.Milliseconds()), "ms-stamp-resolution")
}

func BenchmarkDrillVPNOutage(b *testing.B) {
	forBackends(b, func(b *testing.B, be lab.Backend) { benchDrill(b, be, "vpn-outage") })
}

// BenchmarkDrills runs every other drill on the netns lab. Their intrinsic
// waits differ (DPD, a stuck replica's window), so x-intrinsic is only
// meaningful for the tunnel-down drills.
func BenchmarkDrills(b *testing.B) {
	for _, name := range []string{"wan-blackhole", "one-sided-recovery", "replica-stuck-connecting", "gateway-crash"} {
		b.Run(name, func(b *testing.B) { benchDrill(b, backend(b, "netns"), name) })
	}
}

// The reference shell recipe, measured in the same run for comparison.
func recipe(b *testing.B) string {
	// The shell prototype the project started from, when a copy sits
	// beside the repository (it is not part of it); $DRDRILL_SHELL_RECIPE
	// names another.
	p := os.Getenv("DRDRILL_SHELL_RECIPE")
	if p == "" {
		p = "../../shared/reference/lab-prototype.sh"
	}
	p, err := filepath.Abs(p)
	if err != nil {
		b.Skip(err)
	}
	if _, err := os.Stat(p); err != nil {
		b.Skipf("shell recipe not found at %s", p)
	}
	if os.Geteuid() != 0 {
		b.Skip("the shell recipe needs root")
	}
	return p
}

func runRecipe(b *testing.B, script, step, dir string) time.Duration {
	cmd := exec.Command("bash", script, step, dir)
	cmd.Env = append(os.Environ(), "LAB_PREFIX=drb"+fmt.Sprint(os.Getpid()%10000))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("lab-prototype.sh %s: %v\n%s", step, err, out)
	}
	return time.Since(start)
}

// BenchmarkShellRecipe measures the recipe's up, drill and down steps.
func BenchmarkShellRecipe(b *testing.B) {
	script := recipe(b)
	var upT, drillT, downT time.Duration
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(b.TempDir(), "proto")
		b.Cleanup(func() { exec.Command("bash", script, "down", dir).Run() })
		upT += runRecipe(b, script, "up", dir)
		drillT += runRecipe(b, script, "drill", dir)
		downT += runRecipe(b, script, "down", dir)
	}
	n := float64(b.N)
	b.ReportMetric(upT.Seconds()/n, "s/up")
	b.ReportMetric(drillT.Seconds()/n, "s/drill")
	b.ReportMetric(downT.Seconds()/n, "s/down")
}

// benchEnv is a drill's record with the lab target it runs on.
type benchEnv struct {
	*harness.Env
	T                *lab.Target
	Primary, Replica *replica.Conn
}

func openEnv(b *testing.B, info *lab.Info, be lab.Backend) *benchEnv {
	b.Helper()
	t, err := lab.Open(context.Background(), info, be)
	if err != nil {
		b.Fatal(err)
	}
	env, err := harness.NewEnv(context.Background(), t, nil)
	if err != nil {
		t.Close()
		b.Fatal(err)
	}
	return &benchEnv{Env: env, T: t, Primary: target.Primary(t).DB, Replica: target.Replica(t).DB}
}

func (e *benchEnv) Close() error { return e.T.Close() }

// TunnelSides are the lab's tunnel sides, the primary's first.
func (e *benchEnv) TunnelSides() (tunnel.Side, tunnel.Side) {
	return target.Primary(e.T).Side(), target.Replica(e.T).Side()
}
