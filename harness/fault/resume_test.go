package fault

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

// resumed builds a fault as drdrill recover does: New with the journalled
// params, then Resume with the journalled data.
func resumed(t *testing.T, name string, tg target.Target, p Params, data json.RawMessage) Fault {
	t.Helper()
	f, err := New(name, tg, timeline.New(), p)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := f.(Resumer)
	if !ok {
		t.Fatalf("%s is not a Resumer", name)
	}
	if err := r.Resume(data); err != nil {
		t.Fatalf("resume %s: %v", name, err)
	}
	return f
}

func recoverAll(t *testing.T, f Fault) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if err := f.WaitRecovered(ctx); err != nil {
		t.Fatalf("WaitRecovered: %v", err)
	}
}

// Every registered fault can be recovered by another process, and says
// what it will change before it does.
func TestEveryFaultResumesAndPlans(t *testing.T) {
	v := newFakeVPN()
	tg := vpnClusterTarget{v.target(nil, nil), &fakeCluster{instances: []*target.Instance{{Name: "aws-db"}, {Name: "aws-db2"}}}}
	for _, name := range Names() {
		f, err := New(name, tg, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := f.(Resumer); !ok {
			t.Errorf("%s does not implement Resumer", name)
		}
		if _, ok := f.(Planner); !ok {
			t.Errorf("%s does not implement Planner", name)
		}
	}
}

func TestParamsOf(t *testing.T) {
	v := newFakeVPN()
	p := Params{"from": "onprem"}
	f, err := New("tunnel-down", v.target(nil, nil), nil, p)
	if err != nil {
		t.Fatal(err)
	}
	p["from"] = "changed after New"
	if got := ParamsOf(f); got["from"] != "onprem" {
		t.Fatalf("ParamsOf = %v, want the params New was given", got)
	}
	if ParamsOf(None{}) != nil || ParamsOf(&TunnelDown{}) != nil {
		t.Fatal("a fault not built by New has no params")
	}
	if got := ParamsOf(ownFault{Params{"x": "1"}}); got["x"] != "1" {
		t.Fatalf("a fault from another package: %v", got)
	}
}

// ownFault is a fault as another package writes it: it keeps its params.
type ownFault struct{ p Params }

func (ownFault) Name() string                        { return "own" }
func (ownFault) Inject(context.Context) error        { return nil }
func (ownFault) WaitForEffect(context.Context) error { return nil }
func (ownFault) Recover(context.Context) error       { return nil }
func (ownFault) WaitRecovered(context.Context) error { return nil }
func (f ownFault) Params() Params                    { return f.p }

// gateway-crash resumed: a charon that runs with its connection loaded is
// left alone (never a second one); a dead one is started; a bare one is
// replaced; then the tunnel comes back.
func TestGatewayCrashResume(t *testing.T) {
	p := Params{"heal_wait": "50ms"}
	t.Run("killed before the crash: nothing restarted", func(t *testing.T) {
		v := newFakeVPN()
		recoverAll(t, resumed(t, "gateway-crash", v.target(nil, nil), p, nil))
		if s := v.sites["onprem"]; s.starts != 0 || s.kills != 0 || len(v.errors) != 0 || !v.healthy() {
			t.Fatalf("starts %d kills %d errors %v: %s", s.starts, s.kills, v.errors, v)
		}
		if n := v.count("aws", "terminate") + v.count("onprem", "terminate"); n != 0 {
			t.Fatalf("a healthy tunnel was taken down %d times", n)
		}
	})
	t.Run("charon dead: started once, tunnel back", func(t *testing.T) {
		v := newFakeVPN()
		v.KillGateway(context.Background(), "onprem")
		recoverAll(t, resumed(t, "gateway-crash", v.target(nil, nil), p, nil))
		if s := v.sites["onprem"]; s.starts != 1 || len(v.errors) != 0 || !v.healthy() {
			t.Fatalf("starts %d errors %v: %s", s.starts, v.errors, v)
		}
	})
	t.Run("charon bare: replaced", func(t *testing.T) {
		v := newFakeVPN()
		v.KillGateway(context.Background(), "onprem")
		v.StartGatewayUnconfigured(context.Background(), "onprem")
		recoverAll(t, resumed(t, "gateway-crash", v.target(nil, nil), p, nil))
		if s := v.sites["onprem"]; s.kills != 2 || s.starts != 2 || len(v.errors) != 0 || !v.healthy() {
			t.Fatalf("kills %d starts %d errors %v: %s", s.kills, s.starts, v.errors, v)
		}
	})
	t.Run("twice: the second finds nothing to do", func(t *testing.T) {
		v := newFakeVPN()
		v.KillGateway(context.Background(), "onprem")
		recoverAll(t, resumed(t, "gateway-crash", v.target(nil, nil), p, nil))
		recoverAll(t, resumed(t, "gateway-crash", v.target(nil, nil), p, nil))
		if s := v.sites["onprem"]; s.starts != 1 || len(v.errors) != 0 {
			t.Fatalf("starts %d errors %v", s.starts, v.errors)
		}
	})
}

// A fresh gateway-crash in the drill path still restarts what it killed.
func TestGatewayCrashDrillPath(t *testing.T) {
	v := newFakeVPN()
	f, err := New("gateway-crash", v.target(nil, nil), nil, Params{"heal_wait": "50ms"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitForEffect(ctx); err != nil {
		t.Fatal(err)
	}
	recoverAll(t, f)
	if s := v.sites["onprem"]; s.kills != 1 || s.starts != 1 || len(v.errors) != 0 || !v.healthy() {
		t.Fatalf("kills %d starts %d errors %v: %s", s.kills, s.starts, v.errors, v)
	}
}

// tunnel-down resumed: a healthy tunnel is left alone; a down one comes
// back in the documented order.
func TestTunnelDownResume(t *testing.T) {
	v := newFakeVPN()
	recoverAll(t, resumed(t, "tunnel-down", v.target(nil, nil), nil, nil))
	if n := v.count("aws", "terminate") + v.count("aws", "initiate") + v.count("onprem", "initiate"); n != 0 {
		t.Fatalf("healthy tunnel: %d terminates/initiates", n)
	}
	ctx := context.Background()
	v.target(nil, nil).Sites()[0].Gateway.Down(ctx, fakeConn, time.Second)
	if v.healthy() {
		t.Fatal("the fake did not take the tunnel down")
	}
	recoverAll(t, resumed(t, "tunnel-down", v.target(nil, nil), nil, nil))
	if !v.healthy() {
		t.Fatalf("not healthy: %s", v)
	}
	want := []string{"aws: terminate", "onprem: terminate", "onprem: initiate", "aws: initiate"}
	var got []string
	for _, c := range v.calls {
		if strings.HasSuffix(c, "terminate") || strings.HasSuffix(c, "initiate") {
			got = append(got, c)
		}
	}
	if strings.Join(got[1:], ",") != strings.Join(want, ",") { // got[0] is the test's own down
		t.Fatalf("order %q, want %q after the test's down", got, want)
	}
}

// one-sided-reset resumed: the drop is removed and a stale side is
// repaired (both down, documented order); a consistent tunnel is left.
func TestOneSidedResetResume(t *testing.T) {
	h := newFakeHosts()
	h.table["onprem-gw"] = true // the drop, left by a kill -9 inside Inject
	v := newFakeVPN()
	v.sites["aws"].ike = nil // aws reset; onprem holds the stale SA
	recoverAll(t, resumed(t, "one-sided-reset", v.target(h, nil), nil, nil))
	if !v.healthy() {
		t.Fatalf("tunnel not repaired: %s", v)
	}
	if !containsCall(h.calls, "onprem-gw: nft add table inet "+OneSidedTable+" ; delete table inet "+OneSidedTable) {
		t.Fatalf("drop not removed: %q", h.calls)
	}
	n := len(v.calls)
	recoverAll(t, resumed(t, "one-sided-reset", v.target(h, nil), nil, nil))
	for _, c := range v.calls[n:] {
		if strings.HasSuffix(c, "terminate") || strings.HasSuffix(c, "initiate") {
			t.Fatalf("a consistent tunnel was touched again: %q", v.calls[n:])
		}
	}
}

// wan-blackhole resumed: the tables come off both gateways named in the
// journalled data; with no data, those of the tunnel's expectations.
func TestWANBlackholeResume(t *testing.T) {
	for _, data := range []json.RawMessage{nil, mustJSON(t, testEnds())} {
		h := newFakeHosts()
		h.table["aws-gw"], h.table["onprem-gw"] = true, true
		v := newFakeVPN()
		recoverAll(t, resumed(t, "wan-blackhole", v.target(h, nil), Params{"heal_wait": "50ms"}, data))
		if h.table["aws-gw"] || h.table["onprem-gw"] || !v.healthy() {
			t.Fatalf("data %s: tables %v: %s", data, h.table, v)
		}
	}
	h := newFakeHosts()
	f, _ := New("wan-blackhole", newFakeVPN().target(h, nil), nil, nil)
	bad := mustJSON(t, []BlackholeEnd{{Host: target.Host{Site: "aws; reboot", Kind: target.GatewayHost}, RemoteSubnets: []string{"10.0.0.0/8"}}})
	if err := f.(Resumer).Resume(bad); err == nil {
		t.Fatal("a journalled host that is not a host name must be refused")
	}
}

// Plan reads the WAN addresses over VICI and arms the switch; Inject then
// uses them with the timeout.
func TestWANBlackholePlan(t *testing.T) {
	h := newFakeHosts()
	v := newFakeVPN()
	f, err := New("wan-blackhole", v.target(h, nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.(Planner).Plan(context.Background(), 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Hosts) != 2 || !strings.Contains(p.DeadMan, "1m30s") || !strings.Contains(p.Undo, "nft delete table inet "+BlackholeTable) {
		t.Fatalf("plan %+v", p)
	}
	var ends []BlackholeEnd
	if err := json.Unmarshal(p.Data, &ends); err != nil || len(ends) != 2 || ends[0].Addr != "198.51.100.1" || ends[0].PeerAddr != "198.51.100.2" {
		t.Fatalf("data %s: %v", p.Data, err)
	}
	n := len(v.calls)
	if err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(v.calls) != n {
		t.Fatalf("Inject read the gateways again after Plan: %q", v.calls[n:])
	}
	if !containsCall(h.calls, "peers { 198.51.100.2 timeout 90000ms }") {
		t.Fatalf("the drop is not armed to expire: %q", h.calls)
	}
	if f2, _ := New("wan-blackhole", v.target(h, nil), nil, nil); f2.(*WANBlackhole).DeadMan() != "" {
		t.Fatal("no limit, no switch")
	}
}

func TestOneSidedPlanBoundsTheDrop(t *testing.T) {
	f, err := New("one-sided-reset", newFakeVPN().target(nil, nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.(Planner).Plan(context.Background(), 5*time.Second)
	if err != nil || !strings.Contains(p.DeadMan, "5s") || f.(*OneSidedReset).dropTimeout() != 5*time.Second {
		t.Fatalf("plan %+v: %v", p, err)
	}
	if got := OneSidedDrop("198.51.100.1", 5*time.Second); !strings.Contains(got, "peers { 198.51.100.1 timeout 5000ms }") || !strings.Contains(got, "ip saddr @peers") {
		t.Fatalf("drop %q", got)
	}
	g, _ := New("one-sided-reset", newFakeVPN().target(nil, nil), nil, nil)
	if g.(*OneSidedReset).dropTimeout() != DefaultDropTimeout {
		t.Fatal("without a limit the drop still expires")
	}
}

func containsCall(calls []string, sub string) bool {
	for _, c := range calls {
		if strings.Contains(c, sub) {
			return true
		}
	}
	return false
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replica-stuck: Plan journals the original timings; resumed, Recover
// restores exactly them (and only when they differ); without them it
// restores a sane connect retry.
func TestReplicaStuckResume(t *testing.T) {
	rep, db := newFakeReplica(t, 3, 1, time.Second)
	v := newFakeVPN()
	f, err := New("replica-stuck-connecting", v.target(nil, rep), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.(Planner).Plan(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(db.writes()) != 0 {
		t.Fatalf("Plan wrote: %q", db.writes())
	}
	if !strings.Contains(p.Undo, "MASTER_CONNECT_RETRY=1,") || len(p.Hosts) != 2 || p.Hosts[0] != "onprem-db" {
		t.Fatalf("plan %+v", p)
	}
	// The process was killed after the CHANGE MASTER and the terminate.
	db.retry = 3600
	v.target(nil, rep).Sites()[0].Gateway.Down(context.Background(), fakeConn, time.Second)
	recoverAll(t, resumed(t, "replica-stuck-connecting", v.target(nil, rep), nil, p.Data))
	if got := changesOnly(db.writes()); len(got) != 1 || got[0] != "CHANGE MASTER TO MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1.000" {
		t.Fatalf("restore: %q", got)
	}
	if !v.healthy() {
		t.Fatalf("tunnel: %s", v)
	}
	// A second recover: nothing differs, nothing is written.
	n := len(db.writes())
	recoverAll(t, resumed(t, "replica-stuck-connecting", v.target(nil, rep), nil, p.Data))
	if len(db.writes()) != n {
		t.Fatalf("second recover wrote %q", db.writes()[n:])
	}

	// Without the journalled timings: the hour's retry goes, the rest stays.
	db.retry = 3600
	recoverAll(t, resumed(t, "replica-stuck-connecting", v.target(nil, rep), nil, nil))
	if db.retry != int64(SaneConnectRetry/time.Second) || db.hbMilli != 1000 || db.netTimeout != 3 {
		t.Fatalf("sane restore: retry %d hb %dms net %d", db.retry, db.hbMilli, db.netTimeout)
	}
	if err := f.(Resumer).Resume(json.RawMessage(`{"connect_retry_ms":0}`)); err == nil {
		t.Fatal("journalled timings that are not a replica's must be refused")
	}
}

// WaitSteady passes on a steady target and says what is left otherwise.
func TestWaitSteady(t *testing.T) {
	prim, pdb := newFakeReplica(t, 3, 1, time.Second)
	rep, rdb := newFakeReplica(t, 3, 1, time.Second)
	v := newFakeVPN()
	tg := v.targetDBs(nil, prim, rep)
	tl := timeline.New()
	if err := WaitSteady(context.Background(), tg, tl); err != nil {
		t.Fatal(err)
	}
	if len(tl.Filter(timeline.KindNote, "harness")) != 1 {
		t.Fatal("steady state not recorded")
	}
	for _, tc := range []struct {
		name    string
		breakIt func()
		want    string
	}{
		{"tunnel down", func() { tg.Sites()[0].Gateway.Down(context.Background(), fakeConn, time.Second) }, "onprem: no IKE SA"},
		{"replica connecting", func() { v.establish("aws"); rdb.set(func(r *fakeReplica) { r.io = "Connecting" }) }, "IO and SQL threads Yes"},
		{"replica behind", func() {
			rdb.set(func(r *fakeReplica) { r.io = "Yes" })
			pdb.set(func(r *fakeReplica) { r.binlogPos = "0-1-12" })
		}, "not caught up"},
	} {
		tc.breakIt()
		// Bounded below the replica's own windows (5 s): what is left is
		// said when ctx ends too.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := WaitSteady(ctx, tg, nil)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
