package check

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/workload"
	"github.com/drdrill/drdrill/harness/workload/clients"
)

// The failover drills' checks: over what a writable sampler, each server's
// rows, checksums and GTID sets, and each client recorded.

// NoTwoWriters ("no_two_writers") fails if any sampling round saw two or
// more servers writable, naming who and for how long (conservatively, see
// replica.WritableRecord.TwoWritersFor), or if no round ever read every
// server (nothing was seen). Observed states the resolution (MaxGap) and
// the failed samples, which coarsen it.
func NoTwoWriters(rec replica.WritableRecord) Result {
	r := Result{Name: "no_two_writers",
		Expected: "at most one writable server in every sampling round (every " + msStr(rec.Every) + ")",
		Detail: map[string]any{"rounds": rec.Rounds, "every_ms": ms(rec.Every), "max_gap_ms": ms(rec.MaxGap),
			"errors": rec.Errors, "two_writers_ms": ms(rec.TwoWritersFor()), "intervals": len(rec.TwoWriters)}}
	if rec.LastError != "" {
		r.Detail["last_error"] = rec.LastError
	}
	resolution := fmt.Sprintf("%d rounds, resolution %s", rec.Rounds, msStr(rec.MaxGap))
	if rec.Errors > 0 {
		resolution += fmt.Sprintf(", %d failed samples (last: %s)", rec.Errors, oneLine(rec.LastError))
	}
	switch {
	case len(rec.TwoWriters) > 0:
		var ivs []string
		var list []map[string]any
		for _, tw := range rec.TwoWriters[:min(len(rec.TwoWriters), detailCap)] {
			d := tw.To.Sub(tw.From) + max(rec.Every, time.Nanosecond)
			ivs = append(ivs, fmt.Sprintf("%s for %s", strings.Join(tw.Servers, " and "), msStr(d)))
			list = append(list, map[string]any{"from": tw.From, "to": tw.To, "servers": slices.Clone(tw.Servers), "ms": ms(d)})
		}
		if n := len(rec.TwoWriters); n > detailCap {
			ivs = append(ivs, fmt.Sprintf("%d more", n-detailCap))
		}
		r.Detail["two_writers"] = list
		r.Verdict = Fail
		r.Observed = fmt.Sprintf("two writers: %s (%s in all); %s", strings.Join(ivs, ", "), msStr(rec.TwoWritersFor()), resolution)
	case rec.Rounds == 0:
		r.Verdict, r.Observed = Fail, "no sampling round read every server: nothing seen; "+resolution
	default:
		r.Verdict, r.Observed = Pass, "never two writable servers in one round; "+resolution
	}
	return r
}

// LedgerOnServers ("ledger_on_every_server") runs DiffLedger of the
// acknowledged writes against each server's rows: it fails on any
// acknowledged write missing, duplicated, differing or unexpected on any
// server, on no server, and on no acknowledged write. Observed has one
// clause per server, a failing one first.
func LedgerOnServers(ledger []workload.Entry, rows map[string][]workload.Row, unresolved []workload.Attempt) Result {
	names := sortedNames(rows)
	r := Result{Name: "ledger_on_every_server",
		Expected: fmt.Sprintf("every server (%s) holds exactly the %d acknowledged rows", strings.Join(names, ", "), len(ledger)),
		Detail:   map[string]any{"acknowledged": len(ledger)}}
	servers := map[string]any{}
	var bad, good []string
	for _, name := range names {
		d := DiffLedger(ledger, rows[name], unresolved...)
		servers[name] = d.detail()
		switch {
		case !d.Clean():
			bad = append(bad, fmt.Sprintf("%s: %s (%d rows)", name, d.firstProblem(), d.ReplicaRows))
		case len(d.UnknownPresent) > 0:
			good = append(good, fmt.Sprintf("%s: all %d (%d rows of unresolved writes present)", name, d.Acknowledged, len(d.UnknownPresent)))
		default:
			good = append(good, fmt.Sprintf("%s: all %d", name, d.Acknowledged))
		}
	}
	r.Detail["servers"] = servers
	switch {
	case len(names) == 0:
		r.Verdict, r.Observed = Fail, "no server's rows to compare"
	case len(ledger) == 0:
		r.Verdict, r.Observed = Fail, "no acknowledged writes to compare"
	case len(bad) > 0:
		r.Verdict, r.Observed = Fail, strings.Join(append(bad, good...), "; ")
	default:
		r.Verdict, r.Observed = Pass, strings.Join(good, "; ")
	}
	return r
}

