//go:build linux

package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mariaServer is a throwaway mariadbd on a unix socket, without networking.
type mariaServer struct {
	dir, socket string
}

func findBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// startMariaDB installs and starts a mariadbd in t.TempDir(). It is killed
// and reaped by t.Cleanup on every path.
func startMariaDB(t *testing.T) *mariaServer {
	t.Helper()
	if testing.Short() {
		t.Skip("integration: starts a mariadbd; skipped under -short")
	}
	mariadbd, install := findBin("mariadbd"), findBin("mariadb-install-db")
	if mariadbd == "" || install == "" {
		t.Skip("integration: mariadbd or mariadb-install-db not installed (apt-get install mariadb-server)")
	}
	dir := t.TempDir()
	s := &mariaServer{dir: dir, socket: filepath.Join(dir, "s.sock")}
	if len(s.socket) > 100 { // sun_path is 108 bytes
		short, err := os.MkdirTemp("", "rpl")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(short) })
		s.socket = filepath.Join(short, "s.sock")
	}
	for _, d := range []string{"data", "tmp"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, d), 0o700))
	}
	cnf := filepath.Join(dir, "my.cnf")
	var b strings.Builder
	fmt.Fprintf(&b, "[mysqld]\ndatadir=%s/data\ntmpdir=%s/tmp\nsocket=%s\npid-file=%s/mysqld.pid\nlog-error=%s/err.log\n",
		dir, dir, s.socket, dir, dir)
	b.WriteString("skip-networking\nserver-id=2\nlog-bin=" + dir + "/data/binlog\nbinlog-format=ROW\n" +
		"innodb_log_file_size=4M\ninnodb_buffer_pool_size=32M\nperformance_schema=OFF\nskip-name-resolve\n")
	if os.Geteuid() == 0 {
		b.WriteString("user=root\n")
	}
	require.NoError(t, os.WriteFile(cnf, []byte(b.String()), 0o600))

	ictx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ictx, install, "--defaults-file="+cnf,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}

	logf, err := os.Create(filepath.Join(dir, "mariadbd.out"))
	require.NoError(t, err)
	cmd := exec.Command(mariadbd, "--defaults-file="+cnf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // even if the test binary dies
	exited := make(chan struct{})
	err = cmd.Start()
	t.Cleanup(func() {
		defer logf.Close()
		if cmd.Process == nil {
			return
		}
		_ = cmd.Process.Kill() // throwaway data: no need for a clean shutdown
		<-exited
	})
	if err != nil {
		t.Fatalf("start mariadbd: %v", err)
	}
	go func() { _ = cmd.Wait(); close(exited) }()

	// Wait for the socket to answer, bounded by a deadline.
	err = poll.Until(context.Background(), "mariadbd socket "+s.socket+" to accept connections", 20*time.Millisecond, 30*time.Second,
		func(ctx context.Context) (bool, string, error) {
			if !fileExists(s.socket) {
				return false, "no socket file yet", exitedErr(exited)
			}
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			c, err := OpenSocket(octx, s.socket, "root", "")
			cancel()
			if err == nil {
				c.Close()
				return true, "", nil
			}
			return false, err.Error(), exitedErr(exited)
		})
	if err != nil {
		t.Fatalf("%v:\n%s", err, tail(filepath.Join(dir, "err.log"), 20))
	}
	return s
}

// exitedErr is an error once the server process has exited.
func exitedErr(exited <-chan struct{}) error {
	select {
	case <-exited:
		return errors.New("mariadbd exited during start")
	default:
		return nil
	}
}

