package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeServer is a database/sql driver that answers statements with a
// handler and records them, for testing Conn without a server.
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
func (s *fakeServer) Driver() driver.Driver                        { return fakeDriver{} }

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
	var r fakeResult
	if s.handle != nil {
		r = s.handle(q, args)
	}
	if q == "SELECT @@SESSION.sql_mode" && r.cols == nil && r.err == nil {
		return one("@@SESSION.sql_mode", "STRICT_TRANS_TABLES")
	}
	return r
}

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("use the connector") }

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

func (c *fakeConn) ExecContext(_ context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	r := c.s.run(q, args)
	if r.err != nil {
		return nil, r.err
	}
	return driver.RowsAffected(0), nil
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

// newFakeConn returns a Conn on a fake server reporting the given VERSION().
func newFakeConn(t testing.TB, version string, handle func(q string, args []driver.NamedValue) fakeResult) (*Conn, *fakeServer) {
	t.Helper()
	s := &fakeServer{version: version, handle: handle}
	if strings.Contains(version, "MariaDB") {
		s.comment = "Debian 12"
	} else {
		s.comment = "MySQL Community Server - GPL"
	}
	db := sql.OpenDB(s)
	t.Cleanup(func() { db.Close() })
	c, err := FromDB(context.Background(), db)
	require.NoError(t, err)
	return c, s
}

// one returns a single-row, single-column result.
func one(col string, v any) fakeResult {
	return fakeResult{cols: []string{col}, rows: [][]any{{v}}}
}

// rowResult turns a parsed testdata row into a result set.
func rowResult(rows ...map[string]*string) fakeResult {
	var r fakeResult
	if len(rows) == 0 {
		r.cols = []string{"Slave_IO_State"}
		return r
	}
	for name := range rows[0] {
		r.cols = append(r.cols, name)
	}
	for _, row := range rows {
		vals := make([]any, len(r.cols))
		for i, name := range r.cols {
			if v := row[name]; v != nil {
				vals[i] = *v
			}
		}
		r.rows = append(r.rows, vals)
	}
	return r
}

func loadRow(t *testing.T, name string) map[string]*string {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	require.NoError(t, err)
	defer f.Close()
	rows, err := ParseVerticalRows(f)
	require.NoError(t, err)
	require.Len(t, rows, 1, name)
	return rows[0]
}

// cloneRow copies a row and applies edits: a nil *string value in edits
// sets NULL; use del to remove a column.
func cloneRow(row map[string]*string, edits map[string]*string, del ...string) map[string]*string {
	out := make(map[string]*string, len(row))
	for k, v := range row {
		out[k] = v
	}
	for k, v := range edits {
		out[k] = v
	}
	for _, k := range del {
		delete(out, k)
	}
	return out
}

func ptr(s string) *string { return &s }
