package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
)

func requireFailoverLab(t *testing.T) {
	t.Helper()
	requireLab(t)
	if _, err := os.Stat(UnboundPath); err != nil {
		t.Skipf("failover lab test: unbound is not installed (apt-get install -y unbound): %v", err)
	}
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("failover lab test: dig is not installed (apt-get install -y bind9-dnsutils)")
	}
}

// upFailoverLab brings a failover lab up in a fresh dir, Down registered first.
func upFailoverLab(t *testing.T) *Info {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := Down(context.Background(), dir, testBackends); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	t0 := time.Now()
	info, err := Up(context.Background(), Options{Dir: dir, Failover: true})
	if err != nil {
		t.Fatalf("lab up (failover): %v", err)
	}
	t.Logf("failover lab up in %v", time.Since(t0))
	return info
}

// assertFailoverGone adds the failover lab's own leftovers to assertGone:
// its /etc/netns entries, and unbound.
func assertFailoverGone(t *testing.T, info *Info) {
	t.Helper()
	assertGone(t, info)
	for _, rc := range info.Failover.ResolvConfs {
		if _, err := os.Stat(filepath.Dir(rc)); err == nil {
			t.Errorf("%s left", filepath.Dir(rc))
		}
	}
	if ents, _ := os.ReadDir(EtcNetns); len(ents) > 0 {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), info.ID) {
				t.Errorf("%s/%s left", EtcNetns, e.Name())
			}
		}
	}
	if out, _ := exec.Command("pgrep", "-f", info.Failover.DNS.Config).Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("unbound of %s left: pids %s", info.ID, out)
	}
}

// digA asks the host's resolver (its /etc/netns resolv.conf: aws-dns) for
// name inside the host, and returns the answer section's records.
func dig(ctx context.Context, info *Info, host, name string) ([]string, error) {
	out, err := NetnsBackend{}.Exec(ctx, info, host, "dig", "+noall", "+answer", "+time=1", "+tries=1", name)
	if err != nil {
		return nil, err
	}
	var rrs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) == 5 {
			rrs = append(rrs, strings.Join(f, " "))
		}
	}
	return rrs, nil
}

// checkWriter checks that name answers a CNAME to want.cluster.lab with a
// TTL of at most CNAMETTL, and that instance's address.
func checkCNAME(rrs []string, name, want, addr string) error {
	var cname, a bool
	for _, rr := range rrs {
		f := strings.Fields(rr)
		ttl, _ := strconv.Atoi(f[1])
		switch {
		case f[0] == name+"." && f[3] == "CNAME":
			if f[4] != want+"."+ClusterZone+"." {
				return fmt.Errorf("%s is a CNAME to %s, want %s.%s", name, f[4], want, ClusterZone)
			}
			if ttl > int(CNAMETTL/time.Second) || ttl <= 0 {
				return fmt.Errorf("%s: CNAME TTL %d, want 1..%d", name, ttl, int(CNAMETTL/time.Second))
			}
			cname = true
		case f[0] == want+"."+ClusterZone+"." && f[3] == "A":
			if f[4] != addr {
				return fmt.Errorf("%s: A %s, want %s", f[0], f[4], addr)
			}
			a = true
		}
	}
	if !cname || !a {
		return fmt.Errorf("%s: want a CNAME to %s and its A record %s in one answer, got %q", name, want, addr, rrs)
	}
	return nil
}

// inHost runs this test binary's helper inside a lab host (`ip netns exec`:
// the socket is created in the host's namespace, its resolver reads the
// host's resolv.conf) and returns the helper's one-line result.
func inHost(ctx context.Context, info *Info, host, op, arg string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", HostName(info.ID, host), os.Args[0], "-test.run=^TestHelperFailoverNet$")
	cmd.Env = append(os.Environ(), "DRDRILL_HELPER_NET="+op+" "+arg)
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(l, "RESULT: "); ok {
			return r, nil
		}
	}
	return "", fmt.Errorf("helper in %s: %v: %s", host, err, out)
}

