package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/journal"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/targetfile"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/spf13/cobra"
)

func newRecoverCmd() *cobra.Command {
	var targetFlag, dir, state string
	c := &cobra.Command{
		Use:   "recover",
		Short: "Undo every fault a killed drill left in place, then verify steady state",
		Long: `Read the fault journal of a target (written and synced before each fault is
injected) and undo every fault that is still open, newest first, then wait
for steady state: the tunnel healthy on both sides, the replica's IO and SQL
threads running and caught up. Use it after a drill was killed (kill -9, a
lost terminal, a crashed CI runner). It is idempotent: with nothing open it
only verifies steady state.

The journal is in the lab dir for --target lab, else in --state or
$XDG_STATE_HOME/drdrill/<target name>/ (printed).

Exit codes: 0 nothing is left and steady state holds; 1 a fault could not be
undone or steady state did not come back (what is left is printed); 2 bad
input, or another drdrill holds the journal.`,
		Example: `  drdrill recover --lab /tmp/drdrill-lab
  drdrill recover --target staging.yaml`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return recoverTarget(c.Context(), targetFlag, dir, state, c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&targetFlag, "target", "lab", "what to recover: `lab` (the lab at --lab) or a target FILE")
	c.Flags().StringVar(&dir, "lab", defaultLabDir(), labDirUsage)
	c.Flags().StringVar(&state, "state", "", "the `DIR` of the fault journal (default: the lab dir, or $XDG_STATE_HOME/drdrill/NAME)")
	c.MarkFlagDirname("lab")
	c.MarkFlagDirname("state")
	return c
}

func recoverTarget(ctx context.Context, targetFlag, dir, state string, stdout io.Writer) error {
	spec, err := loadTarget(targetFlag, dir)
	if err != nil {
		return err
	}
	j, err := spec.openJournal(state)
	if err != nil {
		return err
	}
	defer j.Close()
	fmt.Fprintf(stdout, "journal: %s\n", j.Path())
	for _, w := range j.Warnings() {
		fmt.Fprintln(stdout, "  warning: "+w)
	}
	var t target.Target
	if spec.isLab() {
		info, err := upLab(spec.labDir)
		if err != nil {
			return err
		}
		lt, err := lab.Open(ctx, info, nil)
		if err != nil {
			return fmt.Errorf("open the lab at %s: %w", spec.labDir, err)
		}
		defer lt.Close()
		t = lt
	} else {
		hosts, closeHosts, err := hostResolver(spec.file)
		if err != nil {
			return err
		}
		defer closeHosts()
		ft, err := targetfile.Open(ctx, spec.file, hosts, targetfile.Recovering())
		if err != nil {
			return fmt.Errorf("open %s: %w", spec.name(), err)
		}
		defer ft.Close()
		t = ft
	}
	start := time.Now()
	tl := timeline.New()
	recovered, rerr := journal.Recover(ctx, j, t, tl)
	for _, e := range recovered {
		fmt.Fprintf(stdout, "  undone: %s (%s) on %v: %s\n", e.Fault, e.Step, e.Hosts, e.Undo)
	}
	if len(recovered) == 0 && rerr == nil {
		fmt.Fprintln(stdout, "  no fault was open")
	}
	if rerr != nil {
		return fmt.Errorf("%w: recover: %s", errCheckFailed, oneLine(rerr.Error()))
	}
	if err := fault.WaitSteady(ctx, t, tl); err != nil {
		return fmt.Errorf("%w: steady state not back after recovery: %s", errCheckFailed, oneLine(err.Error()))
	}
	fmt.Fprintf(stdout, "steady state: tunnel healthy on both sides, replica IO/SQL Yes, caught up (%.2fs)\n", time.Since(start).Seconds())
	return nil
}

// openJournal opens the target's fault journal (its lock: one drdrill per
// target at a time).
func (s *targetSpec) openJournal(state string) (*journal.Journal, error) {
	dir := s.stateDir(state)
	if s.isLab() {
		if _, err := upLab(s.labDir); err != nil {
			return nil, err
		}
	}
	j, err := journal.Open(dir)
	var le *journal.LockedError
	if errors.As(err, &le) {
		return nil, usageErrorf("%v", err)
	}
	if err != nil {
		return nil, usageErrorf("fault journal in %s: %v", dir, err)
	}
	if s.isLab() {
		j.SetTarget(journal.LabRef(s.labDir))
	} else {
		j.SetTarget(journal.FileRef(s.file.Name, s.file.Path))
	}
	return j, nil
}
