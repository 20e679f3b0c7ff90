package clients

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/workload"
)

func TestBuiltinsValidateAndExpect(t *testing.T) {
	stuck := map[string]bool{FreshPerWrite: false, PoolPinned: true, PoolRejectReadOnly: false, DNSCached: true, InstanceEndpointApp: true}
	if len(Builtins()) != len(stuck) {
		t.Fatalf("%d built-in profiles, want %d", len(Builtins()), len(stuck))
	}
	for _, p := range Builtins() {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		want, ok := stuck[p.Name]
		if !ok {
			t.Errorf("unexpected built-in %s", p.Name)
		}
		if e := p.Expect("writer.cluster.lab"); e.Stuck != want || e.Why == "" {
			t.Errorf("%s: Expect = %+v, want stuck=%v with a reason", p.Name, e, want)
		}
	}
	e := mustBuiltin(t, PoolPinned).Expect("writer.cluster.lab")
	if !strings.Contains(e.Why, "never re-resolved writer.cluster.lab") {
		t.Errorf("pool-pinned reason %q does not name the cause", e.Why)
	}
	if _, err := Builtin("pool-pined"); err == nil || !strings.Contains(err.Error(), PoolPinned) {
		t.Errorf("Builtin(typo) = %v, want an error listing the built-ins", err)
	}
}

func mustBuiltin(t *testing.T, name string) Profile {
	t.Helper()
	p, err := Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProfileValidateRefuses(t *testing.T) {
	ok := mustBuiltin(t, PoolPinned)
	for name, tc := range map[string]struct {
		mod  func(*Profile)
		want string
	}{
		"name":          {func(p *Profile) { p.Name = "Our App!" }, "name wants"},
		"endpoint":      {func(p *Profile) { p.Endpoint = "reader" }, "endpoint"},
		"resolve":       {func(p *Profile) { p.Resolve = "ttl" }, "resolve"},
		"pooling":       {func(p *Profile) { p.Pooling = "pgbouncer" }, "pooling"},
		"pool size":     {func(p *Profile) { p.PoolSize = 0 }, "pool_size 0"},
		"huge pool":     {func(p *Profile) { p.PoolSize = 1000 }, "pool_size 1000"},
		"two stmts":     {func(p *Profile) { p.ValidationQuery = "SELECT 1; DROP TABLE x" }, "validation_query"},
		"not a select":  {func(p *Profile) { p.ValidationQuery = "DELETE FROM ping" }, "validation_query"},
		"none+size":     {func(p *Profile) { p.Pooling = PoolNone }, "pool_size 2 with pooling none"},
		"none+validate": {func(p *Profile) { p.Pooling, p.PoolSize = PoolNone, 0 }, "validation_query with pooling none"},
	} {
		p := ok
		tc.mod(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error containing %q", name, err, tc.want)
		}
	}
}

// mysqlPacket frames payload as one server packet.
func mysqlPacket(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func TestErrParser(t *testing.T) {
	ok := mysqlPacket(1, []byte{0x00, 0x01, 0x02, 0x02, 0x00, 0x00, 0x00})
	errPkt := mysqlPacket(1, append([]byte{0xff, 0x0a, 0x05, '#'}, "HY000The MariaDB server is running with the --read-only option"...))
	row := mysqlPacket(2, []byte{0x01, '1'})
	stream := append(append(append([]byte{}, ok...), row...), errPkt...)
	// Whole, and split at every byte: the number survives any split.
	var p errParser
	if got := p.feed(stream); got != 1290 {
		t.Fatalf("whole stream: errno %d, want 1290", got)
	}
	var q errParser
	got := 0
	for i := range stream {
		if e := q.feed(stream[i : i+1]); e != 0 {
			got = e
		}
	}
	if got != 1290 {
		t.Fatalf("byte by byte: errno %d, want 1290", got)
	}
	var r errParser
	if e := r.feed(append(ok, row...)); e != 0 {
		t.Fatalf("OK and a row read as error %d", e)
	}
	// A 16 MiB packet's continuation may begin with 0xff: not an error.
	long := mysqlPacket(3, make([]byte, 0xffffff))
	cont := mysqlPacket(4, []byte{0xff, 0x0a, 0x05})
	var l errParser
	if e := l.feed(append(long, cont...)); e != 0 {
		t.Fatalf("a continuation packet read as error %d", e)
	}
}

func TestOutageFinish(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	o := Outage{LastAckBefore: ms(0), FirstFailure: Failure{SentAt: ms(10), At: ms(11)}, LastFailure: Failure{SentAt: ms(500), At: ms(501)}}
	o.finish()
	if o.Duration != 501*time.Millisecond || o.Recovered != nil || o.Resolution != 10*time.Millisecond {
		t.Errorf("unrecovered: %v (resolution %v), want 501ms (10ms)", o.Duration, o.Resolution)
	}
	o.Recovered = &Ack{SentAt: ms(511), AckAt: ms(512)}
	o.finish()
	if o.Duration != 512*time.Millisecond || o.Resolution != 10*time.Millisecond {
		t.Errorf("recovered: %v (resolution %v), want 512ms (10ms)", o.Duration, o.Resolution)
	}
	o.Recovered = &Ack{SentAt: ms(531), AckAt: ms(532)}
	o.finish()
	if o.Resolution != 30*time.Millisecond {
		t.Errorf("late recovery attempt: resolution %v, want 30ms", o.Resolution)
	}
}

// fakeResolver answers from a settable address, or fails.
type fakeResolver struct {
	ip    func() string
	err   error
	calls int
}

func (f *fakeResolver) LookupIPv4(context.Context, string) ([]net.IP, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return []net.IP{net.ParseIP(f.ip())}, nil
}

// refusingDialer fails every dial like a closed port.
type refusingDialer struct{}

func (refusingDialer) DialContext(_ context.Context, network, addr string) (net.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connect: connection refused")}
}

func baseConfig(t *testing.T, profile string) Config {
	return Config{Name: "test/" + profile, Profile: mustBuiltin(t, profile), Cluster: "writer.cluster.lab", Instance: "aws-db.cluster.lab",
		User: "app", Dialer: refusingDialer{}, Resolver: &fakeResolver{ip: func() string { return "10.231.0.1" }},
		Ledger: workload.NewLedger("d-unit"), Writer: 1, Interval: 5 * time.Millisecond, Timeout: time.Second}
}

func TestNewRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"name":        {func(c *Config) { c.Name = "" }, "client name"},
		"no instance": {func(c *Config) { c.Profile = mustBuiltin(t, InstanceEndpointApp); c.Instance = "" }, "instance endpoint"},
		"ip endpoint": {func(c *Config) { c.Cluster = "10.20.11.123" }, "want a DNS name"},
		"no dialer":   {func(c *Config) { c.Dialer = nil }, "no Dialer"},
		"no resolver": {func(c *Config) { c.Resolver = nil }, "no Resolver"},
		"no ledger":   {func(c *Config) { c.Ledger = nil }, "no Ledger"},
		"pinger's":    {func(c *Config) { c.Writer = 0 }, "writer 0"},
		"bad profile": {func(c *Config) { c.Profile.Pooling = "x" }, "pooling"},
		"table":       {func(c *Config) { c.Table = workload.TableName{Database: "a;b", Table: "p"} }, "table name"},
	} {
		cfg := baseConfig(t, FreshPerWrite)
		tc.mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error containing %q", name, err, tc.want)
		}
	}
}

