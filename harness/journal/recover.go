package journal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

// RecoveryTimeout bounds the recovery of one open fault (as a drill's
// deferred recovery is bounded).
const RecoveryTimeout = 60 * time.Second

// RecoverNote is the note of the recovered entries Recover writes.
const RecoverNote = "drdrill recover"

// Recover undoes every fault the journal holds open, newest first: it
// builds the fault again (fault.New with the journalled name and
// parameters), resumes it as injected by the process that wrote the entry
// (fault.Resumer, with the entry's data), runs Recover and WaitRecovered
// (each fault bounded by RecoveryTimeout), and journals it recovered. A
// fault that fails stays open (a later run tries again) and the others
// still run; the error names each with how to undo it by hand. With
// nothing open it does nothing: a second run is a no-op.
//
// Recover does not verify the whole steady state: fault.WaitSteady does
// (drdrill recover runs it after Recover, also when nothing was open).
func Recover(ctx context.Context, j *Journal, t target.Target, tl *timeline.Timeline) (recovered []Entry, err error) {
	if tl == nil {
		tl = timeline.New()
	}
	open, err := j.OpenFaults()
	if err != nil {
		return nil, err
	}
	for _, w := range j.Warnings() {
		tl.Add("harness", timeline.KindNote, timeline.Note{"event": "journal", "warning": w})
	}
	var errs []error
	for i := len(open) - 1; i >= 0; i-- {
		e := open[i]
		if err := recoverOne(ctx, e, t, tl); err != nil {
			tl.Add("harness", timeline.KindRecovery, timeline.Recovery{Action: "recover " + e.Fault + " " + e.ID, Error: err.Error()})
			errs = append(errs, describe(e, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if err := j.DoneNote(e.ID, RecoverNote); err != nil {
			errs = append(errs, err)
			continue
		}
		recovered = append(recovered, e)
	}
	return recovered, errors.Join(errs...)
}

func recoverOne(ctx context.Context, e Entry, t target.Target, tl *timeline.Timeline) error {
	if e.Target.Name != "" && t.Name() != e.Target.Name {
		return fmt.Errorf("it was injected on target %q, not %q (%s)", e.Target.Name, t.Name(), e.Target.Reopen)
	}
	f, err := fault.New(e.Fault, t, tl, e.Params)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	r, ok := f.(fault.Resumer)
	if !ok {
		return fmt.Errorf("fault %s cannot be recovered by another process", e.Fault)
	}
	if err := r.Resume(e.Data); err != nil {
		return err
	}
	tl.Add("fault", timeline.KindFault, timeline.Fault{Fault: e.Fault, Action: "resume",
		Detail: fmt.Sprintf("injected %s by pid %d (%s), still open: recovering", e.Time.Format(time.RFC3339), e.PID, stepOr(e.Step)),
		Extra:  map[string]any{"id": e.ID}})
	rctx, cancel := context.WithTimeout(ctx, RecoveryTimeout)
	defer cancel()
	start := time.Now()
	err = f.Recover(rctx)
	if err == nil {
		err = f.WaitRecovered(rctx)
	}
	d := timeline.Recovery{Action: "recover " + e.Fault + " " + e.ID, DurationMS: time.Since(start).Milliseconds()}
	if err != nil {
		return err
	}
	tl.AddAt(start, "harness", timeline.KindRecovery, d)
	return nil
}

func stepOr(s string) string {
	if s == "" {
		return "no step recorded"
	}
	return "step " + s
}

// describe names an open fault that could not be recovered, with what to
// do by hand.
func describe(e Entry, err error) error {
	s := fmt.Sprintf("fault %s (%s, injected %s)", e.Fault, e.ID, e.Time.Format(time.RFC3339))
	if e.Undo != "" {
		return fmt.Errorf("%s: %w; to undo it by hand: %s", s, err, e.Undo)
	}
	return fmt.Errorf("%s: %w", s, err)
}
