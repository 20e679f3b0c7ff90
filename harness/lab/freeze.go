package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/target"
)

var _ target.Freezer = (*Target)(nil)

// CanFreeze: the netns backend only. Its daemons are processes of this
// machine, so a watchdog in the db host's namespace can SIGCONT the
// recorded pid; in a container mariadbd is PID 1, which ignores SIGSTOP
// sent from inside its own pid namespace.
func (t *Target) CanFreeze() bool {
	switch t.backend.(type) {
	case NetnsBackend, *NetnsBackend:
		return true
	}
	return false
}

// Freeze stops a site's mariadbd (SIGSTOP) after starting its dead-man's
// switch: a detached `sh -c 'sleep LIMIT; kill -CONT PID'` in the db
// host's namespace (its own session, so a kill -9 of drdrill leaves it
// running; inside the namespace, so `lab down` kills it with the rest).
// The watchdog checks the pid's start time before it signals, so a pid
// reused after a lab down is never touched. It returns once the kernel
// shows the process stopped.
func (t *Target) Freeze(ctx context.Context, h target.Host, limit time.Duration) error {
	info := t.Info()
	p, ns, err := t.freezable(info, h)
	if err != nil {
		return err
	}
	if err := cancelWatchdogs(freezeMarker(info, h)); err != nil {
		return fmt.Errorf("freeze %s: %w", h, err)
	}
	if limit > 0 {
		if err := startWatchdog(ns, freezeMarker(info, h), p, limit); err != nil {
			return fmt.Errorf("freeze %s: arm the dead-man's switch: %w", h, err)
		}
	}
	if err := syscall.Kill(p.PID, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("freeze %s: SIGSTOP mariadbd pid %d: %w", h, p.PID, err)
	}
	return poll.Until(ctx, fmt.Sprintf("%s's mariadbd (pid %d) to be stopped", h, p.PID), 5*time.Millisecond, 5*time.Second,
		func(context.Context) (bool, string, error) {
			s := procState(p.PID)
			return s == 'T', "state " + string(s), nil
		})
}

// Thaw cancels the dead-man's switch and continues a site's mariadbd; it
// returns once the process is no longer stopped. Nothing to thaw (never
// frozen, already thawed, the daemon gone) is not an error.
func (t *Target) Thaw(ctx context.Context, h target.Host) error {
	info := t.Info()
	p, _, err := t.freezable(info, h)
	if err != nil {
		return err
	}
	errs := []error{cancelWatchdogs(freezeMarker(info, h))}
	if !p.alive() {
		return errors.Join(errs...)
	}
	if err := syscall.Kill(p.PID, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
		errs = append(errs, fmt.Errorf("SIGCONT mariadbd pid %d: %w", p.PID, err))
	}
	errs = append(errs, poll.Until(ctx, fmt.Sprintf("%s's mariadbd (pid %d) to run again", h, p.PID), 5*time.Millisecond, 5*time.Second,
		func(context.Context) (bool, string, error) {
			s := procState(p.PID)
			return s != 'T' && s != 't', "state " + string(s), nil
		}))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("thaw %s: %w", h, err)
	}
	return nil
}

// Frozen reports whether a site's mariadbd is stopped (for tests and
// status).
func (t *Target) Frozen(h target.Host) (bool, error) {
	p, _, err := t.freezable(t.Info(), h)
	if err != nil {
		return false, err
	}
	return p.alive() && procState(p.PID) == 'T', nil
}

// freezable returns the recorded mariadbd of a db host and its namespace.
func (t *Target) freezable(info *Info, h target.Host) (Process, string, error) {
	if !t.CanFreeze() {
		return Process{}, "", fmt.Errorf("freeze %s: the %s backend cannot freeze a database (netns only)", h, info.Backend)
	}
	if h.Kind != target.DBHost || info.Sites[h.Site] == nil {
		return Process{}, "", fmt.Errorf("freeze %s: not a db host of this lab", h)
	}
	for _, p := range info.Resources.Processes {
		if p.Name == h.String()+"/mariadbd" {
			return p, HostName(info.ID, h.String()), nil
		}
	}
	return Process{}, "", fmt.Errorf("freeze %s: the lab recorded no mariadbd", h)
}

// freezeMarker is the watchdog's $0: unique to the lab and host, so that a
// Thaw (in this process or a later one) finds exactly its watchdog.
func freezeMarker(info *Info, h target.Host) string {
	return "drdrill-thaw-" + info.ID + "-" + h.String()
}

// FreezeWatchdogScript is what the watchdog runs: after limit, SIGCONT pid
// if it is still the process that started at start (clock ticks).
func FreezeWatchdogScript(pid int, start uint64, limit time.Duration) string {
	return fmt.Sprintf(`sleep %s; [ "$(cut -d' ' -f22 /proc/%d/stat 2>/dev/null)" = %d ] && kill -CONT %d`,
		strconv.FormatFloat(limit.Seconds(), 'f', 3, 64), pid, start, pid)
}

// startWatchdog starts the watchdog and returns once it runs its shell in
// the namespace: until `ip netns exec` has entered the namespace and
// exec'd sh, the switch is not armed (and the process is briefly not
// findable by its marker).
func startWatchdog(ns, marker string, p Process, limit time.Duration) error {
	cmd := exec.Command("ip", "netns", "exec", ns, "sh", "-c", FreezeWatchdogScript(p.PID, p.StartTime, limit), marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no pipes: it outlives us
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reap it while we run; after a kill -9 of ours, init does
	pid := cmd.Process.Pid
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return poll.Until(ctx, fmt.Sprintf("the watchdog (pid %d) to run its shell in %s", pid, ns), 2*time.Millisecond, 0, func(context.Context) (bool, string, error) {
		select {
		case err := <-exited:
			return false, "", fmt.Errorf("the watchdog exited at once: %v", err)
		default:
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		c := strings.TrimSpace(string(comm))
		return c == "sh", "running " + c, nil
	})
}

// cancelWatchdogs kills the process group of every process whose argv
// holds marker (the watchdog's sh is its session's leader: its sleep goes
// with it) and waits until they are gone.
func cancelWatchdogs(marker string) error {
	pids := markedProcesses(marker)
	for _, pid := range pids {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	if len(pids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return poll.Until(ctx, "the freeze watchdog to exit", 5*time.Millisecond, 0, func(context.Context) (bool, string, error) {
		left := markedProcesses(marker)
		return len(left) == 0, fmt.Sprintf("pids %v", left), nil
	})
}

// markedProcesses are the live (not zombie) processes with marker as one
// of their arguments.
func markedProcesses(marker string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.Contains(b, []byte(marker)) {
			continue
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == marker {
				if pid, err := strconv.Atoi(filepath.Base(d)); err == nil && procState(pid) != 'Z' {
					out = append(out, pid)
				}
				break
			}
		}
	}
	return out
}

// procState is the state letter of /proc/PID/stat (0 when unreadable).
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}
