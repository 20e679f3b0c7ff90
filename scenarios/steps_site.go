package scenarios

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/workload"
)

// heartbeatTable is the lag measurement's table, in the drill table's
// database: one row, its seq bumped on the primary every interval.
// (Not "heartbeat": that is pt-heartbeat's.)
const heartbeatTable = "drdrill_heartbeat"

// lagSample is one reading of the replica's heartbeat.
type lagSample struct {
	At  time.Time
	Seq int64
	Lag time.Duration
}

// heartbeat measures replication lag without trusting either server's
// clock: the writer bumps seq on the primary every interval and notes when
// each bump was acknowledged (this machine's monotonic clock); the reader
// reads seq on the replica every interval. The lag at an instant is how
// long the oldest bump the replica lacks had been acknowledged: the age of
// the oldest write it would lose. Resolution: the interval.
type heartbeat struct {
	table         string
	every         time.Duration
	primary, repl *sql.DB

	mu      sync.Mutex
	acks    map[int64]time.Time
	samples []lagSample
	stopW   context.CancelFunc
	stopR   context.CancelFunc
	wg      sync.WaitGroup
	wgR     sync.WaitGroup
}

func newHeartbeat(ctx context.Context, t workload.TableName, every time.Duration, primary, repl *sql.DB) (*heartbeat, error) {
	tbl := "`" + t.Database + "`.`" + heartbeatTable + "`"
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS " + tbl + " (id TINYINT PRIMARY KEY, seq BIGINT NOT NULL, ts TIMESTAMP(6) NOT NULL) ENGINE=InnoDB",
		"REPLACE INTO " + tbl + " VALUES (1, 0, NOW(6))",
	} {
		if _, err := primary.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("heartbeat table %s: %w", tbl, err)
		}
	}
	return &heartbeat{table: tbl, every: every, primary: primary, repl: repl, acks: map[int64]time.Time{}}, nil
}

// start runs the writer and the reader until stopWriter / stopReader.
func (h *heartbeat) start(ctx context.Context) {
	wctx, cw := context.WithCancel(context.WithoutCancel(ctx))
	rctx, cr := context.WithCancel(context.WithoutCancel(ctx))
	h.stopW, h.stopR = cw, cr
	h.wg.Go(func() {
		tk := time.NewTicker(h.every)
		defer tk.Stop()
		for seq := int64(1); ; seq++ {
			select {
			case <-wctx.Done():
				return
			case <-tk.C:
			}
			// A frozen primary holds the statement: bounded, never retried.
			sctx, cancel := context.WithTimeout(wctx, time.Second)
			_, err := h.primary.ExecContext(sctx, "UPDATE "+h.table+" SET seq = ?, ts = NOW(6) WHERE id = 1", seq)
			cancel()
			if err == nil {
				h.mu.Lock()
				h.acks[seq] = time.Now()
				h.mu.Unlock()
			}
		}
	})
	h.wgR.Go(func() {
		tk := time.NewTicker(h.every)
		defer tk.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-tk.C:
			}
			sctx, cancel := context.WithTimeout(rctx, time.Second)
			seq, err := h.read(sctx)
			cancel()
			if err != nil {
				continue
			}
			now := time.Now()
			h.mu.Lock()
			h.samples = append(h.samples, lagSample{At: now, Seq: seq, Lag: h.lagLocked(seq, now)})
			h.mu.Unlock()
		}
	})
}

func (h *heartbeat) read(ctx context.Context) (int64, error) {
	var seq int64
	err := h.repl.QueryRowContext(ctx, "SELECT seq FROM "+h.table+" WHERE id = 1").Scan(&seq)
	return seq, err
}

// lagLocked is the lag at instant at of a replica holding seq: how long
// the oldest bump after seq acknowledged by then had been acknowledged.
func (h *heartbeat) lagLocked(seq int64, at time.Time) time.Duration {
	var oldest time.Time
	for s, t := range h.acks {
		if s > seq && !t.After(at) && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return at.Sub(oldest)
}

// lagAt is the lag at instant at of a replica that holds seq.
func (h *heartbeat) lagAt(seq int64, at time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lagLocked(seq, at)
}

func (h *heartbeat) stopWriter() {
	if h != nil && h.stopW != nil {
		h.stopW()
		h.wg.Wait()
	}
}

func (h *heartbeat) stopReader() {
	if h != nil && h.stopR != nil {
		h.stopR()
		h.wgR.Wait()
	}
}

// lastLag is the newest sample's lag (-1 without a sample).
func (h *heartbeat) lastLag() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) == 0 {
		return -1
	}
	return h.samples[len(h.samples)-1].Lag
}

