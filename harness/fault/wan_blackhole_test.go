package fault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

// fakeHosts records every command and keeps, per host, whether the table
// and the blackhole routes exist, as nft and ip would.
type fakeHosts struct {
	calls  []string // "host: argv..."
	failAt int      // 1-based index of the call that fails (0: none)
	table  map[string]bool
	routes map[string][]string
	// stuck: the host whose delete "succeeds" but leaves the table.
	stuck string
}

func newFakeHosts() *fakeHosts {
	return &fakeHosts{table: map[string]bool{}, routes: map[string][]string{}}
}

func (h *fakeHosts) Exec(_ context.Context, th target.Host, argv ...string) ([]byte, error) {
	host := th.String()
	h.calls = append(h.calls, host+": "+strings.Join(argv, " "))
	if h.failAt == len(h.calls) {
		return []byte("boom"), fmt.Errorf("%s: exit status 1: boom", strings.Join(argv, " "))
	}
	cmd := strings.Join(argv, " ")
	switch {
	case argv[0] == "nft" && len(argv) == 2 && strings.Contains(cmd, "delete table"):
		if host != h.stuck {
			h.table[host] = false
		}
	case argv[0] == "nft" && len(argv) == 2 && strings.HasPrefix(argv[1], "add table"):
		h.table[host] = true
	case cmd == "nft list tables":
		if h.table[host] {
			return []byte("table inet " + BlackholeTable + "\n"), nil
		}
		return nil, nil
	case strings.HasPrefix(cmd, "nft list table"):
		if !h.table[host] {
			return nil, errors.New("No such file or directory")
		}
		return []byte("table inet drdrill_blackhole {\n chain input {\n  ip saddr 1.2.3.4 udp dport { 500, 4500 } counter packets 7 bytes 900 drop\n  ip protocol esp counter packets 2 bytes 100 drop\n }\n}\n"), nil
	case strings.HasPrefix(cmd, "ip route add blackhole"):
		h.routes[host] = append(h.routes[host], argv[4])
	case strings.HasPrefix(cmd, "ip route flush exact"):
		h.routes[host] = slices.DeleteFunc(h.routes[host], func(s string) bool { return s == argv[4] })
	case strings.HasPrefix(cmd, "ip route show type blackhole"):
		var out []string
		for _, r := range h.routes[host] {
			out = append(out, "blackhole "+r+" proto "+BlackholeRouteProto)
		}
		return []byte(strings.Join(out, "\n")), nil
	}
	return nil, nil
}

// ExecInput is Exec; faults send no stdin.
func (h *fakeHosts) ExecInput(ctx context.Context, th target.Host, stdin []byte, argv ...string) ([]byte, error) {
	if stdin != nil {
		return nil, errors.New("fake: a fault sends no stdin")
	}
	return h.Exec(ctx, th, argv...)
}

func gw(site string) target.Host { return target.Host{Site: site, Kind: target.GatewayHost} }

func testEnds() []BlackholeEnd {
	return []BlackholeEnd{
		{Host: gw("aws"), Addr: "198.51.100.1", PeerAddr: "198.51.100.2", RemoteSubnets: []string{"192.168.64.0/24"}},
		{Host: gw("onprem"), Addr: "198.51.100.2", PeerAddr: "198.51.100.1", RemoteSubnets: []string{"10.20.0.0/16"}},
	}
}

