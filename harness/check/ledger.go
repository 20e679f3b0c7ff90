package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/drdrill/drdrill/harness/workload"
)

// detailCap bounds each list in a Result's detail; counts stay exact.
const detailCap = 20

// Mismatch is a row present on both sides whose content differs.
type Mismatch struct {
	Want   workload.Entry `json:"want"`
	Got    workload.Row   `json:"got"`
	Fields []string       `json:"fields"` // id, phase, msg
}

// LedgerDiff compares acknowledged writes with the rows a server holds,
// keyed by (writer, seq).
type LedgerDiff struct {
	Acknowledged int `json:"acknowledged"`
	ReplicaRows  int `json:"replica_rows"`
	Matched      int `json:"matched"`
	Late         int `json:"late"` // matched entries acknowledged by ResolveUnknown
	// Missing: acknowledged, absent on the replica.
	Missing []workload.Entry `json:"missing"`
	// Unexpected: on the replica, neither acknowledged nor an unresolved write.
	Unexpected []workload.Row `json:"unexpected"`
	// Duplicated: further rows with a (writer, seq) already seen.
	Duplicated []workload.Row `json:"duplicated"`
	Mismatched []Mismatch     `json:"mismatched"`
	// UnknownPresent: rows of writes whose outcome is still unknown; not an
	// error, but the ledger could not vouch for them.
	UnknownPresent []workload.Row `json:"unknown_present"`
	// LedgerDuplicates: entries acknowledged twice under one (writer, seq),
	// a harness defect.
	LedgerDuplicates []workload.Entry `json:"ledger_duplicates"`
}

type key struct {
	writer int
	seq    int64
}

// DiffLedger compares the acknowledged entries with rows read back from a
// server. Rows of still-unresolved unknown writes are set apart, not
// counted as unexpected.
func DiffLedger(ledger []workload.Entry, rows []workload.Row, unresolved ...workload.Attempt) LedgerDiff {
	d := LedgerDiff{Acknowledged: len(ledger), ReplicaRows: len(rows)}
	want := make(map[key]workload.Entry, len(ledger))
	for _, e := range ledger {
		k := key{e.Writer, e.Seq}
		if _, dup := want[k]; dup {
			d.LedgerDuplicates = append(d.LedgerDuplicates, e)
			continue
		}
		want[k] = e
	}
	pending := map[key]bool{}
	for _, a := range unresolved {
		pending[key{a.Writer, a.Seq}] = true
	}
	seen := make(map[key]bool, len(rows))
	for _, r := range rows {
		k := key{r.Writer, r.Seq}
		if seen[k] {
			d.Duplicated = append(d.Duplicated, r)
			continue
		}
		seen[k] = true
		e, ok := want[k]
		switch {
		case !ok && pending[k]:
			d.UnknownPresent = append(d.UnknownPresent, r)
		case !ok:
			d.Unexpected = append(d.Unexpected, r)
		default:
			var fields []string
			if e.ID != r.ID {
				fields = append(fields, "id")
			}
			if e.Phase != r.Phase {
				fields = append(fields, "phase")
			}
			if e.Msg != r.Msg {
				fields = append(fields, "msg")
			}
			if len(fields) > 0 {
				d.Mismatched = append(d.Mismatched, Mismatch{Want: e, Got: r, Fields: fields})
				continue
			}
			d.Matched++
			if e.Late {
				d.Late++
			}
		}
	}
	for k, e := range want {
		if !seen[k] {
			d.Missing = append(d.Missing, e)
		}
	}
	sort.Slice(d.Missing, func(i, j int) bool {
		a, b := d.Missing[i], d.Missing[j]
		return a.Writer < b.Writer || a.Writer == b.Writer && a.Seq < b.Seq
	})
	for _, s := range [][]workload.Row{d.Unexpected, d.Duplicated, d.UnknownPresent} {
		sortRows(s)
	}
	return d
}

func sortRows(rs []workload.Row) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		return a.Writer < b.Writer || a.Writer == b.Writer && a.Seq < b.Seq
	})
}

// RowsMissing is the rows_missing_on_replica metric.
func (d LedgerDiff) RowsMissing() int { return len(d.Missing) }

// RowsUnexpected is the rows_unexpected_on_replica metric: rows that should
// not be there, including extra copies of a row.
func (d LedgerDiff) RowsUnexpected() int { return len(d.Unexpected) + len(d.Duplicated) }

// Clean reports whether the replica holds exactly the acknowledged rows.
func (d LedgerDiff) Clean() bool {
	return len(d.Missing)+len(d.Unexpected)+len(d.Duplicated)+len(d.Mismatched)+len(d.LedgerDuplicates) == 0
}

// Metrics are the diff's counts under their report.json metric names.
func (d LedgerDiff) Metrics() map[string]int {
	return map[string]int{"rows_missing_on_replica": d.RowsMissing(), "rows_unexpected_on_replica": d.RowsUnexpected()}
}

func seqName(writer int, seq int64) string {
	if writer == 0 {
		return fmt.Sprintf("seq %d", seq)
	}
	return fmt.Sprintf("writer %d seq %d", writer, seq)
}

