package fault

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

const oneSidedConn = "onprem-aws"

func osIKE(id, state, spiI, spiR string, kids ...tunnel.ChildSA) tunnel.IKESA {
	return tunnel.IKESA{Name: oneSidedConn, UniqueID: id, State: state, SPIInit: spiI, SPIResp: spiR, Children: kids}
}

func osChild(id, state, in, out string) tunnel.ChildSA {
	return tunnel.ChildSA{Name: oneSidedConn, UniqueID: id, State: state, SPIIn: in, SPIOut: out}
}

func osState(gw string, ikes ...tunnel.IKESA) tunnel.State {
	return tunnel.State{Gateway: gw, Connection: oneSidedConn, IKESAs: ikes}
}

type oneSidedHosts struct{ cmds [][]string }

func (f *oneSidedHosts) Exec(_ context.Context, h target.Host, argv ...string) ([]byte, error) {
	f.cmds = append(f.cmds, append([]string{h.String()}, argv...))
	return nil, nil
}

// ExecInput is Exec; faults send no stdin.
func (f *oneSidedHosts) ExecInput(ctx context.Context, h target.Host, stdin []byte, argv ...string) ([]byte, error) {
	if stdin != nil {
		return nil, errors.New("fake: a fault sends no stdin")
	}
	return f.Exec(ctx, h, argv...)
}

type oneSidedTarget struct {
	fakeTarget
	*oneSidedHosts
}

func TestOneSidedResetRegistry(t *testing.T) {
	if _, err := New("one-sided-reset", oneSidedTarget{fakeTarget{}, &oneSidedHosts{}}, nil, nil); err == nil || !strings.Contains(err.Error(), "two gateways") {
		t.Fatalf("without gateways: %v", err)
	}
	f, err := New("one-sided-reset", oneSidedTarget{twoSites(), &oneSidedHosts{}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := Lookup("one-sided-reset"); f.Name() != "one-sided-reset" || s.Description == "" {
		t.Fatalf("name %q description %q", f.Name(), s.Description)
	}
}

// Recover before any Inject touches nothing (it has nothing to undo).
func TestOneSidedResetRecoverWithoutInject(t *testing.T) {
	h := &oneSidedHosts{}
	f := &OneSidedReset{Hosts: h, TL: timeline.New()}
	if err := f.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitRecovered(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(h.cmds) != 0 {
		t.Fatalf("Recover ran %q without an Inject", h.cmds)
	}
}
