package workload

import (
	"context"
	"database/sql"
	"fmt"
)

// The seed's statements (DR PoC, sections 6 and 8), exactly as an operator
// types them into the mariadb client: the setup and the first INSERT on the
// primary, the SELECT on the replica.
var seedSetup = []string{
	"CREATE DATABASE IF NOT EXISTS testdb;",
	"USE testdb;",
	`CREATE TABLE IF NOT EXISTS ping (
  id INT AUTO_INCREMENT PRIMARY KEY,
  msg VARCHAR(50),
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);`,
}

const (
	SeedInsert = "INSERT INTO ping(msg) VALUES ('replication_test_1');"
	SeedSelect = "SELECT * FROM testdb.ping;"
)

// SeedByHand runs the seed's setup and then its INSERT inserts times, on one
// connection of db (USE holds per connection, as in one client session). It
// stops at the first error, naming the statement.
func SeedByHand(ctx context.Context, db *sql.DB, inserts int) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open connection: %w", err)
	}
	defer c.Close()
	for _, q := range seedSetup {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	for i := range inserts {
		if _, err := c.ExecContext(ctx, SeedInsert); err != nil {
			return fmt.Errorf("insert %d of %d, %s: %w", i+1, inserts, SeedInsert, err)
		}
	}
	return nil
}

// SeedRows runs the seed's SELECT * FROM testdb.ping on db and returns every
// row as column name → value, NULL as nil and anything else as a string.
func SeedRows(ctx context.Context, db *sql.DB) ([]map[string]any, error) {
	rows, err := db.QueryContext(ctx, SeedSelect)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SeedSelect, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("%s: %w", SeedSelect, err)
		}
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			if vals[i].Valid {
				m[c] = vals[i].String
			} else {
				m[c] = nil
			}
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UntaggedSeedRows counts the rows SeedRows returned with the seed's message
// and no drill tags at all.
func UntaggedSeedRows(rows []map[string]any) int {
	n := 0
	for _, r := range rows {
		if r["msg"] == MsgBefore && r["drill_id"] == nil && r["writer"] == nil && r["seq"] == nil && r["phase"] == nil {
			n++
		}
	}
	return n
}

// oldSchemaTable is testdb.ping as drdrill created it before the tags were
// nullable: an untagged row gets an empty drill_id and a zero writer and
// seq in the unique key, so the second one collides.
const oldSchemaTable = `CREATE TABLE testdb.ping (
  id         BIGINT AUTO_INCREMENT PRIMARY KEY,
  msg        VARCHAR(50),
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  drill_id   VARCHAR(40) NOT NULL DEFAULT '',
  seq        BIGINT NOT NULL DEFAULT 0,
  phase      VARCHAR(16) NOT NULL DEFAULT '',
  writer     INT NOT NULL DEFAULT 0,
  UNIQUE KEY drill_seq (drill_id, writer, seq)
) ENGINE=InnoDB`

// alterTagsNullable is the operator's fix for an old-schema table, run on
// the primary (it replicates); docs/findings.md#ping-tags-nullable and the
// README quote it.
const alterTagsNullable = `ALTER TABLE testdb.ping
  MODIFY drill_id VARCHAR(40) NULL DEFAULT NULL,
  MODIFY seq      BIGINT      NULL DEFAULT NULL,
  MODIFY phase    VARCHAR(16) NULL DEFAULT NULL,
  MODIFY writer   INT         NULL DEFAULT NULL`
