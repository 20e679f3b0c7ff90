package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrantMariaDB(t *testing.T) {
	for _, tc := range []struct {
		name, server, source, want string
	}{
		{"nothing", "", "", ""},
		{"caught up", "0-1-10", "0-1-10", ""},
		{"behind is not errant", "0-1-7", "0-1-10", ""},
		{"a local write on the replica", "0-1-10,0-2-11", "0-1-10", "0-2-11"},
		// The source went on to 0-1-11: the same sequence number as the
		// errant 0-2-11, which comparing numbers per domain would miss.
		{"same sequence number, other server", "0-1-10,0-2-11", "0-1-11", "0-2-11"},
		{"ahead of the source on its own server id", "0-1-12", "0-1-10", "0-1-12"},
		{"a domain the source lacks", "0-1-10,5-2-1", "0-1-10", "5-2-1"},
		{"history shared after a failover and back", "0-1-30,0-3-20", "0-3-20,0-1-30", ""},
		{"sorted by domain then server", "1-4-2,0-3-1,0-2-5", "", "0-2-5,0-3-1,1-4-2"},
		{"whitespace as the client prints it", " 0-1-10,\n0-2-11 ", "0-1-10", "0-2-11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Errant(MariaDB, tc.server, tc.source)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestErrantMySQL(t *testing.T) {
	for _, tc := range []struct {
		name, server, source, want string
	}{
		{"nothing", "", uA + ":1-5", ""},
		{"equal", uA + ":1-23", strings.ToLower(uA) + ":1-23", ""},
		{"behind", uA + ":1-20", uA + ":1-23", ""},
		{"a local write", uA + ":1-23,\n" + uB + ":1", uA + ":1-23", uB + ":1"},
		{"a hole in the middle", uA + ":1-10", uA + ":1-3:7-10", strings.ToLower(uA) + ":4-6"},
		{"several pieces", uA + ":1-20", uA + ":2-4:10:15-18", strings.ToLower(uA) + ":1:5-9:11-14:19-20"},
		{"tags are their own keys", uA + ":1-5:blue:1-2", uA + ":1-5", strings.ToLower(uA) + ":blue:1-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Errant(MySQL, tc.server, tc.source)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			if got != "" { // the result parses back
				_, err := parseGTIDSet(MySQL, got)
				require.NoError(t, err)
			}
		})
	}
}

// Bad data is an error, never "no errant GTIDs".
func TestErrantRefusesBadData(t *testing.T) {
	for _, tc := range []struct {
		f              Flavor
		server, source string
		want           string
	}{
		{MariaDB, "0-1", "", "want domain-server-seq"},
		{MariaDB, "0-1-10,", "", "want domain-server-seq"},
		{MariaDB, "0-x-10", "", "unsigned numbers"},
		{MariaDB, "-1-1-10", "", "want domain-server-seq"},
		{MariaDB, "0-1-10,0-1-12", "", "appear twice"},
		{MariaDB, "0-1-10", "0-1-99999999999999999999", "unsigned numbers"},
		{MariaDB, "0-1-10", uA + ":1-5", "want domain-server-seq"},
		{MySQL, "0-1-10", uA + ":1", "not a uuid"},
		{MySQL, uA + ":0", "", "not an interval"},
		{MySQL, uA + ":5-3", "", "not an interval"},
		{MySQL, uA + ":1-5", "zz:1", "not a uuid"},
		{MySQL, uA, "", "no intervals"},
		{Flavor("oracle"), "", "", "unknown flavor"},
	} {
		_, err := Errant(tc.f, tc.server, tc.source)
		require.Error(t, err, "%s %q %q", tc.f, tc.server, tc.source)
		assert.Contains(t, err.Error(), tc.want)
		var pe *PositionError
		assert.True(t, errors.As(err, &pe), "%v", err)
		_, err = Subtract(tc.f, tc.server, tc.source)
		assert.Error(t, err, "Subtract %s %q %q", tc.f, tc.server, tc.source)
	}
}

