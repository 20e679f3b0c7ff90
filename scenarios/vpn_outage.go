package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// The seed's rows (004_…, sections 6 and 8).
const (
	msgBefore = workload.MsgBefore
	msgDuring = workload.MsgDuring
	msgAfter  = workload.MsgAfter
)

// VPNOutageOptions vary the seed drill for tests and for harsher variants.
type VPNOutageOptions struct {
	// Fault is the registered fault that takes the tunnel down ("tunnel-down").
	Fault string
	// BeforeVerify runs after catch-up and before the rows are compared
	// (tests use it to damage the replica and prove the checks fail).
	BeforeVerify func(ctx context.Context, env *harness.Env) error
}

// VPNOutage is the seed drill: VPN down from the AWS side, a row written
// during the outage, recovery in the documented order, and proof that the
// replica went Connecting → Yes and holds every row from before, during and
// after the outage.
func VPNOutage(o VPNOutageOptions) harness.Scenario {
	if o.Fault == "" {
		o.Fault = "tunnel-down"
	}
	return harness.Scenario{
		Name:        "vpn-outage",
		Description: "the seed drill: VPN down from AWS, write during the outage, recover in the documented order, verify every row",
		Timeout:     2 * time.Minute,
		Run: func(ctx context.Context, env *harness.Env) error {
			return runVPNOutage(ctx, env, o)
		},
	}
}

func init() { Register(VPNOutage(VPNOutageOptions{})) }

// outageMarks are the instants the metrics are computed from.
type outageMarks struct {
	faultAt, connectingAt, recoverStart, tunnelUpAt, ioYesAt, appliedAt time.Time
}

func runVPNOutage(ctx context.Context, env *harness.Env, o VPNOutageOptions) error {
	var m outageMarks
	if err := env.Step(ctx, "baseline: tunnel up, replica running, first row replicated", func(ctx context.Context) error {
		return baseline(ctx, env, msgBefore)
	}); err != nil {
		return err
	}

	f, err := fault.New(o.Fault, env)
	if err != nil {
		return err
	}
	// Recovery is registered before the fault is injected: it runs on every path.
	recovered := false
	env.Defer("recover "+f.Name(), func(ctx context.Context) error {
		if recovered {
			return nil
		}
		return f.Recover(ctx)
	})
	if err := env.Step(ctx, "step 1: VPN down from aws ("+f.Name()+")", func(ctx context.Context) error {
		m.faultAt = time.Now()
		return f.Inject(ctx)
	}); err != nil {
		return err
	}
	if err := env.Step(ctx, "step 2: write during the outage", func(ctx context.Context) error {
		_, err := env.Workload.Ping(ctx, env.Primary.DB(), workload.PhaseDuring, msgDuring)
		return err
	}); err != nil {
		return err
	}
	if err := env.Step(ctx, "outage seen: replica IO Connecting", func(ctx context.Context) error {
		at, err := waitOutageSeen(ctx, env, m.faultAt)
		m.connectingAt = at
		return err
	}); err != nil {
		return err
	}
	env.Metric("outage_detect_ms", m.connectingAt.Sub(m.faultAt))

	if err := env.Step(ctx, "step 3: recover in the documented order", func(ctx context.Context) error {
		m.recoverStart = time.Now()
		err := f.Recover(ctx)
		m.tunnelUpAt = time.Now()
		recovered = err == nil
		return err
	}); err != nil {
		return err
	}
	env.Metric("tunnel_recover_ms", m.tunnelUpAt.Sub(m.recoverStart))

	if err := afterRecovery(ctx, env, &m, o.BeforeVerify); err != nil {
		return err
	}
	return nil
}

// baseline checks the starting point and writes the seed's first row.
func baseline(ctx context.Context, env *harness.Env, msg string) error {
	first, second := env.TunnelSides()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tunnel.WaitHealthy(wctx, 10*time.Millisecond, first, second); err != nil {
		return fmt.Errorf("tunnel not healthy before the drill: %w", err)
	}
	if _, err := replica.WaitIO(wctx, env.Replica, harness.ReplicaPoll, replica.IOYes); err != nil {
		return fmt.Errorf("replica not replicating before the drill: %w", err)
	}
	if _, err := env.Workload.Ping(ctx, env.Primary.DB(), workload.PhaseBefore, msg); err != nil {
		return err
	}
	pos, err := env.Primary.PrimaryPosition(ctx)
	if err != nil {
		return err
	}
	return env.Replica.WaitApplied(wctx, pos, 10*time.Second)
}

// waitOutageSeen holds the outage until the replica's IO thread is seen
// Connecting, within the window its own timings give; if it never leaves Yes
// the fault had no effect and the drill fails.
func waitOutageSeen(ctx context.Context, env *harness.Env, faultAt time.Time) (time.Time, error) {
	window := outageEvidenceWindow(env.Timings)
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	// Connecting comes a moment before Last_IO_Errno is filled: wait for both,
	// the seed's "IO: Connecting … Last_IO_Error".
	st, err := replica.WaitFor(wctx, env.Replica, harness.ReplicaPoll, "IO thread Connecting with a last IO error",
		func(s replica.Status) bool { return s.IO != replica.IOYes && s.LastIOErrno != 0 })
	src := "replica/" + harness.ReplicaSite
	if err != nil && ctx.Err() == nil {
		// The check reads the timeline, which shows IO Yes throughout.
		return time.Time{}, env.Check(check.OutageObserved(env.Timeline.Events(), src, env.Timeline.Offset(faultAt), env.Timeline.Since()))
	}
	if err != nil {
		return time.Time{}, err
	}
	// The watcher may stamp the transition a poll later; give it that poll.
	waitEvent(ctx, env.Timeline, src, faultAt, func(e timeline.Event) bool {
		n, _ := e.Detail["last_io_errno"].(int)
		return e.Detail["to"] == string(st.IO) && n != 0
	})
	if err := env.Check(check.OutageObserved(env.Timeline.Events(), src, env.Timeline.Offset(faultAt), env.Timeline.Since())); err != nil {
		return st.ObservedAt, err
	}
	return st.ObservedAt, nil
}

