package fault

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// Names the wan-blackhole fault owns on each gateway, so that Recover
// removes exactly what Inject added and nothing else.
const (
	// BlackholeTable is the nftables table (family inet) of the fault.
	BlackholeTable = "drdrill_blackhole"
	// BlackholeRouteProto marks the fault's blackhole routes (iproute2
	// "proto", a number no routing daemon of the lab uses).
	BlackholeRouteProto = "199"
)

// BlackholeEnd is one gateway of the blackhole.
type BlackholeEnd struct {
	Host string // lab host the commands run on ("aws-gw")
	// Addr and PeerAddr are the gateway's and its peer's WAN addresses
	// (the IKE SA's local and remote host). Only Inject needs them.
	Addr, PeerAddr string
	// RemoteSubnets are the other site's subnets: what the gateway forwards
	// into the tunnel, and what a blackhole route swallows once the tunnel
	// is gone.
	RemoteSubnets []string
}

// WANBlackhole makes the WAN between the two gateways drop traffic
// silently, as a dead link or a filtering middlebox does: no DELETE, no
// ICMP, nothing. Each gateway
//
//   - drops, in an nftables input chain, the IKE/NAT-T (udp 500, 4500) and
//     ESP packets coming from its peer's WAN address. Dropping on the
//     receiving side (both gateways, so both directions) keeps the sender's
//     sendto() successful: an output-chain drop makes it fail with EPERM
//     ("error writing to socket: Operation not permitted" in charon.log),
//     which no real WAN does. With kernel-libipsec all ESP is ESP-in-UDP on
//     4500 (charon reports "remote host is behind NAT" to force it), the
//     esp rule is there for other kernels;
//   - gets a blackhole route for the other site's subnets in its main
//     table. While the CHILD SA exists kernel-libipsec's route in table 220
//     (rule 220, before main) wins and the traffic goes into the tunnel and
//     vanishes on the WAN; once DPD has removed the SA the lab gateway would
//     otherwise answer ICMP net unreachable (no route), which makes the
//     replica fail fast with errno 101. A blackhole route drops forwarded
//     packets without ICMP, so the replica's reconnects time out (errno 110)
//     as they do behind a real silent WAN. (An nftables forward-chain drop
//     does not work for this: a packet with no route never reaches the
//     forward hook, it is answered with ICMP at the routing decision.)
//
// Lift deletes the table and the routes on both gateways, whatever Inject
// got to, and verifies that they are gone; Recover lifts and then makes
// sure the tunnel is back.
type WANBlackhole struct {
	Hosts  HostTarget
	Tunnel TunnelTarget // the two gateways; nil when Ends are given
	TL     *timeline.Timeline

	// Ends are the two gateways. When empty, Inject resolves them from the
	// tunnel (hosts, subnets, and the WAN addresses of the established IKE
	// SA) and Recover from the tunnel's expectations (hosts and subnets).
	Ends []BlackholeEnd
	// HostOf names a site's gateway host; nil is site+"-gw" (the lab).
	HostOf func(site string) string

	// HealWait is how long Recover waits, after the lift, for the tunnel to
	// come back by itself before it recovers in the documented order.
	HealWait   time.Duration
	IKETimeout time.Duration

	mu       sync.Mutex
	resolved []BlackholeEnd // what Inject acted on
	lifted   bool           // Lift succeeded since the last Inject
}

// NewWANBlackhole builds the fault against a target with hosts and two
// gateways.
func NewWANBlackhole(h HostTarget, t TunnelTarget) *WANBlackhole {
	return &WANBlackhole{Hosts: h, Tunnel: t, TL: t.EventLog(), HealWait: 10 * time.Second, IKETimeout: 10 * time.Second}
}

func (f *WANBlackhole) Name() string { return "wan-blackhole" }

func (f *WANBlackhole) hostOf(site string) string {
	if f.HostOf != nil {
		return f.HostOf(site)
	}
	return site + "-gw"
}

// staticEnds are the ends without WAN addresses: enough for Recover.
func (f *WANBlackhole) staticEnds() []BlackholeEnd {
	if len(f.Ends) > 0 {
		return f.Ends
	}
	if f.Tunnel == nil {
		return nil
	}
	a, b := f.Tunnel.TunnelSides()
	var out []BlackholeEnd
	for _, s := range []tunnel.Side{a, b} {
		out = append(out, BlackholeEnd{Host: f.hostOf(s.GW.Name()), RemoteSubnets: s.Want.RemoteTS})
	}
	return out
}

