package check

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
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

// ioEvents are source's io_state events in time order.
func ioEvents(events []timeline.Event, source string) []timeline.Event {
	var out []timeline.Event
	for _, e := range events {
		if e.Kind == timeline.KindIOState && e.Source == source {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return at(out[i]) < at(out[j]) })
	return out
}

func str(d map[string]any, k string) string {
	v, ok := d[k]
	if !ok || isNull(v) {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		return fmt.Sprint(rv.Elem().Interface())
	}
	return fmt.Sprint(v)
}

// isNull reports a nil value, including a typed nil pointer (*int64(nil)).
func isNull(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// num reads an integer from a detail value of any numeric shape (Go ints,
// pointers to them, float64 and json.Number from decoded JSON, digits).
func num(v any) (int64, bool) {
	if isNull(v) {
		return 0, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return int64(rv.Float()), true
	case reflect.String:
		s := rv.String()
		if n, ok := v.(json.Number); ok {
			s = string(n)
		}
		i, err := strconv.ParseInt(s, 10, 64)
		return i, err == nil
	}
	return 0, false
}
