package check

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/workload"
	"github.com/drdrill/drdrill/harness/workload/clients"
)

var ft0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func tAt(n int) time.Time { return ft0.Add(time.Duration(n) * time.Millisecond) }

func wantFailover(t *testing.T, r Result, verdict string, observed ...string) {
	t.Helper()
	if r.Verdict != verdict {
		t.Errorf("%s: verdict %s, want %s; observed: %s", r.Name, r.Verdict, verdict, r.Observed)
	}
	for _, o := range observed {
		if !strings.Contains(r.Observed, o) {
			t.Errorf("%s: observed %q lacks %q", r.Name, r.Observed, o)
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("%s: detail does not encode: %v", r.Name, err)
	}
}

func TestNoTwoWriters(t *testing.T) {
	clean := replica.WritableRecord{Every: 5 * time.Millisecond, Rounds: 2400, MaxGap: 7 * time.Millisecond,
		Changes: []replica.WritableChange{{At: tAt(0), Server: "aws-db", Writable: true}}}
	wantFailover(t, NoTwoWriters(clean), Pass, "never two writable servers", "2400 rounds, resolution 7ms")

	two := clean
	two.TwoWriters = []replica.TwoWriters{{From: tAt(100), To: tAt(100), Servers: []string{"aws-db", "aws-db2"}},
		{From: tAt(300), To: tAt(320), Servers: []string{"aws-db", "aws-db2"}}}
	r := NoTwoWriters(two)
	wantFailover(t, r, Fail, "two writers: aws-db and aws-db2 for 5ms, aws-db and aws-db2 for 25ms (30ms in all)", "resolution 7ms")
	if r.Detail["two_writers_ms"] != 30.0 {
		t.Errorf("detail two_writers_ms = %v", r.Detail["two_writers_ms"])
	}

	blind := replica.WritableRecord{Every: 5 * time.Millisecond, Errors: 40, LastError: "aws-db2: read read_only: connection refused"}
	wantFailover(t, NoTwoWriters(blind), Fail, "no sampling round read every server", "40 failed samples (last: aws-db2: read read_only: connection refused)")

	coarse := clean
	coarse.Errors, coarse.LastError, coarse.MaxGap = 3, "aws-db: timeout", 2100*time.Millisecond
	wantFailover(t, NoTwoWriters(coarse), Pass, "resolution 2.100s, 3 failed samples (last: aws-db: timeout)")
}

func TestLedgerOnServers(t *testing.T) {
	ledger := []workload.Entry{{Writer: 1, Seq: 1, Phase: "before", Msg: "a", ID: 1}, {Writer: 2, Seq: 1, Phase: "during", Msg: "b", ID: 2}}
	rows := func() []workload.Row {
		return []workload.Row{{Writer: 1, Seq: 1, Phase: "before", Msg: "a", ID: 1}, {Writer: 2, Seq: 1, Phase: "during", Msg: "b", ID: 2}}
	}
	all := map[string][]workload.Row{"aws-db": rows(), "aws-db2": rows(), "onprem-db": rows()}
	wantFailover(t, LedgerOnServers(ledger, all, nil), Pass, "aws-db: all 2; aws-db2: all 2; onprem-db: all 2")

	tests := map[string]struct {
		edit func(map[string][]workload.Row)
		want string
	}{
		"missing":    {func(m map[string][]workload.Row) { m["aws-db2"] = m["aws-db2"][:1] }, "aws-db2: missing writer 2 seq 1"},
		"duplicated": {func(m map[string][]workload.Row) { m["onprem-db"] = append(m["onprem-db"], m["onprem-db"][1]) }, "onprem-db: duplicated writer 2 seq 1"},
		"unexpected": {func(m map[string][]workload.Row) {
			m["aws-db"] = append(m["aws-db"], workload.Row{Writer: 3, Seq: 9, Phase: "during", Msg: "c", ID: 7})
		}, "aws-db: unexpected writer 3 seq 9"},
		"mismatched": {func(m map[string][]workload.Row) { m["aws-db2"][0].Msg = "x" }, "aws-db2: writer 1 seq 1 differs: msg 'x'"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m := map[string][]workload.Row{"aws-db": rows(), "aws-db2": rows(), "onprem-db": rows()}
			tt.edit(m)
			r := LedgerOnServers(ledger, m, nil)
			wantFailover(t, r, Fail, tt.want)
			if !strings.HasPrefix(r.Observed, tt.want[:strings.Index(tt.want, ":")]) {
				t.Errorf("the failing server is not first: %s", r.Observed)
			}
		})
	}
	// A row of a write whose outcome is still unknown is not unexpected.
	m := map[string][]workload.Row{"aws-db": append(rows(), workload.Row{Writer: 3, Seq: 9, Phase: "during", Msg: "c", ID: 7})}
	wantFailover(t, LedgerOnServers(ledger, m, []workload.Attempt{{Writer: 3, Seq: 9}}), Pass, "1 rows of unresolved writes present")
	wantFailover(t, LedgerOnServers(nil, all, nil), Fail, "no acknowledged writes")
	wantFailover(t, LedgerOnServers(ledger, nil, nil), Fail, "no server's rows")
}

