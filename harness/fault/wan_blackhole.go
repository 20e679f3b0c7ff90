package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// Names the wan-blackhole fault owns on each gateway, so that Recover
// removes exactly what Inject added and nothing else.
const (
	// BlackholeTable is the nftables table (family inet) of the fault.
	BlackholeTable = "drdrill_blackhole"
	// BlackholeRouteProto marks the blackhole routes that drdrill before
	// the dead-man's switch added (iproute2 "proto"); Recover still removes
	// them, so that a journal written by an older drdrill is undone too.
	BlackholeRouteProto = "199"
)

// BlackholeEnd is one gateway of the blackhole.
type BlackholeEnd struct {
	Host target.Host `json:"host"` // the gateway's host, where the commands run
	// Addr and PeerAddr are the gateway's and its peer's WAN addresses
	// (the IKE SA's local and remote host). Only Inject needs them.
	Addr     string `json:"addr,omitempty"`
	PeerAddr string `json:"peer_addr,omitempty"`
	// RemoteSubnets are the other site's subnets: what the gateway forwards
	// into the tunnel, and what it drops instead while the WAN is silent.
	RemoteSubnets []string `json:"remote_subnets"`
}

// WANBlackhole makes the WAN between the two gateways drop traffic
// silently, as a dead link or a filtering middlebox does: no DELETE, no
// ICMP, nothing. Each gateway drops, in an nftables input chain, IKE/NAT-T
// and ESP from its peer (an output drop is not silent), and, in a
// prerouting chain, every packet it would forward to the other site's
// subnets (so that, once DPD removed the SA, they vanish instead of drawing
// an ICMP unreachable: the routing decision that would send one comes after
// prerouting). Why each piece: docs/findings.md#dpd-silent-wan.
//
// Dead-man's switch: what is dropped is named by nftables set elements;
// with a limit (Plan's, the target's max_fault) they are added with that
// timeout and expire by themselves, leaving the rules inert (they match
// nothing) even when drdrill is killed and nobody runs drdrill recover.
// Recover removes the table either way.
//
// Recover lifts the blackhole on both gateways, whatever Inject got to,
// and verifies it is gone; it does nothing to the tunnel. WaitRecovered
// waits HealWait for the tunnel to heal by itself (DPD restart), else
// brings it back in the documented order.
type WANBlackhole struct {
	built
	Hosts target.HostExec
	// Sides are the two gateways (the documented order's first first);
	// empty when Ends are given.
	Sides []tunnel.Side
	TL    *timeline.Timeline

	// Ends are the two gateways. When empty, Inject resolves them from the
	// tunnel (hosts, subnets, and the WAN addresses of the established IKE
	// SA) and Recover from the tunnel's expectations (hosts and subnets).
	Ends []BlackholeEnd

	// HealWait is how long WaitRecovered waits for the tunnel to come back
	// by itself before it recovers in the documented order; 0: the heal
	// window of the target's IKE timings (read when needed).
	HealWait   time.Duration
	IKETimings func(ctx context.Context) (tunnel.IKETimings, error)
	IKETimeout time.Duration
	// EffectTimeout bounds WaitForEffect.
	EffectTimeout time.Duration
	// Limit is the dead-man's switch: the drop expires this long after
	// Inject (0: it stays until Recover). Plan sets it.
	Limit time.Duration

	mu       sync.Mutex
	planned  []BlackholeEnd // what Plan resolved, for Inject
	resolved []BlackholeEnd // what Inject acted on
	lifted   bool           // Lift succeeded since the last Inject
	resumed  bool           // injected by another process (Resume)
}

func (f *WANBlackhole) Name() string { return "wan-blackhole" }

// staticEnds are the ends without WAN addresses: enough for Recover.
func (f *WANBlackhole) staticEnds() []BlackholeEnd {
	if len(f.Ends) > 0 {
		return f.Ends
	}
	var out []BlackholeEnd
	for _, s := range f.Sides {
		out = append(out, BlackholeEnd{Host: target.Host{Site: s.GW.Name(), Kind: target.GatewayHost}, RemoteSubnets: s.Want.RemoteTS})
	}
	return out
}

