package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/divergence"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/workload"
)

// SiteLossOptions vary the site-loss drill.
type SiteLossOptions struct {
	Variant SiteLossVariant // DuringVPNOutage if ""
	// Detection is the runbook's declared detection time: how long the
	// site must be silent before it is declared lost (2 s if 0). A
	// declared wait, not a condition: nothing signals "lost for good".
	Detection time.Duration
	// AtRisk (DuringVPNOutage) is how long the primary keeps writing with
	// the WAN silent before the loss (1 s if 0).
	AtRisk time.Duration
	// LagAtLeast (RateLimited) is the lag at which the site is lost (1 s
	// if 0); Rate is the WAN's tbf rate (64kbit if "").
	LagAtLeast time.Duration
	Rate       string
	// Steady is the load on the primary (4 connections, 300 rows/s; the
	// rate-limited variant 8, 800).
	Steady workload.SteadyConfig
	// RPO, RTO override the objectives (0: the target's, else the lab
	// defaults); tests set tiny ones to see the checks fail.
	RPO, RTO time.Duration
	// OnPrem is how long the business runs on the promoted server before
	// the site returns (500 ms if 0).
	OnPrem time.Duration
	// Heartbeat is the lag measurement's interval (50 ms if 0).
	Heartbeat time.Duration

	// Failing paths (tests). NoFreeze loses the site's WAN only: the old
	// primary stays up and writable, and the drill must refuse to promote.
	NoFreeze bool
	// NoSetAside attempts the rebuild of the returned site without setting
	// its lost writes aside: replica.Rebuild must refuse.
	NoSetAside bool
	// EditLostWrites changes lost-writes.jsonl before it is checked (a
	// test drops a line).
	EditLostWrites func([]byte) []byte
}

func (o SiteLossOptions) withDefaults() SiteLossOptions {
	if o.Variant == "" {
		o.Variant = DuringVPNOutage
	}
	if o.Detection == 0 {
		o.Detection = 2 * time.Second
	}
	if o.AtRisk == 0 {
		o.AtRisk = time.Second
	}
	if o.LagAtLeast == 0 {
		o.LagAtLeast = time.Second
	}
	if o.Rate == "" {
		o.Rate = "64kbit"
	}
	if o.Steady.Conns == 0 && o.Steady.Rate == 0 {
		o.Steady = workload.SteadyConfig{Conns: 4, Rate: 300}
		if o.Variant == RateLimited {
			o.Steady = workload.SteadyConfig{Conns: 8, Rate: 800}
		}
	}
	if o.Steady.Timeout == 0 {
		o.Steady.Timeout = time.Second // a frozen primary holds a write this long
	}
	if o.OnPrem == 0 {
		o.OnPrem = 500 * time.Millisecond
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 50 * time.Millisecond
	}
	return o
}

func (o SiteLossOptions) validate() error {
	switch {
	case o.Variant != DuringVPNOutage && o.Variant != RateLimited:
		return fmt.Errorf("site-loss: variant %q: want %s or %s", o.Variant, DuringVPNOutage, RateLimited)
	case o.Detection < 0 || o.AtRisk < 0 || o.LagAtLeast < 0 || o.OnPrem < 0 || o.Heartbeat < 0 || o.RPO < 0 || o.RTO < 0:
		return errors.New("site-loss: durations must not be negative")
	case o.Heartbeat > time.Second:
		return fmt.Errorf("site-loss: heartbeat %s: at most 1s (it is the lag's resolution)", o.Heartbeat)
	}
	return nil
}

// siteDrill is one run of the site-loss drill.
type siteDrill struct {
	*Drill
	o                SiteLossOptions
	exec             target.HostExec
	replUser, replPW string
	rpoObj, rtoObj   time.Duration

	oldName, newName string // "aws-db", "onprem-db"
	oldAddr          string // the old primary as the replica's host reaches it
	oldPort          int
	newAddr          string // the replica as the primary's host reaches it
	oldSocket        string // the old primary's socket on its own host

	hb          *heartbeat
	awsWriter   *workload.Steady
	stopAWS     sync.Once
	onWriter    *workload.Steady
	cutAt       time.Time // replication cut (the WAN went silent / was limited)
	lossAt      time.Time // the site went dark
	promotedAt  time.Time
	missing     []workload.Entry // acknowledged writes missing on the promoted server
	lost        divergence.Report
	errant      string // the old primary's GTIDs the promoted one lacks
	failedBack  bool
	injections  []*harness.Injection
	onprem      *replica.Conn // the writer pool on the promoted server
	onpremAdmin *replica.Conn
}

