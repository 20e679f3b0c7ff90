package fault

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

func TestRegistry(t *testing.T) {
	if _, err := New("no-such-fault", nil, nil, nil); err == nil || !strings.Contains(err.Error(), `unknown fault "no-such-fault"`) {
		t.Fatalf("got %v", err)
	}
	if _, err := New("tunnel-down", fakeTarget{}, nil, nil); err == nil || !strings.Contains(err.Error(), "two gateways") {
		t.Fatalf("tunnel-down on a target without gateways: got %v", err)
	}
	if _, err := New("tunnel-down", twoSites(), nil, Params{"form": "aws"}); err == nil || !strings.Contains(err.Error(), `unknown parameter "form"`) {
		t.Fatalf("a typo'd parameter: got %v", err)
	}
	if _, err := New("tunnel-down", twoSites(), nil, Params{"from": "mars"}); err == nil || !strings.Contains(err.Error(), `no site "mars"`) {
		t.Fatalf("a site that does not exist: got %v", err)
	}
	if _, err := New("tunnel-down", twoSites(), nil, Params{"ike_timeout": "soon"}); err == nil || !strings.Contains(err.Error(), "ike_timeout") {
		t.Fatalf("a bad duration: got %v", err)
	}
	f, err := New("tunnel-down", twoSites(), nil, Params{"from": "onprem"})
	if err != nil || f.(*TunnelDown).First.GW.Name() != "onprem" {
		t.Fatalf("from=onprem: %v", err)
	}
	f, err = New("none", nil, nil, nil)
	ctx := context.Background()
	if err != nil || f.Inject(ctx) != nil || f.WaitForEffect(ctx) != nil || f.Recover(ctx) != nil || f.WaitRecovered(ctx) != nil {
		t.Fatalf("none: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a duplicate registration must panic")
		}
	}()
	Register(Spec{Name: "none"})
}

// Faults that need a capability name it when the target lacks it.
func TestFaultsNeedTheirCapabilities(t *testing.T) {
	for name, want := range map[string]target.Capability{"wan-blackhole": target.CapExec, "one-sided-reset": target.CapExec, "gateway-crash": target.CapRestartGateway} {
		_, err := New(name, twoSites(), nil, nil)
		var me *target.MissingError
		if !errors.As(err, &me) || len(me.Missing) != 1 || me.Missing[0] != want {
			t.Errorf("%s on a target without %s: %v", name, want, err)
		}
	}
	if _, err := New("wan-blackhole", execTarget{fakeTarget{}, newFakeHosts()}, nil, nil); err == nil || !strings.Contains(err.Error(), "two gateways") {
		t.Errorf("wan-blackhole without gateways: %v", err)
	}
	if _, err := New("wan-blackhole", execTarget{twoSites(), newFakeHosts()}, nil, nil); err != nil {
		t.Errorf("wan-blackhole on a target with exec: %v", err)
	}
	if _, err := New("gateway-crash", restartTarget{twoSites(), &fakeGateways{}}, nil, Params{"site": "aws", "reload": "maybe"}); err == nil || !strings.Contains(err.Error(), "reload") {
		t.Errorf("gateway-crash reload=maybe: %v", err)
	}
}

// A terminate whose answer is lost with the connection (the gateway retries
// once on a fresh one and finds nothing left) took effect; a tunnel that
// was not up to begin with is an error naming that.
func TestTunnelDownAnswerLost(t *testing.T) {
	ctx := context.Background()
	v := newFakeVPN()
	v.dropAnswer = "aws: terminate"
	tl := timeline.New()
	f, err := New("tunnel-down", v.target(nil, nil), tl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Inject(ctx); err != nil {
		t.Fatalf("inject with the answer lost: %v", err)
	}
	var saw bool
	for _, e := range tl.Events() {
		if d, _ := e.Map()["detail"].(string); strings.Contains(d, "answer was lost") {
			saw = true
		}
	}
	if !saw || v.count("aws", "terminate") != 2 {
		t.Errorf("timeline does not say the answer was lost (terminates: %d): %v", v.count("aws", "terminate"), tl.Events())
	}
	g, err := New("tunnel-down", v.target(nil, nil), timeline.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Inject(ctx); err == nil || !strings.Contains(err.Error(), "the tunnel was not up") {
		t.Errorf("inject on a tunnel already down: %v", err)
	}
}