// afterRecovery is the second half of every outage drill: IO Yes within the
// window, a row after recovery, catch-up to the primary's GTID position, rows
// equal to the ledger, tunnel healthy on both sides.
func afterRecovery(ctx context.Context, env *harness.Env, m *outageMarks, beforeVerify func(context.Context, *harness.Env) error) error {
	src := "replica/" + harness.ReplicaSite
	window := env.Timings.ReconnectWindow()
	if err := env.Step(ctx, "replica IO thread back to Yes", func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, window)
		defer cancel()
		st, err := replica.WaitIO(wctx, env.Replica, harness.ReplicaPoll, replica.IOYes)
		if err == nil {
			m.ioYesAt = st.ObservedAt
			waitEvent(ctx, env.Timeline, src, m.tunnelUpAt, func(e timeline.Event) bool { return e.Detail["to"] == string(replica.IOYes) })
		}
		return env.Check(check.IORecoveredWithin(env.Timeline.Events(), src, env.Timeline.Offset(m.tunnelUpAt), window))
	}); err != nil {
		return err
	}
	env.Metric("replica_recover_ms", m.ioYesAt.Sub(m.tunnelUpAt))

	if err := env.Step(ctx, "step 4: write after recovery and catch up", func(ctx context.Context) error {
		if _, err := env.Workload.Ping(ctx, env.Primary.DB(), workload.PhaseAfter, msgAfter); err != nil {
			return err
		}
		pos, err := env.Primary.PrimaryPosition(ctx)
		if err != nil {
			return err
		}
		werr := env.Replica.WaitApplied(ctx, pos, 30*time.Second)
		m.appliedAt = time.Now()
		applied, aerr := env.Replica.AppliedPosition(ctx)
		covered, cerr := false, errors.Join(werr, aerr)
		if cerr == nil {
			covered, cerr = replica.Covers(env.Replica.Flavor(), applied, pos)
		}
		return env.Check(check.GTIDApplied(pos, applied, covered, cerr))
	}); err != nil {
		return err
	}
	env.Metric("catchup_ms", m.appliedAt.Sub(m.tunnelUpAt))

	if beforeVerify != nil {
		if err := beforeVerify(ctx, env); err != nil {
			return err
		}
	}
	if err := env.Step(ctx, "verify: replica rows equal the ledger", func(ctx context.Context) error {
		rows, err := workload.ReadBack(ctx, env.Replica.DB(), env.Workload.DrillID)
		if err != nil {
			return err
		}
		ledger := env.Workload.Ledger
		diff := check.DiffLedger(ledger.Entries(), rows, ledger.Unknown()...)
		sum := ledger.Summary()
		env.Metric("rows_written", sum.Acked)
		env.Metric("rows_written_during_outage", sum.AckedByPhase[workload.PhaseDuring])
		env.Metric("rows_missing_on_replica", diff.RowsMissing())
		env.Metric("rows_unexpected_on_replica", diff.RowsUnexpected())
		return env.Check(diff.Result())
	}); err != nil {
		return err
	}
	return env.Step(ctx, "verify: tunnel ESTABLISHED/INSTALLED, 1 up, both sides", func(ctx context.Context) error {
		first, second := env.TunnelSides()
		a, aerr := first.GW.State(ctx, first.Want.Connection)
		b, berr := second.GW.State(ctx, second.Want.Connection)
		if err := errors.Join(aerr, berr); err != nil {
			return err
		}
		return env.Check(check.TunnelHealthy([]tunnel.State{a, b}, first.Want.Connection,
			map[string][]string{first.GW.Name(): first.Want.LocalTS, second.GW.Name(): second.Want.LocalTS},
			map[string][]string{first.GW.Name(): first.Want.RemoteTS, second.GW.Name(): second.Want.RemoteTS}))
	})
}

// waitEvent waits briefly (a few polls) for the watcher to record what the
// caller just saw, so checks that read the timeline see it too.
func waitEvent(ctx context.Context, tl *timeline.Timeline, src string, since time.Time, match func(timeline.Event) bool) {
	after := tl.Offset(since)
	t := time.NewTicker(harness.ReplicaPoll / 4)
	defer t.Stop()
	deadline := time.After(4 * harness.ReplicaPoll)
	for {
		evs := tl.Events()
		for i := len(evs) - 1; i >= 0; i-- {
			if e := evs[i]; e.At() >= after && e.Source == src && (e.Kind == timeline.KindIOState || e.Kind == timeline.KindNote) && match(e) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-t.C:
		}
	}
}

// outageEvidenceWindow is how long after the fault the replica must show the
// seed's outage state, IO Connecting with a last IO error: the IO thread
// notices the dead connection (OutageDetectWindow), then its first reconnect
// must fail, which takes at most the connect retry plus a connect timeout
// (MariaDB and MySQL use the net timeout for it) when the network drops
// packets silently. On the lab the reconnect is refused in about a second.
func outageEvidenceWindow(t replica.Timings) time.Duration {
	return t.OutageDetectWindow() + t.ConnectRetry + t.NetTimeout
}
