package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/journal"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/suite"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/scenarios"
	"github.com/spf13/cobra"
)

func newListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the drills (scenarios) drdrill run can run",
		Long: `List every scenario drdrill run accepts, with what it does: the fault it
injects and what it checks.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return listScenarios(c.OutOrStdout()) },
	}
}

func listScenarios(stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	for _, s := range scenarios.All() {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.Description)
	}
	return tw.Flush()
}

// runOptions are the flags of drdrill run.
type runOptions struct {
	yes         bool
	state       string
	target      string
	dir         string
	reportDir   string
	keep        bool
	backend     string
	all         bool
	parallel    int
	count       int
	metricsFile string
	quiet       bool

	// last is the run's outcome for --metrics-file (nil until it has one).
	last *suite.Run
}

func newRunCmd(stderr io.Writer) *cobra.Command {
	var o runOptions
	c := &cobra.Command{
		Use:   "run SCENARIO... | --all",
		Short: "Run drills and write their reports",
		Long: `Run one drill (drdrill list shows them) against the embedded lab, or a
target file with --target FILE --yes, and write its report: report.json,
junit.xml, summary.md and report.html (plus the drill's artifacts) in the
report directory, and a summary on stdout. If a lab is already up in the lab directory the
drill uses it as it is and leaves it up; otherwise it brings a fresh one up
with --backend and takes it down afterwards, unless --keep-lab. A drill that
needs a cluster (the failover drills) gets the failover lab (netns only).

A suite: several drills, --all, --count K or --parallel N. Each run gets a
fresh lab of its own in a numbered dir under --lab, up to N side by side
(default: half the cores; the docker lab: 1), and its own report dir
REPORT/SCENARIO/run-K; REPORT (default reports/suite) gets junit.xml (a
testsuite per drill, a testcase per run), suite.json and suite.html (per
drill: runs, passes, failures, errors, flaky, p50/p95 of each metric). A run
whose lab did not come up is an infrastructure error, not a failed drill.
On a target file a suite runs its drills one at a time.

--metrics-file writes the outcome in the Prometheus text format, for
node_exporter's textfile collector (atomically: temp file and rename).

Everything is checked before any lab comes up: the scenario, --target,
--backend, and that the report directory can be created and written.
The faults a drill injects are undone on every path, ^C included.

Exit codes:
  0  the drill passed
  1  the drill ran and a check failed
  2  it could not run: bad input, a missing dependency, a lab that does not
     come up, an interrupted drill (^C, SIGTERM), or a report that could not
     be written
A suite: 0 every run passed; 1 a run failed or errored, or some (not all)
could not start; 2 bad input, none could start, or interrupted.`,
		Example: `  drdrill run vpn-outage
  drdrill run gateway-crash --backend docker --report out/gw
  drdrill run vpn-outage --keep-lab && drdrill lab status
  drdrill run --all --count 3 --parallel 2 --report out/nightly --metrics-file /var/lib/node_exporter/drdrill.prom
  drdrill run --all --target seoul.yaml --yes`,
		Args: func(c *cobra.Command, args []string) error {
			if o.all && len(args) > 0 {
				return usageErrorf("run: --all runs every drill; name none with it (or name drills without --all)")
			}
			if !o.all && len(args) == 0 {
				return usageErrorf("run: want a scenario name, several, or --all (drdrill list shows them)")
			}
			return nil
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var out []cobra.Completion
			for _, s := range scenarios.All() {
				if !slices.Contains(args, s.Name) {
					out = append(out, cobra.CompletionWithDesc(s.Name, s.Description))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			f := c.Flags()
			if o.all || len(args) > 1 || f.Changed("count") || f.Changed("parallel") {
				p, err := o.checkSuite(args, f.Changed("parallel"))
				if err != nil {
					return err
				}
				return o.runSuite(c.Context(), p, c.OutOrStdout(), stderr)
			}
			sc, b, spec, err := o.check(args[0])
			if err != nil {
				return err
			}
			err = o.run(c.Context(), sc, b, spec, c.OutOrStdout(), stderr)
			if o.metricsFile != "" {
				if r := o.last; r != nil || !isUsage(err) {
					if r == nil {
						ir := suite.InfraError(suite.Job{Scenario: sc.Name, N: 1}, time.Now(), err)
						ir.Target = spec.reportName()
						r = &ir
					}
					if merr := writeMetrics(o.metricsFile, r.Target, []suite.Run{*r}, 1, 1); merr != nil {
						if err == nil {
							return merr
						}
						fmt.Fprintln(stderr, "drdrill: "+errorText(merr))
					}
				}
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.target, "target", "lab", "what to drill: `lab` (the embedded lab) or a target FILE (drdrill.target/v1)")
	f.BoolVar(&o.yes, "yes", false, "confirm a drill on a target file (which must also say safety.allow_destructive: true)")
	f.StringVar(&o.state, "state", "", "the `DIR` of the fault journal (default: the lab dir, or $XDG_STATE_HOME/drdrill/NAME for a target file)")
	f.StringVar(&o.dir, "lab", defaultLabDir(), labDirUsage)
	f.StringVar(&o.reportDir, "report", "", "the `DIR` to write the report in (default reports/SCENARIO; a suite: reports/suite)")
	f.BoolVar(&o.keep, "keep-lab", false, "leave the lab this run brings up running afterwards")
	f.BoolVar(&o.quiet, "quiet", false, "no live progress on stderr (the current step, what it waits for, elapsed and deadline)")
	f.StringVar(&o.backend, "backend", "netns", backendUsage()+" (when this run brings the lab up)")
	f.BoolVar(&o.all, "all", false, "run every drill (a suite)")
	f.IntVar(&o.count, "count", 1, "run each drill `K` times (a suite)")
	f.IntVar(&o.parallel, "parallel", 0, "run up to `N` labs side by side (a suite; default half the cores, 1 on docker or a target file)")
	f.StringVar(&o.metricsFile, "metrics-file", "", "write the outcome to `PATH` in the Prometheus text format (node_exporter textfile collector)")
	c.MarkFlagDirname("lab")
	c.MarkFlagDirname("report")
	c.RegisterFlagCompletionFunc("target", cobra.FixedCompletions([]string{"lab"}, cobra.ShellCompDirectiveDefault)) // "lab", or a file
	c.RegisterFlagCompletionFunc("backend", cobra.FixedCompletions(backendNames(), cobra.ShellCompDirectiveNoFileComp))
	return c
}

// check validates everything a run needs before any lab comes up, so that
// bad input fails in milliseconds and changes nothing (bar creating the
// report directory).
func (o *runOptions) check(name string) (harness.Scenario, lab.Backend, *targetSpec, error) {
	sc, err := scenarios.Lookup(name)
	if err != nil {
		return sc, nil, nil, usageErrorf("%v", err)
	}
	spec, err := loadTarget(o.target, o.dir)
	if err != nil {
		return sc, nil, nil, err
	}
	if err := spec.checkDestructive(o.yes); err != nil {
		return sc, nil, nil, err
	}
	b, err := backendByName(o.backend)
	if err != nil {
		return sc, nil, nil, err
	}
	if spec.isLab() && needsFailoverLab(sc) {
		if info, err := lab.Load(spec.labDir); err == nil && info.Phase == lab.PhaseUp {
			if info.Failover == nil {
				return sc, nil, nil, usageErrorf("drill %s needs the failover lab; the lab up at %s has none (drdrill lab down --lab %[2]s; drdrill lab up --failover --lab %[2]s)", sc.Name, spec.labDir)
			}
		} else if err := checkFailoverBackend(sc, b); err != nil {
			return sc, nil, nil, err
		}
	}
	if o.reportDir == "" {
		o.reportDir = filepath.Join("reports", sc.Name)
	}
	if err := checkReportDir(o.reportDir); err != nil {
		return sc, nil, nil, err
	}
	if err := checkMetricsFile(o.metricsFile); err != nil {
		return sc, nil, nil, err
	}
	return sc, b, spec, nil
}

// needsFailoverLab: a drill that needs a cluster runs on the failover lab.
func needsFailoverLab(sc harness.Scenario) bool { return slices.Contains(sc.Needs, target.CapCluster) }

// checkFailoverBackend refuses a failover lab on a backend without one.
func checkFailoverBackend(sc harness.Scenario, b lab.Backend) error {
	if b.Name() != "netns" {
		return usageErrorf("drill %s needs the failover lab, which runs on the netns backend only; got --backend %s", sc.Name, b.Name())
	}
	return nil
}

// checkReportDir creates dir and a file in it (removed again): a report that
// cannot be written is known before the drill, not after it.
func checkReportDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageErrorf("report directory %s: cannot create it: %v", dir, err)
	}
	f, err := os.CreateTemp(dir, ".drdrill-probe-*")
	if err != nil {
		return usageErrorf("report directory %s: cannot write in it: %v", dir, err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return usageErrorf("report directory %s: cannot remove a file in it: %v", dir, err)
	}
	return nil
}

// run runs the drill, on the lab up at o.dir or on one it brings up (and
// takes down afterwards unless --keep-lab), and writes the report.
func (o *runOptions) run(ctx context.Context, sc harness.Scenario, b lab.Backend, spec *targetSpec, stdout, stderr io.Writer) error {
	log := newLogger(stderr)
	if !spec.isLab() {
		t, closeT, err := spec.openFile(ctx)
		if err != nil {
			return err
		}
		defer closeT()
		for _, w := range spec.file.Warnings() {
			fmt.Fprintln(stderr, "drdrill: warning: "+w)
		}
		j, err := spec.openJournal(o.state)
		if err != nil {
			return err
		}
		defer j.Close()
		fmt.Fprintf(stdout, "drilling %s (fault journal %s)\n", spec.name(), j.Path())
		return o.finish(ctx, sc, t, j, spec.file.Safety().MaxFault, log, stdout, stderr)
	}
	absDir := spec.labDir
	info, err := lab.Load(absDir)
	if err == nil && info.Phase == lab.PhaseUp {
		fmt.Fprintf(stdout, "using the lab already up at %s\n", absDir)
		b = backends()[info.Backend]
	} else {
		start := time.Now()
		info, err = lab.Up(ctx, lab.Options{Dir: absDir, Backend: b, Log: log, Failover: needsFailoverLab(sc)})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lab %s up at %s in %.2fs\n", info.ID, info.Dir, time.Since(start).Seconds())
		if !o.keep {
			defer func() {
				start := time.Now()
				if err := lab.Down(context.WithoutCancel(ctx), info.Dir, backends()); err != nil {
					fmt.Fprintln(stderr, "drdrill: "+errorText(err))
					return
				}
				fmt.Fprintf(stdout, "lab down in %.2fs\n", time.Since(start).Seconds())
			}()
		}
	}

	t, err := lab.Open(ctx, info, b)
	if err != nil {
		return err
	}
	defer t.Close()
	spec.labDir = info.Dir
	j, err := spec.openJournal(o.state)
	if err != nil {
		return err
	}
	defer j.Close()
	return o.finish(ctx, sc, t, j, 0, log, stdout, stderr)
}

// finish runs the drill on t, writes the report and turns the verdict into
// the exit code.
func (o *runOptions) finish(ctx context.Context, sc harness.Scenario, t target.Target, j *journal.Journal, maxFault time.Duration, log *slog.Logger, stdout, stderr io.Writer) error {
	r, secrets, err := runDrill(ctx, sc, t, j, maxFault, log, progressTo(stderr, o.quiet, 1, ""))
	if err != nil {
		return err
	}
	werr := report.Write(o.reportDir, r, secrets...)
	last := suite.FromReport(suite.Job{Scenario: sc.Name, N: 1}, r, secrets...)
	o.last = &last
	report.Console(stdout, r, secrets...)
	if werr != nil {
		return fmt.Errorf("write report to %s: %s", o.reportDir, oneLine(werr.Error()))
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(o.reportDir, report.JSONFile))
	switch r.Verdict {
	case report.VerdictPass:
		return nil
	case report.VerdictFail:
		return errCheckFailed
	}
	if r.Interrupted {
		return errors.New("drill interrupted; faults were undone")
	}
	return errors.New(oneLine(r.Error))
}

func oneLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
