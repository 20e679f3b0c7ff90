package scenarios

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// WANBlackholeOptions vary the wan-blackhole drill for tests.
type WANBlackholeOptions struct {
	// KeepBlackhole skips the lift: the tunnel cannot heal, and the drill
	// must fail saying what the gateways are doing. (The deferred recovery
	// lifts it afterwards, as it does on every path.)
	KeepBlackhole bool
}

// WANBlackhole is the silent-WAN drill: everything between the gateways is
// dropped for longer than DPD, with no DELETE and no ICMP. DPD on the
// gateways declares the peer dead, the replica's reconnects time out
// (errno 110, the seed's error), and once the WAN is back the tunnel comes
// back by itself through dpd_action=restart — nobody calls initiate.
//
// What the lab showed (strongSwan 5.9.8, kernel-libipsec, MariaDB 10.11,
// DPD 2 s, retransmits 0.5 s × 1.4, 3 tries, slave_net_timeout 3):
//   - the replica's IO thread goes Connecting ~3.0 s after the blackhole
//     with errno 0 at first; its first reconnect fails ~3 s later (connect
//     timeout = slave_net_timeout) with 2003 "Can't connect to server on
//     '10.20.11.123' (110 "Connection timed out")", the seed's error;
//   - each gateway sends a DPD once nothing came from its peer for 2 s and
//     gives up after 3 retransmits (3.55 s): ike_updown and child_updown
//     down, no DELETE, 4.0–5.3 s after the blackhole, the two sides up to
//     0.8 s apart. (With MOBIKE the DPD goes out as an IKE_MOBIKE
//     informational; nothing else differs.);
//   - dpd_action=restart re-initiates at once and, with keyingtries=0,
//     again every 3.55 s for ever ("peer not responding, trying again
//     (N/0)"); dpd_action=clear just drops the SAs;
//   - surprise: with dpd_action=restart on BOTH gateways, both re-initiate,
//     their IKE_SA_INITs cross once the WAN is back, and each side ends
//     with two IKE SAs and two CHILD SAs, every time. INITIAL_CONTACT
//     removes only the duplicate that was already established when the
//     other side's IKE_AUTH arrived; the orphan left on the other side
//     fails its next DPD and is *restarted* (dpd_action again), which
//     re-creates the duplicate for good. With restart on aws and clear on
//     onprem only aws re-initiates: one IKE SA and one CHILD SA per side,
//     0.06–0.94 s after the lift (at most one retransmit interval, 1.37 s).
//   - an output-chain drop is not silent: sendto() fails with EPERM and
//     charon logs "error writing to socket: Operation not permitted"; the
//     fault drops on input (see fault.WANBlackhole).
func WANBlackhole(o WANBlackholeOptions) harness.Scenario {
	return harness.Scenario{
		Name:        "wan-blackhole",
		Description: "the WAN drops IKE/ESP silently past DPD: DPD declares the peer dead, the replica times out (errno 110), the tunnel heals by itself once the WAN is back",
		Timeout:     2 * time.Minute,
		Run: func(ctx context.Context, env *harness.Env) error {
			if env.Lab == nil {
				return errors.New("wan-blackhole needs a lab target (it runs nftables on the gateways)")
			}
			it, err := readIKETimings(env.Lab)
			if err != nil {
				return err
			}
			it.record(env.Timeline)
			if len(it.dpdSites()) == 0 {
				return errors.New("wan-blackhole: no gateway has DPD configured: nothing would notice a silent WAN")
			}
			var m Marks
			if err := Baseline(ctx, env, workload.MsgBefore); err != nil {
				return err
			}
			f, err := fault.New("wan-blackhole", env)
			if err != nil {
				return err
			}
			bh := f.(*fault.WANBlackhole)
			bh.HealWait = it.healWindow()
			// Recover lifts the blackhole unless the drill did, then makes
			// sure the tunnel is back; it runs on every path.
			env.Defer("recover "+f.Name(), bh.Recover)
			if err := env.Step(ctx, "step 1: WAN blackhole between the gateways (wan-blackhole)", func(ctx context.Context) error {
				m.FaultAt = time.Now()
				return bh.Inject(ctx)
			}); err != nil {
				return err
			}
			if err := WriteDuringOutage(ctx, env); err != nil {
				return err
			}
			if err := HoldUntilOutageSeen(ctx, env, &m); err != nil {
				return err
			}
			if err := ReplicaTimesOut(ctx, env, &m); err != nil {
				return err
			}
			if err := WaitDPDDead(ctx, env, it, it.dpdSites(), m.FaultAt, "DPD declares the peer dead (no DELETE, no terminate)"); err != nil {
				return err
			}
			if err := env.Step(ctx, "step 3: lift the blackhole; the tunnel heals by itself (no initiate)", func(ctx context.Context) error {
				m.RecoverStart = time.Now()
				if o.KeepBlackhole {
					env.Timeline.Add("harness", timeline.KindNote, map[string]any{"event": "blackhole kept (test option): the tunnel cannot heal"})
				} else if err := bh.Lift(ctx); err != nil {
					return err
				}
				return WaitSelfHeal(ctx, env, it, &m, "the lift", it.healWindow())
			}); err != nil {
				return err
			}
			env.Metric("tunnel_recover_ms", m.TunnelUpAt.Sub(m.RecoverStart))
			return VerifyRecovery(ctx, env, &m, VerifyOptions{AfterMsg: workload.MsgAfter})
		},
	}
}

