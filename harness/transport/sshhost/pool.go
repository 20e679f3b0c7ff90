package sshhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/drdrill/drdrill/harness/transport"
)

// Pool holds one SSH connection per host (and per jump host), shared by
// every Host handle and channel to it.
type Pool struct {
	v *validated

	mu     sync.Mutex
	eps    map[string]*endpoint // by route key
	closed bool
}

// NewPool validates o (known_hosts exists and parses, the identity file is
// a usable unencrypted key, the agent answers, some way to authenticate)
// and returns a Pool that has not connected anywhere yet.
func NewPool(o Options) (*Pool, error) {
	v, err := validate(o)
	if err != nil {
		return nil, err
	}
	return &Pool{v: v, eps: map[string]*endpoint{}}, nil
}

// Host connects to via (ssh://[user@]host[:port]) unless the pool already
// has a live connection there, and returns it as a transport.Host named
// via. Errors are one line and name the host; a refused host key is a
// *HostKeyError.
func (p *Pool) Host(ctx context.Context, via string) (transport.Host, error) {
	dest, err := parseVia(via)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	ep, err := p.endpointFor(dest)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", via, err)
	}
	if _, _, err := ep.get(ctx); err != nil {
		p.release(ep)
		return nil, err
	}
	return &host{name: via, ep: ep, pool: p}, nil
}

// Close closes every connection of the pool (ending proxy commands) and the
// agent connection. Hosts from it fail afterwards.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	eps := make([]*endpoint, 0, len(p.eps))
	for _, e := range p.eps {
		eps = append(eps, e)
	}
	p.eps = map[string]*endpoint{}
	p.mu.Unlock()
	// Destinations before the jump hosts that carry them.
	for depth := maxDepth(eps); depth >= 0; depth-- {
		for _, e := range eps {
			if e.depth == depth {
				e.close()
			}
		}
	}
	if p.v.agentConn != nil {
		p.v.agentConn.Close()
	}
	return nil
}

func maxDepth(eps []*endpoint) int {
	d := 0
	for _, e := range eps {
		d = max(d, e.depth)
	}
	return d
}

var errPoolClosed = errors.New("ssh: pool closed")

// endpointFor returns the endpoint for dest with its route (proxy command,
// jump chain or direct), made once and shared.
func (p *Pool) endpointFor(dest hop) (*endpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolClosed
	}
	var via *endpoint
	var err error
	if _, own := p.v.o.ProxyCommands[dest.host]; !own && len(p.v.jumps) > 0 {
		for _, j := range p.v.jumps {
			if via, err = p.endpointLocked(j, via, ""); err != nil {
				return nil, err
			}
			via.jump = true
		}
	}
	e, err := p.endpointLocked(dest, via, p.v.o.ProxyCommand)
	if err != nil {
		return nil, err
	}
	e.refs++
	return e, nil
}

// endpointLocked makes or finds the endpoint of h reached through via (a
// jump host's endpoint), else its own proxy command, else proxy, else
// directly. p.mu is held.
func (p *Pool) endpointLocked(h hop, via *endpoint, proxy string) (*endpoint, error) {
	if h.user == "" {
		u, err := p.v.defaultUser()
		if err != nil {
			return nil, err
		}
		h.user = u
	}
	if c, ok := p.v.o.ProxyCommands[h.host]; ok {
		via, proxy = nil, c
	}
	if via != nil {
		proxy = ""
	}
	if proxy != "" {
		var err error
		if proxy, err = expandProxy(proxy, h); err != nil {
			return nil, err
		}
	}
	key := h.name()
	switch {
	case via != nil:
		key += " via " + via.key
	case proxy != "":
		key += " proxy " + proxy
	}
	e := p.eps[key]
	if e == nil {
		e = &endpoint{pool: p, hop: h, key: key, via: via, proxy: proxy}
		if via != nil {
			e.depth = via.depth + 1
		}
		p.eps[key] = e
	}
	return e, nil
}

// release drops a holder; the last one closes the connection (jump hosts
// stay until the pool closes).
func (p *Pool) release(e *endpoint) {
	p.mu.Lock()
	e.refs--
	last := e.refs <= 0 && !e.jump && p.eps[e.key] == e
	if last {
		delete(p.eps, e.key)
	}
	p.mu.Unlock()
	if last {
		e.close()
	}
}

// endpoint is one SSH server as reached by one route, with its current
// connection.
type endpoint struct {
	pool  *Pool
	hop   hop
	key   string
	via   *endpoint // jump host, or nil
	proxy string    // expanded proxy command, or ""
	depth int       // jumps before it
	refs  int       // Host handles holding it, under pool.mu
	jump  bool      // a jump host for others: kept until the pool closes

	mu     sync.Mutex // serialises connecting
	cur    *client
	ever   bool  // connected before: the next connect is a reconnect
	lostBy error // why the last connection was lost, until one is made again
	closed bool
}