func TestBlackholeCommands(t *testing.T) {
	e := testEnds()[1]
	got := InjectCommands(BlackholeTable, e, 0)
	want := [][]string{
		{"nft", "add table inet drdrill_blackhole ; " +
			"add set inet drdrill_blackhole peers { type ipv4_addr ; flags timeout ; } ; " +
			"add set inet drdrill_blackhole remote { type ipv4_addr ; flags interval, timeout ; } ; " +
			"add element inet drdrill_blackhole peers { 198.51.100.1 } ; " +
			"add element inet drdrill_blackhole remote { 10.20.0.0/16 } ; " +
			"add chain inet drdrill_blackhole input { type filter hook input priority -10 ; policy accept ; } ; " +
			"add rule inet drdrill_blackhole input ip saddr @peers ip daddr 198.51.100.2 udp dport { 500, 4500 } counter drop ; " +
			"add rule inet drdrill_blackhole input ip saddr @peers ip daddr 198.51.100.2 ip protocol esp counter drop ; " +
			"add chain inet drdrill_blackhole prerouting { type filter hook prerouting priority -10 ; policy accept ; } ; " +
			"add rule inet drdrill_blackhole prerouting ip daddr @remote counter drop"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("inject commands:\n got %q\nwant %q", got, want)
	}
	// With a limit every element expires by itself: the dead-man's switch.
	e.RemoteSubnets = append(e.RemoteSubnets, "10.30.0.0/16")
	armed := NftRuleset(BlackholeTable, e, 3*time.Second)
	for _, want := range []string{"peers { 198.51.100.1 timeout 3000ms }", "remote { 10.20.0.0/16 timeout 3000ms, 10.30.0.0/16 timeout 3000ms }"} {
		if !strings.Contains(armed, want) {
			t.Errorf("armed ruleset lacks %q:\n%s", want, armed)
		}
	}
	if d := NftDuration(1500 * time.Microsecond); d != "1ms" {
		t.Errorf("NftDuration(1.5ms) = %s: must round down, never below 1ms", d)
	}
	rec := RecoverCommands(BlackholeTable, testEnds()[1])
	wantRec := [][]string{
		{"nft", "add table inet drdrill_blackhole ; delete table inet drdrill_blackhole"},
		{"ip", "route", "flush", "exact", "10.20.0.0/16", "type", "blackhole", "proto", "199"},
	}
	if !slices.EqualFunc(rec, wantRec, slices.Equal) {
		t.Fatalf("recover commands:\n got %q\nwant %q", rec, wantRec)
	}
}

func TestBlackholeValidate(t *testing.T) {
	for _, e := range []BlackholeEnd{
		{Host: gw("aws"), Addr: "198.51.100.1; flush ruleset", PeerAddr: "198.51.100.2", RemoteSubnets: []string{"10.20.0.0/16"}},
		{Host: gw("aws"), Addr: "198.51.100.1", PeerAddr: "", RemoteSubnets: []string{"10.20.0.0/16"}},
		{Host: gw("aws"), Addr: "198.51.100.1", PeerAddr: "198.51.100.2", RemoteSubnets: []string{"10.20.0.0"}},
		{Host: gw("aws"), Addr: "198.51.100.1", PeerAddr: "198.51.100.2"},
		{Host: target.Host{}, Addr: "198.51.100.1", PeerAddr: "198.51.100.2", RemoteSubnets: []string{"10.20.0.0/16"}},
	} {
		if err := e.Validate(true); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", e)
		}
	}
	f := &WANBlackhole{Hosts: newFakeHosts(), TL: timeline.New(), Ends: []BlackholeEnd{{Host: gw("aws"), Addr: "x", PeerAddr: "y", RemoteSubnets: []string{"10.20.0.0/16"}}}}
	if err := f.Inject(context.Background()); err == nil || !strings.Contains(err.Error(), "not an IPv4 address") {
		t.Fatalf("Inject with a bad address: %v", err)
	}
	if n := len(f.Hosts.(*fakeHosts).calls); n != 0 {
		t.Fatalf("Inject ran %d commands before validating", n)
	}
}

func TestBlackholeInjectThenRecover(t *testing.T) {
	h := newFakeHosts()
	tl := timeline.New()
	f := &WANBlackhole{Hosts: h, TL: tl, Ends: testEnds()}
	if err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !h.table["aws-gw"] || !h.table["onprem-gw"] {
		t.Fatalf("after Inject: tables %v", h.table)
	}
	if err := f.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.table["aws-gw"] || h.table["onprem-gw"] || len(h.routes["aws-gw"]) != 0 || len(h.routes["onprem-gw"]) != 0 {
		t.Fatalf("after Recover: tables %v routes %v", h.table, h.routes)
	}
	var dropped []any
	for _, e := range tl.Filter(timeline.KindFault, "") {
		if e.Map()["action"] == "recover" {
			dropped = append(dropped, e.Map()["dropped_packets"])
		}
	}
	if len(dropped) != 2 || dropped[0] != int64(9) {
		t.Fatalf("recover events should carry the drop counters (9 each): %v", dropped)
	}
	// WaitRecovered (the deferred one) is harmless and, the lift being
	// verified, runs nothing (no sides: no tunnel to wait for).
	n := len(h.calls)
	if err := f.WaitRecovered(context.Background()); err != nil || len(h.calls) != n {
		t.Fatalf("WaitRecovered after Recover: %v, %d more commands", err, len(h.calls)-n)
	}
	// Recover itself can always run again.
	if err := f.Recover(context.Background()); err != nil {
		t.Fatalf("Recover again: %v", err)
	}
	// A new Inject must be lifted again by Recover.
	if err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Recover(context.Background()); err != nil || h.table["aws-gw"] || h.table["onprem-gw"] {
		t.Fatalf("Recover after a second Inject: %v, tables %v", err, h.table)
	}
}

