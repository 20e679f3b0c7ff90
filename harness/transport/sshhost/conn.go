package sshhost

import (
	"io"
	"net"
)

// deadlineConn gives an SSH channel what callers of a net.Conn expect and
// x/crypto/ssh's channel connections lack: deadlines (go-sql-driver sets a
// read deadline before every read and fails when it cannot). The channel is
// pumped through an in-memory pipe, whose end the caller gets.
func deadlineConn(ch net.Conn, network, addr string) net.Conn {
	ours, theirs := net.Pipe()
	go func() {
		io.Copy(ch, theirs) // until the caller closes its end
		ch.Close()
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
}

func (p *pipeConn) RemoteAddr() net.Addr { return p.remote }

type remoteAddr struct{ network, addr string }

func (a remoteAddr) Network() string { return a.network }
func (a remoteAddr) String() string  { return a.addr }