func init() { Register(WANBlackhole(WANBlackholeOptions{})) }

// ReplicaTimesOut waits until the replica's IO thread is Connecting with a
// timeout-class error (see [TimeoutClass]) within the outage evidence
// window, and checks it.
func ReplicaTimesOut(ctx context.Context, env *harness.Env, m *Marks) error {
	return env.Step(ctx, "replica reconnect times out (errno 110: silent WAN)", func(ctx context.Context) error {
		window := OutageEvidenceWindow(env.Timings)
		wctx, cancel := context.WithDeadline(ctx, m.FaultAt.Add(window))
		defer cancel()
		var seen []IOError
		_, err := replica.WaitFor(wctx, env.Replica, harness.ReplicaPoll, "IO thread Connecting with a timeout-class error (errno 110)",
			func(s replica.Status) bool {
				if s.LastIOErrno != 0 && !slices.ContainsFunc(seen, func(e IOError) bool { return e.Errno == s.LastIOErrno && e.Msg == s.LastIOError }) {
					seen = append(seen, IOError{IO: string(s.IO), Errno: s.LastIOErrno, Msg: s.LastIOError, At: env.Timeline.Offset(s.ObservedAt)})
				}
				_, ok := TimeoutClass(s.LastIOErrno, s.LastIOError)
				return s.IO == replica.IOConnecting && ok
			})
		if err != nil && ctx.Err() != nil {
			return err
		}
		return env.Check(ReplicaTimedOut(seen, env.Timeline.Offset(m.FaultAt), window))
	})
}

// IOError is one distinct Last_IO_Errno/Last_IO_Error the replica showed.
type IOError struct {
	IO    string
	Errno int
	Msg   string
	At    time.Duration
}

// Client errors a reconnect can end with: CR_CONN_HOST_ERROR (connect()
// failed) and CR_SERVER_LOST (the connection died during the handshake).
const (
	crConnHostError = 2003
	crServerLost    = 2013
	etimedout       = 110
)

var osErrnoRE = regexp.MustCompile(`\((\d+)(?:\s+"[^"]*")?\)`)

// TimeoutClass reports whether a replica's IO error is a timeout, and the
// OS errno it carries. Timeout-class means precisely: the client error is
// 2003 (CR_CONN_HOST_ERROR) or 2013 (CR_SERVER_LOST) and the OS errno in
// its message is 110 (ETIMEDOUT), e.g. MariaDB's "Can't connect to server
// on '10.20.11.123' (110 "Connection timed out")" or MySQL's "… (110)":
// the packets were swallowed and the connect timed out. An answered
// failure (101 ENETUNREACH from an ICMP, 111 ECONNREFUSED, 113
// EHOSTUNREACH) is not: something on the path spoke.
func TimeoutClass(errno int, msg string) (osErrno int, ok bool) {
	ms := osErrnoRE.FindAllStringSubmatch(msg, -1)
	if len(ms) > 0 {
		osErrno, _ = strconv.Atoi(ms[len(ms)-1][1])
	}
	return osErrno, (errno == crConnHostError || errno == crServerLost) && osErrno == etimedout
}

