package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// GatewayCrash kills -9 one gateway's IKE daemon: no DELETE is sent, the
// peer keeps its SAs until its DPD finds out (docs/findings.md#gateway-crash).
// Recover starts it again and has its VPN loaded (a charon that restarts
// knows nothing until it is told), or — with Reload false, to prove that a
// drill notices — starts it bare. WaitRecovered makes sure a charon with
// its VPN runs, then that the tunnel is back: by itself within HealWait,
// else in the documented order.
//
// Dead-man's switch: none here. On a real gateway a timer on its host
// (systemd-run --on-active=MAX systemctl restart strongswan, when the
// charon loads its connections at start) could restart it without
// drdrill; the lab's charon gets its VPN over VICI from drdrill, so no
// timer on its host could bring the tunnel back.
type GatewayCrash struct {
	built
	Crashed, Survivor tunnel.Side
	// First, Second are the documented order's sides (the primary's first).
	First, Second tunnel.Side
	Gateways      target.GatewayRestarter
	TL            *timeline.Timeline
	// Reload: Recover loads the VPN into the restarted daemon (default).
	Reload     bool
	HealWait   time.Duration
	IKETimings func(ctx context.Context) (tunnel.IKETimings, error)
	IKETimeout time.Duration

	mu       sync.Mutex
	injected bool // Inject was called
	reloaded bool // restarted with its VPN loaded since the kill
	resumed  bool // injected by another process (Resume)
}

// Plan says what Inject will do; nothing is read.
func (f *GatewayCrash) Plan(context.Context, time.Duration) (Plan, error) {
	return Plan{Hosts: []string{gatewayHost(f.Crashed).String()},
		What: fmt.Sprintf("kill -9 charon on %s (no DELETE is sent: %s keeps stale SAs until its DPD notices)", f.site(), f.Survivor.GW.Name()),
		Undo: fmt.Sprintf("start charon on %s again with connection %s and its PSK loaded; then the tunnel heals, or the documented order: %s",
			f.site(), f.Crashed.Want.Connection, documentedOrder(f.First.GW.Name(), f.Second.GW.Name()))}, nil
}

// Resume marks the fault injected by another process: Recover looks over
// VICI first and starts a charon only when none runs with the connection
// loaded.
func (f *GatewayCrash) Resume(json.RawMessage) error {
	f.mu.Lock()
	f.injected, f.reloaded, f.resumed = true, false, true
	f.mu.Unlock()
	return nil
}

// BareStarter starts a gateway's daemon without its VPN configuration (the
// lab can; Reload false needs it).
type BareStarter interface {
	StartGatewayUnconfigured(ctx context.Context, site string) error
}

func (f *GatewayCrash) Name() string { return "gateway-crash" }

func (f *GatewayCrash) site() string { return f.Crashed.GW.Name() }

func (f *GatewayCrash) Inject(ctx context.Context) error {
	f.mu.Lock()
	f.injected, f.reloaded = true, false
	f.mu.Unlock()
	start := time.Now()
	if err := f.Gateways.KillGateway(ctx, f.site()); err != nil {
		return fmt.Errorf("gateway-crash: kill charon on %s: %w", f.site(), err)
	}
	f.TL.AddAt(start, "tunnel/"+f.site(), timeline.KindFault, map[string]any{"fault": f.Name(), "action": "inject", "detail": "kill -9 charon on " + f.site(),
		"duration_ms": time.Since(start).Milliseconds()})
	// The survivor heard nothing: it still holds its SAs.
	if st, err := f.Survivor.GW.State(ctx, f.Survivor.Want.Connection); err == nil {
		f.TL.Add("tunnel/"+f.Survivor.GW.Name(), timeline.KindNote, map[string]any{"event": "survivor's SAs after the crash (stale)", "summary": st.Summary()})
	}
	return nil
}

// WaitForEffect returns once the crashed daemon no longer answers.
func (f *GatewayCrash) WaitForEffect(ctx context.Context) error {
	return poll.Until(ctx, "charon on "+f.site()+" to stop answering", 20*time.Millisecond, 2*time.Second, func(ctx context.Context) (bool, string, error) {
		if charonAnswers(ctx, f.Crashed.GW) {
			return false, "charon answers", nil
		}
		return true, "", nil
	})
}

// Recover starts the daemon again (with its VPN loaded unless Reload is
// false). Nothing to do when Inject never ran or a restart already did it.
func (f *GatewayCrash) Recover(ctx context.Context) error {
	f.mu.Lock()
	injected, reloaded := f.injected, f.reloaded
	f.mu.Unlock()
	if !injected || reloaded {
		return nil
	}
	f.mu.Lock()
	resumed := f.resumed
	f.mu.Unlock()
	if resumed {
		return f.ensureLoaded(ctx)
	}
	if !f.Reload {
		bs, ok := f.Gateways.(BareStarter)
		if !ok {
			return fmt.Errorf("gateway-crash: reload=false: the target cannot start a gateway without its configuration")
		}
		f.TL.Add("tunnel/"+f.site(), timeline.KindFault, map[string]any{"fault": f.Name(), "action": "restart",
			"detail": "charon on " + f.site() + " started WITHOUT its connection and PSK (reload=false)"})
		return bs.StartGatewayUnconfigured(ctx, f.site())
	}
	return f.restart(ctx)
}

