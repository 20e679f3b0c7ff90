package workload

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// Pinger makes the seed's single-row writes as writer 0.
type Pinger struct {
	// Timeout bounds each ping (connection, insert); DefaultTimeout by default.
	Timeout time.Duration

	w   *Workload
	mu  sync.Mutex
	seq int64
}

// Ping inserts one row tagged (drill id, writer 0, next seq, phase) on db.
// Only an acknowledged row enters the ledger; a rejected one is recorded as
// failed, and one whose outcome is unknown as unknown (the error then wraps
// ErrOutcomeUnknown). Every attempt takes a new seq.
func (p *Pinger) Ping(ctx context.Context, db *sql.DB, phase Phase, msg string) (Entry, error) {
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.mu.Unlock()

	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	c, connErr := openConn(ctx, db, p.w.Table)
	e, o, err := p.w.insert(ctx, c, connErr, 0, seq, phase, msg)
	if c != nil {
		c.close(o == unknown)
	}
	detail := map[string]any{"writer": 0, "seq": seq, "phase": string(phase), "msg": msg, "result": o.String()}
	if err != nil {
		detail["error"] = err.Error()
	} else {
		detail["id"] = e.ID
	}
	p.w.note(detail)
	if err != nil {
		return e, fmt.Errorf("insert ping seq %d: %w", seq, err)
	}
	return e, nil
}