// get returns the live connection, dialling one when there is none or the
// last was lost; fresh says it was dialled by this call.
func (e *endpoint) get(ctx context.Context) (c *client, fresh bool, err error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, false, fmt.Errorf("%s: %w", e.hop.name(), errPoolClosed)
	}
	if e.cur != nil && !e.cur.lost() {
		c := e.cur
		e.mu.Unlock()
		return c, false, nil
	}
	if e.cur != nil {
		// Lost (it was closed when it was marked so): kept until a new
		// connection is made, to report with it.
		e.lostBy = e.cur.cause()
		e.cur = nil
	}
	cause := e.lostBy
	c, err = e.dial(ctx)
	if err != nil {
		e.mu.Unlock()
		if cause != nil {
			var hk *HostKeyError
			if errors.As(err, &hk) {
				return nil, false, err
			}
			return nil, false, fmt.Errorf("%w (reconnecting after: %v)", err, cause)
		}
		return nil, false, err
	}
	reconnect := e.ever
	e.cur, e.ever, e.lostBy = c, true, nil
	e.mu.Unlock()
	if reconnect && e.pool.v.o.OnReconnect != nil {
		e.pool.v.o.OnReconnect(e.hop.name(), cause)
	}
	return c, true, nil
}

func (e *endpoint) close() {
	e.mu.Lock()
	e.closed = true
	c := e.cur
	e.cur = nil
	e.mu.Unlock()
	if c != nil {
		c.fail(errPoolClosed)
		c.Close()
	}
}

// dial opens the transport (jump channel, proxy command or TCP) and does
// the SSH handshake, both bounded by ctx and connectTimeout.
func (e *endpoint) dial(ctx context.Context) (*client, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	h := e.hop
	var conn net.Conn
	var pc *proxyConn
	switch {
	case e.via != nil:
		for attempt := 0; ; attempt++ {
			jc, fresh, err := e.via.get(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: through jump host: %w", h.name(), err)
			}
			ch, err := jc.DialContext(ctx, "tcp", h.hostport())
			var refused *ssh.OpenChannelError
			if err != nil && attempt == 0 && !fresh && !errors.As(err, &refused) && ctx.Err() == nil {
				// The jump host's connection broke before its watcher
				// saw it (the channel open failed on the transport, not by
				// the jump host's refusal): mark it lost, dial it again once.
				jc.fail(err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: through jump host %s: %w", h.name(), e.via.hop.name(), err)
			}
			conn = ch
			break
		}
	case e.proxy != "":
		var err error
		if pc, err = startProxy(e.proxy); err != nil {
			return nil, fmt.Errorf("%s: %w", h.name(), err)
		}
		conn = pc
	default:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", h.hostport())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.name(), err)
		}
		conn = c
	}
	// The handshake has no context: closing the transport ends it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	var refused *HostKeyError
	cfg := &ssh.ClientConfig{
		User:              h.user,
		Auth:              e.pool.v.auth,
		HostKeyCallback:   e.pool.v.hostKeyCallback(h, &refused),
		HostKeyAlgorithms: e.pool.v.hostKeyAlgorithms(h),
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, h.hostport(), cfg)
	if !stop() && err == nil {
		sc.Close()
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		switch {
		case refused != nil:
			return nil, refused
		case ctx.Err() != nil:
			err = fmt.Errorf("%s: no SSH handshake within %s: %w", h.name(), connectTimeout, ctx.Err())
		default:
			err = fmt.Errorf("%s: %w", h.name(), err)
		}
		if pc != nil {
			if s := pc.lastError(); s != "" {
				err = fmt.Errorf("%w (proxy command: %s)", err, s)
			}
		}
		return nil, err
	}
	c := &client{Client: ssh.NewClient(sc, chans, reqs), done: make(chan struct{}), proxy: pc}
	go c.watch()
	if k := e.pool.v.o.Keepalive; k > 0 {
		go c.keepalive(k)
	}
	return c, nil
}

// client is one SSH connection.
type client struct {
	*ssh.Client
	done    chan struct{} // closed when the connection has ended
	proxy   *proxyConn    // the proxy command carrying it, or nil
	replies atomic.Int64  // keepalives answered

	mu  sync.Mutex
	err error // why it ended, first reason wins
}

func (c *client) watch() {
	err := c.Wait()
	if err == nil || errors.Is(err, io.EOF) {
		err = errors.New("connection closed by the remote end")
	}
	c.fail(err)
	close(c.done)
}

// fail records why c is lost and closes it.
func (c *client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.Close()
}

func (c *client) lost() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

func (c *client) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// keepalive sends keepalive@openssh.com every interval; no reply (any reply,
// even a refusal, is one) within an interval marks the connection lost.
func (c *client) keepalive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		res := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			res <- err
		}()
		timer := time.NewTimer(interval)
		select {
		case err := <-res:
			timer.Stop()
			if err != nil {
				c.fail(fmt.Errorf("keepalive: %w", err))
				return
			}
			c.replies.Add(1)
		case <-timer.C:
			// The reason first: killing the proxy makes the reader see
			// "connection reset by peer", which must not become the cause.
			c.fail(fmt.Errorf("no reply to a keepalive within %s", interval))
			if c.proxy != nil {
				c.proxy.kill()
			}
			return
		case <-c.done:
			timer.Stop()
			return
		}
	}
}

// connLost reports whether err from opening a channel means the connection
// is gone (not a refusal by a live server, not our own context).
func connLost(ctx context.Context, err error) bool {
	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) || ctx.Err() != nil {
		return false
	}
	return true
}
