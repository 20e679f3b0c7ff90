package preflight

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/stretchr/testify/require"
)

// fakeServer answers statements from a handler (no server needed: the
// MySQL 8 paths are checked against captured-format outputs) and records
// them.
type fakeServer struct {
	version, comment string
	handle           func(q string, args []driver.NamedValue) fakeResult

	mu  sync.Mutex
	log []string
}

type fakeResult struct {
	cols []string
	rows [][]any // string or nil (NULL)
	err  error
}

func (s *fakeServer) Connect(context.Context) (driver.Conn, error) { return &fakeConn{s}, nil }
func (s *fakeServer) Driver() driver.Driver                        { return nil }

func (s *fakeServer) statements() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *fakeServer) run(q string, args []driver.NamedValue) fakeResult {
	s.mu.Lock()
	s.log = append(s.log, q)
	s.mu.Unlock()
	if q == "SELECT VERSION(), @@version_comment" {
		return fakeResult{cols: []string{"VERSION()", "@@version_comment"}, rows: [][]any{{s.version, s.comment}}}
	}
	if r := s.handle(q, args); r.cols != nil || r.err != nil {
		return r
	}
	return fakeResult{err: fmt.Errorf("fake server: unexpected statement %q", q)}
}

type fakeConn struct{ s *fakeServer }

func (c *fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("fake: no prepare") }
func (c *fakeConn) Close() error                        { return nil }
func (c *fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("fake: no tx") }

func (c *fakeConn) QueryContext(_ context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r := c.s.run(q, args)
	if r.err != nil {
		return nil, r.err
	}
	return &fakeRows{cols: r.cols, rows: r.rows}, nil
}

type fakeRows struct {
	cols []string
	rows [][]any
	i    int
}

func (r *fakeRows) Columns() []string { return r.cols }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.i >= len(r.rows) {
		return io.EOF
	}
	for j, v := range r.rows[r.i] {
		if v == nil {
			dest[j] = nil
		} else {
			dest[j] = []byte(v.(string))
		}
	}
	r.i++
	return nil
}

func one(col string, v any) fakeResult { return fakeResult{cols: []string{col}, rows: [][]any{{v}}} }

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
	lines := strings.Split(strings.TrimRight(readTestdata(t, name), "\n"), "\n")
	out := map[string]string{}
	var last string
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, "\t")
		if !ok {
			out[last] += "\n" + l
			continue
		}
		out[k], last = v, k
	}
	return out
}

func varsResult(vars map[string]string) fakeResult {
	r := fakeResult{cols: []string{"Variable_name", "Value"}}
	var names []string
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r.rows = append(r.rows, []any{k, vars[k]})
	}
	return r
}

// grantsResult answers SHOW GRANTS from a grants_*.txt file.
func grantsResult(t *testing.T, name string) fakeResult {
	t.Helper()
	lines := strings.Split(strings.TrimRight(readTestdata(t, name), "\n"), "\n")
	r := fakeResult{cols: []string{lines[0]}}
	for _, l := range lines[1:] {
		r.rows = append(r.rows, []any{l})
	}
	return r
}

// statusResult answers SHOW REPLICA STATUS from a vertical-format file.
func statusResult(t *testing.T, name string) fakeResult {
	t.Helper()
	rows, err := replica.ParseVerticalRows(strings.NewReader(readTestdata(t, name)))
	require.NoError(t, err)
	var r fakeResult
	for k := range rows[0] {
		r.cols = append(r.cols, k)
	}
	sort.Strings(r.cols)
	vals := make([]any, len(r.cols))
	for i, k := range r.cols {
		if v := rows[0][k]; v != nil {
			vals[i] = *v
		}
	}
	r.rows = [][]any{vals}
	return r
}

func fakeDB(t *testing.T, version string, handle func(q string, args []driver.NamedValue) fakeResult) (*replica.Conn, *fakeServer) {
	t.Helper()
	s := &fakeServer{version: version, comment: "MySQL Community Server - GPL", handle: handle}
	db := sql.OpenDB(s)
	t.Cleanup(func() { db.Close() })
	c, err := replica.FromDB(context.Background(), db)
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