// prepare checks what the drill needs before anything changes.
func (s *siteDrill) prepare() error {
	if err := s.o.validate(); err != nil {
		return err
	}
	for _, site := range []*target.Site{s.Primary, s.Replica} {
		if f := site.DB.Flavor(); f != replica.MariaDB {
			return fmt.Errorf("site-loss: %s's database is %s: the drill is MariaDB only (lost writes are read with mariadb-binlog, the rebuild uses mariadb-dump)", site.Name, f)
		}
	}
	s.exec, _ = s.T.(target.HostExec)
	acc, ok := s.T.(target.ReplicationAccounter)
	if !ok {
		return errNoAccount
	}
	if s.replUser, s.replPW = acc.ReplicationAccount(); s.replUser == "" {
		return errNoAccount
	}
	s.rpoObj, s.rtoObj = DefaultRPOObjective, DefaultRTOObjective
	if ob, ok := s.T.(target.Objectiver); ok {
		rpo, rto := ob.Objectives()
		if rpo >= 0 {
			s.rpoObj = rpo
		}
		if rto >= 0 {
			s.rtoObj = rto
		}
	}
	if s.o.RPO > 0 {
		s.rpoObj = s.o.RPO
	}
	if s.o.RTO > 0 {
		s.rtoObj = s.o.RTO
	}
	s.Env.Note("objectives", map[string]any{"rpo_ms": s.rpoObj.Milliseconds(), "rto_ms": s.rtoObj.Milliseconds()})
	return nil
}

// baseline: the addresses each site reaches the other by, the heartbeat
// measuring lag, the steady writer on the primary.
func (s *siteDrill) baseline(ctx context.Context) error {
	env := s.Env
	return env.Step(ctx, "baseline: steady writer on "+s.oldName+", replication lag measured every "+s.o.Heartbeat.String(), func(ctx context.Context) error {
		st, err := s.Replica.DB.Status(ctx)
		if err != nil {
			return err
		}
		if st.SourceHost == "" {
			return fmt.Errorf("%s replicates from nowhere: %s", s.newName, st)
		}
		s.oldAddr, s.oldPort = st.SourceHost, st.SourcePort
		if s.oldPort == 0 {
			s.oldPort = 3306
		}
		if s.newAddr, err = replicaAddr(ctx, s.Primary.DB, s.replUser); err != nil {
			return fmt.Errorf("%s's address as %s reaches it: %w", s.newName, s.oldName, err)
		}
		if err := s.Primary.DB.DB().QueryRowContext(ctx, "SELECT @@socket").Scan(&s.oldSocket); err != nil {
			return fmt.Errorf("%s's socket: %w", s.oldName, err)
		}
		env.Note("addresses", map[string]any{s.oldName: fmt.Sprintf("%s:%d", s.oldAddr, s.oldPort), s.newName: s.newAddr})
		if s.hb, err = newHeartbeat(ctx, env.Workload.Table, s.o.Heartbeat, s.Primary.DB.DB(), s.Replica.DB.DB()); err != nil {
			return err
		}
		s.hb.start(ctx)
		pool, err := s.T.OpenDB(ctx, s.Primary.Name, s.o.Steady.Conns)
		if err != nil {
			return err
		}
		env.Defer("close the writer pool on "+s.oldName, func(context.Context) error { return pool.Close() })
		s.awsWriter = env.Workload.NewSteady(pool.DB(), s.o.Steady)
		s.awsWriter.Start(ctx)
		// Lag is known before the fault: wait for the first samples and
		// the writer's first acknowledged rows.
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return pollUntil(wctx, "the steady writer's first rows and 5 lag samples", func() (bool, string) {
			_, _, _, n := s.hb.stats(time.Now())
			acked := s.awsWriter.Stats().Acked
			return n >= 5 && acked > 0 && time.Since(start) >= 5*s.o.Heartbeat, fmt.Sprintf("%d samples, %d rows acknowledged", n, acked)
		})
	})
}

