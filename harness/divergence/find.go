package divergence

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/drdrill/drdrill/harness/atomicfile"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/workload"
)

// Options say where the lost writes are and what to check them against.
type Options struct {
	// Old is the returned old primary; Promoted the server promoted in
	// its place. Names are how the verdict calls them ("aws-db").
	Old, Promoted         *replica.Conn
	OldName, PromotedName string
	// OldHost is the old primary's db host, where mariadb-binlog reads
	// its binlog files through Exec.
	OldHost target.Host
	Exec    target.HostExec
	// Table is the drill table (its rows carry drill_id, writer, seq);
	// Ledger its acknowledged writes, DrillID its drill ("" matches any).
	Table   workload.TableName
	Ledger  []workload.Entry
	DrillID string
}

// LostWrite is one row change the promoted server never received.
type LostWrite struct {
	GTID  string            `json:"gtid"`
	Op    string            `json:"op"`    // insert, update, delete
	Table string            `json:"table"` // db.table
	PK    map[string]string `json:"pk"`
	// Row is the row as the old primary has it (the after image; the
	// before image of a delete), by column name.
	Row map[string]string `json:"row"`
	// Ledger is the acknowledged write this row is (drill table only).
	Ledger       *workload.Entry `json:"ledger,omitempty"`
	Acknowledged bool            `json:"acknowledged"`
}

// Report is what Find found.
type Report struct {
	Old, Promoted string
	// GTIDs are the lost transactions, in binlog order.
	GTIDs  []GTID
	Writes []LostWrite
	// Statements are lost transactions without row images (DDL, or
	// statement format): their tables are known, not their rows.
	Statements []string
}

// Lost is the lost transactions as ranges ("0-1-120..0-1-136").
func (r Report) Lost() string { return FormatRanges(r.GTIDs) }

// Acknowledged counts lost rows a client was told had committed.
func (r Report) Acknowledged() int {
	n := 0
	for _, w := range r.Writes {
		if w.Acknowledged {
			n++
		}
	}
	return n
}

// Err is the check-ready verdict: nil when nothing was lost, else
// "aws-db holds 17 transactions onprem-db lacks (0-1-120..0-1-136): 17
// rows, 17 acknowledged".
func (r Report) Err() error {
	if len(r.GTIDs) == 0 {
		return nil
	}
	return fmt.Errorf("%s holds %d transactions %s lacks (%s): %d rows, %d acknowledged",
		r.Old, len(r.GTIDs), r.Promoted, r.Lost(), len(r.Writes), r.Acknowledged())
}

