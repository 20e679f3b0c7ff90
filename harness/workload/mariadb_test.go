package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/drdrill/drdrill/harness/poll"
)

// server is a throwaway mariadbd on a unix socket in a temp dir.
type server struct {
	dir    string
	socket string
	root   *sql.DB
}

// startMariaDB starts a private mariadbd for this test and kills it in
// t.Cleanup. It skips under -short, when not root, or without mariadbd.
func startMariaDB(t *testing.T) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts mariadbd (skipped under -short)")
	}
	if os.Geteuid() != 0 {
		t.Skip("integration test: needs root to run mariadbd as user=root")
	}
	for _, bin := range []string{"mariadbd", "mariadb-install-db"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("integration test: %s not installed", bin)
		}
	}
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "drw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"data", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &server{dir: dir, socket: filepath.Join(dir, "m.sock")}
	cnf := filepath.Join(dir, "my.cnf")
	conf := fmt.Sprintf(`[mysqld]
datadir=%[1]s/data
tmpdir=%[1]s/tmp
socket=%[2]s
pid-file=%[1]s/m.pid
log-error=%[1]s/error.log
skip-networking
skip-name-resolve
user=root
innodb_log_file_size=4M
innodb_buffer_pool_size=32M
performance_schema=OFF
`, dir, s.socket)
	if err := os.WriteFile(cnf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	install := exec.CommandContext(ctx, "mariadb-install-db", "--defaults-file="+cnf,
		"--auth-root-authentication-method=normal", "--skip-test-db")
	install.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}

	cmd := exec.Command("mariadbd", "--defaults-file="+cnf)
	// If the test binary dies, the server dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited := make(chan struct{})
	err = cmd.Start()
	t.Cleanup(func() {
		if cmd.Process == nil {
			return
		}
		_ = cmd.Process.Kill()
		<-exited
	})
	if err != nil {
		t.Fatalf("start mariadbd: %v", err)
	}
	go func() { _ = cmd.Wait(); close(exited) }()

	s.root = s.open(t, "root")
	err = poll.Until(ctx, "mariadbd socket "+s.socket+" to accept connections", 20*time.Millisecond, 0, func(ctx context.Context) (bool, string, error) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		err := s.root.PingContext(pctx)
		pcancel()
		if err == nil {
			return true, "", nil
		}
		select {
		case <-exited:
			return false, err.Error(), errors.New("mariadbd exited before accepting connections")
		default:
			return false, err.Error(), nil
		}
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("%v:\n%s", err, log)
	}
	if err := ApplySchema(ctx, s.root); err != nil {
		t.Fatal(err)
	}
	return s
}

// open connects as user over the socket (no password); closed in t.Cleanup.
func (s *server) open(t *testing.T, user string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", user+"@unix("+s.socket+")/?parseTime=true")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (s *server) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := s.root.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// isUnknown reports whether err is an unknown-outcome write error.
func isUnknown(err error) bool { return errors.Is(err, ErrOutcomeUnknown) }
