package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/workload/clients"
)

// cluster is the failover lab's cluster capability.
func cluster(t *testing.T, env *testEnv) target.Cluster {
	t.Helper()
	var c target.Cluster = env.T
	if len(c.Instances()) < 2 {
		t.Fatal("the failover lab target has no cluster")
	}
	return c
}

// checkVerdict returns the named check's verdict ("" if not recorded).
func checkVerdict(r *report.Report, name string) (verdict, observed string) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Verdict, c.Observed
		}
	}
	return "", ""
}

func profiles(t *testing.T, names ...string) []clients.Profile {
	t.Helper()
	var out []clients.Profile
	for _, n := range names {
		p, err := clients.Builtin(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func clientNamed(r *report.Report, name string) *report.Client {
	for i := range r.Clients {
		if r.Clients[i].Name == name {
			return &r.Clients[i]
		}
	}
	return nil
}

// The seed's incident, reproduced: every profile from both app hosts; the
// followers write on aws-db2 within failover + TTL + one interval, the
// pinned ones are refused with 1290 by the demoted aws-db until failback,
// and the drill says so per client.
func TestFailoverFailback(t *testing.T) {
	env := newFailoverEnv(t)
	r := runDrill(context.Background(), FailoverFailback(FailoverFailbackOptions{}), env)
	m := writeReport(t, env, r)
	keepReport(t, r)
	if r.Verdict != report.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	if got := len(m["clients"].([]any)); got != 10 {
		t.Fatalf("report.json clients[]: %d, want 10 (5 profiles × 2 app hosts)", got)
	}
	for _, app := range []string{"aws-app", "peer-app"} {
		for _, p := range []string{clients.PoolPinned, clients.DNSCached, clients.InstanceEndpointApp} {
			c := clientNamed(r, app+"/"+p)
			if c == nil || !c.Stuck || c.WritesToDemotedWriter == 0 || c.ErrorsByCode["1290"] == 0 {
				t.Errorf("%s/%s: want stuck on the demoted writer with 1290: %+v", app, p, c)
				continue
			}
			for _, want := range []string{"1290×", "by aws-db (read-only)", "until failback"} {
				if !strings.Contains(c.Diagnosis, want) {
					t.Errorf("%s diagnosis lacks %q: %s", c.Name, want, c.Diagnosis)
				}
			}
		}
		for _, p := range []string{clients.FreshPerWrite, clients.PoolRejectReadOnly} {
			c := clientNamed(r, app+"/"+p)
			if c == nil || c.Stuck || c.Verdict != "pass" {
				t.Errorf("%s/%s: want it to follow the failover: %+v", app, p, c)
			}
		}
	}
	pinned := clientNamed(r, "peer-app/"+clients.PoolPinned)
	if pinned == nil || !strings.Contains(pinned.Diagnosis, "never re-resolved writer.cluster.lab") {
		t.Errorf("the seed's client must be explained: %+v", pinned)
	}
	ex := r.Metrics.Extra
	for _, k := range []string{"failover_ms", "failback_ms", "two_writers_ms", "errant_gtids"} {
		if _, ok := ex[k]; !ok {
			t.Errorf("metric %s missing: %v", k, ex)
		}
	}
	if ex["two_writers_ms"] != 0.0 || ex["errant_gtids"] != 0 && ex["errant_gtids"] != 0.0 {
		t.Errorf("two_writers_ms %v, errant_gtids %v: want 0", ex["two_writers_ms"], ex["errant_gtids"])
	}
	for _, name := range []string{"ledger_on_every_server", "checksums_equal", "no_errant_gtids", "no_two_writers", "clients_as_expected", "replica_follows_writer"} {
		if v, _ := checkVerdict(r, name); v != "pass" {
			t.Errorf("check %s: %q", name, v)
		}
	}
	t.Logf("failover_ms %v failback_ms %v", ex["failover_ms"], ex["failback_ms"])
}

// A reader that has not applied the writer's position is not promoted: the
// failover waits, then refuses, naming the GTID gap; the writer stays.
func TestFailoverRefusesLaggingReader(t *testing.T) {
	env := newFailoverEnv(t)
	db2 := cluster(t, env).Instances()[1].DB
	// A table lock on the reader holds its applier (IO and SQL threads
	// stay Yes, as under a long query): it falls behind the writer.
	lock, err := db2.DB().Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unlock := func() { _, _ = lock.ExecContext(context.Background(), "UNLOCK TABLES") }
	t.Cleanup(func() { unlock(); lock.Close() })
	// Once the failover gave up, the reader may catch up again (the
	// fault's own recovery waits for it).
	env.Timeline.Subscribe(func(e timeline.Event) {
		if c, ok := timeline.As[timeline.Check](e); ok && c.Name == "reader_caught_up" {
			go unlock()
		}
	})
	r := runDrill(context.Background(), FailoverFailback(FailoverFailbackOptions{
		Profiles: profiles(t, clients.FreshPerWrite),
		Params:   fault.Params{"catch_up_timeout": "1s"},
		BeforeFailover: func(ctx context.Context, d *Drill) error {
			if _, err := lock.ExecContext(ctx, "LOCK TABLES testdb.ping WRITE"); err != nil {
				return err
			}
			_, err := d.Env.Workload.Ping(ctx, d.Primary.DB.DB(), "before", "lag the reader")
			return err
		},
	}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	v, obs := checkVerdict(r, "reader_caught_up")
	if v != "fail" || !strings.Contains(obs, "0-1-") {
		t.Fatalf("reader_caught_up %q: %s", v, obs)
	}
	if ro, err := env.Primary.ReadOnly(context.Background()); err != nil || ro {
		t.Errorf("the writer must be writable again after the refused failover: read_only %v %v", ro, err)
	}
}

// A transaction written on the reader itself (its GTID the writer lacks) is
// found before anything changes, and named: the failover is refused.
func TestFailoverRefusesErrantTransaction(t *testing.T) {
	env := newFailoverEnv(t)
	db2 := cluster(t, env).Instances()[1].DB
	r := runDrill(context.Background(), FailoverFailback(FailoverFailbackOptions{
		Profiles: profiles(t, clients.FreshPerWrite),
		BeforeFailover: func(ctx context.Context, d *Drill) error {
			// A table made by hand, in a GTID domain of its own: the
			// reader keeps replicating. (A row in the drill's table would
			// collide with the writer's next auto-increment id, 1062; a
			// transaction in the writer's domain would be out of order for
			// gtid_strict_mode, 1950: either stops the reader's SQL
			// thread, which the failover refuses too, as "replication not
			// running".)
			conn, err := db2.DB().Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			for _, q := range []string{"SET GLOBAL read_only = OFF", "SET SESSION gtid_domain_id = 9",
				"CREATE TABLE testdb.made_on_the_reader (id INT PRIMARY KEY)", "SET GLOBAL read_only = ON"} {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
			return nil
		},
	}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	v, obs := checkVerdict(r, "failover_preconditions")
	if v != "fail" || !strings.Contains(obs, "errant transaction on aws-db2: 9-3-") {
		t.Fatalf("failover_preconditions %q: %s", v, obs)
	}
	if r.Metrics.Extra["failover_ms"] != nil {
		t.Fatalf("the failover ran despite the errant transaction: failover_ms %v", r.Metrics.Extra["failover_ms"])
	}
}

// An old writer left writable after the failover is two writers: fail
// (no clients here, so nothing writes to it and the failback repairs it;
// with clients, see TestFailoverTwoWritersSplitBrain).
func TestFailoverDemotedWriterLeftWritable(t *testing.T) {
	env := newFailoverEnv(t)
	r := runDrill(context.Background(), FailoverFailback(FailoverFailbackOptions{
		Profiles: []clients.Profile{},
		Params:   fault.Params{"leave_old_writer_writable": "true"},
	}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	if v, obs := checkVerdict(r, "no_two_writers"); v != "fail" || !strings.Contains(obs, "aws-db") {
		t.Fatalf("no_two_writers %q: %s", v, obs)
	}
	if ms, _ := r.Metrics.Extra["two_writers_ms"].(float64); ms <= 0 {
		t.Errorf("two_writers_ms %v: want > 0", r.Metrics.Extra["two_writers_ms"])
	}
}

// Two writers with a client pinned to the old one is a split brain: its
// writes land on the demoted writer and reach the on-prem replica, which
// then holds a GTID the new writer lacks, and the new writer's GTIDs are
// out of order for the old one (gtid_strict_mode stops its replication).
// The drill names the two writers; the automatic failback refuses to paper
// over the divergence (docs/findings.md#split-brain).
func TestFailoverTwoWritersSplitBrain(t *testing.T) {
	env := newFailoverEnv(t)
	r := runDrill(context.Background(), FailoverFailback(FailoverFailbackOptions{
		Profiles: profiles(t, clients.PoolPinned),
		Params:   fault.Params{"leave_old_writer_writable": "true"},
	}), env)
	writeReport(t, env, r)
	if r.Verdict == report.VerdictPass {
		t.Fatalf("verdict pass with two writers")
	}
	if !strings.Contains(r.Diagnosis, "two writers: aws-db and aws-db2") {
		t.Errorf("diagnosis does not name the two writers: %s", r.Diagnosis)
	}
	if !strings.Contains(r.Error, "errant transaction on onprem-db") {
		t.Errorf("error does not name the divergence: %s", r.Error)
	}
}

// Without a failback the pinned clients stay stuck: fail, and the
// diagnosis names the stuck client in one line.
func TestFailoverWithoutFailbackLeavesClientsStuck(t *testing.T) {
	env := newFailoverEnv(t)
	r := runDrill(context.Background(), FailoverFailback(FailoverFailbackOptions{
		Profiles:   profiles(t, clients.PoolPinned),
		NoFailback: true,
	}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	for _, want := range []string{"pool-pinned", "1290", "by aws-db (read-only)", "still refused"} {
		if !strings.Contains(r.Diagnosis, want) {
			t.Errorf("diagnosis lacks %q: %s", want, r.Diagnosis)
		}
	}
}

// DNS flip forgotten: even the client that connects afresh for every write
// keeps reaching the demoted writer: fail, naming it.
func TestFailoverDNSFlipForgotten(t *testing.T) {
	env := newFailoverEnv(t)
	r := runDrill(context.Background(), FailoverFailback(FailoverFailbackOptions{
		Profiles: profiles(t, clients.FreshPerWrite),
		Params:   fault.Params{"flip_dns": "false"},
	}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	if v, obs := checkVerdict(r, "clients_as_expected"); v != "fail" || !strings.Contains(obs, "fresh-per-write") || !strings.Contains(obs, "NOT as its profile expects") {
		t.Fatalf("clients_as_expected %q: %s", v, obs)
	}
}

// newFailoverEnv is newEnv on the failover lab (netns only).
func newFailoverEnv(t *testing.T) *testEnv { return newEnvWith(t, labNeeds{failover: true}) }

// On the failover lab the drill's plan is whole and says what each step
// changes on which server; making it changes nothing.
func TestFailoverPlan(t *testing.T) {
	env := newFailoverEnv(t)
	p, err := harness.MakePlan(context.Background(), FailoverFailback(FailoverFailbackOptions{}), env.T)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p.Print(&b)
	if len(p.Steps) < 8 || strings.Contains(b.String(), "cannot run here") || !strings.Contains(b.String(), "promote aws-db2") {
		t.Fatalf("plan:\n%s", b.String())
	}
	if eps, err := cluster(t, env).Endpoints(context.Background()); err != nil || eps["writer.cluster.lab"] != "aws-db" {
		t.Fatalf("the plan changed the endpoints: %v %v", eps, err)
	}
}

// An on-prem replica left on the demoted writer (repoint_replica=false)
// fails replica_follows_writer, naming the server it follows.
func TestFailoverReplicaNotRepointed(t *testing.T) {
	env := newFailoverEnv(t)
	r := runDrill(context.Background(), FailoverFailback(FailoverFailbackOptions{
		Profiles: []clients.Profile{},
		Params:   fault.Params{"repoint_replica": "false"},
	}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	if v, obs := checkVerdict(r, "replica_follows_writer"); v != "fail" || !strings.Contains(obs, "source server_id 1 (aws-db)") {
		t.Fatalf("replica_follows_writer %q: %s", v, obs)
	}
}
