package workload

import (
	"strings"
	"testing"
)

func TestTableName(t *testing.T) {
	for _, bad := range []TableName{{"", "ping"}, {"drdrill", ""}, {"a;b", "ping"}, {"drdrill", "p`ing"}, {"d d", "ping"}, {strings.Repeat("x", 65), "ping"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: Validate = nil, want an error", bad)
		}
	}
	if err := TargetTable.Validate(); err != nil {
		t.Fatal(err)
	}
	s := schemaFor(TableName{"ops", "drill_rows"})
	if !strings.Contains(s, "CREATE DATABASE IF NOT EXISTS `ops`;") || !strings.Contains(s, "CREATE TABLE IF NOT EXISTS `ops`.`drill_rows`") || strings.Contains(s, "testdb") {
		t.Fatalf("schema for ops.drill_rows:\n%s", s)
	}
	if got := insertSQL(DefaultTable); !strings.HasPrefix(got, "INSERT INTO `testdb`.`ping` (") {
		t.Fatalf("insert: %s", got)
	}
}
