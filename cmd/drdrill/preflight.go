package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/drdrill/drdrill/harness/preflight"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/scenarios"
	"github.com/spf13/cobra"
)

func newPreflightCmd() *cobra.Command {
	var targetFlag, dir string
	var asJSON, grants bool
	c := &cobra.Command{
		Use:   "preflight",
		Short: "Check a target is ready for drills, changing nothing",
		Long: `Reach every gateway and database of the target and print what an operator
looks at: the tunnel per side, the replica's threads, lag, last IO error and
GTID positions; the live timings (net timeout, connect retry, heartbeat, DPD,
retransmission) and the windows drills derive from them; the db user's
privileges against what each drill needs (--print-grants prints the GRANT
statements); the primary's binlog retention against safety.max_fault (an
outage longer than the retention never catches up: error 1236); drdrill's
own table; and which drills can run here, or what they lack.

It is read-only: VICI version/list-* and SQL reads only.

Exit codes: 0 everything is reachable and healthy; 2 otherwise (the last
line names what is not), or bad input.`,
		Example: `  drdrill preflight --target staging.yaml
  drdrill preflight --target staging.yaml --print-grants
  drdrill preflight --lab /tmp/drdrill-lab --json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			spec, err := loadTarget(targetFlag, dir)
			if err != nil {
				return err
			}
			t, closeT, err := spec.openExisting(c.Context())
			if err != nil {
				return err
			}
			defer closeT()
			o := preflight.Options{Scenarios: scenarios.All()}
			if !spec.isLab() {
				o.MaxFault = spec.file.Safety().MaxFault
			}
			r := preflight.Check(c.Context(), t, o)
			out := c.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				r.Print(out)
			}
			if grants {
				printGrants(out, t, r)
			}
			if !r.OK() {
				return usageErrorf("not ready: %s", strings.Join(r.Problems(), "; "))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&targetFlag, "target", "lab", "what to check: `lab` (the lab at --lab, up) or a target FILE")
	f.StringVar(&dir, "lab", defaultLabDir(), labDirUsage)
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&grants, "print-grants", false, "print the GRANT statements the db user needs, per site and flavor")
	c.MarkFlagDirname("lab")
	return c
}

// printGrants prints, per site, the statements that give the drill
// account what the drills need.
func printGrants(w io.Writer, t target.Target, r *preflight.Report) {
	fmt.Fprintln(w, "\n-- GRANT statements for the drill account (run as an administrator):")
	wl := r.Workload.Workload
	for _, s := range t.Sites() {
		user := "drdrill"
		for _, rs := range r.Sites {
			if rs.Name == s.Name && rs.DB.Account != "" {
				user = rs.DB.Account
			}
		}
		fmt.Fprintf(w, "-- %s (%s, %s)\n", s.Name, s.Role, s.DB.Flavor())
		for _, g := range preflight.GrantStatements(s.DB.Flavor(), user, wl) {
			fmt.Fprintln(w, g)
		}
	}
}
