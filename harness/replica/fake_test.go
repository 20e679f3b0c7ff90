package replica

import (
	"context"
	"database/sql/driver"
	"os"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/require"
)

// newFakeConn returns a Conn on a fake server reporting the given VERSION()
// and answering other statements with handle (which may be nil). It is not
// strict: a statement handle has no answer for gets an empty answer, and
// SELECT @@SESSION.sql_mode gets STRICT_TRANS_TABLES.
func newFakeConn(t testing.TB, version string, handle func(q string, args []driver.NamedValue) fakesql.Result) (*Conn, *fakesql.Server) {
	t.Helper()
	s := &fakesql.Server{Version: version, Comment: "MySQL Community Server - GPL", Handle: func(q string, args []driver.NamedValue) fakesql.Result {
		var r fakesql.Result
		if handle != nil {
			r = handle(q, args)
		}
		if q == "SELECT @@SESSION.sql_mode" && r.IsZero() {
			return fakesql.One("@@SESSION.sql_mode", "STRICT_TRANS_TABLES")
		}
		return r
	}}
	if strings.Contains(version, "MariaDB") {
		s.Comment = "Debian 12"
	}
	c, err := FromDB(context.Background(), s.Open(t))
	require.NoError(t, err)
	return c, s
}

// rowResult turns parsed testdata rows into a result set; no rows is SHOW
// REPLICA STATUS on a server that is not a replica.
func rowResult(rows ...map[string]*string) fakesql.Result {
	if len(rows) == 0 {
		return fakesql.Result{Cols: []string{"Slave_IO_State"}}
	}
	return fakesql.Rows(rows...)
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
