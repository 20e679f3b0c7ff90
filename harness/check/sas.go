package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/tunnel"
)

// The checks of a tunnel that one side reset without the other learning of
// it (scenarios/one_sided_recovery.go, fault.OneSidedReset).

// Inconsistencies compares two gateways' views of one connection and says,
// per side, what does not match: no IKE SA or more than one, an IKE SA not
// ESTABLISHED, not exactly one INSTALLED CHILD SA, and IKE or CHILD SAs one
// side has and the other does not (IKE SAs match on their SPI pair; a
// CHILD SA matches when one side's spi-in is the other's spi-out and vice
// versa). Empty means consistent: exactly one IKE SA and one CHILD SA per
// side, the same on both. conn "" compares every IKE SA.
func Inconsistencies(a, b tunnel.State, conn string) []string {
	var out []string
	for _, p := range [][2]tunnel.State{{a, b}, {b, a}} {
		me, other := p[0], p[1]
		mine := ikeSAs(me, conn)
		switch n := len(mine); {
		case n == 0:
			out = append(out, me.Gateway+": no IKE SA")
			continue
		case n > 1:
			var ids []string
			for _, ike := range mine {
				ids = append(ids, fmt.Sprintf("#%s %s", ike.UniqueID, ike.State))
			}
			out = append(out, fmt.Sprintf("%s: %d IKE SAs (%s)", me.Gateway, n, strings.Join(ids, ", ")))
		}
		theirs := ikeSAs(other, conn)
		for _, ike := range mine {
			if ike.State != "ESTABLISHED" {
				out = append(out, fmt.Sprintf("%s: IKE SA #%s %s", me.Gateway, ike.UniqueID, ike.State))
			}
			if !hasIKE(theirs, ike) {
				out = append(out, fmt.Sprintf("%s: IKE SA #%s (SPIs %s_i %s_r) that %s does not have", me.Gateway, ike.UniqueID, ike.SPIInit, ike.SPIResp, other.Gateway))
			}
			installed := ike.Installed()
			switch {
			case len(ike.Children) == 0:
				out = append(out, fmt.Sprintf("%s: IKE SA #%s has no CHILD SA", me.Gateway, ike.UniqueID))
			case len(ike.Children) > 1:
				out = append(out, fmt.Sprintf("%s: IKE SA #%s has %d CHILD SAs", me.Gateway, ike.UniqueID, len(ike.Children)))
			case len(installed) == 0:
				out = append(out, fmt.Sprintf("%s: CHILD SA {%s} %s", me.Gateway, ike.Children[0].UniqueID, ike.Children[0].State))
			}
			for _, c := range ike.Children {
				if !hasChild(theirs, c) {
					out = append(out, fmt.Sprintf("%s: CHILD SA {%s} (SPIs in %s out %s) that %s does not have", me.Gateway, c.UniqueID, c.SPIIn, c.SPIOut, other.Gateway))
				}
			}
		}
	}
	return out
}

// ikeSAs are the state's IKE SAs of conn (all of them for "").
func ikeSAs(s tunnel.State, conn string) []tunnel.IKESA {
	var out []tunnel.IKESA
	for _, ike := range s.IKESAs {
		if conn == "" || ike.Name == conn {
			out = append(out, ike)
		}
	}
	return out
}

func hasIKE(list []tunnel.IKESA, want tunnel.IKESA) bool {
	for _, ike := range list {
		if ike.SPIInit != "" && ike.SPIInit == want.SPIInit && ike.SPIResp == want.SPIResp {
			return true
		}
	}
	return false
}

// hasChild: the peer's copy of a CHILD SA has the SPIs the other way round.
func hasChild(list []tunnel.IKESA, want tunnel.ChildSA) bool {
	for _, ike := range list {
		for _, c := range ike.Children {
			if c.SPIIn != "" && c.SPIIn == want.SPIOut && c.SPIOut == want.SPIIn {
				return true
			}
		}
	}
	return false
}

// SAsMatch passes when both gateways hold the same single tunnel: one IKE
// SA and one CHILD SA per side, the IKE SPI pair equal, one side's CHILD
// spi-in the other's spi-out (no [Inconsistencies]). Detail holds each
// side's summary under its gateway's name.
func SAsMatch(a, b tunnel.State, conn string) Result {
	r := Result{Name: "tunnel_sas_match",
		Expected: "one IKE SA and one CHILD SA per side; IKE SPIs equal; each side's CHILD spi-in is the other's spi-out",
		Detail:   map[string]any{a.Gateway: a.Summary(), b.Gateway: b.Summary()}}
	if f := Inconsistencies(a, b, conn); len(f) > 0 {
		r.Verdict, r.Observed = Fail, strings.Join(f, "; ")
		return r
	}
	ia, ib := ikeSAs(a, conn)[0], ikeSAs(b, conn)[0]
	ca, cb := ia.Children[0], ib.Children[0]
	r.Verdict = Pass
	r.Observed = fmt.Sprintf("IKE %s_i %s_r on both; %s in %s out %s, %s in %s out %s",
		ia.SPIInit, ia.SPIResp, a.Gateway, ca.SPIIn, ca.SPIOut, b.Gateway, cb.SPIIn, cb.SPIOut)
	return r
}

// IORunning passes when the replica's IO thread is Yes: io is the state a
// wait for Yes returned, err its error (nil when it saw Yes), window how
// long it waited after the tunnel was consistent again.
func IORunning(io string, err error, window time.Duration) Result {
	r := Result{Name: "io_running", Expected: fmt.Sprintf("IO thread Yes within %.2fs of the tunnel being consistent", window.Seconds())}
	switch {
	case err != nil:
		r.Verdict, r.Observed = Fail, err.Error()
	case io != ioYes:
		r.Verdict, r.Observed = Fail, "IO thread "+quoteEmpty(io)
	default:
		r.Verdict, r.Observed = Pass, "IO thread "+io
	}
	return r
}
