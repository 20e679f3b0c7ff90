package fault

import (
	"context"
	"errors"
	"testing"
)

type fakeGateways struct{ kills, restarts int }

func (g *fakeGateways) KillGateway(context.Context, string) error {
	g.kills++
	return errors.New("no such charon")
}
func (g *fakeGateways) RestartGateway(context.Context, string) error { g.restarts++; return nil }

// Recover is safe when Inject never ran: it touches nothing.
func TestGatewayCrashRecoverWithoutInject(t *testing.T) {
	g := &fakeGateways{}
	tg := restartTarget{twoSites(), g}
	f, err := New("gateway-crash", tg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitRecovered(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.kills != 0 || g.restarts != 0 {
		t.Fatalf("Recover without Inject killed %d, restarted %d", g.kills, g.restarts)
	}
}