// resolve completes the ends with the WAN addresses of the established IKE
// SA of each gateway.
func (f *WANBlackhole) resolve(ctx context.Context) ([]BlackholeEnd, error) {
	if len(f.Ends) > 0 {
		return f.Ends, nil
	}
	if len(f.Sides) == 0 {
		return nil, errors.New("wan-blackhole: no gateways")
	}
	var out []BlackholeEnd
	for _, s := range f.Sides {
		st, err := s.GW.State(ctx, s.Want.Connection)
		if err != nil {
			return nil, fmt.Errorf("wan-blackhole: read %s's WAN addresses: %w", s.GW.Name(), err)
		}
		e := BlackholeEnd{Host: target.Host{Site: s.GW.Name(), Kind: target.GatewayHost}, RemoteSubnets: s.Want.RemoteTS}
		for _, ike := range st.IKESAs {
			if ike.Name == s.Want.Connection && ike.State == "ESTABLISHED" && ike.LocalHost != "" && ike.RemoteHost != "" {
				e.Addr, e.PeerAddr = ike.LocalHost, ike.RemoteHost
				break
			}
		}
		if e.Addr == "" {
			return nil, fmt.Errorf("wan-blackhole: %s has no established IKE SA %s to take the WAN addresses from (%s): the tunnel was not up",
				s.GW.Name(), s.Want.Connection, st.Summary())
		}
		out = append(out, e)
	}
	return out, nil
}

// Validate checks what goes into the commands: addresses, prefixes, host.
func (e BlackholeEnd) Validate(needAddrs bool) error {
	if e.Host.Site == "" || strings.ContainsAny(e.Host.String(), " /;") {
		return fmt.Errorf("wan-blackhole: bad host %q", e.Host)
	}
	if needAddrs {
		for _, a := range []string{e.Addr, e.PeerAddr} {
			if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
				return fmt.Errorf("wan-blackhole: %s: WAN address %q is not an IPv4 address", e.Host, a)
			}
		}
	}
	if len(e.RemoteSubnets) == 0 {
		return fmt.Errorf("wan-blackhole: %s: no remote subnets", e.Host)
	}
	for _, s := range e.RemoteSubnets {
		if p, err := netip.ParsePrefix(s); err != nil || !p.Addr().Is4() {
			return fmt.Errorf("wan-blackhole: %s: remote subnet %q is not an IPv4 prefix", e.Host, s)
		}
	}
	return nil
}

// NftRuleset is the one nft command line (one atomic transaction) that
// makes the end drop, silently, IKE/NAT-T/ESP from its peer (input) and
// every packet it would forward to the other site's subnets (prerouting).
// What is dropped is set elements; with timeout > 0 they expire after it
// and the rules go inert by themselves.
func NftRuleset(table string, e BlackholeEnd, timeout time.Duration) string {
	elem := func(v string) string {
		if timeout > 0 {
			return v + " timeout " + NftDuration(timeout)
		}
		return v
	}
	var remote []string
	for _, s := range e.RemoteSubnets {
		remote = append(remote, elem(s))
	}
	t := "inet " + table
	return strings.Join([]string{
		"add table " + t,
		"add set " + t + " peers { type ipv4_addr ; flags timeout ; }",
		"add set " + t + " remote { type ipv4_addr ; flags interval, timeout ; }",
		"add element " + t + " peers { " + elem(e.PeerAddr) + " }",
		"add element " + t + " remote { " + strings.Join(remote, ", ") + " }",
		"add chain " + t + " input { type filter hook input priority -10 ; policy accept ; }",
		"add rule " + t + " input ip saddr @peers ip daddr " + e.Addr + " udp dport { 500, 4500 } counter drop",
		"add rule " + t + " input ip saddr @peers ip daddr " + e.Addr + " ip protocol esp counter drop",
		"add chain " + t + " prerouting { type filter hook prerouting priority -10 ; policy accept ; }",
		"add rule " + t + " prerouting ip daddr @remote counter drop",
	}, " ; ")
}

// NftDuration writes d as nft reads a timeout: whole milliseconds, at
// least one (rounded down, so that a switch never fires later than asked).
func NftDuration(d time.Duration) string {
	return strconv.FormatInt(max(d.Milliseconds(), 1), 10) + "ms"
}

// InjectCommands are the argv lists Inject runs on the end's host, in order.
func InjectCommands(table string, e BlackholeEnd, timeout time.Duration) [][]string {
	return [][]string{{"nft", NftRuleset(table, e, timeout)}}
}

// RecoverCommands are the argv lists Recover runs on the end's host: each
// succeeds whether or not the thing it removes exists (add-then-delete is
// one nft transaction; flush of nothing is not an error), so a half-done
// Inject or a second Recover are fine. The route flush removes what an
// older drdrill added (BlackholeRouteProto).
func RecoverCommands(table string, e BlackholeEnd) [][]string {
	cmds := [][]string{{"nft", "add table inet " + table + " ; delete table inet " + table}}
	for _, s := range e.RemoteSubnets {
		cmds = append(cmds, []string{"ip", "route", "flush", "exact", s, "type", "blackhole", "proto", BlackholeRouteProto})
	}
	return cmds
}

