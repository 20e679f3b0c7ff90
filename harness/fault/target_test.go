package fault

import (
	"context"
	"errors"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// fakeTarget is a target whose gateways and databases are never dialled.
type fakeTarget struct{ sites []*target.Site }

func (f fakeTarget) Name() string          { return "fake" }
func (f fakeTarget) Sites() []*target.Site { return f.sites }
func (f fakeTarget) OpenDB(context.Context, string, int) (*replica.Conn, error) {
	return nil, errors.New("fake target has no databases")
}
func (f fakeTarget) IKETimings(context.Context) (tunnel.IKETimings, error) {
	return tunnel.IKETimings{}, nil
}
func (f fakeTarget) Describe() map[string]any { return nil }
func (f fakeTarget) Secrets() []string        { return nil }
func (f fakeTarget) Close() error             { return nil }

// twoSites is the lab's shape: aws primary, onprem replica.
func twoSites() fakeTarget {
	site := func(name, role, local, remote string) *target.Site {
		return &target.Site{Name: name, Role: role, Gateway: tunnel.NewGateway(name, tunnel.UnixSocket("/nonexistent/"+name)),
			Tunnel: tunnel.Expectation{Connection: "onprem-aws", LocalTS: []string{local}, RemoteTS: []string{remote}}, DB: &replica.Conn{}}
	}
	return fakeTarget{sites: []*target.Site{site("aws", target.RolePrimary, "10.20.0.0/16", "192.168.64.0/24"),
		site("onprem", target.RoleReplica, "192.168.64.0/24", "10.20.0.0/16")}}
}

type execTarget struct {
	fakeTarget
	*fakeHosts
}

type restartTarget struct {
	fakeTarget
	*fakeGateways
}
