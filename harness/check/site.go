package check

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/workload"
)

// RPO is what a site loss cost, as the site-loss drill measured it.
type RPO struct {
	// LagAtLoss is the replication lag at the instant of the loss (the
	// heartbeat's: the age of the oldest write the replica never got); the
	// RPO in time. LagBefore is the last lag sample before the loss.
	LagAtLoss, LagBefore time.Duration
	// Rows are the acknowledged writes missing on the promoted server.
	Rows int
	// Objective is the target's RPO.
	Objective time.Duration
}

// RPOWithin ("rpo_within_objective") passes when the lag at the loss is
// within the objective. Rows lost are expected with asynchronous
// replication: the verdict is on the objective, never on zero.
func RPOWithin(o RPO) Result {
	r := Result{Name: "rpo_within_objective", Expected: "RPO ≤ " + secs(o.Objective) + " (the lag at the loss)",
		Detail: map[string]any{"rpo_ms": ms(o.LagAtLoss), "lag_before_loss_ms": ms(o.LagBefore), "rpo_rows": o.Rows, "objective_ms": ms(o.Objective)}}
	switch {
	case o.Objective < 0:
		r.Verdict, r.Observed = Fail, "no RPO objective"
	case o.LagAtLoss < 0:
		r.Verdict, r.Observed = Fail, "the lag at the loss was not measured"
		r.Detail["rpo_ms"] = nil
	case o.LagAtLoss > o.Objective:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("RPO %s over the objective %s: replication lagged %s at the loss (%s at the last sample before it), %d acknowledged rows lost",
			secs(o.LagAtLoss), secs(o.Objective), secs(o.LagAtLoss), secs(o.LagBefore), o.Rows)
	default:
		r.Verdict, r.Observed = Pass, fmt.Sprintf("RPO %s (lag at the loss), %d acknowledged rows lost", secs(o.LagAtLoss), o.Rows)
	}
	return r
}

// RTOWithin ("rto_within_objective") passes when the first write after the
// loss was acknowledged by the promoted server within the objective; rto
// < 0 is no such write.
func RTOWithin(rto, objective time.Duration) Result {
	r := Result{Name: "rto_within_objective", Expected: "RTO ≤ " + secs(objective) + " (the loss → the first write acknowledged on the promoted server)",
		Detail: map[string]any{"rto_ms": ms(rto), "objective_ms": ms(objective)}}
	switch {
	case objective < 0:
		r.Verdict, r.Observed = Fail, "no RTO objective"
	case rto < 0:
		r.Verdict, r.Observed = Fail, "no write was acknowledged on the promoted server"
		r.Detail["rto_ms"] = nil
	case rto > objective:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("RTO %s, %s over the objective %s", secs(rto), secs(rto-objective), secs(objective))
	default:
		r.Verdict, r.Observed = Pass, "RTO "+secs(rto)
	}
	return r
}

// Fence is what the drill saw of the old primary right before it
// promoted the replica.
type Fence struct {
	Old, Candidate string // "aws-db", "onprem-db"
	// Answered: the old primary answered drdrill's own connection;
	// Writable: and said read_only OFF. AnswerErr is why it did not.
	Answered, Writable bool
	AnswerErr          string
	// PeerProbed: the candidate's host tried to reach the old primary
	// (the data path clients and replication use); PeerReached: it did.
	PeerProbed, PeerReached bool
	PeerDetail              string
}

// OldPrimaryFenced ("old_primary_fenced") passes only when the old
// primary can take no write: it does not answer, or answers read-only,
// and the candidate's side cannot reach it. Otherwise promoting the
// candidate makes two writers (split brain), and the drill refuses.
func OldPrimaryFenced(f Fence) Result {
	r := Result{Name: "old_primary_fenced",
		Expected: fmt.Sprintf("%s takes no write before %s is promoted: it does not answer or is read-only, and %s's side cannot reach it", f.Old, f.Candidate, f.Candidate),
		Detail: map[string]any{"answered": f.Answered, "writable": f.Writable, "answer_error": f.AnswerErr,
			"peer_probed": f.PeerProbed, "peer_reached": f.PeerReached, "peer_detail": f.PeerDetail}}
	peer := "not probed from " + f.Candidate + "'s side"
	if f.PeerProbed {
		peer = f.Candidate + "'s side cannot reach it"
		if f.PeerReached {
			peer = f.Candidate + "'s side reaches it"
		}
		if f.PeerDetail != "" {
			peer += " (" + f.PeerDetail + ")"
		}
	}
	switch {
	case f.Answered && f.Writable:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("split brain: %s still answers and is writable (read_only OFF), %s: promotion of %s refused", f.Old, peer, f.Candidate)
	case f.PeerReached:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("split brain: %s is reachable from %s's side (%s): promotion refused", f.Old, f.Candidate, f.PeerDetail)
	case f.Answered:
		r.Verdict, r.Observed = Pass, fmt.Sprintf("%s answers read-only; %s", f.Old, peer)
	default:
		why := f.AnswerErr
		if why == "" {
			why = "no answer"
		}
		r.Verdict, r.Observed = Pass, fmt.Sprintf("%s does not answer (%s); %s", f.Old, why, peer)
	}
	return r
}

// LostWritesFound ("lost_writes_found") compares the acknowledged writes
// missing on the promoted server at the loss (from the ledger) with those
// the lost-writes file lists (matched with the ledger): it passes when
// they are the same writes, at least one. A missing write the file lacks
// would never be reconciled; a listed one that was not missing would be
// reconciled twice.
func LostWritesFound(missing, listed []workload.Entry, file string) Result {
	r := Result{Name: "lost_writes_found",
		Expected: fmt.Sprintf("%s lists exactly the %d acknowledged writes missing on the promoted server", file, len(missing)),
		Detail:   map[string]any{"missing": len(missing), "listed": len(listed)}}
	want := map[key]bool{}
	for _, e := range missing {
		want[key{e.Writer, e.Seq}] = true
	}
	got := map[key]bool{}
	var extra []string
	for _, e := range listed {
		k := key{e.Writer, e.Seq}
		if got[k] {
			extra = append(extra, seqName(e.Writer, e.Seq)+" twice")
			continue
		}
		got[k] = true
		if !want[k] {
			extra = append(extra, seqName(e.Writer, e.Seq)+" (not missing)")
		}
	}
	var absent []string
	for _, e := range missing {
		if !got[key{e.Writer, e.Seq}] {
			absent = append(absent, seqName(e.Writer, e.Seq))
		}
	}
	sort.Strings(absent)
	sort.Strings(extra)
	switch {
	case len(absent) > 0:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("%d of %d lost acknowledged writes not in %s: %s", len(absent), len(missing), file, firstN(absent, 5))
	case len(extra) > 0:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("%s lists writes that were not lost: %s", file, firstN(extra, 5))
	case len(missing) == 0:
		r.Verdict, r.Observed = Fail, "no acknowledged write was lost: the loss was not real (nothing to find)"
	default:
		r.Verdict, r.Observed = Pass, fmt.Sprintf("all %d lost acknowledged writes listed, nothing else", len(missing))
	}
	return r
}

func firstN(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}
