package tunnel

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// WaitSelfHeal waits, without initiating anything, until every side is
// healthy (one IKE SA, one CHILD SA each) or window passes. It returns how
// long that took (from the call) and which gateway initiated the new IKE SA.
func WaitSelfHeal(ctx context.Context, window time.Duration, sides ...Side) (took time.Duration, initiator string, err error) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, window)
	err = WaitHealthy(wctx, 20*time.Millisecond, sides...)
	cancel()
	took = time.Since(start)
	if err != nil {
		return took, "", err
	}
	return took, InitiatorOf(ctx, sides...), nil
}

// InitiatorOf names the gateway that initiated the connection's (single)
// IKE SA, or "unknown".
func InitiatorOf(ctx context.Context, sides ...Side) string {
	for _, s := range sides {
		st, err := s.GW.State(ctx, s.Want.Connection)
		if err != nil {
			continue
		}
		for _, ike := range st.IKESAs {
			if ike.Name == s.Want.Connection && ike.Initiator {
				return s.GW.Name()
			}
		}
	}
	return "unknown"
}

// Doing says, per gateway, what its SAs are and (when tail is given) what
// its charon logged last: the diagnosis of a tunnel that does not come back.
func Doing(ctx context.Context, tail func(gateway string) []string, sides ...Side) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var parts []string
	for _, s := range sides {
		name := s.GW.Name()
		p := name + ": "
		if st, err := s.GW.State(ctx, s.Want.Connection); err != nil {
			p += "state unknown (" + err.Error() + ")"
		} else if n := len(st.IKESAs); n > 1 {
			p += fmt.Sprintf("%d IKE SAs (%s)", n, st.Summary())
		} else {
			p += st.Summary()
		}
		if tail != nil {
			if lines := tail(name); len(lines) > 0 {
				p += ", charon: " + strings.Join(lines, " | ")
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// Snapshot reads every side's SAs of its connection.
func Snapshot(ctx context.Context, sides ...Side) ([]State, error) {
	out := make([]State, len(sides))
	for i, s := range sides {
		st, err := s.GW.State(ctx, s.Want.Connection)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

// Describe is one IKE SA and its children in a line, SPIs included.
func (ike IKESA) Describe() string {
	s := fmt.Sprintf("IKE #%s %s %s_i %s_r", ike.UniqueID, ike.State, ike.SPIInit, ike.SPIResp)
	for _, c := range ike.Children {
		s += fmt.Sprintf("; CHILD {%s} %s in %s out %s", c.UniqueID, c.State, c.SPIIn, c.SPIOut)
	}
	return s
}

// NewGateway is a gateway handle that dials on first use (Open also checks
// that charon answers).
func NewGateway(name string, d Dialer) *Gateway {
	return &Gateway{name: name, dialer: d, CallTimeout: 10 * time.Second}
}
