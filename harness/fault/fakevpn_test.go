package fault

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// fakeVPN is two fake charons speaking enough VICI (version, list-conns,
// list-sas, initiate, terminate) over in-memory pipes, with the tunnel
// between them as strongSwan keeps it: a terminate removes both sides' SAs
// when the peer hears the DELETE, an initiate replaces the peer's SAs
// (INITIAL_CONTACT), a killed charon loses its SAs and its connection while
// the peer keeps stale ones. It is also the target's GatewayRestarter, and
// refuses to start a second charon where one runs.
type fakeVPN struct {
	mu     sync.Mutex
	sites  map[string]*fakeSite
	spi    int
	calls  []string // "site: command"
	errors []string // what a real gateway would have refused
	// dropAnswer: the next time this "site: command" is handled, the
	// connection is closed instead of answering (an SSH hop dropped).
	dropAnswer string
}

type fakeSite struct {
	name, peer       string
	running, loaded  bool
	deaf             bool // drops everything from its peer (a DELETE never arrives)
	ike              *fakeIKE
	addr, local, rem string
	conns            []net.Conn
	kills, starts    int
}

type fakeIKE struct{ spiI, spiR, spiIn, spiOut string }

const fakeConn = "onprem-aws"

func newFakeVPN() *fakeVPN {
	v := &fakeVPN{sites: map[string]*fakeSite{
		"aws":    {name: "aws", peer: "onprem", running: true, loaded: true, addr: "198.51.100.1", local: "10.20.0.0/16", rem: "192.168.64.0/24"},
		"onprem": {name: "onprem", peer: "aws", running: true, loaded: true, addr: "198.51.100.2", local: "192.168.64.0/24", rem: "10.20.0.0/16"},
	}}
	v.establish("aws")
	return v
}

// target is the two sites as a Target with the fake as its restarter
// (hosts: HostExec for faults that need one; dbs: the sites' databases).
func (v *fakeVPN) target(hosts target.HostExec, rep *replica.Conn) vpnTarget {
	return v.targetDBs(hosts, nil, rep)
}

// targetDBs is target with the primary's database too.
func (v *fakeVPN) targetDBs(hosts target.HostExec, prim, rep *replica.Conn) vpnTarget {
	var sites []*target.Site
	for _, n := range []string{"aws", "onprem"} {
		s := v.sites[n]
		role := target.RolePrimary
		if n == "onprem" {
			role = target.RoleReplica
		}
		db := &replica.Conn{}
		if n == "onprem" && rep != nil {
			db = rep
		}
		if n == "aws" && prim != nil {
			db = prim
		}
		sites = append(sites, &target.Site{Name: n, Role: role, Gateway: tunnel.NewGateway(n, tunnel.DialFunc("fake "+n, v.dialer(n))),
			Tunnel: tunnel.Expectation{Connection: fakeConn, LocalTS: []string{s.local}, RemoteTS: []string{s.rem}}, DB: db})
	}
	if hosts == nil {
		hosts = newFakeHosts()
	}
	return vpnTarget{fakeTarget{sites: sites}, v, hosts}
}

type vpnTarget struct {
	fakeTarget
	*fakeVPN
	target.HostExec
}

// establish brings the tunnel up from site (fresh SPIs on both sides).
func (v *fakeVPN) establish(site string) {
	s := v.sites[site]
	p := v.sites[s.peer]
	v.spi++
	a := fmt.Sprintf("%016x", v.spi)
	b := fmt.Sprintf("%016x", v.spi+1000)
	ci, co := fmt.Sprintf("c%07x", v.spi), fmt.Sprintf("d%07x", v.spi)
	s.ike = &fakeIKE{spiI: a, spiR: b, spiIn: ci, spiOut: co}
	p.ike = &fakeIKE{spiI: a, spiR: b, spiIn: co, spiOut: ci}
}

func (v *fakeVPN) healthy() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	a, b := v.sites["aws"], v.sites["onprem"]
	return a.ike != nil && b.ike != nil && a.ike.spiI == b.ike.spiI && a.running && b.running
}

func (v *fakeVPN) count(site, cmd string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, c := range v.calls {
		if c == site+": "+cmd {
			n++
		}
	}
	return n
}

