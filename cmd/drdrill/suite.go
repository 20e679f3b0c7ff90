package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/suite"
	"github.com/drdrill/drdrill/scenarios"
)

// suitePlan is a validated suite: what runs where.
type suitePlan struct {
	drills   map[string]harness.Scenario
	names    []string
	jobs     []suite.Job
	parallel int
	spec     *targetSpec
	backend  lab.Backend
	labBase  string               // the lab suites' labs live under (absolute)
	labDirs  map[suite.Job]string // each run's own lab dir
	madeBase bool                 // labBase did not exist before
}

// defaultParallel is how many labs run side by side by default: half the
// cores. A lab is two MariaDB servers and two charons, and a drill's
// windows (slave_net_timeout 3 s, connect retry 1 s) are short enough that
// starving them of CPU would make a drill fail for the machine's sake.
func defaultParallel() int { return max(1, runtime.NumCPU()/2) }

// checkSuite validates a suite's input before anything changes (bar the
// report dir, as for one drill).
func (o *runOptions) checkSuite(args []string, parallelSet bool) (*suitePlan, error) {
	p := &suitePlan{drills: map[string]harness.Scenario{}, labDirs: map[suite.Job]string{}}
	if o.all {
		for _, sc := range scenarios.All() {
			p.names = append(p.names, sc.Name)
			p.drills[sc.Name] = sc
		}
	}
	for _, name := range args {
		sc, err := scenarios.Lookup(name)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		if _, dup := p.drills[name]; dup {
			return nil, usageErrorf("run: %s named twice (--count K runs each drill K times)", name)
		}
		p.names = append(p.names, name)
		p.drills[name] = sc
	}
	if o.count < 1 {
		return nil, usageErrorf("run: --count %d: want at least 1", o.count)
	}
	if parallelSet && o.parallel < 1 {
		return nil, usageErrorf("run: --parallel %d: want at least 1", o.parallel)
	}
	if o.keep {
		return nil, usageErrorf("run: --keep-lab keeps the lab of one drill; a suite takes each of its labs down")
	}
	p.jobs = suite.Jobs(p.names, o.count)
	// Longest first: labs side by side then finish together.
	slices.SortStableFunc(p.jobs, func(a, b suite.Job) int {
		return cmp.Compare(p.drills[b.Scenario].Typical, p.drills[a.Scenario].Typical)
	})
	spec, err := loadTarget(o.target, o.dir)
	if err != nil {
		return nil, err
	}
	if err := spec.checkDestructive(o.yes); err != nil {
		return nil, err
	}
	p.spec = spec
	if !spec.isLab() {
		if parallelSet && o.parallel > 1 {
			return nil, usageErrorf("run: --parallel %d: %s is one set of real systems; its drills run one at a time", o.parallel, spec.name())
		}
		p.parallel = 1
	} else if err := o.checkSuiteLabs(p, parallelSet); err != nil {
		return nil, err
	}
	if o.reportDir == "" {
		o.reportDir = filepath.Join("reports", "suite")
	}
	if err := checkReportDir(o.reportDir); err != nil {
		return nil, err
	}
	if err := checkMetricsFile(o.metricsFile); err != nil {
		return nil, err
	}
	return p, nil
}

// checkSuiteLabs plans a lab dir per run under --lab and validates each.
func (o *runOptions) checkSuiteLabs(p *suitePlan, parallelSet bool) error {
	if o.state != "" {
		return usageErrorf("run: --state: a suite on the lab keeps each run's fault journal in that run's lab dir")
	}
	b, err := backendByName(o.backend)
	if err != nil {
		return err
	}
	p.backend = b
	for _, name := range p.names {
		if sc := p.drills[name]; needsFailoverLab(sc) {
			if err := checkFailoverBackend(sc, b); err != nil {
				return err
			}
		}
	}
	p.parallel = o.parallel
	if b.Name() == "docker" {
		if parallelSet && o.parallel > 1 {
			return usageErrorf("run: --parallel %d: the docker lab's address plan is fixed, one lab per Docker engine; use --backend netns or --parallel 1", o.parallel)
		}
		p.parallel = 1
	} else if !parallelSet {
		p.parallel = defaultParallel()
	}
	p.parallel = min(p.parallel, len(p.jobs))
	base, err := filepath.Abs(p.spec.labDir)
	if err != nil {
		return usageErrorf("--lab %s: %v", p.spec.labDir, err)
	}
	if info, err := lab.Load(base); err == nil {
		return usageErrorf("run: --lab %s holds a lab (%s); a suite brings its own labs up in dirs under --lab: take it down (drdrill lab down --lab %[1]s) or name another --lab", base, info.Phase)
	}
	if _, err := os.Stat(base); errors.Is(err, os.ErrNotExist) {
		p.madeBase = true
	}
	p.labBase = base
	for i, j := range p.jobs {
		dir := filepath.Join(base, fmt.Sprint(i+1))
		if _, err := lab.Prepare(dir, b); err != nil {
			return err
		}
		p.labDirs[j] = dir
	}
	return nil
}

