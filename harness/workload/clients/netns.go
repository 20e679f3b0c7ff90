package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// Dialer makes a client's sockets. addr is always an IP address and port:
// clients resolve names through their Resolver first.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Resolver resolves a client's endpoint name to IPv4 addresses.
type Resolver interface {
	LookupIPv4(ctx context.Context, name string) ([]net.IP, error)
}

// NetnsDialer creates sockets inside a named network namespace
// (/run/netns/NAME, as `ip netns add` makes): on a goroutine locked to its
// OS thread, it switches that thread into the namespace, creates and
// connects the socket, and switches back. A socket keeps the namespace it
// was created in, so the connection stays inside it.
type NetnsDialer struct {
	Namespace string
	path      string
	ino       uint64 // the namespace's inode: every socket is checked against it
}

var netnsNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// NewNetnsDialer checks that the namespace exists.
func NewNetnsDialer(namespace string) (*NetnsDialer, error) {
	if !netnsNameRE.MatchString(namespace) {
		return nil, fmt.Errorf("netns %q: not a namespace name", namespace)
	}
	p := filepath.Join("/run/netns", namespace)
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return nil, fmt.Errorf("netns %s: no such network namespace (ip netns list): %w", namespace, err)
	}
	return &NetnsDialer{Namespace: namespace, path: p, ino: st.Ino}, nil
}

// DialContext dials network ("tcp", "tcp4", "udp", "udp4") to addr, an IP
// address and port, from inside the namespace. A host name is refused: the
// Go resolver would look it up from this namespace.
func (d *NetnsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netns %s: dial %s %s: %w", d.Namespace, network, addr, err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("netns %s: dial %s %s: not an IP address (resolve names inside the namespace first)", d.Namespace, network, addr)
	}
	var c net.Conn
	err = d.Do(func() error {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error { return d.checkSocket(rc) }}
		var derr error
		c, derr = nd.DialContext(ctx, network, addr)
		return derr
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", d.Namespace, err)
	}
	return c, nil
}

// Do runs fn on an OS thread switched into the namespace; sockets fn
// creates belong to it. fn must not start goroutines that create sockets
// (they would run on other threads, in this namespace).
func (d *NetnsDialer) Do(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := d.doLocked(fn)
		if restored {
			runtime.UnlockOSThread()
		} // else: the thread is in the wrong namespace; exiting locked ends it
		done <- err
	}()
	return <-done
}

func (d *NetnsDialer) doLocked(fn func() error) (restored bool, err error) {
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return true, fmt.Errorf("open this thread's namespace: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(d.path)
	if err != nil {
		return true, fmt.Errorf("open namespace: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("setns: %w", err)
	}
	defer func() {
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			restored = false
			err = errors.Join(err, fmt.Errorf("setns back: %w", rerr))
		} else {
			restored = true
		}
	}()
	return false, fn()
}

// checkSocket refuses a socket that is not in the namespace (SIOCGSKNS
// gives the socket's own namespace), before it connects.
func (d *NetnsDialer) checkSocket(rc syscall.RawConn) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = socketInNamespace(int(fd), d.ino) }); cerr != nil {
		return cerr
	}
	return err
}

func socketInNamespace(fd int, ino uint64) error {
	nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS)
	if err != nil {
		return fmt.Errorf("read the socket's namespace (SIOCGSKNS): %w", err)
	}
	defer unix.Close(nsfd)
	var st unix.Stat_t
	if err := unix.Fstat(nsfd, &st); err != nil {
		return fmt.Errorf("stat the socket's namespace: %w", err)
	}
	if st.Ino != ino {
		return fmt.Errorf("socket created in namespace inode %d, not the client's (%d): refused", st.Ino, ino)
	}
	return nil
}

// NamespaceResolver asks one DNS server, over sockets from its Dialer (a
// NetnsDialer: the query leaves from inside the namespace). It sends its own
// queries (no /etc/hosts, no resolv.conf search list or options of this
// machine: only the server) and keeps no cache: every lookup is a query,
// so answers are as fresh as the server gives them.
type NamespaceResolver struct {
	Server string // "IP:53"
	// Attempt bounds one query (DefaultDNSAttempt if 0); a lost UDP
	// answer is asked again until the lookup's context ends.
	Attempt time.Duration
	d       Dialer
}

// DefaultDNSAttempt is how long a query waits for its answer before it is
// sent again.
const DefaultDNSAttempt = 500 * time.Millisecond

// NewNamespaceResolver returns a resolver asking server (an IP address, with
// or without a port) through d.
func NewNamespaceResolver(d Dialer, server string) (*NamespaceResolver, error) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	host, _, _ := net.SplitHostPort(server)
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("DNS server %q: want an IP address", server)
	}
	if d == nil {
		return nil, errors.New("DNS server " + server + ": no Dialer")
	}
	return &NamespaceResolver{Server: server, d: d}, nil
}

// LookupIPv4 resolves name to its A records, following the CNAMEs in the
// answer (writer.cluster.lab → the instance's name → its address).
func (n *NamespaceResolver) LookupIPv4(ctx context.Context, name string) ([]net.IP, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	fq := dns.Fqdn(name)
	q := new(dns.Msg)
	q.SetQuestion(fq, dns.TypeA)
	attempt := n.Attempt
	if attempt <= 0 {
		attempt = DefaultDNSAttempt
	}
	var r *dns.Msg
	var err error
	for network := "udp"; ; {
		r, err = n.exchange(ctx, network, q, attempt)
		if err == nil && r.Truncated && network == "udp" {
			network = "tcp"
			continue
		}
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			continue // the answer was lost: ask again
		}
		break
	}
	if err != nil {
		return nil, fmt.Errorf("resolve %s via %s: %w", name, n.Server, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("resolve %s via %s: %s", name, n.Server, dns.RcodeToString[r.Rcode])
	}
	target := fq
	for range 8 {
		next := ""
		for _, rr := range r.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, target) {
				next = c.Target
			}
		}
		if next == "" {
			break
		}
		target = next
	}
	var ips []net.IP
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, target) {
			ips = append(ips, a.A)
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s via %s: no A record (for %s)", name, n.Server, target)
	}
	return ips, nil
}

// exchange sends q once over a new socket and reads the answer to it.
func (n *NamespaceResolver) exchange(ctx context.Context, network string, q *dns.Msg, attempt time.Duration) (*dns.Msg, error) {
	actx, cancel := context.WithTimeout(ctx, attempt)
	defer cancel()
	nc, err := n.d.DialContext(actx, network, n.Server)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	dl, _ := actx.Deadline()
	if err := nc.SetDeadline(dl); err != nil {
		return nil, err
	}
	q.Id = dns.Id()
	co := &dns.Conn{Conn: nc}
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		r, err := co.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == q.Id && r.Response {
			return r, nil
		} // else a stray answer: read on
	}
}
