package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

// WriterFailover is a planned failover of a cluster's writer, the way `aws
// rds failover-db-cluster` does one (issue 10: after such a failover apps
// in a peered VPC stayed pinned to the demoted writer). Inject, every step
// on the timeline (source "cluster") with its duration:
//
//  0. validate, changing nothing: the writer (what the writer endpoint
//     names) is writable; the candidate is read-only, replicates from it
//     (source server id), IO and SQL running, has no errant GTIDs against
//     it; the replica site's DB replicates from the writer and has none
//     either;
//  1. the writer read-only (t0: failover_ms counts from here);
//  2. the candidate catches up (replica.WaitCaughtUp); if it does not in
//     time the writer is made writable again and the failover aborted, as
//     RDS would, with an error naming the GTID gap;
//  3. the candidate promoted: writable (failover_ms);
//  4. the old writer demoted to a GTID replica of the candidate, IO Yes;
//  5. the writer endpoint flipped to the candidate, the reader endpoint to
//     the old writer;
//  6. the replica site's DB repointed to the candidate BY ADDRESS, caught up
//     (docs/findings.md#repoint-by-address).
//
// Params reproduce the operator's mistakes: flip_dns=false skips 5,
// leave_old_writer_writable=true turns the demoted writer's read_only off
// again after 4 (two writers), repoint_replica=false skips 6.
//
// Recover fails back to the original writer by the same procedure, always
// flipping DNS, repointing the replica site and leaving one writer,
// whatever the params were. It first repairs what a failed or killed
// Inject (or failback) left (see repairRoles); it refuses, naming the
// GTIDs, rather than demote a server with transactions the other lacks.
// It is idempotent: on the original topology it only reads.
//
// Dead-man's switch: none. A failover does not revert by itself (no
// timer on a database could fail back safely); the journal keeps the
// original writer so that `drdrill recover` fails back after a kill -9.
type WriterFailover struct {
	built
	C target.Cluster
	// Replica is the replica site's DB (across the VPN); ReplicaName its
	// host ("onprem-db").
	Replica     *replica.Conn
	ReplicaName string
	TL          *timeline.Timeline
	// To is the candidate ("": the instance the writer endpoint does not
	// name).
	To                     string
	CatchUp                time.Duration
	FlipDNS                bool
	LeaveOldWriterWritable bool
	RepointReplica         bool

	// interrupt, when set (tests), is called after each step of a switch
	// and ends it with its error: an Inject killed there.
	interrupt func(step string) error

	mu       sync.Mutex
	original string // the writer before Inject: what Recover fails back to
	touched  bool   // Inject changed something (or the fault was resumed)
	switches []FailoverResult
}

// FailoverResult is one switch of the writer (a failover or a failback).
type FailoverResult struct {
	Kind     string // "failover" or "failback"
	From, To string // instance names: the old writer, the new one
	// Started is when the old writer was made read-only, Writable when the
	// new one was, Done when the last step ended.
	Started, Writable, Done time.Time
	// FailoverMS is Writable - Started: how long no instance took writes.
	FailoverMS time.Duration
	Flipped    bool // the endpoints were flipped
	Repointed  bool // the replica site's DB follows the new writer
	// OldWriterWritable: the demoted writer was left writable (two writers).
	OldWriterWritable bool
}

// Failover is what a drill asserts on a fault to read its switches,
// without naming the fault's type.
type Failover interface {
	// FailoverResult is the last switch (zero before any).
	FailoverResult() FailoverResult
	// Switches are the switches done, in order (failover, failback).
	Switches() []FailoverResult
}

var _ Failover = (*WriterFailover)(nil)

// DefaultCatchUpTimeout bounds step 2.
const DefaultCatchUpTimeout = 10 * time.Second

func (f *WriterFailover) Name() string { return "writer-failover" }

// FailoverResult is the last switch (zero before any).
func (f *WriterFailover) FailoverResult() FailoverResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.switches) == 0 {
		return FailoverResult{}
	}
	return f.switches[len(f.switches)-1]
}

// Switches are the switches done, in order.
func (f *WriterFailover) Switches() []FailoverResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FailoverResult(nil), f.switches...)
}

// Original is the writer Recover fails back to ("" before Inject).
func (f *WriterFailover) Original() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.original
}

// node is an instance and what was read of it.
type node struct {
	in  *target.Instance
	id  int64
	ro  bool
	st  replica.Status
	src int64 // source server id (0: never connected, or not a replica)
}

func (n node) String() string {
	s := fmt.Sprintf("%s (server %d): read_only=%s, ", n.in.Name, n.id, onOffWord(n.ro))
	if !n.st.Configured {
		return s + "not a replica"
	}
	return s + fmt.Sprintf("replica of %s (server %d) %s", n.st.SourceHost, n.src, n.st)
}

