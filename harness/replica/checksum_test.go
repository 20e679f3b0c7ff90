package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"testing"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChecksumTable(t *testing.T) {
	answer := func(sum any) func(string, []driver.NamedValue) fakesql.Result {
		return func(q string, _ []driver.NamedValue) fakesql.Result {
			if q != "CHECKSUM TABLE `testdb`.`ping`" {
				return fakesql.Result{Err: errors.New("fake: unexpected " + q)}
			}
			return fakesql.Result{Cols: []string{"Table", "Checksum"}, Rows: [][]any{{"testdb.ping", sum}}}
		}
	}
	ctx := context.Background()
	c, _ := newFakeConn(t, "10.11.19-MariaDB", answer("3145521187"))
	sum, err := c.ChecksumTable(ctx, "`testdb`.`ping`")
	require.NoError(t, err)
	assert.Equal(t, int64(3145521187), sum)

	c, _ = newFakeConn(t, "8.0.36", answer("18446744073709551615"))
	sum, err = c.ChecksumTable(ctx, "`testdb`.`ping`")
	require.NoError(t, err)
	assert.Equal(t, int64(-1), sum, "an unsigned checksum beyond int64 is kept bit for bit")

	for name, tc := range map[string]struct {
		sum   any
		table string
		want  string
	}{
		"no table":      {nil, "`testdb`.`ping`", "checksum table `testdb`.`ping`: the server answered NULL: the table does not exist"},
		"not a number":  {"x1", "`testdb`.`ping`", `checksum "x1" is not a number`},
		"injection":     {"1", "`testdb`.`ping`; DROP TABLE x", "not a table name"},
		"empty":         {"1", "", "not a table name"},
		"open backtick": {"1", "`testdb`.`ping", "not a table name"},
	} {
		t.Run(name, func(t *testing.T) {
			c, srv := newFakeConn(t, "10.11.19-MariaDB", answer(tc.sum))
			_, err := c.ChecksumTable(ctx, tc.table)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			if tc.want == "not a table name" {
				assert.Equal(t, []string{"SELECT VERSION(), @@version_comment"}, srv.Statements(), "a bad name is never sent")
			}
		})
	}
	for _, ok := range []string{"ping", "`testdb`.`ping`", "testdb.ping", "`we``ird`.`t`"} {
		assert.True(t, tableRE.MatchString(ok), ok)
	}
}
