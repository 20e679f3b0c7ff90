package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/timeline"
)

func TestWANBlackhole(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), WANBlackhole(WANBlackholeOptions{}), env)
	m := writeReport(t, env, r)
	if r.Verdict != report.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	for _, name := range []string{"outage_observed", "replica_timed_out", "dpd_declared_dead", "tunnel_self_healed", "io_recovered", "gtid_applied", "ledger_matches", "tunnel_healthy"} {
		if !reportHasCheck(r, name, check.Pass) {
			t.Errorf("check %s did not pass", name)
		}
	}
	// DPD evidence in the contract's timeline: ike_updown up=false from a
	// gateway, and no terminate (a "down" action) by anyone.
	var sawDown bool
	for _, e := range m["timeline"].([]any) {
		ev := e.(map[string]any)
		d, _ := ev["detail"].(map[string]any)
		if ev["kind"] == "ike_updown" && strings.HasPrefix(ev["source"].(string), "tunnel/") && d["up"] == false {
			sawDown = true
		}
		if d["action"] == "down" || d["action"] == "up" {
			t.Errorf("the drill must not terminate or initiate: %v", ev)
		}
	}
	if !sawDown {
		t.Error("timeline lacks an ike_updown up=false from a gateway")
	}
	extra := r.Metrics.Extra
	if v, ok := extra["self_heal_ms"].(float64); !ok || v <= 0 {
		t.Errorf("self_heal_ms = %v", extra["self_heal_ms"])
	}
	assertBlackholeGone(t, env)
}

// The blackhole is never lifted: the tunnel cannot heal, and the drill
// fails saying what each gateway is doing; the deferred recovery lifts it.
func TestWANBlackholeFailsWhenNeverLifted(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), WANBlackhole(WANBlackholeOptions{KeepBlackhole: true}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail || !reportHasCheck(r, "tunnel_self_healed", check.Fail) {
		t.Fatalf("want fail at tunnel_self_healed, got %s: %s", r.Verdict, r.Diagnosis)
	}
	for _, want := range []string{"did not heal by itself", "aws: ", "onprem: ", "charon: "} {
		if !strings.Contains(r.Diagnosis, want) {
			t.Errorf("diagnosis lacks %q: %s", want, r.Diagnosis)
		}
	}
	assertBlackholeGone(t, env)
	// Lifted by the deferred recovery: the tunnel heals by itself.
	first, second := env.TunnelSides()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitHealthyForTest(wctx, first, second); err != nil {
		t.Fatalf("tunnel did not heal after the deferred lift: %v", err)
	}
}

func reportHasCheck(r *report.Report, name, verdict string) bool {
	for _, c := range r.Checks {
		if c.Name == name && c.Verdict == verdict {
			return true
		}
	}
	return false
}

func assertBlackholeGone(t *testing.T, env *testEnv) {
	t.Helper()
	for _, h := range []string{"aws-gw", "onprem-gw"} {
		out, err := env.ExecHost(context.Background(), h, "nft", "list", "tables")
		if err != nil || strings.Contains(string(out), fault.BlackholeTable) {
			t.Errorf("%s: nft table left behind (%v): %s", h, err, out)
		}
		out, err = env.ExecHost(context.Background(), h, "ip", "route", "show", "type", "blackhole")
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("%s: blackhole route left behind (%v): %s", h, err, out)
		}
	}
}

// Unit tests (no lab) of the drill's checks and windows.

func TestTimeoutClass(t *testing.T) {
	for _, c := range []struct {
		errno int
		msg   string
		os    int
		ok    bool
	}{
		{2003, `error reconnecting to master 'drdrill_repl@10.20.11.123:3306' - retry-time: 1  maximum-retries: 100000  message: Can't connect to server on '10.20.11.123' (110 "Connection timed out")`, 110, true},
		{2003, `error connecting to master 'repl@10.20.11.123:3306' - retry-time: 60 retries: 1 message: Can't connect to MySQL server on '10.20.11.123:3306' (110)`, 110, true},
		{2003, `error reconnecting to master 'r@10.20.11.123:3306' - retry-time: 1  maximum-retries: 100000  message: Can't connect to server on '10.20.11.123' (101 "Network is unreachable")`, 101, false},
		{2003, `… Can't connect to server on '10.20.11.123' (111 "Connection refused")`, 111, false},
		{1045, `Access denied for user (110 "Connection timed out")`, 110, false},
		{0, "", 0, false},
	} {
		os, ok := TimeoutClass(c.errno, c.msg)
		if os != c.os || ok != c.ok {
			t.Errorf("TimeoutClass(%d, %q) = %d, %v; want %d, %v", c.errno, c.msg, os, ok, c.os, c.ok)
		}
	}
}