func onOffWord(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

func readNode(ctx context.Context, in *target.Instance) (node, error) {
	n := node{in: in}
	var err error
	if n.id, err = in.DB.ServerID(ctx); err != nil {
		return n, fmt.Errorf("%s: %w", in.Name, err)
	}
	if n.ro, err = in.DB.ReadOnly(ctx); err != nil {
		return n, fmt.Errorf("%s: %w", in.Name, err)
	}
	if n.st, err = in.DB.Status(ctx); err != nil {
		return n, fmt.Errorf("%s: %w", in.Name, err)
	}
	if n.st.Configured {
		if n.src, err = in.DB.SourceServerID(ctx); err != nil {
			return n, fmt.Errorf("%s: %w", in.Name, err)
		}
	}
	return n, nil
}

// replicaOf: n is configured to replicate from w (by address).
func (n node) replicaOf(w node) bool { return n.st.Configured && n.st.SourceHost == w.in.Addr }

func (f *WriterFailover) instance(name string) (*target.Instance, error) {
	in := target.InstanceNamed(f.C, name)
	if in == nil {
		var names []string
		for _, i := range f.C.Instances() {
			names = append(names, i.Name)
		}
		return nil, fmt.Errorf("writer-failover: no instance %q in the cluster (instances: %s)", name, strings.Join(names, ", "))
	}
	return in, nil
}

// other is the instance that is not name (the cluster has two).
func (f *WriterFailover) other(name string) (*target.Instance, error) {
	for _, in := range f.C.Instances() {
		if in.Name != name {
			return in, nil
		}
	}
	return nil, fmt.Errorf("writer-failover: the cluster has no instance other than %s", name)
}

// roles reads the endpoints: the writer, and the candidate (To or the
// other instance).
func (f *WriterFailover) roles(ctx context.Context) (writer, cand *target.Instance, err error) {
	eps, err := f.C.Endpoints(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("writer-failover: read the endpoints: %w", err)
	}
	w := eps[f.C.WriterEndpoint()]
	if w == "" {
		return nil, nil, fmt.Errorf("writer-failover: the writer endpoint %s names no instance (endpoints: %v)", f.C.WriterEndpoint(), eps)
	}
	if writer, err = f.instance(w); err != nil {
		return nil, nil, err
	}
	if f.To == "" {
		cand, err = f.other(w)
	} else {
		cand, err = f.instance(f.To)
	}
	if err != nil {
		return nil, nil, err
	}
	if cand.Name == writer.Name {
		return nil, nil, fmt.Errorf("writer-failover: to=%s is already the writer (%s names it)", f.To, f.C.WriterEndpoint())
	}
	return writer, cand, nil
}

// failoverData is what the journal keeps.
type failoverData struct {
	OriginalWriter string `json:"original_writer"`
	Candidate      string `json:"candidate"`
}

// Plan reads the endpoints and says what each step changes where.
func (f *WriterFailover) Plan(ctx context.Context, _ time.Duration) (Plan, error) {
	w, c, err := f.roles(ctx)
	if err != nil {
		return Plan{}, err
	}
	data, err := json.Marshal(failoverData{OriginalWriter: w.Name, Candidate: c.Name})
	if err != nil {
		return Plan{}, err
	}
	f.mu.Lock()
	if !f.touched {
		f.original = w.Name
	}
	f.mu.Unlock()
	what := []string{
		fmt.Sprintf("%s: read_only ON", w.Name),
		fmt.Sprintf("%s: waits until it applied %s's GTID position, then replication reset (RESET SLAVE ALL) and read_only OFF", c.Name, w.Name),
		fmt.Sprintf("%s: a GTID replica of %s (%s) (CHANGE MASTER TO …, MASTER_USE_GTID=slave_pos)", w.Name, c.Name, c.Addr),
	}
	if f.LeaveOldWriterWritable {
		what = append(what, fmt.Sprintf("%s: read_only OFF again (the demoted writer left writable)", w.Name))
	}
	if f.FlipDNS {
		what = append(what, fmt.Sprintf("DNS: %s → %s, %s → %s", f.C.WriterEndpoint(), c.Name, f.C.ReaderEndpoint(), w.Name))
	} else {
		what = append(what, "DNS: not flipped (flip_dns=false)")
	}
	if f.RepointReplica {
		what = append(what, fmt.Sprintf("%s: repointed to %s by address (%s)", f.ReplicaName, c.Name, c.Addr))
	}
	return Plan{Hosts: []string{w.Name, c.Name, f.ReplicaName},
		What: "planned failover " + w.Name + " → " + c.Name + ": " + strings.Join(what, "; "),
		Undo: fmt.Sprintf("drdrill recover fails back the same way: %s read-only; %s catches up, is promoted; %s demoted to a replica of %s; %s → %s, %s → %s; %s repointed to %s (%s)",
			c.Name, w.Name, c.Name, w.Name, f.C.WriterEndpoint(), w.Name, f.C.ReaderEndpoint(), c.Name, f.ReplicaName, w.Name, w.Addr),
		Data: data}, nil
}

// Resume marks the fault injected by another process: Recover fails back
// to the journalled original writer (without data: the first instance, the
// writer at setup).
func (f *WriterFailover) Resume(data json.RawMessage) error {
	orig := ""
	if len(data) > 0 {
		var d failoverData
		if err := json.Unmarshal(data, &d); err != nil {
			return fmt.Errorf("writer-failover: resume: %w", err)
		}
		orig = d.OriginalWriter
	} else if ins := f.C.Instances(); len(ins) > 0 {
		orig = ins[0].Name
	}
	if _, err := f.instance(orig); err != nil {
		return fmt.Errorf("writer-failover: resume: journalled original writer: %w", err)
	}
	f.mu.Lock()
	f.original, f.touched = orig, true
	f.mu.Unlock()
	return nil
}

// switchOpts are what differs between a failover and a failback.
type switchOpts struct {
	kind, action   string // "failover"/"inject" or "failback"/"recover"
	flip           bool
	leaveWritable  bool
	repoint        bool
	waitCandidate  bool // a demoted candidate may still be connecting: wait for its IO thread
	checkReplicaOf bool // the replica site's DB must replicate from the writer now
}

func (f *WriterFailover) Inject(ctx context.Context) error {
	w, c, err := f.roles(ctx)
	if err != nil {
		return err
	}
	opts := switchOpts{kind: "failover", action: "inject", flip: f.FlipDNS, leaveWritable: f.LeaveOldWriterWritable,
		repoint: f.RepointReplica, checkReplicaOf: true}
	_, err = f.switchover(ctx, w, c, opts, func() {
		f.mu.Lock()
		if !f.touched { // a second Inject must not move what Recover fails back to
			f.original, f.touched = w.Name, true
		}
		f.mu.Unlock()
	})
	return err
}

// step records one step of a switch on the timeline with its duration.
func (f *WriterFailover) step(o switchOpts, name string, start time.Time, detail string, extra map[string]any) {
	x := map[string]any{"switch": o.kind, "step": name, "duration_ms": float64(time.Since(start).Microseconds()) / 1000}
	for k, v := range extra {
		x[k] = v
	}
	f.TL.Add("cluster", timeline.KindFault, timeline.Fault{Fault: f.Name(), Action: o.action, Detail: detail, Extra: x})
}

// FailoverRefused is a switch refused by its validation (step 0): nothing
// was changed. A drill reports it as what it found about the target.
type FailoverRefused struct {
	Kind, From, To string // "failover" or "failback"; the instances
	Reason         string
}

func (e *FailoverRefused) Error() string {
	return fmt.Sprintf("writer-failover: %s %s → %s refused, nothing changed: %s", e.Kind, e.From, e.To, e.Reason)
}

func (f *WriterFailover) interrupted(step string) error {
	if f.interrupt == nil {
		return nil
	}
	return f.interrupt(step)
}

// validate is step 0: everything that must hold before the switch from w to
// c changes anything.
func (f *WriterFailover) validate(ctx context.Context, w, c *target.Instance, o switchOpts) (wn, cn node, err error) {
	fail := func(format string, a ...any) error {
		return &FailoverRefused{Kind: o.kind, From: w.Name, To: c.Name, Reason: fmt.Sprintf(format, a...)}
	}
	if wn, err = readNode(ctx, w); err != nil {
		return wn, cn, fail("%v", err)
	}
	if o.kind == "failover" && wn.ro {
		return wn, cn, fail("the writer %s is read-only", w.Name)
	}
	if wn.st.Configured {
		return wn, cn, fail("the writer %s is itself a replica (of %s)", w.Name, wn.st.SourceHost)
	}
	if o.waitCandidate {
		wctx, cancel := context.WithTimeout(ctx, f.C.ReplicationTimings().ReconnectWindow())
		replica.WaitIO(wctx, c.DB, 20*time.Millisecond, replica.IOYes)
		cancel()
	}
	if cn, err = readNode(ctx, c); err != nil {
		return wn, cn, fail("%v", err)
	}
	switch {
	case !cn.ro:
		return wn, cn, fail("the candidate %s is writable (read_only=OFF): two writers", c.Name)
	case !cn.st.Configured:
		return wn, cn, fail("the candidate %s is not a replica", c.Name)
	case cn.src != wn.id:
		return wn, cn, fail("the candidate %s replicates from server %d (%s), not from the writer %s (server %d)", c.Name, cn.src, cn.st.SourceHost, w.Name, wn.id)
	case cn.st.IO != replica.IOYes || !cn.st.SQLRunning:
		return wn, cn, fail("the candidate %s's replication is not running: %s%s", c.Name, cn.st, f.gapNote(ctx, w, c))
	}
	errant, err := replica.ErrantGTIDs(ctx, c.DB, w.DB)
	if err != nil {
		return wn, cn, fail("%s: %v", c.Name, err)
	}
	if errant != "" {
		return wn, cn, fail("errant transaction on %s: %s (it has, %s lacks): promoting it would spread it; remove it or rebuild %s from %s", c.Name, errant, w.Name, c.Name, w.Name)
	}
	if f.Replica != nil {
		errant, err := replica.ErrantGTIDs(ctx, f.Replica, w.DB)
		if err != nil {
			return wn, cn, fail("%s: %v", f.ReplicaName, err)
		}
		if errant != "" {
			return wn, cn, fail("errant transaction on %s: %s (it has, %s lacks): it could not follow %s", f.ReplicaName, errant, w.Name, c.Name)
		}
		if o.checkReplicaOf {
			src, err := f.Replica.SourceServerID(ctx)
			if err != nil {
				return wn, cn, fail("%s: %v", f.ReplicaName, err)
			}
			if src != wn.id {
				return wn, cn, fail("%s replicates from server %d, not from the writer %s (server %d)", f.ReplicaName, src, w.Name, wn.id)
			}
		}
	}
	return wn, cn, nil
}

// gapNote names what the candidate has not applied of the writer, best
// effort (", lacks 0-1-15 of aws-db").
func (f *WriterFailover) gapNote(ctx context.Context, w, c *target.Instance) string {
	pos, err := w.DB.PrimaryPosition(ctx)
	if err != nil {
		return ""
	}
	applied, err := c.DB.AppliedPosition(ctx)
	if err != nil {
		return ""
	}
	g, err := replica.Subtract(c.DB.Flavor(), pos, applied)
	if err != nil || g == "" {
		return ""
	}
	return fmt.Sprintf("; it lacks %s of %s (applied %s)", g, w.Name, orNone(applied))
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// switchover moves the writer role from w to c (steps 0-6). started runs
// just before the first change.
func (f *WriterFailover) switchover(ctx context.Context, w, c *target.Instance, o switchOpts, started func()) (FailoverResult, error) {
	res := FailoverResult{Kind: o.kind, From: w.Name, To: c.Name}
	t := time.Now()
	if _, _, err := f.validate(ctx, w, c, o); err != nil {
		return res, err
	}
	f.step(o, "validate", t, fmt.Sprintf("%s the writer, %s its read-only replica (IO and SQL running, no errant GTIDs)", w.Name, c.Name), nil)
	if started != nil {
		started()
	}
	errf := func(format string, a ...any) error {
		return fmt.Errorf("writer-failover: %s %s → %s: "+format, append([]any{o.kind, w.Name, c.Name}, a...)...)
	}

	// 1. The writer read-only: t0.
	res.Started = time.Now()
	if err := w.DB.SetReadOnly(ctx, true); err != nil {
		return res, errf("%s read-only: %w", w.Name, err)
	}
	f.step(o, "writer-read-only", res.Started, w.Name+": read_only ON (no more writes)", nil)
	if err := f.interrupted("writer-read-only"); err != nil {
		return res, err
	}

	// 2. The candidate catches up, or the switch is aborted.
	t = time.Now()
	if err := replica.WaitCaughtUp(ctx, w.DB, c.DB, f.CatchUp); err != nil {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		uerr := w.DB.SetReadOnly(uctx, false)
		cancel()
		undo := w.Name + " writable again"
		if uerr != nil {
			undo = fmt.Sprintf("%s could NOT be made writable again (%v): it is read-only, Recover makes it writable", w.Name, uerr)
		}
		f.step(o, "aborted", t, fmt.Sprintf("%s did not catch up within %s: %s aborted, %s", c.Name, f.CatchUp, o.kind, undo), map[string]any{"last_seen": err.Error()})
		return res, errf("aborted, %s: %w", undo, err)
	}
	f.step(o, "candidate-caught-up", t, c.Name+" applied "+w.Name+"'s GTID position", nil)
	if err := f.interrupted("candidate-caught-up"); err != nil {
		return res, err
	}

	// 3. Promote.
	t = time.Now()
	if err := replica.Promote(ctx, c.DB); err != nil {
		return res, errf("promote %s: %w", c.Name, err)
	}
	res.Writable = time.Now()
	res.FailoverMS = res.Writable.Sub(res.Started)
	f.step(o, "candidate-promoted", t, fmt.Sprintf("%s: replication reset, writable: %s took %s", c.Name, o.kind, res.FailoverMS.Round(time.Microsecond)),
		map[string]any{o.kind + "_ms": float64(res.FailoverMS.Microseconds()) / 1000})
	f.record(res)
	if err := f.interrupted("candidate-promoted"); err != nil {
		return res, err
	}

	// 4. Demote the old writer to a replica of the new one.
	t = time.Now()
	src, err := f.C.ReplicationSource(c.Name)
	if err != nil {
		return res, errf("%w", err)
	}
	tm := f.C.ReplicationTimings()
	if err := replica.Demote(ctx, w.DB, src, tm); err != nil {
		return res, errf("demote %s: %w", w.Name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, tm.ReconnectWindow())
	_, err = replica.WaitIO(wctx, w.DB, 20*time.Millisecond, replica.IOYes)
	cancel()
	if err != nil {
		return res, errf("%s demoted to a replica of %s: %w", w.Name, c.Name, err)
	}
	f.step(o, "old-writer-demoted", t, fmt.Sprintf("%s: read-only GTID replica of %s (%s), IO Yes", w.Name, c.Name, src.Host), nil)
	if o.leaveWritable {
		t = time.Now()
		if err := w.DB.SetReadOnly(ctx, false); err != nil {
			return res, errf("leave %s writable: %w", w.Name, err)
		}
		res.OldWriterWritable = true
		f.step(o, "old-writer-left-writable", t, w.Name+": read_only OFF again (leave_old_writer_writable): two writable servers", nil)
	}
	f.record(res)
	if err := f.interrupted("old-writer-demoted"); err != nil {
		return res, err
	}

	// 5. DNS.
	t = time.Now()
	if o.flip {
		if err := f.C.FlipEndpoint(ctx, f.C.WriterEndpoint(), c.Name); err != nil {
			return res, errf("%w", err)
		}
		if err := f.C.FlipEndpoint(ctx, f.C.ReaderEndpoint(), w.Name); err != nil {
			return res, errf("%w", err)
		}
		res.Flipped = true
		f.step(o, "endpoints-flipped", t, fmt.Sprintf("%s → %s, %s → %s (TTL %s)", f.C.WriterEndpoint(), c.Name, f.C.ReaderEndpoint(), w.Name, f.C.EndpointTTL()), nil)
	} else {
		f.step(o, "endpoints-not-flipped", t, fmt.Sprintf("DNS flip skipped (flip_dns=false): %s still names %s, the demoted writer", f.C.WriterEndpoint(), w.Name), nil)
	}
	f.record(res)
	if err := f.interrupted("endpoints"); err != nil {
		return res, err
	}

	// 6. The replica site follows the new writer.
	if o.repoint && f.Replica != nil {
		t = time.Now()
		if err := f.follow(ctx, c); err != nil {
			return res, errf("%w", err)
		}
		res.Repointed = true
		f.step(o, "replica-repointed", t, fmt.Sprintf("%s repointed to %s by address (%s), not by name: a replica resolves its source's name only when it reconnects, and the demoted %s still serves its binlog, so it would never move; IO Yes, caught up",
			f.ReplicaName, c.Name, src.Host, w.Name), nil)
	} else if f.Replica != nil {
		f.step(o, "replica-not-repointed", time.Now(), fmt.Sprintf("%s not repointed (repoint_replica=false): it replicates from %s", f.ReplicaName, w.Name), nil)
	}
	res.Done = time.Now()
	f.record(res)
	return res, nil
}

// record keeps res as the current switch (a switch is recorded as soon as
// the new writer is writable, and updated as it goes on).
func (f *WriterFailover) record(res FailoverResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.switches); n > 0 && f.switches[n-1].Kind == res.Kind && f.switches[n-1].Started.Equal(res.Started) {
		f.switches[n-1] = res
		return
	}
	f.switches = append(f.switches, res)
}

// follow makes the replica site's DB replicate from in (by address), unless
// it already does, and waits until it runs and has applied in's position.
func (f *WriterFailover) follow(ctx context.Context, in *target.Instance) error {
	errant, err := replica.ErrantGTIDs(ctx, f.Replica, in.DB)
	if err != nil {
		return fmt.Errorf("%s: %w", f.ReplicaName, err)
	}
	if errant != "" {
		return fmt.Errorf("errant transaction on %s: %s (it has, %s lacks): not repointed, it would break replication", f.ReplicaName, errant, in.Name)
	}
	src, err := f.C.ReplicationSource(in.Name)
	if err != nil {
		return err
	}
	tm := f.C.ReplicationTimings()
	if err := replica.Repoint(ctx, f.Replica, src, tm); err != nil {
		return fmt.Errorf("%s: %w", f.ReplicaName, err)
	}
	wctx, cancel := context.WithTimeout(ctx, tm.ReconnectWindow())
	_, err = replica.WaitIO(wctx, f.Replica, 20*time.Millisecond, replica.IOYes)
	cancel()
	if err != nil {
		return fmt.Errorf("%s repointed to %s: %w", f.ReplicaName, in.Name, err)
	}
	if err := replica.WaitCaughtUp(ctx, in.DB, f.Replica, f.CatchUp); err != nil {
		return fmt.Errorf("%s repointed to %s: %w", f.ReplicaName, in.Name, err)
	}
	return nil
}

// WaitForEffect returns once the last switch shows: the new writer
// writable, the old one read-only (unless left writable on purpose), the
// endpoints flipped (unless flip_dns=false).
func (f *WriterFailover) WaitForEffect(ctx context.Context) error {
	res := f.FailoverResult()
	if res.Kind != "failover" {
		return errors.New("writer-failover: no failover was done")
	}
	to, err := f.instance(res.To)
	if err != nil {
		return err
	}
	from, err := f.instance(res.From)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%s writable, %s read-only", to.Name, from.Name)
	if f.LeaveOldWriterWritable {
		what = fmt.Sprintf("%s and %s writable", to.Name, from.Name)
	}
	if f.FlipDNS {
		what += ", " + f.C.WriterEndpoint() + " → " + to.Name
	}
	return poll.Until(ctx, what, 20*time.Millisecond, f.C.ReplicationTimings().ReconnectWindow(), func(ctx context.Context) (bool, string, error) {
		tro, err := to.DB.ReadOnly(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		fro, err := from.DB.ReadOnly(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		eps, err := f.C.Endpoints(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		seen := fmt.Sprintf("%s read_only=%s, %s read_only=%s, endpoints %v", to.Name, onOffWord(tro), from.Name, onOffWord(fro), eps)
		ok := !tro && fro != f.LeaveOldWriterWritable && (!f.FlipDNS || eps[f.C.WriterEndpoint()] == to.Name)
		return ok, seen, nil
	})
}

// Recover fails back to the original writer, repairing first what a failed
// or killed switch left (repairRoles), then the endpoints and the replica
// site. Safe when Inject never ran (nothing to do) and idempotent.
func (f *WriterFailover) Recover(ctx context.Context) error {
	f.mu.Lock()
	orig, touched := f.original, f.touched
	f.mu.Unlock()
	if !touched {
		return nil
	}
	o, err := f.instance(orig)
	if err != nil {
		return err
	}
	x, err := f.other(orig)
	if err != nil {
		return err
	}
	if err := f.repairRoles(ctx, o, x); err != nil {
		return err
	}
	return f.restoreAround(ctx, o, x)
}

var recoverOpts = switchOpts{kind: "failback", action: "recover", flip: true, repoint: true, waitCandidate: true}

// repairRoles brings the roles back: o the writer (writable, not a
// replica), x a read-only replica of o. What it finds, by each server's
// read_only and replication configuration (source by address):
//
//   - o a primary, x its replica (original roles; an Inject interrupted
//     before promote, or an aborted switch whose undo failed): o writable
//     again if it is read-only, x read-only if it is not, x's replication
//     started if it was stopped (what an interrupted promote leaves);
//   - o a replica of x, x a primary (a completed failover, with or without
//     the mistakes; a failback interrupted after its read-only step): o
//     read-only if it was left writable, then the failback switch;
//   - both primaries (a switch interrupted between promote and demote):
//     the one whose transactions the other has is demoted under the other
//     (x under o when x has nothing o lacks; else o under x, then the
//     failback switch); when each has transactions the other lacks they
//     diverged: refused, naming both, nothing changed;
//   - anything else (both replicas, a third source): refused, naming the
//     state.
func (f *WriterFailover) repairRoles(ctx context.Context, o, x *target.Instance) error {
	on, err := readNode(ctx, o)
	if err != nil {
		return fmt.Errorf("writer-failover: failback: %w", err)
	}
	xn, err := readNode(ctx, x)
	if err != nil {
		return fmt.Errorf("writer-failover: failback: %w", err)
	}
	note := func(detail string) {
		f.TL.Add("cluster", timeline.KindFault, timeline.Fault{Fault: f.Name(), Action: "recover", Detail: detail})
	}
	state := fmt.Sprintf("%s; %s", on, xn)
	switch {
	case !on.st.Configured && xn.replicaOf(on):
		if on.ro {
			if err := o.DB.SetReadOnly(ctx, false); err != nil {
				return fmt.Errorf("writer-failover: failback: %s writable: %w", o.Name, err)
			}
			note(o.Name + " was left read-only by an interrupted or aborted failover (" + x.Name + " was never promoted): writable again")
		}
		if !xn.ro {
			if err := x.DB.SetReadOnly(ctx, true); err != nil {
				return fmt.Errorf("writer-failover: failback: %s read-only: %w", x.Name, err)
			}
			note(x.Name + " (a replica) was writable: read-only")
		}
		if xn.st.IO == replica.IONo && !xn.st.SQLRunning {
			if err := x.DB.Restart(ctx); err != nil {
				return fmt.Errorf("writer-failover: failback: %s: %w", x.Name, err)
			}
			note(x.Name + "'s replication was stopped (an interrupted promote): started again")
		}
		return nil

	case on.replicaOf(xn) && !xn.st.Configured:
		if !on.ro {
			if err := o.DB.SetReadOnly(ctx, true); err != nil {
				return fmt.Errorf("writer-failover: failback: %s read-only: %w", o.Name, err)
			}
			note("two writers: " + o.Name + " (demoted, left writable) set read-only before the failback")
		}
		return f.failback(ctx, x, o)

	case !on.st.Configured && !xn.st.Configured:
		xHas, err := replica.ErrantGTIDs(ctx, x.DB, o.DB)
		if err != nil {
			return fmt.Errorf("writer-failover: failback: %s: %w", x.Name, err)
		}
		if xHas == "" {
			src, err := f.C.ReplicationSource(o.Name)
			if err != nil {
				return err
			}
			if err := replica.Demote(ctx, x.DB, src, f.C.ReplicationTimings()); err != nil {
				return fmt.Errorf("writer-failover: failback: demote %s: %w", x.Name, err)
			}
			if on.ro {
				if err := o.DB.SetReadOnly(ctx, false); err != nil {
					return fmt.Errorf("writer-failover: failback: %s writable: %w", o.Name, err)
				}
			}
			note(fmt.Sprintf("both were primaries (a switch interrupted between promote and demote): %s has nothing %s lacks: demoted under %s; %s writable", x.Name, o.Name, o.Name, o.Name))
			return nil
		}
		oHas, err := replica.ErrantGTIDs(ctx, o.DB, x.DB)
		if err != nil {
			return fmt.Errorf("writer-failover: failback: %s: %w", o.Name, err)
		}
		if oHas != "" {
			return fmt.Errorf("writer-failover: failback refused, nothing changed: %s and %s diverged: %s has %s that %s lacks, %s has %s that %s lacks; choose the survivor and rebuild the other by hand",
				o.Name, x.Name, o.Name, oHas, x.Name, x.Name, xHas, o.Name)
		}
		if !on.ro {
			if err := o.DB.SetReadOnly(ctx, true); err != nil {
				return fmt.Errorf("writer-failover: failback: %s read-only: %w", o.Name, err)
			}
		}
		src, err := f.C.ReplicationSource(x.Name)
		if err != nil {
			return err
		}
		if err := replica.Demote(ctx, o.DB, src, f.C.ReplicationTimings()); err != nil {
			return fmt.Errorf("writer-failover: failback: demote %s: %w", o.Name, err)
		}
		note(fmt.Sprintf("both were primaries (a switch interrupted between promote and demote): %s took writes (%s) that %s lacks: %s demoted under %s to receive them, then the failback", x.Name, xHas, o.Name, o.Name, x.Name))
		return f.failback(ctx, x, o)
	}
	return fmt.Errorf("writer-failover: failback refused, nothing changed: no planned procedure leads from this state: %s", state)
}

// failback is the planned switch from x back to o, always flipping DNS and
// repointing the replica site.
func (f *WriterFailover) failback(ctx context.Context, x, o *target.Instance) error {
	_, err := f.switchover(ctx, x, o, recoverOpts, nil)
	return err
}

// restoreAround puts the endpoints back (writer → o, reader → x) and makes
// the replica site follow o, where they differ.
func (f *WriterFailover) restoreAround(ctx context.Context, o, x *target.Instance) error {
	eps, err := f.C.Endpoints(ctx)
	if err != nil {
		return fmt.Errorf("writer-failover: failback: read the endpoints: %w", err)
	}
	for _, e := range []struct{ ep, in string }{{f.C.WriterEndpoint(), o.Name}, {f.C.ReaderEndpoint(), x.Name}} {
		if eps[e.ep] == e.in {
			continue
		}
		if err := f.C.FlipEndpoint(ctx, e.ep, e.in); err != nil {
			return fmt.Errorf("writer-failover: failback: %w", err)
		}
		f.TL.Add("cluster", timeline.KindFault, timeline.Fault{Fault: f.Name(), Action: "recover", Detail: fmt.Sprintf("%s → %s (it named %q)", e.ep, e.in, eps[e.ep])})
	}
	if f.Replica == nil {
		return nil
	}
	st, err := f.Replica.Status(ctx)
	if err != nil {
		return fmt.Errorf("writer-failover: failback: %s: %w", f.ReplicaName, err)
	}
	if st.Configured && st.SourceHost == o.Addr {
		return nil
	}
	t := time.Now()
	if err := f.follow(ctx, o); err != nil {
		return fmt.Errorf("writer-failover: failback: %w", err)
	}
	f.step(recoverOpts, "replica-repointed", t, fmt.Sprintf("%s repointed to %s by address (%s)", f.ReplicaName, o.Name, o.Addr), nil)
	return nil
}

// WaitRecovered polls until the original topology is back: the original
// writer writable and no replica; the other instance read-only, replicating
// from it (source server id), IO and SQL Yes, caught up; the endpoints
// original; the replica site's DB replicating from the original writer, IO
// and SQL Yes.
func (f *WriterFailover) WaitRecovered(ctx context.Context) error {
	f.mu.Lock()
	orig, touched := f.original, f.touched
	f.mu.Unlock()
	if !touched {
		return nil
	}
	o, err := f.instance(orig)
	if err != nil {
		return err
	}
	x, err := f.other(orig)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("the original topology: %s the writer, %s its caught-up read-only replica, %s → %s, %s replicating from %s",
		o.Name, x.Name, f.C.WriterEndpoint(), o.Name, f.ReplicaName, o.Name)
	tm := f.C.ReplicationTimings()
	return poll.Until(ctx, what, 25*time.Millisecond, tm.ReconnectWindow()+f.CatchUp, func(ctx context.Context) (bool, string, error) {
		seen, err := f.notOriginal(ctx, o, x)
		if err != nil {
			return false, err.Error(), nil
		}
		return seen == "", seen, nil
	})
}

// notOriginal returns "" when the original topology holds, else what does not.
func (f *WriterFailover) notOriginal(ctx context.Context, o, x *target.Instance) (string, error) {
	on, err := readNode(ctx, o)
	if err != nil {
		return "", err
	}
	xn, err := readNode(ctx, x)
	if err != nil {
		return "", err
	}
	switch {
	case on.ro || on.st.Configured:
		return "writer " + on.String(), nil
	case !xn.ro || xn.src != on.id || xn.st.IO != replica.IOYes || !xn.st.SQLRunning:
		return "reader " + xn.String(), nil
	}
	pos, err := o.DB.PrimaryPosition(ctx)
	if err != nil {
		return "", err
	}
	if ok, err := replica.Covers(x.DB.Flavor(), xn.st.ExecutedGTID, pos); err != nil || !ok {
		return fmt.Sprintf("reader %s applied %s, %s is at %s", x.Name, orNone(xn.st.ExecutedGTID), o.Name, pos), err
	}
	eps, err := f.C.Endpoints(ctx)
	if err != nil {
		return "", err
	}
	if eps[f.C.WriterEndpoint()] != o.Name || eps[f.C.ReaderEndpoint()] != x.Name {
		return fmt.Sprintf("endpoints %v", eps), nil
	}
	if f.Replica != nil {
		st, err := f.Replica.Status(ctx)
		if err != nil {
			return "", err
		}
		src, err := f.Replica.SourceServerID(ctx)
		if err != nil {
			return "", err
		}
		if src != on.id || st.IO != replica.IOYes || !st.SQLRunning {
			return fmt.Sprintf("%s: replica of server %d (%s) %s, want %s (server %d)", f.ReplicaName, src, st.SourceHost, st, o.Name, on.id), nil
		}
	}
	return "", nil
}

func init() {
	Register(Spec{Name: "writer-failover",
		Description: "a planned failover of the cluster's writer (as `aws rds failover-db-cluster`): writer read-only, candidate caught up and promoted, old writer demoted under it, endpoints flipped, the replica site repointed; Recover fails back the same way",
		Needs:       []target.Capability{target.CapCluster},
		Params: []Param{
			{Name: "to", Default: "the instance the writer endpoint does not name", Doc: "the candidate instance"},
			{Name: "catch_up_timeout", Default: DefaultCatchUpTimeout.String(), Doc: "how long the candidate may take to apply the writer's position before the failover is aborted"},
			{Name: "flip_dns", Default: "true", Doc: "false: the DNS flip is forgotten (the endpoints keep naming the demoted writer)"},
			{Name: "leave_old_writer_writable", Default: "false", Doc: "true: the demoted writer's read_only is turned off again (two writers)"},
			{Name: "repoint_replica", Default: "true", Doc: "false: the replica site's DB keeps replicating from the demoted writer"},
		},
		New: newWriterFailover})
}

func newWriterFailover(t target.Target, tl *timeline.Timeline, p Params) (Fault, error) {
	c, ok := t.(target.Cluster)
	if !ok || len(c.Instances()) < 2 {
		return nil, errors.New("writer-failover needs a target with a cluster of two instances")
	}
	f := &WriterFailover{C: c, TL: tl, To: p.String("to", "")}
	if f.To != "" && target.InstanceNamed(c, f.To) == nil {
		var names []string
		for _, in := range c.Instances() {
			names = append(names, in.Name)
		}
		return nil, fmt.Errorf("parameter to=%q: not an instance of the cluster (%s)", f.To, strings.Join(names, ", "))
	}
	var err error
	if f.CatchUp, err = p.Duration("catch_up_timeout", DefaultCatchUpTimeout); err != nil {
		return nil, err
	}
	if f.CatchUp <= 0 {
		return nil, fmt.Errorf("parameter catch_up_timeout=%q: want a duration above 0", p["catch_up_timeout"])
	}
	if f.FlipDNS, err = p.Bool("flip_dns", true); err != nil {
		return nil, err
	}
	if f.LeaveOldWriterWritable, err = p.Bool("leave_old_writer_writable", false); err != nil {
		return nil, err
	}
	if f.RepointReplica, err = p.Bool("repoint_replica", true); err != nil {
		return nil, err
	}
	if s := target.Replica(t); s != nil {
		f.Replica, f.ReplicaName = s.DB, target.Host{Site: s.Name, Kind: target.DBHost}.String()
	}
	return f, nil
}
