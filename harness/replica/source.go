package replica

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// SourceServerID is the server_id of the source the replica last connected
// to (Master_Server_Id, Source_Server_Id on MySQL 8.0.22+): 0 when it never
// connected or the server is not a replica. Compared with the primary's own
// server_id it tells whether the replica replicates from that primary.
func (c *Conn) SourceServerID(ctx context.Context) (int64, error) {
	rows, err := c.db.QueryContext(ctx, c.statusStmt())
	if err != nil {
		return 0, fmt.Errorf("read source server id: %w", err)
	}
	all, err := readRows(rows)
	if err != nil {
		return 0, fmt.Errorf("read source server id: %w", err)
	}
	row := pickChannel(all)
	if row == nil {
		return 0, nil
	}
	col := "Master_Server_Id"
	if c.flavor == MySQL {
		col = "Source_Server_Id"
	}
	v, ok := row[col]
	if !ok || v == nil {
		return 0, &StatusError{Flavor: c.flavor, Column: col, Reason: "missing"}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*v), 10, 64)
	if err != nil {
		return 0, &StatusError{Flavor: c.flavor, Column: col, Reason: fmt.Sprintf("not an integer: %q", *v)}
	}
	return n, nil
}