// restart starts the daemon again with its VPN loaded.
func (f *GatewayCrash) restart(ctx context.Context) error {
	start := time.Now()
	err := f.Gateways.RestartGateway(ctx, f.site())
	d := map[string]any{"fault": f.Name(), "action": "restart", "detail": "charon on " + f.site() + " started, connection and PSK loaded over VICI",
		"duration_ms": time.Since(start).Milliseconds()}
	if err != nil {
		d["error"] = err.Error()
		f.TL.AddAt(start, "tunnel/"+f.site(), timeline.KindFault, d)
		return fmt.Errorf("gateway-crash: restart charon on %s: %w", f.site(), err)
	}
	f.mu.Lock()
	f.reloaded = true
	f.mu.Unlock()
	f.TL.AddAt(start, "tunnel/"+f.site(), timeline.KindFault, d)
	return nil
}

// WaitRecovered makes sure the daemon runs with its VPN loaded (replacing
// one started without it), then that the tunnel is healthy: healed by
// itself within HealWait, else (at once when resumed) in the documented
// order.
func (f *GatewayCrash) WaitRecovered(ctx context.Context) error {
	f.mu.Lock()
	injected, reloaded := f.injected, f.reloaded
	f.mu.Unlock()
	if !injected {
		return nil
	}
	if !reloaded {
		if err := f.ensureLoaded(ctx); err != nil {
			return fmt.Errorf("gateway-crash: recover: %w", err)
		}
	}
	heal := f.HealWait
	if heal == 0 && f.IKETimings != nil {
		if it, err := f.IKETimings(ctx); err == nil {
			heal = it.HealWindow()
		}
	}
	f.mu.Lock()
	if f.resumed {
		heal = 0 // recover restores; nobody is watching it heal
	}
	f.mu.Unlock()
	return ensureTunnel(ctx, f.TL, f.Name(), f.First, f.Second, heal, f.IKETimeout)
}

// ensureLoaded makes sure a charon runs on the crashed site with its
// connection loaded, asking over VICI first: one that does is left alone
// (never a second charon), one without its connection is replaced, and a
// dead one is started.
func (f *GatewayCrash) ensureLoaded(ctx context.Context) error {
	gw, conn := f.Crashed.GW, f.Crashed.Want.Connection
	if charonAnswers(ctx, gw) {
		if _, err := gw.Conn(ctx, conn); err == nil {
			f.mu.Lock()
			f.reloaded = true
			f.mu.Unlock()
			f.TL.Add("tunnel/"+f.site(), timeline.KindFault, timeline.Fault{Fault: f.Name(), Action: "recover",
				Detail: "charon on " + f.site() + " runs with connection " + conn + " loaded: nothing to restart"})
			return nil
		}
		// Alive without its connection (started bare): replace it.
		if err := f.Gateways.KillGateway(ctx, f.site()); err != nil {
			return fmt.Errorf("kill charon on %s: %w", f.site(), err)
		}
	}
	return f.restart(ctx)
}

// charonAnswers reports whether the site's charon answers over VICI.
func charonAnswers(ctx context.Context, gw *tunnel.Gateway) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := gw.Version(ctx)
	return err == nil
}

func init() {
	Register(Spec{Name: "gateway-crash",
		Description: "kill -9 one gateway's charon (default: the replica's site), start it again with its VPN loaded over VICI; the tunnel comes back",
		Needs:       []target.Capability{target.CapRestartGateway},
		Params: []Param{{Name: "site", Default: "the replica's site", Doc: "whose gateway is killed"},
			{Name: "reload", Default: "true", Doc: "false starts the daemon again without its VPN (the tunnel cannot come back; for tests)"},
			{Name: "heal_wait", Default: "the heal window of the gateways' IKE timings", Doc: "how long the tunnel may take to heal by itself before the documented order"},
			{Name: "ike_timeout", Default: "10s", Doc: "bound of each IKE exchange of a documented-order recovery"}},
		New: func(t target.Target, tl *timeline.Timeline, p Params) (Fault, error) {
			if err := target.Validate(t); err != nil {
				return nil, err
			}
			crashed := target.Replica(t)
			if s := p.String("site", ""); s != "" {
				var err error
				if crashed, err = target.SiteNamed(t, s); err != nil {
					return nil, fmt.Errorf("gateway-crash: %w", err)
				}
			}
			reload, err := p.Bool("reload", true)
			if err != nil {
				return nil, err
			}
			heal, err := p.Duration("heal_wait", 0)
			if err != nil {
				return nil, err
			}
			ike, err := p.Duration("ike_timeout", 10*time.Second)
			if err != nil {
				return nil, err
			}
			return &GatewayCrash{Crashed: crashed.Side(), Survivor: target.Other(t, crashed).Side(),
				First: target.Primary(t).Side(), Second: target.Replica(t).Side(), Gateways: t.(target.GatewayRestarter), TL: tl,
				Reload: reload, HealWait: heal, IKETimings: t.IKETimings, IKETimeout: ike}, nil
		}})
}