func TestReplicaTimedOutCheck(t *testing.T) {
	timedOut := IOError{IO: "Connecting", Errno: 2003, Msg: `Can't connect to server on '10.20.11.123' (110 "Connection timed out")`, At: 6 * time.Second}
	unreachable := IOError{IO: "Connecting", Errno: 2003, Msg: `Can't connect to server on '10.20.11.123' (101 "Network is unreachable")`, At: 4 * time.Second}
	if r := ReplicaTimedOut([]IOError{unreachable, timedOut}, time.Second, 10*time.Second); !r.Passed() || !strings.Contains(r.Observed, "OS errno 110") {
		t.Fatalf("want pass: %+v", r)
	}
	r := ReplicaTimedOut([]IOError{unreachable}, time.Second, 10*time.Second)
	if r.Passed() || !strings.Contains(r.Observed, "OS errno 101") || !strings.Contains(r.Observed, "not silent") {
		t.Fatalf("an ICMP-answered failure must fail: %+v", r)
	}
	if r := ReplicaTimedOut(nil, time.Second, 10*time.Second); r.Passed() || !strings.Contains(r.Observed, "no IO error") {
		t.Fatalf("no error must fail: %+v", r)
	}
}

func TestDPDDeclaredDeadCheck(t *testing.T) {
	tl := timeline.New()
	start := tl.Start()
	add := func(at time.Duration, src, kind string, d map[string]any) { tl.AddAt(start.Add(at), src, kind, d) }
	add(5*time.Second, "tunnel/aws", timeline.KindChildUpDown, map[string]any{"up": false})
	add(5*time.Second+time.Millisecond, "tunnel/aws", timeline.KindIKEUpDown, map[string]any{"up": false})
	add(5500*time.Millisecond, "tunnel/onprem", timeline.KindIKEUpDown, map[string]any{"up": false})
	add(7*time.Second, "tunnel/onprem", timeline.KindIKEUpDown, map[string]any{"up": true})

	r := DPDDeclaredDead(tl.Events(), []string{"aws", "onprem"}, time.Second, 10*time.Second)
	if !r.Passed() || !strings.Contains(r.Observed, "aws: IKE SA down at 5.00s, CHILD SA down at 5.00s") {
		t.Fatalf("want pass: %+v", r)
	}
	// Outside the window: nothing.
	if r := DPDDeclaredDead(tl.Events(), []string{"aws"}, 6*time.Second, 10*time.Second); r.Passed() || !strings.Contains(r.Observed, "aws: no ike_updown down") {
		t.Fatalf("want fail outside the window: %+v", r)
	}
	// A gateway that never saw it.
	if r := DPDDeclaredDead(tl.Events(), []string{"aws", "nowhere"}, time.Second, 10*time.Second); r.Passed() || !strings.Contains(r.Observed, "nowhere: no ike_updown") {
		t.Fatalf("want fail for the missing gateway: %+v", r)
	}
	// The harness terminated the SA before it went down: not DPD.
	tl2 := timeline.New()
	tl2.AddAt(tl2.Start().Add(2*time.Second), "tunnel/aws", timeline.KindStep, map[string]any{"action": "down", "result": "ok"})
	tl2.AddAt(tl2.Start().Add(2*time.Second+5*time.Millisecond), "tunnel/aws", timeline.KindIKEUpDown, map[string]any{"up": false})
	if r := DPDDeclaredDead(tl2.Events(), []string{"aws"}, time.Second, 10*time.Second); r.Passed() || !strings.Contains(r.Observed, "terminated") {
		t.Fatalf("a terminate is not DPD: %+v", r)
	}
	if r := DPDDeclaredDead(tl.Events(), nil, time.Second, 10*time.Second); r.Passed() {
		t.Fatalf("no gateways must fail: %+v", r)
	}
}
