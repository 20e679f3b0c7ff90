package harness

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/journal"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/timeline"
)

// stubFault counts its lifecycle calls; its Inject checks that the journal
// already holds it, its Plan can fail, its Recover can block.
type stubFault struct {
	mu                      sync.Mutex
	plans, injects, recover int
	waits                   int
	planErr                 error
	journal                 *journal.Journal
	openAtInject            int
	recoverGate             chan struct{} // Recover waits for it when set
	recoverIn               chan struct{} // closed when Recover is entered
}

func (f *stubFault) Name() string { return "stub" }
func (f *stubFault) Plan(context.Context, time.Duration) (fault.Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans++
	return fault.Plan{Hosts: []string{"aws-gw"}, What: "stub", Undo: "nothing", DeadMan: "expires by itself", Data: []byte(`{"k":1}`)}, f.planErr
}
func (f *stubFault) Inject(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injects++
	if f.journal != nil {
		open, _ := f.journal.OpenFaults()
		f.openAtInject = len(open)
	}
	return nil
}
func (f *stubFault) WaitForEffect(context.Context) error { return nil }
func (f *stubFault) Recover(context.Context) error {
	if f.recoverIn != nil {
		close(f.recoverIn)
	}
	if f.recoverGate != nil {
		<-f.recoverGate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recover++
	return nil
}
func (f *stubFault) WaitRecovered(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits++
	return nil
}
func (f *stubFault) counts() (int, int, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.plans, f.injects, f.recover, f.waits
}

func testEnv(t *testing.T, withJournal bool) *Env {
	t.Helper()
	e := &Env{Timeline: timeline.New(), environment: map[string]any{}}
	if withJournal {
		j, err := journal.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		e.Journal = j
	}
	return e
}

func openFaults(t *testing.T, e *Env) []journal.Entry {
	t.Helper()
	open, err := e.Journal.OpenFaults()
	if err != nil {
		t.Fatal(err)
	}
	return open
}

// The entry is on disk before Inject runs and closed once the fault is
// recovered; the report's environment says whether it had a switch.
func TestInjectJournalsFirst(t *testing.T) {
	e := testEnv(t, true)
	f := &stubFault{journal: e.Journal}
	ctx := context.Background()
	in, err := e.Inject(ctx, "step 1", f)
	if err != nil {
		t.Fatal(err)
	}
	if f.openAtInject != 1 {
		t.Fatalf("open faults in the journal when Inject ran: %d, want 1", f.openAtInject)
	}
	open := openFaults(t, e)
	if len(open) != 1 || open[0].Fault != "stub" || open[0].Step != "step 1" || open[0].What != "stub" || string(open[0].Data) != `{"k":1}` ||
		open[0].ID != in.JournalID() || in.DeadMan() != "expires by itself" {
		t.Fatalf("entry %+v", open)
	}
	if m, _ := e.environment["dead_man"].(map[string]string); m["stub"] != "expires by itself" {
		t.Fatalf("environment %v", e.environment)
	}
	if err := in.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if len(openFaults(t, e)) != 1 {
		t.Fatal("closed before WaitRecovered")
	}
	if err := in.WaitRecovered(ctx); err != nil {
		t.Fatal(err)
	}
	if len(openFaults(t, e)) != 0 || e.faultInPlace() {
		t.Fatal("still open after WaitRecovered")
	}
	if err := e.runDeferred(); err != nil {
		t.Fatal(err)
	}
	if _, _, r, w := f.counts(); r != 1 || w != 1 {
		t.Fatalf("the deferred undo ran again: %d recovers, %d waits", r, w)
	}
}

// The deferred path closes the entry too.
func TestInjectDeferredRecoveryClosesTheEntry(t *testing.T) {
	e := testEnv(t, true)
	f := &stubFault{}
	if _, err := e.Inject(context.Background(), "step 1", f); err != nil {
		t.Fatal(err)
	}
	if err := e.runDeferred(); err != nil {
		t.Fatal(err)
	}
	if _, _, r, w := f.counts(); r != 1 || w != 1 || len(openFaults(t, e)) != 0 {
		t.Fatalf("recovers %d waits %d open %d", r, w, len(openFaults(t, e)))
	}
}

// A plan that fails or a journal that cannot be written stops the inject
// before the fault changes anything.
func TestInjectRefusesBeforeAnyChange(t *testing.T) {
	e := testEnv(t, true)
	f := &stubFault{planErr: errors.New("gateway unreachable")}
	if _, err := e.Inject(context.Background(), "step 1", f); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("plan failure: %v", err)
	}
	if _, inj, _, _ := f.counts(); inj != 0 || len(openFaults(t, e)) != 0 {
		t.Fatalf("injected %d, journalled %d", inj, len(openFaults(t, e)))
	}
	e2 := testEnv(t, true)
	e2.Journal.Close()
	g := &stubFault{}
	if _, err := e2.Inject(context.Background(), "step 1", g); err == nil || !strings.Contains(err.Error(), "cannot journal") {
		t.Fatalf("journal failure: %v", err)
	}
	if _, inj, _, _ := g.counts(); inj != 0 {
		t.Fatal("injected without a journal entry")
	}
}

