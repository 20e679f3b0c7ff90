package preflight

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/require"
)

// readTestdata reads a file of the replica package's captured outputs.
func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../replica/testdata/" + name)
	require.NoError(t, err)
	return string(b)
}

// varsFile reads SHOW GLOBAL VARIABLES in --batch --raw format.
func varsFile(t *testing.T, name string) map[string]string {
	t.Helper()
	vars, err := fakesql.ParseVars(readTestdata(t, name))
	require.NoError(t, err, name)
	return vars
}

// grantsResult answers SHOW GRANTS from a grants_*.txt file.
func grantsResult(t *testing.T, name string) fakesql.Result {
	t.Helper()
	lines := strings.Split(strings.TrimRight(readTestdata(t, name), "\n"), "\n")
	r := fakesql.Result{Cols: []string{lines[0]}}
	for _, l := range lines[1:] {
		r.Rows = append(r.Rows, []any{l})
	}
	return r
}

// statusResult answers SHOW REPLICA STATUS from a vertical-format file.
func statusResult(t *testing.T, name string) fakesql.Result {
	t.Helper()
	rows, err := replica.ParseVerticalRows(strings.NewReader(readTestdata(t, name)))
	require.NoError(t, err)
	return fakesql.Rows(rows[0])
}

// fakeDB returns a Conn on a strict fake MySQL server: a statement handle
// has no answer for is an error.
func fakeDB(t *testing.T, version string, handle func(q string, args []driver.NamedValue) fakesql.Result) (*replica.Conn, *fakesql.Server) {
	t.Helper()
	s := &fakesql.Server{Version: version, Comment: "MySQL Community Server - GPL", Handle: handle, Strict: true}
	c, err := replica.FromDB(context.Background(), s.Open(t))
	require.NoError(t, err)
	return c, s
}

// deadGateway is a gateway handle whose endpoint refuses connections.
func deadGateway(site string) *tunnel.Gateway {
	return tunnel.NewGateway(site, tunnel.DialFunc("ssh://gw-"+site+"/var/run/charon.vici", func(context.Context) (net.Conn, error) {
		return nil, errors.New("dial: connection refused")
	}))
}

// fakeTarget is a target whose parts the test supplies; exec is a
// capability only when withExec.
type fakeTarget struct {
	sites   []*target.Site
	ike     func(ctx context.Context) (tunnel.IKETimings, error)
	secrets []string
}

func (f *fakeTarget) Name() string          { return "fake" }
func (f *fakeTarget) Sites() []*target.Site { return f.sites }
func (f *fakeTarget) OpenDB(context.Context, string, int) (*replica.Conn, error) {
	return nil, errors.New("preflight must not open pools")
}
func (f *fakeTarget) IKETimings(ctx context.Context) (tunnel.IKETimings, error) { return f.ike(ctx) }
func (f *fakeTarget) Describe() map[string]any                                  { return nil }
func (f *fakeTarget) Secrets() []string                                         { return f.secrets }
func (f *fakeTarget) Close() error                                              { return nil }
