package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/workload"
	"github.com/drdrill/drdrill/harness/workload/clients"
)

// failoverResult is the fault's record of its last switch.
func failoverResult(in *harness.Injection) fault.FailoverResult {
	if f, ok := in.Fault.(fault.Failover); ok {
		return f.FailoverResult()
	}
	return fault.FailoverResult{}
}

// writableEvery is how often both instances' @@read_only is sampled.
const writableEvery = 5 * time.Millisecond

type clusterDrill struct {
	*Drill
	cl             target.Cluster
	o              FailoverFailbackOptions
	watch          *replica.WritableWatch
	writer, reader *target.Instance  // at the start
	ids            map[uint32]string // server_id → name, of all three servers
}

func (c *clusterDrill) adminConns() map[string]*replica.Conn {
	m := map[string]*replica.Conn{}
	for _, in := range c.cl.Instances() {
		m[in.Name] = in.DB
	}
	return m
}

// baseline: one writer behind the writer endpoint, writable; the other
// instance and the replica site read-only replicas of it, caught up, with
// no transaction their source lacks.
func (c *clusterDrill) baseline(ctx context.Context) error {
	env := c.Env
	return env.Step(ctx, "baseline: one writable writer, the reader and "+c.Replica.Name+" read-only and caught up, no errant GTID", func(ctx context.Context) error {
		eps, err := c.cl.Endpoints(ctx)
		if err != nil {
			return err
		}
		c.writer = target.InstanceNamed(c.cl, eps[c.cl.WriterEndpoint()])
		if c.writer == nil {
			return fmt.Errorf("%s points at %q, not an instance of the cluster", c.cl.WriterEndpoint(), eps[c.cl.WriterEndpoint()])
		}
		c.ids = map[uint32]string{}
		for _, in := range c.cl.Instances() {
			if in != c.writer && c.reader == nil {
				c.reader = in
			}
			id, err := in.DB.ServerID(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", in.Name, err)
			}
			c.ids[uint32(id)] = in.Name
		}
		if id, err := c.Replica.DB.ServerID(ctx); err == nil {
			c.ids[uint32(id)] = c.Replica.Name + "-db"
		}
		if ro, err := c.writer.DB.ReadOnly(ctx); err != nil || ro {
			return fmt.Errorf("the writer %s is not writable (read_only %v, %v)", c.writer.Name, ro, err)
		}
		pos, err := c.writer.DB.PrimaryPosition(ctx)
		if err != nil {
			return err
		}
		errant := map[string]string{}
		for name, r := range c.replicas() {
			if ro, err := r.ReadOnly(ctx); err != nil || !ro {
				return fmt.Errorf("%s is not read-only (read_only %v, %v): a second writer before the drill", name, ro, err)
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := r.WaitApplied(wctx, pos, 10*time.Second)
			cancel()
			if err != nil {
				return fmt.Errorf("%s has not applied the writer's position: %w", name, err)
			}
			if errant[name], err = replica.ErrantGTIDs(ctx, r, c.writer.DB); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return env.Check(check.NoErrantGTIDs(errant))
	})
}

// replicas are the servers that replicate from the writer at the start.
func (c *clusterDrill) replicas() map[string]*replica.Conn {
	m := map[string]*replica.Conn{c.Replica.Name + "-db": c.Replica.DB}
	for _, in := range c.cl.Instances() {
		if in != c.writer {
			m[in.Name] = in.DB
		}
	}
	return m
}

// startClients starts every profile from every app host and waits until
// each has written once (long-lived pools are opened now, before the
// fault).
func (c *clusterDrill) startClients(ctx context.Context) (*clients.Fleet, error) {
	var fleet *clients.Fleet
	err := c.Env.Step(ctx, "clients: every profile from every app host, writing through "+c.cl.WriterEndpoint(), func(ctx context.Context) error {
		profiles := c.o.Profiles
		if profiles == nil {
			profiles = clients.Builtins()
		}
		user, pw := c.cl.AppAccount()
		apps := c.cl.Apps()
		first := c.Env.Workload.TakeWriters(len(apps) * len(profiles))
		var cfgs []clients.Config
		var on []string
		for _, app := range apps {
			for _, p := range profiles {
				cfgs = append(cfgs, clients.Config{Name: app.Name + "/" + p.Name, Profile: p,
					Cluster: c.cl.WriterEndpoint(), Instance: c.writer.Host, User: user, Password: pw,
					Dialer: app.Dialer, Resolver: app.Resolver, Ledger: c.Env.Workload.Ledger,
					Table: c.Env.Workload.Table, Writer: first + len(cfgs), Interval: c.o.Interval})
				on = append(on, app.Name)
			}
		}
		f, err := clients.NewFleet(cfgs, on)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := f.Start(ctx); err != nil {
			return err
		}
		fleet = f
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return f.WaitAcked(wctx, "every client's first acknowledged write", start, c.o.Interval, nil)
	})
	if err != nil && fleet != nil {
		fleet.Stop()
	}
	return fleet, err
}

// hold keeps the failover in place while the clients write: until every
// client its profile says should follow the failover has written on the new
// writer, and at least one endpoint TTL (plus two write intervals) after
// the flip, so that a client that honours the TTL has had its chance.
func (c *clusterDrill) hold(ctx context.Context, fleet *clients.Fleet, fo fault.FailoverResult) error {
	env := c.Env
	ttl := c.cl.EndpointTTL()
	return env.Step(ctx, "step 3: hold while the clients write (until the followers write on "+fo.To+", at least the endpoint TTL "+ttl.String()+")", func(ctx context.Context) error {
		since := fo.Done
		if since.IsZero() {
			since = time.Now()
		}
		wctx, cancel := context.WithTimeout(ctx, fo.FailoverMS+ttl+5*time.Second)
		defer cancel()
		err := fleet.WaitAcked(wctx, "the clients that should follow the failover to write on "+fo.To, since, c.o.Interval, func(cl *clients.Client) bool { return !cl.Expected().Stuck })
		if err != nil && ctx.Err() != nil {
			return err
		}
		// A follower that does not follow is the check's finding, not
		// the step's: hold on to the minimum and go on.
		// The TTL is the wait: nothing to poll for.
		return poll.Hold(ctx, "the endpoint TTL to run out", time.Until(since.Add(ttl+2*c.o.Interval)))
	})
}

// afterFailback waits until every client writes again (a stuck one, back on
// its original server; a follower, once the TTL of the flip back expired).
func (c *clusterDrill) afterFailback(ctx context.Context, fleet *clients.Fleet) error {
	ttl := c.cl.EndpointTTL()
	return c.Env.Step(ctx, "step 5: every client writes again after the failback", func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, ttl+10*time.Second)
		defer cancel()
		err := fleet.WaitAcked(wctx, "every client to write after the failback", time.Now(), c.o.Interval, nil)
		if err != nil && ctx.Err() != nil {
			return err
		}
		return nil // a client that never writes again fails clients_as_expected
	})
}

