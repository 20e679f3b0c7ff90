package workload_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/workload"
)

// TestSeedByHandOnLab runs the seed document's own statements by hand on a
// lab's real MariaDB primary (its INSERT several times, between a drill's
// writes), then the seed's SELECT on the replica: every row is there, and
// drdrill's read-back of the drill on the replica is exactly its ledger,
// the untagged rows ignored. (An external test package: lab imports
// workload.)
func TestSeedByHandOnLab(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test: skipped with -short")
	}
	if err := (lab.NetnsBackend{}).Preflight(); err != nil {
		t.Skipf("lab test: the netns lab cannot run here: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, lab.Backends()); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	info, err := lab.Up(ctx, lab.Options{Dir: dir})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	h, err := lab.Connect(ctx, info)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	primary, replica := h.DBs[lab.SiteAWS], h.DBs[lab.SiteOnPrem]

	w := workload.New("")
	if _, err := w.Ping(ctx, primary.DB(), workload.PhaseBefore, workload.MsgBefore); err != nil {
		t.Fatal(err)
	}
	const byHand = 4
	if err := workload.SeedByHand(ctx, primary.DB(), byHand); err != nil {
		t.Fatalf("the seed's statements by hand on the lab primary: %v", err)
	}
	if _, err := w.Ping(ctx, primary.DB(), workload.PhaseAfter, workload.MsgAfter); err != nil {
		t.Fatal(err)
	}
	pos, err := primary.PrimaryPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := replica.WaitApplied(ctx, pos, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// The seed's check on the replica sees every row.
	all, err := workload.SeedRows(ctx, replica.DB())
	if err != nil {
		t.Fatal(err)
	}
	if n := workload.UntaggedSeedRows(all); n != byHand || len(all) != byHand+2 {
		t.Fatalf("%s on the replica: %d rows, %d untagged seed rows; want %d, %d: %v",
			workload.SeedSelect, len(all), n, byHand+2, byHand, all)
	}
	// drdrill's read-back of the drill sees only the drill's rows.
	rows, err := workload.ReadBack(ctx, replica.DB(), workload.DefaultTable, w.DrillID)
	if err != nil {
		t.Fatal(err)
	}
	entries := w.Ledger.Entries()
	if len(rows) != len(entries) {
		t.Fatalf("read back %d rows of drill %s on the replica, ledger has %d: %+v", len(rows), w.DrillID, len(entries), rows)
	}
	for i, e := range entries {
		if r := rows[i]; r.Writer != e.Writer || r.Seq != e.Seq || r.ID != e.ID || r.Phase != e.Phase || r.Msg != e.Msg {
			t.Fatalf("row %d = %+v, ledger entry %+v", i, r, e)
		}
	}
}
