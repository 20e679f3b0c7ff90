package sshhost

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// deadlineConn gives an SSH channel what callers of a net.Conn expect and
// x/crypto/ssh's channel connections lack: deadlines (go-sql-driver sets a
// read deadline before every read and fails when it cannot), and a socket's
// errors. The channel is pumped through an in-memory pipe, whose end the
// caller gets.
func deadlineConn(ch net.Conn, network, addr string) net.Conn {
	ours, theirs := net.Pipe()
	go func() {
		io.Copy(ch, theirs) // until the caller closes its end, or the channel fails
		ch.Close()
		theirs.Close()
	}()
	go func() {
		io.Copy(theirs, ch) // until the far end or the connection closes
		theirs.Close()
	}()
	return &pipeConn{Conn: ours, remote: remoteAddr{network, addr}}
}

type pipeConn struct {
	net.Conn
	remote net.Addr
	closed atomic.Bool
}

func (p *pipeConn) RemoteAddr() net.Addr { return p.remote }

func (p *pipeConn) Close() error {
	p.closed.Store(true)
	return p.Conn.Close()
}

// Read and Write fail as a socket's would: net.ErrClosed once we closed
// it; EOF (read) and EPIPE (write) once the far end or the SSH connection
// has gone. A pipe says io.ErrClosedPipe for all of these, which callers
// that redial on a broken transport do not recognise.
func (p *pipeConn) Read(b []byte) (int, error) {
	n, err := p.Conn.Read(b)
	return n, p.sockErr("read", err)
}

func (p *pipeConn) Write(b []byte) (int, error) {
	n, err := p.Conn.Write(b)
	return n, p.sockErr("write", err)
}

// Deadlines can be set on a socket whose far end has gone (its reads then
// say EOF); a pipe refuses.
func (p *pipeConn) SetDeadline(t time.Time) error {
	return p.deadlineErr(p.Conn.SetDeadline(t))
}

func (p *pipeConn) SetReadDeadline(t time.Time) error {
	return p.deadlineErr(p.Conn.SetReadDeadline(t))
}

func (p *pipeConn) SetWriteDeadline(t time.Time) error {
	return p.deadlineErr(p.Conn.SetWriteDeadline(t))
}

func (p *pipeConn) deadlineErr(err error) error {
	if !errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	if p.closed.Load() {
		return &net.OpError{Op: "set", Net: p.remote.Network(), Addr: p.remote, Err: net.ErrClosed}
	}
	return nil
}

func (p *pipeConn) sockErr(op string, err error) error {
	if !errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	switch {
	case p.closed.Load():
		err = net.ErrClosed
	case op == "read":
		return io.EOF
	default:
		err = syscall.EPIPE
	}
	return &net.OpError{Op: op, Net: p.remote.Network(), Addr: p.remote, Err: err}
}

type remoteAddr struct{ network, addr string }

func (a remoteAddr) Network() string { return a.network }
func (a remoteAddr) String() string  { return a.addr }
