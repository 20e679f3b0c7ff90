package main

import (
	"context"
	"log/slog"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/report"
)

// runDrill runs scenario sc on the lab that is up (info, on backend b) and
// returns its report and the secrets the report must not carry. err is a
// drill that could not start (the lab does not answer); a drill that ran and
// failed, errored or was interrupted is a report with that verdict.
func runDrill(ctx context.Context, sc harness.Scenario, info *lab.Info, b lab.Backend, log *slog.Logger) (r *report.Report, secrets []string, err error) {
	t, err := lab.Open(ctx, info, b)
	if err != nil {
		return nil, nil, err
	}
	defer t.Close()
	env, err := harness.NewEnv(ctx, t, log)
	if err != nil {
		return nil, nil, err
	}
	return harness.Run(ctx, sc, t, env), env.Secrets(), nil
}
