package divergence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/workload"
)

func TestHaveLacks(t *testing.T) {
	h, err := ParseHave("0-1-119,0-2-125", "0-1-100,1-1-7")
	if err != nil {
		t.Fatal(err)
	}
	for g, want := range map[GTID]bool{{0, 1, 119}: false, {0, 1, 120}: true, {0, 2, 125}: false, {0, 3, 1}: true, {1, 1, 8}: true, {1, 1, 7}: false} {
		if h.Lacks(g) != want {
			t.Errorf("Lacks(%s) = %v", g, !want)
		}
	}
	if _, err := ParseHave("0-1"); err == nil {
		t.Fatal("a malformed position must be refused")
	}
}

func TestFormatRanges(t *testing.T) {
	gs := []GTID{{0, 1, 122}, {0, 1, 120}, {0, 1, 121}, {0, 1, 130}, {1, 2, 5}, {1, 2, 6}}
	if got := FormatRanges(gs); got != "0-1-120..0-1-122, 0-1-130, 1-2-5..1-2-6" {
		t.Fatal(got)
	}
}

func TestReportErr(t *testing.T) {
	if (Report{Old: "aws-db", Promoted: "onprem-db"}).Err() != nil {
		t.Fatal("nothing lost is no error")
	}
	r := Report{Old: "aws-db", Promoted: "onprem-db", GTIDs: []GTID{{0, 1, 120}, {0, 1, 121}}, Writes: []LostWrite{{Acknowledged: true}, {}}}
	if got := r.Err().Error(); got != "aws-db holds 2 transactions onprem-db lacks (0-1-120..0-1-121): 2 rows, 1 acknowledged" {
		t.Fatal(got)
	}
}

// SHOW BINLOG EVENTS as MariaDB 10.11 shows a ROW-format binlog.
var events = []Event{
	{"binlog.000001", 4, "Format_desc", 1, 256, "Server ver: 10.11.6-MariaDB-0+deb12u1-log, Binlog ver: 4"},
	{"binlog.000001", 256, "Gtid_list", 1, 285, "[]"},
	{"binlog.000001", 285, "Binlog_checkpoint", 1, 328, "binlog.000001"},
	{"binlog.000001", 328, "Gtid", 1, 370, "GTID 0-1-1"},
	{"binlog.000001", 370, "Query", 1, 480, "CREATE DATABASE IF NOT EXISTS testdb"},
	{"binlog.000001", 480, "Gtid", 1, 522, "BEGIN GTID 0-1-2"},
	{"binlog.000001", 522, "Annotate_rows", 1, 600, "INSERT INTO testdb.ping(msg) VALUES ('x')"},
	{"binlog.000001", 600, "Table_map", 1, 660, "table_id: 33 (testdb.ping)"},
	{"binlog.000001", 660, "Write_rows_v1", 1, 720, "table_id: 33 flags: STMT_END_F"},
	{"binlog.000001", 720, "Xid", 1, 751, "COMMIT /* xid=10 */"},
	{"binlog.000001", 751, "Rotate", 1, 795, "binlog.000002;pos=4"},
}

func TestTransactions(t *testing.T) {
	txns, err := Transactions(events)
	if err != nil {
		t.Fatal(err)
	}
	if len(txns) != 2 || txns[0].GTID != (GTID{0, 1, 1}) || !txns[0].Statement || txns[1].Start != 480 || txns[1].End != 751 ||
		len(txns[1].Tables) != 1 || txns[1].Tables[0] != "testdb.ping" || txns[1].Statement {
		t.Fatalf("%+v", txns)
	}
	if _, err := Transactions([]Event{{File: "b", Type: "Gtid", Info: "nonsense"}}); err == nil {
		t.Fatal("a Gtid event without a GTID must be an error")
	}
}

