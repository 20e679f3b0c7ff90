package fault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// GatewayCrash kills -9 one gateway's charon: no DELETE is sent, the peer
// keeps its SAs until its DPD finds out. Restart starts charon again and
// loads the connection and the PSK back over VICI (a charon that restarts
// knows nothing until it is told). Recover does whatever is still missing:
// a charon that runs with its VPN loaded, then the tunnel — healed by
// itself within HealWait, or else brought back in the documented order.
type GatewayCrash struct {
	// Site is the gateway whose charon is killed (default "onprem").
	Site     string
	Gateways GatewayTarget
	Tunnel   TunnelTarget
	TL       *timeline.Timeline
	// HealWait is how long Recover waits for the tunnel to come back by
	// itself (the survivor's DPD restart) before it recovers in the
	// documented order.
	HealWait   time.Duration
	IKETimeout time.Duration

	mu       sync.Mutex
	injected bool // Inject was called
	killed   bool // the kill succeeded
	reloaded bool // charon was restarted with its VPN loaded since the kill
}

// DefaultCrashSite is the gateway killed unless told otherwise: the replica's.
const DefaultCrashSite = "onprem"

// NewGatewayCrash builds the fault for a site ("" is DefaultCrashSite).
func NewGatewayCrash(g GatewayTarget, t TunnelTarget, site string) *GatewayCrash {
	if site == "" {
		site = DefaultCrashSite
	}
	return &GatewayCrash{Site: site, Gateways: g, Tunnel: t, TL: t.EventLog(), HealWait: 10 * time.Second, IKETimeout: 10 * time.Second}
}

func (f *GatewayCrash) Name() string { return "gateway-crash" }

// Sides returns the crashed gateway's side and the survivor's.
func (f *GatewayCrash) Sides() (crashed, survivor tunnel.Side, err error) {
	a, b := f.Tunnel.TunnelSides()
	switch f.Site {
	case a.GW.Name():
		return a, b, nil
	case b.GW.Name():
		return b, a, nil
	}
	return tunnel.Side{}, tunnel.Side{}, fmt.Errorf("gateway-crash: no gateway %q (have %s, %s)", f.Site, a.GW.Name(), b.GW.Name())
}

func (f *GatewayCrash) Inject(ctx context.Context) error {
	if _, _, err := f.Sides(); err != nil {
		return err
	}
	f.mu.Lock()
	f.injected, f.reloaded = true, false
	f.mu.Unlock()
	start := time.Now()
	if err := f.Gateways.KillGateway(ctx, f.Site); err != nil {
		return fmt.Errorf("gateway-crash: kill charon on %s: %w", f.Site, err)
	}
	f.mu.Lock()
	f.killed = true
	f.mu.Unlock()
	f.TL.AddAt(start, "tunnel/"+f.Site, timeline.KindFault, map[string]any{"fault": f.Name(), "action": "inject", "detail": "kill -9 charon on " + f.Site,
		"duration_ms": time.Since(start).Milliseconds()})
	return nil
}

// Restart starts the killed charon again and loads its VPN over VICI.
func (f *GatewayCrash) Restart(ctx context.Context) error {
	start := time.Now()
	err := f.Gateways.RestartGateway(ctx, f.Site)
	d := map[string]any{"fault": f.Name(), "action": "restart", "detail": "charon on " + f.Site + " started, connection and PSK loaded over VICI",
		"duration_ms": time.Since(start).Milliseconds()}
	if err != nil {
		d["error"] = err.Error()
		f.TL.AddAt(start, "tunnel/"+f.Site, timeline.KindFault, d)
		return fmt.Errorf("gateway-crash: restart charon on %s: %w", f.Site, err)
	}
	f.mu.Lock()
	f.reloaded = true
	f.mu.Unlock()
	f.TL.AddAt(start, "tunnel/"+f.Site, timeline.KindFault, d)
	return nil
}

// charonAnswers reports whether the site's charon answers over VICI.
func charonAnswers(ctx context.Context, gw *tunnel.Gateway) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := gw.Version(ctx)
	return err == nil
}

// Recover makes sure the site's charon runs with its VPN loaded (killing
// and restarting one that was started some other way since the kill, which
// may lack it), then that the tunnel is healthy: by itself within HealWait,
// else in the documented order.
func (f *GatewayCrash) Recover(ctx context.Context) error {
	f.mu.Lock()
	injected, killed, reloaded := f.injected, f.killed, f.reloaded
	f.mu.Unlock()
	if !injected {
		return nil
	}
	crashed, _, err := f.Sides()
	if err != nil {
		return err
	}
	if !reloaded {
		if killed || !charonAnswers(ctx, crashed.GW) {
			// A charon started since the kill without going through Restart
			// may run without its connection: replace it.
			if err := f.Gateways.KillGateway(ctx, f.Site); err != nil {
				return fmt.Errorf("gateway-crash: recover: kill charon on %s: %w", f.Site, err)
			}
			if err := f.Restart(ctx); err != nil {
				return fmt.Errorf("gateway-crash: recover: %w", err)
			}
		}
	}
	return ensureTunnel(ctx, f.Tunnel, f.TL, f.Name(), f.HealWait, f.IKETimeout)
}

// ensureTunnel returns when both gateways are healthy: healed by themselves
// within heal while a gateway is trying (has an IKE SA, e.g. CONNECTING
// after a DPD restart; with none nothing comes back without an initiate),
// else brought back in the documented order.
func ensureTunnel(ctx context.Context, t TunnelTarget, tl *timeline.Timeline, name string, heal, ikeTimeout time.Duration) error {
	first, second := t.TunnelSides()
	if !anyIKESA(ctx, first, second) {
		heal = 0
	}
	wctx, cancel := context.WithTimeout(ctx, heal)
	err := tunnel.WaitHealthy(wctx, 20*time.Millisecond, first, second)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	tl.Add("fault", timeline.KindFault, map[string]any{"fault": name, "action": "recover",
		"detail": "tunnel did not heal by itself: documented order " + first.GW.Name() + " down; " + second.GW.Name() + " down, " +
			second.GW.Name() + " up; " + first.GW.Name() + " up", "last_seen": err.Error()})
	return tunnel.RecoverInOrder(ctx, first, second, tl, ikeTimeout)
}

// anyIKESA reports whether any side has an IKE SA of its connection.
func anyIKESA(ctx context.Context, sides ...tunnel.Side) bool {
	for _, s := range sides {
		if st, err := s.GW.State(ctx, s.Want.Connection); err == nil && len(st.IKESAs) > 0 {
			return true
		}
	}
	return false
}

func init() {
	Register("gateway-crash", "kill -9 one gateway's charon (default onprem), start it again with its VPN loaded over VICI; the tunnel comes back",
		func(t Target) (Fault, error) {
			g, ok := t.(GatewayTarget)
			if !ok {
				return nil, errors.New("gateway-crash needs a target whose gateways it can kill and restart (a lab)")
			}
			tt, ok := t.(TunnelTarget)
			if !ok {
				return nil, errors.New("gateway-crash needs a target with two gateways")
			}
			return NewGatewayCrash(g, tt, ""), nil
		})
}
