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
//
// It is the CLI's only caller of the harness's drill API (OpenLab, Run, the
// Env), kept in one place so that API can change under it.
func runDrill(ctx context.Context, sc harness.Scenario, info *lab.Info, b lab.Backend, log *slog.Logger) (r *report.Report, secrets []string, err error) {
	env, err := harness.OpenLab(ctx, info, b, log)
	if err != nil {
		return nil, nil, err
	}
	defer env.Close()
	r = harness.Run(ctx, sc, env)
	return r, env.Secrets(), nil
}
