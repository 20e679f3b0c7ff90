//go:build linux

package replica_test

import (
	"context"
	"fmt"
	"github.com/drdrill/drdrill/drilltest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
)

const dumpPW = `Dump-pa55'w\rd"x`

// rebuildOptions: onprem-db rebuilt from aws-db across the VPN, the
// pipeline in onprem-db's namespace with TMPDIR tmp (returned); a dump
// account on aws-db made without binlogging (its password never
// replicates).
func rebuildOptions(t testing.TB, tg *lab.Target) (o replica.RebuildOptions, tmp string) {
	t.Helper()
	ctx := context.Background()
	aws, onprem := target.Primary(tg).DB, target.Replica(tg).DB
	conn, err := aws.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pw, _ := replica.QuoteString(dumpPW, false)
	for _, q := range []string{"SET SESSION sql_log_bin = 0", "CREATE USER IF NOT EXISTS drdrill_dump@'%' IDENTIFIED BY " + pw,
		"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, BINLOG MONITOR ON *.* TO drdrill_dump@'%'",
		"SET SESSION sql_log_bin = 1"} { // the session goes back to the pool
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	info := tg.Info()
	sec, err := lab.LoadSecrets(info.Dir)
	if err != nil {
		t.Fatal(err)
	}
	host := target.Host{Site: "onprem", Kind: target.DBHost}
	tmp = t.TempDir()
	return replica.RebuildOptions{From: aws, To: onprem, FromName: "aws-db", ToName: "onprem-db",
		Run: func(ctx context.Context, stdin []byte, argv ...string) ([]byte, error) {
			return tg.ExecInput(ctx, host, stdin, append([]string{"env", "TMPDIR=" + tmp}, argv...)...)
		},
		Dump:     replica.Source{Host: info.Sites["aws"].DB.Addr, User: "drdrill_dump", Password: dumpPW},
		ToSocket: info.Sites["onprem"].DB.Socket, ToUser: "root", Databases: []string{"testdb"},
		Repl:    replica.Source{Host: info.Sites["aws"].DB.Addr, User: sec.ReplUser, Password: sec.ReplPassword},
		Timings: info.Timings.Replica()}, tmp
}

func fill(t testing.TB, c *replica.Conn, rows, size int) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.DB().ExecContext(ctx, "CREATE TABLE IF NOT EXISTS testdb.bulk (id INT AUTO_INCREMENT PRIMARY KEY, b LONGBLOB)"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		if _, err := c.DB().ExecContext(ctx, "INSERT INTO testdb.bulk(b) VALUES (RANDOM_BYTES(1024)), (REPEAT(MD5(RAND()), ?))", size/32); err != nil {
			t.Fatal(err)
		}
	}
}

