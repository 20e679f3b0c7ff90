package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

func TestDiagnoseEachCause(t *testing.T) {
	want := map[string]tunnel.Expectation{
		"aws":    {Connection: "onprem-aws", LocalTS: []string{"10.20.0.0/16"}, RemoteTS: []string{"192.168.64.0/24"}},
		"onprem": {Connection: "onprem-aws", LocalTS: []string{"192.168.64.0/24"}, RemoteTS: []string{"10.20.0.0/16"}},
	}
	healthy := func(site string) *tunnel.State {
		w := want[site]
		return &tunnel.State{Gateway: site, IKESAs: []tunnel.IKESA{{Name: "onprem-aws", State: "ESTABLISHED",
			Children: []tunnel.ChildSA{{Name: "onprem-aws", State: "INSTALLED", LocalTS: w.LocalTS, RemoteTS: w.RemoteTS}}}}}
	}
	noChild := &tunnel.State{Gateway: "onprem", IKESAs: []tunnel.IKESA{{Name: "onprem-aws", State: "ESTABLISHED"}}}
	yes := &replica.Status{Configured: true, IO: replica.IOYes, SQLRunning: true}
	stuck := &replica.Status{Configured: true, IO: replica.IOConnecting, SQLRunning: true, LastIOErrno: 2003,
		LastIOError: `error reconnecting to master 'repl@10.20.11.123:3306' - retry-time: 3600  maximum-retries: 100000  message: Can't connect to server on '10.20.11.123' (110 "Connection timed out")`}
	sqlStopped := &replica.Status{Configured: true, IO: replica.IOYes, SQLRunning: false, LastSQLErrno: 1062, LastSQLError: "Duplicate entry '7'\nfor key 'PRIMARY'"}
	tl := timeline.New()
	up := tl.AddAt(tl.Start().Add(3*time.Second), "tunnel/aws", timeline.KindChildUpDown, map[string]any{"up": true})
	base := func() Evidence {
		return Evidence{Sites: []string{"aws", "onprem"}, Expect: want, Replica: yes, TunnelErr: map[string]string{},
			Tunnel: map[string]*tunnel.State{"aws": healthy("aws"), "onprem": healthy("onprem")},
			Events: []timeline.Event{up}, Now: 15 * time.Second}
	}
	for _, tc := range []struct {
		name string
		ev   func() Evidence
		want string
	}{
		{"fault had no effect", func() Evidence {
			e := base()
			e.FailedCheck = &check.Result{Name: "outage_observed", Verdict: "fail", Observed: "fault had no effect: IO thread stayed Yes for 5.5 s"}
			return e
		}, "fault had no effect: IO thread stayed Yes for 5.5 s"},
		{"tunnel on one side only", func() Evidence {
			e := base()
			e.Tunnel["onprem"] = noChild
			e.Replica = stuck
			return e
		}, "tunnel INSTALLED on aws, no CHILD_SA on onprem"},
		{"tunnel down on both sides", func() Evidence {
			e := base()
			e.Tunnel = map[string]*tunnel.State{"aws": {Gateway: "aws"}, "onprem": {Gateway: "onprem"}}
			return e
		}, "tunnel no IKE SA on aws, no IKE SA on onprem"},
		{"gateway unreadable", func() Evidence {
			e := base()
			delete(e.Tunnel, "onprem")
			e.TunnelErr["onprem"] = "connect to onprem gateway at unix:///x/charon.vici: connection refused"
			return e
		}, "tunnel INSTALLED on aws, unreadable (connect to onprem gateway at unix:///x/charon.vici: connection refused) on onprem"},
		{"replica stuck after the tunnel came back", func() Evidence {
			e := base()
			e.Replica = stuck
			return e
		}, "IO thread Connecting for 12 s after the tunnel came back: Last_IO_Errno 2003, errno 110"},
		{"SQL thread stopped", func() Evidence {
			e := base()
			e.Replica = sqlStopped
			return e
		}, "SQL thread stopped: Last_SQL_Errno 1062: Duplicate entry '7' for key 'PRIMARY'"},
		{"a failed check with everything running", func() Evidence {
			e := base()
			e.FailedCheck = &check.Result{Name: "ledger_matches", Verdict: "fail", Observed: "missing seq 2 (phase during, 'replication_test_while_vpn_down')"}
			return e
		}, "ledger_matches: missing seq 2 (phase during, 'replication_test_while_vpn_down')"},
		{"an error", func() Evidence {
			e := base()
			e.Error = "write during the outage: Error 1290: read-only"
			return e
		}, "write during the outage: Error 1290: read-only"},
	} {
		if got := Diagnose(tc.ev()); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestSocketErrno(t *testing.T) {
	for msg, want := range map[string]string{
		`Can't connect to server on '10.20.11.123' (110 "Connection timed out")`:   "110",
		`Can't connect to server on '10.20.11.123' (101 "Network is unreachable")`: "101",
		`Can't connect to MySQL server on '10.0.0.1:3306' (111)`:                   "111",
		`Access denied for user 'repl'@'1.2.3.4' (using password: YES)`:            "",
	} {
		if got := socketErrno(msg); got != want {
			t.Errorf("socketErrno(%q) = %q, want %q", msg, got, want)
		}
	}
}

// Regression: a drill that failed while its fault was in place was
// diagnosed as "tunnel no IKE SA on aws, no IKE SA on onprem": the fault's
// own effect. Then the failed check or the error is the diagnosis.
func TestDiagnoseIgnoresTheFaultsOwnEffect(t *testing.T) {
	ev := Evidence{Sites: []string{"aws", "onprem"}, FaultActive: true,
		Tunnel:  map[string]*tunnel.State{"aws": {Gateway: "aws"}, "onprem": {Gateway: "onprem"}},
		Replica: &replica.Status{Configured: true, IO: replica.IOConnecting, SQLRunning: true},
		Error:   "write during the outage: Error 1290: read-only"}
	if got := Diagnose(ev); got != "write during the outage: Error 1290: read-only" {
		t.Fatalf("got %q", got)
	}
	ev.FaultActive = false
	if got := Diagnose(ev); !strings.HasPrefix(got, "tunnel no IKE SA") {
		t.Fatalf("with the fault recovered the tunnel is the cause, got %q", got)
	}
}
