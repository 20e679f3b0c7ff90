//go:build linux

package replica

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drdrill/drdrill/harness/poll"
)

// topoServer is one throwaway mariadbd of a test topology: it listens on
// 127.0.0.1:port inside a network namespace of its own (shared by the
// topology, removed at cleanup), and the test reaches it through its unix
// socket: nothing is dialled from this machine's namespace.
type topoServer struct {
	name   string
	id     int64
	port   int
	dir    string
	socket string
	root   *Conn   // root over the socket
	app    *sql.DB // an ordinary account: read_only refuses it (1290)
	exited <-chan struct{}
}

func (s *topoServer) source(pw string) Source {
	return Source{Host: "127.0.0.1", Port: s.port, User: "repl", Password: pw}
}

const (
	topoReplPW = `R3pl-pa55'w\rd`
	topoAppPW  = "app-pw-1"
)

var topoTimings = Timings{NetTimeout: 3 * time.Second, ConnectRetry: time.Second, Heartbeat: time.Second}

// startTopology starts n mariadbd (server ids 1..n, the lab's replication
// settings: GTID strict mode, log_slave_updates, ROW) from one datadir
// made once by mariadb-install-db. It does not configure replication.
// Everything (processes, namespace, files) is removed by t.Cleanup.
func startTopology(t testing.TB, n int) []*topoServer {
	t.Helper()
	if testing.Short() {
		t.Skip("integration: starts mariadbd; skipped under -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("integration: needs root (a network namespace, mariadbd as root)")
	}
	mariadbd, install, ipBin := findBin("mariadbd"), findBin("mariadb-install-db"), findBin("ip")
	if mariadbd == "" || install == "" || ipBin == "" {
		t.Skip("integration: mariadbd, mariadb-install-db or ip not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	ns := "drdrp-" + hex.EncodeToString(rnd[:])
	if out, err := exec.CommandContext(ctx, ipBin, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { // registered first: runs after the servers are gone
		if out, err := exec.Command(ipBin, "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	if out, err := exec.CommandContext(ctx, ipBin, "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", ns, err, out)
	}

	base, err := os.MkdirTemp("", "drp-") // short: sun_path is 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	const innodb = "innodb_log_file_size=4M\ninnodb_buffer_pool_size=32M\n"
	tmpl := filepath.Join(base, "tmpl")
	for _, d := range []string{"data", "tmp"} {
		require.NoError(t, os.MkdirAll(filepath.Join(tmpl, d), 0o700))
	}
	tcnf := filepath.Join(tmpl, "my.cnf")
	require.NoError(t, os.WriteFile(tcnf, []byte(fmt.Sprintf("[mysqld]\ndatadir=%[1]s/data\ntmpdir=%[1]s/tmp\nuser=root\nskip-networking\n%s",
		tmpl, innodb)), 0o600))
	if out, err := exec.CommandContext(ctx, install, "--defaults-file="+tcnf,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}

	servers := make([]*topoServer, n)
	for i := range servers {
		s := &topoServer{name: fmt.Sprintf("db%d", i+1), id: int64(i + 1), port: 3306 + i}
		s.dir = filepath.Join(base, s.name)
		s.socket = filepath.Join(s.dir, "s.sock")
		require.NoError(t, os.MkdirAll(filepath.Join(s.dir, "tmp"), 0o700))
		if out, err := exec.CommandContext(ctx, "cp", "-a", filepath.Join(tmpl, "data"), filepath.Join(s.dir, "data")).CombinedOutput(); err != nil {
			t.Fatalf("copy datadir: %v: %s", err, out)
		}
		cnf := filepath.Join(s.dir, "my.cnf")
		require.NoError(t, os.WriteFile(cnf, []byte(fmt.Sprintf(`[mysqld]
datadir=%[1]s/data
tmpdir=%[1]s/tmp
socket=%[2]s
pid-file=%[1]s/mysqld.pid
log-error=%[1]s/err.log
bind-address=127.0.0.1
port=%[3]d
server-id=%[4]d
user=root
skip-name-resolve
log-bin=%[1]s/data/binlog
binlog-format=ROW
log-slave-updates=ON
gtid-strict-mode=ON
relay-log=%[1]s/data/relay
performance_schema=OFF
innodb_flush_log_at_trx_commit=2
%[5]s`, s.dir, s.socket, s.port, s.id, innodb)), 0o600))
		cmd := exec.Command(ipBin, "netns", "exec", ns, mariadbd, "--defaults-file="+cnf) // ip execs mariadbd: same pid
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		logf, err := os.Create(filepath.Join(s.dir, "mariadbd.out"))
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = logf, logf
		exited := make(chan struct{})
		err = cmd.Start()
		t.Cleanup(func() {
			defer logf.Close()
			if cmd.Process == nil {
				return
			}
			_ = cmd.Process.Kill() // throwaway data
			<-exited
		})
		if err != nil {
			t.Fatalf("start %s: %v", s.name, err)
		}
		go func() { _ = cmd.Wait(); close(exited) }()
		s.exited = exited
		servers[i] = s
	}
	for _, s := range servers {
		err := poll.Until(ctx, s.name+" socket "+s.socket+" to accept connections", 10*time.Millisecond, 30*time.Second,
			func(ctx context.Context) (bool, string, error) {
				if !fileExists(s.socket) {
					return false, "no socket file yet", exitedErr(s.exited)
				}
				octx, cancel := context.WithTimeout(ctx, 2*time.Second)
				c, err := OpenSocket(octx, s.socket, "root", "")
				cancel()
				if err != nil {
					return false, err.Error(), exitedErr(s.exited)
				}
				s.root = c
				return true, "", nil
			})
		if err != nil {
			t.Fatalf("%v:\n%s", err, tail(filepath.Join(s.dir, "err.log"), 20))
		}
		t.Cleanup(func() { s.root.Close() })
	}
	return servers
}

// execAll runs statements as root, failing the test on an error.
func (s *topoServer) execAll(t testing.TB, ctx context.Context, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := s.root.DB().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %s: %v", s.name, q, err)
		}
	}
}

// setupReplication makes servers[0] the primary (replication and app
// users, the drill table) and the others read-only GTID replicas of it,
// caught up.
func setupReplication(t testing.TB, ctx context.Context, servers []*topoServer) {
	t.Helper()
	p := servers[0]
	require.NoError(t, p.root.CreateReplicationUser(ctx, "repl", topoReplPW))
	p.execAll(t, ctx,
		"CREATE USER 'app'@'localhost' IDENTIFIED BY '"+topoAppPW+"'",
		"CREATE DATABASE drill",
		"CREATE TABLE drill.t (seq BIGINT PRIMARY KEY, server INT NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
		"GRANT SELECT, INSERT ON drill.* TO 'app'@'localhost'",
		"INSERT INTO drill.t (seq, server) VALUES (-1, @@server_id), (-2, @@server_id)")
	for _, r := range servers[1:] {
		require.NoError(t, r.root.SetReadOnly(ctx, true))
		require.NoError(t, r.root.ConfigureReplica(ctx, p.source(topoReplPW), topoTimings))
	}
	for _, r := range servers[1:] {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := WaitIO(wctx, r.root, 10*time.Millisecond, IOYes)
		cancel()
		require.NoError(t, err, r.name)
		require.NoError(t, WaitCaughtUp(ctx, p.root, r.root, 10*time.Second), r.name)
	}
	for _, s := range servers {
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "unix", s.socket, "app", topoAppPW
		cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = time.Second, 2*time.Second, 2*time.Second
		cn, err := mysql.NewConnector(cfg)
		require.NoError(t, err)
		s.app = sql.OpenDB(cn)
		t.Cleanup(func() { s.app.Close() })
	}
}

// writer inserts a row every interval, as the app user, into whichever
// server is the primary now; it records what was acknowledged and every
// refusal (error number and the server that refused).
type writer struct {
	primary atomic.Pointer[topoServer]

	mu        sync.Mutex
	acked     []int64
	refused   map[string]int // "db1 1290" -> count
	other     []string       // any other error: the test fails on it
	firstFail time.Time      // of the current outage
	outages   []time.Duration
}

// run writes until stop is closed; stop is only looked at between writes,
// so that no write is left with an unknown outcome (a write cancelled in
// flight may still commit).
func (w *writer) run(ctx context.Context, stop <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for seq := int64(1); ; seq++ {
		s := w.primary.Load()
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := s.app.ExecContext(wctx, "INSERT INTO drill.t (seq, server) VALUES (?, @@server_id)", seq)
		cancel()
		now := time.Now()
		w.mu.Lock()
		var me *mysql.MySQLError
		switch {
		case err == nil:
			w.acked = append(w.acked, seq)
			if !w.firstFail.IsZero() {
				w.outages = append(w.outages, now.Sub(w.firstFail))
				w.firstFail = time.Time{}
			}
		case ctx.Err() != nil:
			w.mu.Unlock()
			return
		case errors.As(err, &me):
			w.refused[fmt.Sprintf("%s %d", s.name, me.Number)]++
			if w.firstFail.IsZero() {
				w.firstFail = now
			}
			if me.Number != 1290 {
				w.other = append(w.other, s.name+": "+err.Error())
			}
		default:
			w.other = append(w.other, s.name+": "+err.Error())
		}
		w.mu.Unlock()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// stepTimes are the durations of one switchover's steps.
type stepTimes struct {
	readOnly, caughtUp, promote, demote, repoint, ioYes time.Duration
}

func (s stepTimes) writable() time.Duration { return s.readOnly + s.caughtUp + s.promote }
func (s stepTimes) total() time.Duration    { return s.writable() + s.demote + s.repoint }

func (s stepTimes) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("read-only %s, caught up %s, promote %s (writable after %s), demote %s, repoint %s: switchover %s; replicas' IO Yes %s later",
		ms(s.readOnly), ms(s.caughtUp), ms(s.promote), ms(s.writable()), ms(s.demote), ms(s.repoint), ms(s.total()), ms(s.ioYes))
}

// switchover moves the primary from old to cand the planned way and
// repoints others; w (optional) is told the new primary once it is
// writable. It checks the result: new topology replicating, no errant
// GTIDs, read-only where it should be.
func switchover(t testing.TB, ctx context.Context, old, cand *topoServer, others []*topoServer, w *writer) stepTimes {
	t.Helper()
	var st stepTimes
	step := func(d *time.Duration, f func() error) {
		t.Helper()
		start := time.Now()
		err := f()
		*d = time.Since(start)
		require.NoError(t, err)
	}
	step(&st.readOnly, func() error { return old.root.SetReadOnly(ctx, true) })
	step(&st.caughtUp, func() error {
		if err := WaitCaughtUp(ctx, old.root, cand.root, 5*time.Second); err != nil {
			return err
		}
		errant, err := ErrantGTIDs(ctx, cand.root, old.root)
		if err == nil && errant != "" {
			err = fmt.Errorf("%s has errant GTIDs %s", cand.name, errant)
		}
		return err
	})
	step(&st.promote, func() error { return Promote(ctx, cand.root) })
	if w != nil {
		w.primary.Store(cand)
	}
	step(&st.demote, func() error { return Demote(ctx, old.root, cand.source(topoReplPW), topoTimings) })
	step(&st.repoint, func() error {
		for _, o := range others {
			if err := Repoint(ctx, o.root, cand.source(topoReplPW), topoTimings); err != nil {
				return fmt.Errorf("%s: %w", o.name, err)
			}
		}
		return nil
	})
	step(&st.ioYes, func() error {
		for _, r := range append([]*topoServer{old}, others...) {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := WaitIO(wctx, r.root, 5*time.Millisecond, IOYes)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
		}
		return nil
	})
	// The new topology, as each server reports it.
	ro, err := cand.root.ReadOnly(ctx)
	require.NoError(t, err)
	assert.False(t, ro, "%s promoted but read-only", cand.name)
	cst, err := cand.root.Status(ctx)
	require.NoError(t, err)
	assert.False(t, cst.Configured, "%s promoted but still a replica: %s", cand.name, cst)
	for _, r := range append([]*topoServer{old}, others...) {
		ro, err := r.root.ReadOnly(ctx)
		require.NoError(t, err)
		assert.True(t, ro, "%s must be read-only", r.name)
		src, err := r.root.SourceServerID(ctx)
		require.NoError(t, err)
		assert.Equal(t, cand.id, src, "%s replicates from server %d, want %s", r.name, src, cand.name)
		require.NoError(t, WaitCaughtUp(ctx, cand.root, r.root, 5*time.Second), r.name)
		errant, err := ErrantGTIDs(ctx, r.root, cand.root)
		require.NoError(t, err)
		assert.Empty(t, errant, "%s has GTIDs %s lacks", r.name, cand.name)
	}
	return st
}

// checksums returns CHECKSUM TABLE drill.t and the seqs on each server.
func checksums(t testing.TB, ctx context.Context, servers []*topoServer) ([]int64, [][]int64) {
	t.Helper()
	sums := make([]int64, len(servers))
	rows := make([][]int64, len(servers))
	for i, s := range servers {
		var name string
		require.NoError(t, s.root.DB().QueryRowContext(ctx, "CHECKSUM TABLE drill.t").Scan(&name, &sums[i]))
		r, err := s.root.DB().QueryContext(ctx, "SELECT seq FROM drill.t WHERE seq > 0 ORDER BY seq")
		require.NoError(t, err)
		for r.Next() {
			var seq int64
			require.NoError(t, r.Scan(&seq))
			rows[i] = append(rows[i], seq)
		}
		require.NoError(t, r.Err())
		r.Close()
	}
	return sums, rows
}

// TestSwitchoverMariaDB: a primary and two replicas on real mariadbd; a
// planned switchover to db2 and back to db1 while an ordinary account
// writes every 2 ms; then the failing paths: a lagging candidate and an
// errant transaction.
func TestSwitchoverMariaDB(t *testing.T) {
	servers := startTopology(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	setupReplication(t, ctx, servers)
	db1, db2, db3 := servers[0], servers[1], servers[2]

	t.Run("steps are checked", func(t *testing.T) {
		ro, err := db1.root.ReadOnly(ctx)
		require.NoError(t, err)
		assert.False(t, ro)
		for _, s := range servers {
			id, err := s.root.ServerID(ctx)
			require.NoError(t, err)
			assert.Equal(t, s.id, id)
		}
		// Repoint refuses a primary; Demote refuses bad input before
		// changing anything.
		assert.ErrorContains(t, Repoint(ctx, db1.root, db2.source(topoReplPW), topoTimings), "not a replica")
		assert.ErrorContains(t, Demote(ctx, db1.root, Source{Host: "127.0.0.1", Port: 3307}, topoTimings), "user is empty")
		ro, err = db1.root.ReadOnly(ctx)
		require.NoError(t, err)
		assert.False(t, ro, "a refused Demote left the primary read-only")
	})

	t.Run("switchover and back under writes", func(t *testing.T) {
		w := &writer{refused: map[string]int{}}
		w.primary.Store(db1)
		stopWriter := make(chan struct{})
		var stopOnce sync.Once
		stop := func() { stopOnce.Do(func() { close(stopWriter) }) }
		done := make(chan struct{})
		go func() { w.run(ctx, stopWriter, 2*time.Millisecond); close(done) }()
		defer func() { stop(); <-done }()
		waitAcked := func(n int) {
			t.Helper()
			start := w.ackedN()
			require.NoError(t, poll.Until(ctx, fmt.Sprintf("%d more acknowledged writes", n), 2*time.Millisecond, 5*time.Second,
				func(context.Context) (bool, string, error) {
					got := w.ackedN() - start
					return got >= n, fmt.Sprintf("%d", got), nil
				}))
		}
		// At no sampled instant are db1 and db2 both writable.
		var samples, both atomic.Int64
		sctx, stopSampling := context.WithCancel(ctx)
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for sctx.Err() == nil {
				ro1, err1 := db1.root.ReadOnly(sctx)
				ro2, err2 := db2.root.ReadOnly(sctx)
				if err1 == nil && err2 == nil {
					samples.Add(1)
					if !ro1 && !ro2 {
						both.Add(1)
					}
				}
			}
		}()
		waitAcked(20)
		over := switchover(t, ctx, db1, db2, []*topoServer{db3}, w)
		t.Logf("failover db1 -> db2: %s", over)
		waitAcked(20)
		back := switchover(t, ctx, db2, db1, []*topoServer{db3}, w)
		t.Logf("failback db2 -> db1: %s", back)
		waitAcked(20)
		stop()
		<-done
		stopSampling()
		<-sampled
		t.Logf("read_only of db1 and db2 sampled %d times: both writable %d times", samples.Load(), both.Load())
		assert.Positive(t, samples.Load())
		assert.Zero(t, both.Load(), "two writable servers")

		w.mu.Lock()
		defer w.mu.Unlock()
		assert.Empty(t, w.other, "writes failed other than with 1290")
		t.Logf("writes: %d acknowledged, refused %v, write unavailability %v", len(w.acked), w.refused, w.outages)
		for k := range w.refused {
			assert.True(t, strings.HasSuffix(k, " 1290"), k)
			assert.False(t, strings.HasPrefix(k, "db3"), "db3 was never the primary")
		}
		// Every acknowledged write is on every server, nothing else, and
		// the three tables are the same.
		pos, err := db1.root.PrimaryPosition(ctx)
		require.NoError(t, err)
		for _, r := range []*topoServer{db2, db3} {
			require.NoError(t, r.root.WaitApplied(ctx, pos, 5*time.Second), r.name)
		}
		sums, rows := checksums(t, ctx, servers)
		want := append([]int64(nil), w.acked...)
		sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
		for i, s := range servers {
			assert.Equal(t, want, rows[i], "%s rows against the ledger", s.name)
			assert.Equal(t, sums[0], sums[i], "CHECKSUM TABLE %s against db1", s.name)
		}
		// Rows were written on both primaries.
		var on1, on2 int
		require.NoError(t, db3.root.DB().QueryRowContext(ctx, "SELECT SUM(server = 1), SUM(server = 2) FROM drill.t WHERE seq > 0").Scan(&on1, &on2))
		assert.Positive(t, on1)
		assert.Positive(t, on2)
	})

	t.Run("a candidate that lags is named with its gap", func(t *testing.T) {
		db2.execAll(t, ctx, "STOP REPLICA SQL_THREAD")
		db1.execAll(t, ctx, // three transactions
			"INSERT INTO drill.t (seq, server) VALUES (-10, @@server_id)",
			"INSERT INTO drill.t (seq, server) VALUES (-11, @@server_id)",
			"INSERT INTO drill.t (seq, server) VALUES (-12, @@server_id)")
		pos, err := db1.root.PrimaryPosition(ctx)
		require.NoError(t, err)
		err = WaitCaughtUp(ctx, db1.root, db2.root, 300*time.Millisecond)
		t.Log(err)
		var ce *CatchUpError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, pos, ce.Gap)
		assert.Equal(t, uint64(3), ce.Behind)
		assert.Equal(t, int64(1), ce.PrimaryID)
		assert.Equal(t, int64(2), ce.CandidateID)
		for _, want := range []string{"candidate (server 2) lacks " + pos, "3 transactions behind", "SQL=No"} {
			assert.Contains(t, err.Error(), want)
		}
		// Promoting it now would discard what it retrieved: refused, and
		// replication runs again.
		_, err = WaitFor(ctx, db2.root, 5*time.Millisecond, "IO thread retrieved "+pos, func(s Status) bool {
			ok, _ := Covers(MariaDB, s.RetrievedGTID, pos)
			return ok
		})
		require.NoError(t, err)
		err = Promote(ctx, db2.root)
		t.Log(err)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "refused")
		assert.Contains(t, err.Error(), "3 transactions")
		require.NoError(t, WaitCaughtUp(ctx, db1.root, db2.root, 5*time.Second))
		ro, err := db2.root.ReadOnly(ctx)
		require.NoError(t, err)
		assert.True(t, ro, "a refused promotion made the candidate writable")
		st, err := db2.root.Status(ctx)
		require.NoError(t, err)
		assert.True(t, st.Configured && st.SQLRunning, "%s", st)
	})

	t.Run("an errant transaction on the candidate is named", func(t *testing.T) {
		errant, err := ErrantGTIDs(ctx, db2.root, db1.root)
		require.NoError(t, err)
		require.Empty(t, errant)
		// root has READ ONLY ADMIN: read_only does not stop it.
		db2.execAll(t, ctx, "INSERT INTO drill.t (seq, server) VALUES (-99, @@server_id)")
		own, err := db2.root.PrimaryPosition(ctx)
		require.NoError(t, err)
		require.True(t, strings.Contains(own, "-2-"), own)
		errant, err = ErrantGTIDs(ctx, db2.root, db1.root)
		require.NoError(t, err)
		assert.Equal(t, own, errant, "db2's own write")
		// The other way round there is nothing: db1 has nothing db2 lacks.
		errant, err = ErrantGTIDs(ctx, db1.root, db2.root)
		require.NoError(t, err)
		assert.Empty(t, errant)
		errant, err = ErrantGTIDs(ctx, db3.root, db1.root)
		require.NoError(t, err)
		assert.Empty(t, errant)
	})
}

func (w *writer) ackedN() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// BenchmarkSwitchover is a planned switchover on three mariadbd with no
// backlog, one direction per iteration (db1 -> db2, then back): the time
// until the new primary is writable and until the whole topology is
// switched (demote and repoint included; the replicas' IO thread Yes not).
func BenchmarkSwitchover(b *testing.B) {
	servers := startTopology(b, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	setupReplication(b, ctx, servers)
	var writable, total time.Duration
	for i := 0; b.Loop(); i++ {
		old, cand := servers[0], servers[1]
		if i%2 == 1 {
			old, cand = cand, old
		}
		st := switchover(b, ctx, old, cand, servers[2:], nil)
		writable += st.writable()
		total += st.total()
	}
	b.ReportMetric(float64(writable.Microseconds())/1000/float64(b.N), "writable_ms/op")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "switchover_ms/op")
}