// serverName labels a server a client reached.
func (c *clusterDrill) serverName(s clients.Server) string {
	if n, ok := c.ids[s.ServerID]; ok && s.Read {
		return n
	}
	for _, in := range c.cl.Instances() {
		if h, _, ok := cutPort(s.Addr); ok && h == in.Addr {
			return in.Name
		}
	}
	if s.Addr != "" {
		return s.Addr
	}
	return "no server"
}

func cutPort(addr string) (host, port string, ok bool) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:], true
		}
	}
	return addr, "", false
}

// bound is what a client that follows the failover may be unable to write:
// the failover itself, the endpoint's TTL and one write interval.
func (c *clusterDrill) bound(fo fault.FailoverResult) time.Duration {
	return fo.FailoverMS + c.cl.EndpointTTL() + c.o.Interval
}

func (c *clusterDrill) recordClients(stats []clients.Stats, fo fault.FailoverResult, failback time.Time) {
	var demoted uint32
	for id, n := range c.ids {
		if n == c.writer.Name {
			demoted = id
		}
	}
	start := c.Env.Timeline.Start()
	for i := range stats {
		c.Env.AddClient(report.ClientFrom(stats[i], report.ClientOptions{App: appOf(stats[i].Client), Start: start, Failback: failback,
			Bound: c.bound(fo), Demoted: demoted, DemotedAddr: c.writer.Addr + ":3306", Name: c.serverName}))
		c.clientTimeline(stats[i])
	}
}