// lagReplication makes the replica trail before the loss: the WAN goes
// silent (during-vpn-outage) or slow (rate-limited).
func (s *siteDrill) lagReplication(ctx context.Context) error {
	if s.o.Variant == RateLimited {
		in, err := s.Inject(ctx, "step 1: WAN rate-limited to "+s.o.Rate+" under load", "wan-ratelimit", fault.Params{"rate": s.o.Rate})
		s.track(in)
		if err != nil {
			return err
		}
		s.cutAt = in.At
		return s.Env.Step(ctx, fmt.Sprintf("step 1: hold until the replica trails by %s", s.o.LagAtLeast), func(ctx context.Context) error {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return pollUntil(wctx, fmt.Sprintf("the replica's lag to reach %s", s.o.LagAtLeast), func() (bool, string) {
				l := s.hb.lastLag()
				return l >= s.o.LagAtLeast, "lag " + l.String()
			})
		})
	}
	in, err := s.Inject(ctx, "step 1: VPN outage: the WAN goes silent", "wan-blackhole", nil)
	s.track(in)
	if err != nil {
		return err
	}
	s.cutAt = in.At
	return s.Env.Step(ctx, fmt.Sprintf("step 1: writes at risk: %s acknowledges writes for %s with the WAN silent", s.oldName, s.o.AtRisk), func(ctx context.Context) error {
		if err := in.WaitForEffect(ctx); err != nil {
			return err
		}
		if err := poll.Hold(ctx, "the writes at risk (a declared hold)", time.Until(s.cutAt.Add(s.o.AtRisk))); err != nil {
			return err
		}
		if s.awsWriter.Stats().Acked == 0 {
			return errors.New("no write acknowledged while the WAN was silent")
		}
		return nil
	})
}

func (s *siteDrill) track(in *harness.Injection) {
	if in != nil {
		s.injections = append(s.injections, in)
	}
}

// loseSite takes the primary site dark: WAN blackholed and its database
// frozen (site-loss). NoFreeze (a failing path) loses the WAN only.
func (s *siteDrill) loseSite(ctx context.Context) error {
	var err error
	var in *harness.Injection
	switch {
	case s.o.NoFreeze && s.o.Variant == DuringVPNOutage:
		// The WAN is already silent: the "loss" changes nothing more.
		s.lossAt = time.Now()
		s.Env.Note("site loss without the freeze", map[string]any{"site": s.Primary.Name, "why": "failing path: the old primary stays up and writable"})
	case s.o.NoFreeze:
		in, err = s.Inject(ctx, "step 2: site "+s.Primary.Name+" loses its WAN (not frozen)", "wan-blackhole", nil)
		s.track(in)
		s.lossAt = in.At
	default:
		in, err = s.Inject(ctx, "step 2: site "+s.Primary.Name+" goes dark: WAN blackholed, "+s.oldName+" frozen", "site-loss", nil)
		s.track(in)
		s.lossAt = in.At
	}
	// The writers on the lost site stop before anything thaws it (a
	// deferred stop runs before the fault's recovery).
	s.Env.Defer("stop the writers on "+s.oldName, func(context.Context) error { s.stopOld(); return nil })
	if err != nil {
		return err
	}
	go s.stopOld() // writes in flight end by their timeout; the promotion does not wait for them
	if in != nil && !s.o.NoFreeze {
		return s.Env.Step(ctx, "step 2: "+s.oldName+" does not answer", in.WaitForEffect)
	}
	return nil
}

// stopOld stops the writers on the lost site (once; safe from the defer).
func (s *siteDrill) stopOld() {
	s.stopAWS.Do(func() {
		if s.awsWriter != nil {
			s.awsWriter.Stop()
		}
		s.hb.stopWriter()
	})
}

func (s *siteDrill) stopWriters() {
	s.stopOld()
	s.hb.stopReader()
	if s.onWriter != nil {
		s.onWriter.Stop()
	}
}

