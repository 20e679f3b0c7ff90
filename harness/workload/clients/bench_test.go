package clients

import (
	"context"
	"net"
	"testing"
)

// benchNet is makeNet with a TCP listener on ipDB1:3306 (accepting and
// closing) and the DNS server, both in srv; the dialer is cli's.
func benchNet(b *testing.B) (*NetnsDialer, *NamespaceResolver) {
	needRoot(b)
	srv, cli := makeNet(b)
	sd, err := NewNetnsDialer(srv)
	if err != nil {
		b.Fatal(err)
	}
	var ln net.Listener
	if err := sd.Do(func() (err error) { ln, err = net.Listen("tcp4", ipDB1+":3306"); return err }); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	startDNS(b, srv, &dnsServer{writer: "db1.cluster.lab.", a: map[string]string{"db1.cluster.lab.": ipDB1}})
	nd, err := NewNetnsDialer(cli)
	if err != nil {
		b.Fatal(err)
	}
	res, err := NewNamespaceResolver(nd, ipDNS)
	if err != nil {
		b.Fatal(err)
	}
	return nd, res
}

// BenchmarkNetnsDial is one TCP connection made inside the namespace
// (thread switched in and out, socket's namespace checked) and closed.
func BenchmarkNetnsDial(b *testing.B) {
	nd, _ := benchNet(b)
	ctx := context.Background()
	for b.Loop() {
		c, err := nd.DialContext(ctx, "tcp", ipDB1+":3306")
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkNamespaceResolve is one lookup of writer.cluster.lab (CNAME and
// A) from inside the namespace: what fresh-per-write pays per write.
func BenchmarkNamespaceResolve(b *testing.B) {
	_, res := benchNet(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := res.LookupIPv4(ctx, "writer.cluster.lab"); err != nil {
			b.Fatal(err)
		}
	}
}
