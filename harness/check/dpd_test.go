package check

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
)

func TestTimeoutClass(t *testing.T) {
	for _, c := range []struct {
		errno int
		msg   string
		os    int
		ok    bool
	}{
		{2003, `error reconnecting to master 'drdrill_repl@10.20.11.123:3306' - retry-time: 1  maximum-retries: 100000  message: Can't connect to server on '10.20.11.123' (110 "Connection timed out")`, 110, true},
		{2003, `error connecting to master 'repl@10.20.11.123:3306' - retry-time: 60 retries: 1 message: Can't connect to MySQL server on '10.20.11.123:3306' (110)`, 110, true},
		{2013, `Lost connection to server at 'handshake: reading initial communication packet', system error: 110 (110 "Connection timed out")`, 110, true},
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

func TestReplicaTimedOut(t *testing.T) {
	timedOut := IOError{IO: "Connecting", Errno: 2003, Msg: `Can't connect to server on '10.20.11.123' (110 "Connection timed out")`, At: 6 * time.Second}
	unreachable := IOError{IO: "Connecting", Errno: 2003, Msg: `Can't connect to server on '10.20.11.123' (101 "Network is unreachable")`, At: 4 * time.Second}
	refused := IOError{IO: "Connecting", Errno: 2003, Msg: `Can't connect to server on '10.20.11.123' (111 "Connection refused")`, At: 4 * time.Second}
	timedOutButNo := timedOut
	timedOutButNo.IO = "No"
	tests := []struct {
		name    string
		seen    []IOError
		verdict string
		obs     []string
	}{
		{"timed out after an unreachable", []IOError{unreachable, timedOut}, Pass,
			[]string{"Connecting at 6.00s, errno 2003 (OS errno 110): Can't connect"}},
		{"ICMP answered", []IOError{unreachable}, Fail, []string{"no timeout-class error: Connecting errno 2003 (OS errno 101)", "not silent"}},
		{"refused", []IOError{refused}, Fail, []string{"OS errno 111"}},
		{"timed out but the thread is No", []IOError{timedOutButNo}, Fail, []string{"no timeout-class error: No errno 2003"}},
		{"nothing seen", nil, Fail, []string{"no IO error recorded in the window"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ReplicaTimedOut(tt.seen, time.Second, 10*time.Second)
			wantResult(t, r, tt.verdict, tt.obs...)
			if tt.verdict == Pass && (r.Detail["detect_ms"] != int64(5000) || r.Detail["os_errno"] != 110) {
				t.Fatalf("detail = %v", r.Detail)
			}
		})
	}
}

func TestDPDDeclaredDead(t *testing.T) {
	tl := timeline.New()
	add := func(tl *timeline.Timeline, at time.Duration, src, kind string, d any) {
		tl.AddAt(tl.Start().Add(at), src, kind, d)
	}
	sa := func(ev string, up bool) timeline.SAEvent {
		return timeline.SAEvent{Event: ev, Up: up, IKE: "onprem-aws", IKEState: "DELETING", IKEID: "3"}
	}
	add(tl, 5*time.Second, "tunnel/aws", timeline.KindChildUpDown, timeline.ChildUpDown(sa("child-updown", false)))
	add(tl, 5*time.Second+time.Millisecond, "tunnel/aws", timeline.KindIKEUpDown, timeline.IKEUpDown(sa("ike-updown", false)))
	add(tl, 5500*time.Millisecond, "tunnel/onprem", timeline.KindIKEUpDown, timeline.IKEUpDown(sa("ike-updown", false)))
	add(tl, 7*time.Second, "tunnel/onprem", timeline.KindIKEUpDown, timeline.IKEUpDown(sa("ike-updown", true)))
	dpd := tl.Events()

	// The harness terminated the SA before it went down: not DPD.
	term := timeline.New()
	add(term, 2*time.Second, "tunnel/aws", timeline.KindStep, timeline.TunnelAction{Action: "down", Connection: "onprem-aws", Result: "ok"})
	add(term, 2*time.Second+5*time.Millisecond, "tunnel/aws", timeline.KindIKEUpDown, timeline.IKEUpDown(sa("ike-updown", false)))
	// An expected "no matching SAs" down counts as the harness's doing too.
	expected := timeline.New()
	add(expected, 2*time.Second, "tunnel/aws", timeline.KindExpected, timeline.TunnelAction{Action: "down", Connection: "onprem-aws", Result: "no matching SAs"})
	add(expected, 3*time.Second, "tunnel/aws", timeline.KindIKEUpDown, timeline.IKEUpDown(sa("ike-updown", false)))
	// An up by the harness is not a terminate.
	up := timeline.New()
	add(up, 2*time.Second, "tunnel/aws", timeline.KindStep, timeline.TunnelAction{Action: "up", Connection: "onprem-aws", Result: "ok"})
	add(up, 3*time.Second, "tunnel/aws", timeline.KindIKEUpDown, timeline.IKEUpDown(sa("ike-updown", false)))
	// Legacy map details (scenarios not yet converted).
	legacy := timeline.New()
	add(legacy, 4*time.Second, "tunnel/aws", timeline.KindIKEUpDown, map[string]any{"up": false})
	legacyTerm := timeline.New()
	add(legacyTerm, 2*time.Second, "tunnel/aws", timeline.KindStep, map[string]any{"action": "down", "result": "ok"})
	add(legacyTerm, 3*time.Second, "tunnel/aws", timeline.KindIKEUpDown, map[string]any{"up": false})
	// Read back from report.json: no monotonic offsets, only t_ms.
	b, _ := json.Marshal(dpd)
	var fromJSON []timeline.Event
	if err := json.Unmarshal(b, &fromJSON); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		events   []timeline.Event
		sites    []string
		from, to time.Duration
		verdict  string
		obs      []string
	}{
		{"both sides by DPD", dpd, []string{"aws", "onprem"}, time.Second, 10 * time.Second, Pass,
			[]string{"aws: IKE SA down at 5.00s, CHILD SA down at 5.00s", "onprem: IKE SA down at 5.50s"}},
		{"read back from JSON", fromJSON, []string{"aws", "onprem"}, time.Second, 10 * time.Second, Pass,
			[]string{"aws: IKE SA down at 5.00s"}},
		{"outside the window", dpd, []string{"aws"}, 6 * time.Second, 10 * time.Second, Fail, []string{"aws: no ike_updown down"}},
		{"a gateway that never saw it", dpd, []string{"aws", "nowhere"}, time.Second, 10 * time.Second, Fail, []string{"nowhere: no ike_updown"}},
		{"terminated by the harness", term.Events(), []string{"aws"}, time.Second, 10 * time.Second, Fail,
			[]string{"aws: the harness terminated the SA at 2.00s: not DPD"}},
		{"expected down by the harness", expected.Events(), []string{"aws"}, time.Second, 10 * time.Second, Fail, []string{"terminated"}},
		{"an up is not a terminate", up.Events(), []string{"aws"}, time.Second, 10 * time.Second, Pass, []string{"aws: IKE SA down at 3.00s"}},
		{"legacy map", legacy.Events(), []string{"aws"}, time.Second, 10 * time.Second, Pass, []string{"aws: IKE SA down at 4.00s"}},
		{"legacy map terminate", legacyTerm.Events(), []string{"aws"}, time.Second, 10 * time.Second, Fail, []string{"terminated"}},
		{"no gateways", dpd, nil, time.Second, 10 * time.Second, Fail, []string{"no gateway to watch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := DPDDeclaredDead(tt.events, tt.sites, tt.from, tt.to)
			wantResult(t, r, tt.verdict, tt.obs...)
			if r.Passed() {
				if _, ok := r.Detail["first_down_ms"].(int64); !ok {
					t.Fatalf("first_down_ms = %#v, want an int64", r.Detail["first_down_ms"])
				}
			}
		})
	}
	if r := DPDDeclaredDead(dpd, []string{"aws", "onprem"}, time.Second, 10*time.Second); r.Detail["first_down_ms"] != int64(5001) {
		t.Fatalf("first_down_ms = %v, want 5001 (aws's IKE SA)", r.Detail["first_down_ms"])
	}
}

func TestTunnelSelfHealed(t *testing.T) {
	base := SelfHeal{After: "the lift", Window: 4550 * time.Millisecond, Reinitiators: "aws dpd_action=restart, onprem dpd_action=clear"}
	healed := base
	healed.Took, healed.Healed, healed.Initiator = 940*time.Millisecond, true, "aws"
	notHealed := base
	notHealed.Took, notHealed.Doing = 4550*time.Millisecond, "aws: CONNECTING, charon: giving up after 3 retransmits; onprem: no IKE SA"
	withHint := notHealed
	withHint.Hint = "no gateway re-initiates after DPD: aws dpd_action=clear, onprem dpd_action=clear"
	late := healed
	late.Took = 5 * time.Second
	tests := []struct {
		name    string
		h       SelfHeal
		verdict string
		obs     []string
	}{
		{"healed", healed, Pass, []string{"healthy 0.94s after the lift; new IKE SA initiated by aws"}},
		{"not healed", notHealed, Fail, []string{"not healthy 4.55s after the lift: aws: CONNECTING"}},
		{"not healed, with the configuration's hint", withHint, Fail, []string{"onprem: no IKE SA (no gateway re-initiates after DPD"}},
		{"healed after the window", late, Fail, []string{"healthy 5.00s after the lift, 0.45s over the window"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := TunnelSelfHealed(tt.h)
			wantResult(t, r, tt.verdict, tt.obs...)
			if r.Detail["window_ms"] != int64(4550) {
				t.Fatalf("detail = %v", r.Detail)
			}
			if tt.verdict == Pass && (r.Detail["self_heal_ms"] != int64(940) || r.Detail["initiator"] != "aws") {
				t.Fatalf("detail = %v", r.Detail)
			}
		})
	}
	if r := TunnelSelfHealed(healed); r.Expected != "both gateways ESTABLISHED/INSTALLED, one IKE SA and one CHILD SA each, within 4.55s of the lift, nobody calling initiate (aws dpd_action=restart, onprem dpd_action=clear)" {
		t.Fatalf("expected = %q", r.Expected)
	}
}