// promote is the runbook: wait the declared detection time (on-prem's
// side probes the old primary meanwhile), refuse if the old primary could
// still take writes, let the relay log drain, stop replication, make the
// replica writable.
func (s *siteDrill) promote(ctx context.Context) error {
	env := s.Env
	var fence check.Fence
	if err := env.Step(ctx, fmt.Sprintf("step 3: detection: the runbook's %s of silence from %s", s.o.Detection, s.Primary.Name), func(ctx context.Context) error {
		peer := s.probePeer(ctx)
		if err := poll.Hold(ctx, "the runbook's detection time (declared, not a condition)", time.Until(s.lossAt.Add(s.o.Detection))); err != nil {
			return err
		}
		env.Metric(harness.DetectionMS, s.o.Detection)
		fence = s.fence(ctx, peer)
		return nil
	}); err != nil {
		return err
	}
	if err := env.Step(ctx, "step 3: "+s.oldName+" fenced: it can take no write", func(ctx context.Context) error {
		return env.Check(check.OldPrimaryFenced(fence))
	}); err != nil {
		return err
	}
	start := time.Now()
	if err := env.Step(ctx, "step 3: promote "+s.newName+": relay log applied, replication stopped, writable", func(ctx context.Context) error {
		if err := waitRelayApplied(ctx, s.Replica.DB, 30*time.Second); err != nil {
			return err
		}
		return replica.Promote(ctx, s.Replica.DB)
	}); err != nil {
		return err
	}
	s.promotedAt = time.Now()
	env.Metric(harness.PromoteMS, s.promotedAt.Sub(start))
	s.Env.Defer("say what a drill that stops after the promotion leaves", func(context.Context) error {
		if !s.failedBack {
			env.Note("topology left changed", map[string]any{"promoted": s.newName, "old_primary": s.oldName,
				"what": s.newName + " is writable and replicates from nobody; " + s.oldName + " holds the lost writes: save them, rebuild it from " + s.newName + " (replica.Rebuild) and switch back"})
		}
		return nil
	})
	return nil
}

// runOnPrem flips the drill's writer to the promoted server (the lab has
// no DR endpoint name: the flip is the writer's target), measures RTO and
// RPO and checks them against the objectives.
func (s *siteDrill) runOnPrem(ctx context.Context) error {
	env := s.Env
	return env.Step(ctx, "step 4: endpoint flip: the writer now writes to "+s.newName+"; RPO and RTO", func(ctx context.Context) error {
		// RPO first: what the promoted server lacks, before it takes writes.
		var seq int64
		if err := s.Replica.DB.DB().QueryRowContext(ctx, "SELECT seq FROM "+s.hb.table+" WHERE id = 1").Scan(&seq); err != nil {
			return fmt.Errorf("heartbeat on %s: %w", s.newName, err)
		}
		rows, err := workload.ReadBack(ctx, s.Replica.DB.DB(), env.Workload.Table, env.Workload.DrillID)
		if err != nil {
			return err
		}
		ledger := env.Workload.Ledger
		diff := check.DiffLedger(ledger.Entries(), rows, ledger.Unknown()...)
		s.missing = diff.Missing
		lag := s.hb.lagAt(seq, s.lossAt)
		p50, mx, _, _ := s.hb.stats(s.cutAt) // the baseline: before replication was cut
		_, _, last, _ := s.hb.stats(s.lossAt)
		env.Metric(harness.HeartbeatIntervalMS, s.o.Heartbeat)
		env.Metric(harness.LagP50MS, p50)
		env.Metric(harness.LagMaxMS, mx)
		env.Metric(harness.LagBeforeLossMS, last)
		env.Metric(harness.RPOMS, lag)
		env.Metric(harness.RPORows, len(s.missing))
		var oldest time.Time
		atRisk := 0
		for _, e := range s.missing {
			if oldest.IsZero() || e.AckAt.Before(oldest) {
				oldest = e.AckAt
			}
		}
		for _, e := range ledger.Entries() {
			if !e.SentAt.Before(s.cutAt) && !e.AckAt.After(s.lossAt) {
				atRisk++
			}
		}
		env.Metric(harness.WritesAtRiskRows, atRisk)
		if !oldest.IsZero() {
			env.Metric(harness.RPOLedgerMS, s.lossAt.Sub(oldest))
		}
		env.Note("rpo", map[string]any{"lag_at_loss_ms": lag.Milliseconds(), "rows": len(s.missing), "replica_heartbeat_seq": seq})
		_ = env.Check(check.RPOWithin(check.RPO{LagAtLoss: lag, LagBefore: last, Rows: len(s.missing), Objective: s.rpoObj}))

		pool, err := s.T.OpenDB(ctx, s.Replica.Name, s.o.Steady.Conns)
		if err != nil {
			return err
		}
		s.onprem = pool
		env.Defer("close the writer pool on "+s.newName, func(context.Context) error { return pool.Close() })
		cfg := s.o.Steady
		cfg.Phase = workload.PhaseDuring
		s.onWriter = env.Workload.NewSteady(pool.DB(), cfg)
		first, n := s.onWriter.Writers()
		env.Note("endpoint flip", map[string]any{"from": s.oldName, "to": s.newName, "writers": fmt.Sprintf("%d-%d", first, first+n-1),
			"how": "the drill's writer pointed at " + s.newName + " (the four-host lab has no DR DNS name to flip)"})
		s.onWriter.Start(ctx)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var firstAck time.Time
		werr := pollUntil(wctx, "the first write acknowledged by "+s.newName, func() (bool, string) {
			firstAck = firstAckOf(ledger.Entries(), first, n)
			return !firstAck.IsZero(), fmt.Sprintf("%d attempted", s.onWriter.Stats().Attempted)
		})
		rto := time.Duration(-1)
		if werr == nil {
			rto = firstAck.Sub(s.lossAt)
			env.Metric(harness.RTOMS, rto)
		}
		_ = env.Check(check.RTOWithin(rto, s.rtoObj))
		if werr != nil {
			return werr
		}
		return poll.Hold(ctx, "the business running on-prem (a declared hold)", s.o.OnPrem)
	})
}

