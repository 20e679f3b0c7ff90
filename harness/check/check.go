package check

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
)

// Verdicts.
const (
	Pass = "pass"
	Fail = "fail"
)

// Result is one check's verdict, as report.json carries it.
type Result struct {
	Name     string         `json:"name"`
	Verdict  string         `json:"verdict"` // Pass or Fail
	Expected string         `json:"expected"`
	Observed string         `json:"observed"`
	Detail   map[string]any `json:"detail,omitempty"`
}

// Passed reports whether the verdict is Pass.
func (r Result) Passed() bool { return r.Verdict == Pass }

func verdict(ok bool) string {
	if ok {
		return Pass
	}
	return Fail
}

// Set collects results in the order they were added. It is safe for
// concurrent use.
type Set struct {
	mu      sync.Mutex
	results []Result
}

// Add appends r and returns it.
func (s *Set) Add(r Result) Result {
	s.mu.Lock()
	s.results = append(s.results, r)
	s.mu.Unlock()
	return r
}

// Results returns a copy of the results in order.
func (s *Set) Results() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Result(nil), s.results...)
}

// Passed reports whether at least one check ran and every check passed: a
// drill that checked nothing did not pass.
func (s *Set) Passed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.results {
		if !r.Passed() {
			return false
		}
	}
	return len(s.results) > 0
}

// FirstFailure returns a copy of the first failed result, or nil.
func (s *Set) FirstFailure() *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.results {
		if !r.Passed() {
			return &r
		}
	}
	return nil
}

// WithinBudget passes when a measured duration is within its budget. A
// negative observed duration means "not measured" and fails.
func WithinBudget(name string, observed, budget time.Duration) Result {
	r := Result{Name: name, Expected: "≤ " + secs(budget),
		Detail: map[string]any{"observed_ms": ms(observed), "budget_ms": ms(budget)}}
	switch {
	case budget <= 0:
		r.Verdict, r.Observed = Fail, "no budget set"
	case observed < 0:
		r.Verdict, r.Observed = Fail, "not measured"
		r.Detail["observed_ms"] = nil
	case observed > budget:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("%s, %s over", secs(observed), secs(observed-budget))
	default:
		r.Verdict, r.Observed = Pass, secs(observed)
	}
	return r
}

// GTIDApplied turns a GTID coverage computed by the caller (package replica
// has the GTID set arithmetic) into a verdict: the replica's applied
// position must cover the primary's position.
func GTIDApplied(primaryPos, replicaApplied string, covered bool, err error) Result {
	r := Result{Name: "gtid_applied", Expected: "replica applied GTIDs cover primary " + quoteEmpty(primaryPos),
		Detail: map[string]any{"primary": primaryPos, "replica": replicaApplied, "covered": covered}}
	switch {
	case err != nil:
		r.Verdict, r.Observed = Fail, "error: "+err.Error()
		r.Detail["error"] = err.Error()
	case primaryPos == "":
		r.Verdict, r.Observed = Fail, "primary GTID position is empty: nothing to compare"
	case !covered:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("replica applied %s does not cover primary %s", quoteEmpty(replicaApplied), primaryPos)
	default:
		r.Verdict, r.Observed = Pass, "replica applied "+replicaApplied
	}
	return r
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// secs formats a duration as seconds with two decimals ("3.02s").
func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// ms is a duration in milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// at is an event's offset: the monotonic one when the event came from a
// Timeline, else its t_ms (events read back from JSON).
func at(e timeline.Event) time.Duration {
	if d := e.At(); d != 0 {
		return d
	}
	return time.Duration(e.TMS * float64(time.Millisecond))
}
