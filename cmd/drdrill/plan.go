package main

import (
	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/scenarios"
	"github.com/spf13/cobra"
)

func newPlanCmd() *cobra.Command {
	var targetFlag, dir string
	c := &cobra.Command{
		Use:   "plan SCENARIO",
		Short: "Show what a drill would do, where, and how long it would take; change nothing",
		Long: `Show a drill's steps against a target: what each would change on which
host, and the windows and total duration derived from the live timings
(the replica's net timeout, connect retry and heartbeat; the gateways' DPD
and retransmission). It changes nothing: it reads variables and status over
SQL and VICI list-conns/list-sas only.

With --target lab the lab must be up (drdrill lab up). A target file is
reached as a drill would reach it; neither opt-in is needed.

Exit codes: 0 the plan was printed; 2 it could not be made (bad input,
unreachable target).`,
		Example: `  drdrill plan wan-blackhole
  drdrill plan vpn-outage --lab /tmp/mylab`,
		Args: exactlyOneScenario("plan"),
		RunE: func(c *cobra.Command, args []string) error {
			sc, err := scenarios.Lookup(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			spec, err := loadTarget(targetFlag, dir)
			if err != nil {
				return err
			}
			t, closeT, err := spec.openExisting(c.Context())
			if err != nil {
				return err
			}
			defer closeT()
			p, err := harness.MakePlan(c.Context(), sc, t)
			if err != nil {
				return err
			}
			p.Print(c.OutOrStdout())
			return nil
		},
	}
	c.Flags().StringVar(&targetFlag, "target", "lab", "what to plan against: `lab` (the embedded lab, up) or a target FILE")
	c.Flags().StringVar(&dir, "lab", defaultLabDir(), labDirUsage)
	c.MarkFlagDirname("lab")
	return c
}

// exactlyOneScenario accepts one scenario name.
func exactlyOneScenario(cmd string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErrorf("%s: want exactly one scenario name (drdrill list shows them)", cmd)
		}
		return nil
	}
}
