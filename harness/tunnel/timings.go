package tunnel

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"
)

// IKETimings decide how fast the gateways notice a dead peer (DPD) and how
// fast a re-initiating gateway gets through once packets flow again
// (retransmission). DPD delay and action are read live from each charon
// (VICI list-conns); what charon does not report over VICI (retransmission,
// which lives in strongswan.conf; keyingtries; start_action) is declared by
// the target.
type IKETimings struct {
	Sites       []string
	DPDDelay    map[string]time.Duration
	DPDAction   map[string]string // clear, trap, restart ("" = none)
	StartAction map[string]string
	Keyingtries map[string]int
	// Retransmit is the slowest site's IKE retransmission.
	Retransmit Retransmit
	// Source says where each value came from, for the report.
	Source string
}

// Retransmit is charon's retransmission of IKE requests
// (charon.retransmit_timeout/base/tries in strongswan.conf).
type Retransmit struct {
	Timeout time.Duration
	Base    float64
	Tries   int
}

// DefaultRetransmit is charon's default when strongswan.conf sets nothing
// (4 s × 1.8ⁿ, 5 tries: ~165 s before "giving up").
var DefaultRetransmit = Retransmit{Timeout: 4 * time.Second, Base: 1.8, Tries: 5}

// Sequence is how long charon tries one IKE request before it gives up: the
// original plus Tries retransmits, the i-th sent Timeout·Base^(i-1) after
// the one before, and a last wait of Timeout·Base^Tries (lab: 0.5 + 0.7 +
// 0.98 + 1.372 = 3.55 s).
func (r Retransmit) Sequence() time.Duration {
	var s float64
	for i := 0; i <= r.Tries; i++ {
		s += r.Timeout.Seconds() * math.Pow(r.Base, float64(i))
	}
	return time.Duration(s * float64(time.Second))
}

var retransmitRE = regexp.MustCompile(`(?m)^\s*retransmit_(timeout|base|tries)\s*=\s*([0-9.]+)\s*$`)

// ParseRetransmit reads retransmit_timeout/base/tries from a strongswan.conf
// (charon's defaults for what is not set).
func ParseRetransmit(conf string) (Retransmit, error) {
	r := DefaultRetransmit
	for _, m := range retransmitRE.FindAllStringSubmatch(conf, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil || v < 0 {
			return r, fmt.Errorf("retransmit_%s = %q is not a number", m[1], m[2])
		}
		switch m[1] {
		case "timeout":
			r.Timeout = time.Duration(v * float64(time.Second))
		case "base":
			r.Base = v
		case "tries":
			r.Tries = int(v)
		}
	}
	return r, nil
}

// Sequence is the slowest site's retransmission sequence.
func (t IKETimings) Sequence() time.Duration { return t.Retransmit.Sequence() }

// DPDWindow is how long after the WAN went silent every gateway with DPD
// must have declared its peer dead: charon sends a DPD once nothing came
// from the peer for dpd_delay and gives up after one retransmit sequence;
// plus a margin of max(1 s, half of that) for job scheduling and packets in
// flight when the WAN went silent.
func (t IKETimings) DPDWindow() time.Duration {
	var d time.Duration
	for _, s := range t.Sites {
		d = max(d, t.DPDDelay[s])
	}
	w := d + t.Sequence()
	return w + max(time.Second, w/2)
}

// HealWindow is how long after packets flow again a re-initiating gateway
// must have the tunnel up: it retransmits its IKE_SA_INIT at most one
// retransmit interval later (and starts over when it gives up), so one
// whole sequence covers a first exchange that was itself cut; plus 1 s for
// the exchange and the polls.
func (t IKETimings) HealWindow() time.Duration { return t.Sequence() + time.Second }

// DPDSites are the sites whose connection has DPD on.
func (t IKETimings) DPDSites() []string {
	var out []string
	for _, s := range t.Sites {
		if t.DPDDelay[s] > 0 {
			out = append(out, s)
		}
	}
	return out
}

