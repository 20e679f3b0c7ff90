package workload

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DefaultTimeout bounds one statement, so a dead network cannot block a
// writer forever.
const DefaultTimeout = 2 * time.Second

// ErrOutcomeUnknown marks a write that may or may not have been committed:
// the connection failed or timed out after the statement was sent.
var ErrOutcomeUnknown = errors.New("write outcome unknown")

type outcome int

const (
	acked outcome = iota
	failed
	unknown
)

func (o outcome) String() string {
	return [...]string{"acked", "failed", "unknown"}[o]
}

// classify sorts a write's error into an outcome. A server error reply is
// definite (the statement was rolled back); driver.ErrBadConn and
// sql.ErrConnDone mean nothing was sent; anything else (timeout, cancelled
// context, broken connection) may have happened after the server got it.
func classify(err error) (o outcome, sent bool, errno int) {
	var me *mysql.MySQLError
	switch {
	case err == nil:
		return acked, true, 0
	case errors.As(err, &me):
		return failed, true, int(me.Number)
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return failed, false, 0
	default:
		return unknown, true, 0
	}
}

// wconn is one writer connection with its server thread id and statement.
type wconn struct {
	c    *sql.Conn
	id   int64
	stmt *sql.Stmt
}

func openConn(ctx context.Context, db *sql.DB, t TableName) (*wconn, error) {
	// A pooled connection may have died while idle (a server restart, an
	// SSH transport reconnected under it): the driver says ErrBadConn on
	// its first use, or ErrInvalidConn when the transport breaks during
	// the connection's probe; nothing was written yet, so the connection
	// is discarded and another taken. A few tries: every idle connection
	// of a pool can be dead at once.
	var err error
	for range 4 {
		var w *wconn
		if w, err = tryOpenConn(ctx, db, t); !errors.Is(err, driver.ErrBadConn) && !errors.Is(err, mysql.ErrInvalidConn) {
			return w, err
		}
	}
	return nil, err
}

func tryOpenConn(ctx context.Context, db *sql.DB, t TableName) (*wconn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open connection: %w", err)
	}
	w := &wconn{c: c}
	if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&w.id); err != nil {
		w.close(true)
		return nil, fmt.Errorf("read connection id: %w", err)
	}
	if w.stmt, err = c.PrepareContext(ctx, insertSQL(t)); err != nil {
		w.close(true)
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	return w, nil
}

// close returns the connection to the pool, or discards it when bad.
func (w *wconn) close(bad bool) {
	if w.stmt != nil {
		_ = w.stmt.Close()
	}
	if bad {
		// Returning ErrBadConn from Raw makes database/sql discard it.
		_ = w.c.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = w.c.Close()
}

// insert runs one tagged insert on c and records the outcome in the ledger.
// A nil c means no connection could be had: the write was never sent.
func (w *Workload) insert(ctx context.Context, c *wconn, connErr error, writer int, seq int64, phase Phase, msg string) (Entry, outcome, error) {
	sent := time.Now()
	a := Attempt{Writer: writer, Seq: seq, Phase: phase, Msg: msg, SentAt: sent}
	if c == nil {
		a.At, a.Err = sent, connErr.Error()
		w.Ledger.AddFailed(a)
		return Entry{}, failed, connErr
	}
	a.ConnID = c.id
	res, err := c.stmt.ExecContext(ctx, msg, w.DrillID, writer, seq, string(phase))
	var id int64
	if err == nil {
		if id, err = res.LastInsertId(); err != nil {
			err = fmt.Errorf("read insert id: %w", err)
		}
	}
	o, wasSent, errno := classify(err)
	now := time.Now()
	switch o {
	case acked:
		e := Entry{Writer: writer, Seq: seq, Phase: phase, Msg: msg, ID: id, SentAt: sent, AckAt: now}
		w.Ledger.Ack(e)
		return e, acked, nil
	case failed:
		a.At, a.Sent, a.Errno, a.Err = now, wasSent, errno, err.Error()
		w.Ledger.AddFailed(a)
		return Entry{}, failed, err
	default:
		a.At, a.Err = now, err.Error()
		w.Ledger.AddUnknown(a)
		return Entry{}, unknown, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
}