// ReplicaTimedOut is the check of [ReplicaTimesOut]: one of the errors seen
// within the window is timeout-class.
func ReplicaTimedOut(seen []IOError, from, window time.Duration) check.Result {
	r := check.Result{Name: "replica_timed_out",
		Expected: fmt.Sprintf("IO thread Connecting with errno %d or %d carrying OS errno 110 (ETIMEDOUT) within %.2fs of the fault", crConnHostError, crServerLost, window.Seconds()),
		Detail:   map[string]any{"window_ms": window.Milliseconds()}}
	var errs []string
	for _, e := range seen {
		os, ok := TimeoutClass(e.Errno, e.Msg)
		if ok && e.IO == string(replica.IOConnecting) {
			r.Verdict = check.Pass
			r.Observed = fmt.Sprintf("Connecting at %.2fs, errno %d (OS errno %d): %s", e.At.Seconds(), e.Errno, os, e.Msg)
			r.Detail["last_io_errno"], r.Detail["os_errno"], r.Detail["last_io_error"] = e.Errno, os, e.Msg
			r.Detail["detect_ms"] = (e.At - from).Milliseconds()
			return r
		}
		s := fmt.Sprintf("%s errno %d", e.IO, e.Errno)
		if os != 0 {
			s += fmt.Sprintf(" (OS errno %d)", os)
		}
		errs = append(errs, s+": "+e.Msg)
	}
	r.Verdict = check.Fail
	if len(errs) == 0 {
		r.Observed = "no IO error recorded in the window"
	} else {
		r.Observed = "no timeout-class error: " + strings.Join(errs, "; ")
		if slices.ContainsFunc(seen, func(e IOError) bool { os, _ := TimeoutClass(e.Errno, e.Msg); return os == 101 || os == 113 }) {
			r.Observed += " (an ICMP unreachable answered: the WAN was not silent)"
		}
	}
	return r
}

