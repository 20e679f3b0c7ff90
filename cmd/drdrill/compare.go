package main

import (
	"encoding/json"
	"io"
	"math"

	"github.com/drdrill/drdrill/harness/trend"
	"github.com/spf13/cobra"
)

func newReportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "report",
		Short: "Work with reports: compare two runs",
		Long: `Commands on what drdrill run wrote: a report dir (report.json, junit.xml,
summary.md) or a suite dir (junit.xml, suite.json, suite.html and a report
dir per run).`,
		// Runnable only to reject a missing or unknown subcommand.
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("report: want %s", commandNames(c))
			}
			return usageErrorf("report: unknown subcommand %q (want %s)%s", args[0], commandNames(c), suggest(c, args[0]))
		},
		RunE:                  func(*cobra.Command, []string) error { return nil },
		DisableFlagsInUseLine: true,
	}
	c.AddCommand(newCompareCmd())
	return c
}

type compareOptions struct {
	tolerance string
	minMS     float64
	json      bool
}

func newCompareCmd() *cobra.Command {
	var o compareOptions
	c := &cobra.Command{
		Use:   "compare OLD NEW",
		Short: "Compare two report or suite dirs: metric deltas and regressions",
		Long: `Compare two outcomes of drdrill run, each a report dir or a suite dir (or
the report.json or suite.json in one), drill by drill: the verdict and every
numeric metric (metrics.extra and durations included; a suite's p50 over
its runs), old, new and the change.

A regression is a verdict that was pass and is not, or a duration (*_ms)
or a count of rows lost or missing that went up by more than --tolerance
(from 0, any rise), and for a duration by at least --min-ms. Other metrics are shown, not judged. Drills that only
one side ran are listed, not compared.

Exit codes:
  0  no regression
  1  a regression (listed last)
  2  bad input: a path that is not a report or suite dir, a bad --tolerance`,
		Example: `  drdrill report compare reports/last-good reports/suite
  drdrill report compare --tolerance 10% --json old/vpn-outage new/vpn-outage`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErrorf("report compare: want OLD and NEW, two report or suite dirs (got %d argument(s))", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error { return compare(o, args[0], args[1], c.OutOrStdout()) },
	}
	c.Flags().StringVar(&o.tolerance, "tolerance", "20%", "how far (`PCT` of old) a duration or rows-lost metric may rise before it is a regression")
	c.Flags().Float64Var(&o.minMS, "min-ms", 0, "a duration that rose by less than `MS` milliseconds is not a regression, whatever the percentage")
	c.Flags().BoolVar(&o.json, "json", false, "print the comparison as JSON")
	return c
}

func compare(o compareOptions, oldPath, newPath string, stdout io.Writer) error {
	tol, err := trend.ParseTolerance(o.tolerance)
	if err != nil {
		return usageErrorf("report compare: %v", err)
	}
	if o.minMS < 0 || math.IsNaN(o.minMS) || math.IsInf(o.minMS, 0) {
		return usageErrorf("report compare: --min-ms %v: want 0 or more", o.minMS)
	}
	old, err := trend.Load(oldPath)
	if err != nil {
		return usageErrorf("report compare: OLD %v", err)
	}
	nu, err := trend.Load(newPath)
	if err != nil {
		return usageErrorf("report compare: NEW %v", err)
	}
	c := trend.Compare(old, nu, trend.Options{TolerancePct: tol, MinMS: o.minMS})
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(c); err != nil {
			return err
		}
	} else if err := c.Table(stdout); err != nil {
		return err
	}
	if n := len(c.Regressions); n > 0 {
		return failedf("report compare: %d regression(s), first: %s", n, c.Regressions[0])
	}
	return nil
}
