package fault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// RateLimitHandle is the root qdisc handle the wan-ratelimit fault owns:
// tc deletes a root qdisc by handle only when the handle matches, so
// Recover and the watchdog never remove someone else's qdisc.
const RateLimitHandle = "d7d1:"

// DefaultRateLimitLimit bounds a rate limit injected without a limit.
const DefaultRateLimitLimit = 10 * time.Minute

// RateLimitEnd is the limited gateway: its host, the WAN interface its
// route to the peer leaves by, and the token that names its watchdog.
type RateLimitEnd struct {
	Host     target.Host `json:"host"`
	PeerAddr string      `json:"peer_addr"`
	Dev      string      `json:"dev"`
	Token    string      `json:"token"`
}

var (
	devRE   = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)
	tokenRE = regexp.MustCompile(`^[0-9a-f]{16}$`)
	// tc's rate units (tc(8) "RATES"); a bare number is bytes per second.
	rateRE     = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps|Kibit|Mibit|Gibit)?$`)
	sizeRE     = regexp.MustCompile(`^[0-9]+(b|k|kb|m|mb|kbit|mbit)?$`)
	latencyRE  = regexp.MustCompile(`^[0-9]+(us|ms|s)$`)
	routeDevRE = regexp.MustCompile(`\bdev (\S+)`)
)

// Validate checks what goes into the commands.
func (e RateLimitEnd) Validate() error {
	switch {
	case e.Host.Site == "" || strings.ContainsAny(e.Host.String(), " /;"):
		return fmt.Errorf("wan-ratelimit: bad host %q", e.Host)
	case !devRE.MatchString(e.Dev):
		return fmt.Errorf("wan-ratelimit: %s: interface %q is not an interface name", e.Host, e.Dev)
	case !tokenRE.MatchString(e.Token):
		return fmt.Errorf("wan-ratelimit: %s: watchdog token %q is not 16 hex digits", e.Host, e.Token)
	}
	return nil
}

// WANRateLimit shapes one gateway's WAN egress with a token bucket (tc
// tbf; netem is not in every kernel), so that the tunnel carries at most
// Rate and a replica behind it trails its primary under load. The WAN
// interface is the one the gateway's route to its peer leaves by (ip
// route get), read in Plan.
//
// Dead-man's switch: a qdisc does not expire, so Inject first starts a
// watchdog in the gateway's host (setsid sh -c 'sleep LIMIT; tc qdisc del
// dev DEV root handle d7d1:', its $0 drdrill-watchdog-TOKEN) and then adds
// the qdisc; Recover kills the watchdog (by its token, journalled in
// Plan's data) and deletes the qdisc by handle.
type WANRateLimit struct {
	built
	Hosts target.HostExec
	Side  tunnel.Side // the limited gateway
	TL    *timeline.Timeline
	// Rate, Burst, Latency are tbf's (tc-tbf(8)).
	Rate, Burst, Latency string
	// Limit is the dead-man's switch (0: DefaultRateLimitLimit).
	Limit time.Duration

	mu       sync.Mutex
	end      *RateLimitEnd
	lifted   bool
	injected time.Time
}

func (f *WANRateLimit) Name() string { return "wan-ratelimit" }

func (f *WANRateLimit) limit() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Limit > 0 {
		return f.Limit
	}
	return DefaultRateLimitLimit
}

// ValidateShape checks rate, burst and latency before anything runs.
func (f *WANRateLimit) ValidateShape() error {
	if !rateRE.MatchString(f.Rate) {
		return fmt.Errorf("wan-ratelimit: rate %q: want a tc rate such as 256kbit", f.Rate)
	}
	if !sizeRE.MatchString(f.Burst) {
		return fmt.Errorf("wan-ratelimit: burst %q: want a tc size such as 16kb", f.Burst)
	}
	if d, err := time.ParseDuration(f.Latency); err != nil || d <= 0 || !latencyRE.MatchString(f.Latency) {
		return fmt.Errorf("wan-ratelimit: latency %q: want a duration such as 200ms", f.Latency)
	}
	return nil
}

// resolve finds the peer's WAN address (the established IKE SA) and the
// interface the gateway's route to it leaves by.
func (f *WANRateLimit) resolve(ctx context.Context) (*RateLimitEnd, error) {
	ends, err := (&WANBlackhole{Sides: []tunnel.Side{f.Side}}).resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("wan-ratelimit: %w", err)
	}
	host := ends[0].Host
	out, err := f.Hosts.Exec(ctx, host, "ip", "-o", "route", "get", ends[0].PeerAddr)
	if err != nil {
		return nil, fmt.Errorf("wan-ratelimit: %s: the route to its peer %s: %w", host, ends[0].PeerAddr, err)
	}
	dev, err := RouteDev(string(out))
	if err != nil {
		return nil, fmt.Errorf("wan-ratelimit: %s: the route to its peer %s: %w", host, ends[0].PeerAddr, err)
	}
	var b [8]byte
	rand.Read(b[:])
	e := &RateLimitEnd{Host: host, PeerAddr: ends[0].PeerAddr, Dev: dev, Token: hex.EncodeToString(b[:])}
	return e, e.Validate()
}

// RouteDev is the interface of an `ip -o route get` line.
func RouteDev(out string) (string, error) {
	m := routeDevRE.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no interface in %q", strings.TrimSpace(out))
	}
	return m[1], nil
}

// TbfCommand adds the fault's root qdisc. `add` (not replace) fails on an
// interface that already has a root qdisc of its own: the fault never
// replaces one it could not restore.
func TbfCommand(e RateLimitEnd, rate, burst, latency string) []string {
	return []string{"tc", "qdisc", "add", "dev", e.Dev, "root", "handle", RateLimitHandle, "tbf", "rate", rate, "burst", burst, "latency", latency}
}

// DelCommand removes the fault's root qdisc (only it: by handle).
func DelCommand(e RateLimitEnd) []string {
	return []string{"tc", "qdisc", "del", "dev", e.Dev, "root", "handle", RateLimitHandle}
}

// WatchdogCommand starts, detached in the host, `sleep limit; undo` with
// $0 drdrill-watchdog-TOKEN; it returns at once. undo is a fixed command
// line built from validated values.
func WatchdogCommand(token string, limit time.Duration, undo []string) []string {
	inner := "sleep " + strconv.FormatFloat(limit.Seconds(), 'f', 3, 64) + "; " + strings.Join(undo, " ")
	return []string{"sh", "-c", `setsid sh -c "$1" "drdrill-watchdog-$2" </dev/null >/dev/null 2>&1 &`, "drdrill-start", inner, token}
}

// CancelWatchdogCommand kills the process group of the watchdog whose $0
// is drdrill-watchdog-TOKEN (and its sleep); nothing to kill is fine.
func CancelWatchdogCommand(token string) []string {
	return []string{"sh", "-c", `for p in /proc/[0-9]*; do
  [ "$(tr '\0' '\n' < "$p/cmdline" 2>/dev/null | sed -n 4p)" = "drdrill-watchdog-$1" ] && kill -9 "-${p#/proc/}" 2>/dev/null
