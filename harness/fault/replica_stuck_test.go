package fault

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
)

func TestSameTimings(t *testing.T) {
	a := replica.Timings{NetTimeout: 3 * time.Second, ConnectRetry: time.Second, Heartbeat: time.Second, RetryCount: 100000}
	b := a
	b.RetryCount = 0 // not something the fault changes or restores
	if !SameTimings(a, b) {
		t.Fatal("retry count must not matter")
	}
	for _, c := range []replica.Timings{
		{NetTimeout: 3 * time.Second, ConnectRetry: time.Hour, Heartbeat: time.Second},
		{NetTimeout: 3 * time.Second, ConnectRetry: time.Second, Heartbeat: 1500 * time.Millisecond},
		{NetTimeout: 60 * time.Second, ConnectRetry: time.Second, Heartbeat: time.Second},
	} {
		if SameTimings(a, c) {
			t.Errorf("%+v reported equal to %+v", c, a)
		}
	}
}

func TestReplicaStuckRegistry(t *testing.T) {
	if _, err := New("replica-stuck-connecting", fakeTarget{}, nil, nil); err == nil || !strings.Contains(err.Error(), "two gateways") {
		t.Fatalf("without gateways: %v", err)
	}
	tg := twoSites()
	tg.sites[1].DB = nil
	if _, err := New("replica-stuck-connecting", tg, nil, nil); err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("without a replica database: %v", err)
	}
	f, err := New("replica-stuck-connecting", twoSites(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := f.(*ReplicaStuck)
	if rs.StuckRetry != DefaultStuckRetry || rs.Name() != "replica-stuck-connecting" {
		t.Fatalf("%+v", rs)
	}
	if _, ok := rs.Original(); ok {
		t.Fatal("no original timings before Inject")
	}
	f, err = New("replica-stuck-connecting", twoSites(), nil, Params{"connect_retry": "10m"})
	if err != nil || f.(*ReplicaStuck).StuckRetry != 10*time.Minute {
		t.Fatalf("connect_retry=10m: %v", err)
	}
}

// Recover before any Inject has nothing to restore and touches nothing
// (nil replica and gateways would panic if it tried).
func TestReplicaStuckRecoverWithoutInject(t *testing.T) {
	f := &ReplicaStuck{TL: timeline.New()}
	if err := f.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitRecovered(context.Background()); err != nil {
		t.Fatal(err)
	}
}
