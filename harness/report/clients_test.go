package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"github.com/drdrill/drdrill/harness/junitxml"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/workload/clients"
)

var (
	demoted  = clients.Server{Addr: "10.20.11.123:3306", ServerID: 1, ReadOnly: true, Read: true}
	promoted = clients.Server{Addr: "10.20.12.45:3306", ServerID: 3, Read: true}
)

func atMS(n int) time.Time { return started.Add(time.Duration(n) * time.Millisecond) }

func serverName(s clients.Server) string {
	switch s.ServerID {
	case 1:
		return "aws-db"
	case 3:
		return "aws-db2"
	}
	return s.Addr
}

// stats is one client's record: a refused run on the demoted writer from
// fromMS (the last ack) to toMS (-1: it never ended).
func stats(t *testing.T, profile string, fromMS, toMS int) clients.Stats {
	t.Helper()
	p, err := clients.Builtin(profile)
	if err != nil {
		t.Fatal(err)
	}
	s := clients.Stats{Client: "peer-app/" + profile, Profile: profile, Endpoint: "writer.cluster.lab", Writer: 7,
		Expected: p.Expect("writer.cluster.lab"), Attempts: 1000, Acked: 880, Failed: 118, Unknown: 2,
		AckedByServer: map[uint32]int{1: 500, 3: 380}, FailuresByServer: map[uint32]int{1: 100},
		FailuresByAddr: map[string]int{demoted.Addr: 118}, ErrorsByCode: map[int]int{1290: 118, 2013: 2}}
	o := clients.Outage{LastAckBefore: atMS(fromMS), Failures: 118, ErrorsByCode: map[int]int{1290: 118},
		FirstFailure: clients.Failure{SentAt: atMS(fromMS + 10), At: atMS(fromMS + 12), Code: 1290, Server: demoted},
		LastFailure:  clients.Failure{SentAt: atMS(fromMS + 900), At: atMS(fromMS + 901), Code: 1290, Server: demoted},
		Resolution:   10 * time.Millisecond}
	if toMS >= 0 {
		o.LastFailure.SentAt, o.LastFailure.At = atMS(toMS-20), atMS(toMS-19)
		o.Recovered = &clients.Ack{SentAt: atMS(toMS - 1), AckAt: atMS(toMS), Server: promoted}
		o.Duration = atMS(toMS).Sub(atMS(fromMS))
	} else {
		o.Duration = o.LastFailure.At.Sub(o.LastAckBefore)
		s.FailingAtEnd = true
	}
	s.Outages = []clients.Outage{o}
	return s
}

func TestClientFrom(t *testing.T) {
	opts := ClientOptions{App: "peer-app", Start: started, Failback: atMS(20000), Bound: 6010 * time.Millisecond,
		Demoted: 1, Name: serverName}
	c := ClientFrom(stats(t, clients.PoolPinned, 1000, 20300), opts)
	want := Client{Name: "peer-app/pool-pinned", App: "peer-app", Profile: "pool-pinned", Endpoint: "writer.cluster.lab",
		ExpectedStuck: true, ExpectedWhy: c.ExpectedWhy, Attempts: 1000, Acked: 880, Failed: 118, Unknown: 2,
		WriteUnavailableMS: MS(19300 * time.Millisecond), ResolutionMS: MS(10 * time.Millisecond),
		ErrorsByCode: map[string]int{"1290": 118, "2013": 2}, WritesToDemotedWriter: 100, Stuck: true,
		FirstFailureMS: MS(1012 * time.Millisecond), RecoveredMS: MS(20300 * time.Millisecond), RecoveredOn: "aws-db2",
		Verdict: check.Pass, Diagnosis: c.Diagnosis}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("ClientFrom:\n got %+v\nwant %+v", c, want)
	}
	if !strings.Contains(c.ExpectedWhy, "never re-resolved writer.cluster.lab") ||
		!strings.HasPrefix(c.Diagnosis, "peer-app/pool-pinned: 118 writes refused (1290×118) by aws-db (read-only)") ||
		!strings.Contains(c.Diagnosis, "until failback (it wrote again on aws-db2)") || strings.Contains(c.Diagnosis, "FAIL") {
		t.Errorf("expected_why %q, diagnosis %q", c.ExpectedWhy, c.Diagnosis)
	}

	// By address: also the failures whose server_id was not read.
	opts.DemotedAddr = demoted.Addr
	if c := ClientFrom(stats(t, clients.PoolPinned, 1000, 20300), opts); c.WritesToDemotedWriter != 118 {
		t.Errorf("by address: writes_to_demoted_writer = %d, want 118", c.WritesToDemotedWriter)
	}

	// A stuck client that never wrote again fails, and says so.
	c = ClientFrom(stats(t, clients.PoolPinned, 1000, -1), opts)
	if c.Verdict != check.Fail || !c.Stuck || c.RecoveredMS != nil || c.RecoveredOn != "" ||
		!strings.HasSuffix(c.Diagnosis, " — FAIL: stuck and never wrote again") {
		t.Errorf("never recovered: %+v", c)
	}
	// A fresh client: bounded, not stuck; over its bound it fails.
	c = ClientFrom(stats(t, clients.FreshPerWrite, 1000, 9000), opts)
	if c.Verdict != check.Fail || c.Stuck || c.BoundMS == nil || *c.BoundMS != 6010 || !strings.Contains(c.Diagnosis, "over its bound 6.010s") {
		t.Errorf("over bound: %+v", c)
	}
	// The caller's verdict wins; no outage leaves the *_ms null.
	quiet := stats(t, clients.FreshPerWrite, 0, 0)
	quiet.Outages, quiet.ErrorsByCode = nil, nil
	opts.Verdict = check.Fail
	c = ClientFrom(quiet, opts)
	if c.Verdict != check.Fail || c.WriteUnavailableMS != nil || c.FirstFailureMS != nil || c.ErrorsByCode == nil || len(c.ErrorsByCode) != 0 {
		t.Errorf("no outage: %+v", c)
	}
}

