package scenarios

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/timeline"
)

func TestWANBlackhole(t *testing.T) {
	env := newEnv(t)
	r := harness.Run(context.Background(), WANBlackhole(WANBlackholeOptions{}), env)
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
	r := harness.Run(context.Background(), WANBlackhole(WANBlackholeOptions{KeepBlackhole: true}), env)
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

func assertBlackholeGone(t *testing.T, env *harness.Env) {
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

func TestIKETimingWindows(t *testing.T) {
	conf := "charon {\n  # Fast retransmits: 0.5 s base timeout, x1.4, 3 tries.\n  retransmit_timeout = 0.5\n  retransmit_base = 1.4\n  retransmit_tries = 3\n}\n"
	it, err := parseRetransmit(conf)
	if err != nil {
		t.Fatal(err)
	}
	if seq := it.sequence(); seq < 3551*time.Millisecond || seq > 3553*time.Millisecond {
		t.Fatalf("sequence = %s, want 3.552s (0.5+0.7+0.98+1.372)", seq)
	}
	it.Sites = []string{"aws", "onprem"}
	it.DPDDelay = map[string]time.Duration{"aws": 2 * time.Second, "onprem": 2 * time.Second}
	it.DPDAction = map[string]string{"aws": "restart", "onprem": "restart"}
	// dpd 2 + 3.552, plus half of it: 8.33 s.
	if w := it.dpdWindow(); w < 8300*time.Millisecond || w > 8350*time.Millisecond {
		t.Fatalf("dpdWindow = %s", w)
	}
	if w := it.healWindow(); w < 4550*time.Millisecond || w > 4555*time.Millisecond {
		t.Fatalf("healWindow = %s", w)
	}
	if h := it.healHint(); !strings.Contains(h, "both gateways have dpd_action=restart") {
		t.Fatalf("healHint with restart on both sides: %q", h)
	}
	it.DPDAction["onprem"] = "clear"
	if h := it.healHint(); h != "" || len(it.restarters()) != 1 {
		t.Fatalf("restart on one side: hint %q restarters %v", h, it.restarters())
	}
	it.DPDAction["aws"] = "clear"
	if h := it.healHint(); !strings.Contains(h, "no gateway re-initiates") {
		t.Fatalf("healHint with clear on both: %q", h)
	}
	def, _ := parseRetransmit("charon {\n}\n")
	if def.RetransmitTimeout != 4*time.Second || def.RetransmitTries != 5 {
		t.Fatalf("charon defaults: %+v", def)
	}
	if _, err := parseRetransmit("retransmit_tries = 1.2.3\n"); err == nil {
		t.Fatal("a bad number must be an error")
	}
}

func TestCharonTail(t *testing.T) {
	p := t.TempDir() + "/charon.log"
	log := "14:42:29 11[IKE] giving up after 3 retransmits\n" +
		"14:42:29 11[IKE] peer not responding, trying again (2/0)\n" +
		"14:42:29 11[IKE] queueing IKE_ME task\n" +
		"14:42:29 11[IKE]   activating IKE_VENDOR task\n" +
		"14:42:29 11[IKE] initiating IKE_SA onprem-aws[2] to 198.51.100.2\n" +
		"14:42:29 11[ENC] generating IKE_SA_INIT request 0 [ SA KE No ]\n" +
		"14:42:29 11[NET] sending packet: from 198.51.100.1[500] to 198.51.100.2[500] (464 bytes)\n"
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := CharonTail(p, 2)
	if len(got) != 2 || !strings.Contains(got[0], "trying again (2/0)") || !strings.Contains(got[1], "initiating IKE_SA") {
		t.Fatalf("CharonTail = %q", got)
	}
	if CharonTail(p+".missing", 3) != nil {
		t.Fatal("a missing log gives nothing")
	}
}
