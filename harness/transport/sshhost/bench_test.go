package sshhost

import (
	"bufio"
	"context"
	"testing"
)

// BenchmarkConnect is a new connection to an sshd -i on this machine: the
// proxy command, the handshake, public key authentication.
func BenchmarkConnect(b *testing.B) {
	s := newServer(b)
	o := s.options(b)
	ctx := context.Background()
	for b.Loop() {
		p, err := NewPool(o)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Host(ctx, "ssh://target"); err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

// BenchmarkExec is one command in a new session on a live connection (sh
// -c true: the remote shell's start-up is part of it).
func BenchmarkExec(b *testing.B) {
	ctx := context.Background()
	h := targetHost(b, ctx)
	for b.Loop() {
		if _, err := h.Exec(ctx, []string{"true"}, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDialUnix is a new channel to a unix socket; BenchmarkRoundTrip
// one line there and back on an open one.
func BenchmarkDialUnix(b *testing.B) {
	sock := echoServer(b)
	ctx := context.Background()
	h := targetHost(b, ctx)
	for b.Loop() {
		c, err := h.Dial(ctx, "unix", sock)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	sock := echoServer(b)
	ctx := context.Background()
	h := targetHost(b, ctx)
	c, err := h.Dial(ctx, "unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for b.Loop() {
		c.Write([]byte("ping\n"))
		if _, err := r.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
	}
}
