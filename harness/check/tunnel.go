package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/drdrill/drdrill/harness/tunnel"
)

// TunnelHealthy passes when every gateway has exactly one ESTABLISHED IKE SA
// named conn with exactly one INSTALLED CHILD SA whose traffic selectors are
// the ones expected for that gateway (localTS/remoteTS keyed by
// State.Gateway; both nil skips the selector comparison). A gateway named
// in either map without a state fails. Observed reads like the seed's statusall
// summary, or names the gateway and what is wrong.
func TunnelHealthy(states []tunnel.State, conn string, localTS, remoteTS map[string][]string) Result {
	checkTS := localTS != nil || remoteTS != nil
	r := Result{Name: "tunnel_healthy", Detail: map[string]any{"connection": conn}}
	var exp, obs []string
	ok := len(states) > 0
	gateways := map[string]any{}
	seen := map[string]bool{}
	for _, st := range states {
		seen[st.Gateway] = true
		summary, problem := gatewayHealth(st, conn, localTS[st.Gateway], remoteTS[st.Gateway], checkTS)
		if problem != "" {
			ok = false
			obs = append(obs, st.Gateway+": "+problem)
			gateways[st.Gateway] = map[string]any{"ok": false, "problem": problem, "summary": summary}
		} else {
			obs = append(obs, st.Gateway+": "+summary)
			gateways[st.Gateway] = map[string]any{"ok": true, "summary": summary}
		}
	}
	var expected []string
	for _, m := range []map[string][]string{localTS, remoteTS} {
		for g := range m {
			if !slices.Contains(expected, g) {
				expected = append(expected, g)
			}
		}
	}
	sort.Strings(expected)
	for _, g := range expected {
		exp = append(exp, fmt.Sprintf("%s: ESTABLISHED/INSTALLED %s === %s, 1 up", g, ts(localTS[g]), ts(remoteTS[g])))
		if !seen[g] {
			ok = false
			obs = append(obs, g+": no state")
		}
	}
	if len(exp) == 0 {
		exp = []string{fmt.Sprintf("each gateway: one ESTABLISHED IKE SA %s with one INSTALLED CHILD SA", conn)}
	}
	if len(states) == 0 && len(obs) == 0 {
		obs = []string{"no gateway states"}
	}
	r.Verdict, r.Expected, r.Observed = verdict(ok), strings.Join(exp, "; "), strings.Join(obs, "; ")
	r.Detail["gateways"] = gateways
	return r
}

func ts(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ",")
}

func sameTS(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// gatewayHealth returns the gateway's statusall-like summary and, if it is
// not healthy, what is wrong.
func gatewayHealth(st tunnel.State, conn string, wantL, wantR []string, checkTS bool) (summary, problem string) {
	var ikes []tunnel.IKESA
	up := 0
	for _, ike := range st.IKESAs {
		if ike.Name != conn {
			continue
		}
		ikes = append(ikes, ike)
		if ike.State == "ESTABLISHED" && slices.ContainsFunc(ike.Children, func(c tunnel.ChildSA) bool { return c.State == "INSTALLED" }) {
			up++
		}
	}
	if len(ikes) == 0 {
		return "no IKE SA", "no IKE SA"
	}
	var parts []string
	for _, ike := range ikes {
		p := ike.State
		if len(ike.Children) == 0 {
			p += "/no CHILD SA"
		}
		for _, c := range ike.Children {
			p += fmt.Sprintf("/%s %s === %s", c.State, ts(c.LocalTS), ts(c.RemoteTS))
		}
		parts = append(parts, p)
	}
	summary = fmt.Sprintf("%s, %d up", strings.Join(parts, "; "), up)
	ike := ikes[0]
	switch {
	case len(ikes) > 1:
		return summary, fmt.Sprintf("%d IKE SAs (%s)", len(ikes), summary)
	case ike.State != "ESTABLISHED":
		return summary, "IKE SA " + ike.State
	case len(ike.Children) == 0:
		return summary, "no CHILD SA"
	case len(ike.Children) > 1:
		return summary, fmt.Sprintf("%d CHILD SAs (%s)", len(ike.Children), summary)
	}
	c := ike.Children[0]
	switch {
	case c.State != "INSTALLED":
		return summary, "CHILD SA " + c.State
	case checkTS && len(wantL) == 0 && len(wantR) == 0:
		return summary, "no expected traffic selectors for this gateway"
	case checkTS && !sameTS(c.LocalTS, wantL):
		return summary, fmt.Sprintf("local_ts %s, expected %s", ts(c.LocalTS), ts(wantL))
	case checkTS && !sameTS(c.RemoteTS, wantR):
		return summary, fmt.Sprintf("remote_ts %s, expected %s", ts(c.RemoteTS), ts(wantR))
	}
	return summary, ""
}
