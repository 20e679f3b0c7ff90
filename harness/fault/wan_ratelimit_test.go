package fault

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/target"
)

// tcHosts answers ip route get and keeps the root qdisc per host, as tc
// does: add refuses over a qdisc of its own, del by handle only matches.
type tcHosts struct {
	calls      []string
	qdisc      map[string]string // host: handle of the root qdisc
	overlimits int
	watchdogs  map[string]bool // tokens of running watchdogs
}

func newTCHosts() *tcHosts {
	return &tcHosts{qdisc: map[string]string{}, watchdogs: map[string]bool{}}
}

func (h *tcHosts) Exec(_ context.Context, th target.Host, argv ...string) ([]byte, error) {
	host := th.String()
	cmd := strings.Join(argv, " ")
	h.calls = append(h.calls, host+": "+cmd)
	switch {
	case strings.HasPrefix(cmd, "ip -o route get 198.51.100."):
		return []byte(argv[4] + " dev wan0 src 198.51.100.1 uid 0 \\    cache \n"), nil
	case strings.HasPrefix(cmd, "tc qdisc add"):
		if h.qdisc[host] != "" {
			return nil, errors.New("Error: Exclusivity flag on, cannot modify.")
		}
		h.qdisc[host] = argv[7]
	case strings.HasPrefix(cmd, "tc qdisc del"):
		if h.qdisc[host] != argv[7] {
			return nil, errors.New("Error: Invalid handle.")
		}
		h.qdisc[host] = ""
	case strings.HasPrefix(cmd, "tc -s qdisc show"):
		if q := h.qdisc[host]; q != "" {
			kind := "tbf"
			if q != RateLimitHandle {
				kind = "htb"
			}
			return []byte("qdisc " + kind + " " + q + " root refcnt 2 rate 256Kbit burst 16Kb lat 200ms \n Sent 1000 bytes 10 pkt (dropped 0, overlimits " + itoa(h.overlimits) + " requeues 0)\n"), nil
		}
		return []byte("qdisc noqueue 0: root refcnt 2 \n"), nil
	case argv[0] == "sh" && argv[3] == "drdrill-start":
		h.watchdogs[argv[5]] = true
	case argv[0] == "sh" && argv[3] == "drdrill-cancel":
		delete(h.watchdogs, argv[4])
	default:
		return nil, errors.New("tcHosts: unexpected " + cmd)
	}
	return nil, nil
}

