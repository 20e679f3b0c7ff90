package sshhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/drdrill/drdrill/harness/transport"
)

// host is a transport.Host over a Pool's connection to it.
type host struct {
	name string
	ep   *endpoint
	pool *Pool
	once sync.Once
}

var _ transport.Host = (*host)(nil)

func (h *host) Name() string { return h.name }

// Close releases this handle; the connection closes with its last handle
// (or with the Pool).
func (h *host) Close() error {
	h.once.Do(func() { h.pool.release(h.ep) })
	return nil
}

// Dial opens a channel to a unix socket path (direct-streamlocal) or a TCP
// address as the host reaches it. The connection supports deadlines. A unix
// socket the host cannot connect to is tried again a few times within
// ~75 ms (see unixRetry).
func (h *host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "unix", "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("%s: dial %s %s: network not supported (want unix or tcp)", h.name, network, addr)
	}
	for attempt := 0; ; attempt++ {
		ch, err := h.withConn(ctx, func(c *client) (net.Conn, error) { return c.DialContext(ctx, network, addr) })
		if err == nil {
			return deadlineConn(ch, network, addr), nil
		}
		var oce *ssh.OpenChannelError
		if network != "unix" || !errors.As(err, &oce) || oce.Reason != ssh.ConnectionFailed || attempt == len(unixRetry) {
			return nil, fmt.Errorf("%s: dial %s %s: %w", h.name, network, addr, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: dial %s %s: %w (after %v)", h.name, network, addr, ctx.Err(), err)
		case <-time.After(unixRetry[attempt]):
		}
	}
}

// unixRetry is the backoff between attempts to connect to a unix socket
// that the host could not connect to. sshd reports every failure as "open
// failed", and one of them is a full listen backlog (EAGAIN: a unix
// connect does not wait), which is transient: charon's VICI socket has a
// backlog of 3. A socket that is missing or refuses is still reported
// within ~100 ms.
var unixRetry = []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}

// withConn runs open on the host's connection; when the connection turns
// out to be lost (and was not dialled by this call) it is dialled again,
// once, and open retried. open must be safe to repeat (opening a channel:
// nothing has happened on the host when it fails).
func (h *host) withConn(ctx context.Context, open func(*client) (net.Conn, error)) (net.Conn, error) {
	c, fresh, err := h.ep.get(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := open(c)
	if err != nil && !fresh && connLost(ctx, err) {
		c.fail(fmt.Errorf("opening a channel: %w", err))
		if c, _, err = h.ep.get(ctx); err != nil {
			return nil, err
		}
		conn, err = open(c)
	}
	return conn, err
}

// Exec runs argv (shell-quoted; through sudo -n -- when sudo) in a session
// and returns its combined output. A non-zero exit is a
// *transport.ExecError. A connection lost before the session opens is
// dialled again once; one lost while the command runs is an error saying
// that the command's outcome is unknown (it is never run twice). When ctx
// ends, the command is sent SIGKILL and the session closed; sshd forwards
// the signal only for logins with privilege separation, which it never uses
// for root: logged in as root, the command runs to its end.
func (h *host) Exec(ctx context.Context, argv []string, sudo bool) ([]byte, error) {
	return h.ExecInput(ctx, argv, sudo, nil)
}

// ExecInput is Exec with stdin as the session's standard input (nil: an
// empty one).
func (h *host) ExecInput(ctx context.Context, argv []string, sudo bool, stdin []byte) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("%s: exec: no command", h.name)
	}
	if sudo {
		argv = append([]string{"sudo", "-n", "--"}, argv...)
	}
	line := ShellJoin(argv)
	var s *ssh.Session
	_, err := h.withConn(ctx, func(c *client) (net.Conn, error) {
		var err error
		s, err = c.NewSession()
		return nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", h.name, line, err)
	}
	defer s.Close()
	var out lockedBuffer
	s.Stdout, s.Stderr = &out, &out
	// A pipe, not s.Stdin: a command that exits without reading all of
	// its stdin is not a lost connection (Wait reports s.Stdin's copy error).
	var in io.WriteCloser
	if stdin != nil {
		if in, err = s.StdinPipe(); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", h.name, line, err)
		}
	}
	if err := s.Start(line); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", h.name, line, err)
	}
	if in != nil {
		go func() {
			in.Write(stdin)
			in.Close()
		}()
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Signal(ssh.SIGKILL)
		s.Close()
		return out.Bytes(), fmt.Errorf("%s: %s: %w", h.name, line, ctx.Err())
	}
	var ee *ssh.ExitError
	var em *ssh.ExitMissingError
	switch {
	case err == nil:
		return out.Bytes(), nil
	case errors.As(err, &ee):
		return out.Bytes(), &transport.ExecError{Host: h.name, Argv: argv, Err: err, Output: out.String()}
	case errors.As(err, &em), errors.Is(err, io.EOF):
		return out.Bytes(), fmt.Errorf("%s: %s: the connection was lost before its exit status arrived (it may or may not have run)", h.name, line)
	default:
		return out.Bytes(), fmt.Errorf("%s: %s: %w", h.name, line, err)
	}
}

// ShellJoin quotes argv for a POSIX shell, the way a remote sshd runs a
// command (its user's shell with -c): words of safe characters as they are,
// anything else in single quotes.
func ShellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func (l *lockedBuffer) String() string { return string(l.Bytes()) }