// Plan resolves the ends (the WAN addresses of the established IKE SA, read
// over VICI) and arms the dead-man's switch for limit. Data is the ends.
func (f *WANBlackhole) Plan(ctx context.Context, limit time.Duration) (Plan, error) {
	ends, err := f.resolve(ctx)
	if err != nil {
		return Plan{}, err
	}
	for _, e := range ends {
		if err := e.Validate(true); err != nil {
			return Plan{}, err
		}
	}
	data, err := json.Marshal(ends)
	if err != nil {
		return Plan{}, err
	}
	f.mu.Lock()
	f.planned = ends
	f.Limit = limit
	f.mu.Unlock()
	p := Plan{Data: data, DeadMan: f.DeadMan()}
	var what, undo []string
	for _, e := range ends {
		p.Hosts = append(p.Hosts, e.Host.String())
		what = append(what, fmt.Sprintf("%s drops udp 500/4500 and esp from %s, and forwarded packets to %s (nft table inet %s)",
			e.Host, e.PeerAddr, strings.Join(e.RemoteSubnets, ", "), BlackholeTable))
	}
	undo = append(undo, "on "+strings.Join(p.Hosts, " and ")+": nft delete table inet "+BlackholeTable+
		"; then the tunnel heals by itself (dpd_action=restart) or comes back in the documented order")
	p.What, p.Undo = strings.Join(what, "; "), strings.Join(undo, "")
	return p, nil
}

// DeadMan says what reverts the blackhole by itself ("" without a limit).
func (f *WANBlackhole) DeadMan() string {
	f.mu.Lock()
	limit := f.Limit
	f.mu.Unlock()
	if limit <= 0 {
		return ""
	}
	return fmt.Sprintf("the nft set elements that name what is dropped expire %s after the inject: the drop goes inert by itself (the emptied table inet %s stays until recover removes it)",
		limit, BlackholeTable)
}

// Resume takes the ends Plan resolved (data; the tunnel's expectations
// when nil): Recover then lifts the blackhole on them.
func (f *WANBlackhole) Resume(data json.RawMessage) error {
	var ends []BlackholeEnd
	if len(data) > 0 {
		if err := json.Unmarshal(data, &ends); err != nil {
			return fmt.Errorf("wan-blackhole: resume: %w", err)
		}
		for _, e := range ends {
			if err := e.Validate(false); err != nil {
				return fmt.Errorf("resume: %w", err)
			}
		}
	}
	f.mu.Lock()
	f.resolved, f.lifted, f.resumed = ends, false, true
	f.mu.Unlock()
	return nil
}

