package replica

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
)

// tableRE is a table name as SQL takes it: an identifier or a
// backquoted one (a backquote inside it doubled), optionally qualified.
var tableRE = regexp.MustCompile("^(`(?:[^`\\x00]|``)+`|[A-Za-z0-9_$]+)(\\.(`(?:[^`\\x00]|``)+`|[A-Za-z0-9_$]+))?$")

// ChecksumTable runs CHECKSUM TABLE on table (already quoted, e.g.
// workload.TableName.String()) and returns the checksum. A table that does
// not exist (the server answers NULL, with a warning) is an error, as is a
// name that is not one quoted table name (it is never sent).
//
// The checksum is of the rows' stored format: servers of one flavor and
// version with the same table definition give equal checksums for equal
// rows; across versions or flavors they may differ for equal rows.
func (c *Conn) ChecksumTable(ctx context.Context, table string) (int64, error) {
	if !tableRE.MatchString(table) {
		return 0, fmt.Errorf("checksum table %q: not a table name (want `db`.`table`)", table)
	}
	var name, sum sql.NullString
	if err := c.db.QueryRowContext(ctx, "CHECKSUM TABLE "+table).Scan(&name, &sum); err != nil {
		return 0, fmt.Errorf("checksum table %s: %w", table, err)
	}
	if !sum.Valid {
		return 0, fmt.Errorf("checksum table %s: the server answered NULL: the table does not exist", table)
	}
	if v, err := strconv.ParseInt(sum.String, 10, 64); err == nil {
		return v, nil
	}
	v, err := strconv.ParseUint(sum.String, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("checksum table %s: checksum %q is not a number", table, sum.String)
	}
	return int64(v), nil // beyond int64: kept bit for bit
}