// WaitDPDDead waits until each of sites has reported its IKE SA down
// (VICI ike-updown, up=false) after since, within the DPD window, and
// checks that it was DPD: nobody terminated it.
func WaitDPDDead(ctx context.Context, env *harness.Env, it ikeTimings, sites []string, since time.Time, step string) error {
	return env.Step(ctx, step, func(ctx context.Context) error {
		window := it.dpdWindow()
		from := env.Timeline.Offset(since)
		deadline := since.Add(window)
		t := time.NewTicker(harness.ReplicaPoll)
		defer t.Stop()
		for {
			r := DPDDeclaredDead(env.Timeline.Events(), sites, from, from+window)
			if r.Passed() || !time.Now().Before(deadline) {
				if r.Passed() {
					if at, ok := r.Detail["first_down_ms"].(int64); ok {
						env.Metric("dpd_dead_ms", time.Duration(at)*time.Millisecond-from)
					}
				}
				return env.Check(r)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
	})
}

// DPDDeclaredDead passes when each site's gateway reported an ike_updown
// with up=false within [from, to] and the harness did not terminate that
// gateway's SA in between (a "down" step or expected outcome recorded by
// the tunnel package): the peer was declared dead by DPD.
func DPDDeclaredDead(events []timeline.Event, sites []string, from, to time.Duration) check.Result {
	r := check.Result{Name: "dpd_declared_dead",
		Expected: fmt.Sprintf("%s: IKE SA down (ike_updown up=false) between %.2fs and %.2fs, not terminated by the harness", strings.Join(sites, ", "), from.Seconds(), to.Seconds()),
		Detail:   map[string]any{"window_from_ms": from.Milliseconds(), "window_to_ms": to.Milliseconds()}}
	var obs, problems []string
	var first time.Duration = -1
	per := map[string]any{}
	for _, site := range sites {
		src := "tunnel/" + site
		var ikeDown, childDown *timeline.Event
		var terminated *timeline.Event
		for _, e := range events {
			at := e.At()
			if e.Source != src || at < from || at > to {
				continue
			}
			switch {
			case (e.Kind == timeline.KindStep || e.Kind == timeline.KindExpected) && e.Detail["action"] == "down" && terminated == nil:
				terminated = &e
			case e.Kind == timeline.KindIKEUpDown && e.Detail["up"] == false && ikeDown == nil:
				ikeDown = &e
			case e.Kind == timeline.KindChildUpDown && e.Detail["up"] == false && childDown == nil:
				childDown = &e
			}
		}
		switch {
		case terminated != nil && (ikeDown == nil || terminated.At() <= ikeDown.At()):
			problems = append(problems, fmt.Sprintf("%s: the harness terminated the SA at %.2fs: not DPD", site, terminated.At().Seconds()))
		case ikeDown == nil:
			problems = append(problems, site+": no ike_updown down in the window")
		default:
			s := fmt.Sprintf("%s: IKE SA down at %.2fs", site, ikeDown.At().Seconds())
			d := map[string]any{"ike_down_ms": ikeDown.At().Milliseconds()}
			if childDown != nil {
				s += fmt.Sprintf(", CHILD SA down at %.2fs", childDown.At().Seconds())
				d["child_down_ms"] = childDown.At().Milliseconds()
			}
			obs = append(obs, s)
			per[site] = d
			if first < 0 || ikeDown.At() < first {
				first = ikeDown.At()
			}
		}
	}
	r.Detail["gateways"] = per
	if len(sites) == 0 {
		problems = append(problems, "no gateway to watch")
	}
	if len(problems) > 0 {
		r.Verdict, r.Observed = check.Fail, strings.Join(append(problems, obs...), "; ")
		return r
	}
	r.Verdict, r.Observed = check.Pass, strings.Join(obs, "; ")
	r.Detail["first_down_ms"] = first.Milliseconds()
	return r
}

// WaitSelfHeal waits, without initiating anything, until both gateways are
// healthy (one IKE SA, one CHILD SA each) within window, and checks it. It
// sets m.TunnelUpAt and self_heal_ms (from now: the moment the cause was
// removed), records which gateway initiated the new IKE SA, and on failure
// diagnoses what the gateways are doing.
func WaitSelfHeal(ctx context.Context, env *harness.Env, it ikeTimings, m *Marks, after string, window time.Duration) error {
	first, second := env.TunnelSides()
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, window)
	err := tunnel.WaitHealthy(wctx, 20*time.Millisecond, first, second)
	cancel()
	m.TunnelUpAt = time.Now()
	if err != nil && ctx.Err() != nil {
		return err
	}
	took := m.TunnelUpAt.Sub(start)
	r := check.Result{Name: "tunnel_self_healed",
		Expected: fmt.Sprintf("both gateways ESTABLISHED/INSTALLED, one IKE SA and one CHILD SA each, within %.2fs of %s, nobody calling initiate (%s)",
			window.Seconds(), after, it.reinitiators()),
		Detail: map[string]any{"window_ms": window.Milliseconds()}}
	if err != nil {
		doing := gatewaysDoing(ctx, env)
		r.Verdict = check.Fail
		if h := it.healHint(); h != "" {
			doing += " (" + h + ")"
		}
		r.Observed = fmt.Sprintf("not healthy %.2fs after %s: %s", took.Seconds(), after, doing)
		env.Diagnose(fmt.Sprintf("the tunnel did not heal by itself within %.2fs of %s: %s", window.Seconds(), after, doing))
		return env.Check(r)
	}
	initiator := initiatorOf(ctx, first, second)
	r.Verdict = check.Pass
	r.Observed = fmt.Sprintf("healthy %.2fs after %s; new IKE SA initiated by %s", took.Seconds(), after, initiator)
	r.Detail["self_heal_ms"], r.Detail["initiator"] = took.Milliseconds(), initiator
	env.Metric("self_heal_ms", took)
	env.Timeline.AddAt(m.TunnelUpAt, "harness", timeline.KindNote, map[string]any{"event": "tunnel healed by itself", "after": after,
		"initiator": initiator, "self_heal_ms": took.Milliseconds()})
	return env.Check(r)
}

// initiatorOf names the gateway that initiated the (single) IKE SA.
func initiatorOf(ctx context.Context, sides ...tunnel.Side) string {
	for _, s := range sides {
		st, err := s.GW.State(ctx, s.Want.Connection)
		if err != nil {
			continue
		}
		for _, ike := range st.IKESAs {
			if ike.Name == s.Want.Connection && ike.Initiator {
				return s.GW.Name()
			}
		}
	}
	return "unknown"
}

// gatewaysDoing says, per gateway, what its SAs are and what its charon
// logged last: the diagnosis of a tunnel that does not come back.
func gatewaysDoing(ctx context.Context, env *harness.Env) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	first, second := env.TunnelSides()
	var parts []string
	for _, s := range []tunnel.Side{first, second} {
		name := s.GW.Name()
		p := name + ": "
		if st, err := s.GW.State(ctx, s.Want.Connection); err != nil {
			p += "state unknown (" + err.Error() + ")"
		} else if n := len(st.IKESAs); n > 1 {
			p += fmt.Sprintf("%d IKE SAs (%s)", n, st.Summary())
		} else {
			p += st.Summary()
		}
		if env.Lab != nil {
			if lines := CharonTail(filepath.Join(env.Lab.Dir, name, "charon.log"), 3); len(lines) > 0 {
				p += ", charon: " + strings.Join(lines, " | ")
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// charonNoise are log lines that say nothing about what charon is doing
// (task bookkeeping, packet dumps).
var charonNoise = []string{"[ENC]", "[NET] sending packet", "[NET] received packet", "] queueing ", "] activating ", "]   ",
	"nothing to initiate", "reinitiating already active tasks", "selected proposal", "scheduling rekeying", "maximum IKE_SA lifetime",
	"notify", "shared key MAC", "authentication of", "behind NAT", "endpoint changed", "MOBIKE", "[KNL]"}

// CharonTail returns the last n meaningful lines of a charon log.
func CharonTail(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	text := string(b)
	i := strings.LastIndexByte(text, '\n')
	if i < 0 {
		return nil
	}
	text = text[:i] // without a line charon is still writing
	lines := strings.Split(text, "\n")
	var out []string
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasSuffix(l, "]") || l == "" || slices.ContainsFunc(charonNoise, func(s string) bool { return strings.Contains(lines[i], s) }) {
			continue
		}
		out = append(out, l)
	}
	slices.Reverse(out)
	return out
}

// ikeTimings are what decide how fast the gateways notice a dead peer and
// how fast a re-initiating gateway gets through once packets flow, read
// from the lab's own configuration: the connection it loads into each
// charon (lab.ConnConfig) and each charon's strongswan.conf.
type ikeTimings struct {
	Sites       []string
	DPDDelay    map[string]time.Duration
	DPDAction   map[string]string
	StartAction map[string]string
	Keyingtries map[string]int
	// Retransmission of IKE requests (the slowest site's).
	RetransmitTimeout time.Duration
	RetransmitBase    float64
	RetransmitTries   int
}

// charon's defaults when strongswan.conf does not set them.
const (
	defaultRetransmitTimeout = 4 * time.Second
	defaultRetransmitBase    = 1.8
	defaultRetransmitTries   = 5
)

var retransmitRE = regexp.MustCompile(`(?m)^\s*retransmit_(timeout|base|tries)\s*=\s*([0-9.]+)\s*$`)

func readIKETimings(info *lab.Info) (ikeTimings, error) {
	it := ikeTimings{Sites: lab.Sites, DPDDelay: map[string]time.Duration{}, DPDAction: map[string]string{},
		StartAction: map[string]string{}, Keyingtries: map[string]int{}}
	for _, s := range lab.Sites {
		cc := lab.ConnConfig(info, s)
		it.DPDDelay[s], it.Keyingtries[s] = cc.DPDDelay, cc.Keyingtries
		for _, ch := range cc.Children {
			if ch.Name == lab.ConnName {
				it.DPDAction[s], it.StartAction[s] = ch.DPDAction, ch.StartAction
			}
		}
		b, err := os.ReadFile(filepath.Join(info.Dir, s, "strongswan.conf"))
		if err != nil {
			return it, fmt.Errorf("read %s's IKE retransmission settings: %w", s, err)
		}
		rt, err := parseRetransmit(string(b))
		if err != nil {
			return it, fmt.Errorf("%s: %w", filepath.Join(info.Dir, s, "strongswan.conf"), err)
		}
		if rt.sequence() > it.sequence() {
			it.RetransmitTimeout, it.RetransmitBase, it.RetransmitTries = rt.RetransmitTimeout, rt.RetransmitBase, rt.RetransmitTries
		}
	}
	return it, nil
}

// parseRetransmit reads charon's retransmit_timeout/base/tries (charon's
// defaults for what is not set).
func parseRetransmit(conf string) (ikeTimings, error) {
	it := ikeTimings{RetransmitTimeout: defaultRetransmitTimeout, RetransmitBase: defaultRetransmitBase, RetransmitTries: defaultRetransmitTries}
	for _, m := range retransmitRE.FindAllStringSubmatch(conf, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil || v < 0 {
			return it, fmt.Errorf("retransmit_%s = %q is not a number", m[1], m[2])
		}
		switch m[1] {
		case "timeout":
			it.RetransmitTimeout = time.Duration(v * float64(time.Second))
		case "base":
			it.RetransmitBase = v
		case "tries":
			it.RetransmitTries = int(v)
		}
	}
	return it, nil
}

// sequence is how long charon tries one IKE request before it gives up:
// the original plus retransmit_tries retransmits, the i-th sent
// timeout·base^(i-1) after the one before, and a last wait of
// timeout·base^tries (lab: 0.5+0.7+0.98+1.372 = 3.55 s).
func (t ikeTimings) sequence() time.Duration {
	var s float64
	for i := 0; i <= t.RetransmitTries; i++ {
		s += t.RetransmitTimeout.Seconds() * math.Pow(t.RetransmitBase, float64(i))
	}
	return time.Duration(s * float64(time.Second))
}

// dpdWindow is how long after the WAN went silent every gateway with DPD
// must have declared its peer dead: charon sends a DPD once nothing came
// from the peer for dpd_delay, and gives up after one retransmit sequence;
// plus a margin of max(1 s, half of that) for the job scheduling and
// packets in flight when the WAN went silent.
func (t ikeTimings) dpdWindow() time.Duration {
	var d time.Duration
	for _, s := range t.Sites {
		d = max(d, t.DPDDelay[s])
	}
	w := d + t.sequence()
	return w + max(time.Second, w/2)
}

// healWindow is how long after packets flow again a re-initiating gateway
// must have the tunnel up: it retransmits its IKE_SA_INIT at most one
// retransmit interval later (and starts over at once when it gives up), so
// one whole sequence covers a first exchange that was itself cut by the
// lift; plus a margin of 1 s for the exchange and the polls.
func (t ikeTimings) healWindow() time.Duration { return t.sequence() + time.Second }

// dpdSites are the sites whose connection has DPD on.
func (t ikeTimings) dpdSites() []string {
	var out []string
	for _, s := range t.Sites {
		if t.DPDDelay[s] > 0 {
			out = append(out, s)
		}
	}
	return out
}

// restarters are the sites that re-initiate by themselves after DPD.
func (t ikeTimings) restarters() []string {
	var out []string
	for _, s := range t.Sites {
		if t.DPDDelay[s] > 0 && (t.DPDAction[s] == "restart" || t.DPDAction[s] == "trap") {
			out = append(out, s)
		}
	}
	return out
}

func (t ikeTimings) reinitiators() string {
	var parts []string
	for _, s := range t.Sites {
		a := t.DPDAction[s]
		if a == "" {
			a = "clear"
		}
		parts = append(parts, fmt.Sprintf("%s dpd_action=%s", s, a))
	}
	return strings.Join(parts, ", ")
}

// healHint explains, from the configuration, a tunnel that does not heal.
func (t ikeTimings) healHint() string {
	switch r := t.restarters(); len(r) {
	case 0:
		return "no gateway re-initiates after DPD: " + t.reinitiators()
	case 1:
		if k := t.Keyingtries[r[0]]; k > 0 {
			return fmt.Sprintf("%s re-initiates but gives up after keyingtries=%d attempts of %.2fs", r[0], k, t.sequence().Seconds())
		}
		return ""
	default:
		return "both gateways have dpd_action=restart: both re-initiate once packets flow, their IKE_SA_INITs cross and leave duplicate IKE/CHILD SAs; restart on one side only"
	}
}

func (t ikeTimings) record(tl *timeline.Timeline) {
	d := map[string]any{"event": "ike_timings", "retransmit_timeout_s": t.RetransmitTimeout.Seconds(), "retransmit_base": t.RetransmitBase,
		"retransmit_tries": t.RetransmitTries, "retransmit_sequence_ms": t.sequence().Milliseconds(),
		"dpd_window_ms": t.dpdWindow().Milliseconds(), "heal_window_ms": t.healWindow().Milliseconds()}
	for _, s := range t.Sites {
		d[s] = map[string]any{"dpd_delay_s": t.DPDDelay[s].Seconds(), "dpd_action": t.DPDAction[s], "start_action": t.StartAction[s], "keyingtries": t.Keyingtries[s]}
	}
	tl.Add("harness", timeline.KindNote, d)
}
