package harness

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/journal"
	"github.com/drdrill/drdrill/harness/timeline"
)

// InjectTimeout bounds one fault's Inject.
const InjectTimeout = 30 * time.Second

// EventWatchdog is the note the max_fault watchdog records when it
// recovers a fault the drill still held.
const EventWatchdog = "max_fault reached: recovered by the watchdog"

// Injection is a fault a drill injected: its lifecycle, with the recovery
// state the deferred undo needs.
type Injection struct {
	Fault fault.Fault
	// At is when Inject was called.
	At time.Time

	env  *Env
	step string
	// op serialises the lifecycle: the inject, the drill's Recover and
	// WaitRecovered, the watchdog and the deferred undo.
	op sync.Mutex

	mu          sync.Mutex
	plan        fault.Plan
	journalID   string
	timer       *time.Timer
	causeUndone bool
	steady      bool
	watchdog    bool // the max_fault watchdog recovered it
}

// Inject injects f as a recorded step. Before anything happens it defers
// the fault's recovery (Recover, then WaitRecovered, each only if the drill
// did not get there itself) with a fresh context; from the inject until
// WaitRecovered succeeds the fault is in place, so that the diagnosis of a
// failure ignores the fault's own effect. Inject is bounded by
// InjectTimeout.
//
// With a Journal, the fault's Plan (fault.Planner: what, where, how to
// undo, what Resume needs) is written and synced to it before the fault
// changes anything, and marked recovered once WaitRecovered succeeds; a
// journal that cannot be written stops the inject before any change. With
// MaxFault, a watchdog recovers the fault (Recover, WaitRecovered) once it
// has been held that long, and the drill's own Recover then finds nothing
// to do (see WatchdogFired).
func (e *Env) Inject(ctx context.Context, step string, f fault.Fault) (*Injection, error) {
	in := &Injection{Fault: f, env: e, step: step}
	e.mu.Lock()
	e.injections = append(e.injections, in)
	e.mu.Unlock()
	e.Defer("recover "+f.Name(), in.undo)
	e.faultIn(1)
	err := e.Step(ctx, step, func(ctx context.Context) error {
		in.op.Lock()
		defer in.op.Unlock()
		ictx, cancel := context.WithTimeout(ctx, InjectTimeout)
		defer cancel()
		if err := in.begin(ictx); err != nil {
			return err
		}
		in.At = time.Now()
		in.arm()
		return f.Inject(ictx)
	})
	return in, err
}

// begin plans the fault and journals it: nothing has changed yet.
func (in *Injection) begin(ctx context.Context) error {
	e, f := in.env, in.Fault
	var plan fault.Plan
	if p, ok := f.(fault.Planner); ok {
		var err error
		if plan, err = p.Plan(ctx, e.MaxFault); err != nil {
			return fmt.Errorf("plan %s (nothing was changed): %w", f.Name(), err)
		}
	}
	in.mu.Lock()
	in.plan = plan
	in.mu.Unlock()
	e.recordDeadMan(f.Name(), plan.DeadMan)
	if e.Journal == nil {
		return nil
	}
	entry := journal.Entry{Fault: f.Name(), Params: fault.ParamsOf(f), Data: plan.Data, Step: in.step,
		Hosts: plan.Hosts, What: plan.What, Undo: plan.Undo, DeadMan: plan.DeadMan, MaxFaultMS: e.MaxFault.Milliseconds()}
	if plan.DeadMan != "" && e.MaxFault > 0 {
		at := time.Now().Add(e.MaxFault).UTC()
		entry.DeadManAt = &at
	}
	id, err := e.Journal.Begin(entry)
	if err != nil {
		return fmt.Errorf("%s: cannot journal the fault before injecting it (nothing was changed): %w", f.Name(), err)
	}
	in.mu.Lock()
	in.journalID = id
	in.mu.Unlock()
	e.Timeline.Add("harness", timeline.KindNote, timeline.Note{"event": "fault journalled", "fault": f.Name(), "id": id, "journal": e.Journal.Path()})
	return nil
}