// stats are the median and maximum lag of the samples taken before until,
// and the last of them (-1s without samples).
func (h *heartbeat) stats(until time.Time) (p50, maxLag, last time.Duration, n int) {
	h.mu.Lock()
	var lags []time.Duration
	last = -1
	for _, s := range h.samples {
		if s.At.Before(until) {
			lags = append(lags, s.Lag)
			last = s.Lag
		}
	}
	h.mu.Unlock()
	if len(lags) == 0 {
		return -1, -1, -1, 0
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	return lags[len(lags)/2], lags[len(lags)-1], last, len(lags)
}

// randomSecret is a password a drill makes for itself (hex, 32 chars).
func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// replicaAddr is the replica's address as the primary sees it: the host of
// the primary's binlog dump thread serving user (the replica's
// Master_User). It refuses to guess between several.
func replicaAddr(ctx context.Context, primary *replica.Conn, user string) (string, error) {
	rows, err := primary.DB().QueryContext(ctx, "SELECT HOST FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ?", user)
	if err != nil {
		return "", fmt.Errorf("read the primary's binlog dump threads: %w", err)
	}
	defer rows.Close()
	var hosts []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return "", err
		}
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		hosts = append(hosts, h)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch len(hosts) {
	case 0:
		return "", fmt.Errorf("the primary serves no binlog dump to %s: the replica is not connected", user)
	case 1:
		if net.ParseIP(hosts[0]) == nil {
			return "", fmt.Errorf("the replica connects from %q, not an IP address", hosts[0])
		}
		return hosts[0], nil
	}
	return "", fmt.Errorf("the primary serves %d replicas as %s (%s): cannot tell which is the other site's", len(hosts), user, strings.Join(hosts, ", "))
}

// fence probes the old primary right before a promotion: from drdrill's
// own connection (does it answer, is it writable) and from the
// candidate's db host over the network clients use (mariadb-admin ping:
// 0 whenever a server answers, even "Access denied").
func (s *siteDrill) fence(ctx context.Context, peer <-chan peerProbe) check.Fence {
	f := check.Fence{Old: s.oldName, Candidate: s.newName}
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	ro, err := s.Primary.DB.ReadOnly(pctx)
	cancel()
	if err == nil {
		f.Answered, f.Writable = true, !ro
	} else {
		f.AnswerErr = err.Error()
	}
	if peer != nil {
		p := <-peer
		f.PeerProbed, f.PeerReached, f.PeerDetail = p.probed, p.reached, p.detail
	}
	return f
}

type peerProbe struct {
	probed, reached bool
	detail          string
}

// probePeer runs mariadb-admin ping on the candidate's db host against the
// old primary's address (1 s connect timeout), in the background.
func (s *siteDrill) probePeer(ctx context.Context) <-chan peerProbe {
	ch := make(chan peerProbe, 1)
	go func() {
		argv := []string{"mariadb-admin", "--no-defaults", "--connect-timeout=1", "--protocol=TCP",
			"-h", s.oldAddr, "-P", strconv.Itoa(s.oldPort), "-u", "drdrill_probe", "ping"}
		out, err := s.exec.Exec(ctx, target.Host{Site: s.Replica.Name, Kind: target.DBHost}, argv...)
		detail := strings.TrimSpace(string(out))
		if err != nil && detail == "" {
			detail = err.Error()
		}
		if i := strings.IndexByte(detail, '\n'); i >= 0 {
			detail = detail[:i]
		}
		ch <- peerProbe{probed: true, reached: err == nil, detail: detail}
	}()
	return ch
}

// waitRelayApplied waits until the candidate has applied what it had
// retrieved (the runbook's "let the relay log drain" before STOP REPLICA).
func waitRelayApplied(ctx context.Context, c *replica.Conn, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := replica.WaitFor(wctx, c, harness.ReplicaPoll, "the relay log applied (executed GTIDs cover retrieved ones)", func(st replica.Status) bool {
		if st.RetrievedGTID == "" {
			return true
		}
		ok, err := replica.Covers(c.Flavor(), st.ExecutedGTID, st.RetrievedGTID)
		return err == nil && ok
	})
	return err
}

// dumpAccount makes a dump account on the promoted server for the
// rebuild, not binlogged (it never replicates and is no errant GTID); the
// returned drop removes it the same way.
func dumpAccount(ctx context.Context, c *replica.Conn, user, pw string) (drop func(context.Context) error, err error) {
	q, err := replica.QuoteString(pw, false)
	if err != nil {
		return nil, err
	}
	run := func(ctx context.Context, stmts ...string) error {
		conn, err := c.DB().Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION sql_log_bin = 1") // the session goes back to the pool
		for _, s := range stmts {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return replica.Redact(fmt.Errorf("%s: %w", strings.SplitN(s, " IDENTIFIED", 2)[0], err), pw)
			}
		}
		return nil
	}
	if err := run(ctx, "CREATE USER IF NOT EXISTS "+user+"@'%' IDENTIFIED BY "+q,
		"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, BINLOG MONITOR ON *.* TO "+user+"@'%'"); err != nil {
		return nil, fmt.Errorf("dump account: %w", err)
	}
	return func(ctx context.Context) error { return run(ctx, "DROP USER IF EXISTS "+user+"@'%'") }, nil
}

// rowsOn reads the drill's rows on each server.
func rowsOn(ctx context.Context, env *harness.Env, servers map[string]*replica.Conn) (map[string][]workload.Row, map[string]int64, error) {
	rows := map[string][]workload.Row{}
	sums := map[string]int64{}
	for name, c := range servers {
		r, err := workload.ReadBack(ctx, c.DB(), env.Workload.Table, env.Workload.DrillID)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		rows[name] = r
		if sums[name], err = c.ChecksumTable(ctx, env.Workload.Table.String()); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return rows, sums, nil
}

var errNoAccount = errors.New("the target does not hand out its replication account (target.ReplicationAccounter): the returned site cannot be rebuilt and pointed back")
