package workload

import (
	"fmt"
	"regexp"
	"strings"
)

// TableName is the table a drill writes its rows to.
type TableName struct {
	Database string
	Table    string
}

// DefaultTable is the lab's: the seed's testdb.ping.
var DefaultTable = TableName{Database: "testdb", Table: "ping"}

// TargetTable is drdrill's own table on a target file's databases, unless
// the file names another (workload: {database, table}).
var TargetTable = TableName{Database: "drdrill", Table: "ping"}

var identRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// Validate checks both names are plain identifiers (they go into SQL).
func (t TableName) Validate() error {
	for _, n := range []string{t.Database, t.Table} {
		if !identRE.MatchString(n) {
			return fmt.Errorf("table name %q: want 1-64 letters, digits or _", n)
		}
	}
	return nil
}

// String is the quoted name, `db`.`table`.
func (t TableName) String() string { return "`" + t.Database + "`.`" + t.Table + "`" }

// Plain is db.table, for messages.
func (t TableName) Plain() string { return t.Database + "." + t.Table }

// schemaFor is the ping table's DDL for t.
func schemaFor(t TableName) string {
	s := strings.ReplaceAll(Schema, "CREATE DATABASE IF NOT EXISTS testdb;", "CREATE DATABASE IF NOT EXISTS `"+t.Database+"`;")
	return strings.ReplaceAll(s, "testdb.ping", t.String())
}

func insertSQL(t TableName) string {
	return `INSERT INTO ` + t.String() + ` (msg, drill_id, writer, seq, phase) VALUES (?, ?, ?, ?, ?)`
}