// ChecksumsEqual ("checksums_equal") passes when CHECKSUM TABLE gave one
// value on every server, of at least two. Observed names the servers that
// differ from the most common value.
func ChecksumsEqual(table string, sums map[string]int64) Result {
	names := sortedNames(sums)
	r := Result{Name: "checksums_equal",
		Expected: fmt.Sprintf("CHECKSUM TABLE %s equal on every server (%s)", table, strings.Join(names, ", ")),
		Detail:   map[string]any{"table": table, "checksums": sums}}
	count := map[int64]int{}
	for _, n := range names {
		count[sums[n]]++
	}
	var common int64
	best := 0
	for _, n := range names { // ties: the first server's value, in name order
		if c := count[sums[n]]; c > best {
			common, best = sums[n], c
		}
	}
	var differ []string
	for _, n := range names {
		if sums[n] != common {
			differ = append(differ, fmt.Sprintf("%s %d", n, sums[n]))
		}
	}
	switch {
	case len(names) < 2:
		r.Verdict, r.Observed = Fail, fmt.Sprintf("%d server's checksum: nothing to compare", len(names))
	case len(differ) > 0:
		var same []string
		for _, n := range names {
			if sums[n] == common {
				same = append(same, n)
			}
		}
		r.Verdict, r.Observed = Fail, fmt.Sprintf("%s differ from %d on %s", strings.Join(differ, ", "), common, strings.Join(same, ", "))
	default:
		r.Verdict, r.Observed = Pass, fmt.Sprintf("%d on all %d servers", common, len(names))
	}
	return r
}

// NoErrantGTIDs ("no_errant_gtids") passes when no server has a GTID its
// source lacks; errant maps a server to those GTIDs ("" for none, as
// replica.ErrantGTIDs gives them). An empty map checked nothing and fails.
func NoErrantGTIDs(errant map[string]string) Result {
	names := sortedNames(errant)
	r := Result{Name: "no_errant_gtids",
		Expected: fmt.Sprintf("no server (%s) has GTIDs its source lacks", strings.Join(names, ", ")),
		Detail:   map[string]any{"errant": errant}}
	var bad []string
	for _, n := range names {
		if g := strings.TrimSpace(errant[n]); g != "" {
			bad = append(bad, fmt.Sprintf("%s has %s", n, g))
		}
	}
	switch {
	case len(names) == 0:
		r.Verdict, r.Observed = Fail, "no server compared"
	case len(bad) > 0:
		r.Verdict, r.Observed = Fail, "errant GTIDs: "+strings.Join(bad, "; ")+" (not on its source)"
	default:
		r.Verdict, r.Observed = Pass, fmt.Sprintf("none on %s", strings.Join(names, ", "))
	}
	return r
}

// ClientOutcome is one client's record and what it is judged against.
type ClientOutcome struct {
	Stats clients.Stats
	// Bound is the most a non-stuck client may be unable to write:
	// failover time + DNS TTL + one write interval.
	Bound time.Duration
	// Failback is when failback began (zero: none happened).
	Failback time.Time
	// Name labels a server ("aws-db") in diagnosis lines (nil: its
	// address and server_id).
	Name func(clients.Server) string
}

// longestOutage is the outage Stats.Diagnosis describes: the first of the
// longest.
func longestOutage(s clients.Stats) *clients.Outage {
	if len(s.Outages) == 0 {
		return nil
	}
	o := &s.Outages[0]
	for i := range s.Outages[1:] {
		if x := &s.Outages[i+1]; x.Duration > o.Duration {
			o = x
		}
	}
	return o
}

// ClientStuck reports whether the client's longest outage is one of a
// client pinned to the demoted writer, as Stats.Diagnosis judges it: it
// never ended, or it began before failback began and ended only after
// (stuck until failback). An outage that began after failback began is
// the failback's own, and one that ended before it was a recovery. An
// outage begins when its first write was refused (not when that write was
// sent: one sent a moment before the failback and refused by it is the
// failback's).
func ClientStuck(s clients.Stats, failback time.Time) bool {
	o := longestOutage(s)
	switch {
	case o == nil:
		return false
	case o.Recovered == nil:
		return true
	}
	return !failback.IsZero() && o.FirstFailure.At.Before(failback) && o.Recovered.AckAt.After(failback)
}

