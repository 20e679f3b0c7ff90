package clients

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/workload"
)

// The test's own network: two namespaces joined by a veth pair. srv holds
// two mariadbds and a DNS server, cli the clients. Nothing in this
// (the root) namespace can reach either: no route, no interface.
const (
	netPrefix = "10.231.0."
	ipDB1     = netPrefix + "1"
	ipDB2     = netPrefix + "2"
	ipDNS     = netPrefix + "53"
	ipCli     = netPrefix + "10"
	appUser   = "app"
	appPass   = "app-pw-not-secret"
	testTTL   = 1 // seconds, the flip's TTL
)

func needRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: namespaces and mariadbd (skipped under -short)")
	}
	if os.Geteuid() != 0 {
		t.Skip("integration test: needs root (network namespaces)")
	}
	for _, bin := range []string{"ip", "mariadbd", "mariadb-install-db"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("integration test: %s not installed", bin)
		}
	}
}

func run(t testing.TB, argv ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// makeNet creates the two namespaces and the veth pair; t.Cleanup deletes
// them (the veth goes with them) and checks they are gone.
func makeNet(t testing.TB) (srv, cli string) {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	srv, cli = "drcl-"+id+"-srv", "drcl-"+id+"-cli"
	for _, ns := range []string{srv, cli} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			_ = exec.Command("ip", "netns", "del", ns).Run()
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
				t.Errorf("namespace %s left behind", ns)
			}
			if _, err := os.Stat(filepath.Join("/etc/netns", ns)); err == nil {
				t.Errorf("/etc/netns/%s left behind", ns)
			}
		})
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "link", "add", "dcl"+id+"s", "netns", srv, "type", "veth", "peer", "name", "dcl"+id+"c", "netns", cli)
	for _, a := range []string{ipDB1, ipDB2, ipDNS} {
		run(t, "ip", "-n", srv, "addr", "add", a+"/24", "dev", "dcl"+id+"s")
	}
	run(t, "ip", "-n", cli, "addr", "add", ipCli+"/24", "dev", "dcl"+id+"c")
	run(t, "ip", "-n", srv, "link", "set", "dcl"+id+"s", "up")
	run(t, "ip", "-n", cli, "link", "set", "dcl"+id+"c", "up")
	return srv, cli
}

// db is a throwaway mariadbd in namespace ns, listening on ip:3306 and on
// a unix socket (the test's admin path: a file, not a lab address).
type db struct {
	ip, socket string
	root       *sql.DB
	kill       func() // SIGKILL, and wait for the exit
}

