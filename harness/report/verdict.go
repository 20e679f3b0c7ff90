package report

import (
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness/check"
)

// Outcome is everything a drill's verdict is decided from.
type Outcome struct {
	// Interrupted: the drill was stopped from outside (SIGINT); Cause says why.
	Interrupted bool
	Cause       string
	// TimedOut: the drill ran past its own timeout.
	TimedOut bool
	Timeout  time.Duration
	// Err is what the drill returned; CheckFailed says it is a failed check
	// (the drill stopped at it), not an error.
	Err         error
	CheckFailed bool
	Checks      []check.Result
	Steps       []Step
	// RecoveryErr: a fault could not be undone.
	RecoveryErr error
	// SteadyState is the check run after recovery (nil: not run). It is
	// not one of the drill's own Checks: a drill that checked nothing
	// still checked nothing.
	SteadyState *check.Result
}

// NothingChecked is the reason of a drill that recorded no check.
const NothingChecked = "checked nothing: the drill recorded no check"

// Decide is the one place a verdict is made: error when the drill could
// not run to its checks (interrupted, timed out, an error) or a fault was
// not undone; fail when a check or step failed or no check was recorded;
// pass otherwise. reason is "" for pass.
func Decide(o Outcome) (verdict, reason string) {
	switch {
	case o.Interrupted:
		verdict, reason = VerdictError, "interrupted: "+o.Cause
	case o.TimedOut:
		verdict, reason = VerdictError, fmt.Sprintf("drill timed out after %s", o.Timeout)
		if o.Err != nil {
			reason += ": " + o.Err.Error()
		}
	case o.Err != nil && !o.CheckFailed:
		verdict, reason = VerdictError, o.Err.Error()
	case firstFailed(o.Checks) != nil || o.Err != nil || failedStep(o.Steps) || (o.SteadyState != nil && !o.SteadyState.Passed()):
		verdict = VerdictFail
	case len(o.Checks) == 0:
		verdict, reason = VerdictFail, NothingChecked
	default:
		verdict = VerdictPass
	}
	if o.RecoveryErr != nil {
		// A fault that was not undone is worse than any check: say so.
		verdict = VerdictError
		reason = joinReason(reason, "recovery failed: "+o.RecoveryErr.Error())
	}
	return verdict, reason
}

func firstFailed(cs []check.Result) *check.Result {
	for i := range cs {
		if !cs[i].Passed() {
			return &cs[i]
		}
	}
	return nil
}

func failedStep(ss []Step) bool {
	for _, s := range ss {
		if s.Verdict != check.Pass && !skipped(s.Verdict) {
			return true
		}
	}
	return false
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
