package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// OneSidedReset makes one gateway (Reset, the seed's AWS) lose its IKE SA
// while the other (Stale) never learns of it: Reset terminates its SA while
// Stale drops the DELETE (nftables, on Stale's host), then the drop is
// removed. Stale keeps an IKE SA and a CHILD SA that Reset does not have:
// the state the seed's troubleshooting 1 starts from. What strongSwan does
// next: docs/findings.md#one-sided-reset.
//
// Recover removes the drop (Inject already did, unless it failed halfway).
// WaitRecovered repairs the tunnel if it is still inconsistent: both sides
// fully down, then the documented order.
//
// Dead-man's switch: the drop of the DELETE lives only inside Inject (well
// under a second); its peer address is a set element that expires by
// itself (DropTimeout, at most the limit Plan is given), so that a kill -9
// in that instant cannot leave the stale side deaf to its peer. The stale
// SAs themselves have no switch: the stale side's DPD finds the peer gone
// (docs/findings.md#one-sided-reset) and its dpd_action decides what
// follows (restart re-initiates; clear leaves the tunnel down).
type OneSidedReset struct {
	built
	// Reset loses its SAs; Stale keeps them. First and Second are the
	// documented recovery order (the seed: AWS first).
	Reset, Stale  tunnel.Side
	First, Second tunnel.Side
	Hosts         target.HostExec
	TL            *timeline.Timeline
	// DeleteTimeout is how long the reset side waits for an answer to its
	// DELETE before destroying its IKE SA anyway.
	DeleteTimeout time.Duration
	IKETimeout    time.Duration
	// DropTimeout is how long the drop of the DELETE may outlive a killed
	// Inject (0: DefaultDropTimeout).
	DropTimeout time.Duration

	mu      sync.Mutex
	touched bool         // Inject got as far as changing something
	stale   tunnel.IKESA // the stale side's IKE SA, as the fault left it
}

// OneSidedTable is the nftables table the fault adds inside the stale
// side's gateway host (and removes again, idempotently, in Recover).
const OneSidedTable = "drdrill_one_sided"

// DefaultDropTimeout bounds the drop of the DELETE when no limit is given:
// far longer than the forced terminate it is there for.
const DefaultDropTimeout = 30 * time.Second

func (f *OneSidedReset) dropTimeout() time.Duration {
	if f.DropTimeout > 0 {
		return f.DropTimeout
	}
	return DefaultDropTimeout
}

// OneSidedDrop is the nft command line that drops IKE and NAT-T from peer
// inside the stale side's host, the peer being a set element that expires
// after timeout.
func OneSidedDrop(peer string, timeout time.Duration) string {
	return fmt.Sprintf("add table inet %[1]s ; add set inet %[1]s peers { type ipv4_addr ; flags timeout ; } ; "+
		"add element inet %[1]s peers { %[2]s timeout %[3]s } ; "+
		"add chain inet %[1]s input { type filter hook input priority 0 ; policy accept ; } ; "+
		"add rule inet %[1]s input ip saddr @peers udp dport { 500, 4500 } counter drop", OneSidedTable, peer, NftDuration(timeout))
}

// Plan says what Inject will do and bounds the drop by limit; nothing is
// read.
func (f *OneSidedReset) Plan(_ context.Context, limit time.Duration) (Plan, error) {
	if limit > 0 && (f.DropTimeout == 0 || f.DropTimeout > limit) {
		f.DropTimeout = min(limit, DefaultDropTimeout)
	}
	stale, reset := gatewayHost(f.Stale), gatewayHost(f.Reset)
	return Plan{Hosts: []string{reset.String(), stale.String()},
		What: fmt.Sprintf("%s terminates IKE SA %s while %s drops its DELETE (nft table inet %s, lifted within the inject): %s keeps stale SAs",
			f.Reset.GW.Name(), f.Reset.Want.Connection, stale, OneSidedTable, f.Stale.GW.Name()),
		Undo: fmt.Sprintf("on %s: nft delete table inet %s; then both sides fully down and the documented order: %s",
			stale, OneSidedTable, documentedOrder(f.First.GW.Name(), f.Second.GW.Name())),
		DeadMan: f.DeadMan()}, nil
}

