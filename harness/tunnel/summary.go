package tunnel

import (
	"fmt"
	"strings"
)

// Up counts IKE SAs that are ESTABLISHED with at least one INSTALLED child,
// the "Security Associations (N up)" of ipsec statusall.
func (s State) Up() int {
	n := 0
	for _, ike := range s.IKESAs {
		if ike.State == "ESTABLISHED" && len(ike.Installed()) > 0 {
			n++
		}
	}
	return n
}

// Installed returns the INSTALLED children.
func (s IKESA) Installed() []ChildSA {
	var out []ChildSA
	for _, c := range s.Children {
		if c.State == "INSTALLED" {
			out = append(out, c)
		}
	}
	return out
}

// Summary is one line in the seed's vocabulary, e.g.
// "ESTABLISHED/INSTALLED 10.20.0.0/16 === 192.168.64.0/24, 1 up".
func (s State) Summary() string {
	if len(s.IKESAs) == 0 {
		return "no IKE SA"
	}
	var parts []string
	for _, ike := range s.IKESAs {
		p := ike.State
		if len(ike.Children) == 0 {
			p += "/no CHILD_SA"
		}
		for _, c := range ike.Children {
			p += fmt.Sprintf("/%s %s === %s", c.State, strings.Join(c.LocalTS, ","), strings.Join(c.RemoteTS, ","))
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("%s, %d up", strings.Join(parts, "; "), s.Up())
}
