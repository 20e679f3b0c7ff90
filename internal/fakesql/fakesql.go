package fakesql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
)

// VersionQuery is the statement a Server answers itself, from Version and
// Comment, before asking its handler.
const VersionQuery = "SELECT VERSION(), @@version_comment"

// Result is the answer to one statement: a result set, or an error.
type Result struct {
	Cols []string
	Rows [][]any // each value a string or nil (NULL)
	Err  error
	// InsertID is an Exec's LastInsertId (0: none, as RowsAffected(0)).
	InsertID int64
}

// One returns a single-row, single-column result; v is a string or nil.
func One(col string, v any) Result {
	return Result{Cols: []string{col}, Rows: [][]any{{v}}}
}

// IsZero reports whether r has no columns and no error: the handler had
// no answer.
func (r Result) IsZero() bool { return r.Cols == nil && r.Err == nil }

// Server answers statements from Handle and records them. Use it by
// pointer; it must not be copied after first use.
type Server struct {
	// Version and Comment answer SELECT VERSION(), @@version_comment.
	Version, Comment string
	// Handle answers every other statement; nil answers a zero Result.
	Handle func(q string, args []driver.NamedValue) Result
	// Exec, if set, answers statements run with ExecContext instead of
	// Handle (for a fake that treats writes apart from reads). Only a
	// Result's Err matters to an Exec: success is RowsAffected(0).
	Exec func(q string, args []driver.NamedValue) Result
	// Strict makes a zero Result an error: "fake server: unexpected
	// statement". A strict handler that accepts a write answers it with a
	// non-zero Result, e.g. Result{Cols: []string{}}.
	Strict bool

	mu  sync.Mutex
	log []string
}

// Connect returns a connection to s (driver.Connector).
func (s *Server) Connect(context.Context) (driver.Conn, error) { return &conn{s}, nil }

// Driver returns a driver that refuses Open: connections come from the
// connector (driver.Connector).
func (s *Server) Driver() driver.Driver { return fakeDriver{} }

// Open returns a pool on s, closed when tb ends.
func (s *Server) Open(tb testing.TB) *sql.DB {
	db := sql.OpenDB(s)
	tb.Cleanup(func() { db.Close() })
	return db
}

// Statements returns every statement run on s, in order, the version
// query included.
func (s *Server) Statements() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *Server) run(q string, args []driver.NamedValue, exec bool) Result {
	s.mu.Lock()
	s.log = append(s.log, q)
	s.mu.Unlock()
	if q == VersionQuery {
		return Result{Cols: []string{"VERSION()", "@@version_comment"}, Rows: [][]any{{s.Version, s.Comment}}}
	}
	h := s.Handle
	if exec && s.Exec != nil {
		h = s.Exec
	}
	var r Result
	if h != nil {
		r = h(q, args)
	}
	if s.Strict && r.IsZero() {
		return Result{Err: fmt.Errorf("fake server: unexpected statement %q", q)}
	}
	return r
}

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("fakesql: use the connector")
}

type conn struct{ s *Server }

// Prepare returns a statement that runs q as QueryContext and ExecContext
// do: a prepared statement is answered like the same text run directly.
func (c *conn) Prepare(q string) (driver.Stmt, error) { return &stmt{c: c, q: q}, nil }
func (c *conn) Close() error                          { return nil }
func (c *conn) Begin() (driver.Tx, error)             { return nil, errors.New("fakesql: no tx") }

type stmt struct {
	c *conn
	q string
}

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }
func (s *stmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("fakesql: use ExecContext")
}
func (s *stmt) Query([]driver.Value) (driver.Rows, error) {
	return nil, errors.New("fakesql: use QueryContext")
}
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.q, args)
}
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.q, args)
}

// insertResult is an Exec's result with a LastInsertId.
type insertResult int64

func (r insertResult) LastInsertId() (int64, error) { return int64(r), nil }
func (r insertResult) RowsAffected() (int64, error) { return 1, nil }

func (c *conn) QueryContext(_ context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r := c.s.run(q, args, false)
	if r.Err != nil {
		return nil, r.Err
	}
	return &rows{cols: r.Cols, rows: r.Rows}, nil
}

func (c *conn) ExecContext(_ context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	r := c.s.run(q, args, true)
	if r.Err != nil {
		return nil, r.Err
	}
	if r.InsertID != 0 {
		return insertResult(r.InsertID), nil
	}
	return driver.RowsAffected(0), nil
}

type rows struct {
	cols []string
	rows [][]any
	i    int
}

func (r *rows) Columns() []string { return r.cols }
func (r *rows) Close() error      { return nil }

func (r *rows) Next(dest []driver.Value) error {
	if r.i >= len(r.rows) {
		return io.EOF
	}
	row := r.rows[r.i]
	r.i++
	if len(row) != len(dest) {
		return fmt.Errorf("fakesql: row %d has %d values for %d columns", r.i, len(row), len(dest))
	}
	for j, v := range row {
		switch v := v.(type) {
		case nil:
			dest[j] = nil
		case string:
			dest[j] = []byte(v)
		default:
			return fmt.Errorf("fakesql: row %d column %s: a %T, not a string or nil", r.i, r.cols[j], v)
		}
	}
	return nil
}

// Vars answers SHOW GLOBAL VARIABLES from vars, as the server does:
// Variable_name and Value, sorted by name.
func Vars(vars map[string]string) Result {
	r := Result{Cols: []string{"Variable_name", "Value"}}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r.Rows = append(r.Rows, []any{k, vars[k]})
	}
	return r
}

// ParseVars reads SHOW GLOBAL VARIABLES in the client's --batch --raw
// format: the header "Variable_name\tValue", then a name, a tab and a
// value per line; a line without a tab continues the previous value
// (MySQL's long GTID sets hold newlines).
func ParseVars(text string) (map[string]string, error) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if lines[0] != "Variable_name\tValue" {
		return nil, fmt.Errorf("fakesql: not SHOW GLOBAL VARIABLES --batch --raw: header %q", lines[0])
	}
	out := map[string]string{}
	var last string
	for i, l := range lines[1:] {
		k, v, ok := strings.Cut(l, "\t")
		if !ok {
			if i == 0 {
				return nil, fmt.Errorf("fakesql: line 2 continues no variable: %q", l)
			}
			out[last] += "\n" + l
			continue
		}
		out[k], last = v, k
	}
	return out, nil
}

// Rows turns parsed vertical-format rows (\G output, e.g. SHOW REPLICA
// STATUS) into a result set: the first row's columns, sorted; a nil value
// is NULL, and a column a later row lacks is NULL too. No rows is a result
// with no columns and no rows.
func Rows(rows ...map[string]*string) Result {
	r := Result{Cols: []string{}}
	if len(rows) == 0 {
		return r
	}
	for name := range rows[0] {
		r.Cols = append(r.Cols, name)
	}
	sort.Strings(r.Cols)
	for _, row := range rows {
		vals := make([]any, len(r.Cols))
		for i, name := range r.Cols {
			if v := row[name]; v != nil {
				vals[i] = *v
			}
		}
		r.Rows = append(r.Rows, vals)
	}
	return r
}