// runSuite runs the plan's jobs, prints a line per run as it ends and a
// table per drill, and writes the suite's files (and the metrics file).
func (o *runOptions) runSuite(ctx context.Context, p *suitePlan, stdout, stderr io.Writer) error {
	log := newLogger(stderr)
	where := p.spec.name()
	if p.spec.isLab() {
		where = fmt.Sprintf("fresh labs under %s (%s backend)", p.labBase, p.backend.Name())
	}
	fmt.Fprintf(stdout, "suite: %d drill(s) × %d = %d run(s), %d at a time, on %s; reports in %s\n",
		len(p.names), o.count, len(p.jobs), p.parallel, where, o.reportDir)
	started := time.Now()
	runs := suite.Execute(ctx, p.jobs, p.parallel, func(ctx context.Context, j suite.Job) suite.Run {
		return o.runJob(ctx, p, j, log, stderr)
	}, func(r suite.Run) { printRun(stdout, o.reportDir, r) })
	if p.madeBase {
		os.Remove(p.labBase) // only if empty: every lab took its dir with it
	}
	s := suite.New(p.spec.reportName(), started, time.Since(started), p.parallel, o.count, ctx.Err() != nil, runs)
	printSuite(stdout, s)
	var errs []error
	if err := suite.Write(o.reportDir, s); err != nil {
		errs = append(errs, fmt.Errorf("write suite to %s: %s", o.reportDir, oneLine(err.Error())))
	} else {
		fmt.Fprintf(stdout, "suite: %s, %s, %s\n", filepath.Join(o.reportDir, suite.JUnitFile),
			filepath.Join(o.reportDir, suite.JSONFile), filepath.Join(o.reportDir, suite.HTMLFile))
	}
	if o.metricsFile != "" {
		if err := promfileWrite(o.metricsFile, s); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("suite interrupted after %d of %d run(s); every started drill's faults were undone and its lab taken down", s.Ran(), len(runs))
	case len(errs) > 0:
		return errors.Join(errs...)
	case s.Ran() == 0:
		return fmt.Errorf("no drill could run: %s", firstReason(runs))
	case !s.Passed():
		return failedf("%s", notPassed(s))
	}
	return nil
}

