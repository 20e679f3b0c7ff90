package clients

import (
	"encoding/binary"
	"net"
	"sync"
)

// wire is what a client's connections saw on the wire during one write:
// the last server error packet (its number survives rejectReadOnly, which
// returns driver.ErrBadConn instead) and the server the client last sent
// to. A client writes one statement at a time, so these belong to it.
type wire struct {
	mu     sync.Mutex
	errno  int
	sentTo string
}

func (w *wire) reset() {
	w.mu.Lock()
	w.errno, w.sentTo = 0, ""
	w.mu.Unlock()
}

func (w *wire) get() (errno int, sentTo string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errno, w.sentTo
}

// tracedConn is a database connection that reports to its client's wire.
type tracedConn struct {
	net.Conn
	w    *wire
	addr string
	p    errParser
}

func (c *tracedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if errno := c.p.feed(b[:n]); errno != 0 {
		c.w.mu.Lock()
		c.w.errno = errno
		c.w.mu.Unlock()
	}
	return n, err
}

func (c *tracedConn) Write(b []byte) (int, error) {
	c.w.mu.Lock()
	c.w.sentTo = c.addr
	c.w.mu.Unlock()
	return c.Conn.Write(b)
}

// errParser follows the MySQL packets a server sends (3-byte length,
// sequence byte, payload) and returns the error number of an ERR packet
// (payload 0xff, then the number, little-endian). No other packet a
// server sends starts with 0xff: rows start with a length-encoded string
// (never 0xff) or 0x00, the handshake with the protocol version.
// Compression and TLS are not followed (the clients use neither).
type errParser struct {
	hdr    [4]byte
	hdrN   int
	left   int // payload bytes left in this packet
	pos    int // payload bytes seen of this packet
	head   [3]byte
	isLong bool // a 16 MiB packet: continued, never an ERR
}

func (p *errParser) feed(b []byte) (errno int) {
	for len(b) > 0 {
		if p.left == 0 && p.hdrN < 4 {
			n := copy(p.hdr[p.hdrN:], b)
			p.hdrN += n
			b = b[n:]
			if p.hdrN == 4 {
				p.left = int(p.hdr[0]) | int(p.hdr[1])<<8 | int(p.hdr[2])<<16
				p.pos = 0
				if p.left == 0 {
					p.hdrN = 0
				}
			}
			continue
		}
		n := min(len(b), p.left)
		for i := 0; i < n && p.pos+i < 3; i++ {
			p.head[p.pos+i] = b[i]
		}
		p.pos += n
		p.left -= n
		b = b[n:]
		if p.left == 0 {
			if p.pos >= 3 && p.head[0] == 0xff && !p.isLong {
				errno = int(binary.LittleEndian.Uint16(p.head[1:3]))
			}
			p.isLong = p.pos == 0xffffff
			p.hdrN = 0
		}
	}
	return errno
}