func startDB(t *testing.T, ns, ip string, serverID int) *db {
	t.Helper()
	dir, err := os.MkdirTemp("", "drcl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"data", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &db{ip: ip, socket: filepath.Join(dir, "m.sock")}
	cnf := filepath.Join(dir, "my.cnf")
	conf := fmt.Sprintf(`[mysqld]
datadir=%[1]s/data
tmpdir=%[1]s/tmp
socket=%[2]s
pid-file=%[1]s/m.pid
log-error=%[1]s/error.log
bind-address=%[3]s
port=3306
server-id=%[4]d
skip-name-resolve
user=root
innodb_log_file_size=4M
innodb_buffer_pool_size=32M
performance_schema=OFF
`, dir, s.socket, ip, serverID)
	if err := os.WriteFile(cnf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	install := exec.CommandContext(ctx, "mariadb-install-db", "--defaults-file="+cnf, "--auth-root-authentication-method=normal", "--skip-test-db")
	install.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	// ip netns exec execs mariadbd: the pid is the server's.
	cmd := exec.Command("ip", "netns", "exec", ns, "mariadbd", "--defaults-file="+cnf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited := make(chan struct{})
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mariadbd: %v", err)
	}
	go func() { _ = cmd.Wait(); close(exited) }()
	s.kill = func() { _ = cmd.Process.Kill(); <-exited }
	t.Cleanup(s.kill)
	s.root, err = sql.Open("mysql", "root@unix("+s.socket+")/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.root.Close() })
	err = poll.Until(ctx, "mariadbd "+s.socket+" to accept connections", 20*time.Millisecond, 0, func(ctx context.Context) (bool, string, error) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		if err := s.root.PingContext(pctx); err != nil {
			select {
			case <-exited:
				return false, err.Error(), errors.New("mariadbd exited before accepting connections")
			default:
				return false, err.Error(), nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("%v\n%s", err, log)
	}
	if err := workload.ApplySchema(ctx, s.root); err != nil {
		t.Fatal(err)
	}
	// An application user: without READ ONLY ADMIN (root has it), so
	// read_only refuses its writes with 1290.
	s.exec(t, "CREATE USER '"+appUser+"'@'%' IDENTIFIED BY '"+appPass+"'")
	s.exec(t, "GRANT SELECT, INSERT ON testdb.* TO '"+appUser+"'@'%'")
	return s
}

func (s *db) exec(t *testing.T, q string) {
	t.Helper()
	if _, err := s.root.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (s *db) setReadOnly(t *testing.T, on bool) {
	v := "OFF"
	if on {
		v = "ON"
	}
	s.exec(t, "SET GLOBAL read_only = "+v)
}

// rows returns the (writer, seq) of drill's rows on s.
func (s *db) rows(t *testing.T, drill string) map[[2]int64]int {
	t.Helper()
	r, err := s.root.Query("SELECT writer, seq FROM testdb.ping WHERE drill_id = ?", drill)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[[2]int64]int{}
	for r.Next() {
		var k [2]int64
		if err := r.Scan(&k[0], &k[1]); err != nil {
			t.Fatal(err)
		}
		out[k]++
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dnsServer answers writer.cluster.lab. with a CNAME to the current
// instance name and that name's A record, like unbound's local-data.
type dnsServer struct {
	mu     sync.Mutex
	writer string // instance the writer name points to
	a      map[string]string
}

func (d *dnsServer) flip(to string) {
	d.mu.Lock()
	d.writer = to
	d.mu.Unlock()
}

func (d *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		if name == "writer.cluster.lab." {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: testTTL}, Target: d.writer})
			name = d.writer
		}
		ip, ok := d.a[name]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: testTTL}, A: net.ParseIP(ip)})
		}
	}
	_ = w.WriteMsg(m)
}

// startDNS serves d on ipDNS:53 inside ns (the socket made in it).
func startDNS(t testing.TB, ns string, d *dnsServer) {
	t.Helper()
	nd, err := NewNetnsDialer(ns)
	if err != nil {
		t.Fatal(err)
	}
	var pc net.PacketConn
	if err := nd.Do(func() (err error) { pc, err = net.ListenPacket("udp4", ipDNS+":53"); return err }); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: d, NotifyStartedFunc: func() { close(started) }}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served:
		t.Fatalf("DNS server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(); <-served })
}

// labEnv is the test's network with db1 writable, db2 read-only, the DNS
// server's writer name on db1, and a dialer and resolver for the clients'
// namespace.
func labEnv(t *testing.T) (db1, db2 *db, d *dnsServer, nd *NetnsDialer, res *NamespaceResolver, cliNS string) {
	needRoot(t)
	srvNS, cliNS := makeNet(t)
	start := time.Now()
	db1, db2 = startDB(t, srvNS, ipDB1, 1), startDB(t, srvNS, ipDB2, 2)
	t.Logf("two mariadbds up in %v", time.Since(start).Round(time.Millisecond))
	db2.setReadOnly(t, true)
	d = &dnsServer{writer: "db1.cluster.lab.", a: map[string]string{"db1.cluster.lab.": ipDB1, "db2.cluster.lab.": ipDB2}}
	startDNS(t, srvNS, d)
	var err error
	if nd, err = NewNetnsDialer(cliNS); err != nil {
		t.Fatal(err)
	}
	if res, err = NewNamespaceResolver(nd, ipDNS); err != nil {
		t.Fatal(err)
	}
	return db1, db2, d, nd, res, cliNS
}

