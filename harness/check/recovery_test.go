package check

import (
	"errors"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
)

var errTimeout = errors.New("wait for tunnel ESTABLISHED/INSTALLED on both sides: context deadline exceeded; last seen: onprem: no IKE SA")

func TestTunnelRecoveredInOrder(t *testing.T) {
	ok := InOrderRecovery{First: "aws", Second: "onprem", Restarted: "onprem", Took: 1370 * time.Millisecond, Initiator: "aws"}
	failed := ok
	failed.Err, failed.Doing = errTimeout, "aws: no IKE SA; onprem: CONNECTING, charon: NO_PROPOSAL_CHOSEN"
	noDoing := failed
	noDoing.Doing = ""
	tests := []struct {
		name    string
		o       InOrderRecovery
		verdict string
		obs     string
	}{
		{"recovered", ok, Pass, "healthy 1.37s after the documented order began; new IKE SA initiated by aws"},
		{"did not come back", failed, Fail, "context deadline exceeded; last seen: onprem: no IKE SA; aws: no IKE SA; onprem: CONNECTING"},
		{"did not come back, gateways unread", noDoing, Fail, "last seen: onprem: no IKE SA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := TunnelRecoveredInOrder(tt.o)
			wantResult(t, r, tt.verdict, tt.obs)
			if r.Detail["restarted"] != "onprem" ||
				r.Expected != "both gateways ESTABLISHED/INSTALLED, one IKE SA and one CHILD SA each, after the documented order (aws down; onprem down, onprem up; aws up)" {
				t.Fatalf("expected %q, detail %v", r.Expected, r.Detail)
			}
		})
	}
}

func TestIORecoveredAfterRemediation(t *testing.T) {
	stuck := []timeline.Event{io(0.1, "", "Yes", running), io(3, "Yes", "Connecting", outage(2003))}
	tests := []struct {
		name    string
		events  []timeline.Event
		verdict string
		obs     string
	}{
		{"back after STOP/START", cat(stuck, io(12.2, "Connecting", "Yes", running)), Pass, "Yes at 12.20s, 0.20s after STOP/START REPLICA"},
		{"too slow", cat(stuck, io(20, "Connecting", "Yes", running)), Fail, "8.00s after STOP/START REPLICA: 3.00s over"},
		{"still stuck", stuck, Fail, "no io_state → Yes after STOP/START REPLICA at 12.00s; last state Connecting at 3.00s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := IORecoveredAfterRemediation(tt.events, src, sec(12), sec(5))
			wantResult(t, r, tt.verdict, tt.obs)
			if r.Name != "io_recovered_after_remediation" || r.Expected != "IO thread Yes within 5.00s of STOP/START REPLICA at 12.00s" {
				t.Fatalf("name %q expected %q", r.Name, r.Expected)
			}
		})
	}
}

func TestReplicaStuckDetected(t *testing.T) {
	const msg = `error reconnecting to master 'repl@10.20.11.123:3306' - retry-time: 3600  maximum-retries: 100000  message: Can't connect to server on '10.20.11.123' (111 "Connection refused")`
	connecting := replica.Status{Configured: true, IO: replica.IOConnecting, SQLRunning: true, LastIOErrno: 2003, LastIOError: msg, ConnectRetry: 3600}
	yes := replica.Status{Configured: true, IO: replica.IOYes, SQLRunning: true}
	base := StuckReplica{Window: 5 * time.Second, WindowFrom: "the lab's intended timings"}
	with := func(st replica.Status, after time.Duration, tunnelErr error) StuckReplica {
		s := base
		s.Status, s.After, s.TunnelErr = st, after, tunnelErr
		return s
	}
	tests := []struct {
		name    string
		s       StuckReplica
		verdict string
		obs     string
	}{
		{"stuck", with(connecting, 5020*time.Millisecond, nil), Pass,
			"IO thread Connecting for 5.0 s after the tunnel came back: Last_IO_Errno 2003: " + msg + " (Connect_Retry 3600 s; expected Yes within 5.0 s from the lab's intended timings)"},
		{"not configured", with(replica.Status{}, 6*time.Second, nil), Pass, "IO thread (not configured) for 6.0 s"},
		{"came back within the window", with(yes, 1200*time.Millisecond, nil), Fail,
			"fault had no effect: IO thread Yes 1.20s after the tunnel came back, within the expected 5.00s"},
		{"came back just after the window", with(yes, 5100*time.Millisecond, nil), Fail, "fault had no effect: IO thread Yes 5.10s after the tunnel came back"},
		{"tunnel not healthy", with(connecting, 5020*time.Millisecond, errors.New("onprem: no IKE SA")), Fail,
			"tunnel not healthy, so this is not a stuck replica: onprem: no IKE SA"},
		{"judged too early", with(connecting, 2*time.Second, nil), Fail, "only 2.0 s after the tunnel came back: the expected 5.0 s have not passed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ReplicaStuckDetected(tt.s)
			wantResult(t, r, tt.verdict, tt.obs)
			if r.Expected != "tunnel healthy and IO thread not Yes 5.00s after the tunnel came back (window from the lab's intended timings)" {
				t.Fatalf("expected %q", r.Expected)
			}
		})
	}
	r := ReplicaStuckDetected(with(connecting, 5020*time.Millisecond, nil))
	if r.Detail["io"] != "Connecting" || r.Detail["last_io_errno"] != 2003 || r.Detail["connect_retry_s"] != 3600 || r.Detail["stuck_ms"] != int64(5020) {
		t.Fatalf("detail = %v", r.Detail)
	}
}
