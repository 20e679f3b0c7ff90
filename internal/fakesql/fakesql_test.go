package fakesql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A strict server refuses a statement its handler has no answer for, by
// query or by exec; a non-strict one answers it with nothing.
func TestStrictRefusesUnexpected(t *testing.T) {
	handle := func(q string, _ []driver.NamedValue) Result {
		if q == "SELECT 1" {
			return One("1", "1")
		}
		return Result{}
	}
	ctx := context.Background()
	strict := (&Server{Version: "8.0.36", Handle: handle, Strict: true}).Open(t)
	var v string
	require.NoError(t, strict.QueryRowContext(ctx, "SELECT 1").Scan(&v))
	assert.Equal(t, "1", v)
	err := strict.QueryRowContext(ctx, "SELECT 2").Scan(&v)
	assert.EqualError(t, err, `fake server: unexpected statement "SELECT 2"`)
	_, err = strict.ExecContext(ctx, "STOP REPLICA")
	assert.EqualError(t, err, `fake server: unexpected statement "STOP REPLICA"`)

	loose := (&Server{Version: "8.0.36", Handle: handle}).Open(t)
	_, err = loose.ExecContext(ctx, "STOP REPLICA")
	assert.NoError(t, err)
	rows, err := loose.QueryContext(ctx, "SELECT 2")
	require.NoError(t, err)
	assert.False(t, rows.Next(), "no answer is no rows")
	require.NoError(t, rows.Close())
}

// The version query is answered from Version and Comment; a handler's
// error comes back from Query and Exec; Exec, when set, answers writes.
func TestVersionErrorsAndExec(t *testing.T) {
	boom := errors.New("boom")
	var execs []string
	s := &Server{Version: "10.11.6-MariaDB", Comment: "Debian 12",
		Handle: func(string, []driver.NamedValue) Result { return Result{Err: boom} },
		Exec: func(q string, args []driver.NamedValue) Result {
			execs = append(execs, q)
			return Result{}
		}}
	db := s.Open(t)
	ctx := context.Background()
	var version, comment string
	require.NoError(t, db.QueryRowContext(ctx, VersionQuery).Scan(&version, &comment))
	assert.Equal(t, []string{"10.11.6-MariaDB", "Debian 12"}, []string{version, comment})
	assert.ErrorIs(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&version), boom)
	_, err := db.ExecContext(ctx, "STOP SLAVE")
	assert.NoError(t, err)
	assert.Equal(t, []string{"STOP SLAVE"}, execs)
}

// Values are strings or NULL, and a string is not NULL even when empty.
func TestNullAndStrings(t *testing.T) {
	s := &Server{Handle: func(string, []driver.NamedValue) Result {
		return Result{Cols: []string{"a", "b", "c"}, Rows: [][]any{{"x", nil, ""}, {nil, "y", "z"}}}
	}}
	rows, err := s.Open(t).QueryContext(context.Background(), "SELECT a, b, c")
	require.NoError(t, err)
	defer rows.Close()
	var got [][3]sql.NullString
	for rows.Next() {
		var r [3]sql.NullString
		require.NoError(t, rows.Scan(&r[0], &r[1], &r[2]))
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, [][3]sql.NullString{
		{{String: "x", Valid: true}, {}, {String: "", Valid: true}},
		{{}, {String: "y", Valid: true}, {String: "z", Valid: true}},
	}, got)

	// A parsed vertical row: columns sorted, nil is NULL.
	one, two := "1", "2"
	r := Rows(map[string]*string{"b": &two, "a": &one, "c": nil})
	assert.Equal(t, Result{Cols: []string{"a", "b", "c"}, Rows: [][]any{{"1", "2", nil}}}, r)
	assert.False(t, Rows().IsZero(), "no rows is an answer")
	assert.True(t, Result{}.IsZero())
}

// ParseVars joins a value continued on lines without a tab, as MySQL
// prints a long gtid_executed; Vars answers the set sorted by name.
func TestParseVars(t *testing.T) {
	const text = "Variable_name\tValue\n" +
		"gtid_executed\t3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23,\n" +
		"5a9c2e1f-8b0d-11ee-9f4e-0242ac140002:1-5\n" +
		"empty\t\n" +
		"server_id\t2\n"
	vars, err := ParseVars(text)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"gtid_executed": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23,\n5a9c2e1f-8b0d-11ee-9f4e-0242ac140002:1-5",
		"empty":         "",
		"server_id":     "2",
	}, vars)
	assert.Equal(t, [][]any{{"empty", ""}, {"gtid_executed", vars["gtid_executed"]}, {"server_id", "2"}}, Vars(vars).Rows)
	assert.Equal(t, []string{"Variable_name", "Value"}, Vars(vars).Cols)

	_, err = ParseVars("server_id\t2\n")
	assert.Error(t, err, "no header")
	_, err = ParseVars("Variable_name\tValue\norphan\n")
	assert.Error(t, err, "a continuation of nothing")
}

// Statements records every statement, the version query and refused ones
// included, in order.
func TestStatementsInOrder(t *testing.T) {
	s := &Server{Strict: true, Handle: func(q string, _ []driver.NamedValue) Result {
		if q == "SELECT 1" {
			return One("1", "1")
		}
		return Result{}
	}}
	db := s.Open(t)
	ctx := context.Background()
	var v string
	require.NoError(t, db.QueryRowContext(ctx, VersionQuery).Scan(&v, &v))
	_, _ = db.ExecContext(ctx, "STOP REPLICA")
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&v))
	assert.Equal(t, []string{VersionQuery, "STOP REPLICA", "SELECT 1"}, s.Statements())
}
