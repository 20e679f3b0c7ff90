//go:build linux

package replica

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// On real MariaDB: the sampler sees two writable servers and their end;
// CHECKSUM TABLE agrees on a replica that applied the same rows, differs
// after a write on one side only, and answers NULL for a missing table.
func TestWritableAndChecksumMariaDB(t *testing.T) {
	servers := startTopology(t, 2)
	db1, db2 := servers[0], servers[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	setupReplication(t, ctx, servers) // db2: a read-only replica of db1

	w := WatchWritable(ctx, map[string]*Conn{"db1": db1.root, "db2": db2.root}, 5*time.Millisecond)
	defer w.Stop()
	waitRecord(t, w, "rounds with one writer", func(r WritableRecord) bool { return r.Rounds >= 3 })
	require.NoError(t, db2.root.SetReadOnly(ctx, false))
	waitRecord(t, w, "two writers", func(r WritableRecord) bool { return len(r.TwoWriters) == 1 })
	require.NoError(t, db2.root.SetReadOnly(ctx, true))
	rec := waitRecord(t, w, "db2 read-only again", func(r WritableRecord) bool {
		return len(r.Changes) == 4 && r.Rounds >= 10
	})
	rec = w.Stop()
	require.Len(t, rec.TwoWriters, 1, "%+v", rec.TwoWriters)
	assert.Equal(t, []string{"db1", "db2"}, rec.TwoWriters[0].Servers)
	assert.Zero(t, rec.Errors, rec.LastError)
	t.Logf("%d rounds every %s, max gap %s; two writers for %s", rec.Rounds, rec.Every, rec.MaxGap, rec.TwoWritersFor())

	const table = "`drill`.`t`"
	require.NoError(t, WaitCaughtUp(ctx, db1.root, db2.root, 10*time.Second))
	s1, err := db1.root.ChecksumTable(ctx, table)
	require.NoError(t, err)
	s2, err := db2.root.ChecksumTable(ctx, table)
	require.NoError(t, err)
	assert.Equal(t, s1, s2, "the same rows")
	db2.execAll(t, ctx, "INSERT INTO drill.t (seq, server) VALUES (-3, 2)") // root passes read_only
	s2, err = db2.root.ChecksumTable(ctx, table)
	require.NoError(t, err)
	assert.NotEqual(t, s1, s2, "a row on db2 only")

	_, err = db1.root.ChecksumTable(ctx, "`drill`.`nope`")
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "answered NULL"), err.Error())
}