// KillGateway: kill -9 (no DELETE; the peer keeps its SAs).
func (v *fakeVPN) KillGateway(_ context.Context, site string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.sites[site]
	s.kills++
	s.running, s.loaded, s.ike = false, false, nil
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	return nil
}

// RestartGateway starts charon with its VPN loaded; a second charon where
// one runs is the bug resumed faults must not have.
func (v *fakeVPN) RestartGateway(_ context.Context, site string) error {
	return v.start(site, true)
}

// StartGatewayUnconfigured starts charon bare (BareStarter).
func (v *fakeVPN) StartGatewayUnconfigured(_ context.Context, site string) error {
	return v.start(site, false)
}

func (v *fakeVPN) start(site string, loaded bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.sites[site]
	s.starts++
	if s.running {
		v.errors = append(v.errors, "second charon started on "+site)
		return errors.New("charon already running on " + site)
	}
	s.running, s.loaded = true, loaded
	return nil
}

func (v *fakeVPN) dialer(site string) func(context.Context) (net.Conn, error) {
	return func(context.Context) (net.Conn, error) {
		v.mu.Lock()
		defer v.mu.Unlock()
		s := v.sites[site]
		if !s.running {
			return nil, &net.OpError{Op: "dial", Net: "unix", Err: errors.New("connection refused")}
		}
		client, server := net.Pipe()
		s.conns = append(s.conns, server)
		go v.serve(site, server)
		return sockConn{client}, nil
	}
}

// sockConn makes a pipe fail as a unix socket does when its peer died
// (EPIPE as a *net.OpError, not io.ErrClosedPipe).
type sockConn struct{ net.Conn }

func (c sockConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if errors.Is(err, io.ErrClosedPipe) {
		err = &net.OpError{Op: "write", Net: "unix", Err: syscall.EPIPE}
	}
	return n, err
}

// SetWriteDeadline: a socket's succeeds when its peer has gone (a pipe's
// says io.ErrClosedPipe, which the next write reports as a socket would).
func (c sockConn) SetWriteDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); !errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	return nil
}

func (c sockConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if errors.Is(err, io.ErrClosedPipe) {
		err = &net.OpError{Op: "read", Net: "unix", Err: net.ErrClosed}
	}
	return n, err
}

// handle answers one command: the events it streams and its response.
func (v *fakeVPN) handle(site, cmd string) (events []*vbody, resp *vbody) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, site+": "+cmd)
	s, p := v.sites[site], v.sites[v.sites[site].peer]
	ok := (&vbody{}).kv("success", "yes")
	fail := func(msg string, log ...string) ([]*vbody, *vbody) {
		var evs []*vbody
		for _, l := range log {
			evs = append(evs, (&vbody{}).kv("msg", l))
		}
		return evs, (&vbody{}).kv("success", "no").kv("errmsg", msg)
	}
	switch cmd {
	case "version":
		return nil, (&vbody{}).kv("daemon", "charon").kv("version", "5.9.8")
	case "list-conns":
		if !s.loaded {
			return nil, ok
		}
		c := (&vbody{}).start(fakeConn).kv("dpd_delay", "2").start("children").start(fakeConn).kv("dpd_action", "clear").
			list("local-ts", s.local).list("remote-ts", s.rem).end().end().end()
		return []*vbody{c}, ok
	case "list-sas":
		if s.ike == nil {
			return nil, ok
		}
		sa := (&vbody{}).start(fakeConn).kv("uniqueid", "1").kv("state", "ESTABLISHED").kv("local-host", s.addr).kv("remote-host", p.addr).
			kv("initiator-spi", s.ike.spiI).kv("responder-spi", s.ike.spiR).start("child-sas").start(fakeConn+"-1").
			kv("name", fakeConn).kv("uniqueid", "1").kv("state", "INSTALLED").kv("spi-in", s.ike.spiIn).kv("spi-out", s.ike.spiOut).
			list("local-ts", s.local).list("remote-ts", s.rem).end().end().end()
		return []*vbody{sa}, ok
	case "terminate":
		if s.ike == nil {
			return fail("no matching SAs found")
		}
		spi := s.ike.spiI
		s.ike = nil
		if p.running && !p.deaf && p.ike != nil && p.ike.spiI == spi {
			p.ike = nil
			return nil, ok
		}
		return fail("terminating SA failed", "destroying IKE_SA in state DELETING without notification")
	case "initiate":
		switch {
		case !s.loaded:
			return fail("CHILD_SA config '" + fakeConn + "' not found")
		case s.ike != nil:
			return fail("establishing CHILD_SA '"+fakeConn+"' failed", "not establishing CHILD_SA due to existing duplicate")
		case !p.running || !p.loaded || p.deaf:
			return fail("establishing CHILD_SA '"+fakeConn+"' failed", "giving up after 3 retransmits", "peer not responding")
		}
		v.establish(site)
		return nil, ok
	}
	return fail("unknown command " + cmd)
}

