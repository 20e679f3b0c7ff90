package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/scenarios"
)

func cmdList(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageErrorf("list: unexpected argument %q", args[0])
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	for _, s := range scenarios.All() {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.Description)
	}
	return tw.Flush()
}

// cmdRun runs one drill and returns the exit code of its verdict.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	target := fs.String("target", "lab", "lab, or a target file (not supported yet)")
	dir := fs.String("lab", defaultLabDir(), "lab directory")
	reportDir := fs.String("report", "", "report directory (default reports/SCENARIO)")
	keep := fs.Bool("keep-lab", false, "leave the lab up afterwards")
	backend := fs.String("backend", "netns", "lab backend: netns or docker")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return exitCannotRun, err
	}
	if len(pos) != 1 {
		return exitCannotRun, usageErrorf("run: want exactly one scenario name (drdrill list shows them)")
	}
	sc, err := scenarios.Lookup(pos[0])
	if err != nil {
		return exitCannotRun, usageErrorf("%v", err)
	}
	if *target != "lab" {
		if _, err := os.Stat(*target); err != nil {
			return exitCannotRun, usageErrorf("--target %s: no such target file (use --target lab for the embedded lab)", *target)
		}
		return exitCannotRun, usageErrorf("--target %s: target files are not supported yet; use --target lab", *target)
	}
	if *reportDir == "" {
		*reportDir = filepath.Join("reports", sc.Name)
	}
	b, err := backendByName(*backend)
	if err != nil {
		return exitCannotRun, err
	}
	log := newLogger(stderr)

	// Use a running lab as it is; otherwise bring a fresh one up and take it
	// down afterwards (unless --keep-lab), on every path.
	absDir, _ := filepath.Abs(*dir)
	info, err := lab.Load(absDir)
	if err == nil && info.Phase == lab.PhaseUp {
		fmt.Fprintf(stdout, "using the lab already up at %s\n", absDir)
		b = backends()[info.Backend]
	} else {
		start := time.Now()
		info, err = lab.Up(ctx, lab.Options{Dir: absDir, Backend: b, Log: log})
		if err != nil {
			return exitCannotRun, err
		}
		fmt.Fprintf(stdout, "lab %s up at %s in %.2fs\n", info.ID, info.Dir, time.Since(start).Seconds())
		if !*keep {
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

	r, secrets, err := runDrill(ctx, sc, info, b, log)
	if err != nil {
		return exitCannotRun, err
	}
	if err := report.Write(*reportDir, r, secrets...); err != nil {
		fmt.Fprintln(stderr, "drdrill: write report: "+err.Error())
	}
	report.Console(stdout, r, secrets...)
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(*reportDir, "report.json"))
	switch r.Verdict {
	case report.VerdictPass:
		return exitPass, nil
	case report.VerdictFail:
		return exitFail, nil
	}
	if r.Interrupted {
		return exitCannotRun, errors.New("drill interrupted; faults were undone")
	}
	return exitCannotRun, errors.New(oneLine(r.Error))
}

func oneLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
