package harness

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/timeline"
)

// Scenario is one drill: a spec plus a plain function run step by step.
type Scenario struct {
	Name        string
	Description string
	// Timeout bounds the drill (not its recovery, which gets its own).
	Timeout time.Duration
	Run     func(ctx context.Context, env *Env) error
}

// Poll intervals: transitions are time-stamped to well within 50 ms.
const (
	ReplicaPoll = 20 * time.Millisecond
	EventRedial = 50 * time.Millisecond
	// RecoveryTimeout bounds each deferred recovery (fresh context).
	RecoveryTimeout = 60 * time.Second
)

type deferred struct {
	name string
	f    func(ctx context.Context) error
}

// Defer registers an undo (a fault's Recover) that Run executes after the
// drill, last registered first, with a fresh context: it runs whatever
// happened (failed check, panic, SIGINT, timeout).
func (e *Env) Defer(name string, f func(ctx context.Context) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deferred = append(e.deferred, deferred{name, f})
}

func (e *Env) runDeferred() error {
	e.mu.Lock()
	ds := e.deferred
	e.deferred = nil
	e.mu.Unlock()
	var errs []error
	for i := len(ds) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), RecoveryTimeout)
		start := time.Now()
		err := ds[i].f(ctx)
		cancel()
		d := map[string]any{"action": ds[i].name, "duration_ms": time.Since(start).Milliseconds()}
		if err != nil {
			d["error"] = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", ds[i].name, err))
		}
		e.Timeline.AddAt(start, "harness", "recovery", d)
	}
	return errors.Join(errs...)
}

// Run executes a scenario against env and returns its report. The
// scenario's faults are undone before Run returns, on every path.
func Run(ctx context.Context, sc Scenario, env *Env) *report.Report {
	started := time.Now()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watchers sync.WaitGroup
	watchers.Add(1)
	go func() {
		defer watchers.Done()
		replica.WatchTimeline(watchCtx, env.Replica, ReplicaPoll, env.Timeline, "replica/"+ReplicaSite)
	}()
	for name, g := range env.Gateways {
		if done, err := g.Follow(watchCtx, env.Timeline, "tunnel/"+name, EventRedial); err == nil {
			watchers.Add(1)
			go func() { defer watchers.Done(); <-done }()
		} else {
			env.Timeline.Add("tunnel/"+name, timeline.KindNote, map[string]any{"event": "cannot follow vici events", "error": err.Error()})
		}
	}

	runCtx, cancel := context.WithTimeout(ctx, sc.Timeout)
	err := safeRun(runCtx, sc, env)
	timedOut := errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	// Evidence for the diagnosis, read before recovery changes it.
	var evidence *Evidence
	if failed := env.firstFailedCheck(); (err != nil || failed != nil) && ctx.Err() == nil {
		ev := env.gatherEvidence(failed, err)
		evidence = &ev
	}
	recoverErr := env.runDeferred()
	stopWatch()
	watchers.Wait()

	r := report.New(sc.Name, env.Target, env.Workload.DrillID, started.UTC())
	r.DurationMS = time.Since(started).Milliseconds()
	r.Timeline = env.Timeline.Events()
	env.mu.Lock()
	for k, v := range env.environment {
		r.Environment[k] = v
	}
	r.Checks = append(r.Checks, env.checks...)
	r.Steps = append(r.Steps, env.steps...)
	extra := r.Metrics.Extra
	r.Metrics = env.metrics
	if r.Metrics.Extra == nil {
		r.Metrics.Extra = extra
	}
	diag := env.diagnosis
	if len(env.remediated) > 0 {
		r.Environment["remediation"] = append([]string(nil), env.remediated...)
	}
	env.mu.Unlock()

	var failed *check.Result
	for i := range r.Checks {
		if r.Checks[i].Verdict != check.Pass {
			failed = &r.Checks[i]
			break
		}
	}
	switch {
	case ctx.Err() != nil:
		r.Verdict, r.Interrupted = report.VerdictError, true
		r.Error = "interrupted: " + context.Cause(ctx).Error()
	case timedOut:
		r.Verdict = report.VerdictError
		r.Error = fmt.Sprintf("drill timed out after %s", sc.Timeout)
		if err != nil {
			r.Error += ": " + err.Error()
		}
	case err != nil && !errors.Is(err, ErrCheckFailed):
		r.Verdict, r.Error = report.VerdictError, err.Error()
	case failed != nil || err != nil:
		r.Verdict = report.VerdictFail
	default:
		r.Verdict = report.VerdictPass
	}
	if recoverErr != nil {
		// A fault that was not undone is worse than any check: say so.
		r.Verdict = report.VerdictError
		r.Error = joinLine(r.Error, "recovery failed: "+recoverErr.Error())
	}
	if r.Verdict != report.VerdictPass {
		switch {
		case diag != "":
			r.Diagnosis = diag
		case r.Interrupted, timedOut:
			r.Diagnosis = r.Error
		case evidence != nil:
			r.Diagnosis = Diagnose(*evidence)
		}
		if r.Diagnosis == "" {
			r.Diagnosis = r.Error
		}
		if recoverErr != nil {
			r.Diagnosis = joinLine(r.Diagnosis, "recovery failed")
		}
	}
	return r
}

func joinLine(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// safeRun turns a panic in a scenario into an error (with the stack in the
// log, not in the one-line reason).
func safeRun(ctx context.Context, sc Scenario, env *Env) (err error) {
	defer func() {
		if p := recover(); p != nil {
			env.Log.Error("scenario panicked", "scenario", sc.Name, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("scenario %s panicked: %v", sc.Name, p)
		}
	}()
	return sc.Run(ctx, env)
}

func (e *Env) firstFailedCheck() *check.Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.checks {
		if e.checks[i].Verdict != check.Pass {
			c := e.checks[i]
			return &c
		}
	}
	return nil
}
