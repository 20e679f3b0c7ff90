package fault

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
)

func TestTimingStatements(t *testing.T) {
	lab := replica.Timings{NetTimeout: 3 * time.Second, ConnectRetry: time.Second, Heartbeat: time.Second}
	stuck := replica.Timings{ConnectRetry: time.Hour, Heartbeat: time.Second}
	for _, tc := range []struct {
		name string
		f    replica.Flavor
		t    replica.Timings
		net  bool
		want []string
	}{
		{"mariadb stuck keeps the heartbeat", replica.MariaDB, stuck, false,
			[]string{"STOP SLAVE", "CHANGE MASTER TO MASTER_CONNECT_RETRY=3600, MASTER_HEARTBEAT_PERIOD=1.000", "START SLAVE"}},
		{"mariadb restore with net timeout", replica.MariaDB, lab, true,
			[]string{"STOP SLAVE", "SET GLOBAL slave_net_timeout = 3", "CHANGE MASTER TO MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1.000", "START SLAVE"}},
		{"mysql 8", replica.MySQL, replica.Timings{ConnectRetry: 60 * time.Second, Heartbeat: 1500 * time.Millisecond, NetTimeout: 30 * time.Second}, true,
			[]string{"STOP REPLICA", "SET GLOBAL replica_net_timeout = 30", "CHANGE REPLICATION SOURCE TO SOURCE_CONNECT_RETRY=60, SOURCE_HEARTBEAT_PERIOD=1.500", "START REPLICA"}},
		{"mysql 5.7, no heartbeat known", replica.MySQLLegacy, replica.Timings{ConnectRetry: 10 * time.Second}, false,
			[]string{"STOP SLAVE", "CHANGE MASTER TO MASTER_CONNECT_RETRY=10", "START SLAVE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TimingStatements(tc.f, tc.t, tc.net)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	if _, err := TimingStatements(replica.MariaDB, replica.Timings{}, false); err == nil || !strings.Contains(err.Error(), "connect retry") {
		t.Fatalf("zero connect retry: %v", err)
	}
	if _, err := TimingStatements(replica.MariaDB, replica.Timings{ConnectRetry: time.Second}, true); err == nil || !strings.Contains(err.Error(), "net timeout") {
		t.Fatalf("zero net timeout asked to be set: %v", err)
	}
}

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
