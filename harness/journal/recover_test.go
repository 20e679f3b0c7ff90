package journal

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// testFault records what a resumed instance is asked to do.
type testFault struct {
	name, data  string
	failRecover bool
	resumed     bool
}

var (
	testLogMu sync.Mutex
	testLog   []string
)

func logCall(s string) {
	testLogMu.Lock()
	testLog = append(testLog, s)
	testLogMu.Unlock()
}

func takeLog() []string {
	testLogMu.Lock()
	defer testLogMu.Unlock()
	out := testLog
	testLog = nil
	return out
}

func (f *testFault) Name() string                        { return "journal-test" }
func (f *testFault) Inject(context.Context) error        { return nil }
func (f *testFault) WaitForEffect(context.Context) error { return nil }
func (f *testFault) Recover(context.Context) error {
	if !f.resumed {
		return errors.New("Recover before Resume")
	}
	logCall("recover " + f.name + " " + f.data)
	if f.failRecover {
		return errors.New("gateway unreachable")
	}
	return nil
}
func (f *testFault) WaitRecovered(context.Context) error {
	logCall("wait " + f.name)
	return nil
}
func (f *testFault) Resume(data json.RawMessage) error {
	f.resumed, f.data = true, string(data)
	return nil
}

// notResumable is a fault that cannot be recovered by another process.
type notResumable struct{}

func (notResumable) Name() string                        { return "journal-not-resumable" }
func (notResumable) Inject(context.Context) error        { return nil }
func (notResumable) WaitForEffect(context.Context) error { return nil }
func (notResumable) Recover(context.Context) error       { return nil }
func (notResumable) WaitRecovered(context.Context) error { return nil }

func init() {
	fault.Register(fault.Spec{Name: "journal-test", Params: []fault.Param{{Name: "name"}, {Name: "fail"}},
		New: func(_ target.Target, _ *timeline.Timeline, p fault.Params) (fault.Fault, error) {
			return &testFault{name: p.String("name", "?"), failRecover: p.String("fail", "") == "yes"}, nil
		}})
	fault.Register(fault.Spec{Name: "journal-not-resumable",
		New: func(target.Target, *timeline.Timeline, fault.Params) (fault.Fault, error) { return notResumable{}, nil }})
}

type fakeTarget struct{ name string }

func (f fakeTarget) Name() string          { return f.name }
func (f fakeTarget) Sites() []*target.Site { return nil }
func (f fakeTarget) OpenDB(context.Context, string, int) (*replica.Conn, error) {
	return nil, errors.New("no databases")
}
func (f fakeTarget) IKETimings(context.Context) (tunnel.IKETimings, error) {
	return tunnel.IKETimings{}, nil
}
func (f fakeTarget) Describe() map[string]any { return nil }
func (f fakeTarget) Secrets() []string        { return nil }
func (f fakeTarget) Close() error             { return nil }

// Recover undoes open faults newest first with their journalled params and
// data, journals them recovered, and a second run does nothing.
func TestRecoverNewestFirstThenNoop(t *testing.T) {
	j := openT(t, t.TempDir())
	j.SetTarget(LabRef("/tmp/lab"))
	a, _ := j.Begin(Entry{Fault: "journal-test", Params: fault.Params{"name": "a"}, Data: json.RawMessage(`{"orig":1}`)})
	b, _ := j.Begin(Entry{Fault: "journal-test", Params: fault.Params{"name": "b"}})
	c, _ := j.Begin(Entry{Fault: "journal-test", Params: fault.Params{"name": "c"}})
	j.Done(b)
	takeLog()
	tl := timeline.New()
	got, err := Recover(context.Background(), j, fakeTarget{"lab"}, tl)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != c || got[1].ID != a {
		t.Fatalf("recovered %+v, want c then a", got)
	}
	if log := strings.Join(takeLog(), "; "); log != `recover c ; wait c; recover a {"orig":1}; wait a` {
		t.Fatalf("calls: %s", log)
	}
	if open, _ := j.OpenFaults(); len(open) != 0 {
		t.Fatalf("still open: %+v", open)
	}
	if len(tl.Filter(timeline.KindRecovery, "harness")) != 2 {
		t.Fatalf("recoveries not on the timeline: %+v", tl.Events())
	}
	got, err = Recover(context.Background(), j, fakeTarget{"lab"}, nil)
	if err != nil || len(got) != 0 || len(takeLog()) != 0 {
		t.Fatalf("second recover: %+v %v", got, err)
	}
}

// A fault that cannot be recovered stays open, the others still are, and
// the error says how to undo it by hand.
func TestRecoverFailureStaysOpen(t *testing.T) {
	j := openT(t, t.TempDir())
	j.SetTarget(LabRef("/tmp/lab"))
	a, _ := j.Begin(Entry{Fault: "journal-test", Params: fault.Params{"name": "a"}})
	bad, _ := j.Begin(Entry{Fault: "journal-test", Params: fault.Params{"name": "b", "fail": "yes"}, Undo: "nft delete table inet x on aws-gw"})
	gone, _ := j.Begin(Entry{Fault: "no-such-fault", Undo: "by hand"})
	nr, _ := j.Begin(Entry{Fault: "journal-not-resumable"})
	takeLog()
	got, err := Recover(context.Background(), j, fakeTarget{"lab"}, nil)
	if len(got) != 1 || got[0].ID != a {
		t.Fatalf("recovered %+v", got)
	}
	for _, want := range []string{bad, "gateway unreachable", "to undo it by hand: nft delete table inet x on aws-gw", gone, `unknown fault "no-such-fault"`,
		nr, "cannot be recovered by another process"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	open, _ := j.OpenFaults()
	if len(open) != 3 {
		t.Fatalf("open after a failed recover: %+v", open)
	}
}

// An entry for another target is not recovered against this one.
func TestRecoverOtherTarget(t *testing.T) {
	j := openT(t, t.TempDir())
	j.SetTarget(FileRef("seoul-dr", "/x.yaml"))
	j.Begin(Entry{Fault: "journal-test"})
	takeLog()
	_, err := Recover(context.Background(), j, fakeTarget{"busan-dr"}, nil)
	if err == nil || !strings.Contains(err.Error(), `target "seoul-dr", not "busan-dr"`) || len(takeLog()) != 0 {
		t.Fatalf("got %v", err)
	}
}
