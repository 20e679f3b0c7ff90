package transport

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
)

// Host is one machine of a target as drdrill reaches it.
type Host interface {
	// Name is how reports and errors name the host ("local",
	// "ssh://drdrill@vpn-aws.example.com").
	Name() string
	// Dial connects to network "unix" (a socket path on the host) or
	// "tcp" (an address as the host reaches it).
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
	// Exec runs argv on the host (through sudo -n when sudo) and returns
	// its combined output. argv never carries a secret.
	Exec(ctx context.Context, argv []string, sudo bool) ([]byte, error)
	// ExecInput is Exec with stdin on the command's standard input (nil:
	// none, as Exec). Secrets such as option files go this way.
	ExecInput(ctx context.Context, argv []string, sudo bool, stdin []byte) ([]byte, error)
	Close() error
}

// Local is this machine.
type Local struct{}

func (Local) Name() string { return "local" }

func (Local) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (l Local) Exec(ctx context.Context, argv []string, sudo bool) ([]byte, error) {
	return l.ExecInput(ctx, argv, sudo, nil)
}

func (Local) ExecInput(ctx context.Context, argv []string, sudo bool, stdin []byte) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("exec: no command")
	}
	if sudo {
		argv = append([]string{"sudo", "-n", "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), &ExecError{Host: "local", Argv: argv, Err: err, Output: out.String()}
	}
	return out.Bytes(), nil
}

func (Local) Close() error { return nil }

// ExecError is a command that failed on a host.
type ExecError struct {
	Host   string
	Argv   []string
	Err    error
	Output string
}

func (e *ExecError) Error() string {
	s := fmt.Sprintf("%s: %s: %v", e.Host, strings.Join(e.Argv, " "), e.Err)
	if o := strings.TrimSpace(e.Output); o != "" {
		if i := strings.IndexByte(o, '\n'); i >= 0 {
			o = o[:i]
		}
		s += ": " + o
	}
	return s
}

func (e *ExecError) Unwrap() error { return e.Err }