func firstAckOf(es []workload.Entry, first, n int) time.Time {
	var at time.Time
	for _, e := range es {
		if e.Writer >= first && e.Writer < first+n && (at.IsZero() || e.AckAt.Before(at)) {
			at = e.AckAt
		}
	}
	return at
}

// siteReturns brings the lost site back: thawed, WAN lifted, tunnel up.
// Its database comes back as a primary holding writes on-prem never saw.
func (s *siteDrill) siteReturns(ctx context.Context) error {
	return s.Env.Step(ctx, "step 5: "+s.Primary.Name+" returns: "+s.oldName+" thawed, WAN back, tunnel up", func(ctx context.Context) error {
		s.stopOld()
		for i := len(s.injections) - 1; i >= 0; i-- {
			in := s.injections[i]
			if err := in.Recover(ctx); err != nil {
				return err
			}
			if err := in.WaitRecovered(ctx); err != nil {
				return err
			}
		}
		s.Env.Metric(harness.SiteLossHeldMS, time.Since(s.lossAt))
		return nil
	})
}

// findLostWrites lists exactly what the returned server holds that the
// promoted one lacks, writes lost-writes.jsonl, and checks it against the
// ledger.
func (s *siteDrill) findLostWrites(ctx context.Context) error {
	env := s.Env
	return env.Step(ctx, "step 6: find "+s.oldName+"'s lost writes (GTIDs, tables, keys) against the ledger → "+LostWritesFile, func(ctx context.Context) error {
		var err error
		if s.errant, err = replica.ErrantGTIDs(ctx, s.Primary.DB, s.Replica.DB); err != nil {
			return err
		}
		s.lost, err = divergence.Find(ctx, divergence.Options{Old: s.Primary.DB, Promoted: s.Replica.DB, OldName: s.oldName, PromotedName: s.newName,
			OldHost: target.Host{Site: s.Primary.Name, Kind: target.DBHost}, Exec: s.exec, Table: env.Workload.Table,
			Ledger: env.Workload.Ledger.Entries(), DrillID: env.Workload.DrillID})
		if err != nil {
			return err
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for _, w := range s.lost.Writes {
			if err := enc.Encode(w); err != nil {
				return err
			}
		}
		data := b.Bytes()
		if s.o.EditLostWrites != nil {
			data = s.o.EditLostWrites(data)
		}
		env.AddArtifact(LostWritesFile, data)
		env.Metric(harness.LostTransactions, len(s.lost.GTIDs))
		env.Metric(harness.LostRows, len(s.lost.Writes))
		env.Note("lost writes", map[string]any{"old": s.oldName, "promoted": s.newName, "gtids": s.lost.Lost(), "errant": s.errant,
			"rows": len(s.lost.Writes), "acknowledged": s.lost.Acknowledged(), "statements": s.lost.Statements,
			"refused": s.oldName + " is not made a replica of " + s.newName + " as it is: its lost writes are set aside first"})
		listed, err := listedWrites(data, env.Workload.Table.Plain())
		if err != nil {
			return fmt.Errorf("%s as written: %w", LostWritesFile, err)
		}
		return env.Check(check.LostWritesFound(s.missing, listed, LostWritesFile))
	})
}

// listedWrites reads back the acknowledged writes of the drill table that
// a lost-writes file lists.
func listedWrites(data []byte, table string) ([]workload.Entry, error) {
	var out []workload.Entry
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var w divergence.LostWrite
		if err := json.Unmarshal([]byte(line), &w); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if w.Table == table && w.Acknowledged && w.Ledger != nil {
			out = append(out, *w.Ledger)
		}
	}
	return out, nil
}

