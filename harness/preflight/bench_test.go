package preflight

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// BenchmarkCheckLab is preflight's wall time on the netns lab (target: at
// most 1 s), through the lab's own unix sockets.
func BenchmarkCheckLab(b *testing.B) {
	_, tg := upLab(b)
	o := labOptions()
	ctx := context.Background()
	for b.Loop() {
		if r := Check(ctx, tg, o); !r.OK() {
			b.Fatalf("not OK: %v", r.Problems())
		}
	}
}

// slowConn adds one round trip of latency to every request written, as a
// remote host (SSH) would: the protocols here are request/response.
type slowConn struct {
	net.Conn
	rtt time.Duration
}

func (s *slowConn) Write(b []byte) (int, error) {
	time.Sleep(s.rtt) // the simulated network, not a wait for a condition
	return s.Conn.Write(b)
}

// BenchmarkCheckLabRTT is Check with every gateway and database reached
// through connections that add a round trip of 20 or 50 ms per request
// (replica.OpenEndpoint and tunnel.DialFunc, the paths a target file's
// hosts use): how many round trips are on its critical path.
func BenchmarkCheckLabRTT(b *testing.B) {
	info, tg := upLab(b)
	for _, rtt := range []time.Duration{20 * time.Millisecond, 50 * time.Millisecond} {
		b.Run(rtt.String(), func(b *testing.B) {
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &slowConn{Conn: c, rtt: rtt}, nil
			}
			for _, s := range tg.Sites() {
				sock := info.Sites[s.Name].Gateway.VICI
				s.Gateway = tunnel.NewGateway(s.Name, tunnel.DialFunc("unix://"+sock, func(ctx context.Context) (net.Conn, error) {
					return dial(ctx, "unix", sock)
				}))
				db, err := replica.OpenEndpoint(context.Background(), replica.Endpoint{Network: "unix", Addr: info.Sites[s.Name].DB.Socket, User: "root", Dial: dial})
				if err != nil {
					b.Fatal(err)
				}
				s.DB = db
				b.Cleanup(func() { s.Gateway.Close(); db.Close() })
			}
			o := labOptions()
			for b.Loop() {
				if r := Check(context.Background(), tg, o); !r.OK() {
					b.Fatalf("not OK: %v", r.Problems())
				}
			}
		})
	}
}

// BenchmarkOpenAndCheckLab is what `drdrill preflight` would spend on the
// lab from cold: connect to every daemon (lab.Open), Check, close.
func BenchmarkOpenAndCheckLab(b *testing.B) {
	info, _ := upLab(b)
	o := labOptions()
	ctx := context.Background()
	for b.Loop() {
		tg, err := lab.Open(ctx, info, nil)
		if err != nil {
			b.Fatal(err)
		}
		r := Check(ctx, tg, o)
		tg.Close()
		if !r.OK() {
			b.Fatalf("not OK: %v", r.Problems())
		}
	}
}
