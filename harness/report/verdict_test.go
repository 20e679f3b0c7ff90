package report

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/check"
)

func TestDecide(t *testing.T) {
	pass := []check.Result{{Name: "a", Verdict: check.Pass}}
	fail := []check.Result{{Name: "a", Verdict: check.Pass}, {Name: "b", Verdict: check.Fail}}
	for _, tc := range []struct {
		name    string
		o       Outcome
		verdict string
		reason  string
	}{
		{"checks passed", Outcome{Checks: pass}, VerdictPass, ""},
		{"a check failed", Outcome{Checks: fail}, VerdictFail, ""},
		{"stopped at a failed check", Outcome{Checks: fail, Err: errors.New("check failed: b"), CheckFailed: true}, VerdictFail, ""},
		{"checked nothing", Outcome{}, VerdictFail, "checked nothing"},
		{"checked nothing but steady state", Outcome{SteadyState: &check.Result{Name: "steady_state", Verdict: check.Pass}}, VerdictFail, "checked nothing"},
		{"passed but left the replica stopped", Outcome{Checks: pass, SteadyState: &check.Result{Name: "steady_state", Verdict: check.Fail}}, VerdictFail, ""},
		{"a failed step", Outcome{Checks: pass, Steps: []Step{{Name: "s", Verdict: "fail"}}}, VerdictFail, ""},
		{"an error", Outcome{Checks: pass, Err: errors.New("dial: refused")}, VerdictError, "dial: refused"},
		{"interrupted", Outcome{Checks: pass, Interrupted: true, Cause: "signal"}, VerdictError, "interrupted: signal"},
		{"timed out", Outcome{TimedOut: true, Timeout: time.Minute, Err: errors.New("waiting")}, VerdictError, "timed out after 1m0s: waiting"},
		{"recovery failed", Outcome{Checks: pass, RecoveryErr: errors.New("nft")}, VerdictError, "recovery failed: nft"},
		{"failed and not recovered", Outcome{Checks: fail, RecoveryErr: errors.New("nft")}, VerdictError, "recovery failed: nft"},
	} {
		v, r := Decide(tc.o)
		if v != tc.verdict || (tc.reason == "" && r != "") || !strings.Contains(r, tc.reason) {
			t.Errorf("%s: Decide = %q %q, want %q with %q", tc.name, v, r, tc.verdict, tc.reason)
		}
	}
}