func checksum(t testing.TB, c *replica.Conn, table string) string {
	t.Helper()
	var name, sum string
	if err := c.DB().QueryRowContext(context.Background(), "CHECKSUM TABLE "+table).Scan(&name, &sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// Rebuild refuses while the rebuilt server's errant transactions are not
// set aside; with them set aside it copies, replicates and catches up,
// and the errant row is gone.
func TestRebuildLab(t *testing.T) {
	tg := drilltest.NetnsLab(t)
	ctx := context.Background()
	o, tmp := rebuildOptions(t, tg)
	fill(t, o.From, 20, 64<<10)
	pos, _ := o.From.PrimaryPosition(ctx)
	if err := o.To.WaitApplied(ctx, pos, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := o.To.DB().ExecContext(ctx, "INSERT INTO testdb.ping(msg) VALUES ('errant on onprem')"); err != nil {
		t.Fatal(err)
	}
	errant, err := replica.ErrantGTIDs(ctx, o.To, o.From)
	if err != nil || errant == "" {
		t.Fatalf("no errant GTID made: %q %v", errant, err)
	}
	_, err = replica.Rebuild(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), errant) {
		t.Fatalf("rebuild over unsaved lost writes: %v", err)
	}
	if st, _ := o.To.Status(ctx); st.IO != replica.IOYes {
		t.Fatalf("a refused rebuild changed the replica: %s", st)
	}
	o.SetAside = errant
	res, err := replica.Rebuild(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes < 20*64<<10 {
		t.Errorf("%d bytes counted, want at least the %d filled in", res.Bytes, 20*64<<10)
	}
	t.Logf("rebuilt: %d bytes loaded in %s (%.1f MB/s), caught up after %s, position %s", res.Bytes, res.Load.Round(time.Millisecond), res.MBps(), res.Total.Round(time.Millisecond), res.Position)
	if strings.Contains(fmt.Sprint(res), dumpPW) {
		t.Fatal("the password leaked into the result")
	}
	var n int
	o.To.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM testdb.ping WHERE msg = 'errant on onprem'").Scan(&n)
	if n != 0 {
		t.Fatal("the errant row survived the rebuild")
	}
	if _, err := o.From.DB().ExecContext(ctx, "INSERT INTO testdb.ping(msg) VALUES ('after the rebuild')"); err != nil {
		t.Fatal(err)
	}
	pos, _ = o.From.PrimaryPosition(ctx)
	if err := o.To.WaitApplied(ctx, pos, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []string{"testdb.ping", "testdb.bulk"} {
		if a, b := checksum(t, o.From, tb), checksum(t, o.To, tb); a != b {
			t.Fatalf("%s differs after the rebuild: %s vs %s", tb, a, b)
		}
	}
	if e, err := replica.ErrantGTIDs(ctx, o.To, o.From); err != nil || e != "" {
		t.Fatalf("errant after the rebuild: %q %v", e, err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("option files left: %v", ents)
	}
	// A dump account that cannot log in: the error says so, without the
	// password.
	o.Dump.Password, o.SetAside = "wrong-"+dumpPW, ""
	if _, err := replica.Rebuild(ctx, o); err == nil || strings.Contains(err.Error(), dumpPW) || !strings.Contains(err.Error(), "Access denied") {
		t.Fatalf("a bad dump password: %v", err)
	}
}

// BenchmarkRebuild measures the load's throughput through the tunnel
// (kernel-libipsec) and, for comparison, a plain TCP copy across it.
func BenchmarkRebuild(b *testing.B) {
	tg := drilltest.NetnsLab(b)
	ctx := context.Background()
	o, _ := rebuildOptions(b, tg)
	fill(b, o.From, 100, 256<<10)
	b.ResetTimer()
	var mb float64
	for i := 0; i < b.N; i++ {
		res, err := replica.Rebuild(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		mb = res.MBps()
		b.ReportMetric(float64(res.Bytes)/1e6, "MB")
	}
	b.ReportMetric(mb, "MB/s")
	b.StopTimer()
	// The tunnel itself: 64 MB from aws-db to onprem-db over TCP.
	info := tg.Info()
	ns := func(h string) string { return lab.HostName(info.ID, h) }
	recv := exec.Command("ip", "netns", "exec", ns("onprem-db"), "socat", "-u", "TCP-LISTEN:5001,bind="+info.Sites["onprem"].DB.Addr+",reuseaddr", "OPEN:/dev/null")
	if err := recv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { recv.Process.Kill(); recv.Wait() }()
	time.Sleep(0) // the sender retries its connect below until the listener is up
	start := time.Now()
	out, err := exec.Command("ip", "netns", "exec", ns("aws-db"), "bash", "-c",
		"for i in $(seq 50); do dd if=/dev/zero bs=1M count=64 status=none | socat -u - TCP:"+info.Sites["onprem"].DB.Addr+":5001,retry=0 && exit 0; sleep 0.05; done; exit 1").CombinedOutput()
	if err != nil {
		b.Fatalf("tcp copy: %v %s", err, out)
	}
	b.ReportMetric(64*1.048576/time.Since(start).Seconds(), "tunnel-MB/s")
}
