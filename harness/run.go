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
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

// Scenario is one drill: a spec plus a plain function run step by step.
type Scenario struct {
	Name        string
	Description string
	// Timeout bounds the drill (not its recovery, which gets its own).
	Timeout time.Duration
	// Needs are the target capabilities the drill uses beyond the basics.
	Needs []target.Capability
	Run   func(ctx context.Context, t target.Target, env *Env) error
	// Plan describes the steps against live timings, changing nothing
	// (drdrill plan).
	Plan func(in PlanInput) []PlanStep
	// Typical is the drill's usual wall time on the embedded lab (make
	// bench): a suite starts the longest drills first, so that labs side
	// by side finish together. A hint, never a bound (0: unknown, last).
	Typical time.Duration
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

// Defer registers an undo that Run executes after the drill, last
// registered first, with a fresh context: it runs whatever happened
// (failed check, panic, SIGINT, timeout).
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
		d := timeline.Recovery{Action: ds[i].name, DurationMS: time.Since(start).Milliseconds()}
		if err != nil {
			d.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", ds[i].name, err))
		}
		e.Timeline.AddAt(start, "harness", timeline.KindRecovery, d)
	}
	return errors.Join(errs...)
}

// Run executes a scenario against t, recording into env, and returns its
// report. The scenario's faults are undone before Run returns, on every path.
func Run(ctx context.Context, sc Scenario, t target.Target, env *Env) *report.Report {
	started := time.Now()
	stopWatch := watch(t, env)

	var err error
	if err = target.Require(t, "drill "+sc.Name, sc.Needs...); err == nil {
		runCtx, cancel := context.WithTimeout(ctx, sc.Timeout)
		err = safeRun(runCtx, sc, t, env)
		cancel()
		if runCtx.Err() != nil && ctx.Err() == nil && errors.Is(runCtx.Err(), context.DeadlineExceeded) {
			err = &timeoutError{sc.Timeout, err}
		}
	}
	// Evidence for the diagnosis, read before recovery changes it.
	var evidence *Evidence
	if failed := env.firstFailedCheck(); (err != nil || failed != nil) && ctx.Err() == nil {
		ev := gatherEvidence(t, env, failed, err)
		evidence = &ev
	}
	recoverErr := env.runDeferred()
	env.checkMaxFault()
	steady := steadyState(t, env)
	env.Timeline.Add("check", timeline.KindCheck, timeline.Check{Name: steady.Name, Verdict: steady.Verdict, Observed: steady.Observed})
	stopWatch()

	r := report.New(sc.Name, env.target, env.Workload.DrillID, started.UTC())
	r.DurationMS = time.Since(started).Milliseconds()
	r.Timeline = env.Timeline.Events()
	env.mu.Lock()
	for k, v := range env.environment {
		r.Environment[k] = v
	}
	r.Checks = append(r.Checks, env.checks...)
	drillChecks := r.Checks
	r.Checks = append(r.Checks, steady)
	r.Steps = append(r.Steps, env.steps...)
	r.Clients = append(r.Clients, env.clients...)
	for _, a := range env.artifacts {
		if err := r.AddFile(a.Name, a.Data); err != nil {
			env.Log.Warn("drill artifact not kept", "error", err)
		}
	}
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

	var te *timeoutError
	o := report.Outcome{Interrupted: ctx.Err() != nil, TimedOut: errors.As(err, &te), Timeout: sc.Timeout,
		Err: err, CheckFailed: errors.Is(err, ErrCheckFailed), Checks: drillChecks, Steps: r.Steps, RecoveryErr: recoverErr, SteadyState: &steady}
	if o.Interrupted {
		o.Cause = context.Cause(ctx).Error()
	}
	if te != nil {
		o.Err = te.err
	}
	var reason string
	r.Verdict, reason = report.Decide(o)
	r.Interrupted = o.Interrupted
	if r.Verdict == report.VerdictError {
		r.Error = reason
	}
	if r.Verdict != report.VerdictPass {
		switch {
		case diag != "":
			r.Diagnosis = diag
		case evidence == nil && !steady.Passed():
			r.Diagnosis = steady.Name + ": " + steady.Observed
		case o.Interrupted, o.TimedOut:
			r.Diagnosis = r.Error
		case evidence != nil:
			r.Diagnosis = Diagnose(*evidence)
		}
		if r.Diagnosis == "" {
			r.Diagnosis = reason
		}
		if recoverErr != nil && r.Diagnosis != reason {
			r.Diagnosis = joinLine(r.Diagnosis, "recovery failed")
		}
	}
	return r
}

// watch follows the replica's threads and every gateway's SA events into
// the timeline until the returned stop is called.
func watch(t target.Target, env *Env) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	rep := target.Replica(t)
	wg.Add(1)
	go func() {
		defer wg.Done()
		replica.WatchTimeline(ctx, rep.DB, ReplicaPoll, env.Timeline, "replica/"+rep.Name)
	}()
	for _, s := range t.Sites() {
		src := "tunnel/" + s.Name
		if done, err := s.Gateway.Follow(ctx, env.Timeline, src, EventRedial); err == nil {
			wg.Add(1)
			go func() { defer wg.Done(); <-done }()
		} else {
			env.Timeline.Add(src, timeline.KindNote, timeline.Note{"event": "cannot follow vici events", "error": err.Error()})
		}
	}
	return func() { cancel(); wg.Wait() }
}

type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string { return fmt.Sprintf("drill timed out after %s", e.after) }

func joinLine(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// safeRun turns a panic in a scenario into an error (with the stack in the
// log, not in the one-line reason).
func safeRun(ctx context.Context, sc Scenario, t target.Target, env *Env) (err error) {
	defer func() {
		if p := recover(); p != nil {
			env.Log.Error("scenario panicked", "scenario", sc.Name, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("scenario %s panicked: %v", sc.Name, p)
		}
	}()
	return sc.Run(ctx, t, env)
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

// checkMaxFault records, for a run with a max_fault, whether every fault was
// recovered by the drill (or its deferred recovery) before the watchdog
// had to.
func (e *Env) checkMaxFault() {
	e.mu.Lock()
	ins := append([]*Injection(nil), e.injections...)
	e.mu.Unlock()
	if e.MaxFault <= 0 {
		return
	}
	for _, in := range ins {
		e.Check(check.FaultWithinMaxFault(in.Fault.Name(), e.MaxFault, in.WatchdogFired()))
	}
}