done; true`, "drdrill-cancel", token}
}

// Plan resolves the WAN interface and the watchdog's token. Data is the end.
func (f *WANRateLimit) Plan(ctx context.Context, limit time.Duration) (Plan, error) {
	if err := f.ValidateShape(); err != nil {
		return Plan{}, err
	}
	e, err := f.resolve(ctx)
	if err != nil {
		return Plan{}, err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return Plan{}, err
	}
	f.mu.Lock()
	f.end, f.Limit = e, limit
	f.mu.Unlock()
	return Plan{Hosts: []string{e.Host.String()},
		What: fmt.Sprintf("%s's WAN egress (%s, toward %s) limited to %s (tc qdisc tbf, handle %s, burst %s, latency %s)",
			e.Host, e.Dev, e.PeerAddr, f.Rate, RateLimitHandle, f.Burst, f.Latency),
		Undo:    fmt.Sprintf("on %s: %s; kill the watchdog whose name is drdrill-watchdog-%s", e.Host, strings.Join(DelCommand(*e), " "), e.Token),
		DeadMan: f.DeadMan(),
		Data:    data}, nil
}

// DeadMan says what removes the qdisc by itself.
func (f *WANRateLimit) DeadMan() string {
	return fmt.Sprintf("a watchdog in the gateway's host deletes the qdisc (handle %s) %s after the inject (killed by recover)", RateLimitHandle, f.limit())
}

// Resume takes the journalled end (nil: nothing known, Recover does
// nothing but say so).
func (f *WANRateLimit) Resume(data json.RawMessage) error {
	var e *RateLimitEnd
	if len(data) > 0 {
		e = &RateLimitEnd{}
		if err := json.Unmarshal(data, e); err != nil {
			return fmt.Errorf("wan-ratelimit: resume: %w", err)
		}
		if err := e.Validate(); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	f.mu.Lock()
	f.end, f.lifted = e, false
	f.mu.Unlock()
	return nil
}

// Inject arms the watchdog, then adds the qdisc.
func (f *WANRateLimit) Inject(ctx context.Context) error {
	if err := f.ValidateShape(); err != nil {
		return err
	}
	f.mu.Lock()
	e := f.end
	f.mu.Unlock()
	if e == nil {
		var err error
		if e, err = f.resolve(ctx); err != nil {
			return err
		}
	}
	if err := e.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	f.end, f.lifted = e, false
	f.mu.Unlock()
	limit := f.limit()
	if _, err := f.Hosts.Exec(ctx, e.Host, WatchdogCommand(e.Token, limit, DelCommand(*e))...); err != nil {
		return fmt.Errorf("wan-ratelimit on %s: arm the watchdog: %w", e.Host, err)
	}
	if _, err := f.Hosts.Exec(ctx, e.Host, TbfCommand(*e, f.Rate, f.Burst, f.Latency)...); err != nil {
		return fmt.Errorf("wan-ratelimit on %s: %w", e.Host, err)
	}
	f.mu.Lock()
	f.injected = time.Now()
	f.mu.Unlock()
	f.TL.Add("fault", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "inject", "host": e.Host.String(),
		"detail":   fmt.Sprintf("WAN egress %s limited to %s (tbf burst %s latency %s)", e.Dev, f.Rate, f.Burst, f.Latency),
		"dead_man": fmt.Sprintf("deleted by a watchdog after %s", limit)})
	return nil
}

// qdisc reads the fault's qdisc line ("" when it is not there).
func (f *WANRateLimit) qdisc(ctx context.Context, e *RateLimitEnd) (string, error) {
	out, err := f.Hosts.Exec(ctx, e.Host, "tc", "-s", "qdisc", "show", "dev", e.Dev, "root")
	if err != nil {
		return "", err
	}
	s := string(out)
	if !strings.Contains(s, "qdisc tbf "+RateLimitHandle+" root") {
		return "", nil
	}
	return strings.Join(strings.Fields(s), " "), nil
}

// WaitForEffect returns once the qdisc is in place and has held back
// traffic (tc's overlimits counter above zero): the link was busier than
// the rate.
func (f *WANRateLimit) WaitForEffect(ctx context.Context) error {
	f.mu.Lock()
	e := f.end
	f.mu.Unlock()
	if e == nil {
		return errors.New("wan-ratelimit: not injected")
	}
	return poll.Until(ctx, "the WAN rate limit to hold back a packet", 50*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		q, err := f.qdisc(ctx, e)
		if err != nil {
			return false, err.Error(), nil
		}
		if q == "" {
			return false, "no qdisc " + RateLimitHandle + " on " + e.Dev, nil
		}
		return Overlimits(q) > 0, q, nil
	})
}

var overRE = regexp.MustCompile(`overlimits (\d+)`)

// Overlimits is tc -s's overlimits counter (-1 when absent).
func Overlimits(stats string) int64 {
	m := overRE.FindStringSubmatch(stats)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// Recover kills the watchdog and deletes the qdisc, then verifies it is
// gone. Without a resolved end (never planned, nothing journalled) there
// is nothing it could name, and it says so on the timeline.
func (f *WANRateLimit) Recover(ctx context.Context) error {
	f.mu.Lock()
	e := f.end
	f.mu.Unlock()
	if e == nil {
		f.TL.Add("fault", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "recover", "detail": "nothing injected"})
		f.mu.Lock()
		f.lifted = true
		f.mu.Unlock()
		return nil
	}
	var errs []error
	if _, err := f.Hosts.Exec(ctx, e.Host, CancelWatchdogCommand(e.Token)...); err != nil {
		errs = append(errs, fmt.Errorf("cancel the watchdog: %w", err))
	}
	q, err := f.qdisc(ctx, e)
	if err != nil {
		errs = append(errs, err)
	}
	if q != "" {
		if _, err := f.Hosts.Exec(ctx, e.Host, DelCommand(*e)...); err != nil {
			errs = append(errs, err)
		}
		if left, err := f.qdisc(ctx, e); err != nil || left != "" {
			errs = append(errs, fmt.Errorf("verify: qdisc %s still on %s: %s %v", RateLimitHandle, e.Dev, left, err))
		}
	}
	d := timeline.Fault{Fault: f.Name(), Action: "recover", Detail: "qdisc " + RateLimitHandle + " removed from " + e.Dev + ", watchdog killed",
		Extra: map[string]any{"host": e.Host.String(), "qdisc_stats": q}}
	if err := errors.Join(errs...); err != nil {
		d.Extra["error"] = err.Error()
		f.TL.Add("fault", timeline.KindFault, d)
		return fmt.Errorf("wan-ratelimit: lift on %s: %w", e.Host, err)
	}
	f.TL.Add("fault", timeline.KindFault, d)
	f.mu.Lock()
	f.lifted = true
	f.mu.Unlock()
	return nil
}

// WaitRecovered lifts the limit if Recover did not; the tunnel itself was
// never broken, so there is nothing else to wait for.
func (f *WANRateLimit) WaitRecovered(ctx context.Context) error {
	f.mu.Lock()
	lifted := f.lifted
	f.mu.Unlock()
	if !lifted {
		return f.Recover(ctx)
	}
	return nil
}

func init() {
	Register(Spec{Name: "wan-ratelimit",
		Description: "limit a gateway's WAN egress (tc tbf) so the replica trails under load; removed by a watchdog after max_fault",
		Needs:       []target.Capability{target.CapExec},
		Params: []Param{{Name: "rate", Default: "256kbit", Doc: "tbf rate (tc units: kbit, mbit, ...)"},
			{Name: "burst", Default: "16kb", Doc: "tbf burst"},
			{Name: "latency", Default: "200ms", Doc: "tbf latency: the longest a packet waits before it is dropped"},
			{Name: "site", Default: "the primary's site", Doc: "whose gateway's egress is limited"}},
		New: func(t target.Target, tl *timeline.Timeline, p Params) (Fault, error) {
			first, _, err := sides(t, p.String("site", ""))
			if err != nil {
				return nil, fmt.Errorf("wan-ratelimit needs a target with two gateways: %w", err)
			}
			f := &WANRateLimit{Hosts: t.(target.HostExec), Side: first.Side(), TL: tl,
				Rate: p.String("rate", "256kbit"), Burst: p.String("burst", "16kb"), Latency: p.String("latency", "200ms")}
			if err := f.ValidateShape(); err != nil {
				return nil, err
			}
			return f, nil
		}})
}
