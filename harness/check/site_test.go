package check

import (
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/workload"
)

func wantSite(t *testing.T, r Result, verdict string, observed ...string) {
	t.Helper()
	if r.Verdict != verdict {
		t.Errorf("%s: verdict %s, want %s; observed: %s", r.Name, r.Verdict, verdict, r.Observed)
	}
	for _, o := range observed {
		if !strings.Contains(r.Observed, o) {
			t.Errorf("%s: observed %q lacks %q", r.Name, r.Observed, o)
		}
	}
}

func TestRPOWithin(t *testing.T) {
	wantSite(t, RPOWithin(RPO{LagAtLoss: 1200 * time.Millisecond, LagBefore: time.Second, Rows: 40, Objective: 5 * time.Second}), Pass, "RPO 1.20s", "40 acknowledged rows lost")
	wantSite(t, RPOWithin(RPO{LagAtLoss: 6 * time.Second, LagBefore: 5900 * time.Millisecond, Rows: 900, Objective: 5 * time.Second}), Fail,
		"RPO 6.00s over the objective 5.00s", "lagged 6.00s at the loss", "5.90s at the last sample", "900 acknowledged rows lost")
	wantSite(t, RPOWithin(RPO{LagAtLoss: -1, Objective: 5 * time.Second}), Fail, "not measured")
	wantSite(t, RPOWithin(RPO{LagAtLoss: time.Second, Objective: -1}), Fail, "no RPO objective")
	// An objective of zero is one: any lag fails it.
	wantSite(t, RPOWithin(RPO{LagAtLoss: time.Millisecond, Objective: 0}), Fail, "over the objective")
}

func TestRTOWithin(t *testing.T) {
	wantSite(t, RTOWithin(2500*time.Millisecond, time.Minute), Pass, "RTO 2.50s")
	wantSite(t, RTOWithin(61*time.Second, time.Minute), Fail, "RTO 61.00s, 1.00s over the objective 60.00s")
	wantSite(t, RTOWithin(-1, time.Minute), Fail, "no write was acknowledged")
	wantSite(t, RTOWithin(time.Second, -1), Fail, "no RTO objective")
}

func TestOldPrimaryFenced(t *testing.T) {
	base := Fence{Old: "aws-db", Candidate: "onprem-db"}
	f := base
	f.AnswerErr, f.PeerProbed, f.PeerDetail = "context deadline exceeded", true, "connect timed out"
	wantSite(t, OldPrimaryFenced(f), Pass, "aws-db does not answer (context deadline exceeded)", "cannot reach it")
	f = base
	f.Answered, f.Writable, f.PeerProbed = true, true, true
	wantSite(t, OldPrimaryFenced(f), Fail, "split brain: aws-db still answers and is writable", "promotion of onprem-db refused")
	f = base
	f.PeerProbed, f.PeerReached, f.PeerDetail = true, true, "mysqld is alive"
	wantSite(t, OldPrimaryFenced(f), Fail, "split brain: aws-db is reachable from onprem-db's side (mysqld is alive)")
	f = base
	f.Answered = true
	wantSite(t, OldPrimaryFenced(f), Pass, "answers read-only", "not probed")
}

func TestLostWritesFound(t *testing.T) {
	e := func(w int, s int64) workload.Entry { return workload.Entry{Writer: w, Seq: s} }
	missing := []workload.Entry{e(1, 5), e(1, 6), e(2, 5)}
	wantSite(t, LostWritesFound(missing, []workload.Entry{e(2, 5), e(1, 5), e(1, 6)}, "lost-writes.jsonl"), Pass, "all 3 lost acknowledged writes listed")
	// One dropped from the file.
	wantSite(t, LostWritesFound(missing, []workload.Entry{e(1, 5), e(2, 5)}, "lost-writes.jsonl"), Fail, "1 of 3 lost acknowledged writes not in lost-writes.jsonl: writer 1 seq 6")
	wantSite(t, LostWritesFound(missing, append([]workload.Entry{e(3, 1)}, missing...), "lost-writes.jsonl"), Fail, "writer 3 seq 1 (not missing)")
	wantSite(t, LostWritesFound(missing, append([]workload.Entry{e(1, 5)}, missing...), "lost-writes.jsonl"), Fail, "writer 1 seq 5 twice")
	wantSite(t, LostWritesFound(nil, nil, "lost-writes.jsonl"), Fail, "the loss was not real")
}
