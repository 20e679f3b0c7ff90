package fault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

// upClusterLab brings a failover lab up (down in Cleanup, registered
// first) and opens it as a Target.
func upClusterLab(tb testing.TB) *lab.Target {
	tb.Helper()
	if testing.Short() {
		tb.Skip("lab test: skipped with -short")
	}
	b := lab.NetnsBackend{}
	if err := b.Preflight(); err != nil {
		tb.Skipf("lab test: the netns lab cannot run here: %v", err)
	}
	if _, err := os.Stat(lab.UnboundPath); err != nil {
		tb.Skipf("lab test: the failover lab needs unbound: %v", err)
	}
	dir := filepath.Join(tb.TempDir(), "lab")
	tb.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, map[string]lab.Backend{b.Name(): b}); err != nil {
			tb.Errorf("lab down: %v", err)
		}
	})
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir, Backend: b, Failover: true})
	if err != nil {
		tb.Fatalf("lab up: %v", err)
	}
	tg, err := lab.Open(context.Background(), info, b)
	if err != nil {
		tb.Fatalf("open lab: %v", err)
	}
	tb.Cleanup(func() { tg.Close() })
	return tg
}

func newFailover(tb testing.TB, tg *lab.Target, p Params) (*WriterFailover, *timeline.Timeline) {
	tb.Helper()
	tl := timeline.New()
	f, err := New("writer-failover", tg, tl, p)
	if err != nil {
		tb.Fatal(err)
	}
	return f.(*WriterFailover), tl
}

// roles is what the test reads of the cluster, independently of the fault.
type roles struct {
	ro             map[string]bool
	srcID          map[string]int64 // source server id, 0: not a replica
	writer, reader string
	onpremSrc      int64
}

