package tunnel

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
)

// A fake charon that speaks enough of the VICI wire protocol for unit tests:
// packets are a 4-byte length, a type byte, a name for named types, and a
// body of elements (section start/end, key-value, list start/item/end).
const (
	pktCmdRequest    = 0
	pktCmdResponse   = 1
	pktEventRegister = 3
	pktEventUnreg    = 4
	pktEventConfirm  = 5
	pktEvent         = 7

	elSectionStart = 1
	elSectionEnd   = 2
	elKeyValue     = 3
	elListStart    = 4
	elListItem     = 5
	elListEnd      = 6
)

// body builds a VICI message body.
type body struct{ bytes.Buffer }

func (b *body) kv(k, v string) *body {
	b.WriteByte(elKeyValue)
	b.WriteByte(byte(len(k)))
	b.WriteString(k)
	binary.Write(&b.Buffer, binary.BigEndian, uint16(len(v)))
	b.WriteString(v)
	return b
}

func (b *body) start(name string) *body {
	b.WriteByte(elSectionStart)
	b.WriteByte(byte(len(name)))
	b.WriteString(name)
	return b
}

func (b *body) end() *body { b.WriteByte(elSectionEnd); return b }

func (b *body) list(name string, items ...string) *body {
	b.WriteByte(elListStart)
	b.WriteByte(byte(len(name)))
	b.WriteString(name)
	for _, it := range items {
		b.WriteByte(elListItem)
		binary.Write(&b.Buffer, binary.BigEndian, uint16(len(it)))
		b.WriteString(it)
	}
	b.WriteByte(elListEnd)
	return b
}

// reply is what the fake sends for one command: events first, then the
// response, written back to back (as charon does).
type reply struct {
	events   []*body
	response *body
}

type handler func(cmd string, req []byte) reply

// fakeCharon serves one connection per Dial.
type fakeCharon struct {
	h     handler
	dials atomic.Int32
}

func (f *fakeCharon) Dial(ctx context.Context) (net.Conn, error) {
	f.dials.Add(1)
	client, server := net.Pipe()
	go f.serve(server)
	return client, nil
}

func (f *fakeCharon) String() string { return "fake" }

func writePkt(w io.Writer, typ byte, name string, b []byte) error {
	var p bytes.Buffer
	p.WriteByte(typ)
	if typ == pktEvent || typ == pktCmdRequest {
		p.WriteByte(byte(len(name)))
		p.WriteString(name)
	}
	p.Write(b)
	var out bytes.Buffer
	binary.Write(&out, binary.BigEndian, uint32(p.Len()))
	out.Write(p.Bytes())
	_, err := w.Write(out.Bytes())
	return err
}

func (f *fakeCharon) serve(c net.Conn) {
	defer c.Close()
	var events = map[string]bool{}
	for {
		var n uint32
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		pkt := make([]byte, n)
		if _, err := io.ReadFull(c, pkt); err != nil {
			return
		}
		typ, name := pkt[0], ""
		rest := pkt[1:]
		if typ == pktCmdRequest || typ == pktEventRegister || typ == pktEventUnreg {
			l := int(rest[0])
			name, rest = string(rest[1:1+l]), rest[1+l:]
		}
		switch typ {
		case pktEventRegister:
			events[name] = true
			writePkt(c, pktEventConfirm, "", nil)
		case pktEventUnreg:
			delete(events, name)
			writePkt(c, pktEventConfirm, "", nil)
		case pktCmdRequest:
			r := f.h(name, rest)
			var all bytes.Buffer
			for _, ev := range r.events {
				evName := map[string]string{"list-sas": "list-sa", "initiate": "control-log", "terminate": "control-log"}[name]
				if events[evName] {
					writePkt(&all, pktEvent, evName, ev.Bytes())
				}
			}
			resp := r.response
			if resp == nil {
				resp = (&body{}).kv("success", "yes")
			}
			writePkt(&all, pktCmdResponse, "", resp.Bytes())
			// One write: the event and the response arrive together, the
			// case that made govici's CallStreaming drop the event.
			c.Write(all.Bytes())
		}
	}
}

func fakeGateway(t *testing.T, h handler) *Gateway {
	t.Helper()
	g, err := Open(context.Background(), "aws", &fakeCharon{h: func(cmd string, req []byte) reply {
		if cmd == "version" {
			return reply{response: (&body{}).kv("daemon", "charon").kv("version", "5.9.8")}
		}
		return h(cmd, req)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func writeFile(p string) error { return os.WriteFile(p, []byte("x"), 0o644) }
