package harness

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// PlanInput is what a plan is derived from: the live timings.
type PlanInput struct {
	Target  target.Target
	Replica replica.Timings
	IKE     tunnel.IKETimings
}

// PlanStep is one step of a drill as `drdrill plan` shows it.
type PlanStep struct {
	Step string
	// Host is where it acts ("aws gateway", "onprem db"); "" for the harness.
	Host string
	// Changes is what it would change there; "" when it only reads.
	Changes string
	// Expected is how long it should take (the intrinsic model); Window is
	// how long the drill gives it before it fails.
	Expected, Window time.Duration
}

// Plan is a drill's steps against a target, with its expected duration.
type Plan struct {
	Scenario string
	Target   string
	Steps    []PlanStep
	Notes    []string // where the timings came from, what a step relies on
}

// Expected is the sum of the steps' expected durations.
func (p Plan) Expected() time.Duration {
	var d time.Duration
	for _, s := range p.Steps {
		d += s.Expected
	}
	return d
}

// Bound is the sum of the steps' windows: the longest the drill can take
// before it fails.
func (p Plan) Bound() time.Duration {
	var d time.Duration
	for _, s := range p.Steps {
		d += s.Window
	}
	return d
}

// MakePlan reads the live timings (read-only: SHOW variables and status,
// VICI list-conns) and returns sc's plan. A scenario without a Plan says so.
func MakePlan(ctx context.Context, sc Scenario, t target.Target) (Plan, error) {
	p := Plan{Scenario: sc.Name, Target: t.Name()}
	if sc.Plan == nil {
		return p, fmt.Errorf("drill %s has no plan", sc.Name)
	}
	if err := target.Validate(t); err != nil {
		return p, err
	}
	in := PlanInput{Target: t}
	var err error
	if in.Replica, err = target.Replica(t).DB.Timings(ctx); err != nil {
		return p, fmt.Errorf("read replica timings: %w", err)
	}
	if in.IKE, err = t.IKETimings(ctx); err != nil {
		return p, fmt.Errorf("read IKE timings: %w", err)
	}
	p.Steps = sc.Plan(in)
	p.Notes = append(p.Notes,
		fmt.Sprintf("replica timings (live): net timeout %s, connect retry %s, heartbeat %s", in.Replica.NetTimeout, in.Replica.ConnectRetry, in.Replica.Heartbeat),
		fmt.Sprintf("IKE timings: %s; retransmit %s × %.1f, %d tries (sequence %s)", in.IKE.Reinitiators(), in.IKE.Retransmit.Timeout, in.IKE.Retransmit.Base, in.IKE.Retransmit.Tries, in.IKE.Sequence().Round(time.Millisecond)))
	if len(sc.Needs) > 0 {
		if m := target.Missing(t, sc.Needs...); len(m) > 0 {
			p.Notes = append(p.Notes, fmt.Sprintf("cannot run here: the target lacks %v", m))
		}
	}
	return p, nil
}

// Print writes the plan for a person.
func (p Plan) Print(w io.Writer) {
	fmt.Fprintf(w, "plan: %s on %s (changes nothing)\n", p.Scenario, p.Target)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tstep\twhere\twould change\texpected\twindow")
	for i, s := range p.Steps {
		host, ch := s.Host, s.Changes
		if host == "" {
			host = "-"
		}
		if ch == "" {
			ch = "nothing (reads)"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", i+1, s.Step, host, ch, secs(s.Expected), secs(s.Window))
	}
	tw.Flush()
	fmt.Fprintf(w, "expected duration %s, at most %s before it fails (plus recovery)\n", secs(p.Expected()), secs(p.Bound()))
	for _, n := range p.Notes {
		fmt.Fprintln(w, "  "+strings.TrimSpace(n))
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