// mariadb-binlog --base64-output=decode-rows -v, MariaDB 10.11.
const decoded = `/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;
# at 480
#241203  1:02:03 server id 1  end_log_pos 522 CRC32 0x5c1c7b4e 	GTID 0-1-2 trans
/*!100001 SET @@session.gtid_seq_no=2*//*!*/;
START TRANSACTION
# at 600
#241203  1:02:03 server id 1  end_log_pos 660 CRC32 0x0c8b1f04 	Table_map: ` + "`testdb`.`ping`" + ` mapped to number 33
# at 660
#241203  1:02:03 server id 1  end_log_pos 720 CRC32 0x9a3e6c5f 	Write_rows: table id 33 flags: STMT_END_F
### INSERT INTO ` + "`testdb`.`ping`" + `
### SET
###   @1=7
###   @2='it\'s lost\\ \x41'
###   @3=1733187723.123456
###   @4='div-test'
###   @5=3
###   @6='during'
###   @7=1
# Number of rows: 1
#241203  1:02:03 server id 1  end_log_pos 800 CRC32 0x00000000 	GTID 0-1-3 trans
### UPDATE ` + "`testdb`.`ping`" + `
### WHERE
###   @1=1
###   @2='before'
### SET
###   @1=1
###   @2=NULL
#241203  1:02:03 server id 1  end_log_pos 900 CRC32 0x00000000 	GTID 0-1-4 trans
### DELETE FROM ` + "`testdb`.`ping`" + `
### WHERE
###   @1=2 /* LONGINT meta=0 nullable=0 is_null=0 */
`

func TestParseDecodedRows(t *testing.T) {
	rows, err := ParseDecodedRows(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	if r := rows[0]; r.GTID != (GTID{0, 1, 2}) || r.Op != "insert" || r.Table != "testdb.ping" || r.After[1] != "7" || r.After[2] != `it's lost\ A` || r.After[5] != "3" {
		t.Fatalf("insert %+v", r)
	}
	if r := rows[1]; r.Op != "update" || r.Before[2] != "before" || r.After[2] != "NULL" {
		t.Fatalf("update %+v", r)
	}
	if r := rows[2]; r.GTID.Seq != 4 || r.Op != "delete" || r.Before[1] != "2" {
		t.Fatalf("delete %+v", r)
	}
	if _, err := ParseDecodedRows("### INSERT INTO `a`.`b`\n"); err == nil {
		t.Fatal("a row before any GTID must be an error")
	}
}

func TestLostWriteAndLedger(t *testing.T) {
	tc := tableCols{names: map[int]string{1: "id", 2: "msg", 4: "drill_id", 5: "seq", 7: "writer"}, pk: []int{1}}
	o := Options{Table: DefaultTableForTest, DrillID: "div-test"}
	o.Ledger = append(o.Ledger, ledgerEntry(1, 3))
	rows, _ := ParseDecodedRows(decoded)
	w := o.lostWrite(rows[0], tc)
	if w.PK["id"] != "7" || !w.Acknowledged || w.Ledger.Seq != 3 {
		t.Fatalf("%+v", w)
	}
	o.Ledger = nil // the same row, never acknowledged
	if w := o.lostWrite(rows[0], tc); w.Acknowledged {
		t.Fatal("a row without a ledger entry was called acknowledged")
	}
	o.Ledger, o.DrillID = append(o.Ledger, ledgerEntry(1, 3)), "another drill"
	if w := o.lostWrite(rows[0], tc); w.Acknowledged {
		t.Fatal("another drill's row matched")
	}
	if w := o.lostWrite(rows[2], tc); w.PK["id"] != "2" || w.Op != "delete" {
		t.Fatalf("%+v", w)
	}
}

func TestWriteJSONL(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "lost-writes.jsonl")
	if err := WriteJSONL(p, []LostWrite{{GTID: "0-1-2", PK: map[string]string{"id": "7"}}, {GTID: "0-1-3"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 || !strings.Contains(lines[0], `"pk":{"id":"7"}`) {
		t.Fatalf("%s", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	if err := WriteJSONL(filepath.Join(dir, "no/such/dir/x.jsonl"), nil); err == nil {
		t.Fatal("an unwritable path must be an error")
	}
}

var DefaultTableForTest = workload.DefaultTable

func ledgerEntry(writer int, seq int64) workload.Entry {
	return workload.Entry{Writer: writer, Seq: seq}
}
