package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/preflight"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/targetfile"
	"github.com/drdrill/drdrill/harness/transport"
	"github.com/drdrill/drdrill/harness/transport/sshhost"
	"github.com/drdrill/drdrill/scenarios"
)

// openLabFile opens the lab through its own target file, via its
// namespaces or via a real sshd per host (as drdrill lab target prints it).
func openLabFile(b *testing.B, info *lab.Info, via string) (target.Target, func()) {
	b.Helper()
	o := lab.TargetFileOptions{Via: via}
	if via == lab.ViaSSH {
		acc, err := lab.EnableSSH(info)
		if err != nil {
			b.Fatal(err)
		}
		o.SSH = acc
	}
	text, err := lab.TargetFile(info, o)
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "lab.yaml")
	os.WriteFile(p, text, 0o600)
	f, err := targetfile.Load(p)
	if err != nil {
		b.Fatal(err)
	}
	var pools []*sshhost.Pool
	t, err := targetfile.Open(context.Background(), f, func(ctx context.Context, v, _ string) (transport.Host, error) {
		if kind, name, ok := targetfile.LocalVia(v); ok && kind == "netns" {
			return transport.NewNetns(name)
		}
		s, _ := f.SSHFor(v)
		pool, err := sshhost.NewPool(sshhost.Options{KnownHosts: s.KnownHosts, IdentityFile: s.IdentityFile, ProxyCommand: s.ProxyCommand})
		if err != nil {
			return nil, err
		}
		pools = append(pools, pool)
		return pool.Host(ctx, v)
	})
	if err != nil {
		b.Fatal(err)
	}
	return t, func() {
		t.Close()
		for _, p := range pools {
			p.Close()
		}
	}
}

// BenchmarkDrillVPNOutageTargetFile is the seed drill through the lab's
// target file, via local namespaces and via ssh: its wall time against
// the intrinsic waits (target ≤ 1.1×) and the stamp resolution (≤ 50 ms
// over SSH).
func BenchmarkDrillVPNOutageTargetFile(b *testing.B) {
	for _, via := range []string{lab.ViaNetns, lab.ViaSSH} {
		b.Run(via, func(b *testing.B) {
			sc, _ := scenarios.Lookup("vpn-outage")
			be := backend(b, "netns")
			dir := labDir(b)
			b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
			b.StopTimer()
			info := up(b, be, dir)
			var wall, intrinsic time.Duration
			for i := 0; i < b.N; i++ {
				t, closeT := openLabFile(b, info, via)
				env, err := harness.NewEnv(context.Background(), t, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				r := harness.Run(context.Background(), sc, t, env)
				d := time.Since(start)
				b.StopTimer()
				closeT()
				if r.Verdict != report.VerdictPass {
					b.Fatalf("%s: %s", r.Verdict, r.Diagnosis)
				}
				ike := time.Duration(*r.Metrics.TunnelRecoverMS * float64(time.Millisecond))
				wall += d
				intrinsic += env.Timings.NetTimeout + env.Timings.ConnectRetry + ike
			}
			b.ReportMetric(wall.Seconds()/float64(b.N), "s/drill")
			b.ReportMetric(wall.Seconds()/intrinsic.Seconds(), "x-intrinsic")
			b.ReportMetric(float64(harness.ReplicaPoll.Milliseconds()), "ms-stamp-resolution")
		})
	}
}

// BenchmarkPreflightTargetFile is drdrill preflight's wall time on the lab
// through its target file, connections included (target ≤ 1 s).
func BenchmarkPreflightTargetFile(b *testing.B) {
	for _, via := range []string{lab.ViaNetns, lab.ViaSSH} {
		b.Run(via, func(b *testing.B) {
			be := backend(b, "netns")
			dir := labDir(b)
			b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
			b.StopTimer()
			info := up(b, be, dir)
			b.StartTimer()
			for i := 0; i < b.N; i++ {
				t, closeT := openLabFile(b, info, via)
				r := preflight.Check(context.Background(), t, preflight.Options{Scenarios: scenarios.All()})
				closeT()
				if !r.OK() {
					b.Fatalf("preflight: %v", r.Problems())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/preflight")
		})
	}
}
