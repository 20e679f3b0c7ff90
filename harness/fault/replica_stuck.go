package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// DefaultStuckRetry is the connect retry ReplicaStuck sets: an hour, so a
// replica that lost its source sleeps far past any drill window.
const DefaultStuckRetry = time.Hour

// ReplicaStuck reproduces seed troubleshooting 2 — the replica stays in
// Connecting after the VPN is back — for real: while the tunnel is up it
// sets a very long connect retry on the replica (keeping its heartbeat:
// docs/findings.md#change-master-resets-heartbeat), then takes the tunnel
// down as the seed's step 1 does. The IO thread's first reconnect fails and
// it sleeps the connect retry, so after the tunnel is back it stays
// Connecting until STOP/START REPLICA.
//
// Recover restores the timings read before Inject changed anything (which
// restarts the replica threads) and brings the tunnel back in the
// documented order if it is not healthy; WaitRecovered waits for the tunnel
// and the IO thread. Drills that want to see the replica stuck recover the
// tunnel themselves and leave Recover for the end.
//
// Dead-man's switch: none. The database has no timer drdrill could arm
// without writing more than the fault itself (the event scheduler is
// usually off, and an event is a change of its own); the tunnel part is
// tunnel-down's (none either). Plan reads the original timings so that the
// journal carries them: drdrill recover restores them after a kill -9.
type ReplicaStuck struct {
	built
	Replica       *replica.Conn
	First, Second tunnel.Side
	TL            *timeline.Timeline
	StuckRetry    time.Duration
	IKETimeout    time.Duration

	mu            sync.Mutex
	orig          replica.Timings
	saved         bool // orig holds what the replica had before Inject
	planned       bool // orig was read by Plan (Inject uses it)
	tunnelTouched bool // Inject tried to take the tunnel down
	unknownOrig   bool // resumed without the original timings
}

// SaneConnectRetry is the connect retry a resumed fault restores when the
// journal lacks the original timings: the servers' default.
const SaneConnectRetry = 60 * time.Second

// stuckData is what the journal keeps: the timings before the fault.
type stuckData struct {
	NetTimeoutMS   int64 `json:"net_timeout_ms"`
	ConnectRetryMS int64 `json:"connect_retry_ms"`
	HeartbeatMS    int64 `json:"heartbeat_ms"`
}

// Plan reads the replica's timings (SELECT only): Inject changes them from
// these, and Data keeps them for a later recover.
func (f *ReplicaStuck) Plan(ctx context.Context, _ time.Duration) (Plan, error) {
	orig, err := f.readOriginal(ctx)
	if err != nil {
		return Plan{}, err
	}
	f.mu.Lock()
	f.orig, f.planned = orig, true
	f.mu.Unlock()
	data, err := json.Marshal(stuckData{NetTimeoutMS: orig.NetTimeout.Milliseconds(), ConnectRetryMS: orig.ConnectRetry.Milliseconds(), HeartbeatMS: orig.Heartbeat.Milliseconds()})
	if err != nil {
		return Plan{}, err
	}
	conn := f.First.Want.Connection
	return Plan{Hosts: []string{target.Host{Site: f.Second.GW.Name(), Kind: target.DBHost}.String(), gatewayHost(f.First).String()},
		What: fmt.Sprintf("connect retry %s → %s on the replica (heartbeat kept at %s), then terminate IKE SA %s on %s",
			orig.ConnectRetry, f.StuckRetry, orig.Heartbeat, conn, f.First.GW.Name()),
		Undo: fmt.Sprintf("the tunnel in the documented order (%s); on the replica: STOP SLAVE; CHANGE MASTER TO MASTER_CONNECT_RETRY=%d, MASTER_HEARTBEAT_PERIOD=%s; START SLAVE (MySQL: REPLICA/SOURCE)",
			documentedOrder(f.First.GW.Name(), f.Second.GW.Name()), int64(orig.ConnectRetry/time.Second), strconv.FormatFloat(orig.Heartbeat.Seconds(), 'f', 3, 64)),
		Data: data}, nil
}

func (f *ReplicaStuck) readOriginal(ctx context.Context) (replica.Timings, error) {
	orig, err := f.Replica.Timings(ctx)
	if err != nil {
		return orig, fmt.Errorf("replica stuck: %w", err)
	}
	if orig.ConnectRetry <= 0 {
		return orig, errors.New("replica stuck: the server is not a configured replica (no connect retry)")
	}
	return orig, nil
}

// Resume marks the fault injected by another process, with the original
// timings from data. Without them, Recover restores SaneConnectRetry (and
// keeps the heartbeat and net timeout it finds) when the connect retry is
// longer.
func (f *ReplicaStuck) Resume(data json.RawMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tunnelTouched = true
	if len(data) == 0 {
		f.unknownOrig = true
		return nil
	}
	var d stuckData
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("replica-stuck-connecting: resume: %w", err)
	}
	orig := replica.Timings{NetTimeout: time.Duration(d.NetTimeoutMS) * time.Millisecond,
		ConnectRetry: time.Duration(d.ConnectRetryMS) * time.Millisecond, Heartbeat: time.Duration(d.HeartbeatMS) * time.Millisecond}
	if orig.ConnectRetry < time.Second || orig.NetTimeout < time.Second || orig.Heartbeat < 0 {
		return fmt.Errorf("replica-stuck-connecting: resume: journalled timings %+v are not a replica's", d)
	}
	f.orig, f.saved = orig, true
	return nil
}

