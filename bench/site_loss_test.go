package bench

import (
	"context"
	"math"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/scenarios"
)

// BenchmarkDrillSiteLoss runs the site-loss drill b.N times on one lab
// (each run restores the topology) with a 16 MB table to copy, and reports
// its wall time against its intrinsic waits (the declared ones — writes at
// risk, detection, the business on-prem — plus the promotion and the
// rebuild's copy), the rebuild's throughput over the VPN next to a plain
// TCP copy through the same tunnel, and RPO/RTO with their spread (run
// with -benchtime=10x for the 10 runs).
func BenchmarkDrillSiteLoss(b *testing.B) {
	be := backend(b, "netns")
	dir := labDir(b)
	b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
	b.StopTimer()
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir, Backend: be})
	if err != nil {
		b.Fatal(err)
	}
	o := scenarios.SiteLossOptions{}
	sc := scenarios.SiteLoss(o)
	fillBulk(b, info, be, 16)
	var wall, intrinsic time.Duration
	var rpoMS, rpoRows, rtoMS, mbps []float64
	for i := 0; i < b.N; i++ {
		env := openEnv(b, info, be)
		b.StartTimer()
		start := time.Now()
		r := harness.Run(context.Background(), sc, env.T, env.Env)
		d := time.Since(start)
		b.StopTimer()
		env.Close()
		if r.Verdict != report.VerdictPass {
			b.Fatalf("site-loss: %s: %s", r.Verdict, r.Diagnosis)
		}
		ex := r.Metrics.Extra
		wall += d
		// The declared waits (defaults: 1 s at risk, 2 s detection, 0.5 s
		// on-prem) plus what the promotion and the copy took.
		intrinsic += time.Second + 2*time.Second + 500*time.Millisecond +
			time.Duration((num(ex[string(harness.PromoteMS)])+num(ex[string(harness.RebuildLoadMS)]))*float64(time.Millisecond))
		rpoMS = append(rpoMS, num(ex[string(harness.RPOMS)]))
		rpoRows = append(rpoRows, num(ex[string(harness.RPORows)]))
		rtoMS = append(rtoMS, num(ex[string(harness.RTOMS)]))
		mbps = append(mbps, num(ex[string(harness.RebuildMBPerS)]))
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "s/drill")
	b.ReportMetric(intrinsic.Seconds()/n, "s-intrinsic/drill")
	b.ReportMetric(wall.Seconds()/intrinsic.Seconds(), "x-intrinsic")
	for _, m := range []struct {
		name string
		v    []float64
	}{{"rpo-ms", rpoMS}, {"rpo-rows", rpoRows}, {"rto-ms", rtoMS}, {"rebuild-MB/s", mbps}} {
		mean, sd, lo, hi := spread(m.v)
		b.ReportMetric(mean, m.name)
		b.ReportMetric(sd, m.name+"-sd")
		b.ReportMetric(lo, m.name+"-min")
		b.ReportMetric(hi, m.name+"-max")
	}
	b.ReportMetric(tunnelMBps(b, info), "tunnel-MB/s")
}

func spread(v []float64) (mean, sd, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	for _, x := range s {
		mean += x
	}
	mean /= float64(len(s))
	for _, x := range s {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(s))), s[0], s[len(s)-1]
}

// fillBulk writes mb MB into testdb.bulk on the primary and waits for the
// replica: the rebuild then has something to copy.
func fillBulk(b *testing.B, info *lab.Info, be lab.Backend, mb int) {
	b.Helper()
	env := openEnv(b, info, be)
	defer env.Close()
	ctx := context.Background()
	db := env.Primary.DB()
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS testdb.bulk (id INT AUTO_INCREMENT PRIMARY KEY, b LONGBLOB)"); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < mb*4; i++ { // 256 KiB a row, incompressible
		if _, err := db.ExecContext(ctx, "INSERT INTO testdb.bulk(b) VALUES (RANDOM_BYTES(1024)), (REPEAT(MD5(RAND()), 8192))"); err != nil {
			b.Fatal(err)
		}
	}
	pos, err := env.Primary.PrimaryPosition(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := env.Replica.WaitApplied(ctx, pos, time.Minute); err != nil {
		b.Fatal(err)
	}
}

// tunnelMBps is a plain 64 MB TCP copy from aws-db to onprem-db through
// the tunnel (socat at both ends, each inside its namespace).
func tunnelMBps(b *testing.B, info *lab.Info) float64 {
	b.Helper()
	ns := func(h string) string { return lab.HostName(info.ID, h) }
	addr := info.Sites["onprem"].DB.Addr
	recv := exec.Command("ip", "netns", "exec", ns("onprem-db"), "socat", "-u", "TCP-LISTEN:5001,bind="+addr+",reuseaddr", "OPEN:/dev/null")
	if err := recv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { recv.Process.Kill(); recv.Wait() }()
	start := time.Now()
	// The sender retries its connect until the listener is up.
	out, err := exec.Command("ip", "netns", "exec", ns("aws-db"), "bash", "-c",
		"for i in $(seq 50); do dd if=/dev/zero bs=1M count=64 status=none | socat -u - TCP:"+addr+":5001,retry=0 && exit 0; sleep 0.05; done; exit 1").CombinedOutput()
	if err != nil {
		b.Fatalf("tcp copy: %v %s", err, out)
	}
	return 64 * 1.048576 / time.Since(start).Seconds()
}