// refused turns the failover's refusals (a reader that has not caught up,
// a precondition such as an errant GTID) into the drill's failed checks:
// they are what the drill found. Any other error stops the drill.
func (c *clusterDrill) refused(err error) error {
	var ce *replica.CatchUpError
	var re *fault.FailoverRefused
	switch {
	case errors.As(err, &ce):
		return c.Env.Check(check.Result{Name: "reader_caught_up", Verdict: check.Fail,
			Expected: "the reader applies the writer's GTID position before it is promoted",
			Observed: "failover aborted, the writer writable again: " + ce.Error()})
	case errors.As(err, &re):
		return c.Env.Check(check.Result{Name: "failover_preconditions", Verdict: check.Fail,
			Expected: "the writer writable; the reader a read-only replica of it, IO and SQL running, no errant GTID; " + c.Replica.Name + "-db replicating from the writer",
			Observed: re.Reason})
	}
	return err
}

// followsWriter checks that the replica site's database replicates from
// the named instance (its source's server_id), IO thread Yes.
func (c *clusterDrill) followsWriter(ctx context.Context, step, instance string) error {
	return c.Env.Step(ctx, step, func(ctx context.Context) error {
		want := target.InstanceNamed(c.cl, instance)
		if want == nil {
			return fmt.Errorf("no instance %q in the cluster", instance)
		}
		wantID, err := want.DB.ServerID(ctx)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, c.Env.Timings.ReconnectWindow())
		defer cancel()
		st, werr := replica.WaitFor(wctx, c.Replica.DB, harness.ReplicaPoll, "IO thread Yes, replicating from "+instance,
			func(s replica.Status) bool { return s.IO == replica.IOYes })
		got, err := c.Replica.DB.SourceServerID(ctx)
		if err != nil {
			return err
		}
		r := check.Result{Name: "replica_follows_writer", Verdict: check.Pass,
			Expected: fmt.Sprintf("%s-db replicates from %s (server_id %d), repointed by address, IO thread Yes", c.Replica.Name, instance, wantID),
			Observed: fmt.Sprintf("source server_id %d (%s), IO %s", got, c.ids[uint32(got)], st.IO)}
		if werr != nil || got != wantID {
			r.Verdict = check.Fail
			if werr != nil {
				r.Observed += "; " + werr.Error()
			}
		}
		return c.Env.Check(r)
	})
}

// checkWritable stops the @@read_only sampling and checks that no sampled
// instant had two writable servers.
func (c *clusterDrill) checkWritable() {
	if c.watch == nil {
		return
	}
	rec := c.watch.Stop()
	c.watch = nil
	for _, ch := range rec.Changes {
		c.Env.Timeline.AddAt(ch.At, "cluster/"+ch.Server, timeline.KindNote, map[string]any{"writable": ch.Writable})
	}
	c.Env.Metric(harness.TwoWritersMS, rec.TwoWritersFor())
	_ = c.Env.Check(check.NoTwoWriters(rec))
}

// clientTimeline puts a client's outages on the timeline: when it first
// failed (code, server) and when it wrote again (where).
func (c *clusterDrill) clientTimeline(s clients.Stats) {
	src := "client/" + s.Client
	for _, o := range s.Outages {
		f := o.FirstFailure
		c.Env.Timeline.AddAt(f.SentAt, src, timeline.KindNote, map[string]any{"event": "write refused",
			"code": f.Code, "server": c.serverName(f.Server), "read_only": f.Server.ReadOnly, "error": f.Err})
		if r := o.Recovered; r != nil {
			c.Env.Timeline.AddAt(r.AckAt, src, timeline.KindNote, map[string]any{"event": "writes again",
				"server": c.serverName(r.Server), "failures": o.Failures, "unavailable_ms": o.Duration.Milliseconds()})
		}
	}
}