// runJob is one run of a suite: its own lab (or the target file), its
// report in REPORT/SCENARIO/run-N. A run that could not start is an
// infrastructure error, a run the suite never started (interrupted) not-run.
func (o *runOptions) runJob(ctx context.Context, p *suitePlan, j suite.Job, log *slog.Logger, stderr io.Writer) suite.Run {
	if ctx.Err() != nil {
		return suite.Skipped(j)
	}
	sc := p.drills[j.Scenario]
	start := time.Now()
	infra := func(err error) suite.Run {
		if ctx.Err() != nil {
			r := suite.Skipped(j)
			r.Reason = "interrupted before the drill started"
			return r
		}
		r := suite.InfraError(j, start, err)
		r.Target = p.spec.reportName()
		return r
	}
	var (
		r       *report.Report
		secrets []string
	)
	if !p.spec.isLab() {
		t, closeT, err := p.spec.openFile(ctx)
		if err != nil {
			return infra(err)
		}
		defer closeT()
		jr, err := p.spec.openJournal(o.state)
		if err != nil {
			return infra(err)
		}
		defer jr.Close()
		if r, secrets, err = runDrill(ctx, sc, t, jr, p.spec.file.Safety().MaxFault, log, o.suiteProgress(stderr, p, j)); err != nil {
			return infra(err)
		}
	} else {
		info, err := lab.Up(ctx, lab.Options{Dir: p.labDirs[j], Backend: p.backend, Log: log, Failover: needsFailoverLab(sc)})
		if err != nil {
			return infra(fmt.Errorf("lab up: %w", err))
		}
		defer func() {
			if err := lab.Down(context.WithoutCancel(ctx), info.Dir, backends()); err != nil {
				fmt.Fprintf(stderr, "drdrill: %s run %d: %s\n", j.Scenario, j.N, errorText(err))
			}
		}()
		t, err := lab.Open(ctx, info, p.backend)
		if err != nil {
			return infra(err)
		}
		defer t.Close()
		spec := &targetSpec{labDir: info.Dir}
		jr, err := spec.openJournal("")
		if err != nil {
			return infra(err)
		}
		defer jr.Close()
		if r, secrets, err = runDrill(ctx, sc, t, jr, 0, log, o.suiteProgress(stderr, p, j)); err != nil {
			return infra(err)
		}
	}
	run := suite.FromReport(j, r, secrets...)
	if err := report.Write(filepath.Join(o.reportDir, j.Dir()), r, secrets...); err != nil {
		run.Dir = ""
		run.Reason = strings.TrimPrefix(run.Reason+"; ", "; ") + "report not written: " + oneLine(err.Error())
	}
	return run
}

func printRun(w io.Writer, reportDir string, r suite.Run) {
	line := fmt.Sprintf("%s run %d: %s", r.Scenario, r.N, strings.ToUpper(r.Outcome))
	if r.Outcome != suite.Infra && r.Outcome != suite.NotRun {
		line += fmt.Sprintf(" in %.2fs", float64(r.DurationMS)/1000)
	}
	if r.Dir != "" {
		line += "  " + filepath.Join(reportDir, r.Dir)
	}
	if r.Reason != "" {
		line += "  why: " + r.Reason
	}
	fmt.Fprintln(w, line)
}

// printSuite is a table of the drills: their runs by outcome, flaky, and
// their duration's p50 and p95.
func printSuite(w io.Writer, s *suite.Suite) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nDRILL\tVERDICT\tRUNS\tPASS\tFAIL\tERROR\tINFRA\tNOT RUN\tFLAKY\tP50\tP95")
	for _, d := range s.Drills {
		p50, p95 := "–", "–"
		if st := d.Metrics[report.DurationMetric]; st.N > 0 {
			p50, p95 = fmt.Sprintf("%.2fs", st.P50/1000), fmt.Sprintf("%.2fs", st.P95/1000)
		}
		flaky := "no"
		if d.Flaky {
			flaky = "FLAKY"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", d.Scenario, strings.ToUpper(d.Verdict), d.Runs, d.Passes,
			d.Failures, d.Errors+d.Interrupted, d.Infra, d.NotRun, flaky, p50, p95)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d run(s) in %.2fs\n", len(s.Runs), float64(s.DurationMS)/1000)
}

func notPassed(s *suite.Suite) string {
	var failed, infra int
	for _, r := range s.Runs {
		switch r.Outcome {
		case suite.Pass:
		case suite.Infra, suite.NotRun:
			infra++
		default:
			failed++
		}
	}
	var parts []string
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d run(s) did not pass", failed, len(s.Runs)))
	}
	if infra > 0 {
		parts = append(parts, fmt.Sprintf("%d could not start (%s)", infra, firstReason(s.Runs)))
	}
	return strings.Join(parts, "; ")
}

func firstReason(runs []suite.Run) string {
	for _, r := range runs {
		if r.Outcome == suite.Infra {
			return r.Reason
		}
	}
	return "none started"
}

// suiteProgress shows a suite run's progress as plain lines named after the
// run (runs side by side cannot share one line in place).
func (o *runOptions) suiteProgress(w io.Writer, _ *suitePlan, j suite.Job) *liveProgress {
	return progressTo(w, o.quiet, 2, fmt.Sprintf("%s#%d: ", j.Scenario, j.N))
}