func (f *ReplicaStuck) Name() string { return "replica-stuck-connecting" }

// Original returns the timings the replica had before Inject (ok false
// before Inject read them).
func (f *ReplicaStuck) Original() (replica.Timings, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.orig, f.saved
}

func (f *ReplicaStuck) Inject(ctx context.Context) error {
	f.mu.Lock()
	orig, planned := f.orig, f.planned
	f.mu.Unlock()
	if !planned {
		var err error
		if orig, err = f.readOriginal(ctx); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.orig, f.saved = orig, true
	f.mu.Unlock()

	stuck := replica.Timings{ConnectRetry: f.StuckRetry, Heartbeat: orig.Heartbeat}
	if err := ApplyReplicaTimings(ctx, f.Replica, stuck, false); err != nil {
		return fmt.Errorf("replica stuck: %w", err)
	}
	// The replica reconnects at once (the tunnel is up); wait for it, so
	// that the outage starts from a running IO thread.
	wctx, cancel := context.WithTimeout(ctx, orig.ReconnectWindow())
	_, err := replica.WaitIO(wctx, f.Replica, 20*time.Millisecond, replica.IOYes)
	cancel()
	if err != nil {
		return fmt.Errorf("replica stuck: after changing the connect retry: %w", err)
	}
	now, err := f.Replica.Timings(ctx)
	if err != nil {
		return fmt.Errorf("replica stuck: %w", err)
	}
	if now.ConnectRetry != f.StuckRetry || now.Heartbeat != orig.Heartbeat {
		return fmt.Errorf("replica stuck: connect retry %s heartbeat %s after CHANGE MASTER, want %s and %s",
			now.ConnectRetry, now.Heartbeat, f.StuckRetry, orig.Heartbeat)
	}
	f.TL.Add("replica", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "inject",
		"detail":          fmt.Sprintf("connect retry %s → %s (heartbeat kept at %s)", orig.ConnectRetry, now.ConnectRetry, now.Heartbeat),
		"connect_retry_s": now.ConnectRetry.Seconds(), "original_connect_retry_s": orig.ConnectRetry.Seconds()})

	f.mu.Lock()
	f.tunnelTouched = true
	f.mu.Unlock()
	_, err = f.First.GW.Down(ctx, f.First.Want.Connection, 2*time.Second)
	if errors.Is(err, tunnel.ErrNoMatchingSA) {
		return fmt.Errorf("replica stuck: tunnel down from %s: nothing to terminate: the tunnel was not up", f.First.GW.Name())
	}
	if err != nil {
		return fmt.Errorf("replica stuck: tunnel down from %s: %w", f.First.GW.Name(), err)
	}
	f.TL.Add("tunnel/"+f.First.GW.Name(), timeline.KindFault, map[string]any{"fault": f.Name(), "action": "inject", "detail": "terminate IKE SA " + f.First.Want.Connection})
	return nil
}

