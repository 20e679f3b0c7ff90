package targetfile

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/transport"
)

// The freeze and thaw scripts on a process of this machine: stopped behind
// a watchdog that continues it after the limit, or thawed (the watchdog
// killed, the pid continued) by a thaw that knows only the marker; a pid
// file that holds no pid is refused, naming it.
func TestFreezeScripts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	pid := strconv.Itoa(sleep.Process.Pid)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "x.pid")
	os.WriteFile(pidFile, []byte(pid+"\n"), 0o600)
	marker := "drdrill-thaw-unit-" + pid
	run := func(script string, args ...string) (string, error) {
		out, err := transport.Local{}.Exec(ctx, append([]string{"sh", "-c", script, "test"}, args...), false)
		return strings.TrimSpace(string(out)), err
	}
	state := func() string {
		out, _ := run(stateScript, pid)
		return strings.TrimPrefix(out, pid+" ")
	}
	waitState := func(want func(string) bool, what string) {
		t.Helper()
		if err := poll.Until(ctx, what, 10*time.Millisecond, 10*time.Second, func(context.Context) (bool, string, error) {
			s := state()
			return want(s), s, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	running := func(s string) bool { return s != "T" && s != "t" }

	// Frozen behind a watchdog, thawed by the marker alone.
	if out, err := run(freezeScript, pidFile, marker, "60.000"); err != nil || out != pid {
		t.Fatalf("freeze: %q %v", out, err)
	}
	waitState(func(s string) bool { return s == "T" }, "stopped")
	if out, err := run(thawScript, marker, ""); err != nil || out != pid {
		t.Fatalf("thaw by the marker: printed %q (want the watchdog's pid %s), %v", out, pid, err)
	}
	waitState(running, "running again")
	if out, err := run(thawScript, marker, ""); err != nil || out != "" {
		t.Fatalf("a thaw with nothing to thaw: %q %v", out, err)
	}
	// Left alone, the watchdog continues it.
	if _, err := run(freezeScript, pidFile, marker, "0.2"); err != nil {
		t.Fatal(err)
	}
	waitState(running, "continued by the watchdog")
	// No watchdog: the pid given to thaw is continued.
	if _, err := run(freezeScript, pidFile, marker, ""); err != nil {
		t.Fatal(err)
	}
	waitState(func(s string) bool { return s == "T" }, "stopped, no watchdog")
	if out, err := run(thawScript, marker, pid); err != nil || out != pid {
		t.Fatalf("thaw by pid: %q %v", out, err)
	}
	waitState(running, "running again")

	os.WriteFile(pidFile, []byte("mysqld is not running\n"), 0o600)
	if _, err := run(freezeScript, pidFile, marker, ""); err == nil || !strings.Contains(scriptError("freeze", err).Error(), pidFile+" holds no pid") {
		t.Fatalf("a pid file with no pid: %v", err)
	}
	if e := scriptError("freeze", &transport.ExecError{Host: "h", Argv: []string{"sh", "-c", freezeScript}, Err: os.ErrPermission, Output: "first\nsecond"}).Error(); e != "freeze on h: permission denied: first" {
		t.Errorf("scriptError = %q: want the host, the error and the first line, not the script", e)
	}
}