// firstProblem names the first thing wrong, most serious first.
func (d LedgerDiff) firstProblem() string {
	switch {
	case len(d.Missing) > 0:
		e := d.Missing[0]
		return fmt.Sprintf("missing %s (phase %s, '%s')", seqName(e.Writer, e.Seq), e.Phase, e.Msg)
	case len(d.Unexpected) > 0:
		r := d.Unexpected[0]
		return fmt.Sprintf("unexpected %s (phase %s, '%s', id %d)", seqName(r.Writer, r.Seq), r.Phase, r.Msg, r.ID)
	case len(d.Duplicated) > 0:
		r := d.Duplicated[0]
		return fmt.Sprintf("duplicated %s (phase %s, '%s', extra id %d)", seqName(r.Writer, r.Seq), r.Phase, r.Msg, r.ID)
	case len(d.Mismatched) > 0:
		m := d.Mismatched[0]
		var parts []string
		for _, f := range m.Fields {
			switch f {
			case "id":
				parts = append(parts, fmt.Sprintf("id %d on replica, %d acknowledged", m.Got.ID, m.Want.ID))
			case "phase":
				parts = append(parts, fmt.Sprintf("phase %s on replica, %s acknowledged", m.Got.Phase, m.Want.Phase))
			case "msg":
				parts = append(parts, fmt.Sprintf("msg '%s' on replica, '%s' acknowledged", m.Got.Msg, m.Want.Msg))
			}
		}
		return fmt.Sprintf("%s differs: %s", seqName(m.Want.Writer, m.Want.Seq), strings.Join(parts, ", "))
	case len(d.LedgerDuplicates) > 0:
		e := d.LedgerDuplicates[0]
		return fmt.Sprintf("ledger acknowledged %s twice", seqName(e.Writer, e.Seq))
	}
	return ""
}

// Result is the ledger_matches verdict of the diff.
func (d LedgerDiff) Result() Result {
	r := Result{Name: "ledger_matches",
		Expected: fmt.Sprintf("replica holds exactly the %d acknowledged rows (same id, phase, msg per writer/seq)", d.Acknowledged),
		Detail:   d.detail()}
	switch {
	case d.Acknowledged == 0:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("no acknowledged writes to compare (%d rows on replica)", d.ReplicaRows)
	case !d.Clean():
		r.Verdict = Fail
		var counts []string
		for _, c := range []struct {
			n    int
			what string
		}{{len(d.Missing), "missing"}, {len(d.Unexpected), "unexpected"}, {len(d.Duplicated), "duplicated"},
			{len(d.Mismatched), "differing"}, {len(d.LedgerDuplicates), "acknowledged twice"}} {
			if c.n > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", c.n, c.what))
			}
		}
		r.Observed = fmt.Sprintf("%s; %s of %d acknowledged, %d rows on replica",
			d.firstProblem(), strings.Join(counts, ", "), d.Acknowledged, d.ReplicaRows)
	default:
		r.Verdict = Pass
		r.Observed = fmt.Sprintf("all %d acknowledged rows on the replica, none unexpected", d.Acknowledged)
		if d.Late > 0 {
			r.Observed += fmt.Sprintf(" (%d acknowledged late)", d.Late)
		}
		if n := len(d.UnknownPresent); n > 0 {
			r.Observed += fmt.Sprintf("; %d rows of unresolved writes present", n)
		}
	}
	return r
}

// LedgerMatches is DiffLedger(ledger, replicaRows).Result(): the replica
// must hold exactly the acknowledged writes.
func LedgerMatches(ledger []workload.Entry, replicaRows []workload.Row) Result {
	return DiffLedger(ledger, replicaRows).Result()
}

func (d LedgerDiff) detail() map[string]any {
	det := map[string]any{
		"acknowledged": d.Acknowledged, "replica_rows": d.ReplicaRows, "matched": d.Matched, "late": d.Late,
		"rows_missing_on_replica": d.RowsMissing(), "rows_unexpected_on_replica": d.RowsUnexpected(),
	}
	entries := func(es []workload.Entry) []map[string]any {
		var out []map[string]any
		for _, e := range es[:min(len(es), detailCap)] {
			out = append(out, map[string]any{"writer": e.Writer, "seq": e.Seq, "id": e.ID, "phase": string(e.Phase), "msg": e.Msg})
		}
		return out
	}
	rowsOf := func(rs []workload.Row) []map[string]any {
		var out []map[string]any
		for _, r := range rs[:min(len(rs), detailCap)] {
			out = append(out, map[string]any{"writer": r.Writer, "seq": r.Seq, "id": r.ID, "phase": string(r.Phase), "msg": r.Msg})
		}
		return out
	}
	put := func(k string, n int, v []map[string]any) {
		if n > 0 {
			det[k] = v
			det[k+"_count"] = n
		}
	}
	put("missing", len(d.Missing), entries(d.Missing))
	put("unexpected", len(d.Unexpected), rowsOf(d.Unexpected))
	put("duplicated", len(d.Duplicated), rowsOf(d.Duplicated))
	put("unknown_present", len(d.UnknownPresent), rowsOf(d.UnknownPresent))
	put("ledger_duplicates", len(d.LedgerDuplicates), entries(d.LedgerDuplicates))
	if n := len(d.Mismatched); n > 0 {
		var ms []map[string]any
		for _, m := range d.Mismatched[:min(n, detailCap)] {
			ms = append(ms, map[string]any{"writer": m.Want.Writer, "seq": m.Want.Seq, "fields": slices.Clone(m.Fields),
				"want": map[string]any{"id": m.Want.ID, "phase": string(m.Want.Phase), "msg": m.Want.Msg},
				"got":  map[string]any{"id": m.Got.ID, "phase": string(m.Got.Phase), "msg": m.Got.Msg}})
		}
		det["mismatched"], det["mismatched_count"] = ms, n
	}
	return det
}
