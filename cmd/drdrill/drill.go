package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/journal"
	"github.com/drdrill/drdrill/harness/progress"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
)

// runDrill runs scenario sc on t and returns its report and the secrets the
// report must not carry. err is a drill that could not start; a drill that
// ran and failed, errored or was interrupted is a report with that verdict.
func runDrill(ctx context.Context, sc harness.Scenario, t target.Target, j *journal.Journal, maxFault time.Duration, log *slog.Logger, show *liveProgress) (r *report.Report, secrets []string, err error) {
	env, err := harness.NewEnv(ctx, t, log)
	if err != nil {
		return nil, nil, err
	}
	if show != nil {
		p := progress.New(show.w, show.tty, show.prefix)
		ctx = p.Attach(ctx, env.Timeline)
		defer p.Stop()
	}
	env.Journal, env.MaxFault = j, maxFault
	reconnects.Lock()
	reconnects.note = func(host string, err error) {
		d := map[string]any{"event": "ssh connection lost and re-established", "host": host}
		if err != nil {
			d["error"] = err.Error()
		}
		env.Timeline.Add("transport", "note", d)
	}
	reconnects.Unlock()
	defer func() { reconnects.Lock(); reconnects.note = nil; reconnects.Unlock() }()
	return harness.Run(ctx, sc, t, env), env.Secrets(), nil
}

// liveProgress is where a drill's live progress goes (nil: nowhere).
type liveProgress struct {
	w      io.Writer
	tty    bool   // redraw one line in place
	prefix string // names the run in a suite
}

// progressTo shows progress on w unless quiet: in place when w is a
// terminal and only one drill runs at a time, as plain lines otherwise.
func progressTo(w io.Writer, quiet bool, parallel int, prefix string) *liveProgress {
	if quiet {
		return nil
	}
	return &liveProgress{w: w, tty: parallel <= 1 && isTerminal(w), prefix: prefix}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