// A name that does not resolve is 2005 and a refused dial 2003, each in the
// ledger as failed, never sent; the client re-resolves for every write.
func TestFailureCodesWithoutAServer(t *testing.T) {
	for _, tc := range []struct {
		resolveErr error
		code       int
	}{{errors.New("no such host"), CodeUnknownHost}, {nil, CodeCannotConnect}} {
		cfg := baseConfig(t, FreshPerWrite)
		fr := &fakeResolver{ip: func() string { return "10.231.0.1" }, err: tc.resolveErr}
		cfg.Resolver = fr
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "3 failed writes", func() bool { return c.Stats().Failed >= 3 })
		st := c.Stop()
		if st.Acked != 0 || st.ErrorsByCode[tc.code] != st.Failed || !st.FailingAtEnd || st.FirstFailure == nil || st.FirstFailure.Sent {
			t.Errorf("want only code %d, unsent, failing at end; got %+v", tc.code, st)
		}
		if st.Lookups < st.Failed {
			t.Errorf("fresh-per-write: %d lookups for %d writes, want one per write", st.Lookups, st.Failed)
		}
		if n := len(cfg.Ledger.Failed()); n != st.Failed || len(cfg.Ledger.Entries()) != 0 {
			t.Errorf("ledger: %d failed, %d acked; want %d failed, 0 acked", n, len(cfg.Ledger.Entries()), st.Failed)
		}
	}
}

// A dns-cached client whose name does not resolve at start refuses to start.
func TestResolveOnceNeedsAnAnswer(t *testing.T) {
	cfg := baseConfig(t, DNSCached)
	cfg.Resolver = &fakeResolver{err: errors.New("SERVFAIL")}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Fatalf("Start = %v, want the resolver's error", err)
	}
	c.Stop()
}

