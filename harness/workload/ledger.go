package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
)

// Entry is one acknowledged write.
type Entry struct {
	Writer int       `json:"writer"`
	Seq    int64     `json:"seq"`
	Phase  Phase     `json:"phase"`
	Msg    string    `json:"msg"`
	ID     int64     `json:"id"` // LastInsertId, or the id read back for a late one
	SentAt time.Time `json:"sent_at"`
	AckAt  time.Time `json:"ack_at"`
	// Late marks a write whose outcome was unknown and that ResolveUnknown
	// found on the primary afterwards.
	Late bool `json:"late,omitempty"`
}

// Attempt is a write that was not acknowledged: failed or of unknown outcome.
type Attempt struct {
	Writer int       `json:"writer"`
	Seq    int64     `json:"seq"`
	Phase  Phase     `json:"phase"`
	Msg    string    `json:"msg"`
	SentAt time.Time `json:"sent_at"`
	At     time.Time `json:"at"` // when the outcome (or its absence) was recorded
	// Sent is false when the statement never left the client (no connection).
	Sent bool `json:"sent"`
	// ConnID is the server thread that ran the statement (0 = not known);
	// ResolveUnknown waits for it to finish before reading.
	ConnID int64  `json:"conn_id,omitempty"`
	Errno  int    `json:"errno,omitempty"` // server error number of a rejected write
	Err    string `json:"error"`
}

// Summary counts a ledger's writes.
type Summary struct {
	Acked        int           `json:"acked"`
	AckedByPhase map[Phase]int `json:"acked_by_phase"`
	Late         int           `json:"late"`        // acknowledged by ResolveUnknown
	Failed       int           `json:"failed"`      // rejected or never sent
	Unknown      int           `json:"unknown"`     // still unresolved
	NotWritten   int           `json:"not_written"` // unknown, resolved as absent
}

// Ledger is the record of one drill's writes. It is safe for concurrent use.
type Ledger struct {
	drillID string
	table   TableName

	mu         sync.Mutex
	acked      []Entry
	unknown    []Attempt
	failed     []Attempt
	notWritten []Attempt
}

// NewLedger returns an empty ledger for drillID.
func NewLedger(drillID string) *Ledger { return &Ledger{drillID: drillID, table: DefaultTable} }

// DrillID is the drill the ledger belongs to.
func (l *Ledger) DrillID() string { return l.drillID }

// Ack records an acknowledged write.
func (l *Ledger) Ack(e Entry) {
	l.mu.Lock()
	l.acked = append(l.acked, e)
	l.mu.Unlock()
}

// AddUnknown records a write whose outcome is unknown.
func (l *Ledger) AddUnknown(a Attempt) {
	l.mu.Lock()
	l.unknown = append(l.unknown, a)
	l.mu.Unlock()
}

// AddFailed records a write that definitely did not happen.
func (l *Ledger) AddFailed(a Attempt) {
	l.mu.Lock()
	l.failed = append(l.failed, a)
	l.mu.Unlock()
}

// Entries returns the acknowledged writes ordered by (writer, seq).
func (l *Ledger) Entries() []Entry {
	l.mu.Lock()
	out := append([]Entry(nil), l.acked...)
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return less(out[i].Writer, out[i].Seq, out[j].Writer, out[j].Seq) })
	return out
}

// Unknown returns the writes whose outcome is still unknown.
func (l *Ledger) Unknown() []Attempt { return l.copyAttempts(&l.unknown) }

// Failed returns the writes that were rejected or never sent.
func (l *Ledger) Failed() []Attempt { return l.copyAttempts(&l.failed) }

// NotWritten returns the unknown writes that ResolveUnknown found absent.
func (l *Ledger) NotWritten() []Attempt { return l.copyAttempts(&l.notWritten) }

func (l *Ledger) copyAttempts(p *[]Attempt) []Attempt {
	l.mu.Lock()
	out := append([]Attempt(nil), (*p)...)
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return less(out[i].Writer, out[i].Seq, out[j].Writer, out[j].Seq) })
	return out
}

