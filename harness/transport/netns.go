package transport

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
)

// Netns is a network namespace on this machine (as the embedded lab's
// hosts are, or a VRF-style gateway): unix sockets are reached through the
// shared filesystem, commands run with `ip netns exec`. TCP is refused: a
// socket dialled from here would leave from the root namespace, not from
// inside this one.
type Netns struct{ Namespace string }

var netnsNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// NewNetns checks that the namespace exists (ip netns add made it).
func NewNetns(name string) (Netns, error) {
	if !netnsNameRE.MatchString(name) {
		return Netns{}, fmt.Errorf("netns %q: not a namespace name", name)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", name)); err != nil {
		return Netns{}, fmt.Errorf("netns %s: no such network namespace (ip netns list)", name)
	}
	return Netns{Namespace: name}, nil
}

func (n Netns) Name() string { return "netns://" + n.Namespace }

func (n Netns) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "unix" {
		return nil, fmt.Errorf("%s: dial %s %s: only unix sockets can be reached in a namespace from here", n.Name(), network, addr)
	}
	return Local{}.Dial(ctx, network, addr)
}

func (n Netns) Exec(ctx context.Context, argv []string, sudo bool) ([]byte, error) {
	return n.ExecInput(ctx, argv, sudo, nil)
}

func (n Netns) ExecInput(ctx context.Context, argv []string, sudo bool, stdin []byte) ([]byte, error) {
	full := append([]string{"ip", "netns", "exec", n.Namespace}, argv...)
	out, err := Local{}.ExecInput(ctx, full, sudo, stdin)
	if ee, ok := err.(*ExecError); ok {
		ee.Host, ee.Argv = n.Name(), argv
	}
	return out, err
}

func (Netns) Close() error { return nil }