// rebuild makes the returned server a copy of the promoted one across the
// VPN, its lost writes set aside (they are in lost-writes.jsonl), and a
// replica of it caught up.
func (s *siteDrill) rebuild(ctx context.Context) error {
	env := s.Env
	return env.Step(ctx, "step 7: rebuild "+s.oldName+" from "+s.newName+" over the VPN (lost writes set aside), replicate until caught up", func(ctx context.Context) error {
		pw, err := randomSecret()
		if err != nil {
			return err
		}
		env.AddSecret(pw)
		const dumpUser = "drdrill_dump"
		drop, err := dumpAccount(ctx, s.Replica.DB, dumpUser, pw)
		if err != nil {
			return err
		}
		defer drop(context.WithoutCancel(ctx))
		toUser, toPW := "root", "" // the lab's: root over the socket
		if l, ok := s.T.(target.DBLoginer); ok {
			toUser, toPW = l.DBLogin(s.Primary.Name)
		}
		setAside := s.errant
		if s.o.NoSetAside {
			setAside = ""
		}
		res, err := replica.Rebuild(ctx, replica.RebuildOptions{From: s.Replica.DB, To: s.Primary.DB, FromName: s.newName, ToName: s.oldName,
			Run: func(ctx context.Context, stdin []byte, argv ...string) ([]byte, error) {
				return s.exec.ExecInput(ctx, target.Host{Site: s.Primary.Name, Kind: target.DBHost}, stdin, argv...)
			},
			Dump:     replica.Source{Host: s.newAddr, Port: 3306, User: dumpUser, Password: pw},
			ToSocket: s.oldSocket, ToUser: toUser, ToPassword: toPW, Databases: []string{env.Workload.Table.Database},
			Repl:    replica.Source{Host: s.newAddr, Port: 3306, User: s.replUser, Password: s.replPW},
			Timings: env.Timings, SetAside: setAside})
		if err != nil {
			if strings.Contains(err.Error(), "refused") {
				return env.Check(check.Result{Name: "lost_writes_set_aside", Verdict: check.Fail,
					Expected: s.oldName + "'s lost writes saved (" + LostWritesFile + ") and set aside before it is rebuilt from " + s.newName,
					Observed: "failback onto the divergent " + s.oldName + " refused: " + err.Error()})
			}
			return err
		}
		env.Metric(harness.RebuildMS, res.Total)
		env.Metric(harness.RebuildLoadMS, res.Load)
		env.Metric(harness.RebuildBytes, res.Bytes)
		env.Metric(harness.RebuildMBPerS, res.MBps())
		env.Note("rebuilt", map[string]any{"bytes": res.Bytes, "load_ms": res.Load.Milliseconds(), "mb_per_s": res.MBps(), "position": res.Position})
		return nil
	})
}