// DeadMan says what reverts by itself: the drop, not the stale SAs.
func (f *OneSidedReset) DeadMan() string {
	return fmt.Sprintf("the drop of the DELETE on %s expires %s after the inject (the stale SAs it leaves are not reverted by a switch)",
		gatewayHost(f.Stale), f.dropTimeout())
}

// Resume marks the fault injected by another process: Recover removes the
// drop, WaitRecovered repairs the tunnel unless it is consistent.
func (f *OneSidedReset) Resume(json.RawMessage) error {
	f.mu.Lock()
	f.touched = true
	f.mu.Unlock()
	return nil
}

func (f *OneSidedReset) Name() string { return "one-sided-reset" }

// gatewayHost is the lab host of a gateway: "<site>-gw".
func gatewayHost(s tunnel.Side) target.Host {
	return target.Host{Site: s.GW.Name(), Kind: target.GatewayHost}
}

// StaleSA returns the stale side's IKE SA as the fault left it (zero before
// Inject succeeded).
func (f *OneSidedReset) StaleSA() tunnel.IKESA {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stale
}

func (f *OneSidedReset) Inject(ctx context.Context) error {
	conn := f.Stale.Want.Connection
	before, err := f.Stale.GW.State(ctx, conn)
	if err != nil {
		return fmt.Errorf("one-sided reset: state of %s: %w", f.Stale.GW.Name(), err)
	}
	if err := before.Healthy(f.Stale.Want); err != nil {
		return fmt.Errorf("one-sided reset: the tunnel was not up: %w", err)
	}
	peer := ikeSAs(before, conn)[0].RemoteHost
	if peer == "" {
		return fmt.Errorf("one-sided reset: %s does not report its peer's address", f.Stale.GW.Name())
	}
	f.mu.Lock()
	f.touched = true
	f.mu.Unlock()

	// The DELETE (and its retransmits) must never reach the stale side:
	// drop IKE and ESP-in-UDP from the peer inside the stale side's host.
	if net.ParseIP(peer).To4() == nil {
		return fmt.Errorf("one-sided reset: %s reports peer address %q: not an IPv4 address", f.Stale.GW.Name(), peer)
	}
	if out, err := f.Hosts.Exec(ctx, gatewayHost(f.Stale), "nft", OneSidedDrop(peer, f.dropTimeout())); err != nil {
		return fmt.Errorf("one-sided reset: drop the DELETE on %s: %w: %s", gatewayHost(f.Stale), err, strings.TrimSpace(string(out)))
	}
	result, downLog, derr := ForceDown(ctx, f.Reset, f.DeleteTimeout)
	dropped, cerr := f.droppedPackets(ctx)
	uerr := f.unblock(ctx)
	switch {
	case derr != nil:
		return fmt.Errorf("one-sided reset: terminate on %s: %w", f.Reset.GW.Name(), derr)
	case result == ResultNoMatchingSA:
		return fmt.Errorf("one-sided reset: nothing to terminate on %s: the tunnel was not up", f.Reset.GW.Name())
	case uerr != nil:
		return uerr
	}

	reset, err := f.Reset.GW.State(ctx, conn)
	if err != nil {
		return fmt.Errorf("one-sided reset: state of %s: %w", f.Reset.GW.Name(), err)
	}
	stale, err := f.Stale.GW.State(ctx, conn)
	if err != nil {
		return fmt.Errorf("one-sided reset: state of %s: %w", f.Stale.GW.Name(), err)
	}
	d := map[string]any{"fault": f.Name(), "action": "inject",
		"detail":     fmt.Sprintf("%s terminated its IKE SA; its DELETE was dropped on the way to %s", f.Reset.GW.Name(), f.Stale.GW.Name()),
		"reset_side": f.Reset.GW.Name(), "stale_side": f.Stale.GW.Name(),
		f.Reset.GW.Name() + "_state": reset.Summary(), f.Stale.GW.Name() + "_state": stale.Summary(),
		"terminate": result, "terminate_log": downLog}
	if cerr == nil {
		d["packets_dropped"] = dropped
	}
	f.TL.Add("tunnel/"+f.Reset.GW.Name(), timeline.KindFault, d)
	if n := len(ikeSAs(reset, conn)); n != 0 {
		return fmt.Errorf("one-sided reset: %s still has %d IKE SA(s) after terminate", f.Reset.GW.Name(), n)
	}
	was := ikeSAs(before, conn)[0]
	for _, ike := range ikeSAs(stale, conn) {
		if ike.SPIInit == was.SPIInit && ike.SPIResp == was.SPIResp && ike.State == "ESTABLISHED" {
			f.mu.Lock()
			f.stale = ike
			f.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("fault had no effect: %s no longer holds IKE SA %s_i %s_r (the DELETE reached it?): %s",
		f.Stale.GW.Name(), was.SPIInit, was.SPIResp, stale.Summary())
}

var packetsRE = regexp.MustCompile(`packets (\d+)`)

// droppedPackets reads the drop rule's counter: evidence that something
// (the DELETE, its retransmits) was dropped.
func (f *OneSidedReset) droppedPackets(ctx context.Context) (int, error) {
	out, err := f.Hosts.Exec(ctx, gatewayHost(f.Stale), "nft", "list table inet "+OneSidedTable)
	if err != nil {
		return 0, err
	}
	m := packetsRE.FindStringSubmatch(string(out))
	if m == nil {
		return 0, fmt.Errorf("no counter in %q", out)
	}
	return strconv.Atoi(m[1])
}

// unblock removes the drop; adding the table first makes it idempotent.
func (f *OneSidedReset) unblock(ctx context.Context) error {
	cmd := fmt.Sprintf("add table inet %[1]s ; delete table inet %[1]s", OneSidedTable)
	if out, err := f.Hosts.Exec(ctx, gatewayHost(f.Stale), "nft", cmd); err != nil {
		return fmt.Errorf("one-sided reset: remove the drop on %s: %w: %s", gatewayHost(f.Stale), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Recover removes the drop and, unless the tunnel is already consistent on
// both sides (one IKE SA and one CHILD SA each, SPIs matching across the
// sides — a drill may have repaired it already), brings it back in the
// documented order. Safe when Inject never ran.
// WaitForEffect: Inject returns only once the stale state is in place.
func (f *OneSidedReset) WaitForEffect(ctx context.Context) error {
	if f.StaleSA().SPIInit == "" {
		return fmt.Errorf("fault had no effect: %s holds no stale IKE SA", f.Stale.GW.Name())
	}
	return nil
}

// Recover removes the drop of the DELETE.
func (f *OneSidedReset) Recover(ctx context.Context) error {
	f.mu.Lock()
	touched := f.touched
	f.mu.Unlock()
	if !touched {
		return nil
	}
	return f.unblock(ctx)
}

// WaitRecovered repairs an inconsistent tunnel: both sides fully down, then
// the documented order.
func (f *OneSidedReset) WaitRecovered(ctx context.Context) error {
	f.mu.Lock()
	touched := f.touched
	f.mu.Unlock()
	if !touched {
		return nil
	}
	uerr := f.unblock(ctx)
	conn := f.First.Want.Connection
	a, aerr := f.First.GW.State(ctx, conn)
	b, berr := f.Second.GW.State(ctx, conn)
	if aerr == nil && berr == nil && len(check.Inconsistencies(a, b, conn)) == 0 &&
		a.Healthy(f.First.Want) == nil && b.Healthy(f.Second.Want) == nil {
		f.TL.Add("fault", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "recover", "detail": "drop removed; tunnel already consistent on both sides: nothing to repair"})
		return uerr
	}
	f.TL.Add("fault", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "recover", "detail": "drop removed; both sides fully down, then the documented order: " +
		f.First.GW.Name() + " down; " + f.Second.GW.Name() + " down, " + f.Second.GW.Name() + " up; " + f.First.GW.Name() + " up"})
	// Both sides down first, tolerating the forced delete of a stale SA
	// (RecoverInOrder would stop at "terminating SA failed").
	var errs = []error{uerr}
	for _, s := range []tunnel.Side{f.First, f.Second} {
		result, log, err := ForceDown(ctx, s, time.Second)
		d := map[string]any{"action": "down", "connection": s.Want.Connection, "result": result}
		if len(log) > 0 {
			d["log"] = log
		}
		if err != nil {
			d["error"] = err.Error()
		}
		f.TL.Add("tunnel/"+s.GW.Name(), timeline.KindStep, d)
		errs = append(errs, err)
	}
	errs = append(errs, tunnel.RecoverInOrder(ctx, f.First, f.Second, f.TL, f.IKETimeout))
	return errors.Join(errs...)
}

// Outcomes of ForceDown.
const (
	ResultDown         = "ok"              // the peer answered the DELETE
	ResultNoMatchingSA = "no matching SAs" // nothing to terminate
	ResultForced       = "forced"          // DELETE unanswered; deleted locally
)

// ForceDown terminates a side's IKE SA (DELETE, then a forced local delete
// after timeout) and says how it went. charon 5.9.8 answers a terminate
// whose DELETE went unanswered within the timeout with "terminating SA
// failed", although force has destroyed the SA ("destroying IKE_SA in state
// DELETING without notification"); ForceDown reads the side's state to tell
// that (ResultForced, nil) from a real failure. A peer that never had the SA
// (the stale side's DELETE to a reset peer) never answers: the peer ignores
// IKE messages for unknown SPIs.
func ForceDown(ctx context.Context, s tunnel.Side, timeout time.Duration) (result string, log []string, err error) {
	r, err := s.GW.Down(ctx, s.Want.Connection, timeout)
	log = r.Log
	var ce *tunnel.CommandError
	switch {
	case err == nil:
		return ResultDown, log, nil
	case errors.Is(err, tunnel.ErrNoMatchingSA):
		return ResultNoMatchingSA, log, nil
	case errors.As(err, &ce):
		log = ce.Log
		st, serr := s.GW.State(ctx, s.Want.Connection)
		if serr == nil && len(ikeSAs(st, s.Want.Connection)) == 0 {
			return ResultForced, log, nil
		}
		if serr != nil {
			return "error", log, errors.Join(err, serr)
		}
		return "error", log, fmt.Errorf("%w; still there: %s", err, st.Summary())
	default:
		return "error", log, err
	}
}

func ikeSAs(s tunnel.State, conn string) []tunnel.IKESA {
	var out []tunnel.IKESA
	for _, ike := range s.IKESAs {
		if conn == "" || ike.Name == conn {
			out = append(out, ike)
		}
	}
	return out
}

func init() {
	Register(Spec{Name: "one-sided-reset",
		Description: "the primary's site loses its IKE SA without the other learning of it (its DELETE is dropped): stale state on one side; recover in the documented order",
		Needs:       []target.Capability{target.CapExec},
		New: func(t target.Target, tl *timeline.Timeline, p Params) (Fault, error) {
			first, second, err := sides(t, "")
			if err != nil {
				return nil, fmt.Errorf("one-sided-reset needs a target with two gateways: %w", err)
			}
			a, b := first.Side(), second.Side()
			return &OneSidedReset{Reset: a, Stale: b, First: a, Second: b, Hosts: t.(target.HostExec), TL: tl,
				DeleteTimeout: 300 * time.Millisecond, IKETimeout: 10 * time.Second}, nil
		}})
}