// Restarters are the sites that re-initiate by themselves after DPD.
func (t IKETimings) Restarters() []string {
	var out []string
	for _, s := range t.Sites {
		if t.DPDDelay[s] > 0 && (t.DPDAction[s] == "restart" || t.DPDAction[s] == "trap") {
			out = append(out, s)
		}
	}
	return out
}

// Reinitiators says per site what it does after DPD.
func (t IKETimings) Reinitiators() string {
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

// HealHint explains, from the configuration, a tunnel that does not heal.
func (t IKETimings) HealHint() string {
	switch r := t.Restarters(); len(r) {
	case 0:
		return "no gateway re-initiates after DPD: " + t.Reinitiators()
	case 1:
		if k := t.Keyingtries[r[0]]; k > 0 {
			return fmt.Sprintf("%s re-initiates but gives up after keyingtries=%d attempts of %.2fs", r[0], k, t.Sequence().Seconds())
		}
		return ""
	default:
		return "both gateways have dpd_action=restart: both re-initiate once packets flow, their IKE_SA_INITs cross and leave duplicate IKE/CHILD SAs; restart on one side only"
	}
}

// Note is the timings as a timeline note / report detail.
func (t IKETimings) Note() map[string]any {
	d := map[string]any{"event": "ike_timings", "source": t.Source, "retransmit_timeout_s": t.Retransmit.Timeout.Seconds(),
		"retransmit_base": t.Retransmit.Base, "retransmit_tries": t.Retransmit.Tries, "retransmit_sequence_ms": t.Sequence().Milliseconds(),
		"dpd_window_ms": t.DPDWindow().Milliseconds(), "heal_window_ms": t.HealWindow().Milliseconds()}
	for _, s := range t.Sites {
		d[s] = map[string]any{"dpd_delay_s": t.DPDDelay[s].Seconds(), "dpd_action": t.DPDAction[s], "start_action": t.StartAction[s], "keyingtries": t.Keyingtries[s]}
	}
	return d
}

// ConnInfo is what charon reports about a loaded connection (list-conns).
type ConnInfo struct {
	Name     string
	DPDDelay time.Duration
	// Children's dpd_action, normalised to swanctl.conf's words (charon
	// reports restart as "start").
	DPDAction map[string]string
	LocalTS   map[string][]string
	RemoteTS  map[string][]string
}

// Conn reads a loaded connection's settings from charon (VICI list-conns).
func (g *Gateway) Conn(ctx context.Context, name string) (ConnInfo, error) {
	in := vici.NewMessage()
	set(in, "ike", name)
	evs, _, err := g.stream(ctx, "list-conns", "list-conn", in)
	if err != nil {
		return ConnInfo{}, err
	}
	for _, ev := range evs {
		c, ok := ev.Get(name).(*vici.Message)
		if !ok {
			continue
		}
		return parseConn(name, c), nil
	}
	return ConnInfo{}, fmt.Errorf("%s: connection %s is not loaded", g.name, name)
}

func parseConn(name string, c *vici.Message) ConnInfo {
	ci := ConnInfo{Name: name, DPDAction: map[string]string{}, LocalTS: map[string][]string{}, RemoteTS: map[string][]string{}}
	if s, ok := c.Get("dpd_delay").(string); ok {
		if n, err := strconv.Atoi(s); err == nil {
			ci.DPDDelay = time.Duration(n) * time.Second
		}
	}
	children, _ := c.Get("children").(*vici.Message)
	if children == nil {
		return ci
	}
	for _, k := range children.Keys() {
		ch, ok := children.Get(k).(*vici.Message)
		if !ok {
			continue
		}
		a, _ := ch.Get("dpd_action").(string)
		ci.DPDAction[k] = NormaliseAction(a)
		ci.LocalTS[k], _ = ch.Get("local-ts").([]string)
		ci.RemoteTS[k], _ = ch.Get("remote-ts").([]string)
	}
	return ci
}

// NormaliseAction maps charon's names for an action (list-conns says
// "start" for dpd_action=restart, "none" for clear) onto swanctl.conf's.
func NormaliseAction(a string) string {
	switch a {
	case "start":
		return "restart"
	case "none":
		return "clear"
	}
	return a
}