func TestChecksumsEqual(t *testing.T) {
	const table = "`testdb`.`ping`"
	wantFailover(t, ChecksumsEqual(table, map[string]int64{"aws-db": 42, "aws-db2": 42, "onprem-db": 42}), Pass, "42 on all 3 servers")
	wantFailover(t, ChecksumsEqual(table, map[string]int64{"aws-db": 42, "aws-db2": 41, "onprem-db": 42}), Fail, "aws-db2 41 differ from 42 on aws-db, onprem-db")
	wantFailover(t, ChecksumsEqual(table, map[string]int64{"aws-db": 42, "aws-db2": 41}), Fail, "aws-db2 41 differ from 42 on aws-db")
	wantFailover(t, ChecksumsEqual(table, map[string]int64{"aws-db": 42}), Fail, "nothing to compare")
	wantFailover(t, ChecksumsEqual(table, nil), Fail, "nothing to compare")
}

func TestNoErrantGTIDs(t *testing.T) {
	wantFailover(t, NoErrantGTIDs(map[string]string{"aws-db": "", "aws-db2": ""}), Pass, "none on aws-db, aws-db2")
	wantFailover(t, NoErrantGTIDs(map[string]string{"aws-db": "0-1-101", "aws-db2": ""}), Fail, "errant GTIDs: aws-db has 0-1-101")
	wantFailover(t, NoErrantGTIDs(nil), Fail, "no server compared")
}

// outage builds a clients.Outage from fromMS (last ack) to toMS (the ack
// that ended it; -1: never), refused by server 1.
func clientOutage(fromMS, toMS int) clients.Outage {
	demoted := clients.Server{Addr: "10.20.11.123:3306", ServerID: 1, ReadOnly: true, Read: true}
	o := clients.Outage{LastAckBefore: tAt(fromMS), Failures: 5, ErrorsByCode: map[int]int{1290: 5},
		FirstFailure: clients.Failure{SentAt: tAt(fromMS + 10), At: tAt(fromMS + 11), Code: 1290, Server: demoted}}
	if toMS < 0 {
		o.LastFailure = clients.Failure{SentAt: tAt(fromMS + 50), At: tAt(fromMS + 51), Code: 1290, Server: demoted}
		o.Duration = 51 * time.Millisecond
		return o
	}
	o.LastFailure = clients.Failure{SentAt: tAt(toMS - 20), At: tAt(toMS - 19), Code: 1290, Server: demoted}
	o.Recovered = &clients.Ack{SentAt: tAt(toMS - 1), AckAt: tAt(toMS), Server: clients.Server{Addr: "10.20.12.45:3306", ServerID: 3, Read: true}}
	o.Duration = tAt(toMS).Sub(tAt(fromMS))
	return o
}

func client(t *testing.T, profile string, outages ...clients.Outage) clients.Stats {
	t.Helper()
	p, err := clients.Builtin(profile)
	if err != nil {
		t.Fatal(err)
	}
	s := clients.Stats{Client: "peer-app/" + profile, Profile: profile, Endpoint: "writer.cluster.lab",
		Expected: p.Expect("writer.cluster.lab"), Attempts: 500, Acked: 480, Outages: outages}
	if n := len(outages); n > 0 && outages[n-1].Recovered == nil {
		s.FailingAtEnd = true
	}
	return s
}

