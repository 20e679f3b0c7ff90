package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
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

// The outage's errno is recorded with the change to Connecting or, when it
// is filled a poll later, as an io_error note: both match (a matcher that
// missed the note cost every wan-blackhole drill a 2 s wait).
func TestIOErrnoMatchesTheStateOrTheNote(t *testing.T) {
	tl := timeline.New()
	match := ioErrno(replica.IOConnecting)
	for _, tc := range []struct {
		kind   string
		detail any
		want   bool
	}{
		{timeline.KindIOState, timeline.IOState{From: "Yes", To: "Connecting", LastIOErrno: 2003}, true},
		{timeline.KindIOState, timeline.IOState{From: "Yes", To: "Connecting"}, false},
		{timeline.KindNote, timeline.IOErrorNote{To: "Connecting", LastIOErrno: 2003}, true},
		{timeline.KindNote, timeline.IOErrorNote{To: "No", LastIOErrno: 2003}, false},
		{timeline.KindIOState, timeline.IOState{From: "Connecting", To: "Yes"}, false},
	} {
		if got := match(tl.Add("replica/onprem", tc.kind, tc.detail)); got != tc.want {
			t.Errorf("%s %+v: match %v, want %v", tc.kind, tc.detail, got, tc.want)
		}
	}
}