// recordDeadMan says in the report's environment whether the fault has a
// dead-man's switch ("none" when it has not).
func (e *Env) recordDeadMan(name, deadMan string) {
	if deadMan == "" {
		deadMan = "none"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m, _ := e.environment["dead_man"].(map[string]string)
	if m == nil {
		m = map[string]string{}
		e.environment["dead_man"] = m
	}
	m[name] = deadMan
}

// arm starts the max_fault watchdog (none without MaxFault).
func (in *Injection) arm() {
	limit := in.env.MaxFault
	if limit <= 0 {
		return
	}
	in.mu.Lock()
	in.timer = time.AfterFunc(limit, in.fire)
	in.mu.Unlock()
}

func (in *Injection) disarm() {
	in.mu.Lock()
	if in.timer != nil {
		in.timer.Stop()
	}
	in.mu.Unlock()
}

// fire is the watchdog: the fault has been held MaxFault and the drill has
// not undone its cause: recover it now.
func (in *Injection) fire() {
	in.op.Lock()
	defer in.op.Unlock()
	in.mu.Lock()
	done := in.causeUndone || in.steady
	if !done {
		in.watchdog = true
	}
	in.mu.Unlock()
	if done {
		return
	}
	e := in.env
	e.Timeline.Add("harness", timeline.KindNote, timeline.Note{"event": EventWatchdog, "fault": in.Fault.Name(), "max_fault": e.MaxFault.String()})
	ctx, cancel := context.WithTimeout(context.Background(), RecoveryTimeout)
	defer cancel()
	start := time.Now()
	err := in.recover(ctx)
	if err == nil {
		err = in.waitRecovered(ctx, "the max_fault watchdog")
	}
	d := timeline.Recovery{Action: "watchdog: recover " + in.Fault.Name(), DurationMS: time.Since(start).Milliseconds()}
	if err != nil {
		d.Error = err.Error()
	}
	e.Timeline.AddAt(start, "harness", timeline.KindRecovery, d)
}

// WatchdogFired reports whether the max_fault watchdog had to recover the
// fault: the drill held it too long (the drill must not pass).
func (in *Injection) WatchdogFired() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.watchdog
}

// DeadMan is what reverts the fault by itself ("" when nothing does), as
// its Plan said.
func (in *Injection) DeadMan() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.plan.DeadMan
}

// JournalID is the fault's journal entry ("" without a journal).
func (in *Injection) JournalID() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.journalID
}

// WaitForEffect waits for the fault's own effect.
func (in *Injection) WaitForEffect(ctx context.Context) error { return in.Fault.WaitForEffect(ctx) }

// Recover undoes the cause (nothing, once the watchdog has).
func (in *Injection) Recover(ctx context.Context) error {
	in.op.Lock()
	defer in.op.Unlock()
	in.mu.Lock()
	skip := in.watchdog && in.causeUndone
	in.mu.Unlock()
	if skip {
		return nil
	}
	return in.recover(ctx)
}

func (in *Injection) recover(ctx context.Context) error {
	err := in.Fault.Recover(ctx)
	if err == nil {
		in.mu.Lock()
		in.causeUndone = true
		in.mu.Unlock()
		in.disarm()
	}
	return err
}

// WaitRecovered waits for (or restores) steady state; once it succeeds the
// fault is no longer in place (nothing to do once the watchdog did it).
func (in *Injection) WaitRecovered(ctx context.Context) error {
	in.op.Lock()
	defer in.op.Unlock()
	in.mu.Lock()
	skip := in.watchdog && in.steady
	in.mu.Unlock()
	if skip {
		return nil
	}
	return in.waitRecovered(ctx, "the drill")
}

// waitRecovered runs the fault's WaitRecovered and, the first time it
// succeeds, marks the fault out of place and journals it recovered.
func (in *Injection) waitRecovered(ctx context.Context, by string) error {
	err := in.Fault.WaitRecovered(ctx)
	if err != nil {
		return err
	}
	in.mu.Lock()
	first := !in.steady
	in.steady = true
	id := in.journalID
	in.mu.Unlock()
	in.disarm()
	if !first {
		return nil
	}
	in.env.faultIn(-1)
	if id != "" && in.env.Journal != nil {
		if err := in.env.Journal.DoneNote(id, "recovered by "+by); err != nil {
			return fmt.Errorf("%s recovered, but the journal could not record it (drdrill recover will find it open and check it again): %w", in.Fault.Name(), err)
		}
	}
	return nil
}

// undo is the deferred recovery: whatever the drill did not do.
func (in *Injection) undo(ctx context.Context) error {
	in.disarm()
	in.op.Lock()
	defer in.op.Unlock()
	in.mu.Lock()
	cause, steady := in.causeUndone, in.steady
	in.mu.Unlock()
	if steady {
		return nil
	}
	if !cause {
		if err := in.recover(ctx); err != nil {
			return err
		}
	}
	return in.waitRecovered(ctx, "the deferred recovery")
}