func readRoles(t *testing.T, ctx context.Context, tg *lab.Target) roles {
	t.Helper()
	r := roles{ro: map[string]bool{}, srcID: map[string]int64{}}
	for _, in := range tg.Instances() {
		ro, err := in.DB.ReadOnly(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r.ro[in.Name] = ro
		st, err := in.DB.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Configured {
			if r.srcID[in.Name], err = in.DB.SourceServerID(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	eps, err := tg.Endpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.writer, r.reader = eps[tg.WriterEndpoint()], eps[tg.ReaderEndpoint()]
	var err2 error
	if r.onpremSrc, err2 = target.Replica(tg).DB.SourceServerID(ctx); err2 != nil {
		t.Fatal(err2)
	}
	return r
}

func wantOriginal(t *testing.T, r roles) {
	t.Helper()
	if r.ro["aws-db"] || !r.ro["aws-db2"] || r.srcID["aws-db"] != 0 || r.srcID["aws-db2"] != 1 ||
		r.writer != "aws-db" || r.reader != "aws-db2" || r.onpremSrc != 1 {
		t.Fatalf("not the original topology: %+v", r)
	}
}

func wantFailedOver(t *testing.T, r roles) {
	t.Helper()
	if !r.ro["aws-db"] || r.ro["aws-db2"] || r.srcID["aws-db"] != 3 || r.srcID["aws-db2"] != 0 ||
		r.writer != "aws-db2" || r.reader != "aws-db" || r.onpremSrc != 3 {
		t.Fatalf("not failed over to aws-db2: %+v", r)
	}
}

// steps lists the switch steps on the timeline, in order.
func steps(tl *timeline.Timeline) []string {
	var out []string
	for _, e := range tl.Filter(timeline.KindFault, "cluster") {
		if s, ok := e.Map()["step"].(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func recoverFailover(t *testing.T, f Fault) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := f.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if err := f.WaitRecovered(ctx); err != nil {
		t.Fatalf("WaitRecovered: %v", err)
	}
}

func insertRow(t *testing.T, ctx context.Context, db *replica.Conn, msg string) {
	t.Helper()
	if _, err := db.DB().ExecContext(ctx, "INSERT INTO testdb.ping(msg) VALUES (?)", msg); err != nil {
		t.Fatal(err)
	}
}

func TestWriterFailoverRoundTripLab(t *testing.T) {
	tg := upClusterLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wantOriginal(t, readRoles(t, ctx, tg))
	f, tl := newFailover(t, tg, nil)
	p, err := f.Plan(ctx, 0)
	if err != nil || !strings.Contains(string(p.Data), `"original_writer":"aws-db"`) || p.DeadMan != "" {
		t.Fatalf("plan: %+v %v", p, err)
	}
	t.Logf("plan: %s", p.What)
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitForEffect(ctx); err != nil {
		t.Fatal(err)
	}
	wantFailedOver(t, readRoles(t, ctx, tg))
	res := f.FailoverResult()
	if res.Kind != "failover" || res.From != "aws-db" || res.To != "aws-db2" || !res.Flipped || !res.Repointed || res.OldWriterWritable ||
		res.FailoverMS <= 0 || res.FailoverMS != res.Writable.Sub(res.Started) || res.Done.Before(res.Writable) {
		t.Fatalf("failover result: %+v", res)
	}
	t.Logf("failover: %s; steps %v", res.FailoverMS, steps(tl))
	// A write on the new writer reaches the demoted one and the replica site.
	ins := tg.Instances()
	insertRow(t, ctx, ins[1].DB, "written on aws-db2 after the failover")
	for _, r := range []*replica.Conn{ins[0].DB, target.Replica(tg).DB} {
		if err := replica.WaitCaughtUp(ctx, ins[1].DB, r, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	recoverFailover(t, f)
	wantOriginal(t, readRoles(t, ctx, tg))
	sw := f.Switches()
	if len(sw) != 2 || sw[1].Kind != "failback" || sw[1].From != "aws-db2" || sw[1].To != "aws-db" || sw[1].FailoverMS <= 0 || !sw[1].Flipped || !sw[1].Repointed {
		t.Fatalf("switches: %+v", sw)
	}
	t.Logf("failback: %s", sw[1].FailoverMS)
	insertRow(t, ctx, ins[0].DB, "written on aws-db after the failback")
	for _, r := range []*replica.Conn{ins[1].DB, target.Replica(tg).DB} {
		if err := replica.WaitCaughtUp(ctx, ins[0].DB, r, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Idempotent: a second Recover only reads.
	n := len(tl.Events())
	recoverFailover(t, f)
	if len(tl.Events()) != n || len(f.Switches()) != 2 {
		t.Fatalf("a second Recover acted: %v", tl.Events()[n:])
	}
}

func TestWriterFailoverLaggingReaderLab(t *testing.T) {
	tg := upClusterLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ins := tg.Instances()
	w, c := ins[0].DB, ins[1].DB

	t.Run("SQL thread stopped: refused before anything changes, naming the gap", func(t *testing.T) {
		if _, err := c.DB().ExecContext(ctx, "STOP SLAVE SQL_THREAD"); err != nil {
			t.Fatal(err)
		}
		insertRow(t, ctx, w, "not applied on aws-db2")
		pos, _ := w.PrimaryPosition(ctx)
		f, tl := newFailover(t, tg, nil)
		err := f.Inject(ctx)
		if err == nil || !strings.Contains(err.Error(), "nothing changed") || !strings.Contains(err.Error(), "lacks "+pos) {
			t.Fatalf("Inject: %v, want a refusal naming the gap %s", err, pos)
		}
		t.Logf("refused: %v", err)
		if s := steps(tl); len(s) != 0 {
			t.Fatalf("steps ran: %v", s)
		}
		recoverFailover(t, f) // never injected: nothing to do
		if _, err := c.DB().ExecContext(ctx, "START SLAVE SQL_THREAD"); err != nil {
			t.Fatal(err)
		}
		if err := replica.WaitCaughtUp(ctx, w, c, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		wantOriginal(t, readRoles(t, ctx, tg))
	})

	t.Run("applier blocked: aborted after catch_up_timeout, writer writable again", func(t *testing.T) {
		// A table lock on aws-db2 holds its SQL thread (running, IO and SQL
		// Yes) before the next row: a reader that lags.
		lock, err := c.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if _, err := lock.ExecContext(ctx, "LOCK TABLES testdb.ping WRITE"); err != nil {
			t.Fatal(err)
		}
		insertRow(t, ctx, w, "blocked on aws-db2")
		pos, _ := w.PrimaryPosition(ctx)
		f, tl := newFailover(t, tg, Params{"catch_up_timeout": "1s"})
		err = f.Inject(ctx)
		var ce *replica.CatchUpError
		if !errors.As(err, &ce) || ce.Gap != pos || !strings.Contains(err.Error(), "aws-db writable again") || !strings.Contains(err.Error(), "IO=Yes SQL=Yes") {
			t.Fatalf("Inject: %v, want an abort wrapping a CatchUpError with gap %s", err, pos)
		}
		t.Logf("aborted: %v", err)
		if s := steps(tl); strings.Join(s, ",") != "validate,writer-read-only,aborted" {
			t.Fatalf("steps: %v", s)
		}
		r := readRoles(t, ctx, tg)
		lock.ExecContext(ctx, "UNLOCK TABLES")
		wantOriginal(t, r)
		if res := f.FailoverResult(); res.Kind != "" {
			t.Fatalf("an aborted failover is recorded as a switch: %+v", res)
		}
		recoverFailover(t, f)
		wantOriginal(t, readRoles(t, ctx, tg))
	})
}

func TestWriterFailoverErrantGTIDLab(t *testing.T) {
	tg := upClusterLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// root bypasses read_only (READ ONLY ADMIN): a real errant transaction.
	insertRow(t, ctx, tg.Instances()[1].DB, "errant, written on the reader")
	errant, err := replica.ErrantGTIDs(ctx, tg.Instances()[1].DB, tg.Instances()[0].DB)
	if err != nil || !strings.HasPrefix(errant, "0-3-") {
		t.Fatalf("errant gtids %q %v", errant, err)
	}
	f, tl := newFailover(t, tg, nil)
	err = f.Inject(ctx)
	if err == nil || !strings.Contains(err.Error(), "errant transaction on aws-db2: "+errant+" (it has, aws-db lacks)") || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("Inject: %v, want a refusal naming %s", err, errant)
	}
	t.Logf("refused: %v", err)
	if s := steps(tl); len(s) != 0 {
		t.Fatalf("steps ran: %v", s)
	}
	wantOriginal(t, readRoles(t, ctx, tg))
}

func TestWriterFailoverLeaveOldWriterWritableLab(t *testing.T) {
	tg := upClusterLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, _ := newFailover(t, tg, Params{"leave_old_writer_writable": "true"})
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitForEffect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, in := range tg.Instances() {
		var ro int
		if err := in.DB.DB().QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&ro); err != nil {
			t.Fatal(err)
		}
		if ro != 0 {
			t.Fatalf("%s: @@read_only=%d, want two writable servers", in.Name, ro)
		}
	}
	if !f.FailoverResult().OldWriterWritable {
		t.Fatal("result does not say the old writer was left writable")
	}
	recoverFailover(t, f)
	wantOriginal(t, readRoles(t, ctx, tg))
}

// Inject killed at a step; drdrill recover (a fresh fault, resumed from
// the journal) restores the original.
func TestWriterFailoverInterruptedLab(t *testing.T) {
	for _, at := range []string{"writer-read-only", "candidate-promoted", "old-writer-demoted"} {
		t.Run("killed after "+at, func(t *testing.T) {
			tg := upClusterLab(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			f, _ := newFailover(t, tg, Params{"flip_dns": "false"})
			p, err := f.Plan(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			killed := errors.New("killed")
			f.interrupt = func(step string) error {
				if step == at {
					return killed
				}
				return nil
			}
			if err := f.Inject(ctx); !errors.Is(err, killed) {
				t.Fatalf("Inject: %v", err)
			}
			r := readRoles(t, ctx, tg)
			t.Logf("left: %+v", r)
			if at == "writer-read-only" && !r.ro["aws-db"] {
				t.Fatal("aws-db not read-only after the interrupted inject")
			}
			g, tl := newFailover(t, tg, Params{"flip_dns": "false"})
			if err := g.Resume(p.Data); err != nil {
				t.Fatal(err)
			}
			recoverFailover(t, g)
			wantOriginal(t, readRoles(t, ctx, tg))
			for _, e := range tl.Events() {
				t.Logf("recover: %v", e.Map()["detail"])
			}
		})
	}
}

// BenchmarkWriterFailover: a failover and its failback on the lab.
func BenchmarkWriterFailover(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	tg := upClusterLab(b)
	ctx := context.Background()
	var fo, fb time.Duration
	for i := 0; i < b.N; i++ {
		f, _ := newFailover(b, tg, nil)
		if err := f.Inject(ctx); err != nil {
			b.Fatal(err)
		}
		if err := f.Recover(ctx); err != nil {
			b.Fatal(err)
		}
		if err := f.WaitRecovered(ctx); err != nil {
			b.Fatal(err)
		}
		sw := f.Switches()
		fo += sw[0].FailoverMS
		fb += sw[1].FailoverMS
	}
	b.ReportMetric(float64(fo.Microseconds())/1000/float64(b.N), "failover_ms")
	b.ReportMetric(float64(fb.Microseconds())/1000/float64(b.N), "failback_ms")
}

// docs/findings.md#repoint-by-address: a replica whose source is the
// writer endpoint's name stays on the demoted writer after the flip (the
// demoted writer keeps serving its binlog, the new writer's rows included,
// log_slave_updates), and moves only when it reconnects and resolves the
// name anew.
func TestWriterFailoverReplicaByNameStaysOnDemotedWriterLab(t *testing.T) {
	tg := upClusterLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := target.Replica(tg).DB
	src, err := tg.ReplicationSource("aws-db")
	if err != nil {
		t.Fatal(err)
	}
	src.Host = tg.WriterEndpoint()
	if err := replica.Repoint(ctx, rep, src, tg.ReplicationTimings()); err != nil {
		t.Fatal(err)
	}
	sourceID := func(want int64) {
		t.Helper()
		err := poll.Until(ctx, fmt.Sprintf("onprem-db's IO thread Yes with source server id %d", want), 20*time.Millisecond, 10*time.Second,
			func(ctx context.Context) (bool, string, error) {
				st, err := rep.Status(ctx)
				if err != nil {
					return false, err.Error(), nil
				}
				id, err := rep.SourceServerID(ctx)
				if err != nil {
					return false, err.Error(), nil
				}
				return st.IO == replica.IOYes && id == want, fmt.Sprintf("source %s (server %d) %s", st.SourceHost, id, st), nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	sourceID(1)

	f, _ := newFailover(t, tg, Params{"repoint_replica": "false"})
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	ins := tg.Instances()
	insertRow(t, ctx, ins[1].DB, "written on aws-db2 after the flip")
	if err := replica.WaitCaughtUp(ctx, ins[1].DB, rep, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ := rep.Status(ctx)
	if id, _ := rep.SourceServerID(ctx); id != 1 || st.SourceHost != tg.WriterEndpoint() {
		t.Fatalf("after the flip onprem-db replicates from %s (server %d), want still aws-db (server 1) by name", st.SourceHost, id)
	}
	// A reconnect resolves the name again: now aws-db2.
	if err := rep.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	sourceID(3)

	recoverFailover(t, f)
	wantOriginal(t, readRoles(t, ctx, tg))
	if st, _ := rep.Status(ctx); st.SourceHost != "10.20.11.123" {
		t.Fatalf("after Recover onprem-db's source is %q, want aws-db's address", st.SourceHost)
	}
}
