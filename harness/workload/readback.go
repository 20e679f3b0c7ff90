package workload

import (
	"context"
	"database/sql"
	"fmt"
)

// Row is one ping row of a drill as a server holds it.
type Row struct {
	ID     int64  `json:"id"`
	Writer int    `json:"writer"`
	Seq    int64  `json:"seq"`
	Phase  Phase  `json:"phase"`
	Msg    string `json:"msg"`
}

// ReadBack returns the rows of one drill on db (primary or replica),
// ordered by (writer, seq, id).
func ReadBack(ctx context.Context, db *sql.DB, drillID string) ([]Row, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, writer, seq, phase, msg FROM `+Table+
		` WHERE drill_id = ? ORDER BY writer, seq, id`, drillID)
	if err != nil {
		return nil, fmt.Errorf("read back drill %s: %w", drillID, err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		var phase string
		var msg sql.NullString
		if err := rows.Scan(&r.ID, &r.Writer, &r.Seq, &phase, &msg); err != nil {
			return nil, fmt.Errorf("read back drill %s: %w", drillID, err)
		}
		r.Phase, r.Msg = Phase(phase), msg.String
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read back drill %s: %w", drillID, err)
	}
	return out, nil
}
