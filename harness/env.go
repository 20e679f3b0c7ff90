package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/journal"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/workload"
)

// Env is one run's record: its timeline, checks, steps, metrics,
// workload and (failover drills) application clients. What the drill acts
// on is the Target, passed alongside.
type Env struct {
	Timeline *timeline.Timeline
	Workload *workload.Workload
	Log      *slog.Logger
	// Timings are the replica's own replication timings, read at the
	// start (before any fault): drills derive their windows from them.
	Timings replica.Timings
	// Journal records each fault before it is injected and when it is
	// recovered, so that drdrill recover can undo it after a kill -9 (nil:
	// no journal).
	Journal *journal.Journal
	// MaxFault bounds how long any fault is held (0: no bound).
	MaxFault time.Duration

	mu          sync.Mutex
	target      string
	checks      []check.Result
	steps       []report.Step
	metrics     report.Metrics
	environment map[string]any
	secrets     []string
	diagnosis   string
	remediated  []string
	deferred    []deferred
	clients     []report.Client
	faultsIn    int // injections not yet recovered
	injections  []*Injection
	artifacts   []Artifact
}

// NewEnv starts a run's record against t: it reads what reports state about
// the target (versions, the replica's timings) from the live systems.
func NewEnv(ctx context.Context, t target.Target, log *slog.Logger) (*Env, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := target.Validate(t); err != nil {
		return nil, err
	}
	e := &Env{Timeline: timeline.New(), Log: log, target: t.Name(), environment: map[string]any{}, secrets: t.Secrets()}
	for k, v := range t.Describe() {
		e.environment[k] = v
	}
	e.Workload = workload.New(workload.NewDrillID())
	e.Workload.SetTimeline(e.Timeline)
	if w, ok := t.(target.Workloader); ok {
		db, table := w.WorkloadTable()
		tn := workload.TableName{Database: db, Table: table}
		if err := workload.EnsureTable(ctx, target.Primary(t).DB.DB(), tn); err != nil {
			return nil, fmt.Errorf("drill table %s on the primary: %w", tn.Plain(), err)
		}
		e.Workload.SetTable(tn)
		e.environment["workload_table"] = tn.Plain()
	}
	if err := e.readEnvironment(ctx, t); err != nil {
		return nil, err
	}
	return e, nil
}

// readEnvironment records versions and the replica's own timings, from which
// drills derive their windows (not from what a target meant to configure).
func (e *Env) readEnvironment(ctx context.Context, t target.Target) error {
	rep, prim := target.Replica(t).DB, target.Primary(t).DB
	tm, err := rep.Timings(ctx)
	if err != nil {
		return fmt.Errorf("read replica timings: %w", err)
	}
	e.Timings = tm
	e.environment["replica_timings"] = map[string]any{
		"net_timeout_s": tm.NetTimeout.Seconds(), "connect_retry_s": tm.ConnectRetry.Seconds(),
		"heartbeat_s": tm.Heartbeat.Seconds(), "retry_count": tm.RetryCount,
	}
	e.environment["primary_version"] = prim.Version()
	e.environment["replica_version"] = rep.Version()
	e.environment["flavor"] = string(rep.Flavor())
	for _, s := range t.Sites() {
		v, err := s.Gateway.Version(ctx)
		if err != nil {
			return fmt.Errorf("%s gateway does not answer: %w", s.Name, err)
		}
		e.environment["strongswan_"+s.Name] = v["daemon"] + " " + v["version"]
	}
	return nil
}

// Secrets are the strings reports must never carry.
func (e *Env) Secrets() []string { return e.secrets }

// ErrCheckFailed marks a drill stopped by a failed check.
var ErrCheckFailed = errors.New("check failed")

// Check records a verdict. It returns an error wrapping ErrCheckFailed when
// the verdict is fail, so that a drill can stop at a check it cannot go past:
//
//	if err := env.Check(check.X(...)); err != nil { return err }
func (e *Env) Check(r check.Result) error {
	e.mu.Lock()
	e.checks = append(e.checks, r)
	e.mu.Unlock()
	e.Timeline.Add("check", timeline.KindCheck, timeline.Check{Name: r.Name, Verdict: r.Verdict, Observed: r.Observed})
	if r.Verdict != check.Pass {
		return fmt.Errorf("%w: %s: %s", ErrCheckFailed, r.Name, r.Observed)
	}
	return nil
}

// Step runs one named step of a drill and records it with its timing.
func (e *Env) Step(ctx context.Context, name string, f func(ctx context.Context) error) error {
	start := time.Now()
	e.Timeline.AddAt(start, "step", timeline.KindStep, timeline.Step{Step: name, Event: "start"})
	err := f(ctx)
	end := time.Now()
	st := report.Step{Name: name, Verdict: "pass", TMS: ms(e.Timeline.Offset(start)), DurationMS: ms(end.Sub(start))}
	detail := timeline.Step{Step: name, Event: "end", Verdict: "pass"}
	if err != nil {
		st.Verdict = "fail"
		if !errors.Is(err, ErrCheckFailed) {
			st.Verdict = "error"
		}
		st.Detail = map[string]any{"error": err.Error()}
		detail.Verdict, detail.Error = st.Verdict, err.Error()
	}
	e.Timeline.AddAt(end, "step", timeline.KindStep, detail)
	e.mu.Lock()
	e.steps = append(e.steps, st)
	e.mu.Unlock()
	return err
}

// Remediated records that the harness had to repair something for the drill
// to pass (the report says so).
func (e *Env) Remediated(what string) {
	e.mu.Lock()
	e.remediated = append(e.remediated, what)
	e.mu.Unlock()
	e.Timeline.Add("harness", timeline.KindRemediation, timeline.Note{"action": what})
}

// AddClient records a failover drill's application client for the
// report's clients[] (report.ClientFrom builds one).
func (e *Env) AddClient(c report.Client) {
	e.mu.Lock()
	e.clients = append(e.clients, c)
	e.mu.Unlock()
}

// Clients are the clients recorded so far, in the order added.
func (e *Env) Clients() []report.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]report.Client(nil), e.clients...)
}

// Diagnose sets the one-line why of a failure (the first one wins).
func (e *Env) Diagnose(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.diagnosis == "" {
		e.diagnosis = line
	}
}

// Note records a free-form note on the timeline under source "harness".
func (e *Env) Note(event string, fields map[string]any) {
	d := timeline.Note{"event": event}
	for k, v := range fields {
		d[k] = v
	}
	e.Timeline.Add("harness", timeline.KindNote, d)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// faultIn counts injections in place: while one is, a down tunnel and a
// Connecting replica are the fault's doing, not a diagnosis.
func (e *Env) faultIn(delta int) {
	e.mu.Lock()
	e.faultsIn += delta
	e.mu.Unlock()
}

func (e *Env) faultInPlace() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faultsIn > 0
}