// Find lists the transactions and rows the old primary holds that the
// promoted server lacks (see the package doc for how).
func Find(ctx context.Context, o Options) (Report, error) {
	r := Report{Old: o.OldName, Promoted: o.PromotedName}
	if o.Old == nil || o.Promoted == nil || o.Exec == nil {
		return r, errors.New("divergence: Old, Promoted and Exec are required")
	}
	if o.Old.Flavor() != replica.MariaDB || o.Promoted.Flavor() != replica.MariaDB {
		return r, errors.New("divergence: only MariaDB (GTID domain-server-seq) is supported")
	}
	var oldState, logBin, basename, format string
	if err := o.Old.DB().QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_state, @@GLOBAL.log_bin, @@GLOBAL.log_bin_basename, @@GLOBAL.binlog_format").
		Scan(&oldState, &logBin, &basename, &format); err != nil {
		return r, fmt.Errorf("divergence: read %s's binlog settings: %w", o.OldName, err)
	}
	if logBin != "1" && !strings.EqualFold(logBin, "ON") {
		return r, fmt.Errorf("divergence: %s has no binary log: its writes cannot be traced", o.OldName)
	}
	var pState, pSlave string
	if err := o.Promoted.DB().QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_state, @@GLOBAL.gtid_slave_pos").Scan(&pState, &pSlave); err != nil {
		return r, fmt.Errorf("divergence: read %s's position: %w", o.PromotedName, err)
	}
	have, err := ParseHave(pState, pSlave)
	if err != nil {
		return r, fmt.Errorf("divergence: %s's position: %w", o.PromotedName, err)
	}
	oldHave, err := ParseHave(oldState)
	if err != nil {
		return r, fmt.Errorf("divergence: %s's binlog state: %w", o.OldName, err)
	}
	anyLost := false
	for k, n := range oldHave {
		if have.Lacks(GTID{k.domain, k.server, n}) {
			anyLost = true
		}
	}
	if !anyLost {
		return r, nil
	}
	files, err := binlogFiles(ctx, o.Old)
	if err != nil {
		return r, fmt.Errorf("divergence: %s: %w", o.OldName, err)
	}
	var lost []Txn
	for _, f := range files {
		evs, err := binlogEvents(ctx, o.Old, f)
		if err != nil {
			return r, fmt.Errorf("divergence: %s: %w", o.OldName, err)
		}
		txns, err := Transactions(evs)
		if err != nil {
			return r, fmt.Errorf("divergence: %s: %w", o.OldName, err)
		}
		for _, t := range txns {
			if have.Lacks(t.GTID) {
				lost = append(lost, t)
			}
		}
	}
	for _, t := range lost {
		r.GTIDs = append(r.GTIDs, t.GTID)
	}
	if strings.ToUpper(format) != "ROW" {
		// Statement or mixed format: rows are not in the binlog.
		for _, t := range lost {
			r.Statements = append(r.Statements, t.GTID.String()+" "+strings.Join(t.Tables, ","))
		}
		return r, nil
	}
	rows, err := decodeRows(ctx, o, filepath.Dir(basename), lost)
	if err != nil {
		return r, fmt.Errorf("divergence: %s: %w", o.OldName, err)
	}
	seen := map[GTID]bool{}
	for _, rc := range rows {
		seen[rc.GTID] = true
	}
	for _, t := range lost {
		if !seen[t.GTID] {
			r.Statements = append(r.Statements, t.GTID.String()+" "+strings.Join(t.Tables, ","))
		}
	}
	cols := map[string]tableCols{}
	for _, rc := range rows {
		tc, ok := cols[rc.Table]
		if !ok {
			if tc, err = readCols(ctx, o.Old, rc.Table); err != nil {
				return r, fmt.Errorf("divergence: %s: %w", o.OldName, err)
			}
			cols[rc.Table] = tc
		}
		r.Writes = append(r.Writes, o.lostWrite(rc, tc))
	}
	return r, nil
}

func (o Options) lostWrite(rc RowChange, tc tableCols) LostWrite {
	img := rc.After
	if rc.Op == "delete" {
		img = rc.Before
	}
	keyImg := rc.Before
	if rc.Op == "insert" {
		keyImg = rc.After
	}
	w := LostWrite{GTID: rc.GTID.String(), Op: rc.Op, Table: rc.Table, PK: map[string]string{}, Row: map[string]string{}}
	for i, v := range img {
		w.Row[tc.name(i)] = v
	}
	for _, i := range tc.pk {
		w.PK[tc.name(i)] = keyImg[i]
	}
	if rc.Table == o.Table.Plain() && rc.Op != "delete" {
		if e := o.match(w.Row); e != nil {
			w.Ledger, w.Acknowledged = e, true
		}
	}
	return w
}

// match finds the ledger's entry of a drill-table row by (writer, seq).
func (o Options) match(row map[string]string) *workload.Entry {
	if o.DrillID != "" && row["drill_id"] != o.DrillID {
		return nil
	}
	writer, err1 := strconv.Atoi(row["writer"])
	seq, err2 := strconv.ParseInt(row["seq"], 10, 64)
	if err1 != nil || err2 != nil {
		return nil
	}
	for i := range o.Ledger {
		if o.Ledger[i].Writer == writer && o.Ledger[i].Seq == seq {
			e := o.Ledger[i]
			return &e
		}
	}
	return nil
}

type tableCols struct {
	names map[int]string
	pk    []int
}

func (tc tableCols) name(i int) string {
	if n, ok := tc.names[i]; ok {
		return n
	}
	return "@" + strconv.Itoa(i)
}

