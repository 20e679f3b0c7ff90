package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
)

// The checks of a recovery the harness drives: the documented order after
// a gateway crash (scenarios/gateway_crash.go), and a replica stuck
// Connecting after the tunnel came back (scenarios/replica_stuck_connecting.go).

// InOrderRecovery is how bringing the tunnel back in the documented order
// went (tunnel.RecoverInOrder).
type InOrderRecovery struct {
	First, Second string // the gateways in the documented order (the seed: aws, then onprem)
	Restarted     string // the gateway whose charon was restarted
	Err           error  // RecoverInOrder's error: nil when both sides came back healthy
	// Took is from the start of the documented order until healthy.
	Took time.Duration
	// Initiator is the gateway that initiated the new IKE SA (when Err is
	// nil); Doing what the gateways were doing (when it is not).
	Initiator, Doing string
}

// TunnelRecoveredInOrder passes when the documented order brought both
// gateways back healthy. Detail.restarted names the restarted gateway.
func TunnelRecoveredInOrder(o InOrderRecovery) Result {
	order := o.First + " down; " + o.Second + " down, " + o.Second + " up; " + o.First + " up"
	r := Result{Name: "tunnel_recovered_in_order",
		Expected: "both gateways ESTABLISHED/INSTALLED, one IKE SA and one CHILD SA each, after the documented order (" + order + ")",
		Detail:   map[string]any{"restarted": o.Restarted}}
	if o.Err != nil {
		r.Verdict, r.Observed = Fail, o.Err.Error()
		if o.Doing != "" {
			r.Observed += "; " + o.Doing
		}
		return r
	}
	r.Verdict = Pass
	r.Observed = fmt.Sprintf("healthy %.2fs after the documented order began; new IKE SA initiated by %s", o.Took.Seconds(), o.Initiator)
	return r
}

// IORecoveredAfterRemediation is [IORecoveredWithin] timed from the
// remediation (STOP REPLICA; START REPLICA at remediatedAt) instead of the
// tunnel coming up: the IO thread must be Yes within window of it.
func IORecoveredAfterRemediation(events []timeline.Event, source string, remediatedAt, window time.Duration) Result {
	r := IORecoveredWithin(events, source, remediatedAt, remediatedAt, window)
	r.Name = "io_recovered_after_remediation"
	r.Observed = strings.NewReplacer("tunnel up", "STOP/START REPLICA", "recovery began", "STOP/START REPLICA").Replace(r.Observed)
	r.Expected = fmt.Sprintf("IO thread Yes within %.2fs of STOP/START REPLICA at %.2fs", window.Seconds(), remediatedAt.Seconds())
	return r
}

// StuckReplica is what a drill saw of the replica once the tunnel was back
// (seed troubleshooting 2).
type StuckReplica struct {
	Window     time.Duration // the expected reconnect window after the tunnel came back
	WindowFrom string        // where the window comes from ("the lab's intended timings")
	// Status is the replica as judged: when its IO thread came back to Yes,
	// or at the end of the window.
	Status replica.Status
	After  time.Duration // Status's observation, after the tunnel came back
	// TunnelErr is why the tunnel was not healthy at the end of the window
	// (nil: it was).
	TunnelErr error
}

// ReplicaStuckDetected passes when the replica is stuck as in seed
// troubleshooting 2: the window has passed, the tunnel is healthy, and the
// IO thread is still not Yes. It fails when the IO thread came back ("fault
// had no effect"), when the tunnel is not healthy (then it is not a stuck
// replica), and when the window has not passed yet. On a pass Observed is
// the one-line description of the stuck replica, and Detail holds io,
// last_io_errno, last_io_error, connect_retry_s and stuck_ms.
func ReplicaStuckDetected(s StuckReplica) Result {
	r := Result{Name: "replica_stuck_detected",
		Expected: fmt.Sprintf("tunnel healthy and IO thread not Yes %.2fs after the tunnel came back (window from %s)", s.Window.Seconds(), s.WindowFrom)}
	st := s.Status
	switch {
	case st.IO == replica.IOYes && s.After <= s.Window:
		r.Verdict = Fail
		r.Observed = fmt.Sprintf("fault had no effect: IO thread Yes %.2fs after the tunnel came back, within the expected %.2fs",
			s.After.Seconds(), s.Window.Seconds())
	case s.TunnelErr != nil:
		r.Verdict, r.Observed = Fail, "tunnel not healthy, so this is not a stuck replica: "+s.TunnelErr.Error()
	case st.IO == replica.IOYes:
		r.Verdict = Fail
		r.Observed = fmt.Sprintf("fault had no effect: IO thread Yes %.2fs after the tunnel came back", s.After.Seconds())
	case s.After < s.Window:
		r.Verdict = Fail
		r.Observed = fmt.Sprintf("IO thread %s only %.1f s after the tunnel came back: the expected %.1f s have not passed",
			notConfigured(string(st.IO)), s.After.Seconds(), s.Window.Seconds())
	default:
		r.Verdict = Pass
		r.Observed = fmt.Sprintf("IO thread %s for %.1f s after the tunnel came back: Last_IO_Errno %d: %s (Connect_Retry %d s; expected Yes within %.1f s from %s)",
			notConfigured(string(st.IO)), s.After.Seconds(), st.LastIOErrno, st.LastIOError, st.ConnectRetry, s.Window.Seconds(), s.WindowFrom)
		r.Detail = map[string]any{"io": string(st.IO), "last_io_errno": st.LastIOErrno, "last_io_error": st.LastIOError,
			"connect_retry_s": st.ConnectRetry, "stuck_ms": s.After.Milliseconds()}
	}
	return r
}

// notConfigured names the IO state "" (replication not configured).
func notConfigured(s string) string {
	if s == "" {
		return "(not configured)"
	}
	return s
}
