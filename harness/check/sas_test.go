package check

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/tunnel"
)

// pair is a consistent tunnel as both gateways see it: the same IKE SA
// (SPI pair), one CHILD SA whose SPIs are the other way round.
func pair() (aws, onprem tunnel.State) {
	aws = tunnel.State{Gateway: "aws", Connection: conn, IKESAs: []tunnel.IKESA{{Name: conn, UniqueID: "4", State: "ESTABLISHED",
		SPIInit: "aa11", SPIResp: "bb22", Initiator: true,
		Children: []tunnel.ChildSA{{Name: conn, UniqueID: "7", State: "INSTALLED", SPIIn: "c1", SPIOut: "c2"}}}}}
	onprem = tunnel.State{Gateway: "onprem", Connection: conn, IKESAs: []tunnel.IKESA{{Name: conn, UniqueID: "9", State: "ESTABLISHED",
		SPIInit: "aa11", SPIResp: "bb22",
		Children: []tunnel.ChildSA{{Name: conn, UniqueID: "3", State: "INSTALLED", SPIIn: "c2", SPIOut: "c1"}}}}}
	return aws, onprem
}

// sasCases are both gateways' states, good and broken, with what
// Inconsistencies must find (nil: consistent).
func sasCases() []struct {
	name   string
	a, b   tunnel.State
	finds  []string
	passOb string
} {
	type tc = struct {
		name   string
		a, b   tunnel.State
		finds  []string
		passOb string
	}
	var out []tc
	a, b := pair()
	out = append(out, tc{"consistent", a, b, nil, "IKE aa11_i bb22_r on both; aws in c1 out c2, onprem in c2 out c1"})

	a, b = pair()
	a.IKESAs = nil // the one-sided reset: aws forgot, onprem still holds it
	out = append(out, tc{"one side reset", a, b, []string{"aws: no IKE SA", "onprem: IKE SA #9 (SPIs aa11_i bb22_r) that aws does not have",
		"onprem: CHILD SA {3} (SPIs in c2 out c1) that aws does not have"}, ""})

	a, b = pair()
	b.IKESAs = append(b.IKESAs, tunnel.IKESA{Name: conn, UniqueID: "10", State: "ESTABLISHED", SPIInit: "dd33", SPIResp: "ee44",
		Children: []tunnel.ChildSA{{Name: conn, UniqueID: "5", State: "INSTALLED", SPIIn: "f1", SPIOut: "f2"}}})
	out = append(out, tc{"duplicate IKE SA on one side", a, b, []string{"onprem: 2 IKE SAs (#9 ESTABLISHED, #10 ESTABLISHED)",
		"onprem: IKE SA #10 (SPIs dd33_i ee44_r) that aws does not have", "onprem: CHILD SA {5} (SPIs in f1 out f2) that aws does not have"}, ""})

	a, b = pair()
	b.IKESAs[0].Children[0].SPIIn = "c9"
	out = append(out, tc{"CHILD SPIs differ", a, b, []string{"aws: CHILD SA {7} (SPIs in c1 out c2) that onprem does not have",
		"onprem: CHILD SA {3} (SPIs in c9 out c1) that aws does not have"}, ""})

	a, b = pair()
	a.IKESAs[0].State = "CONNECTING"
	out = append(out, tc{"IKE SA not established", a, b, []string{"aws: IKE SA #4 CONNECTING"}, ""})

	a, b = pair()
	a.IKESAs[0].Children[0].State = "REKEYING"
	out = append(out, tc{"CHILD SA not installed", a, b, []string{"aws: CHILD SA {7} REKEYING"}, ""})

	a, b = pair()
	a.IKESAs[0].Children, b.IKESAs[0].Children = nil, nil
	out = append(out, tc{"no CHILD SA", a, b, []string{"aws: IKE SA #4 has no CHILD SA", "onprem: IKE SA #9 has no CHILD SA"}, ""})

	a, b = pair()
	a.IKESAs[0].Children = append(a.IKESAs[0].Children, a.IKESAs[0].Children[0])
	out = append(out, tc{"two CHILD SAs", a, b, []string{"aws: IKE SA #4 has 2 CHILD SAs"}, ""})

	a, b = pair()
	a.IKESAs[0].Name, b.IKESAs[0].Name = "other", "other"
	out = append(out, tc{"only another connection's SAs", a, b, []string{"aws: no IKE SA", "onprem: no IKE SA"}, ""})
	return out
}

func TestInconsistencies(t *testing.T) {
	for _, tt := range sasCases() {
		t.Run(tt.name, func(t *testing.T) {
			got := Inconsistencies(tt.a, tt.b, conn)
			if !slices.Equal(got, tt.finds) {
				t.Fatalf("Inconsistencies =\n%q\nwant\n%q", got, tt.finds)
			}
		})
	}
	// Empty SPIs never match: two sides that know nothing are not "the same".
	a, b := pair()
	a.IKESAs[0].SPIInit, b.IKESAs[0].SPIInit = "", ""
	if got := Inconsistencies(a, b, conn); len(got) != 2 || !strings.Contains(got[0], "that onprem does not have") {
		t.Fatalf("empty SPIs matched: %q", got)
	}
	// conn "" compares every IKE SA.
	a, b = pair()
	if got := Inconsistencies(a, b, ""); len(got) != 0 {
		t.Fatalf("conn \"\": %q", got)
	}
}

func TestSAsMatch(t *testing.T) {
	for _, tt := range sasCases() {
		t.Run(tt.name, func(t *testing.T) {
			r := SAsMatch(tt.a, tt.b, conn)
			if tt.finds == nil {
				wantResult(t, r, Pass, tt.passOb)
			} else {
				wantResult(t, r, Fail, tt.finds...)
			}
			if r.Detail["aws"] != tt.a.Summary() || r.Detail["onprem"] != tt.b.Summary() {
				t.Fatalf("detail = %v", r.Detail)
			}
		})
	}
	// conn "": the single IKE SA whatever its name.
	a, b := pair()
	a.IKESAs[0].Name, b.IKESAs[0].Name = "other", "other"
	wantResult(t, SAsMatch(a, b, ""), Pass, "IKE aa11_i bb22_r on both")
}

func TestIORunning(t *testing.T) {
	tests := []struct {
		name    string
		io      string
		err     error
		verdict string
		obs     string
	}{
		{"running", "Yes", nil, Pass, "IO thread Yes"},
		{"wait timed out", "", errors.New(`wait for IO thread Yes: context deadline exceeded; last seen: Connecting, Last_IO_Errno 2003`), Fail, "last seen: Connecting"},
		{"not Yes without an error", "Connecting", nil, Fail, "IO thread Connecting"},
		{"not configured", "", nil, Fail, `IO thread ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := IORunning(tt.io, tt.err, 5*time.Second)
			wantResult(t, r, tt.verdict, tt.obs)
			if r.Expected != "IO thread Yes within 5.00s of the tunnel being consistent" {
				t.Fatalf("expected = %q", r.Expected)
			}
		})
	}
}
