package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/journal"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
)

// runDrill runs scenario sc on t and returns its report and the secrets the
// report must not carry. err is a drill that could not start; a drill that
// ran and failed, errored or was interrupted is a report with that verdict.
func runDrill(ctx context.Context, sc harness.Scenario, t target.Target, j *journal.Journal, maxFault time.Duration, log *slog.Logger) (r *report.Report, secrets []string, err error) {
	env, err := harness.NewEnv(ctx, t, log)
	if err != nil {
		return nil, nil, err
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