func TestClientsAsExpected(t *testing.T) {
	failback := tAt(20000)
	bound := 6010 * time.Millisecond
	out := func(s clients.Stats) ClientOutcome { return ClientOutcome{Stats: s, Bound: bound, Failback: failback} }
	pinned := client(t, clients.PoolPinned, clientOutage(1000, 20300))
	fresh := client(t, clients.FreshPerWrite, clientOutage(1000, 5000), clientOutage(20000, 20100))
	quiet := client(t, clients.PoolRejectReadOnly)
	r := ClientsAsExpected([]ClientOutcome{out(pinned), out(fresh), out(quiet)})
	wantFailover(t, r, Pass, "all 3 clients as their profiles expect: 1 stuck on the demoted writer until failback, 2 followed the failover within their bound")
	// Each client's line is in the detail (and the report's clients[]).
	var lines []string
	for _, d := range r.Detail["clients"].([]map[string]any) {
		lines = append(lines, d["diagnosis"].(string))
	}
	if all := strings.Join(lines, "\n"); len(lines) != 3 || !strings.Contains(all, "peer-app/pool-pinned: 5 writes refused (1290×5)") ||
		!strings.Contains(all, "until failback") || !strings.Contains(all, "peer-app/pool-reject-read-only: no write refused") {
		t.Errorf("want one diagnosis line per client in the detail: %q", lines)
	}
	if !strings.Contains(r.Expected, "stuck on the demoted writer until failback: peer-app/pool-pinned") ||
		!strings.Contains(r.Expected, "peer-app/fresh-per-write ≤ 6.010s") {
		t.Errorf("expected: %s", r.Expected)
	}

	tests := map[string]struct {
		c    ClientOutcome
		want string
	}{
		"stuck, never wrote again":      {out(client(t, clients.PoolPinned, clientOutage(1000, -1))), "stuck and never wrote again"},
		"stuck, no failback":            {ClientOutcome{Stats: pinned, Bound: bound}, "with no failback"},
		"expected stuck, wrote again":   {out(client(t, clients.DNSCached, clientOutage(1000, 5000))), "wrote again 15.000s before failback began"},
		"expected stuck, never refused": {out(client(t, clients.InstanceEndpointApp)), "no write was refused"},
		"expected stuck, after failback": {out(client(t, clients.PoolPinned, clientOutage(20100, 20400))),
			"began only after failback began"},
		"over bound":      {out(client(t, clients.FreshPerWrite, clientOutage(1000, 9000))), "unable to write for 8.000s, over its bound 6.010s"},
		"second outage":   {out(client(t, clients.FreshPerWrite, clientOutage(1000, 2000), clientOutage(3000, 9500))), "unable to write for 6.500s"},
		"failing at end":  {out(client(t, clients.FreshPerWrite, clientOutage(1000, 2000), clientOutage(3000, -1))), "still failing to write when it stopped"},
		"no bound":        {ClientOutcome{Stats: fresh, Failback: failback}, "no bound"},
		"never acked":     {out(clients.Stats{Client: "x", Attempts: 3}), "no write acknowledged in 3 attempts"},
		"stuck, then end": {out(client(t, clients.PoolPinned, clientOutage(1000, 20300), clientOutage(25000, -1))), "still failing to write when it stopped"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := ClientsAsExpected([]ClientOutcome{out(quiet), tt.c})
			wantFailover(t, r, Fail, tt.want)
			first := strings.SplitN(r.Observed, "\n", 2)[0]
			if !strings.HasPrefix(first, tt.c.Stats.Client+":") || !strings.Contains(first, " — FAIL: ") || !strings.Contains(first, tt.want) {
				t.Errorf("the failing client's line is not first: %q", r.Observed)
			}
		})
	}
	wantFailover(t, ClientsAsExpected(nil), Fail, "no client recorded")
}

func TestClientStuck(t *testing.T) {
	failback := tAt(20000)
	for _, tt := range []struct {
		name     string
		s        clients.Stats
		failback time.Time
		want     bool
	}{
		{"until failback", client(t, clients.PoolPinned, clientOutage(1000, 20300)), failback, true},
		{"never recovered", client(t, clients.PoolPinned, clientOutage(1000, -1)), failback, true},
		{"never recovered, no failback", client(t, clients.PoolPinned, clientOutage(1000, -1)), time.Time{}, true},
		{"recovered before failback", client(t, clients.FreshPerWrite, clientOutage(1000, 5000)), failback, false},
		{"the failback's own outage", client(t, clients.FreshPerWrite, clientOutage(20005, 20100)), failback, false},
		{"recovered, no failback", client(t, clients.PoolPinned, clientOutage(1000, 20300)), time.Time{}, false},
		{"no outage", client(t, clients.FreshPerWrite), failback, false},
		{"longest decides", client(t, clients.FreshPerWrite, clientOutage(100, 200), clientOutage(1000, 20300)), failback, true},
	} {
		if got := ClientStuck(tt.s, tt.failback); got != tt.want {
			t.Errorf("%s: ClientStuck = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestClientVerdict(t *testing.T) {
	c := ClientOutcome{Stats: client(t, clients.PoolPinned, clientOutage(1000, -1)), Bound: time.Second, Failback: tAt(20000)}
	if v, why := ClientVerdict(c); v != Fail || why != "stuck and never wrote again" {
		t.Errorf("ClientVerdict = %q, %q", v, why)
	}
	c.Stats = client(t, clients.PoolPinned, clientOutage(1000, 20300))
	if v, why := ClientVerdict(c); v != Pass || why != "" {
		t.Errorf("ClientVerdict = %q, %q", v, why)
	}
}