// appOf is the app host of a client named "<app>/<profile>".
func appOf(client string) string {
	app, _, _ := strings.Cut(client, "/")
	return app
}

// verify is the proof: every acknowledged write on every server exactly
// once, the servers' tables equal, no errant GTID, each client as its
// profile says.
func (c *clusterDrill) verify(ctx context.Context, writer *target.Instance, stats []clients.Stats, fo fault.FailoverResult, failback time.Time) error {
	env := c.Env
	servers := map[string]*replica.Conn{c.Replica.Name + "-db": c.Replica.DB}
	for _, in := range c.cl.Instances() {
		servers[in.Name] = in.DB
	}
	if err := env.Step(ctx, "verify: every acknowledged write on all three servers, once; CHECKSUM TABLE equal", func(ctx context.Context) error {
		ledger := env.Workload.Ledger
		if len(ledger.Unknown()) > 0 {
			if _, err := ledger.ResolveUnknown(ctx, writer.DB.DB()); err != nil {
				return err
			}
		}
		pos, err := writer.DB.PrimaryPosition(ctx)
		if err != nil {
			return err
		}
		rows := map[string][]workload.Row{}
		sums := map[string]int64{}
		for name, db := range servers {
			if name != writer.Name {
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := db.WaitApplied(wctx, pos, 30*time.Second)
				cancel()
				if err != nil {
					return fmt.Errorf("%s did not catch up with the writer %s: %w", name, writer.Name, err)
				}
			}
			if rows[name], err = workload.ReadBack(ctx, db.DB(), env.Workload.Table, env.Workload.DrillID); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if sums[name], err = db.ChecksumTable(ctx, env.Workload.Table.String()); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		sum := ledger.Summary()
		env.Metric(harness.RowsWritten, sum.Acked)
		env.Metric(harness.RowsWrittenDuringOutage, sum.AckedByPhase[workload.PhaseDuring])
		onReplica := check.DiffLedger(ledger.Entries(), rows[c.Replica.Name+"-db"], ledger.Unknown()...)
		env.Metric(harness.RowsMissingOnReplica, onReplica.RowsMissing())
		env.Metric(harness.RowsUnexpectedOnReplica, onReplica.RowsUnexpected())
		env.Metric(harness.RPORows, check.DiffLedger(ledger.Entries(), rows[writer.Name], ledger.Unknown()...).RowsMissing())
		err = env.Check(check.LedgerOnServers(ledger.Entries(), rows, ledger.Unknown()))
		return errors.Join(err, env.Check(check.ChecksumsEqual(env.Workload.Table.Plain(), sums)))
	}); err != nil {
		return err
	}
	if err := env.Step(ctx, "verify: no server holds a GTID the writer "+writer.Name+" lacks", func(ctx context.Context) error {
		errant := map[string]string{}
		n := 0
		for name, db := range servers {
			if name == writer.Name {
				continue
			}
			e, err := replica.ErrantGTIDs(ctx, db, writer.DB)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			errant[name] = e
			if e != "" {
				n++
			}
		}
		env.Metric(harness.ErrantGTIDs, n)
		return env.Check(check.NoErrantGTIDs(errant))
	}); err != nil {
		return err
	}
	c.checkWritable()
	if len(stats) == 0 {
		return nil
	}
	return env.Step(ctx, "verify: each client's write unavailability against its profile", func(ctx context.Context) error {
		return env.Check(check.ClientsAsExpected(c.outcomes(stats, fo, failback)))
	})
}

func (c *clusterDrill) outcomes(stats []clients.Stats, fo fault.FailoverResult, failback time.Time) []check.ClientOutcome {
	out := make([]check.ClientOutcome, len(stats))
	for i, s := range stats {
		out[i] = check.ClientOutcome{Stats: s, Bound: c.bound(fo), Failback: failback, Name: c.serverName}
	}
	return out
}
