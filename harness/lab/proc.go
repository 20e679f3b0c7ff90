package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
)

// startDaemon starts argv detached from our session (so that a SIGINT to the
// CLI does not reach it and it outlives `drdrill lab up`), output to logPath.
// The returned channel is closed when the process exits while we still run.
func startDaemon(name string, argv []string, env []string, logPath string) (Process, <-chan struct{}, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Process{}, nil, err
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Process{}, nil, fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	st, _ := procStartTime(cmd.Process.Pid)
	return Process{Name: name, PID: cmd.Process.Pid, StartTime: st}, exited, nil
}

// procStartTime is field 22 of /proc/PID/stat (clock ticks since boot).
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("short /proc stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive is true when pid still runs and is the process we started (same
// start time) and not a zombie.
func (p Process) alive() bool {
	st, err := procStartTime(p.PID)
	if err != nil || (p.StartTime != 0 && st != p.StartTime) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// killAndWait SIGKILLs the processes that are still ours and waits until they
// are gone. A lab's data is thrown away, so there is no graceful shutdown.
func killAndWait(ctx context.Context, procs []Process) error {
	var live []Process
	for _, p := range procs {
		if p.PID > 1 && p.alive() {
			syscall.Kill(p.PID, syscall.SIGKILL)
			live = append(live, p)
		}
	}
	return poll.Until(ctx, "lab processes to exit", 5*time.Millisecond, 0, func(context.Context) (bool, string, error) {
		var still []string
		for _, p := range live {
			if p.alive() {
				still = append(still, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
			}
		}
		return len(still) == 0, strings.Join(still, ", ") + " still running", nil
	})
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// run executes a command and returns its combined output in the error.
func run(ctx context.Context, argv ...string) ([]byte, error) {
	return runInput(ctx, nil, argv...)
}

// runInput is run with stdin on the command's standard input (nil: none).
func runInput(ctx context.Context, stdin []byte, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}