// TestFailoverProfiles flips writer.cluster.lab from db1 to db2 (db1 made
// read-only first, as a planned failover does) under the five built-in
// clients running inside their own namespace, then fails back.
func TestFailoverProfiles(t *testing.T) {
	db1, db2, d, nd, res, cliNS := labEnv(t)
	ctx := context.Background()
	if ips, err := res.LookupIPv4(ctx, "writer.cluster.lab"); err != nil || len(ips) != 1 || ips[0].String() != ipDB1 {
		t.Fatalf("resolve writer.cluster.lab from %s: %v %v, want %s", cliNS, ips, err, ipDB1)
	}

	// Every socket a NetnsDialer makes is checked to be in its namespace;
	// a socket of this namespace fails that check.
	c, err := nd.DialContext(ctx, "tcp", ipDB1+":3306")
	if err != nil {
		t.Fatal(err)
	}
	inCli := nd.ino
	raw, _ := c.(*net.TCPConn).SyscallConn()
	if err := checkRaw(raw, inCli); err != nil {
		t.Errorf("a dialled socket is not in %s: %v", cliNS, err)
	}
	c.Close()
	here, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hraw, _ := here.(*net.UDPConn).SyscallConn()
	if err := checkRaw(hraw, inCli); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a socket of the root namespace passed the namespace check: %v", err)
	}
	here.Close()

	ledger := workload.NewLedger(workload.NewDrillID())
	const interval = 10 * time.Millisecond
	var clients []*Client
	for i, p := range Builtins() {
		cl, err := New(Config{Name: "cli/" + p.Name, Profile: p, Cluster: "writer.cluster.lab", Instance: "db1.cluster.lab",
			User: appUser, Password: appPass, Dialer: nd, Resolver: res, Ledger: ledger, Writer: i + 1,
			Interval: interval, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Stop() })
		clients = append(clients, cl)
	}
	byName := func(n string) *Client {
		for _, c := range clients {
			if c.cfg.Profile.Name == n {
				return c
			}
		}
		t.Fatalf("no client %s", n)
		return nil
	}
	allAcked := func(n int) (bool, string) {
		var seen []string
		ok := true
		for _, c := range clients {
			st := c.Stats()
			if st.Acked < n {
				ok = false
			}
			seen = append(seen, fmt.Sprintf("%s %d acked %v", st.Profile, st.Acked, st.ErrorsByCode))
		}
		return ok, strings.Join(seen, "; ")
	}
	waitForSeen(t, "every client to write 10 rows on db1", 5*time.Second, func() (bool, string) { return allAcked(10) })
	for _, c := range clients {
		if st := c.Stats(); st.Failed+st.Unknown != 0 || st.AckedByServer[1] != st.Acked {
			t.Fatalf("%s before the failover: %+v", st.Client, st)
		}
	}

	// Failover: db1 read-only, db2 writable, then the name flipped.
	for _, c := range clients {
		c.SetPhase(workload.PhaseDuring)
	}
	// Until every client has been refused once (a drill waits here for
	// the reader to catch up): a failover between two writes would go
	// unseen by a client, and this test is about what each one sees.
	foStart := time.Now()
	db1.setReadOnly(t, true)
	waitForSeen(t, "every client to be refused by read-only db1", 5*time.Second, func() (bool, string) {
		for _, c := range clients {
			if st := c.Stats(); st.ErrorsByCode[CodeReadOnly] == 0 {
				return false, st.Client + ": " + fmt.Sprint(st.ErrorsByCode)
			}
		}
		return true, ""
	})
	db2.setReadOnly(t, false)
	d.flip("db2.cluster.lab.")
	flipped := time.Now()
	t.Logf("failover (read_only, every client refused, promote, flip) took %v", flipped.Sub(foStart).Round(time.Microsecond))

	recovering := []string{FreshPerWrite, PoolRejectReadOnly}
	bound := testTTL*time.Second + interval
	waitForSeen(t, "fresh-per-write and pool-reject-read-only to write on db2", bound+time.Second, func() (bool, string) {
		var seen []string
		for _, n := range recovering {
			st := byName(n).Stats()
			if st.Recovered == nil {
				return false, fmt.Sprintf("%s: %d failures %v", n, st.Failed, st.ErrorsByCode)
			}
			seen = append(seen, n)
		}
		return true, strings.Join(seen, ",")
	})
	// Hold: the stuck clients go on failing on db1 for 2 s more.
	hold := time.Now()
	waitForSeen(t, "the stuck clients to fail for 2 s after the flip", 5*time.Second, func() (bool, string) {
		for _, n := range []string{PoolPinned, DNSCached, InstanceEndpointApp} {
			lf := byName(n).Stats().LastFailure
			if lf == nil || lf.At.Sub(hold) < 2*time.Second {
				return false, n + " not failing for 2 s yet"
			}
		}
		return true, ""
	})
	for _, n := range recovering {
		st := byName(n).Stats()
		if d := st.Diagnosis(time.Time{}, nil); !strings.Contains(d, "until it wrote again on "+ipDB2+":3306 (server_id 2); as its profile expects") {
			t.Errorf("%s: diagnosis %q", n, d)
		}
		r := st.Recovered
		after := r.AckAt.Sub(flipped)
		t.Logf("%s: unavailable %v (resolution %v), %d failures %v, wrote again on server %d %v after the flip",
			n, st.WriteUnavailable.Round(time.Microsecond), st.Outages[0].Resolution.Round(time.Microsecond), st.Failed, st.ErrorsByCode, r.Server.ServerID, after.Round(time.Microsecond))
		if r.Server.ServerID != 2 || after > bound || st.FailingAtEnd {
			t.Errorf("%s: recovered on server %d %v after the flip (want server 2 within TTL+interval %v), failing at end %v", n, r.Server.ServerID, after, bound, st.FailingAtEnd)
		}
		if st.ErrorsByCode[CodeReadOnly] == 0 || st.Outages[0].Resolution > 2*interval {
			t.Errorf("%s: no 1290 seen (%v) or resolution %v > 2 intervals", n, st.ErrorsByCode, st.Outages[0].Resolution)
		}
	}
	for _, n := range []string{PoolPinned, DNSCached, InstanceEndpointApp} {
		st := byName(n).Stats()
		lf := st.LastFailure
		t.Logf("%s: stuck: %d writes refused %v, last on %s server %d read_only=%v (read on its connection: %v), %d lookups; expected: %s",
			n, st.Failed, st.ErrorsByCode, lf.Server.Addr, lf.Server.ServerID, lf.Server.ReadOnly, lf.Server.Read, st.Lookups, st.Expected.Why)
		if !st.FailingAtEnd || st.Recovered != nil || st.AckedByServer[2] != 0 || lf.Code != CodeReadOnly || lf.Server.Addr != ipDB1+":3306" ||
			st.FailuresByAddr[ipDB1+":3306"] != st.Failed {
			t.Errorf("%s: want stuck on %s with 1290: %+v", n, ipDB1, st)
		}
		if !st.Expected.Stuck {
			t.Errorf("%s: stuck, but its profile expects it to recover", n)
		}
	}
	if st := byName(PoolPinned).Stats(); !st.LastFailure.Server.Read || st.LastFailure.Server.ServerID != 1 || !st.LastFailure.Server.ReadOnly {
		t.Errorf("pool-pinned: its failure's server not read as db1 read-only on its own connection: %+v", st.LastFailure.Server)
	}
	if st := byName(DNSCached).Stats(); st.Lookups != 1 {
		t.Errorf("dns-cached: %d lookups, want 1 (at start)", st.Lookups)
	}

	// Failback: pool-pinned and dns-cached write again on db1.
	for _, c := range clients {
		c.SetPhase(workload.PhaseAfter)
	}
	fb := time.Now() // the failback begins
	db2.setReadOnly(t, true)
	db1.setReadOnly(t, false)
	d.flip("db1.cluster.lab.")
	waitForSeen(t, "every client to write after the failback", 5*time.Second, func() (bool, string) {
		for _, c := range clients {
			if st := c.Stats(); st.FailingAtEnd || st.LastFailure == nil || st.Acked == 0 {
				return false, st.Client + " still failing"
			}
		}
		return true, ""
	})
	// Stop, then every acknowledged write is on exactly one server, and no
	// failed write is on any.
	var stats []Stats
	for _, c := range clients {
		stats = append(stats, c.Stop())
	}
	for _, st := range stats {
		diag := st.Diagnosis(fb, nil)
		t.Log(diag)
		if strings.Contains(diag, "NOT as its profile expects") {
			t.Errorf("%s", diag)
		}
		if st.Profile == PoolPinned {
			if !strings.Contains(diag, "by "+ipDB1+":3306 (server_id 1) (read-only) for ") || !strings.Contains(diag, "until failback") {
				t.Errorf("pool-pinned diagnosis does not name the demoted writer and the failback: %q", diag)
			}
			r := st.Recovered
			t.Logf("pool-pinned: wrote again on server %d %v after the failback; unavailable %v", r.Server.ServerID, r.AckAt.Sub(fb).Round(time.Microsecond), st.WriteUnavailable.Round(time.Millisecond))
			if r.Server.ServerID != 1 || r.AckAt.Before(fb) {
				t.Errorf("pool-pinned recovered on server %d at %v, want db1 after the failback", r.Server.ServerID, r.AckAt)
			}
		}
	}
	on1, on2 := db1.rows(t, ledger.DrillID()), db2.rows(t, ledger.DrillID())
	entries := ledger.Entries()
	for _, e := range entries {
		k := [2]int64{int64(e.Writer), e.Seq}
		if on1[k]+on2[k] != 1 {
			t.Errorf("acknowledged writer %d seq %d: %d rows on db1, %d on db2", e.Writer, e.Seq, on1[k], on2[k])
		}
	}
	for _, a := range ledger.Failed() {
		k := [2]int64{int64(a.Writer), a.Seq}
		if on1[k]+on2[k] != 0 {
			t.Errorf("failed writer %d seq %d (%s) is on a server", a.Writer, a.Seq, a.Err)
		}
	}
	if len(on1)+len(on2) != len(entries) {
		t.Errorf("%d rows on the servers, %d acknowledged (unknown: %d)", len(on1)+len(on2), len(entries), len(ledger.Unknown()))
	}
	t.Logf("%d acknowledged, %d failed, %d unknown; db1 %d rows, db2 %d", len(entries), len(ledger.Failed()), len(ledger.Unknown()), len(on1), len(on2))
}