// Summary counts the ledger.
func (l *Ledger) Summary() Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Summary{Acked: len(l.acked), AckedByPhase: map[Phase]int{}, Failed: len(l.failed),
		Unknown: len(l.unknown), NotWritten: len(l.notWritten)}
	for _, e := range l.acked {
		s.AckedByPhase[e.Phase]++
		if e.Late {
			s.Late++
		}
	}
	return s
}

// Resolution is what one ResolveUnknown call settled.
type Resolution struct {
	Late       int `json:"late"`        // found on the primary: now acknowledged
	NotWritten int `json:"not_written"` // absent: definitely not written
	Pending    int `json:"pending"`     // still unknown (ctx ended or a read failed)
}

// ResolveUnknown settles unknown writes by reading the primary (the server
// the writes were sent to) by (drill_id, writer, seq): a row found moves into
// the ledger flagged Late, a row absent moves to NotWritten. Before reading,
// it waits until the server thread that ran the write has finished (gone
// from the processlist or idle), so a statement still executing on the
// server is not declared absent. The reading user needs to see that thread:
// the same user as the writer, or the PROCESS privilege.
// Call it after the writers have stopped.
func (l *Ledger) ResolveUnknown(ctx context.Context, primary *sql.DB) (Resolution, error) {
	pending := l.Unknown()
	var res Resolution
	var errs []error
	waited := map[int64]error{}
	for _, a := range pending {
		if a.ConnID != 0 {
			err, ok := waited[a.ConnID]
			if !ok {
				err = waitThreadIdle(ctx, primary, a.ConnID)
				waited[a.ConnID] = err
			}
			if err != nil {
				res.Pending++
				errs = append(errs, fmt.Errorf("resolve writer %d seq %d: %w", a.Writer, a.Seq, err))
				continue
			}
		}
		var id int64
		err := primary.QueryRowContext(ctx, `SELECT id FROM `+l.table.String()+` WHERE drill_id = ? AND writer = ? AND seq = ?`,
			l.drillID, a.Writer, a.Seq).Scan(&id)
		switch {
		case err == nil:
			l.settle(a, &Entry{Writer: a.Writer, Seq: a.Seq, Phase: a.Phase, Msg: a.Msg, ID: id,
				SentAt: a.SentAt, AckAt: time.Now(), Late: true})
			res.Late++
		case errors.Is(err, sql.ErrNoRows):
			l.settle(a, nil)
			res.NotWritten++
		default:
			res.Pending++
			errs = append(errs, fmt.Errorf("resolve writer %d seq %d: %w", a.Writer, a.Seq, err))
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("resolve unknown writes: %d still unknown: %w", res.Pending, errors.Join(errs...))
	}
	return res, nil
}

// settle moves a from unknown to acked (e != nil) or to notWritten.
func (l *Ledger) settle(a Attempt, e *Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, u := range l.unknown {
		if u.Writer == a.Writer && u.Seq == a.Seq {
			l.unknown = append(l.unknown[:i], l.unknown[i+1:]...)
			break
		}
	}
	if e != nil {
		l.acked = append(l.acked, *e)
		return
	}
	a.At = time.Now()
	l.notWritten = append(l.notWritten, a)
}

// waitThreadIdle polls the processlist until thread id is gone or idle
// ("Sleep": its last statement finished; autocommit has committed it).
func waitThreadIdle(ctx context.Context, db *sql.DB, id int64) error {
	return poll.Until(ctx, fmt.Sprintf("server thread %d to finish its statement", id), 20*time.Millisecond, 0, func(ctx context.Context) (bool, string, error) {
		var cmd string
		err := db.QueryRowContext(ctx, `SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = ?`, id).Scan(&cmd)
		switch {
		case errors.Is(err, sql.ErrNoRows), err == nil && cmd == "Sleep":
			return true, "", nil
		case err != nil && ctx.Err() != nil:
			return false, "", ctx.Err() // the wait ended mid-read: a timeout, with what was seen before
		case err != nil:
			return false, "", fmt.Errorf("read processlist: %w", err)
		}
		return false, "COMMAND " + cmd, nil
	})
}

func less(w1 int, s1 int64, w2 int, s2 int64) bool {
	if w1 != w2 {
		return w1 < w2
	}
	return s1 < s2
}