func TestNetnsDialerRefuses(t *testing.T) {
	if _, err := NewNetnsDialer("../etc"); err == nil {
		t.Error("a path as namespace name accepted")
	}
	if _, err := NewNetnsDialer("drdrill-no-such-ns"); err == nil || !strings.Contains(err.Error(), "no such network namespace") {
		t.Errorf("missing namespace: %v", err)
	}
	d := &NetnsDialer{Namespace: "x", path: "/nonexistent"}
	if _, err := d.DialContext(context.Background(), "tcp", "writer.cluster.lab:3306"); err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("a host name was not refused: %v", err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForSeen(t, what, 5*time.Second, func() (bool, string) { return cond(), "" })
}

func waitForSeen(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	err := poll.Until(context.Background(), what, 5*time.Millisecond, timeout, func(context.Context) (bool, string, error) {
		ok, seen := cond()
		return ok, seen, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A target file names its own app's behaviour with the same fields.
func TestProfileFromYAML(t *testing.T) {
	src := `
name: orders-api
endpoint: cluster
resolve: per-connection
pooling: long-lived
pool_size: 10
validation_query: SELECT 1
`
	var p Profile
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if e := p.Expect("writer.prod"); !e.Stuck || !strings.Contains(e.Why, "never re-resolved writer.prod") {
		t.Errorf("orders-api (a TypeORM-like pool): %+v, want stuck", e)
	}
	var q Profile
	dec = yaml.NewDecoder(strings.NewReader(src + "reject_readonly: true\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&q); err == nil {
		t.Error("a misspelt field (reject_readonly) was accepted")
	}
}

// Diagnosis says "until failback" only for an outage that spans the
// failback's start, and flags a client that did not do what its profile
// expects.
func TestDiagnosis(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	db1 := Server{Addr: "10.20.11.123:3306", ServerID: 1, ReadOnly: true, Read: true}
	db2 := Server{Addr: "10.20.12.45:3306", ServerID: 2, Read: true}
	outage := func(from, to int, on Server) Outage {
		o := Outage{LastAckBefore: ms(from), FirstFailure: Failure{SentAt: ms(from + 10), At: ms(from + 11), Code: 1290, Server: db1},
			LastFailure: Failure{SentAt: ms(to - 20), At: ms(to - 19), Code: 1290, Server: db1}, Failures: 3, ErrorsByCode: map[int]int{1290: 3},
			Recovered: &Ack{SentAt: ms(to - 1), AckAt: ms(to), Server: on}}
		o.finish()
		return o
	}
	pinned := Stats{Client: "peer-app/pool-pinned", Expected: mustBuiltin(t, PoolPinned).Expect("writer.cluster.lab"),
		Outages: []Outage{outage(0, 21300, db1)}}
	failback := ms(21000)
	d := pinned.Diagnosis(failback, nil)
	for _, want := range []string{"peer-app/pool-pinned: 3 writes refused (1290×3) by 10.20.11.123:3306 (server_id 1) (read-only) for 21.300 s",
		"until failback", "; as its profile expects: its connections were opened before the failover and never re-resolved writer.cluster.lab"} {
		if !strings.Contains(d, want) {
			t.Errorf("diagnosis %q lacks %q", d, want)
		}
	}
	// The same client writing again on the new writer before the failback
	// did not do what its profile expects.
	pinned.Outages = []Outage{outage(0, 300, db2)}
	if d := pinned.Diagnosis(failback, nil); !strings.Contains(d, "NOT as its profile expects") || !strings.Contains(d, "until it wrote again on 10.20.12.45:3306") {
		t.Errorf("a pinned pool that recovered by itself: %q", d)
	}
	// A fresh client's outage during the failback is its own, not stuck.
	fresh := Stats{Client: "aws-app/fresh-per-write", Expected: mustBuiltin(t, FreshPerWrite).Expect("writer.cluster.lab"),
		Outages: []Outage{outage(21005, 21040, db1)}}
	if d := fresh.Diagnosis(failback, nil); strings.Contains(d, "NOT") || strings.Contains(d, "until failback") {
		t.Errorf("an outage of the failback itself: %q", d)
	}
	// A write sent a moment before the failback began and refused by it
	// (seen once in TestFailoverProfiles): the failback's outage too.
	early := outage(20990, 21040, db1)
	early.FirstFailure.SentAt, early.FirstFailure.At = ms(20995), ms(21002)
	fresh.Outages = []Outage{early}
	if d := fresh.Diagnosis(failback, nil); strings.Contains(d, "NOT") || strings.Contains(d, "until failback") {
		t.Errorf("a write sent before the failback and refused by it: %q", d)
	}
	if d := (Stats{Client: "x", Acked: 5}).Diagnosis(time.Time{}, nil); d != "x: no write refused (5 acknowledged)" {
		t.Errorf("no outage: %q", d)
	}
}