// resolve completes the ends with the WAN addresses of the established IKE
// SA of each gateway.
func (f *WANBlackhole) resolve(ctx context.Context) ([]BlackholeEnd, error) {
	if len(f.Ends) > 0 {
		return f.Ends, nil
	}
	if f.Tunnel == nil {
		return nil, errors.New("wan-blackhole: no gateways")
	}
	a, b := f.Tunnel.TunnelSides()
	var out []BlackholeEnd
	for _, s := range []tunnel.Side{a, b} {
		st, err := s.GW.State(ctx, s.Want.Connection)
		if err != nil {
			return nil, fmt.Errorf("wan-blackhole: read %s's WAN addresses: %w", s.GW.Name(), err)
		}
		e := BlackholeEnd{Host: f.hostOf(s.GW.Name()), RemoteSubnets: s.Want.RemoteTS}
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
	if e.Host == "" || strings.ContainsAny(e.Host, " /;") {
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
// makes the end drop IKE, NAT-T and ESP from its peer.
func NftRuleset(table string, e BlackholeEnd) string {
	match := fmt.Sprintf("ip saddr %s ip daddr %s", e.PeerAddr, e.Addr)
	return strings.Join([]string{
		"add table inet " + table,
		"add chain inet " + table + " input { type filter hook input priority -10 ; policy accept ; }",
		"add rule inet " + table + " input " + match + " udp dport { 500, 4500 } counter drop",
		"add rule inet " + table + " input " + match + " ip protocol esp counter drop",
	}, " ; ")
}

// InjectCommands are the argv lists Inject runs on the end's host, in order.
func InjectCommands(table string, e BlackholeEnd) [][]string {
	cmds := [][]string{{"nft", NftRuleset(table, e)}}
	for _, s := range e.RemoteSubnets {
		cmds = append(cmds, []string{"ip", "route", "add", "blackhole", s, "proto", BlackholeRouteProto})
	}
	return cmds
}

// RecoverCommands are the argv lists Recover runs on the end's host: each
// succeeds whether or not the thing it removes exists (add-then-delete is
// one nft transaction; flush of nothing is not an error), so a half-done
// Inject or a second Recover are fine.
func RecoverCommands(table string, e BlackholeEnd) [][]string {
	cmds := [][]string{{"nft", "add table inet " + table + " ; delete table inet " + table}}
	for _, s := range e.RemoteSubnets {
		cmds = append(cmds, []string{"ip", "route", "flush", "exact", s, "type", "blackhole", "proto", BlackholeRouteProto})
	}
	return cmds
}

func (f *WANBlackhole) Inject(ctx context.Context) error {
	ends, err := f.resolve(ctx)
	if err != nil {
		return err
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
		for _, argv := range InjectCommands(BlackholeTable, e) {
			if _, err := f.Hosts.ExecHost(ctx, e.Host, argv...); err != nil {
				return fmt.Errorf("wan-blackhole on %s: %w", e.Host, err)
			}
		}
		f.TL.Add("fault", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "inject", "host": e.Host,
			"detail": fmt.Sprintf("drop udp 500/4500 and esp from %s to %s (nft table inet %s); blackhole route %s",
				e.PeerAddr, e.Addr, BlackholeTable, strings.Join(e.RemoteSubnets, ", "))})
	}
	return nil
}

// Recover lifts the blackhole (unless Lift already did) and then makes
// sure the tunnel is back: healed by itself within HealWait while a gateway
// is re-initiating, else in the documented order.
func (f *WANBlackhole) Recover(ctx context.Context) error {
	f.mu.Lock()
	lifted := f.lifted
	f.mu.Unlock()
	if !lifted {
		if err := f.Lift(ctx); err != nil {
			return err
		}
	}
	if f.Tunnel == nil {
		return nil
	}
	return ensureTunnel(ctx, f.Tunnel, f.TL, f.Name(), f.HealWait, f.IKETimeout)
}

// Lift removes the blackhole on every end, even when one of them fails,
// and verifies that the table and the routes are gone. It does nothing to
// the tunnel: drills watch it heal by itself.
func (f *WANBlackhole) Lift(ctx context.Context) error {
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
			if _, err := f.Hosts.ExecHost(ctx, e.Host, argv...); err != nil {
				hostErrs = append(hostErrs, err)
			}
		}
		if err := f.verifyGone(ctx, e); err != nil {
			hostErrs = append(hostErrs, err)
		}
		d := map[string]any{"fault": f.Name(), "action": "recover", "host": e.Host, "detail": "nft table inet " + BlackholeTable + " and blackhole routes removed"}
		if dropped >= 0 {
			d["dropped_packets"] = dropped
		}
		if err := errors.Join(hostErrs...); err != nil {
			d["error"] = err.Error()
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
func (f *WANBlackhole) dropped(ctx context.Context, host string) int64 {
	out, err := f.Hosts.ExecHost(ctx, host, "nft", "list", "table", "inet", BlackholeTable)
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
	out, err := f.Hosts.ExecHost(ctx, e.Host, "nft", "list", "tables")
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) == "table inet "+BlackholeTable {
			return fmt.Errorf("verify: nft table inet %s is still there", BlackholeTable)
		}
	}
	out, err = f.Hosts.ExecHost(ctx, e.Host, "ip", "route", "show", "type", "blackhole", "proto", BlackholeRouteProto)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Errorf("verify: blackhole routes still there: %s", strings.ReplaceAll(s, "\n", "; "))
	}
	return nil
}

func init() {
	Register("wan-blackhole", "drop IKE/NAT-T/ESP between the gateways silently (nftables) and blackhole the other site's subnet; lift it and let DPD heal the tunnel",
		func(t Target) (Fault, error) {
			h, ok := t.(HostTarget)
			if !ok {
				return nil, errors.New("wan-blackhole needs a target whose hosts it can run commands on (a lab)")
			}
			tt, ok := t.(TunnelTarget)
			if !ok {
				return nil, errors.New("wan-blackhole needs a target with two gateways")
			}
			return NewWANBlackhole(h, tt), nil
		})
}
