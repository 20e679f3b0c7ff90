package preflight

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dropConn drops the VICI packets charon sends that drop says to (each: a
// 32-bit length, a type byte, for events (7) a name of one length byte).
type dropConn struct {
	net.Conn
	drop    func(ptype byte, name string) bool
	in, out []byte
}

func (d *dropConn) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		buf := make([]byte, 4096)
		n, err := d.Conn.Read(buf)
		d.in = append(d.in, buf[:n]...)
		for len(d.in) >= 4 {
			size := int(binary.BigEndian.Uint32(d.in))
			if len(d.in) < 4+size {
				break
			}
			pkt := d.in[:4+size]
			d.in = d.in[4+size:]
			var name string
			if size >= 2 && pkt[4] == 7 && size >= 2+int(pkt[5]) {
				name = string(pkt[6 : 6+int(pkt[5])])
			}
			if size >= 1 && d.drop(pkt[4], name) {
				continue
			}
			d.out = append(d.out, pkt...)
		}
		if err != nil && len(d.out) == 0 {
			return 0, err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// lossyGateway is site's gateway whose first lost list-sa events are
// dropped (lost < 0: all), as charon skips an IKE SA in use.
func lossyGateway(t *testing.T, sock, site string, lost int) *tunnel.Gateway {
	var mu sync.Mutex
	g := tunnel.NewGateway(site, tunnel.DialFunc("unix://"+sock, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", sock)
		if err != nil {
			return nil, err
		}
		return &dropConn{Conn: c, drop: func(ptype byte, name string) bool {
			mu.Lock()
			defer mu.Unlock()
			if ptype != 7 || name != "list-sa" || lost == 0 {
				return false
			}
			lost--
			return true
		}}, nil
	}))
	t.Cleanup(func() { g.Close() })
	return g
}

// A reading that skipped the IKE SA is read again before it is reported;
// a tunnel that stays unhealthy is reported after a bounded confirmation.
func TestCheckConfirmsUnhealthyTunnel(t *testing.T) {
	info, tg := upLab(t)
	aws, err := target.SiteNamed(tg, "aws")
	require.NoError(t, err)
	orig := aws.Gateway
	defer func() { aws.Gateway = orig }()

	aws.Gateway = lossyGateway(t, info.Sites["aws"].Gateway.VICI, "aws", 1)
	r := Check(context.Background(), tg, labOptions())
	assert.True(t, r.OK(), "one skipped reading is not a problem: %v", r.Problems())

	aws.Gateway = lossyGateway(t, info.Sites["aws"].Gateway.VICI, "aws", -1)
	start := time.Now()
	r = Check(context.Background(), tg, labOptions())
	took := time.Since(start)
	require.False(t, r.OK())
	assert.Contains(t, strings.Join(r.Problems(), "\n"), "aws gateway: tunnel onprem-aws is not healthy: no IKE SA")
	assert.GreaterOrEqual(t, took, confirmWindow)
	assert.Less(t, took, 5*confirmWindow)
}
