package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// A planned switchover, the way `aws rds failover-db-cluster` does one, is
// these steps, each its own function so that a drill can time and record
// it:
//
//  1. old.SetReadOnly(ctx, true): no more writes on the old primary;
//  2. WaitCaughtUp(ctx, old, candidate, timeout): the candidate applied
//     everything the old primary has (ErrantGTIDs(ctx, candidate, old)
//     before promoting: it has nothing of its own);
//  3. Promote(ctx, candidate): replication reset, writable;
//  4. Demote(ctx, old, newSource, timings): read-only, replicating from the
//     new primary with GTID;
//  5. Repoint(ctx, other, newSource, timings) for every other replica.

// SetReadOnly makes the server read-only (on) or writable (off), then reads
// the setting back and fails if it did not take.
//
//   - MariaDB: SET GLOBAL read_only. Accounts with READ ONLY ADMIN (root:
//     ALL PRIVILEGES) can still write; an ordinary user's write fails with
//     1290.
//   - MySQL: on is SET GLOBAL super_read_only = ON (which also sets
//     read_only), so that SUPER accounts cannot write either; off is
//     super_read_only = OFF, then read_only = OFF.
//
// Setting read-only waits for the global read lock (transactions in commit,
// tables locked): the session's lock_wait_timeout is set from ctx's
// deadline, so the server gives up when ctx does.
func (c *Conn) SetReadOnly(ctx context.Context, on bool) error {
	op := "set read-only"
	if !on {
		op = "set writable"
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer conn.Close()
	if err := boundLockWait(ctx, conn); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	for _, q := range c.readOnlyStmts(on) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %s: %w", op, q, err)
		}
	}
	ro, super, err := c.readOnlyState(ctx, conn)
	if err != nil {
		return fmt.Errorf("%s: read back: %w", op, err)
	}
	if ro != on || (c.flavor != MariaDB && super != on) {
		return fmt.Errorf("%s: read back read_only=%s%s", op, onOff(ro), c.superSuffix(super))
	}
	return nil
}

func (c *Conn) readOnlyStmts(on bool) []string {
	switch {
	case c.flavor == MariaDB && on:
		return []string{"SET GLOBAL read_only = ON"}
	case c.flavor == MariaDB:
		return []string{"SET GLOBAL read_only = OFF"}
	case on:
		return []string{"SET GLOBAL super_read_only = ON"}
	}
	return []string{"SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"}
}

func (c *Conn) superSuffix(super bool) string {
	if c.flavor == MariaDB {
		return ""
	}
	return " super_read_only=" + onOff(super)
}

// ReadOnly reports @@GLOBAL.read_only: whether an ordinary account's write
// is refused (1290). On MySQL super_read_only implies it.
func (c *Conn) ReadOnly(ctx context.Context) (bool, error) {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("read read_only: %w", err)
	}
	defer conn.Close()
	ro, _, err := c.readOnlyState(ctx, conn)
	if err != nil {
		return false, fmt.Errorf("read read_only: %w", err)
	}
	return ro, nil
}

// readOnlyState reads read_only and, except on MariaDB, super_read_only.
func (c *Conn) readOnlyState(ctx context.Context, conn *sql.Conn) (ro, super bool, err error) {
	var a, b sql.NullString
	if c.flavor == MariaDB {
		err = conn.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&a)
	} else {
		err = conn.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only").Scan(&a, &b)
	}
	if err != nil {
		return false, false, err
	}
	if ro, err = parseOnOff("read_only", a); err != nil {
		return false, false, err
	}
	if c.flavor != MariaDB {
		if super, err = parseOnOff("super_read_only", b); err != nil {
			return false, false, err
		}
	}
	return ro, super, nil
}