// Recover brings the tunnel back (documented order) when it is not healthy
// and restores the replica's original timings, verifying both. Each part
// runs even when the other fails. Safe when Inject never ran.
func (f *ReplicaStuck) Recover(ctx context.Context) error {
	f.mu.Lock()
	orig, saved, touched, unknown := f.orig, f.saved, f.tunnelTouched, f.unknownOrig
	f.mu.Unlock()
	var errs []error
	if touched {
		if err := healthyNow(ctx, f.First, f.Second); err != nil {
			f.TL.Add("fault", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "recover", "detail": "documented order: " +
				f.First.GW.Name() + " down; " + f.Second.GW.Name() + " down, " + f.Second.GW.Name() + " up; " + f.First.GW.Name() + " up"})
			if err := tunnel.RecoverInOrder(ctx, f.First, f.Second, f.TL, f.IKETimeout); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if unknown {
		var err error
		if orig, saved, err = f.saneTimings(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if saved {
		if err := f.restore(ctx, orig); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// saneTimings are the replica's current timings with a connect retry of
// at most SaneConnectRetry (what a resumed fault restores without the
// journalled originals); ok false when the replica is not configured.
func (f *ReplicaStuck) saneTimings(ctx context.Context) (replica.Timings, bool, error) {
	cur, err := f.Replica.Timings(ctx)
	if err != nil {
		return cur, false, fmt.Errorf("replica stuck: read timings: %w", err)
	}
	if cur.ConnectRetry <= 0 {
		return cur, false, nil
	}
	f.TL.Add("replica", timeline.KindNote, timeline.Note{"event": "original timings not journalled: restoring a connect retry of at most " + SaneConnectRetry.String(),
		"connect_retry_s": cur.ConnectRetry.Seconds()})
	cur.ConnectRetry = min(cur.ConnectRetry, SaneConnectRetry)
	return cur, true, nil
}

// WaitForEffect returns once the replica's IO thread has left Yes with an
// IO error (its reconnect failed: it now sleeps the connect retry).
func (f *ReplicaStuck) WaitForEffect(ctx context.Context) error {
	orig, _ := f.Original()
	ctx, cancel := context.WithTimeout(ctx, orig.OutageDetectWindow()+orig.ConnectRetry+orig.NetTimeout)
	defer cancel()
	_, err := replica.WaitFor(ctx, f.Replica, 20*time.Millisecond, "IO thread Connecting with a last IO error",
		func(s replica.Status) bool { return s.IO != replica.IOYes && s.LastIOErrno != 0 })
	return err
}

// WaitRecovered returns once the tunnel is healthy and the IO thread Yes.
func (f *ReplicaStuck) WaitRecovered(ctx context.Context) error {
	f.mu.Lock()
	orig, saved, touched := f.orig, f.saved || f.unknownOrig, f.tunnelTouched
	f.mu.Unlock()
	if touched {
		if err := ensureTunnel(ctx, f.TL, f.Name(), f.First, f.Second, 0, f.IKETimeout); err != nil {
			return err
		}
	}
	if saved {
		wctx, cancel := context.WithTimeout(ctx, orig.ReconnectWindow())
		defer cancel()
		if _, err := replica.WaitIO(wctx, f.Replica, 20*time.Millisecond, replica.IOYes); err != nil {
			return fmt.Errorf("replica stuck: after recovery: %w", err)
		}
	}
	return nil
}

func (f *ReplicaStuck) restore(ctx context.Context, orig replica.Timings) error {
	cur, err := f.Replica.Timings(ctx)
	if err != nil {
		return fmt.Errorf("replica stuck: restore timings: %w", err)
	}
	if SameTimings(cur, orig) {
		f.TL.Add("replica", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "recover", "detail": "timings already as before: connect retry " + orig.ConnectRetry.String()})
		return nil
	}
	if err := ApplyReplicaTimings(ctx, f.Replica, orig, cur.NetTimeout != orig.NetTimeout); err != nil {
		return fmt.Errorf("replica stuck: restore timings: %w", err)
	}
	now, err := f.Replica.Timings(ctx)
	if err != nil {
		return fmt.Errorf("replica stuck: restore timings: %w", err)
	}
	if !SameTimings(now, orig) {
		return fmt.Errorf("replica stuck: restore timings: connect retry %s heartbeat %s net timeout %s, want %s %s %s",
			now.ConnectRetry, now.Heartbeat, now.NetTimeout, orig.ConnectRetry, orig.Heartbeat, orig.NetTimeout)
	}
	f.TL.Add("replica", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "recover",
		"detail": fmt.Sprintf("timings restored: connect retry %s → %s, heartbeat %s → %s", cur.ConnectRetry, now.ConnectRetry, cur.Heartbeat, now.Heartbeat)})
	// Restoring restarted the replica threads: see the IO thread back.
	wctx, cancel := context.WithTimeout(ctx, orig.ReconnectWindow())
	defer cancel()
	if _, err := replica.WaitIO(wctx, f.Replica, 20*time.Millisecond, replica.IOYes); err != nil {
		return fmt.Errorf("replica stuck: after restoring the timings: %w", err)
	}
	return nil
}

// SameTimings compares what the fault changes and restores.
func SameTimings(a, b replica.Timings) bool {
	return a.ConnectRetry == b.ConnectRetry && a.Heartbeat == b.Heartbeat && a.NetTimeout == b.NetTimeout
}

// ApplyReplicaTimings sets the connect retry and heartbeat of t (and, with
// netTimeout, the net timeout) on one session: stop, change, start.
func ApplyReplicaTimings(ctx context.Context, r *replica.Conn, t replica.Timings, netTimeout bool) error {
	stmts, err := r.TimingStatements(t, netTimeout)
	if err != nil {
		return err
	}
	conn, err := r.DB().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func init() {
	Register(Spec{Name: "replica-stuck-connecting",
		Description: "set an hour's connect retry on the replica, then take the tunnel down from the primary's site: the IO thread stays Connecting after the tunnel is back; Recover restores the timings",
		Params:      []Param{{Name: "connect_retry", Default: "1h", Doc: "the connect retry set on the replica"}},
		New: func(t target.Target, tl *timeline.Timeline, p Params) (Fault, error) {
			first, second, err := sides(t, "")
			if err != nil {
				return nil, fmt.Errorf("replica-stuck-connecting needs a target with two gateways and a replica: %w", err)
			}
			retry, err := p.Duration("connect_retry", DefaultStuckRetry)
			if err != nil {
				return nil, err
			}
			return &ReplicaStuck{Replica: target.Replica(t).DB, First: first.Side(), Second: second.Side(), TL: tl,
				StuckRetry: retry, IKETimeout: 10 * time.Second}, nil
		}})
}
