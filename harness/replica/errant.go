package replica

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrantGTIDs returns the transactions server has executed that source
// lacks: "" when there are none. Such a transaction (an errant GTID) was
// written on server directly, or survived on it from a history source does
// not share; promoting server, or pointing it at source, would spread it or
// break replication (MariaDB strict mode stops on the next sequence number,
// MySQL asks source for GTIDs its binary log does not have).
//
//   - MariaDB: @@gtid_binlog_state of each (the last sequence number per
//     domain and server id), compared with [Errant]. The server needs its
//     binary log: without one its own writes carry no GTID and cannot be
//     seen, so log_bin=OFF is an error, not "no errant GTIDs".
//   - MySQL: @@gtid_executed of each, subtracted as GTID_SUBTRACT does
//     (computed here, see [Errant]).
//
// Transactions written with sql_log_bin=0 carry no GTID on either flavor
// and are invisible to this check.
func ErrantGTIDs(ctx context.Context, server, source *Conn) (string, error) {
	if server.flavor != source.flavor {
		return "", fmt.Errorf("errant gtids: server is %s, source is %s", server.flavor, source.flavor)
	}
	q := "SELECT @@GLOBAL.gtid_executed"
	if server.flavor == MariaDB {
		logBin, err := server.queryString(ctx, "SELECT @@GLOBAL.log_bin")
		if err != nil {
			return "", fmt.Errorf("errant gtids: read server log_bin: %w", err)
		}
		on, err := boolVar(map[string]string{"log_bin": logBin}, "log_bin")
		if err != nil {
			return "", fmt.Errorf("errant gtids: server: %w", err)
		}
		if !on {
			return "", fmt.Errorf("errant gtids: the server has no binary log (log_bin=OFF): its own writes carry no GTID, errant transactions cannot be detected")
		}
		q = "SELECT @@GLOBAL.gtid_binlog_state"
	}
	mine, err := server.queryString(ctx, q)
	if err != nil {
		return "", fmt.Errorf("errant gtids: read server position: %w", err)
	}
	theirs, err := source.queryString(ctx, q)
	if err != nil {
		return "", fmt.Errorf("errant gtids: read source position: %w", err)
	}
	out, err := Errant(server.flavor, mine, theirs)
	if err != nil {
		return "", fmt.Errorf("errant gtids: %w", err)
	}
	return out, nil
}

// Errant returns what server has executed that source lacks, from their
// positions as text.
//
//   - MariaDB, from @@gtid_binlog_state ("0-1-10,0-3-20": the last sequence
//     number of each server id in each domain): an element D-S-N is errant
//     when source has no element D-S-M with M >= N, i.e. server S wrote in
//     domain D something source never received. Sequence numbers alone are
//     not enough: an errant 0-2-11 and the source's own 0-1-11 have the same
//     number. The result lists the errant elements ("0-2-11": server 2's
//     transactions in domain 0 up to 11), sorted by domain and server id.
//   - MySQL, from @@gtid_executed: the set difference server − source
//     (GTID_SUBTRACT), as "uuid:1-5:7,uuid:tag:1-3", sorted by uuid.
//
// Malformed positions are errors; an empty server position has nothing
// errant.
func Errant(f Flavor, server, source string) (string, error) {
	switch f {
	case MariaDB:
		mine, err := parseMariaState(server)
		if err != nil {
			return "", fmt.Errorf("server: %w", err)
		}
		theirs, err := parseMariaState(source)
		if err != nil {
			return "", fmt.Errorf("source: %w", err)
		}
		var out []mariaGTID
		for _, g := range mine {
			if have, ok := findPair(theirs, g.domain, g.server); !ok || have < g.seq {
				out = append(out, g)
			}
		}
		return formatMaria(out), nil
	case MySQL, MySQLLegacy:
		diff, _, err := subtractSets(f, server, source)
		return diff, err
	}
	return "", &PositionError{Flavor: f, Pos: server, Reason: "unknown flavor"}
}

// Subtract returns the part of position have that position lacks does not
// hold: what a replica at lacks still has to apply to reach have.
//
//   - MariaDB positions (@@gtid_binlog_pos, @@gtid_slave_pos) hold one
//     GTID per domain: the result holds have's GTID for each domain where
//     lacks is behind (or absent), e.g. have 0-1-120,1-5-3 and lacks
//     0-1-100,1-5-3 give 0-1-120.
//   - MySQL GTID sets: the set difference, as GTID_SUBTRACT(have, lacks).
func Subtract(f Flavor, have, lacks string) (string, error) {
	s, _, err := gap(f, have, lacks)
	return s, err
}