func failoverReport(t *testing.T) *Report {
	r := sample(false)
	r.Scenario = "failover-failback"
	opts := ClientOptions{App: "peer-app", Start: started, Failback: atMS(20000), Bound: 6010 * time.Millisecond, Demoted: 1, Name: serverName}
	r.Clients = []Client{
		ClientFrom(stats(t, clients.PoolPinned, 1000, 20300), opts),
		ClientFrom(stats(t, clients.FreshPerWrite, 1000, 9000), opts),
	}
	return r
}

func TestClientsRoundTrip(t *testing.T) {
	r := failoverReport(t)
	dir := t.TempDir()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	m := readJSON(t, filepath.Join(dir, JSONFile))
	cs := typed[[]any](t, m, "clients")
	if len(cs) != 2 {
		t.Fatalf("clients[] has %d entries", len(cs))
	}
	c0 := cs[0].(map[string]any)
	for _, k := range []string{"name", "app", "profile", "endpoint", "expected_stuck", "expected_why", "bound_ms", "attempts", "acked",
		"failed", "unknown", "write_unavailable_ms", "resolution_ms", "errors_by_code", "writes_to_demoted_writer", "stuck",
		"first_failure_ms", "recovered_ms", "recovered_on", "verdict", "diagnosis"} {
		if _, ok := c0[k]; !ok {
			t.Errorf("clients[0] lacks %q: %v", k, c0)
		}
	}
	if c0["bound_ms"] != nil || c0["write_unavailable_ms"] != 19300.0 || c0["errors_by_code"].(map[string]any)["1290"] != 118.0 {
		t.Errorf("clients[0] = %v", c0)
	}
	b, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Clients, r.Clients) {
		t.Fatalf("clients after a round trip:\n got %+v\nwant %+v", back.Clients, r.Clients)
	}

	// Other drills have no clients key at all.
	if err := Write(dir, sample(false)); err != nil {
		t.Fatal(err)
	}
	if _, ok := readJSON(t, filepath.Join(dir, JSONFile))["clients"]; ok {
		t.Error("a report without clients has a clients key")
	}
}

func TestClientsSummaryConsoleJUnit(t *testing.T) {
	r := failoverReport(t)
	dir := t.TempDir()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	for _, want := range []string{"## Clients",
		"| client | profile | expected | unavailable | errors by code | to demoted writer | stuck | verdict |",
		"| ✔ | peer-app/pool-pinned | pool-pinned | stuck until failback | 19.30s | 1290×118, 2013×2 | 100 | true | pass |",
		"| ✘ | peer-app/fresh-per-write | fresh-per-write | ≤ 6.01s | 8.00s | 1290×118, 2013×2 | 100 | false | fail |",
		"- peer-app/fresh-per-write: 118 writes refused"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "## Clients") < strings.Index(s, "## Metrics") {
		t.Error("the clients table comes before the metrics")
	}
	var b bytes.Buffer
	Console(&b, r)
	for _, want := range []string{"clients\n",
		"  ✔ peer-app/pool-pinned      expected stuck until failback  unavailable 19.30s  1290×118, 2013×2  to demoted 100  stuck\n",
		"  ✘ peer-app/fresh-per-write  expected ≤ 6.01s               unavailable 8.00s   1290×118"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, b.String())
		}
	}
	ju, err := os.ReadFile(filepath.Join(dir, JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var suites junitxml.Suites
	if err := xml.Unmarshal(ju, &suites); err != nil {
		t.Fatalf("junit.xml is not valid XML: %v", err)
	}
	var props []string
	for _, p := range suites.Suites[0].Properties {
		props = append(props, p.Name+"="+p.Value)
	}
	if !strings.Contains(strings.Join(props, "\n"), "client peer-app/fresh-per-write=fail: peer-app/fresh-per-write: 118 writes refused") {
		t.Errorf("junit properties: %v", props)
	}
}

func TestClientsRedacted(t *testing.T) {
	r := failoverReport(t)
	r.Clients[0].Diagnosis += " (dsn app:" + password + "@tcp(writer.cluster.lab:3306))"
	r.Clients[1].Endpoint = password
	r.Clients[1].ErrorsByCode[password] = 1
	dir := t.TempDir()
	if err := Write(dir, r, password); err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	Console(&console, r, password)
	outputs := map[string]string{"console": console.String()}
	for _, f := range []string{JSONFile, JUnitFile, SummaryFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		outputs[f] = string(b)
	}
	for name, out := range outputs {
		if strings.Contains(out, password) {
			t.Errorf("%s contains the password", name)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s has no %s marker", name, Redacted)
		}
	}
	if r.Clients[1].Endpoint != password {
		t.Error("Write modified the caller's report")
	}
}
