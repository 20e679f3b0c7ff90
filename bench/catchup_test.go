package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
	"github.com/drdrill/drdrill/scenarios"
)

// The backlog: catchupRows rows written while the tunnel is down, by
// catchupWriters connections, in transactions of catchupStmtsPerTx
// INSERTs of catchupRowsPerStmt rows each.
const (
	catchupRows        = 100_000
	catchupWriters     = 4
	catchupRowsPerStmt = 500
	catchupStmtsPerTx  = 2
)

// catchupResult is one outage's measurements.
type catchupResult struct {
	rows      int64
	write     time.Duration // writing the backlog on the primary
	reconnect time.Duration // tunnel up → replica IO thread Yes
	catchup   time.Duration // tunnel up → replica applied the primary's GTID position
}

// BenchmarkCatchup100k measures how fast the replica catches up a backlog
// of 100 000 rows written on the primary while the tunnel was down: from
// the tunnel healthy again (recovered in the documented order) to the
// replica having applied the primary's GTID position. That includes the
// reconnect (up to the connect retry), the transfer through the tunnel and
// the apply. Afterwards the replica must hold exactly the rows written (per
// writer count, seq range and content checksum), or the benchmark fails.
// ns/op is the catch-up alone.
func BenchmarkCatchup100k(b *testing.B) {
	be := backend(b, "netns")
	dir := labDir(b)
	b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
	b.StopTimer()
	info := up(b, be, dir)
	env := openEnv(b, info, be)
	b.Cleanup(func() { env.Close() })
	b.Logf("backlog: %d rows by %d connections, transactions of %d INSERTs × %d rows; replica timings %+v",
		catchupRows, catchupWriters, catchupStmtsPerTx, catchupRowsPerStmt, env.Timings)

	var sum catchupResult
	for i := 0; i < b.N; i++ {
		r := catchupOnce(b, env)
		b.Logf("run %d: %d rows written in %s; tunnel up → IO Yes %s, → applied %s (%.0f rows/s)",
			i+1, r.rows, r.write.Round(time.Millisecond), r.reconnect.Round(time.Millisecond),
			r.catchup.Round(time.Millisecond), float64(r.rows)/r.catchup.Seconds())
		sum.rows += r.rows
		sum.write += r.write
		sum.reconnect += r.reconnect
		sum.catchup += r.catchup
	}
	n := float64(b.N)
	b.ReportMetric(float64(sum.rows)/sum.catchup.Seconds(), "rows/s")
	b.ReportMetric(sum.catchup.Seconds()/n, "s-catchup")
	b.ReportMetric(float64(sum.rows)/(sum.catchup-sum.reconnect).Seconds(), "rows/s-from-io-yes")
	b.ReportMetric(sum.reconnect.Seconds()/n, "s-reconnect")
	b.ReportMetric(float64(sum.rows)/sum.write.Seconds(), "rows/s-written")
	b.ReportMetric(float64(sum.rows)/n, "rows")
}

// BenchmarkDrillVPNOutageUnderLoad: the under-load drill's wall time
// against its intrinsic waits (target ≤ 1.1×), as for the seed drill.
func BenchmarkDrillVPNOutageUnderLoad(b *testing.B) {
	benchDrill(b, backend(b, "netns"), "vpn-outage-under-load")
}