// gap is Subtract plus how many transactions that is: per MariaDB domain
// the difference of the sequence numbers, for MySQL the size of the set.
func gap(f Flavor, have, lacks string) (string, uint64, error) {
	switch f {
	case MariaDB:
		h, err := parseMariaState(have)
		if err != nil {
			return "", 0, fmt.Errorf("have: %w", err)
		}
		l, err := parseMariaState(lacks)
		if err != nil {
			return "", 0, fmt.Errorf("lacks: %w", err)
		}
		hMax, lMax := maxPerDomain(h), maxPerDomain(l)
		var out []mariaGTID
		var n uint64
		for dom, g := range hMax {
			if lg, ok := lMax[dom]; !ok || lg.seq < g.seq {
				out = append(out, g)
				n += g.seq - lg.seq // lg is zero when the domain is absent
			}
		}
		return formatMaria(out), n, nil
	case MySQL, MySQLLegacy:
		return subtractSets(f, have, lacks)
	}
	return "", 0, &PositionError{Flavor: f, Pos: have, Reason: "unknown flavor"}
}

// mariaGTID is one MariaDB GTID, domain-server-seq.
type mariaGTID struct {
	domain, server uint32
	seq            uint64
}

func (g mariaGTID) String() string { return fmt.Sprintf("%d-%d-%d", g.domain, g.server, g.seq) }

// parseMariaState reads a MariaDB GTID list (a position or a binlog
// state). The same domain and server id twice is malformed: neither
// variable ever shows it.
func parseMariaState(pos string) ([]mariaGTID, error) {
	var out []mariaGTID
	s := normalizeGTID(pos)
	if s == "" {
		return out, nil
	}
	seen := map[[2]uint32]bool{}
	for _, el := range strings.Split(s, ",") {
		parts := strings.Split(el, "-")
		if len(parts) != 3 {
			return nil, &PositionError{Flavor: MariaDB, Pos: pos, Reason: fmt.Sprintf("element %q: want domain-server-seq", el)}
		}
		dom, err1 := strconv.ParseUint(parts[0], 10, 32)
		srv, err2 := strconv.ParseUint(parts[1], 10, 32)
		seq, err3 := strconv.ParseUint(parts[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, &PositionError{Flavor: MariaDB, Pos: pos, Reason: fmt.Sprintf("element %q: want unsigned numbers domain-server-seq", el)}
		}
		key := [2]uint32{uint32(dom), uint32(srv)}
		if seen[key] {
			return nil, &PositionError{Flavor: MariaDB, Pos: pos, Reason: fmt.Sprintf("domain %d and server id %d appear twice", dom, srv)}
		}
		seen[key] = true
		out = append(out, mariaGTID{uint32(dom), uint32(srv), seq})
	}
	return out, nil
}

func findPair(gs []mariaGTID, domain, server uint32) (uint64, bool) {
	for _, g := range gs {
		if g.domain == domain && g.server == server {
			return g.seq, true
		}
	}
	return 0, false
}

// maxPerDomain keeps the GTID with the highest sequence number per domain.
func maxPerDomain(gs []mariaGTID) map[uint32]mariaGTID {
	out := map[uint32]mariaGTID{}
	for _, g := range gs {
		if cur, ok := out[g.domain]; !ok || g.seq > cur.seq {
			out[g.domain] = g
		}
	}
	return out
}

func formatMaria(gs []mariaGTID) string {
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].domain != gs[j].domain {
			return gs[i].domain < gs[j].domain
		}
		return gs[i].server < gs[j].server
	})
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}

// subtractSets is GTID_SUBTRACT(a, b) over MySQL GTID sets, with the number
// of GTIDs in the result.
func subtractSets(f Flavor, a, b string) (string, uint64, error) {
	as, err := parseGTIDSet(f, a)
	if err != nil {
		return "", 0, err
	}
	bs, err := parseGTIDSet(f, b)
	if err != nil {
		return "", 0, err
	}
	out := gtidSet{}
	var n uint64
	for key, ivs := range as {
		rest := ivs
		for _, cut := range bs[key] {
			rest = cutInterval(rest, cut)
		}
		if len(rest) > 0 {
			out[key] = rest
			for _, iv := range rest {
				n += iv.hi - iv.lo + 1
			}
		}
	}
	return formatSet(out), n, nil
}

// cutInterval removes c from sorted, merged intervals.
func cutInterval(ivs intervals, c interval) intervals {
	var out intervals
	for _, iv := range ivs {
		if c.hi < iv.lo || c.lo > iv.hi {
			out = append(out, iv)
			continue
		}
		if iv.lo < c.lo {
			out = append(out, interval{iv.lo, c.lo - 1})
		}
		if c.hi < iv.hi {
			out = append(out, interval{c.hi + 1, iv.hi})
		}
	}
	return out
}

// formatSet writes a GTID set with sorted keys: "uuid:1-5:7,uuid:tag:1-3".
func formatSet(s gtidSet) string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		var b strings.Builder
		b.WriteString(k)
		for _, iv := range s[k] {
			if iv.lo == iv.hi {
				fmt.Fprintf(&b, ":%d", iv.lo)
			} else {
				fmt.Fprintf(&b, ":%d-%d", iv.lo, iv.hi)
			}
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, ",")
}