// readCols reads a table's column names by ordinal and its primary key's
// ordinals (or, without one, its first unique key's).
func readCols(ctx context.Context, c *replica.Conn, table string) (tableCols, error) {
	db, t, ok := strings.Cut(table, ".")
	if !ok {
		return tableCols{}, fmt.Errorf("table %q: want db.table", table)
	}
	tc := tableCols{names: map[int]string{}}
	rows, err := c.DB().QueryContext(ctx, "SELECT ORDINAL_POSITION, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, t)
	if err != nil {
		return tc, fmt.Errorf("columns of %s: %w", table, err)
	}
	byName := map[string]int{}
	for rows.Next() {
		var i int
		var n string
		if err := rows.Scan(&i, &n); err != nil {
			rows.Close()
			return tc, err
		}
		tc.names[i], byName[n] = n, i
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return tc, err
	}
	krows, err := c.DB().QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX`, db, t)
	if err != nil {
		return tc, fmt.Errorf("keys of %s: %w", table, err)
	}
	defer krows.Close()
	var first string
	for krows.Next() {
		var idx, col string
		if err := krows.Scan(&idx, &col); err != nil {
			return tc, err
		}
		if first == "" {
			first = idx
		}
		if idx == first {
			tc.pk = append(tc.pk, byName[col])
		}
	}
	if len(tc.pk) == 0 { // no key: the whole row identifies it
		for i := range tc.names {
			tc.pk = append(tc.pk, i)
		}
		sort.Ints(tc.pk)
	}
	return tc, krows.Err()
}

func binlogFiles(ctx context.Context, c *replica.Conn) ([]string, error) {
	rows, err := c.DB().QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, string(vals[0]))
	}
	return out, rows.Err()
}

// binlogEvents reads SHOW BINLOG EVENTS IN file.
func binlogEvents(ctx context.Context, c *replica.Conn, file string) ([]Event, error) {
	q, err := replica.QuoteString(file, false)
	if err != nil {
		return nil, err
	}
	rows, err := c.DB().QueryContext(ctx, "SHOW BINLOG EVENTS IN "+q)
	if err != nil {
		return nil, fmt.Errorf("SHOW BINLOG EVENTS IN %s: %w", q, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var sid uint64
		if err := rows.Scan(&e.File, &e.Pos, &e.Type, &sid, &e.EndLogPos, &e.Info); err != nil {
			return nil, fmt.Errorf("SHOW BINLOG EVENTS IN %s: %w", q, err)
		}
		e.ServerID = uint32(sid)
		out = append(out, e)
	}
	return out, rows.Err()
}

// decodeRows runs mariadb-binlog on the old primary's host over each
// file's span of lost transactions, and keeps the rows of lost ones.
func decodeRows(ctx context.Context, o Options, dir string, lost []Txn) ([]RowChange, error) {
	type span struct{ start, end uint64 }
	spans := map[string]*span{}
	var order []string
	want := map[GTID]bool{}
	for _, t := range lost {
		want[t.GTID] = true
		s := spans[t.File]
		if s == nil {
			spans[t.File] = &span{t.Start, t.End}
			order = append(order, t.File)
			continue
		}
		s.start, s.end = min(s.start, t.Start), max(s.end, t.End)
	}
	var out []RowChange
	for _, f := range order {
		s := spans[f]
		if strings.ContainsAny(f, "/ ") {
			return nil, fmt.Errorf("binlog file name %q", f)
		}
		argv := []string{"mariadb-binlog", "--base64-output=decode-rows", "-v",
			"--start-position=" + strconv.FormatUint(s.start, 10), "--stop-position=" + strconv.FormatUint(s.end, 10), filepath.Join(dir, f)}
		b, err := o.Exec.Exec(ctx, o.OldHost, argv...)
		if err != nil {
			return nil, fmt.Errorf("decode %s on %s: %w", f, o.OldHost, err)
		}
		rows, err := ParseDecodedRows(string(b))
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", f, err)
		}
		for _, rc := range rows {
			if want[rc.GTID] {
				out = append(out, rc)
			}
		}
	}
	return out, nil
}

// WriteJSONL writes one lost write per line to path atomically (a temp
// file in the same dir, synced, renamed over path), mode 0600.
func WriteJSONL(path string, ws []LostWrite) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, w := range ws {
		if err := enc.Encode(w); err != nil {
			return fmt.Errorf("lost writes: %w", err)
		}
	}
	if err := atomicfile.Write(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("lost writes: %w", err)
	}
	return nil
}