// judge is one client's verdict: "" when it did as its profile expects,
// else why not.
func judge(c ClientOutcome) string {
	s := c.Stats
	o := longestOutage(s)
	switch {
	case s.Acked == 0:
		return fmt.Sprintf("no write acknowledged in %d attempts", s.Attempts)
	case s.Expected.Stuck && o == nil:
		return "expected stuck on the demoted writer until failback, but no write was refused: the failover did not reach it"
	case s.Expected.Stuck && o.Recovered == nil:
		return "stuck and never wrote again"
	case s.Expected.Stuck && c.Failback.IsZero():
		return fmt.Sprintf("expected stuck until failback, but wrote again after %s with no failback", msStr(o.Duration))
	case s.Expected.Stuck && !o.FirstFailure.SentAt.Before(c.Failback):
		return "expected stuck until failback, but its longest outage began only after failback began"
	case s.Expected.Stuck && !o.Recovered.AckAt.After(c.Failback):
		return fmt.Sprintf("expected stuck until failback, but wrote again %s before failback began", msStr(c.Failback.Sub(o.Recovered.AckAt)))
	case s.FailingAtEnd:
		return "still failing to write when it stopped"
	case s.Expected.Stuck:
		return ""
	case c.Bound <= 0:
		return "no bound on its unavailability given"
	}
	for _, x := range s.Outages {
		if x.Duration > c.Bound {
			return fmt.Sprintf("unable to write for %s, over its bound %s", msStr(x.Duration), msStr(c.Bound))
		}
	}
	return ""
}

// ClientVerdict is one client's verdict under ClientsAsExpected's rules
// (Pass or Fail) and, when it fails, why.
func ClientVerdict(c ClientOutcome) (verdictStr, why string) {
	why = judge(c)
	return verdict(why == ""), why
}

// ClientsAsExpected ("clients_as_expected") judges each client's write
// unavailability against its profile's expectation:
//   - expected stuck: passes only if its longest outage began before
//     failback began and ended after it (stuck until failback); no
//     failback, an outage that never ended ("stuck and never wrote
//     again"), or no outage at all fail;
//   - otherwise: passes if every outage is at most Bound;
//
// and every client must have had a write acknowledged and not be failing
// when it stopped. Observed has one line per client (Stats.Diagnosis,
// with why it failed), failing clients first, so that a report's one-line
// diagnosis names the first of them.
func ClientsAsExpected(cs []ClientOutcome) Result {
	var stuck, bounded []string
	for _, c := range cs {
		if c.Stats.Expected.Stuck {
			stuck = append(stuck, c.Stats.Client)
		} else {
			bounded = append(bounded, fmt.Sprintf("%s ≤ %s", c.Stats.Client, msStr(c.Bound)))
		}
	}
	var exp []string
	if len(stuck) > 0 {
		exp = append(exp, "stuck on the demoted writer until failback: "+strings.Join(stuck, ", "))
	}
	if len(bounded) > 0 {
		exp = append(exp, "unable to write at most: "+strings.Join(bounded, ", "))
	}
	r := Result{Name: "clients_as_expected",
		Expected: "each client as its profile expects; " + strings.Join(exp, "; ") + "; every client writing when it stopped"}
	var failed, passed []string
	var details []map[string]any
	for _, c := range cs {
		why := judge(c)
		line := c.Stats.Diagnosis(c.Failback, c.Name)
		d := map[string]any{"client": c.Stats.Client, "profile": c.Stats.Profile, "expected_stuck": c.Stats.Expected.Stuck,
			"stuck": ClientStuck(c.Stats, c.Failback), "bound_ms": ms(c.Bound), "outages": len(c.Stats.Outages),
			"failing_at_end": c.Stats.FailingAtEnd, "verdict": verdict(why == ""), "diagnosis": line}
		if o := longestOutage(c.Stats); o != nil {
			d["longest_outage_ms"], d["resolution_ms"] = ms(o.Duration), ms(o.Resolution)
		}
		if why != "" {
			d["why"] = why
			failed = append(failed, line+" — FAIL: "+why)
		} else {
			passed = append(passed, line)
		}
		details = append(details, d)
	}
	r.Detail = map[string]any{"clients": details}
	switch {
	case len(cs) == 0:
		r.Verdict, r.Observed = Fail, "no client recorded"
	case len(failed) > 0:
		r.Verdict, r.Observed = Fail, strings.Join(failed, "\n")
		if len(passed) > 0 {
			r.Observed += fmt.Sprintf("\n(%d other clients as their profiles expect)", len(passed))
		}
	default:
		// Each client's own line is in Detail and in the report's clients[].
		r.Verdict = Pass
		r.Observed = fmt.Sprintf("all %d clients as their profiles expect", len(cs))
		var parts []string
		if len(stuck) > 0 {
			parts = append(parts, fmt.Sprintf("%d stuck on the demoted writer until failback", len(stuck)))
		}
		if len(bounded) > 0 {
			parts = append(parts, fmt.Sprintf("%d followed the failover within their bound", len(bounded)))
		}
		if len(parts) > 0 {
			r.Observed += ": " + strings.Join(parts, ", ")
		}
	}
	return r
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// msStr formats a duration in ms below a second, else in seconds
// ("5ms", "1.234s").
func msStr(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%gms", ms(d))
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}
