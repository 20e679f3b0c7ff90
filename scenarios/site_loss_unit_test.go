package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/internal/fakesql"
)

// site-loss refuses a MySQL server before it changes anything: its lost
// writes are read with mariadb-binlog and the rebuild uses mariadb-dump.
func TestSiteLossRefusesMySQL(t *testing.T) {
	conn := func(version, comment string) *replica.Conn {
		s := &fakesql.Server{Version: version, Comment: comment}
		c, err := replica.FromDB(context.Background(), s.Open(t))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	maria := conn("10.11.6-MariaDB-log", "mariadb.org binary distribution")
	mysql := conn("8.4.3", "MySQL Community Server - GPL")
	for _, tc := range []struct {
		primary, replica *replica.Conn
		want             string
	}{
		{mysql, maria, "aws's database is mysql: the drill is MariaDB only"},
		{maria, mysql, "onprem's database is mysql: the drill is MariaDB only"},
	} {
		s := &siteDrill{Drill: &Drill{Primary: &target.Site{Name: "aws", DB: tc.primary}, Replica: &target.Site{Name: "onprem", DB: tc.replica}},
			o: SiteLossOptions{}.withDefaults()}
		if err := s.prepare(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("prepare: %v, want %q", err, tc.want)
		}
	}
}
