package workload

import (
	"context"
	"crypto/rand"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/drdrill/drdrill/harness/timeline"
)

// Phase is where in the drill a write happened.
type Phase string

const (
	PhaseBefore Phase = "before" // before the fault
	PhaseDuring Phase = "during" // while the fault is in place
	PhaseAfter  Phase = "after"  // after recovery
)

// The seed's messages (DR PoC, section 8).
const (
	MsgBefore = "replication_test_1"
	MsgDuring = "replication_test_while_vpn_down"
	MsgAfter  = "replication_test_after_recovery"
)

// Schema is the DDL of the ping table (harness/workload/schema.sql; an
// identical copy lives in fixtures/schema.sql).
//
//go:embed schema.sql
var Schema string

// Source is the timeline source of workload events.
const Source = "workload"

// NewDrillID returns a random drill id, "d-" followed by 12 hex digits.
func NewDrillID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return "d-" + hex.EncodeToString(b[:])
}

// Workload is one drill's writers and their shared ledger. Writer 0 is the
// Pinger; each Steady writer takes the next free writer numbers.
type Workload struct {
	DrillID string
	Ledger  *Ledger
	Pinger  *Pinger
	// Table is where the rows go (DefaultTable unless SetTable).
	Table TableName

	mu         sync.Mutex
	nextWriter int
	tl         *timeline.Timeline
}

// New starts a workload for drillID; an empty drillID gets NewDrillID().
func New(drillID string) *Workload {
	if drillID == "" {
		drillID = NewDrillID()
	}
	w := &Workload{DrillID: drillID, Ledger: NewLedger(drillID), Table: DefaultTable, nextWriter: 1}
	w.Pinger = &Pinger{w: w, Timeout: DefaultTimeout}
	return w
}

// SetTable makes every writer use t. Call it before writing.
func (w *Workload) SetTable(t TableName) {
	w.Table = t
	w.Ledger.table = t
}

// SetTimeline makes the writers record phase changes, pings and summaries
// (kind "write") on tl. Call it before writing.
func (w *Workload) SetTimeline(tl *timeline.Timeline) {
	w.mu.Lock()
	w.tl = tl
	w.mu.Unlock()
}

// Ping is w.Pinger.Ping.
func (w *Workload) Ping(ctx context.Context, db *sql.DB, phase Phase, msg string) (Entry, error) {
	return w.Pinger.Ping(ctx, db, phase, msg)
}

func (w *Workload) note(detail map[string]any) {
	w.mu.Lock()
	tl := w.tl
	w.mu.Unlock()
	if tl != nil {
		tl.Add(Source, timeline.KindWrite, detail)
	}
}

// TakeWriters reserves n writer numbers for writers outside this package
// (clients) and returns the first.
func (w *Workload) TakeWriters(n int) int { return w.takeWriters(n) }

func (w *Workload) takeWriters(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	first := w.nextWriter
	w.nextWriter += n
	return first
}

// ApplySchema creates the ping table if needed and verifies that an existing
// table has the drill columns (a seed-era table without them is an error).
// An existing table is never altered: one made by an older drdrill, with
// NOT NULL tags, is accepted (drills work on it) but the seed's untagged
// INSERT by hand collides there from the second row on
// (docs/findings.md#ping-tags-nullable says what to do).
func ApplySchema(ctx context.Context, db *sql.DB) error { return EnsureTable(ctx, db, DefaultTable) }

// EnsureTable is ApplySchema for any table name: created (with its
// database) when absent, verified and never altered when present.
func EnsureTable(ctx context.Context, db *sql.DB, t TableName) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("apply schema: %w", err)
	}
	for _, stmt := range statements(schemaFor(t)) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("apply schema: %w", err)
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, t.Database, t.Table)
	if err != nil {
		return fmt.Errorf("read ping columns: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return fmt.Errorf("read ping columns: %w", err)
		}
		have[strings.ToLower(c)] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read ping columns: %w", err)
	}
	var missing []string
	for _, c := range []string{"id", "msg", "drill_id", "seq", "phase", "writer"} {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("apply schema: %s exists without columns %s (a seed-era table?)", t.Plain(), strings.Join(missing, ", "))
	}
	return nil
}

// statements splits s into statements, dropping "--" comment lines.
func statements(s string) []string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var out []string
	for _, st := range strings.Split(b.String(), ";") {
		if st = strings.TrimSpace(st); st != "" {
			out = append(out, st)
		}
	}
	return out
}
