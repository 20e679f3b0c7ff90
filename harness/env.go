package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// Site names as in the seed; the first is where the primary and the fault are.
const (
	PrimarySite = lab.SiteAWS
	ReplicaSite = lab.SiteOnPrem
)

// Env is one drill's world.
type Env struct {
	Target   string
	Lab      *lab.Info   // the embedded lab, when the target is one
	Backend  lab.Backend // its backend (for faults that need a host)
	Gateways map[string]*tunnel.Gateway
	Expect   map[string]tunnel.Expectation
	Primary  *replica.Conn
	Replica  *replica.Conn
	Timings  replica.Timings // read from the replica at the start
	Timeline *timeline.Timeline
	Workload *workload.Workload
	Log      *slog.Logger

	mu          sync.Mutex
	checks      []check.Result
	steps       []report.Step
	metrics     report.Metrics
	environment map[string]any
	secrets     []string
	handles     *lab.Handles
	diagnosis   string
	remediated  []string
	deferred    []deferred
	faultActive bool
}

// OpenLab connects an Env to a running lab through its unix sockets.
func OpenLab(ctx context.Context, info *lab.Info, b lab.Backend, log *slog.Logger) (*Env, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h, err := lab.Connect(ctx, info)
	if err != nil {
		return nil, err
	}
	e := &Env{
		Target: "lab", Lab: info, Backend: b, Gateways: h.Gateways,
		Expect:   map[string]tunnel.Expectation{},
		Primary:  h.DBs[PrimarySite],
		Replica:  h.DBs[ReplicaSite],
		Timeline: timeline.New(),
		Log:      log,
		handles:  h,
		environment: map[string]any{
			"backend": info.Backend, "lab_dir": info.Dir, "lab_id": info.ID,
			"lab_timings": info.Timings,
		},
	}
	for _, s := range lab.Sites {
		e.Expect[s] = lab.Expectation(info, s)
	}
	if sec, err := lab.LoadSecrets(info.Dir); err == nil {
		e.secrets = sec.Values()
	}
	e.Workload = workload.New(workload.NewDrillID())
	e.Workload.SetTimeline(e.Timeline)
	if err := e.readEnvironment(ctx); err != nil {
		h.Close()
		return nil, err
	}
	return e, nil
}

// readEnvironment records versions and the replica's own timings, from which
// drills derive their windows (not from what the lab meant to configure).
func (e *Env) readEnvironment(ctx context.Context) error {
	t, err := e.Replica.Timings(ctx)
	if err != nil {
		return fmt.Errorf("read replica timings: %w", err)
	}
	e.Timings = t
	e.environment["replica_timings"] = map[string]any{
		"net_timeout_s": t.NetTimeout.Seconds(), "connect_retry_s": t.ConnectRetry.Seconds(),
		"heartbeat_s": t.Heartbeat.Seconds(), "retry_count": t.RetryCount,
	}
	e.environment["primary_version"] = e.Primary.Version()
	e.environment["replica_version"] = e.Replica.Version()
	e.environment["flavor"] = string(e.Replica.Flavor())
	for name, g := range e.Gateways {
		if v, err := g.Version(ctx); err == nil {
			e.environment["strongswan_"+name] = v["daemon"] + " " + v["version"]
		}
	}
	return nil
}

// Close releases the connections (not the lab).
func (e *Env) Close() error {
	if e.handles != nil {
		return e.handles.Close()
	}
	return nil
}

// Secrets are the strings reports must never carry.
func (e *Env) Secrets() []string { return e.secrets }

// TunnelSides implements fault.TunnelTarget: the primary's side first.
func (e *Env) TunnelSides() (first, second tunnel.Side) {
	return tunnel.Side{GW: e.Gateways[PrimarySite], Want: e.Expect[PrimarySite]},
		tunnel.Side{GW: e.Gateways[ReplicaSite], Want: e.Expect[ReplicaSite]}
}

// EventLog implements fault.TunnelTarget.
func (e *Env) EventLog() *timeline.Timeline { return e.Timeline }

// ErrCheckFailed marks a drill stopped by a failed check.
var ErrCheckFailed = errors.New("check failed")

// Check records a verdict. It returns an error wrapping ErrCheckFailed when
// the verdict is fail, so that a drill can stop at a check it cannot go past:
//
//	if err := env.Check(check.X(...)); err != nil { return err }
func (e *Env) Check(r check.Result) error {
	e.mu.Lock()
	e.checks = append(e.checks, r)
	e.mu.Unlock()
	e.Timeline.Add("check", "check", map[string]any{"name": r.Name, "verdict": r.Verdict, "observed": r.Observed})
	if r.Verdict != check.Pass {
		return fmt.Errorf("%w: %s: %s", ErrCheckFailed, r.Name, r.Observed)
	}
	return nil
}

