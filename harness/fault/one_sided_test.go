package fault

import (
	"context"
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

func TestInconsistencies(t *testing.T) {
	healthyAWS := osState("aws", osIKE("2", "ESTABLISHED", "aaaa", "bbbb", osChild("2", "INSTALLED", "c1", "c2")))
	healthyOnprem := osState("onprem", osIKE("2", "ESTABLISHED", "aaaa", "bbbb", osChild("3", "INSTALLED", "c2", "c1")))
	for _, tc := range []struct {
		name string
		a, b tunnel.State
		want []string // substrings, in order; nil: consistent
	}{
		{"consistent", healthyAWS, healthyOnprem, nil},
		{"other connections are ignored",
			osState("aws", append(healthyAWS.IKESAs, tunnel.IKESA{Name: "other", UniqueID: "9", State: "CONNECTING"})...), healthyOnprem, nil},
		{"one-sided reset: stale IKE and CHILD SA on onprem",
			osState("aws"), osState("onprem", osIKE("1", "ESTABLISHED", "x1", "x2", osChild("1", "INSTALLED", "s1", "s2"))),
			[]string{"aws: no IKE SA", "onprem: IKE SA #1 (SPIs x1_i x2_r) that aws does not have", "onprem: CHILD SA {1} (SPIs in s1 out s2) that aws does not have"}},
		{"a second IKE SA next to the stale one",
			healthyAWS, osState("onprem", osIKE("1", "ESTABLISHED", "x1", "x2", osChild("1", "INSTALLED", "s1", "s2")), healthyOnprem.IKESAs[0]),
			[]string{"onprem: 2 IKE SAs (#1 ESTABLISHED, #2 ESTABLISHED)", "onprem: IKE SA #1 (SPIs x1_i x2_r) that aws does not have", "onprem: CHILD SA {1}"}},
		{"same IKE SA, CHILD SPIs mismatched",
			healthyAWS, osState("onprem", osIKE("2", "ESTABLISHED", "aaaa", "bbbb", osChild("3", "INSTALLED", "c2", "zz"))),
			[]string{"aws: CHILD SA {2} (SPIs in c1 out c2) that onprem does not have", "onprem: CHILD SA {3} (SPIs in c2 out zz) that aws does not have"}},
		{"CHILD SA only on one side",
			healthyAWS, osState("onprem", osIKE("2", "ESTABLISHED", "aaaa", "bbbb")),
			[]string{"aws: CHILD SA {2} (SPIs in c1 out c2) that onprem does not have", "onprem: IKE SA #2 has no CHILD SA"}},
		{"initiator retransmitting IKE_SA_INIT",
			osState("aws", osIKE("3", "CONNECTING", "dddd", "0000000000000000")), osState("onprem"),
			[]string{"aws: IKE SA #3 CONNECTING", "aws: IKE SA #3 (SPIs dddd_i 0000000000000000_r) that onprem does not have", "aws: IKE SA #3 has no CHILD SA", "onprem: no IKE SA"}},
		{"two CHILD SAs", osState("aws", osIKE("2", "ESTABLISHED", "aaaa", "bbbb", osChild("2", "INSTALLED", "c1", "c2"), osChild("4", "INSTALLED", "d1", "d2"))), healthyOnprem,
			[]string{"aws: IKE SA #2 has 2 CHILD SAs", "aws: CHILD SA {4} (SPIs in d1 out d2) that onprem does not have"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Inconsistencies(tc.a, tc.b, oneSidedConn)
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("want consistent, got %q", got)
				}
				return
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("missing %q in\n%s", w, all)
				}
			}
		})
	}
}

type oneSidedHosts struct{ cmds [][]string }

func (f *oneSidedHosts) Exec(_ context.Context, h target.Host, argv ...string) ([]byte, error) {
	f.cmds = append(f.cmds, append([]string{h.String()}, argv...))
	return nil, nil
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