// waitEvent polls the timeline until an event matches, bounded by ctx.
func waitEvent(ctx context.Context, t *testing.T, tl *timeline.Timeline, desc string, match func(timeline.Event) bool) timeline.Event {
	t.Helper()
	e, err := poll.Value(ctx, "a timeline event "+desc, 10*time.Millisecond, 0, func(context.Context) (timeline.Event, bool, string, error) {
		evs := tl.Events()
		for _, e := range evs {
			if match(e) {
				return e, true, "", nil
			}
		}
		return timeline.Event{}, false, fmt.Sprintf("%d events: %+v", len(evs), evs), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestMariaDB(t *testing.T) {
	srv := startMariaDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := OpenSocket(ctx, srv.socket, "root", "")
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	db := c.DB()
	const replPW = `Repl-pa55'w\rd"x`

	t.Run("flavor", func(t *testing.T) {
		assert.Equal(t, MariaDB, c.Flavor())
		assert.Contains(t, c.Version(), "MariaDB")
		assert.Equal(t, "SHOW REPLICA STATUS", c.statusStmt())
	})

	t.Run("status unconfigured", func(t *testing.T) {
		st, err := c.Status(ctx)
		require.NoError(t, err)
		assert.False(t, st.Configured)
		assert.Equal(t, IONone, st.IO)
		assert.False(t, st.ObservedAt.IsZero())
	})

	t.Run("quote round trip", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		inputs := []string{"plain", "it's", `a\b`, `\'; SELECT 1; --`, `"dq"`, "nl\nand\rcr", "ctrl-z\x1a", "%_", "ünïcödé 비밀", ""}
		for _, mode := range []string{"STRICT_TRANS_TABLES", "NO_BACKSLASH_ESCAPES"} {
			_, err := conn.ExecContext(ctx, "SET SESSION sql_mode = '"+mode+"'")
			require.NoError(t, err)
			nb, err := noBackslashEscapes(ctx, conn)
			require.NoError(t, err)
			assert.Equal(t, mode == "NO_BACKSLASH_ESCAPES", nb)
			for _, in := range inputs {
				q, err := QuoteString(in, nb)
				require.NoError(t, err)
				var got string
				require.NoError(t, conn.QueryRowContext(ctx, "SELECT "+q).Scan(&got), "%s: %s", mode, q)
				assert.Equal(t, in, got, "%s: %s", mode, q)
			}
		}
		_, err = conn.ExecContext(ctx, "SET SESSION sql_mode = DEFAULT")
		require.NoError(t, err)
	})

	t.Run("create replication user", func(t *testing.T) {
		require.NoError(t, c.CreateReplicationUser(ctx, "repl", replPW))
		require.NoError(t, c.CreateReplicationUser(ctx, "repl", replPW), "idempotent")
		// The user logs in with the password although only its hash was sent.
		rc, err := OpenSocket(ctx, srv.socket, "repl", replPW)
		require.NoError(t, err)
		rc.Close()
		_, err = OpenSocket(ctx, srv.socket, "repl", "wrong")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "1045")
		// And the binary log does not hold the password.
		logs, err := filepath.Glob(filepath.Join(srv.dir, "data", "binlog.0*"))
		require.NoError(t, err)
		require.NotEmpty(t, logs)
		for _, l := range logs {
			b, err := os.ReadFile(l)
			require.NoError(t, err)
			assert.False(t, bytes.Contains(b, []byte(replPW)), "password in %s", l)
			assert.False(t, bytes.Contains(b, []byte("Repl-pa55")), "password prefix in %s", l)
		}
	})

	t.Run("failing change master hides the password", func(t *testing.T) {
		// MariaDB rejects passwords over 96 characters with error 1470,
		// whose text quotes the first 64 of them.
		long := strings.Repeat("Sup3rSecret-", 10)
		err := c.ConfigureReplica(ctx, Source{Host: "127.0.0.1", Port: 1, User: "repl", Password: long}, Timings{})
		require.Error(t, err)
		t.Log(err)
		var se *SecretError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, uint16(1470), se.Number)
		assertNoSecret(t, err, "Sup3rSecret")
		// The raw server error would have leaked it: prove the test can fail.
		_, raw := db.ExecContext(ctx, "CHANGE MASTER TO MASTER_PASSWORD='"+long+"'")
		require.Error(t, raw)
		assert.Contains(t, raw.Error(), "Sup3rSecret")
	})

	timings := Timings{NetTimeout: 3 * time.Second, ConnectRetry: time.Second, Heartbeat: time.Second}
	t.Run("configure unreachable source", func(t *testing.T) {
		// Nothing listens on 127.0.0.1:1; skip-networking only stops this
		// server listening, its IO thread can still connect out.
		require.NoError(t, c.ConfigureReplica(ctx, Source{Host: "127.0.0.1", Port: 1, User: "repl", Password: replPW}, timings))
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		st, err := WaitIO(wctx, c, 10*time.Millisecond, IOConnecting)
		require.NoError(t, err)
		assert.True(t, st.Configured)
		st, err = WaitFor(wctx, c, 10*time.Millisecond, "last_io_errno 2003",
			func(s Status) bool { return s.IO == IOConnecting && s.LastIOErrno == 2003 })
		require.NoError(t, err)
		t.Log(st)
		assert.Equal(t, "127.0.0.1", st.SourceHost)
		assert.Equal(t, 1, st.SourcePort)
		assert.Equal(t, 1, st.ConnectRetry)
		assert.True(t, st.SQLRunning)
		assert.Nil(t, st.SecondsBehind)
		assert.Contains(t, st.LastIOError, "repl@127.0.0.1:1")
		js, err := json.Marshal(st)
		require.NoError(t, err)
		assert.NotContains(t, string(js), "pa55")
		assert.NotContains(t, st.String(), "pa55")
	})

	t.Run("wait for Yes times out", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		st, err := WaitIO(wctx, c, 10*time.Millisecond, IOYes)
		require.Error(t, err)
		t.Log(err)
		var we *StateWaitError
		require.ErrorAs(t, err, &we)
		assert.Equal(t, IOConnecting, st.IO)
		for _, want := range []string{"IO thread Yes", "IO=Connecting", "last_io_errno=2003", "127.0.0.1"} {
			assert.Contains(t, err.Error(), want)
		}
		assert.NotContains(t, err.Error(), "pa55")
	})

	t.Run("timings read back", func(t *testing.T) {
		got, err := c.Timings(ctx)
		require.NoError(t, err)
		want := timings
		want.RetryCount = 100000 // MariaDB's default, read from Last_IO_Error
		assert.Equal(t, want, got)
	})

	t.Run("watch timeline through a restart", func(t *testing.T) {
		tl := timeline.New()
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { WatchTimeline(wctx, c, 10*time.Millisecond, tl, "replica"); close(done) }()
		defer func() { stop(); <-done }()
		ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		isIO := func(from, to any) func(timeline.Event) bool {
			return func(e timeline.Event) bool {
				return e.Kind == timeline.KindIOState && e.Map()["from"] == from && e.Map()["to"] == to
			}
		}
		first := waitEvent(ectx, t, tl, "initial Connecting", isIO(nil, "Connecting"))
		assert.Equal(t, 2003, first.Map()["last_io_errno"])
		_, err := db.ExecContext(ctx, "STOP REPLICA IO_THREAD")
		require.NoError(t, err)
		waitEvent(ectx, t, tl, "Connecting -> No", isIO("Connecting", "No"))
		require.NoError(t, c.Restart(ctx))
		waitEvent(ectx, t, tl, "No -> Connecting", isIO("No", "Connecting"))
	})

	t.Run("gtid positions", func(t *testing.T) {
		for _, q := range []string{
			"CREATE DATABASE IF NOT EXISTS drill",
			"CREATE TABLE IF NOT EXISTS drill.ping (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50))",
		} {
			_, err := db.ExecContext(ctx, q)
			require.NoError(t, err)
		}
		before, err := c.PrimaryPosition(ctx)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "INSERT INTO drill.ping (msg) VALUES ('replication_test_1')")
		require.NoError(t, err)
		after, err := c.PrimaryPosition(ctx)
		require.NoError(t, err)
		require.NotEqual(t, before, after)
		t.Log("before", before, "after", after)
		ok, err := Covers(MariaDB, after, before)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = Covers(MariaDB, before, after)
		require.NoError(t, err)
		assert.False(t, ok)

		// MASTER_GTID_WAIT looks at gtid_slave_pos only: a server waiting
		// for its own binlog position times out.
		err = c.WaitApplied(ctx, after, 200*time.Millisecond)
		var we *WaitError
		require.ErrorAs(t, err, &we)
		t.Log(err)
		assert.Equal(t, after, we.Target)

		// Once gtid_slave_pos holds it, the wait returns at once.
		_, err = db.ExecContext(ctx, "STOP REPLICA")
		require.NoError(t, err)
		q, err := QuoteString(after, false)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = "+q)
		require.NoError(t, err)
		require.NoError(t, c.WaitApplied(ctx, after, 5*time.Second))
		applied, err := c.AppliedPosition(ctx)
		require.NoError(t, err)
		assert.Equal(t, after, applied)
		st, err := c.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, after, st.ExecutedGTID)
		assert.Equal(t, IONo, st.IO)
		assert.False(t, st.SQLRunning)
	})
}