// Step runs one named step of a drill and records it with its timing.
func (e *Env) Step(ctx context.Context, name string, f func(ctx context.Context) error) error {
	start := time.Now()
	e.Timeline.AddAt(start, "step", timeline.KindStep, map[string]any{"step": name, "event": "start"})
	err := f(ctx)
	end := time.Now()
	st := report.Step{Name: name, Verdict: "pass", TMS: ms(e.Timeline.Offset(start)), DurationMS: ms(end.Sub(start))}
	detail := map[string]any{"step": name, "event": "end", "verdict": "pass"}
	if err != nil {
		st.Verdict = "fail"
		if !errors.Is(err, ErrCheckFailed) {
			st.Verdict = "error"
		}
		st.Detail = map[string]any{"error": err.Error()}
		detail["verdict"], detail["error"] = st.Verdict, err.Error()
	}
	e.Timeline.AddAt(end, "step", timeline.KindStep, detail)
	e.mu.Lock()
	e.steps = append(e.steps, st)
	e.mu.Unlock()
	return err
}

// Metric sets a named metric: the contract's names go into their fields,
// anything else into metrics.extra.
func (e *Env) Metric(name string, v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	setMetric(&e.metrics, name, v)
}

// setMetric puts a value under its contract name; durations are ms.
func setMetric(m *report.Metrics, name string, v any) {
	toMS := func() *float64 {
		switch x := v.(type) {
		case time.Duration:
			return report.MS(x)
		case float64:
			return &x
		}
		return nil
	}
	toInt := func() int64 {
		switch x := v.(type) {
		case int:
			return int64(x)
		case int64:
			return x
		}
		return 0
	}
	switch name {
	case "outage_detect_ms":
		m.OutageDetectMS = toMS()
	case "tunnel_recover_ms":
		m.TunnelRecoverMS = toMS()
	case "replica_recover_ms":
		m.ReplicaRecoverMS = toMS()
	case "catchup_ms":
		m.CatchupMS = toMS()
	case "rows_written":
		m.RowsWritten = toInt()
	case "rows_written_during_outage":
		m.RowsWrittenDuringOutage = toInt()
	case "rows_missing_on_replica":
		m.RowsMissingOnReplica = toInt()
	case "rows_unexpected_on_replica":
		m.RowsUnexpectedOnReplica = toInt()
	default:
		if m.Extra == nil {
			m.Extra = map[string]any{}
		}
		if d, ok := v.(time.Duration); ok {
			v = *report.MS(d)
		}
		m.Extra[name] = v
	}
}

// Remediated records that the harness had to repair something for the drill
// to pass (the report says so).
func (e *Env) Remediated(what string) {
	e.mu.Lock()
	e.remediated = append(e.remediated, what)
	e.mu.Unlock()
	e.Timeline.Add("harness", timeline.KindRemediation, map[string]any{"action": what})
}

// Diagnose sets the one-line why of a failure (the first one wins).
func (e *Env) Diagnose(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.diagnosis == "" {
		e.diagnosis = line
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ExecHost runs a command inside a lab host (a namespace or container), for
// faults such as an nftables blackhole. It implements fault.HostTarget.
func (e *Env) ExecHost(ctx context.Context, host string, argv ...string) ([]byte, error) {
	if e.Lab == nil || e.Backend == nil {
		return nil, fmt.Errorf("exec on host %s: only lab targets have hosts", host)
	}
	return e.Backend.Exec(ctx, e.Lab, host, argv...)
}

// KillGateway kills -9 a site's charon. It implements fault.GatewayTarget.
func (e *Env) KillGateway(ctx context.Context, site string) error {
	if e.Lab == nil || e.Backend == nil {
		return fmt.Errorf("kill gateway %s: only lab targets can be killed", site)
	}
	return e.Backend.KillGateway(ctx, e.Lab, site)
}

// RestartGateway starts a site's charon again and loads the VPN into it.
// It implements fault.GatewayTarget.
func (e *Env) RestartGateway(ctx context.Context, site string) error {
	if e.Lab == nil || e.Backend == nil {
		return fmt.Errorf("restart gateway %s: only lab targets can be restarted", site)
	}
	if err := lab.RestartGateway(ctx, e.Lab, e.Backend, site); err != nil {
		return err
	}
	if info, err := lab.Load(e.Lab.Dir); err == nil {
		e.Lab = info // new pid
	}
	return nil
}

// OpenWriterPool opens a connection pool of its own to the primary for a
// workload that holds its connections for a whole drill (a steady writer),
// so that the drill's own queries on env.Primary never wait behind it.
// The caller closes it.
func (e *Env) OpenWriterPool(ctx context.Context, conns int) (*replica.Conn, error) {
	if e.Lab == nil {
		return nil, errors.New("open writer pool: only lab targets are supported yet")
	}
	c, err := replica.OpenSocket(ctx, e.Lab.Sites[PrimarySite].DB.Socket, "root", "")
	if err != nil {
		return nil, err
	}
	c.DB().SetMaxOpenConns(conns + 1)
	c.DB().SetMaxIdleConns(conns + 1)
	return c, nil
}

// ReplicaConn implements fault.ReplicaTarget.
func (e *Env) ReplicaConn() *replica.Conn { return e.Replica }

// FaultInPlace records whether a fault is injected and not yet recovered:
// while it is, a down tunnel and a Connecting replica are the fault's doing,
// not a diagnosis.
func (e *Env) FaultInPlace(active bool) {
	e.mu.Lock()
	e.faultActive = active
	e.mu.Unlock()
}
