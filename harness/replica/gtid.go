package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PrimaryPosition is what the server has written: MariaDB @@gtid_binlog_pos,
// MySQL @@GLOBAL.gtid_executed.
func (c *Conn) PrimaryPosition(ctx context.Context) (string, error) {
	q := "SELECT @@GLOBAL.gtid_executed"
	if c.flavor == MariaDB {
		q = "SELECT @@GLOBAL.gtid_binlog_pos"
	}
	pos, err := c.queryString(ctx, q)
	if err != nil {
		return "", fmt.Errorf("read primary position: %w", err)
	}
	return normalizeGTID(pos), nil
}

// AppliedPosition is what the replica has applied: MariaDB
// @@gtid_slave_pos, MySQL @@GLOBAL.gtid_executed.
func (c *Conn) AppliedPosition(ctx context.Context) (string, error) {
	q := "SELECT @@GLOBAL.gtid_executed"
	if c.flavor == MariaDB {
		q = "SELECT @@GLOBAL.gtid_slave_pos"
	}
	pos, err := c.queryString(ctx, q)
	if err != nil {
		return "", fmt.Errorf("read applied position: %w", err)
	}
	return normalizeGTID(pos), nil
}

// WaitError is a WaitApplied that gave up: the timeout passed (Err nil) or
// ctx ended (Err is its error).
type WaitError struct {
	Target  string        // the position waited for
	Applied string        // what the replica had applied when it gave up ("" = nothing, or unreadable)
	Timeout time.Duration // the timeout asked for
	Err     error
}

func (e *WaitError) Error() string {
	applied := e.Applied
	if applied == "" {
		applied = "nothing"
	}
	s := fmt.Sprintf("wait applied: replica did not apply %q within %s (applied: %s)", e.Target, e.Timeout, applied)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *WaitError) Unwrap() error { return e.Err }

// WaitApplied blocks until the replica has applied pos, using
// MASTER_GTID_WAIT (MariaDB: 0 reached, -1 timeout) or
// WAIT_FOR_EXECUTED_GTID_SET (MySQL: 0 reached, 1 timeout). It waits in
// slices shorter than the connection's read timeout, so a long wait does
// not look like a dead server. On timeout it returns a *WaitError.
//
// MariaDB: MASTER_GTID_WAIT compares with @@gtid_slave_pos only, so on a
// primary (or any server) it never sees transactions written locally: a
// primary waiting for its own @@gtid_binlog_pos times out. MySQL's function
// uses gtid_executed, which includes local writes.
func (c *Conn) WaitApplied(ctx context.Context, pos string, timeout time.Duration) error {
	if timeout <= 0 {
		return fmt.Errorf("wait applied: timeout %s must be positive", timeout)
	}
	if _, err := parsePosition(c.flavor, pos); err != nil {
		return fmt.Errorf("wait applied: %w", err)
	}
	pos = normalizeGTID(pos)
	deadline := time.Now().Add(timeout)
	slice := timeout
	if c.readTimeout > 0 {
		slice = c.readTimeout / 2
	}
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return c.waitError(ctx, pos, timeout, nil)
		}
		done, err := c.waitStep(ctx, pos, min(remaining, slice))
		if err != nil {
			if ctx.Err() != nil {
				return c.waitError(ctx, pos, timeout, ctx.Err())
			}
			return fmt.Errorf("wait applied %q: %w", pos, err)
		}
		if done {
			return nil
		}
	}
}

func (c *Conn) waitStep(ctx context.Context, pos string, d time.Duration) (bool, error) {
	var r sql.NullInt64
	if c.flavor == MariaDB {
		// Seconds with microsecond precision. MariaDB 10.11: a timeout of 0
		// returns -1 at once, a negative one waits forever.
		secs := max(d.Seconds(), 0.001)
		if err := c.db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, secs).Scan(&r); err != nil {
			return false, err
		}
		switch {
		case !r.Valid:
			return false, errors.New("MASTER_GTID_WAIT returned NULL")
		case r.Int64 == 0:
			return true, nil
		case r.Int64 == -1:
			return false, nil
		}
		return false, fmt.Errorf("MASTER_GTID_WAIT returned %d", r.Int64)
	}
	// Whole seconds, at least one (5.7 takes an integer timeout), so the
	// last slice may overshoot the deadline by under a second.
	secs := max(int64(math.Ceil(d.Seconds())), 1)
	if err := c.db.QueryRowContext(ctx, "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)", pos, secs).Scan(&r); err != nil {
		return false, err
	}
	switch {
	case !r.Valid:
		return false, errors.New("WAIT_FOR_EXECUTED_GTID_SET returned NULL")
	case r.Int64 == 0:
		return true, nil
	case r.Int64 == 1:
		return false, nil
	}
	return false, fmt.Errorf("WAIT_FOR_EXECUTED_GTID_SET returned %d", r.Int64)
}

func (c *Conn) waitError(ctx context.Context, pos string, timeout time.Duration, cause error) error {
	// Best effort, and still possible when ctx has ended.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	applied, err := c.AppliedPosition(rctx)
	if err != nil {
		applied = "unreadable: " + err.Error()
	}
	return &WaitError{Target: pos, Applied: applied, Timeout: timeout, Err: cause}
}