func checkRaw(rc interface{ Control(func(uintptr)) error }, ino uint64) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = socketInNamespace(int(fd), ino) }); cerr != nil {
		return cerr
	}
	return err
}

// TestCrashedWriter is the unplanned failover: db1 killed, db2 promoted,
// the name flipped. A pinned pool recovers here (its validation query
// fails on the dead connections, and the new ones re-resolve): what pins
// it in a planned failover is a demoted writer that still answers. A
// dns-cached client is refused at the dead address (2003).
func TestCrashedWriter(t *testing.T) {
	db1, db2, d, nd, res, _ := labEnv(t)
	ctx := context.Background()
	ledger := workload.NewLedger(workload.NewDrillID())
	const interval = 10 * time.Millisecond
	var pinned, cached *Client
	for i, name := range []string{PoolPinned, DNSCached} {
		cl, err := New(Config{Name: "cli/" + name, Profile: mustBuiltin(t, name), Cluster: "writer.cluster.lab",
			User: appUser, Password: appPass, Dialer: nd, Resolver: res, Ledger: ledger, Writer: i + 1,
			Interval: interval, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Stop() })
		if name == PoolPinned {
			pinned = cl
		} else {
			cached = cl
		}
	}
	waitFor(t, "both clients to write 10 rows", func() bool { return pinned.Stats().Acked >= 10 && cached.Stats().Acked >= 10 })
	killed := time.Now()
	db1.kill()
	waitForSeen(t, "both clients to fail on the dead writer", 5*time.Second, func() (bool, string) {
		p, c := pinned.Stats(), cached.Stats()
		return p.LastFailure != nil && c.LastFailure != nil, fmt.Sprint(p.ErrorsByCode, c.ErrorsByCode)
	})
	db2.setReadOnly(t, false)
	d.flip("db2.cluster.lab.")
	waitForSeen(t, "pool-pinned to write on db2", 5*time.Second, func() (bool, string) {
		st := pinned.Stats()
		return st.AckedByServer[2] > 0, fmt.Sprint(st.ErrorsByCode)
	})
	// dns-cached keeps failing at the dead address for 200 ms more.
	held := time.Now()
	waitForSeen(t, "dns-cached to fail for 200 ms after the flip", 5*time.Second, func() (bool, string) {
		lf := cached.Stats().LastFailure
		return lf.At.Sub(held) > 200*time.Millisecond, lf.Err
	})
	p, c := pinned.Stop(), cached.Stop()
	t.Log(p.Diagnosis(time.Time{}, nil))
	t.Log(c.Diagnosis(time.Time{}, nil))
	t.Logf("pool-pinned: unavailable %v from the kill's last ack; codes %v; dns-cached codes %v; unknown outcomes %d (in flight when killed)",
		p.WriteUnavailable.Round(time.Millisecond), p.ErrorsByCode, c.ErrorsByCode, len(ledger.Unknown()))
	if p.FailingAtEnd || p.Recovered == nil || p.Recovered.Server.ServerID != 2 {
		t.Errorf("pool-pinned did not recover on db2 after a crash: %+v", p)
	}
	if !c.FailingAtEnd || c.AckedByServer[2] != 0 || c.LastFailure.Code != CodeCannotConnect || c.LastFailure.Sent || c.LastFailure.Server.Addr != ipDB1+":3306" {
		t.Errorf("dns-cached: want stuck with 2003 (unsent) at the dead address: %+v", c.LastFailure)
	}
	if p.FirstFailure.At.Before(killed) {
		t.Errorf("pool-pinned failed before the kill: %+v", p.FirstFailure)
	}
}

