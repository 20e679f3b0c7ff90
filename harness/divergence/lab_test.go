package divergence_test

import (
	"bufio"
	"context"
	"fmt"
	"github.com/drdrill/drdrill/drilltest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/divergence"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/workload"
)

const drill = "div-test"

func insert(t *testing.T, ctx context.Context, c *replica.Conn, seq int64, msg string) int64 {
	t.Helper()
	res, err := c.DB().ExecContext(ctx, "INSERT INTO testdb.ping(msg, drill_id, seq, phase, writer) VALUES (?, ?, ?, 'during', 1)", msg, drill, seq)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return id
}

func pos(t *testing.T, ctx context.Context, c *replica.Conn) string {
	t.Helper()
	p, err := c.PrimaryPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A real divergence: the WAN is blackholed, aws-db takes 5 inserts and an
// update, onprem-db is promoted and takes writes of its own (ids that
// collide with the lost ones); Find lists exactly the 6 lost transactions
// and their rows, each insert matched with the ledger.
func TestFindLab(t *testing.T) {
	tg := drilltest.NetnsLab(t)
	ctx := context.Background()
	aws, onprem := target.Primary(tg).DB, target.Replica(tg).DB
	base := insert(t, ctx, aws, 0, "before the loss")
	if err := onprem.WaitApplied(ctx, pos(t, ctx, aws), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	bh, err := fault.New("wan-blackhole", tg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		bh.Recover(rctx)
		bh.WaitRecovered(rctx)
	})
	if _, err := bh.(fault.Planner).Plan(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := bh.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	before := pos(t, ctx, aws)
	var ledger []workload.Entry
	ids := map[int64]int64{} // seq: id
	for seq := int64(1); seq <= 5; seq++ {
		ids[seq] = insert(t, ctx, aws, seq, fmt.Sprintf("lost %d", seq))
		if seq != 5 { // seq 5: a write whose acknowledgement never arrived
			ledger = append(ledger, workload.Entry{Writer: 1, Seq: seq, Phase: "during", ID: ids[seq]})
		}
	}
	if _, err := aws.DB().ExecContext(ctx, "UPDATE testdb.ping SET msg = 'changed, lost' WHERE id = ?", base); err != nil {
		t.Fatal(err)
	}
	after := pos(t, ctx, aws)
	if err := replica.Promote(ctx, onprem); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := onprem.DB().ExecContext(ctx, "INSERT INTO testdb.ping(msg) VALUES ('after the promotion')"); err != nil {
			t.Fatal(err)
		}
	}
	o := divergence.Options{Old: aws, Promoted: onprem, OldName: "aws-db", PromotedName: "onprem-db",
		OldHost: target.Host{Site: "aws", Kind: target.DBHost}, Exec: tg, Table: workload.DefaultTable, Ledger: ledger, DrillID: drill}
	start := time.Now()
	r, err := divergence.Find(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Find took %s: %v", time.Since(start).Round(time.Millisecond), r.Err())
	b, _ := divergence.ParseGTID(before)
	a, _ := divergence.ParseGTID(after)
	want := fmt.Sprintf("%d-%d-%d..%s", b.Domain, b.Server, b.Seq+1, a)
	if r.Lost() != want || len(r.GTIDs) != 6 {
		t.Fatalf("lost %q (%d), want %s", r.Lost(), len(r.GTIDs), want)
	}
	if got := r.Err().Error(); got != "aws-db holds 6 transactions onprem-db lacks ("+want+"): 6 rows, 4 acknowledged" {
		t.Fatalf("verdict %q", got)
	}
	if len(r.Writes) != 6 || len(r.Statements) != 0 {
		t.Fatalf("writes %+v statements %v", r.Writes, r.Statements)
	}
	for i, w := range r.Writes[:5] {
		seq := int64(i + 1)
		if w.Op != "insert" || w.Table != "testdb.ping" || w.PK["id"] != fmt.Sprint(ids[seq]) || w.Row["seq"] != fmt.Sprint(seq) ||
			w.Row["msg"] != fmt.Sprintf("lost %d", seq) || w.Acknowledged != (seq != 5) {
			t.Errorf("write %d: %+v", i, w)
		}
		if w.Acknowledged && w.Ledger.Seq != seq {
			t.Errorf("write %d matched ledger %+v", i, w.Ledger)
		}
	}
	if u := r.Writes[5]; u.Op != "update" || u.PK["id"] != fmt.Sprint(base) || u.Row["msg"] != "changed, lost" || u.Acknowledged {
		t.Errorf("the lost update: %+v", u)
	}
	path := filepath.Join(t.TempDir(), "lost-writes.jsonl")
	if err := divergence.WriteJSONL(path, r.Writes); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
	}
	f.Close()
	if st, _ := os.Stat(path); n != 6 || st.Mode().Perm() != 0o600 {
		t.Fatalf("%d lines, mode %v", n, st.Mode())
	}
	// Nothing lost the other way: onprem-db's own writes are not aws-db's.
	if r2, err := divergence.Find(ctx, divergence.Options{Old: onprem, Promoted: onprem, OldName: "onprem-db", PromotedName: "onprem-db",
		OldHost: target.Host{Site: "onprem", Kind: target.DBHost}, Exec: tg}); err != nil || r2.Err() != nil {
		t.Fatalf("a server against itself: %v %v", err, r2.Err())
	}

	// What a naive repair does: aws-db made a replica of onprem-db as it is.
	if err := bh.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bh.WaitRecovered(ctx); err != nil {
		t.Fatal(err)
	}
	sec, err := lab.LoadSecrets(tg.Info().Dir)
	if err != nil {
		t.Fatal(err)
	}
	src := replica.Source{Host: tg.Info().Sites["onprem"].DB.Addr, User: sec.ReplUser, Password: sec.ReplPassword}
	// Two naive repairs: Demote as is (slave_pos aligned with aws-db's own
	// binlog, so it asks for its last lost GTID), and an operator who
	// starts aws-db from the last GTID both servers share.
	for _, strict := range []bool{true, false} {
		for _, from := range []string{"demote", "last common"} {
			t.Run(fmt.Sprintf("naive replica from %s, gtid_strict_mode=%v", from, strict), func(t *testing.T) {
				for _, c := range []*replica.Conn{aws, onprem} {
					if _, err := c.DB().ExecContext(ctx, fmt.Sprintf("SET GLOBAL gtid_strict_mode = %d", map[bool]int{true: 1, false: 0}[strict])); err != nil {
						t.Fatal(err)
					}
				}
				if from == "demote" {
					if err := replica.Demote(ctx, aws, src, replica.Timings{}); err != nil {
						t.Fatalf("demote: %v", err)
					}
				} else {
					aws.DB().ExecContext(ctx, "STOP SLAVE")
					_, err := aws.DB().ExecContext(ctx, "SET GLOBAL gtid_slave_pos = ?", before)
					if strict {
						// docs/findings.md#naive-replica-of-promoted
						if err == nil || !strings.Contains(err.Error(), "1947") {
							t.Fatalf("strict mode accepted a slave position behind aws-db's own binlog: %v", err)
						}
						t.Logf("from %s, strict: %v", from, err)
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if err := aws.ConfigureReplica(ctx, src, replica.Timings{}); err != nil {
						t.Fatal(err)
					}
				}
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				st, err := replica.WaitFor(wctx, aws, 20*time.Millisecond, "an IO or SQL error", func(s replica.Status) bool {
					return s.LastIOErrno != 0 || s.LastSQLErrno != 0
				})
				cancel()
				var rows int
				aws.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM testdb.ping WHERE msg = 'after the promotion'").Scan(&rows)
				t.Logf("from %s, strict=%v: %v; IO %s errno %d %q; SQL errno %d %q; onprem's post-promotion rows on aws-db: %d",
					from, strict, err, st.IO, st.LastIOErrno, st.LastIOError, st.LastSQLErrno, st.LastSQLError, rows)
				aws.DB().ExecContext(ctx, "STOP SLAVE")
				aws.DB().ExecContext(ctx, "RESET SLAVE ALL")
				switch {
				case from == "demote" && (st.LastIOErrno != 1236 || !strings.Contains(st.LastIOError, "not in the master's binlog")):
					t.Fatalf("want IO error 1236 (aws-db's last lost GTID is not in onprem-db's binlog), got %+v", st)
				case from == "last common" && st.LastSQLErrno != 1062:
					t.Fatalf("want SQL error 1062 (onprem-db's new rows collide with the lost ones), got %+v", st)
				}
			})
		}
	}
}