// switchBack is the planned switchover to the original primary: the
// promoted server read-only, the rebuilt one caught up, promoted; the
// other demoted to its replica over the VPN; the writer flipped back.
func (s *siteDrill) switchBack(ctx context.Context) error {
	env := s.Env
	return env.Step(ctx, "step 8: switch back: "+s.newName+" read-only, "+s.oldName+" caught up and promoted, "+s.newName+" its replica again", func(ctx context.Context) error {
		start := time.Now()
		if err := s.Replica.DB.SetReadOnly(ctx, true); err != nil {
			return err
		}
		s.onWriter.Stop()
		if err := replica.WaitCaughtUp(ctx, s.Replica.DB, s.Primary.DB, 30*time.Second); err != nil {
			return err
		}
		if err := replica.Promote(ctx, s.Primary.DB); err != nil {
			return err
		}
		env.Metric(harness.SwitchbackMS, time.Since(start))
		if err := replica.Demote(ctx, s.Replica.DB, replica.Source{Host: s.oldAddr, Port: s.oldPort, User: s.replUser, Password: s.replPW}, env.Timings); err != nil {
			return err
		}
		s.failedBack = true
		env.Note("endpoint flip", map[string]any{"from": s.newName, "to": s.oldName, "how": "the drill's writer pointed back at " + s.oldName})
		w := env.Workload.NewSteady(s.Primary.DB.DB(), workload.SteadyConfig{Conns: 1, Rate: 100, Phase: workload.PhaseAfter, MaxRows: 10})
		w.Start(ctx)
		if st := w.Wait(); st.Acked == 0 {
			return fmt.Errorf("no write acknowledged by %s after the switch back: %+v", s.oldName, st)
		}
		wctx, cancel := context.WithTimeout(ctx, env.Timings.ReconnectWindow())
		defer cancel()
		_, err := replica.WaitIO(wctx, s.Replica.DB, harness.ReplicaPoll, replica.IOYes)
		return err
	})
}

// verify: every acknowledged write not lost is on both servers exactly
// once and the lost ones nowhere (they are in lost-writes.jsonl), equal
// checksums, no errant GTID, the tunnel healthy.
func (s *siteDrill) verify(ctx context.Context) error {
	env := s.Env
	if err := env.Step(ctx, "verify: acknowledged writes on both servers once, the lost ones nowhere; CHECKSUM TABLE equal; no errant GTID", func(ctx context.Context) error {
		pos, err := s.Primary.DB.PrimaryPosition(ctx)
		if err != nil {
			return err
		}
		if err := s.Replica.DB.WaitApplied(ctx, pos, 30*time.Second); err != nil {
			return fmt.Errorf("%s did not catch up with %s: %w", s.newName, s.oldName, err)
		}
		lost := map[[2]int64]bool{}
		for _, e := range s.missing {
			lost[[2]int64{int64(e.Writer), e.Seq}] = true
		}
		var kept []workload.Entry
		ledger := env.Workload.Ledger
		for _, e := range ledger.Entries() {
			if !lost[[2]int64{int64(e.Writer), e.Seq}] {
				kept = append(kept, e)
			}
		}
		rows, sums, err := rowsOn(ctx, env, map[string]*replica.Conn{s.oldName: s.Primary.DB, s.newName: s.Replica.DB})
		if err != nil {
			return err
		}
		sum := ledger.Summary()
		env.Metric(harness.RowsWritten, sum.Acked)
		env.Metric(harness.RowsWrittenDuringOutage, sum.AckedByPhase[workload.PhaseDuring])
		onReplica := check.DiffLedger(kept, rows[s.newName], ledger.Unknown()...)
		env.Metric(harness.RowsMissingOnReplica, onReplica.RowsMissing())
		env.Metric(harness.RowsUnexpectedOnReplica, onReplica.RowsUnexpected())
		errant, err := replica.ErrantGTIDs(ctx, s.Replica.DB, s.Primary.DB)
		if err != nil {
			return err
		}
		n := 0
		if errant != "" {
			n = 1
		}
		env.Metric(harness.ErrantGTIDs, n)
		return errors.Join(env.Check(check.LedgerOnServers(kept, rows, ledger.Unknown())),
			env.Check(check.ChecksumsEqual(env.Workload.Table.Plain(), sums)),
			env.Check(check.NoErrantGTIDs(map[string]string{s.newName: errant})))
	}); err != nil {
		return err
	}
	return s.VerifyTunnel(ctx)
}

// pollUntil polls cond every 10 ms (harness/poll) until it holds or ctx
// ends; the error says what was waited for and what was last seen.
func pollUntil(ctx context.Context, what string, cond func() (bool, string)) error {
	return poll.Until(ctx, what, 10*time.Millisecond, 0, func(context.Context) (bool, string, error) {
		ok, seen := cond()
		return ok, seen, nil
	})
}