func (f *WANBlackhole) Inject(ctx context.Context) error {
	f.mu.Lock()
	ends, limit := f.planned, f.Limit
	f.mu.Unlock()
	if len(ends) == 0 {
		var err error
		if ends, err = f.resolve(ctx); err != nil {
			return err
		}
	}
	for _, e := range ends {
		if err := e.Validate(true); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.resolved, f.lifted = ends, false
	f.mu.Unlock()
	for _, e := range ends {
		for _, argv := range InjectCommands(BlackholeTable, e, limit) {
			if _, err := f.Hosts.Exec(ctx, e.Host, argv...); err != nil {
				return fmt.Errorf("wan-blackhole on %s: %w", e.Host, err)
			}
		}
		d := map[string]any{"fault": f.Name(), "action": "inject", "host": e.Host.String(),
			"detail": fmt.Sprintf("drop udp 500/4500 and esp from %s to %s, and forwarded packets to %s (nft table inet %s)",
				e.PeerAddr, e.Addr, strings.Join(e.RemoteSubnets, ", "), BlackholeTable)}
		if dm := f.DeadMan(); dm != "" {
			d["dead_man"] = dm
		}
		f.TL.Add("fault", timeline.KindFault, d)
	}
	return nil
}

// WaitForEffect returns once a gateway has dropped a packet of its peer.
func (f *WANBlackhole) WaitForEffect(ctx context.Context) error {
	f.mu.Lock()
	ends := f.resolved
	f.mu.Unlock()
	timeout := f.EffectTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return poll.Until(ctx, "the blackhole to drop a packet", 20*time.Millisecond, timeout, func(ctx context.Context) (bool, string, error) {
		var n int64
		for _, e := range ends {
			if d := f.dropped(ctx, e.Host); d > 0 {
				n += d
			}
		}
		return n > 0, fmt.Sprintf("%d packets dropped", n), nil
	})
}

// WaitRecovered lifts the blackhole if Recover did not, then makes sure the
// tunnel is back: healed by itself within HealWait while a gateway is
// re-initiating, else in the documented order (at once when resumed:
// drdrill recover restores, it does not watch).
func (f *WANBlackhole) WaitRecovered(ctx context.Context) error {
	f.mu.Lock()
	lifted := f.lifted
	f.mu.Unlock()
	if !lifted {
		if err := f.Recover(ctx); err != nil {
			return err
		}
	}
	if len(f.Sides) < 2 {
		return nil
	}
	heal := f.HealWait
	if heal == 0 && f.IKETimings != nil {
		if it, err := f.IKETimings(ctx); err == nil {
			heal = it.HealWindow()
		}
	}
	if heal == 0 {
		heal = 10 * time.Second
	}
	f.mu.Lock()
	if f.resumed {
		heal = 0 // recover restores; nobody is watching it heal
	}
	f.mu.Unlock()
	return ensureTunnel(ctx, f.TL, f.Name(), f.Sides[0], f.Sides[1], heal, f.IKETimeout)
}

// Recover removes the blackhole on every end, even when one of them fails,
// and verifies that the table and the routes are gone. It does nothing to
// the tunnel: drills watch it heal by itself.
func (f *WANBlackhole) Recover(ctx context.Context) error {
	f.mu.Lock()
	ends := f.resolved
	f.mu.Unlock()
	if len(ends) == 0 {
		ends = f.staticEnds()
	}
	if len(ends) == 0 {
		return errors.New("wan-blackhole: recover: no gateways to lift the blackhole on")
	}
	var errs []error
	for _, e := range ends {
		dropped := f.dropped(ctx, e.Host)
		var hostErrs []error
		for _, argv := range RecoverCommands(BlackholeTable, e) {
			if _, err := f.Hosts.Exec(ctx, e.Host, argv...); err != nil {
				hostErrs = append(hostErrs, err)
			}
		}
		if err := f.verifyGone(ctx, e); err != nil {
			hostErrs = append(hostErrs, err)
		}
		d := timeline.Fault{Fault: f.Name(), Action: "recover", Detail: "nft table inet " + BlackholeTable + " removed",
			Extra: map[string]any{"host": e.Host.String()}}
		if dropped >= 0 {
			d.Extra["dropped_packets"] = dropped
		}
		if err := errors.Join(hostErrs...); err != nil {
			d.Extra["error"] = err.Error()
			errs = append(errs, fmt.Errorf("wan-blackhole: lift on %s: %w", e.Host, err))
		}
		f.TL.Add("fault", timeline.KindFault, d)
	}
	if len(errs) == 0 {
		f.mu.Lock()
		f.lifted = true
		f.mu.Unlock()
	}
	return errors.Join(errs...)
}

var counterRE = regexp.MustCompile(`counter packets (\d+) bytes`)

// dropped reads the table's counters (-1 when the table is not there).
func (f *WANBlackhole) dropped(ctx context.Context, host target.Host) int64 {
	out, err := f.Hosts.Exec(ctx, host, "nft", "list", "table", "inet", BlackholeTable)
	if err != nil {
		return -1
	}
	return SumCounters(string(out))
}

// SumCounters adds the packet counters of an `nft list` output.
func SumCounters(listing string) int64 {
	var n int64
	for _, m := range counterRE.FindAllStringSubmatch(listing, -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		n += v
	}
	return n
}

// verifyGone checks that neither the table nor a blackhole route of the
// fault is left on the end's host.
func (f *WANBlackhole) verifyGone(ctx context.Context, e BlackholeEnd) error {
	out, err := f.Hosts.Exec(ctx, e.Host, "nft", "list", "tables")
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) == "table inet "+BlackholeTable {
			return fmt.Errorf("verify: nft table inet %s is still there", BlackholeTable)
		}
	}
	out, err = f.Hosts.Exec(ctx, e.Host, "ip", "route", "show", "type", "blackhole", "proto", BlackholeRouteProto)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Errorf("verify: blackhole routes still there: %s", strings.ReplaceAll(s, "\n", "; "))
	}
	return nil
}

func init() {
	Register(Spec{Name: "wan-blackhole",
		Description: "drop IKE/NAT-T/ESP between the gateways silently (nftables), and what each forwards to the other site; lift it and let DPD heal the tunnel (expires by itself after max_fault)",
		Needs:       []target.Capability{target.CapExec},
		Params: []Param{{Name: "heal_wait", Default: "the heal window of the gateways' IKE timings", Doc: "how long the tunnel may take to heal by itself before the documented order"},
			{Name: "ike_timeout", Default: "10s", Doc: "bound of each IKE exchange of a documented-order recovery"}},
		New: func(t target.Target, tl *timeline.Timeline, p Params) (Fault, error) {
			first, second, err := sides(t, "")
			if err != nil {
				return nil, fmt.Errorf("wan-blackhole needs a target with two gateways: %w", err)
			}
			heal, err := p.Duration("heal_wait", 0)
			if err != nil {
				return nil, err
			}
			ike, err := p.Duration("ike_timeout", 10*time.Second)
			if err != nil {
				return nil, err
			}
			return &WANBlackhole{Hosts: t.(target.HostExec), Sides: []tunnel.Side{first.Side(), second.Side()}, TL: tl,
				HealWait: heal, IKETimings: t.IKETimings, IKETimeout: ike}, nil
		}})
}