// Inject fails halfway (on the second gateway): Recover still removes the
// tables (and any route an older drdrill left) on both gateways.
func TestBlackholeRecoverAfterHalfInject(t *testing.T) {
	h := newFakeHosts()
	h.routes["onprem-gw"] = []string{"10.20.0.0/16"}
	h.failAt = 2 // aws nft, onprem nft ← fails
	f := &WANBlackhole{Hosts: h, TL: timeline.New(), Ends: testEnds()}
	if err := f.Inject(context.Background()); err == nil || !strings.Contains(err.Error(), "onprem-gw") {
		t.Fatalf("Inject should fail on onprem-gw: %v", err)
	}
	h.failAt = 0
	if err := f.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"aws-gw", "onprem-gw"} {
		if h.table[host] || len(h.routes[host]) != 0 {
			t.Fatalf("%s not cleaned: table %v routes %v", host, h.table[host], h.routes[host])
		}
		deleted := slices.ContainsFunc(h.calls, func(c string) bool {
			return strings.HasPrefix(c, host+": nft add table inet drdrill_blackhole ; delete table")
		})
		if !deleted {
			t.Fatalf("no table delete on %s: %q", host, h.calls)
		}
	}
}

// One gateway's lift fails: the other is still lifted, and the error names
// the one that failed.
func TestBlackholeRecoverGoesOnAfterAFailure(t *testing.T) {
	h := newFakeHosts()
	f := &WANBlackhole{Hosts: h, TL: timeline.New(), Ends: testEnds()}
	if err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := len(h.calls)
	h.failAt = n + 2 // aws: list table (counters), then the delete ← fails
	err := f.Recover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "aws-gw") {
		t.Fatalf("Recover should report aws-gw: %v", err)
	}
	if h.table["onprem-gw"] || len(h.routes["onprem-gw"]) != 0 || len(h.routes["aws-gw"]) != 0 {
		t.Fatalf("the rest must still be lifted: tables %v routes %v", h.table, h.routes)
	}
}

// A delete that leaves the table behind is caught by the verification.
func TestBlackholeRecoverVerifies(t *testing.T) {
	h := newFakeHosts()
	h.stuck = "onprem-gw"
	f := &WANBlackhole{Hosts: h, TL: timeline.New(), Ends: testEnds()}
	if err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := f.Recover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "onprem-gw") || !strings.Contains(err.Error(), "still there") {
		t.Fatalf("Recover must verify: %v", err)
	}
}

// Recover without Inject (or after an Inject that could not resolve the
// gateways) still cleans the hosts it knows.
func TestBlackholeRecoverWithoutInject(t *testing.T) {
	h := newFakeHosts()
	h.table["aws-gw"] = true
	h.routes["aws-gw"] = []string{"192.168.64.0/24"}
	ends := testEnds()
	for i := range ends {
		ends[i].Addr, ends[i].PeerAddr = "", ""
	}
	f := &WANBlackhole{Hosts: h, TL: timeline.New(), Ends: ends}
	if err := f.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.table["aws-gw"] || len(h.routes["aws-gw"]) != 0 {
		t.Fatalf("not cleaned: %v %v", h.table, h.routes)
	}
	empty := &WANBlackhole{Hosts: h, TL: timeline.New()}
	if err := empty.Recover(context.Background()); err == nil {
		t.Fatal("Recover with no gateways at all must say so")
	}
}

func TestSumCounters(t *testing.T) {
	if n := SumCounters("counter packets 3 bytes 10 drop\ncounter packets 4 bytes 1 drop"); n != 7 {
		t.Fatalf("SumCounters = %d", n)
	}
}

// WaitForEffect passes once a gateway dropped a packet, and fails saying
// what it saw when nothing is dropped.
func TestBlackholeWaitForEffect(t *testing.T) {
	h := newFakeHosts()
	f := &WANBlackhole{Hosts: h, TL: timeline.New(), Ends: testEnds(), EffectTimeout: 50 * time.Millisecond}
	if err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitForEffect(context.Background()); err != nil {
		t.Fatalf("with drops: %v", err)
	}
	if err := f.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitForEffect(context.Background()); err == nil || !strings.Contains(err.Error(), "0 packets dropped") {
		t.Fatalf("without drops: %v", err)
	}
}
