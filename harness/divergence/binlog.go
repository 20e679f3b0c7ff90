package divergence

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Event is one row of SHOW BINLOG EVENTS.
type Event struct {
	File      string
	Pos       uint64
	Type      string
	ServerID  uint32
	EndLogPos uint64
	Info      string
}

// Txn is one transaction of a binlog, as SHOW BINLOG EVENTS shows it.
type Txn struct {
	GTID      GTID
	File      string
	Start     uint64 // position of its Gtid event
	End       uint64 // end position of its last event
	Tables    []string
	Statement bool // Query events with data in it (statement format, DDL)
}

var (
	gtidInfoRE  = regexp.MustCompile(`^(?:BEGIN )?GTID (\d+-\d+-\d+)`)
	tableInfoRE = regexp.MustCompile(`^table_id: \d+ \(([^)]+)\)`)
)

// Transactions groups a file's events into transactions, each from its
// Gtid event to the event before the next Gtid event (or the file's end).
func Transactions(evs []Event) ([]Txn, error) {
	var out []Txn
	var cur *Txn
	for _, e := range evs {
		if e.Type == "Gtid" {
			m := gtidInfoRE.FindStringSubmatch(e.Info)
			if m == nil {
				return nil, fmt.Errorf("%s:%d: Gtid event %q names no GTID", e.File, e.Pos, e.Info)
			}
			g, err := ParseGTID(m[1])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", e.File, e.Pos, err)
			}
			out = append(out, Txn{GTID: g, File: e.File, Start: e.Pos, End: e.EndLogPos})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue // the file's header: Format_desc, Gtid_list, Binlog_checkpoint
		}
		switch e.Type {
		case "Rotate", "Stop", "Gtid_list", "Binlog_checkpoint", "Format_desc":
			cur = nil
			continue
		case "Table_map":
			if m := tableInfoRE.FindStringSubmatch(e.Info); m != nil && !contains(cur.Tables, m[1]) {
				cur.Tables = append(cur.Tables, m[1])
			}
		case "Query":
			if i := strings.ToUpper(strings.TrimSpace(e.Info)); i != "BEGIN" && i != "COMMIT" {
				cur.Statement = true
			}
		}
		cur.End = e.EndLogPos
	}
	return out, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// RowChange is one row image pair decoded by mariadb-binlog -v.
type RowChange struct {
	GTID   GTID
	Op     string         // insert, update, delete
	Table  string         // db.table
	Before map[int]string // column ordinal (1-based): value as printed; update/delete
	After  map[int]string // insert/update
}

var (
	decGTIDRE  = regexp.MustCompile(`^#\d{6}\s.*\sGTID (\d+-\d+-\d+)`)
	decStmtRE  = regexp.MustCompile("^### (INSERT INTO|UPDATE|DELETE FROM) `([^`]*)`\\.`([^`]*)`$")
	decValueRE = regexp.MustCompile(`^###   @(\d+)=(.*)$`)
)

// ParseDecodedRows reads mariadb-binlog --base64-output=decode-rows -v
// output: every row change with the GTID of its transaction.
func ParseDecodedRows(out string) ([]RowChange, error) {
	var rows []RowChange
	var gtid *GTID
	var cur *RowChange
	var image map[int]string
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := decGTIDRE.FindStringSubmatch(line); m != nil {
			g, err := ParseGTID(m[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			gtid, cur, image = &g, nil, nil
			continue
		}
		if m := decStmtRE.FindStringSubmatch(line); m != nil {
			if gtid == nil {
				return nil, fmt.Errorf("line %d: a row change before any GTID", n+1)
			}
			op := map[string]string{"INSERT INTO": "insert", "UPDATE": "update", "DELETE FROM": "delete"}[m[1]]
			rows = append(rows, RowChange{GTID: *gtid, Op: op, Table: m[2] + "." + m[3]})
			cur, image = &rows[len(rows)-1], nil
			continue
		}
		if cur == nil {
			continue
		}
		switch strings.TrimSpace(line) {
		case "### SET":
			cur.After = map[int]string{}
			image = cur.After
			continue
		case "### WHERE":
			cur.Before = map[int]string{}
			image = cur.Before
			continue
		}
		if m := decValueRE.FindStringSubmatch(line); m != nil && image != nil {
			i, _ := strconv.Atoi(m[1])
			v, err := unquote(stripTypeComment(m[2]))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			image[i] = v
		}
	}
	return rows, nil
}

// stripTypeComment drops -vv's " /* INT meta=0 nullable=0 is_null=0 */".
func stripTypeComment(v string) string {
	if i := strings.LastIndex(v, " /* "); i >= 0 && strings.HasSuffix(v, "*/") {
		return v[:i]
	}
	return v
}

// unquote reads a value as mariadb-binlog prints it: 'text' with \\, \'
// and \xHH escapes; anything else (numbers, NULL) as it is.
func unquote(v string) (string, error) {
	if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
		return v, nil
	}
	s := v[1 : len(v)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'x':
			if i+3 <= len(s) {
				n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "", fmt.Errorf("value %s: bad escape", v)
				}
				b.WriteByte(byte(n))
				i += 2
				continue
			}
			return "", fmt.Errorf("value %s: bad escape", v)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