// The VICI wire format: a 4-byte length, a type byte, a name for named
// types, then elements.
const (
	vpCmdRequest    = 0
	vpCmdResponse   = 1
	vpEventRegister = 3
	vpEventUnreg    = 4
	vpEventConfirm  = 5
	vpEvent         = 7
)

type vbody struct{ bytes.Buffer }

func (b *vbody) kv(k, v string) *vbody {
	b.WriteByte(3)
	b.WriteByte(byte(len(k)))
	b.WriteString(k)
	binary.Write(&b.Buffer, binary.BigEndian, uint16(len(v)))
	b.WriteString(v)
	return b
}

func (b *vbody) start(name string) *vbody {
	b.WriteByte(1)
	b.WriteByte(byte(len(name)))
	b.WriteString(name)
	return b
}

func (b *vbody) end() *vbody { b.WriteByte(2); return b }

func (b *vbody) list(name string, items ...string) *vbody {
	b.WriteByte(4)
	b.WriteByte(byte(len(name)))
	b.WriteString(name)
	for _, it := range items {
		b.WriteByte(5)
		binary.Write(&b.Buffer, binary.BigEndian, uint16(len(it)))
		b.WriteString(it)
	}
	b.WriteByte(6)
	return b
}

func vpkt(w io.Writer, typ byte, name string, b []byte) {
	var p bytes.Buffer
	p.WriteByte(typ)
	if typ == vpEvent {
		p.WriteByte(byte(len(name)))
		p.WriteString(name)
	}
	p.Write(b)
	binary.Write(w, binary.BigEndian, uint32(p.Len()))
	w.Write(p.Bytes())
}

var streamedEvent = map[string]string{"list-sas": "list-sa", "list-conns": "list-conn", "initiate": "control-log", "terminate": "control-log"}

func (v *fakeVPN) serve(site string, c net.Conn) {
	defer c.Close()
	events := map[string]bool{}
	for {
		var n uint32
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		pkt := make([]byte, n)
		if _, err := io.ReadFull(c, pkt); err != nil {
			return
		}
		typ, rest := pkt[0], pkt[1:]
		var name string
		if typ == vpCmdRequest || typ == vpEventRegister || typ == vpEventUnreg {
			l := int(rest[0])
			name = string(rest[1 : 1+l])
		}
		switch typ {
		case vpEventRegister:
			events[name] = true
			vpkt(c, vpEventConfirm, "", nil)
		case vpEventUnreg:
			delete(events, name)
			vpkt(c, vpEventConfirm, "", nil)
		case vpCmdRequest:
			evs, resp := v.handle(site, name)
			v.mu.Lock()
			drop := v.dropAnswer == site+": "+name
			if drop {
				v.dropAnswer = ""
			}
			v.mu.Unlock()
			if drop {
				return
			}
			var all bytes.Buffer
			for _, ev := range evs {
				if en := streamedEvent[name]; events[en] {
					vpkt(&all, vpEvent, en, ev.Bytes())
				}
			}
			vpkt(&all, vpCmdResponse, "", resp.Bytes())
			if _, err := c.Write(all.Bytes()); err != nil {
				return
			}
		}
	}
}

// String summarises the fake's state for failures.
func (v *fakeVPN) String() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var parts []string
	for _, n := range []string{"aws", "onprem"} {
		s := v.sites[n]
		sa := "no SA"
		if s.ike != nil {
			sa = "SA " + s.ike.spiI
		}
		parts = append(parts, fmt.Sprintf("%s running=%v loaded=%v %s", n, s.running, s.loaded, sa))
	}
	return strings.Join(parts, "; ")
}
