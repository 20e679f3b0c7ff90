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
// ordered by (writer, seq, id). Only rows tagged with drillID are read:
// untagged rows (the seed's INSERT INTO ping(msg) by hand, drill_id NULL)
// and other drills' rows are never seen. A row that carries drillID but a
// NULL writer, seq, phase or msg was not written by drdrill (every write
// sets them all); it is returned with zero values there, and since no write
// has seq 0 the ledger check reports it as unexpected.
func ReadBack(ctx context.Context, db *sql.DB, t TableName, drillID string) ([]Row, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, writer, seq, phase, msg FROM `+t.String()+
		` WHERE drill_id = ? ORDER BY writer, seq, id`, drillID)
	if err != nil {
		return nil, fmt.Errorf("read back drill %s: %w", drillID, err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		var writer, seq sql.NullInt64
		var phase, msg sql.NullString
		if err := rows.Scan(&r.ID, &writer, &seq, &phase, &msg); err != nil {
			return nil, fmt.Errorf("read back drill %s: %w", drillID, err)
		}
		r.Writer, r.Seq, r.Phase, r.Msg = int(writer.Int64), seq.Int64, Phase(phase.String), msg.String
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read back drill %s: %w", drillID, err)
	}
	return out, nil
}