// Covers reports whether the applied position includes every transaction
// of target. MariaDB positions ("0-1-7,1-2-10", domain-server-seq) are
// compared per domain: covered when applied has each target domain with a
// sequence number at least as high; server ids are ignored because a
// failover changes them while the domain's sequence continues. MySQL GTID
// sets ("uuid:1-5:7,uuid2:1-3", whitespace allowed, 8.3+ tags
// "uuid:tag:1-5") are covered when every target interval lies inside
// applied's intervals for the same uuid (and tag). An empty target is
// always covered.
func Covers(f Flavor, applied, target string) (bool, error) {
	a, err := parsePosition(f, applied)
	if err != nil {
		return false, fmt.Errorf("covers: applied: %w", err)
	}
	t, err := parsePosition(f, target)
	if err != nil {
		return false, fmt.Errorf("covers: target: %w", err)
	}
	if f == MariaDB {
		am, tm := a.(mariaPos), t.(mariaPos)
		for dom, seq := range tm {
			if got, ok := am[dom]; !ok || got < seq {
				return false, nil
			}
		}
		return true, nil
	}
	as, ts := a.(gtidSet), t.(gtidSet)
	for key, want := range ts {
		have := as[key]
		for _, iv := range want {
			if !have.contains(iv) {
				return false, nil
			}
		}
	}
	return true, nil
}

// PositionError is a GTID position or set that does not parse.
type PositionError struct {
	Flavor Flavor
	Pos    string
	Reason string
}

func (e *PositionError) Error() string {
	return fmt.Sprintf("parse %s gtid position %q: %s", e.Flavor, e.Pos, e.Reason)
}

func parsePosition(f Flavor, pos string) (any, error) {
	switch f {
	case MariaDB:
		return parseMariaPos(pos)
	case MySQL, MySQLLegacy:
		return parseGTIDSet(f, pos)
	}
	return nil, &PositionError{Flavor: f, Pos: pos, Reason: "unknown flavor"}
}

// mariaPos is the highest sequence number per replication domain.
type mariaPos map[uint32]uint64

func parseMariaPos(pos string) (mariaPos, error) {
	out := mariaPos{}
	s := strings.TrimSpace(pos)
	if s == "" {
		return out, nil
	}
	for _, el := range strings.Split(s, ",") {
		el = strings.TrimSpace(el)
		parts := strings.Split(el, "-")
		if len(parts) != 3 {
			return nil, &PositionError{Flavor: MariaDB, Pos: pos, Reason: fmt.Sprintf("element %q: want domain-server-seq", el)}
		}
		dom, err1 := strconv.ParseUint(parts[0], 10, 32)
		_, err2 := strconv.ParseUint(parts[1], 10, 32)
		seq, err3 := strconv.ParseUint(parts[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, &PositionError{Flavor: MariaDB, Pos: pos, Reason: fmt.Sprintf("element %q: want unsigned numbers domain-server-seq", el)}
		}
		if cur, ok := out[uint32(dom)]; !ok || seq > cur {
			out[uint32(dom)] = seq
		}
	}
	return out, nil
}

// gtidSet maps "uuid" or "uuid:tag" to sorted, merged intervals.
type gtidSet map[string]intervals

type interval struct{ lo, hi uint64 }

type intervals []interval

func (ivs intervals) contains(x interval) bool {
	for _, iv := range ivs {
		if iv.lo <= x.lo && x.hi <= iv.hi {
			return true
		}
	}
	return false
}

var (
	uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	tagRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)
)

func parseGTIDSet(f Flavor, pos string) (gtidSet, error) {
	bad := func(reason string) error { return &PositionError{Flavor: f, Pos: pos, Reason: reason} }
	out := gtidSet{}
	s := normalizeGTID(pos)
	if s == "" {
		return out, nil
	}
	for _, el := range strings.Split(s, ",") {
		parts := strings.Split(el, ":")
		if !uuidRE.MatchString(parts[0]) {
			return nil, bad(fmt.Sprintf("element %q: %q is not a uuid", el, parts[0]))
		}
		uuid := strings.ToLower(parts[0])
		key, n := uuid, 0 // n: intervals since the uuid or the last tag
		for _, p := range parts[1:] {
			if iv, ok := parseInterval(p); ok {
				out[key] = append(out[key], iv)
				n++
				continue
			}
			if tagRE.MatchString(p) {
				if key != uuid && n == 0 {
					return nil, bad(fmt.Sprintf("element %q: tag without intervals", el))
				}
				key, n = uuid+":"+strings.ToLower(p), 0
				continue
			}
			return nil, bad(fmt.Sprintf("element %q: %q is not an interval (n or a-b, from 1)", el, p))
		}
		if n == 0 {
			return nil, bad(fmt.Sprintf("element %q: no intervals", el))
		}
	}
	for k, ivs := range out {
		out[k] = merge(ivs)
	}
	return out, nil
}

func parseInterval(p string) (interval, bool) {
	lo, hi, isRange := strings.Cut(p, "-")
	a, err := strconv.ParseUint(lo, 10, 64)
	if err != nil || a == 0 {
		return interval{}, false
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
			return interval{}, false
		}
	}
	return interval{a, b}, true
}

// merge sorts intervals and joins overlapping or adjacent ones (1-5,6-7 is 1-7).
func merge(ivs intervals) intervals {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].lo < ivs[j].lo })
	out := intervals{}
	for _, iv := range ivs {
		if n := len(out); n > 0 && iv.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, iv.hi)
			continue
		}
		out = append(out, iv)
	}
	return out
}