// ExecInput is Exec; faults send no stdin.
func (h *tcHosts) ExecInput(ctx context.Context, th target.Host, stdin []byte, argv ...string) ([]byte, error) {
	if stdin != nil {
		return nil, errors.New("fake: a fault sends no stdin")
	}
	return h.Exec(ctx, th, argv...)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRouteDevAndOverlimits(t *testing.T) {
	if d, err := RouteDev("198.51.100.2 dev wan0 src 198.51.100.1 uid 0 \\    cache "); err != nil || d != "wan0" {
		t.Fatalf("%q %v", d, err)
	}
	if _, err := RouteDev("RTNETLINK answers: Network is unreachable"); err == nil {
		t.Fatal("no dev must be an error")
	}
	if n := Overlimits("qdisc tbf d7d1: root Sent 5 bytes 1 pkt (dropped 0, overlimits 42 requeues 0)"); n != 42 {
		t.Fatal(n)
	}
	if n := Overlimits("qdisc noqueue 0: root"); n != -1 {
		t.Fatal(n)
	}
}

func TestWANRateLimitRefusesBadShapeBeforeAnything(t *testing.T) {
	for p, want := range map[string]string{"rate": "tc rate", "burst": "tc size", "latency": "duration"} {
		h := newTCHosts()
		_, err := New("wan-ratelimit", newFakeVPN().target(h, nil), nil, Params{p: "fast; reboot"})
		if err == nil || !strings.Contains(err.Error(), want) || len(h.calls) != 0 {
			t.Errorf("%s: %v, calls %q", p, err, h.calls)
		}
	}
	if _, err := New("wan-ratelimit", newFakeVPN().target(newTCHosts(), nil), nil, Params{"rate": "1mbit", "site": "onprem"}); err != nil {
		t.Fatal(err)
	}
	e := RateLimitEnd{Host: gw("aws"), Dev: "wan0; reboot", Token: "0123456789abcdef"}
	if e.Validate() == nil {
		t.Fatal("a bad interface name must be refused")
	}
}

// Plan finds the WAN interface from the route to the peer; Inject arms the
// watchdog before the qdisc; the effect needs overlimits; Recover kills
// the watchdog and removes exactly its qdisc.
func TestWANRateLimitLifecycle(t *testing.T) {
	h := newTCHosts()
	v := newFakeVPN()
	f, err := New("wan-ratelimit", v.target(h, nil), nil, Params{"rate": "512kbit"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := f.(Planner).Plan(ctx, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var e RateLimitEnd
	if err := json.Unmarshal(p.Data, &e); err != nil || e.Dev != "wan0" || e.PeerAddr != "198.51.100.2" || e.Host != gw("aws") || e.Validate() != nil {
		t.Fatalf("data %s: %v", p.Data, err)
	}
	if !strings.Contains(p.DeadMan, "2m0s") || !strings.Contains(p.What, "512kbit") {
		t.Fatalf("plan %+v", p)
	}
	n := len(h.calls)
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	calls := h.calls[n:]
	if len(calls) != 2 || !strings.Contains(calls[0], "sleep 120.000; tc qdisc del dev wan0 root handle d7d1:") ||
		!strings.Contains(calls[1], "tc qdisc add dev wan0 root handle d7d1: tbf rate 512kbit") {
		t.Fatalf("inject: %q", calls)
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = f.WaitForEffect(wctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "overlimits 0") {
		t.Fatalf("no packet held back must not count as an effect: %v", err)
	}
	h.overlimits = 3
	if err := f.WaitForEffect(ctx); err != nil {
		t.Fatal(err)
	}
	recoverAll(t, f)
	if h.qdisc["aws-gw"] != "" || len(h.watchdogs) != 0 {
		t.Fatalf("left: qdisc %q watchdogs %v", h.qdisc, h.watchdogs)
	}
	recoverAll(t, f) // idempotent
}

// Someone else's root qdisc is never replaced or removed.
func TestWANRateLimitLeavesForeignQdisc(t *testing.T) {
	h := newTCHosts()
	h.qdisc["aws-gw"] = "1:"
	f, _ := New("wan-ratelimit", newFakeVPN().target(h, nil), nil, nil)
	if err := f.Inject(context.Background()); err == nil || !strings.Contains(err.Error(), "Exclusivity") {
		t.Fatalf("got %v", err)
	}
	recoverAll(t, f)
	if h.qdisc["aws-gw"] != "1:" || len(h.watchdogs) != 0 {
		t.Fatalf("the foreign qdisc was touched or the watchdog left: %q %v", h.qdisc, h.watchdogs)
	}
}

func TestWANRateLimitResume(t *testing.T) {
	e := RateLimitEnd{Host: gw("aws"), PeerAddr: "198.51.100.2", Dev: "wan0", Token: "0123456789abcdef"}
	h := newTCHosts()
	h.qdisc["aws-gw"], h.watchdogs[e.Token] = RateLimitHandle, true
	recoverAll(t, resumed(t, "wan-ratelimit", newFakeVPN().target(h, nil), nil, mustJSON(t, e)))
	if h.qdisc["aws-gw"] != "" || len(h.watchdogs) != 0 {
		t.Fatalf("left: %q %v", h.qdisc, h.watchdogs)
	}
	recoverAll(t, resumed(t, "wan-ratelimit", newFakeVPN().target(newTCHosts(), nil), nil, nil))
	f, _ := New("wan-ratelimit", newFakeVPN().target(h, nil), nil, nil)
	e.Token = "x; reboot"
	if err := f.(Resumer).Resume(mustJSON(t, e)); err == nil {
		t.Fatal("a journalled token that is not hex must be refused")
	}
}
