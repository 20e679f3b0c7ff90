package fault

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/target"
)

// The fake VPN target freezes nothing, but has the capability, so that
// every registered fault (site-loss too) builds on it.
func (v *fakeVPN) Freeze(context.Context, target.Host, time.Duration) error { return nil }
func (v *fakeVPN) Thaw(context.Context, target.Host) error                  { return nil }
func (v *fakeVPN) CanFreeze() bool                                          { return true }

// fakeFreezer records Freeze/Thaw and keeps the frozen hosts.
type fakeFreezer struct {
	mu     sync.Mutex
	calls  []string
	frozen map[string]bool
	failAt string // "freeze" or "thaw": that call fails
}

func (f *fakeFreezer) Freeze(_ context.Context, h target.Host, limit time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "freeze "+h.String()+" "+limit.String())
	if f.failAt == "freeze" {
		return errors.New("boom")
	}
	f.frozen[h.String()] = true
	return nil
}

func (f *fakeFreezer) Thaw(_ context.Context, h target.Host) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "thaw "+h.String())
	if f.failAt == "thaw" {
		return errors.New("boom")
	}
	f.frozen[h.String()] = false
	return nil
}

func (f *fakeFreezer) CanFreeze() bool { return true }

func (f *fakeFreezer) isFrozen(h string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frozen[h]
}

// siteLoss builds a site-loss on the fake VPN with a fake freezer whose
// frozen database does not answer pings.
func siteLoss(t *testing.T, p Params) (*SiteLoss, *fakeFreezer, *fakeHosts, *fakeVPN) {
	t.Helper()
	v := newFakeVPN()
	h := newFakeHosts()
	fz := &fakeFreezer{frozen: map[string]bool{}}
	f, err := New("site-loss", v.target(h, nil), nil, p)
	if err != nil {
		t.Fatal(err)
	}
	s := f.(*SiteLoss)
	s.Freezer = fz
	s.Ping = func(context.Context) error {
		if fz.isFrozen(s.DB.String()) {
			return errors.New("i/o timeout")
		}
		return nil
	}
	return s, fz, h, v
}

func TestSiteLossNeedsFreeze(t *testing.T) {
	_, err := New("site-loss", execTarget{twoSites(), newFakeHosts()}, nil, nil)
	var me *target.MissingError
	if !errors.As(err, &me) || len(me.Missing) != 1 || me.Missing[0] != target.CapFreeze {
		t.Fatalf("site-loss on a target without a freezer: %v", err)
	}
	if _, err := New("site-loss", newFakeVPN().target(nil, nil), nil, Params{"site": "mars"}); err == nil || !strings.Contains(err.Error(), "mars") {
		t.Fatalf("a site that does not exist: %v", err)
	}
	if _, err := New("site-loss", newFakeVPN().target(nil, nil), nil, Params{"db_wait": "soon"}); err == nil || !strings.Contains(err.Error(), "db_wait") {
		t.Fatalf("a bad duration: %v", err)
	}
}

// Plan arms both switches with the limit and journals the ends and the
// db host; Inject blackholes, then freezes with the limit; the effect is
// seen; Recover thaws and lifts.
func TestSiteLossLifecycle(t *testing.T) {
	f, fz, h, v := siteLoss(t, Params{"heal_wait": "50ms"})
	ctx := context.Background()
	p, err := f.Plan(ctx, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.DeadMan, "aws-db") || !strings.Contains(p.DeadMan, "1m30s") || !strings.Contains(p.DeadMan, "expire") ||
		!strings.Contains(p.Undo, "kill -CONT") || len(p.Hosts) != 3 || p.Hosts[2] != "aws-db" {
		t.Fatalf("plan %+v", p)
	}
	var d siteLossData
	if err := json.Unmarshal(p.Data, &d); err != nil || d.DB != "aws-db" || len(d.Blackhole) == 0 {
		t.Fatalf("data %s: %v", p.Data, err)
	}
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	if !h.table["aws-gw"] || !h.table["onprem-gw"] || !containsCall(h.calls, "timeout 90000ms") {
		t.Fatalf("the blackhole is not armed: %q", h.calls)
	}
	if len(fz.calls) != 1 || fz.calls[0] != "freeze aws-db 1m30s" {
		t.Fatalf("freezer calls %q", fz.calls)
	}
	if err := f.WaitForEffect(ctx); err != nil {
		t.Fatal(err)
	}
	recoverAll(t, f)
	if fz.isFrozen("aws-db") || h.table["aws-gw"] || h.table["onprem-gw"] || !v.healthy() {
		t.Fatalf("not recovered: frozen %v tables %v", fz.frozen, h.table)
	}
}

// A database that still answers: WaitForEffect fails, naming it.
func TestSiteLossNoEffect(t *testing.T) {
	f, _, _, _ := siteLoss(t, nil)
	f.Ping = func(context.Context) error { return nil }
	f.EffectTimeout = 100 * time.Millisecond
	ctx := context.Background()
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	err := f.WaitForEffect(ctx)
	if err == nil || !strings.Contains(err.Error(), "aws-db's database to stop answering") || !strings.Contains(err.Error(), "answered a ping") {
		t.Fatalf("got %v", err)
	}
	recoverAll(t, f)
}

// Without a Plan the freeze still has a switch; a failed freeze leaves
// the blackhole for Recover, which lifts it and thaws anyway.
func TestSiteLossHalfInject(t *testing.T) {
	f, fz, h, _ := siteLoss(t, Params{"heal_wait": "50ms"})
	fz.failAt = "freeze"
	if err := f.Inject(context.Background()); err == nil {
		t.Fatal("a failed freeze must fail Inject")
	}
	if fz.calls[0] != "freeze aws-db "+DefaultSiteLossLimit.String() {
		t.Fatalf("without a limit: %q", fz.calls)
	}
	fz.failAt = ""
	recoverAll(t, f)
	if h.table["aws-gw"] || h.table["onprem-gw"] || fz.calls[len(fz.calls)-1] != "thaw aws-db" {
		t.Fatalf("tables %v calls %q", h.table, fz.calls)
	}
	// A thaw that fails is an error, and the blackhole is lifted anyway.
	f2, fz2, h2, _ := siteLoss(t, nil)
	h2.table["aws-gw"] = true
	fz2.failAt = "thaw"
	if err := f2.Recover(context.Background()); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v", err)
	}
	if h2.table["aws-gw"] {
		t.Fatal("a failed thaw kept the blackhole")
	}
}

// Resumed (drdrill recover): thawed and lifted in any state; a journal
// naming another db is refused.
func TestSiteLossResume(t *testing.T) {
	for _, data := range []json.RawMessage{nil, mustJSON(t, siteLossData{Blackhole: mustJSON(t, testEnds()), DB: "aws-db"})} {
		f, fz, h, v := siteLoss(t, Params{"heal_wait": "50ms"})
		h.table["aws-gw"], h.table["onprem-gw"] = true, true
		fz.frozen["aws-db"] = true
		if err := f.Resume(data); err != nil {
			t.Fatal(err)
		}
		recoverAll(t, f)
		if fz.isFrozen("aws-db") || h.table["aws-gw"] || h.table["onprem-gw"] || !v.healthy() {
			t.Fatalf("data %s: frozen %v tables %v", data, fz.frozen, h.table)
		}
	}
	f, _, _, _ := siteLoss(t, nil)
	if err := f.Resume(mustJSON(t, siteLossData{DB: "onprem-db"})); err == nil || !strings.Contains(err.Error(), "onprem-db") {
		t.Fatalf("got %v", err)
	}
}