func TestSubtractAndGap(t *testing.T) {
	for _, tc := range []struct {
		f           Flavor
		have, lacks string
		want        string
		n           uint64
	}{
		{MariaDB, "0-1-120,1-5-3", "0-1-100,1-5-3", "0-1-120", 20},
		{MariaDB, "0-1-120", "", "0-1-120", 120},
		{MariaDB, "0-1-120", "0-1-120", "", 0},
		{MariaDB, "0-1-120", "0-1-130", "", 0},
		// A failover changed the server id; the domain's sequence goes on.
		{MariaDB, "0-3-25", "0-1-20", "0-3-25", 5},
		// A binlog state: the highest per domain counts.
		{MariaDB, "0-1-20,0-3-25", "0-1-20", "0-3-25", 5},
		{MySQL, uA + ":1-23", uA + ":1-20", strings.ToLower(uA) + ":21-23", 3},
		{MySQL, uA + ":1-23," + uB + ":1-2", uA + ":1-23", strings.ToLower(uB) + ":1-2", 2},
		{MySQL, uA + ":1-23", uA + ":1-30", "", 0},
	} {
		got, n, err := gap(tc.f, tc.have, tc.lacks)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s %q - %q", tc.f, tc.have, tc.lacks)
		assert.Equal(t, tc.n, n, "%s %q - %q", tc.f, tc.have, tc.lacks)
		s, err := Subtract(tc.f, tc.have, tc.lacks)
		require.NoError(t, err)
		assert.Equal(t, tc.want, s)
	}
}

// ErrantGTIDs on MySQL 8 reads gtid_executed of both servers (values from
// the captured-format testdata). vars_mysql80_candidate.txt is written by
// hand like the other MySQL files (see testdata/README.md): a reader of
// vars_mysql80_primary_days.txt's primary, three transactions behind and
// with nothing of its own; vars_mysql80_replica.txt holds 5a9c…:1-5, which
// that primary lacks.
func TestErrantGTIDsMySQL8(t *testing.T) {
	vars := func(name string) func(q string, _ []driver.NamedValue) fakesql.Result {
		v := loadVars(t, name)
		return func(q string, _ []driver.NamedValue) fakesql.Result {
			if q == "SELECT @@GLOBAL.gtid_executed" {
				return fakesql.One("@@GLOBAL.gtid_executed", v["gtid_executed"])
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		}
	}
	primary, _ := newFakeConn(t, "8.0.36", vars("vars_mysql80_primary_days.txt"))
	errantReplica, _ := newFakeConn(t, "8.0.36", vars("vars_mysql80_replica.txt"))
	candidate, _ := newFakeConn(t, "8.0.36", vars("vars_mysql80_candidate.txt"))
	ctx := context.Background()

	got, err := ErrantGTIDs(ctx, errantReplica, primary)
	require.NoError(t, err)
	assert.Equal(t, "5a9c2e1f-8b0d-11ee-9f4e-0242ac140002:1-5", got)
	got, err = ErrantGTIDs(ctx, candidate, primary)
	require.NoError(t, err)
	assert.Equal(t, "", got)
	got, err = ErrantGTIDs(ctx, primary, errantReplica)
	require.NoError(t, err)
	assert.Equal(t, "", got, "the primary has nothing the replica lacks")

	maria, _ := newFakeConn(t, "10.11.19-MariaDB-log", nil)
	_, err = ErrantGTIDs(ctx, maria, primary)
	assert.ErrorContains(t, err, "server is mariadb, source is mysql")
}

func TestErrantGTIDsMariaDBNeedsBinlog(t *testing.T) {
	c, s := newFakeConn(t, "10.11.19-MariaDB-log", func(q string, _ []driver.NamedValue) fakesql.Result {
		if q == "SELECT @@GLOBAL.log_bin" {
			return fakesql.One("@@GLOBAL.log_bin", "0")
		}
		return fakesql.One("x", "0-1-10")
	})
	_, err := ErrantGTIDs(context.Background(), c, c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "log_bin=OFF")
	assert.NotContains(t, strings.Join(s.Statements(), ";"), "gtid_binlog_state")
}
