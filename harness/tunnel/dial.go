package tunnel

import (
	"context"
	"fmt"
	"net"
	"os"
)

// Dialer opens a stream to a charon VICI endpoint.
type Dialer interface {
	// Dial connects; it must honour ctx.
	Dial(ctx context.Context) (net.Conn, error)
	// String names the endpoint for errors and reports (never a secret).
	String() string
}

// UnixSocket dials charon's VICI unix socket at path.
func UnixSocket(path string) Dialer { return unixDialer(path) }

type unixDialer string

func (u unixDialer) String() string { return "unix://" + string(u) }

func (u unixDialer) Dial(ctx context.Context) (net.Conn, error) {
	fi, err := os.Stat(string(u))
	if err != nil {
		return nil, fmt.Errorf("vici socket %s: %w", string(u), err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("vici socket %s: not a unix socket", string(u))
	}
	var d net.Dialer
	return d.DialContext(ctx, "unix", string(u))
}

// TCP dials a VICI endpoint exposed over TCP (charon.plugins.vici.socket =
// tcp://…). VICI has no authentication: only use it over a trusted link.
func TCP(addr string) Dialer { return tcpDialer(addr) }

type tcpDialer string

func (t tcpDialer) String() string { return "tcp://" + string(t) }

func (t tcpDialer) Dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", string(t))
}

// DialFunc adapts a function (for example one that opens an SSH channel to a
// remote unix socket) into a Dialer.
func DialFunc(name string, f func(ctx context.Context) (net.Conn, error)) Dialer {
	return funcDialer{name, f}
}

type funcDialer struct {
	name string
	f    func(ctx context.Context) (net.Conn, error)
}

func (f funcDialer) String() string                             { return f.name }
func (f funcDialer) Dial(ctx context.Context) (net.Conn, error) { return f.f(ctx) }