// catchupOnce takes the tunnel down, writes the backlog, recovers and
// times the catch-up. The fault is recovered on every path.
func catchupOnce(b *testing.B, env *benchEnv) catchupResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	first, second := env.TunnelSides()

	// A healthy start, with anything from a previous run applied.
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	if err := tunnel.WaitHealthy(wctx, 10*time.Millisecond, first, second); err != nil {
		b.Fatalf("tunnel not healthy before the outage: %v", err)
	}
	if _, err := replica.WaitIO(wctx, env.Replica, harness.ReplicaPoll, replica.IOYes); err != nil {
		b.Fatalf("replica not replicating before the outage: %v", err)
	}
	wcancel()
	pos, err := env.Primary.PrimaryPosition(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := env.Replica.WaitApplied(ctx, pos, 60*time.Second); err != nil {
		b.Fatalf("replica not caught up before the outage: %v", err)
	}

	f, err := fault.New("tunnel-down", env.T, env.Timeline, nil)
	if err != nil {
		b.Fatal(err)
	}
	recovered := false
	defer func() {
		if recovered {
			return
		}
		rctx, rcancel := context.WithTimeout(context.Background(), harness.RecoveryTimeout)
		defer rcancel()
		if err := f.Recover(rctx); err != nil {
			b.Errorf("recover %s: %v", f.Name(), err)
		}
	}()
	if err := f.Inject(ctx); err != nil {
		b.Fatalf("inject %s: %v", f.Name(), err)
	}
	injected := time.Now()

	drillID := workload.NewDrillID()
	start := time.Now()
	if err := writeBacklog(ctx, env.Primary.DB(), drillID); err != nil {
		b.Fatalf("write the backlog: %v", err)
	}
	res := catchupResult{rows: catchupRows, write: time.Since(start)}

	// The backlog exists on the primary and the replica has none of it,
	// and the replica shows the outage (so the catch-up below starts with
	// a reconnect, as in a drill).
	if n, err := countRows(ctx, env.Primary.DB(), drillID); err != nil || n != catchupRows {
		b.Fatalf("primary holds %d rows of the backlog (%v), want %d", n, err, catchupRows)
	}
	if n, err := countRows(ctx, env.Replica.DB(), drillID); err != nil || n != 0 {
		b.Fatalf("replica holds %d rows of the backlog during the outage (%v), want 0: the tunnel was not down", n, err)
	}
	// Within the window the replica's timings give from the injection, or
	// from now when writing took longer than that.
	window := scenarios.OutageEvidenceWindow(env.Timings)
	octx, ocancel := context.WithDeadline(ctx, later(injected.Add(window), time.Now().Add(window/2)))
	_, err = replica.WaitFor(octx, env.Replica, harness.ReplicaPoll, "IO thread not Yes with a last IO error",
		func(s replica.Status) bool { return s.IO != replica.IOYes && s.LastIOErrno != 0 })
	ocancel()
	if err != nil {
		b.Fatalf("replica did not show the outage: %v", err)
	}
	pos, err = env.Primary.PrimaryPosition(ctx)
	if err != nil {
		b.Fatal(err)
	}

	if err := f.Recover(ctx); err != nil {
		b.Fatalf("recover %s: %v", f.Name(), err)
	}
	recovered = true
	upAt := time.Now()
	b.StartTimer()
	var ioYesAt time.Time
	var ioErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		ictx, icancel := context.WithTimeout(ctx, env.Timings.ReconnectWindow())
		defer icancel()
		var st replica.Status
		st, ioErr = replica.WaitIO(ictx, env.Replica, harness.ReplicaPoll, replica.IOYes)
		ioYesAt = st.ObservedAt
	})
	err = env.Replica.WaitApplied(ctx, pos, 4*time.Minute)
	appliedAt := time.Now()
	b.StopTimer()
	wg.Wait()
	if err != nil {
		b.Fatalf("catch-up: %v", err)
	}
	if ioErr != nil {
		b.Fatalf("replica IO thread not Yes after recovery: %v", ioErr)
	}
	res.catchup = appliedAt.Sub(upAt)
	res.reconnect = max(ioYesAt.Sub(upAt), 0)

	// A catch-up that lost or changed rows measures nothing.
	if err := sameRows(ctx, env, drillID); err != nil {
		b.Fatal(err)
	}
	return res
}