// Held past MaxFault, the fault is recovered by the watchdog; the drill's
// own Recover then does nothing, and the drill can tell.
func TestWatchdog(t *testing.T) {
	e := testEnv(t, true)
	e.MaxFault = 50 * time.Millisecond
	f := &stubFault{}
	ctx := context.Background()
	in, err := e.Inject(ctx, "step 1", f)
	if err != nil {
		t.Fatal(err)
	}
	err = poll.Until(ctx, "the watchdog", 5*time.Millisecond, 5*time.Second, func(context.Context) (bool, string, error) {
		return in.WatchdogFired() && !e.faultInPlace(), "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if held := time.Since(in.At); held < e.MaxFault {
		t.Fatalf("fired after %s, before max_fault", held)
	}
	if err := in.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.WaitRecovered(ctx); err != nil {
		t.Fatal(err)
	}
	e.runDeferred()
	if _, _, r, w := f.counts(); r != 1 || w != 1 {
		t.Fatalf("recovers %d waits %d, want 1 each (the watchdog's)", r, w)
	}
	if len(e.Timeline.Filter(timeline.KindNote, "harness")) == 0 || !hasNote(e, EventWatchdog) {
		t.Fatalf("no watchdog note: %+v", e.Timeline.Events())
	}
	if len(openFaults(t, e)) != 0 {
		t.Fatal("the watchdog's recovery was not journalled")
	}
}

// Recovered in time, the watchdog never fires.
func TestWatchdogDisarmed(t *testing.T) {
	e := testEnv(t, false)
	e.MaxFault = 30 * time.Millisecond
	f := &stubFault{}
	ctx := context.Background()
	in, _ := e.Inject(ctx, "step 1", f)
	in.Recover(ctx)
	in.WaitRecovered(ctx)
	timer := time.NewTimer(3 * e.MaxFault) // the only way to see that nothing happens is to wait past it
	<-timer.C
	if in.WatchdogFired() || hasNote(e, EventWatchdog) {
		t.Fatal("the watchdog fired after the drill recovered")
	}
}

// The watchdog fires while the drill is inside Recover: it waits for it
// and finds nothing to do (never two recoveries at once).
func TestWatchdogWaitsForTheDrill(t *testing.T) {
	e := testEnv(t, false)
	e.MaxFault = time.Hour // armed, but fired by hand below
	f := &stubFault{recoverGate: make(chan struct{}), recoverIn: make(chan struct{})}
	ctx := context.Background()
	in, _ := e.Inject(ctx, "step 1", f)
	done := make(chan error)
	go func() { done <- in.Recover(ctx) }()
	<-f.recoverIn
	fired := make(chan struct{})
	go func() { in.fire(); close(fired) }() // as the timer would, now
	select {
	case <-fired:
		t.Fatal("the watchdog did not wait for the drill's Recover")
	case <-time.After(50 * time.Millisecond):
	}
	f.recoverGate <- struct{}{}
	<-done
	<-fired
	if in.WatchdogFired() {
		t.Fatal("the watchdog recovered a fault the drill had just recovered")
	}
	if _, _, r, _ := f.counts(); r != 1 {
		t.Fatalf("recovers %d", r)
	}
}

func hasNote(e *Env, event string) bool {
	for _, ev := range e.Timeline.Filter(timeline.KindNote, "harness") {
		if ev.Map()["event"] == event {
			return true
		}
	}
	return false
}