func parseOnOff(name string, v sql.NullString) (bool, error) {
	if !v.Valid {
		return false, fmt.Errorf("%s is NULL", name)
	}
	switch strings.ToUpper(strings.TrimSpace(v.String)) {
	case "1", "ON":
		return true, nil
	case "0", "OFF":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not ON or OFF", name, v.String)
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

// boundLockWait sets the session's lock_wait_timeout (whole seconds, at
// least 1) to what is left of ctx's deadline; without a deadline it leaves
// the server's (a year by default).
func boundLockWait(ctx context.Context, conn *sql.Conn) error {
	dl, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	secs := max(int64(math.Ceil(time.Until(dl).Seconds())), 1)
	if _, err := conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = "+strconv.FormatInt(secs, 10)); err != nil {
		return fmt.Errorf("set lock_wait_timeout: %w", err)
	}
	return nil
}

// ServerID is @@GLOBAL.server_id.
func (c *Conn) ServerID(ctx context.Context) (int64, error) {
	s, err := c.queryString(ctx, "SELECT @@GLOBAL.server_id")
	if err != nil {
		return 0, fmt.Errorf("read server_id: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read server_id: %q is not an integer", s)
	}
	return n, nil
}

// CatchUpError is a candidate that did not apply the primary's position in
// time: it names what the primary has that the candidate lacks.
type CatchUpError struct {
	PrimaryID, CandidateID int64  // server ids (0: unreadable)
	Primary                string // the primary's position waited for
	Applied                string // the candidate's applied position when the wait gave up
	Gap                    string // what Primary has that Applied lacks (see Subtract)
	Behind                 uint64 // how many transactions that is
	Replica                string // the candidate's replication status then, one line
	Timeout                time.Duration
	Err                    error // ctx's error when ctx ended the wait
}

func (e *CatchUpError) Error() string {
	applied := e.Applied
	if applied == "" {
		applied = "nothing"
	}
	s := fmt.Sprintf("wait caught up: candidate (server %d) lacks %s of primary (server %d) at %s after %s: %d transactions behind (applied %s)",
		e.CandidateID, e.Gap, e.PrimaryID, e.Primary, e.Timeout, e.Behind, applied)
	if e.Replica != "" {
		s += "; replica " + e.Replica
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CatchUpError) Unwrap() error { return e.Err }

// WaitCaughtUp waits until candidate has applied the primary's position as
// it is now (MariaDB @@gtid_binlog_pos, MySQL @@gtid_executed), within
// timeout: call it after the primary was made read-only, or the position
// moves on. On timeout (or when ctx ends) it returns a *CatchUpError naming
// the gap.
//
// MariaDB waits on @@gtid_slave_pos (MASTER_GTID_WAIT): what the candidate
// replicated, not what it wrote itself (see [ErrantGTIDs] for that).
func WaitCaughtUp(ctx context.Context, primary, candidate *Conn, timeout time.Duration) error {
	if primary.flavor != candidate.flavor {
		return fmt.Errorf("wait caught up: primary is %s, candidate is %s", primary.flavor, candidate.flavor)
	}
	pos, err := primary.PrimaryPosition(ctx)
	if err != nil {
		return fmt.Errorf("wait caught up: %w", err)
	}
	if pos == "" {
		return nil // the primary has written nothing
	}
	err = candidate.WaitApplied(ctx, pos, timeout)
	var we *WaitError
	if !errors.As(err, &we) {
		if err != nil {
			return fmt.Errorf("wait caught up: %w", err)
		}
		return nil
	}
	// Best effort, also when ctx has ended.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	ce := &CatchUpError{Primary: pos, Applied: we.Applied, Timeout: timeout, Err: we.Err}
	ce.PrimaryID, _ = primary.ServerID(rctx)
	ce.CandidateID, _ = candidate.ServerID(rctx)
	if st, err := candidate.Status(rctx); err == nil {
		ce.Replica = st.String()
	}
	if ce.Gap, ce.Behind, err = gap(candidate.flavor, pos, we.Applied); err != nil {
		ce.Gap = "(unknown: " + err.Error() + ")"
	}
	return ce
}

// Promote makes a caught-up replica the primary: it stops replication,
// refuses if the candidate retrieved transactions it has not applied (the
// reset would discard them; replication is started again), resets the
// replica configuration (MariaDB 10.5.1+ and MySQL 8.0.22+: STOP REPLICA,
// RESET REPLICA ALL; older: STOP SLAVE, RESET SLAVE ALL) and makes it
// writable. It checks afterwards that replication is no longer configured.
// Call [WaitCaughtUp] (and [ErrantGTIDs]) first.
func Promote(ctx context.Context, c *Conn) error {
	if _, err := c.db.ExecContext(ctx, c.stopStmt()); err != nil {
		return fmt.Errorf("promote: %s: %w", c.stopStmt(), err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if st.Configured && st.RetrievedGTID != "" {
		ok, err := Covers(c.flavor, st.ExecutedGTID, st.RetrievedGTID)
		if err != nil {
			return fmt.Errorf("promote: %w", err)
		}
		if !ok {
			unapplied, n, _ := gap(c.flavor, st.RetrievedGTID, st.ExecutedGTID)
			var restart string
			if _, err := c.db.ExecContext(ctx, c.startStmt()); err != nil {
				restart = fmt.Sprintf("; %s failed, replication is stopped: %v", c.startStmt(), err)
			}
			return fmt.Errorf("promote: refused: the candidate retrieved %s but applied only %s (%d transactions, %s, not applied; resetting would discard them)%s",
				st.RetrievedGTID, orNothing(st.ExecutedGTID), n, unapplied, restart)
		}
	}
	reset := c.resetAllStmt()
	if _, err := c.db.ExecContext(ctx, reset); err != nil {
		return fmt.Errorf("promote: %s: %w", reset, err)
	}
	if err := c.SetReadOnly(ctx, false); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	st, err = c.Status(ctx)
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if st.Configured {
		return fmt.Errorf("promote: replication still configured after %s: %s", reset, st)
	}
	return nil
}

func (c *Conn) resetAllStmt() string {
	if c.replicaKeyword() {
		return "RESET REPLICA ALL"
	}
	return "RESET SLAVE ALL"
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// Demote makes a primary a read-only replica of src (the new primary, as
// this server reaches it) with GTID auto-positioning, and starts
// replication; it does not wait for the IO thread (use [WaitIO]).
//
//   - MariaDB: read_only; a primary's own writes are in @@gtid_binlog_pos
//     but not in @@gtid_slave_pos, and MASTER_USE_GTID=slave_pos would ask
//     src for them again, so gtid_slave_pos is first set, per domain, to
//     the later of the two; then CHANGE MASTER TO … MASTER_USE_GTID=slave_pos.
//   - MySQL: super_read_only; CHANGE REPLICATION SOURCE TO …
//     SOURCE_AUTO_POSITION=1 (gtid_executed holds its own writes).
//
// See [Conn.ConfigureReplica] for timings and how the password is kept out
// of errors; src and t are checked before anything changes.
func Demote(ctx context.Context, c *Conn, src Source, t Timings) error {
	if err := src.validate(); err != nil {
		return fmt.Errorf("demote: %w", err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("demote: %w", err)
	}
	if err := c.SetReadOnly(ctx, true); err != nil {
		return fmt.Errorf("demote: %w", err)
	}
	if c.flavor == MariaDB {
		if err := c.alignSlavePos(ctx); err != nil {
			return fmt.Errorf("demote: %w", err)
		}
	}
	if err := c.ConfigureReplica(ctx, src, t); err != nil {
		return fmt.Errorf("demote: %w", err)
	}
	return nil
}

// alignSlavePos stops replication and, when @@gtid_binlog_pos is ahead of
// @@gtid_slave_pos in some domain, sets gtid_slave_pos to the later GTID of
// each domain (MariaDB).
func (c *Conn) alignSlavePos(ctx context.Context) error {
	if _, err := c.db.ExecContext(ctx, c.stopStmt()); err != nil {
		return fmt.Errorf("%s: %w", c.stopStmt(), err)
	}
	binlog, err := c.PrimaryPosition(ctx)
	if err != nil {
		return err
	}
	slave, err := c.AppliedPosition(ctx)
	if err != nil {
		return err
	}
	want, err := laterPerDomain(slave, binlog)
	if err != nil {
		return err
	}
	if want == slave {
		return nil
	}
	q, err := QuoteString(want, false)
	if err != nil {
		return err
	}
	if _, err := c.db.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = "+q); err != nil {
		return fmt.Errorf("set gtid_slave_pos to %s: %w", want, err)
	}
	return nil
}

// laterPerDomain merges MariaDB positions, keeping the GTID with the
// higher sequence number in each domain (a's on a tie); a is returned as
// it was when b adds nothing.
func laterPerDomain(a, b string) (string, error) {
	as, err := parseMariaState(a)
	if err != nil {
		return "", err
	}
	bs, err := parseMariaState(b)
	if err != nil {
		return "", err
	}
	am, bm := maxPerDomain(as), maxPerDomain(bs)
	changed := len(am) != len(as) // a held a domain twice
	for dom, g := range bm {
		if cur, ok := am[dom]; !ok || g.seq > cur.seq {
			am[dom] = g
			changed = true
		}
	}
	if !changed {
		return normalizeGTID(a), nil
	}
	out := make([]mariaGTID, 0, len(am))
	for _, g := range am {
		out = append(out, g)
	}
	return formatMaria(out), nil
}

// Repoint makes an existing replica follow another source with GTID
// auto-positioning: its applied position (MariaDB @@gtid_slave_pos, MySQL
// @@gtid_executed) is where it resumes, so the new source must have every
// transaction after it in its binary log (log_slave_updates on a former
// replica). A server that is not a replica is refused (use [Demote]).
// Check first that the replica has nothing the new source lacks
// ([ErrantGTIDs]).
func Repoint(ctx context.Context, c *Conn, src Source, t Timings) error {
	if err := src.validate(); err != nil {
		return fmt.Errorf("repoint: %w", err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("repoint: %w", err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return fmt.Errorf("repoint: %w", err)
	}
	if !st.Configured {
		return errors.New("repoint: the server is not a replica (replication not configured); a primary is demoted, not repointed")
	}
	if err := c.ConfigureReplica(ctx, src, t); err != nil {
		return fmt.Errorf("repoint: %w", err)
	}
	return nil
}