// writeBacklog writes catchupRows tagged rows (phase during) as fast as it
// can: catchupWriters connections, each its own writer number with seqs
// 1..n, in multi-row INSERTs grouped in transactions.
func writeBacklog(ctx context.Context, db *sql.DB, drillID string) error {
	const perWriter = catchupRows / catchupWriters
	const perTx = catchupRowsPerStmt * catchupStmtsPerTx
	if catchupRows%catchupWriters != 0 || perWriter%perTx != 0 {
		return fmt.Errorf("backlog shape: %d rows do not split into %d writers × transactions of %d", catchupRows, catchupWriters, perTx)
	}
	stmt := "INSERT INTO " + workload.DefaultTable.String() + " (msg, drill_id, writer, seq, phase) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", catchupRowsPerStmt), ", ")
	errs := make([]error, catchupWriters)
	var wg sync.WaitGroup
	for w := 1; w <= catchupWriters; w++ {
		wg.Go(func() {
			args := make([]any, 0, 5*catchupRowsPerStmt)
			for seq := int64(1); seq <= perWriter; {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					errs[w-1] = fmt.Errorf("writer %d: begin: %w", w, err)
					return
				}
				for range catchupStmtsPerTx {
					args = args[:0]
					for range catchupRowsPerStmt {
						args = append(args, fmt.Sprintf("bulk_w%d_%d", w, seq), drillID, w, seq, string(workload.PhaseDuring))
						seq++
					}
					if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
						_ = tx.Rollback()
						errs[w-1] = fmt.Errorf("writer %d: insert up to seq %d: %w", w, seq-1, err)
						return
					}
				}
				if err := tx.Commit(); err != nil {
					errs[w-1] = fmt.Errorf("writer %d: commit up to seq %d: %w", w, seq-1, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func countRows(ctx context.Context, db *sql.DB, drillID string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+workload.DefaultTable.String()+" WHERE drill_id = ?", drillID).Scan(&n)
	return n, err
}

// writerSummary is one writer's rows on a server.
type writerSummary struct {
	writer         int
	rows           int64
	minSeq, maxSeq int64
	crc            int64 // sum of CRC32 over (id, msg, writer, seq, phase)
}

func summarize(ctx context.Context, db *sql.DB, drillID string) ([]writerSummary, error) {
	rows, err := db.QueryContext(ctx, `SELECT writer, COUNT(*), MIN(seq), MAX(seq),
		SUM(CRC32(CONCAT_WS(',', id, msg, writer, seq, phase))) FROM `+workload.DefaultTable.String()+`
		WHERE drill_id = ? GROUP BY writer ORDER BY writer`, drillID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []writerSummary
	for rows.Next() {
		var s writerSummary
		if err := rows.Scan(&s.writer, &s.rows, &s.minSeq, &s.maxSeq, &s.crc); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// sameRows checks that the primary holds exactly the rows written (each
// writer seqs 1..n, no gap: the unique key rules out duplicates) and that
// the replica holds the same rows with the same content.
func sameRows(ctx context.Context, env *benchEnv, drillID string) error {
	p, err := summarize(ctx, env.Primary.DB(), drillID)
	if err != nil {
		return fmt.Errorf("summarize the primary: %w", err)
	}
	r, err := summarize(ctx, env.Replica.DB(), drillID)
	if err != nil {
		return fmt.Errorf("summarize the replica: %w", err)
	}
	const perWriter = catchupRows / catchupWriters
	if len(p) != catchupWriters {
		return fmt.Errorf("primary has rows of %d writers, want %d", len(p), catchupWriters)
	}
	for i, s := range p {
		if s.writer != i+1 || s.rows != perWriter || s.minSeq != 1 || s.maxSeq != perWriter {
			return fmt.Errorf("primary writer %d: %d rows, seq %d..%d; want %d rows, seq 1..%d", s.writer, s.rows, s.minSeq, s.maxSeq, perWriter, perWriter)
		}
	}
	if len(r) != len(p) {
		return fmt.Errorf("replica has rows of %d writers after catch-up, primary %d", len(r), len(p))
	}
	for i := range p {
		if r[i] != p[i] {
			return fmt.Errorf("after catch-up the replica differs from the primary: writer %d: replica %d rows seq %d..%d crc %d, primary %d rows seq %d..%d crc %d",
				p[i].writer, r[i].rows, r[i].minSeq, r[i].maxSeq, r[i].crc, p[i].rows, p[i].minSeq, p[i].maxSeq, p[i].crc)
		}
	}
	return nil
}