// The resolver's failing paths, from inside the namespace: an unknown name
// (NXDOMAIN), a name with no address, and a server that never answers
// (asked again per attempt until the lookup's deadline, then an error).
func TestNamespaceResolver(t *testing.T) {
	needRoot(t)
	srv, cli := makeNet(t)
	startDNS(t, srv, &dnsServer{writer: "db9.cluster.lab.", a: map[string]string{"db1.cluster.lab.": ipDB1}})
	nd, err := NewNetnsDialer(cli)
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewNamespaceResolver(nd, ipDNS)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ips, err := res.LookupIPv4(ctx, "db1.cluster.lab"); err != nil || len(ips) != 1 || !ips[0].Equal(net.ParseIP(ipDB1)) {
		t.Errorf("db1.cluster.lab: %v %v", ips, err)
	}
	if _, err := res.LookupIPv4(ctx, "nosuch.cluster.lab"); err == nil || !strings.Contains(err.Error(), "NXDOMAIN") {
		t.Errorf("unknown name: %v, want NXDOMAIN", err)
	}
	// writer.cluster.lab points at db9, which has no record: the server
	// says NXDOMAIN for the chain's end.
	if _, err := res.LookupIPv4(ctx, "writer.cluster.lab"); err == nil {
		t.Error("a CNAME to a name without an address resolved")
	}
	silent, err := NewNamespaceResolver(nd, netPrefix+"99")
	if err != nil {
		t.Fatal(err)
	}
	silent.Attempt = 100 * time.Millisecond
	tctx, cancel := context.WithTimeout(ctx, 350*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = silent.LookupIPv4(tctx, "db1.cluster.lab")
	if took := time.Since(start); err == nil || took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("a server that never answers: %v after %v, want an error at the 350 ms deadline", err, took)
	}
	if _, err := NewNamespaceResolver(nd, "dns.example"); err == nil {
		t.Error("a DNS server given by name was accepted")
	}
}