// TestHelperFailoverNet is not a test: inHost runs it inside a lab host.
func TestHelperFailoverNet(t *testing.T) {
	req := os.Getenv("DRDRILL_HELPER_NET")
	if req == "" {
		t.Skip("helper process only")
	}
	op, arg, _ := strings.Cut(req, " ")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch op {
	case "dial":
		c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", arg)
		if err != nil {
			fmt.Printf("RESULT: error %v\n", err)
			return
		}
		fmt.Printf("RESULT: connected %s -> %s\n", c.LocalAddr(), c.RemoteAddr())
		c.Close()
	case "resolve":
		r := &net.Resolver{PreferGo: true}
		cname, err := r.LookupCNAME(ctx, arg)
		if err != nil {
			fmt.Printf("RESULT: error %v\n", err)
			return
		}
		addrs, err := r.LookupHost(ctx, arg)
		if err != nil {
			fmt.Printf("RESULT: error %v\n", err)
			return
		}
		fmt.Printf("RESULT: %s %s\n", cname, strings.Join(addrs, ","))
	}
}

func TestFailoverLab(t *testing.T) {
	requireFailoverLab(t)
	info := upFailoverLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := info.Failover
	if f == nil || len(info.Resources.Namespaces) != 8 || len(info.Resources.Processes) != 6 || f.DNS.PID == 0 || f.DB2.PID == 0 {
		t.Fatalf("failover lab info: %+v, %d namespaces, %d processes", f, len(info.Resources.Namespaces), len(info.Resources.Processes))
	}

	t.Run("lab status shows the cluster", func(t *testing.T) {
		st, err := Status(ctx, info.Dir)
		if err != nil {
			t.Fatal(err)
		}
		c := st.Cluster
		if c == nil || c.Endpoints[WriterName] != "aws-db" || c.Endpoints[ReaderName] != "aws-db2" || len(c.Instances) != 2 ||
			c.Instances[0].ReadOnly || c.Instances[0].Replication != nil || !c.Instances[1].ReadOnly || c.Instances[1].Replication == nil {
			t.Fatalf("cluster status: %+v", c)
		}
		var b strings.Builder
		st.Print(&b)
		if !strings.Contains(b.String(), "writer.cluster.lab → aws-db, reader.cluster.lab → aws-db2") {
			t.Errorf("status:\n%s", b.String())
		}
	})

	t.Run("dns through the CNAME, TTL at most 5 s, from both app hosts and on-prem", func(t *testing.T) {
		for _, h := range []string{"aws-app", "peer-app", "aws-db", "aws-db2", "onprem-db"} {
			rrs, err := dig(ctx, info, h, WriterName)
			if err != nil {
				t.Fatalf("%s: %v", h, err)
			}
			if err := checkCNAME(rrs, WriterName, "aws-db", "10.20.11.123"); err != nil {
				t.Errorf("%s: %v", h, err)
			}
		}
		rrs, err := dig(ctx, info, "peer-app", ReaderName)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkCNAME(rrs, ReaderName, "aws-db2", db2Addr); err != nil {
			t.Error(err)
		}
		// Go's own resolver, in a process inside the namespace.
		for _, h := range []string{"aws-app", "peer-app"} {
			r, err := inHost(ctx, info, h, "resolve", WriterName)
			if err != nil {
				t.Fatal(err)
			}
			if r != "aws-db.cluster.lab. 10.20.11.123" {
				t.Errorf("%s: Go resolver: %s, want aws-db.cluster.lab. 10.20.11.123", h, r)
			}
		}
	})

	t.Run("the check fails on a wrong answer", func(t *testing.T) {
		rrs, _ := dig(ctx, info, "aws-app", WriterName)
		if err := checkCNAME(rrs, WriterName, "aws-db2", db2Addr); err == nil {
			t.Fatal("checkCNAME took aws-db's answer for aws-db2's")
		}
		long := []string{"writer.cluster.lab. 60 IN CNAME aws-db.cluster.lab.", "aws-db.cluster.lab. 60 IN A 10.20.11.123"}
		if err := checkCNAME(long, WriterName, "aws-db", "10.20.11.123"); err == nil || !strings.Contains(err.Error(), "TTL") {
			t.Fatalf("a 60 s CNAME passed: %v", err)
		}
	})

	t.Run("flip", func(t *testing.T) {
		for _, bad := range [][2]string{{"writer.example.com", "aws-db2"}, {WriterName, "onprem-db"}, {WriterName, "aws-db3"}} {
			var ie *InputError
			if err := FlipCNAME(ctx, info, bad[0], bad[1]); !errors.As(err, &ie) {
				t.Errorf("flip %s to %s: want an input error, got %v", bad[0], bad[1], err)
			}
		}
		tg, err := Open(ctx, info, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		t0 := time.Now()
		if err := tg.FlipCNAME(ctx, WriterName, "aws-db2"); err != nil {
			t.Fatal(err)
		}
		flipped := time.Since(t0)
		var last []string
		err = poll.Until(ctx, "writer.cluster.lab to resolve to aws-db2 in aws-app", 10*time.Millisecond, CNAMETTL, func(context.Context) (bool, string, error) {
			rrs, err := dig(ctx, info, "aws-app", WriterName)
			if err != nil {
				return false, err.Error(), nil
			}
			last = rrs
			return checkCNAME(rrs, WriterName, "aws-db2", db2Addr) == nil, fmt.Sprint(rrs), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("flip: unbound-control took %v; seen by a dig in aws-app %v after the flip began: %v", flipped, time.Since(t0), last)
		if c, err := CNAMEs(info); err != nil || c[WriterName] != "aws-db2" || c[ReaderName] != "aws-db2" {
			t.Fatalf("CNAMEs after the flip: %v %v", c, err)
		}
		if r, err := inHost(ctx, info, "peer-app", "resolve", WriterName); err != nil || r != "aws-db2.cluster.lab. "+db2Addr {
			t.Fatalf("peer-app after the flip: %q %v", r, err)
		}
		// And back: the zone's serial keeps growing, unbound keeps reloading.
		if err := FlipCNAME(ctx, info, WriterName+".", "aws-db.cluster.lab."); err != nil {
			t.Fatal(err)
		}
		rrs, err := dig(ctx, info, "aws-app", WriterName)
		if err != nil || checkCNAME(rrs, WriterName, "aws-db", "10.20.11.123") != nil {
			t.Fatalf("after the flip back: %v %v", rrs, err)
		}
	})

	t.Run("aws-db2 and onprem-db replicate from aws-db", func(t *testing.T) {
		primary, err := replica.OpenSocket(ctx, info.Sites[SiteAWS].DB.Socket, "root", "")
		if err != nil {
			t.Fatal(err)
		}
		defer primary.Close()
		db2, err := replica.OpenSocket(ctx, f.DB2.Socket, "root", "")
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()
		onprem, err := replica.OpenSocket(ctx, info.Sites[SiteOnPrem].DB.Socket, "root", "")
		if err != nil {
			t.Fatal(err)
		}
		defer onprem.Close()
		var sid, ro, lsu int
		if err := db2.DB().QueryRowContext(ctx, "SELECT @@server_id, @@read_only, @@log_slave_updates").Scan(&sid, &ro, &lsu); err != nil {
			t.Fatal(err)
		}
		if sid != 3 || ro != 1 || lsu != 1 {
			t.Errorf("aws-db2: server_id %d read_only %d log_slave_updates %d, want 3 1 1", sid, ro, lsu)
		}
		for name, c := range map[string]*replica.Conn{"aws-db2": db2, "onprem-db": onprem} {
			st, err := c.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.SourceHost != "10.20.11.123" || st.IO != replica.IOYes || !st.SQLRunning {
				t.Errorf("%s: source %s, IO %s, SQL %v; want aws-db, both running", name, st.SourceHost, st.IO, st.SQLRunning)
			}
		}
		msg := "failover-lab-" + info.ID
		if _, err := primary.DB().ExecContext(ctx, "INSERT INTO testdb.ping(msg) VALUES (?)", msg); err != nil {
			t.Fatal(err)
		}
		pos, err := primary.PrimaryPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]*replica.Conn{"aws-db2": db2, "onprem-db": onprem} {
			if err := c.WaitApplied(ctx, pos, 10*time.Second); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var n int
			if err := c.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM testdb.ping WHERE msg = ?", msg).Scan(&n); err != nil || n != 1 {
				t.Errorf("%s: %d rows of the one written on aws-db (%v)", name, n, err)
			}
		}
	})

	t.Run("peer-app reaches the AWS VPC and nothing else", func(t *testing.T) {
		r, err := inHost(ctx, info, "peer-app", "dial", "10.20.11.123:3306")
		if err != nil || !strings.HasPrefix(r, "connected 10.30.1.10:") {
			t.Fatalf("peer-app to aws-db:3306: %q %v", r, err)
		}
		r, err = inHost(ctx, info, "peer-app", "dial", db2Addr+":3306")
		if err != nil || !strings.HasPrefix(r, "connected 10.30.1.10:") {
			t.Fatalf("peer-app to aws-db2:3306: %q %v", r, err)
		}
		for _, dst := range []string{"192.168.64.15:3306", "198.51.100.2:22", "192.168.64.1:22"} {
			r, err := inHost(ctx, info, "peer-app", "dial", dst)
			if err != nil || !strings.Contains(r, "network is unreachable") {
				t.Errorf("peer-app to %s: want network is unreachable, got %q %v", dst, r, err)
			}
		}
		// The check fails where it should: from aws-app, on-prem is reachable.
		r, err = inHost(ctx, info, "aws-app", "dial", "192.168.64.15:3306")
		if err != nil || !strings.HasPrefix(r, "connected 10.20.21.10:") {
			t.Fatalf("aws-app to onprem-db:3306 through the tunnel: %q %v", r, err)
		}
	})

	if err := Down(context.Background(), info.Dir, testBackends); err != nil {
		t.Fatal(err)
	}
	assertFailoverGone(t, info)
}

// TestFailoverOnPremDNSNeedsTheTunnel: on-prem resolves AWS names through
// the tunnel. With the tunnel down a lookup there times out: onprem-gw has
// no route to 10.20.0.0/16 and its ICMP net unreachable is a soft error that
// a UDP socket does not report (Linux reports only hard ICMP errors on UDP
// without IP_RECVERR), so every try waits out its timeout — resolv.conf's
// timeout:1 attempts:2, 2 s per lookup for glibc and Go. AWS hosts resolve
// as before; with the tunnel back on-prem resolves again.
func TestFailoverOnPremDNSNeedsTheTunnel(t *testing.T) {
	requireFailoverLab(t)
	info := upFailoverLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := Connect(ctx, info)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Gateways[SiteAWS].Down(ctx, ConnName, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	rrs, err := dig(ctx, info, "onprem-db", WriterName)
	took := time.Since(t0)
	if err == nil {
		t.Fatalf("onprem-db resolved %s with the tunnel down: %v", WriterName, rrs)
	}
	if !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "no servers could be reached") {
		t.Errorf("dig in onprem-db with the tunnel down: want a timeout, got after %v: %v", took, err)
	}
	t1 := time.Now()
	// Absolute: "search cluster.lab" would make it two names, 2 s each.
	r, err := inHost(ctx, info, "onprem-db", "resolve", WriterName+".")
	goTook := time.Since(t1)
	if err != nil || !strings.HasPrefix(r, "error") || !strings.Contains(r, "timeout") {
		t.Errorf("Go resolver in onprem-db with the tunnel down: want a timeout, got %q %v", r, err)
	}
	if goTook < 1900*time.Millisecond || goTook > 2900*time.Millisecond {
		t.Errorf("Go resolver in onprem-db with the tunnel down gave up after %v, want resolv.conf's 2 s (1 s x 2)", goTook)
	}
	t.Logf("tunnel down: dig (+time=1 +tries=1) in onprem-db failed after %v; Go resolver (resolv.conf) after %v: %s", took, goTook, r)
	if rrs, err := dig(ctx, info, "aws-app", WriterName); err != nil || checkCNAME(rrs, WriterName, "aws-db", "10.20.11.123") != nil {
		t.Errorf("aws-app with the tunnel down: %v %v", rrs, err)
	}
	if _, err := h.Gateways[SiteAWS].Up(ctx, ConnName, ConnName, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	rrs, err = dig(ctx, info, "onprem-db", WriterName)
	if err != nil || checkCNAME(rrs, WriterName, "aws-db", "10.20.11.123") != nil {
		t.Fatalf("onprem-db with the tunnel back: %v %v", rrs, err)
	}
}

func TestFailoverLabRefusesDockerAndLongDirs(t *testing.T) {
	for _, c := range []struct {
		dir  string
		b    Backend
		want string
	}{
		{"/tmp/x", foFakeBackend{"docker"}, "netns backend only"},
		{"/tmp/" + strings.Repeat("d", 88), NetnsBackend{}, "aws-db2/mysqld.sock is 113 bytes"},
	} {
		err := checkFailover(c.dir, c.b)
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkFailover(%s, %s): want an input error with %q, got %v", c.dir, c.b.Name(), c.want, err)
		}
	}
	if err := checkFailover("/tmp/x", NetnsBackend{}); err != nil {
		if _, ok := err.(*EnvError); !ok {
			t.Errorf("a good failover lab dir: %v", err)
		}
	}
}

type foFakeBackend struct{ name string }

func (f foFakeBackend) Name() string                                              { return f.name }
func (foFakeBackend) Provision(context.Context, *Info, Recorder) error            { return errors.New("fake") }
func (foFakeBackend) Teardown(context.Context, *Info) error                       { return nil }
func (foFakeBackend) KillGateway(context.Context, *Info, string) error            { return nil }
func (foFakeBackend) StartGateway(context.Context, *Info, Recorder, string) error { return nil }
func (foFakeBackend) Exec(context.Context, *Info, string, ...string) ([]byte, error) {
	return nil, errors.New("fake")
}
func (foFakeBackend) ExecInput(context.Context, *Info, string, []byte, ...string) ([]byte, error) {
	return nil, errors.New("fake")
}

// TestHelperFailoverLabUp is not a test: TestDownAfterKilledFailoverUp
// runs it in a child and kills it with SIGKILL in the middle of Up.
func TestHelperFailoverLabUp(t *testing.T) {
	dir := os.Getenv("DRDRILL_HELPER_FAILOVER_UP")
	if dir == "" {
		t.Skip("helper process only")
	}
	Up(context.Background(), Options{Dir: dir, Failover: true})
}

func TestDownAfterKilledFailoverUp(t *testing.T) {
	requireFailoverLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFailoverLabUp$")
	cmd.Env = append(os.Environ(), "DRDRILL_HELPER_FAILOVER_UP="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); Down(context.Background(), dir, testBackends) })
	// Kill it once unbound is recorded: every namespace, resolv.conf and
	// daemon exists, the lab is not configured.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	started := poll.Until(ctx, "the helper's failover lab up to start unbound", 2*time.Millisecond, 0, func(context.Context) (bool, string, error) {
		i, err := Load(dir)
		if err != nil {
			return false, err.Error(), nil
		}
		if i.Failover == nil {
			return false, "no failover section yet", nil
		}
		return i.Failover.DNS.PID != 0, fmt.Sprintf("phase %s, %d processes", i.Phase, len(i.Resources.Processes)), nil
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if started != nil {
		t.Fatalf("helper never started unbound: %v", started)
	}
	info, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range info.Failover.ResolvConfs {
		if _, err := os.Stat(rc); err != nil {
			t.Fatalf("the killed up had written no %s: the test did not test the leftovers", rc)
		}
	}
	if err := Down(context.Background(), dir, testBackends); err != nil {
		t.Fatal(err)
	}
	assertFailoverGone(t, info)
}

// BenchmarkLabUpFailover: lab up with and without the failover hosts
// (targets: ≤ 0.5 s with, unchanged ~0.2 s without).
func BenchmarkLabUpFailover(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for _, fo := range []bool{false, true} {
		b.Run(fmt.Sprintf("failover=%v", fo), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				dir := filepath.Join(b.TempDir(), "lab")
				t0 := time.Now()
				if _, err := Up(context.Background(), Options{Dir: dir, Failover: fo}); err != nil {
					b.Fatal(err)
				}
				up := time.Since(t0)
				t1 := time.Now()
				if err := Down(context.Background(), dir, testBackends); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(up.Seconds(), "up_s")
				b.ReportMetric(time.Since(t1).Seconds(), "down_s")
			}
		})
	}
}
