package replica

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// columnSet names the status columns of one flavor.
type columnSet struct {
	io, sql, behind, host, port   string
	ioErrno, ioErr, sqlErr, sqlNo string
	retrieved, executed           string // executed "" = not in the row
}

var columnSets = map[Flavor]columnSet{
	// MariaDB 10.5+ accepts SHOW REPLICA STATUS but still names the
	// columns Slave_*/*_Master, unlike MySQL 8.0.22+.
	MariaDB: {
		io: "Slave_IO_Running", sql: "Slave_SQL_Running", behind: "Seconds_Behind_Master",
		host: "Master_Host", port: "Master_Port",
		ioErrno: "Last_IO_Errno", ioErr: "Last_IO_Error", sqlNo: "Last_SQL_Errno", sqlErr: "Last_SQL_Error",
		// MariaDB reports what the IO thread received; what was applied is
		// @@gtid_slave_pos, read separately.
		retrieved: "Gtid_IO_Pos",
	},
	MySQL: {
		io: "Replica_IO_Running", sql: "Replica_SQL_Running", behind: "Seconds_Behind_Source",
		host: "Source_Host", port: "Source_Port",
		ioErrno: "Last_IO_Errno", ioErr: "Last_IO_Error", sqlNo: "Last_SQL_Errno", sqlErr: "Last_SQL_Error",
		retrieved: "Retrieved_Gtid_Set", executed: "Executed_Gtid_Set",
	},
	MySQLLegacy: {
		io: "Slave_IO_Running", sql: "Slave_SQL_Running", behind: "Seconds_Behind_Master",
		host: "Master_Host", port: "Master_Port",
		ioErrno: "Last_IO_Errno", ioErr: "Last_IO_Error", sqlNo: "Last_SQL_Errno", sqlErr: "Last_SQL_Error",
		retrieved: "Retrieved_Gtid_Set", executed: "Executed_Gtid_Set",
	},
}

// StatusError is a status row that could not be normalised.
type StatusError struct {
	Flavor Flavor
	Column string // the column at fault ("" when not about one column)
	Reason string
}

func (e *StatusError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("parse %s status: %s", e.Flavor, e.Reason)
	}
	return fmt.Sprintf("parse %s status: column %s: %s", e.Flavor, e.Column, e.Reason)
}

// ParseStatus normalises one SHOW REPLICA/SLAVE STATUS row of the given
// flavor, keyed by column name; a nil value is SQL NULL. Every column it
// reads is required. For MariaDB, ExecutedGTID is left empty: the applied
// position is @@gtid_slave_pos, not a column ([Conn.Status] fills it).
func ParseStatus(f Flavor, row map[string]*string) (Status, error) {
	cs, ok := columnSets[f]
	if !ok {
		return Status{}, &StatusError{Flavor: f, Reason: "unknown flavor"}
	}
	p := rowParser{f: f, row: row}
	st := Status{Configured: true}

	switch v := p.str(cs.io); v {
	case "Yes":
		st.IO = IOYes
	case "No":
		st.IO = IONo
	case "Connecting":
		st.IO = IOConnecting
	case "Preparing":
		st.IO = IOPreparing
	default:
		if p.err == nil {
			p.fail(cs.io, fmt.Sprintf("unknown IO thread state %q (want Yes, No, Connecting or Preparing)", v))
		}
	}
	switch v := p.str(cs.sql); v {
	case "Yes":
		st.SQLRunning = true
	case "No":
	default:
		if p.err == nil {
			p.fail(cs.sql, fmt.Sprintf("unknown SQL thread state %q (want Yes or No)", v))
		}
	}
	st.SecondsBehind = p.nullInt(cs.behind)
	st.SourceHost = p.str(cs.host)
	st.SourcePort = p.int(cs.port)
	st.ConnectRetry = p.int("Connect_Retry")
	st.LastIOErrno = p.int(cs.ioErrno)
	st.LastIOError = p.str(cs.ioErr)
	st.LastSQLErrno = p.int(cs.sqlNo)
	st.LastSQLError = p.str(cs.sqlErr)
	st.RetrievedGTID = normalizeGTID(p.str(cs.retrieved))
	if cs.executed != "" {
		st.ExecutedGTID = normalizeGTID(p.str(cs.executed))
	}
	if p.err != nil {
		return Status{}, p.err
	}
	return st, nil
}

// rowParser keeps the first error so that ParseStatus reads straight.
type rowParser struct {
	f   Flavor
	row map[string]*string
	err error
}

func (p *rowParser) fail(col, reason string) {
	if p.err == nil {
		p.err = &StatusError{Flavor: p.f, Column: col, Reason: reason}
	}
}

func (p *rowParser) value(col string) (v *string, present bool) {
	v, present = p.row[col]
	if !present {
		p.fail(col, "missing")
	}
	return v, present
}

func (p *rowParser) str(col string) string {
	v, ok := p.value(col)
	if !ok || v == nil {
		if ok {
			p.fail(col, "unexpected NULL")
		}
		return ""
	}
	return *v
}

func (p *rowParser) int(col string) int {
	s := p.str(col)
	if p.err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		p.fail(col, fmt.Sprintf("not an integer: %q", s))
	}
	return n
}

func (p *rowParser) nullInt(col string) *int64 {
	v, ok := p.value(col)
	if !ok || v == nil {
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*v), 10, 64)
	if err != nil {
		p.fail(col, fmt.Sprintf("not an integer: %q", *v))
		return nil
	}
	return &n
}

// normalizeGTID drops the whitespace and newlines MySQL puts into long GTID
// sets ("uuid:1-5,\nuuid2:1-3").
func normalizeGTID(s string) string {
	return strings.Join(strings.Fields(s), "")
}

var (
	rowHeader = regexp.MustCompile(`^\*+ \d+\. row \*+$`)
	fieldLine = regexp.MustCompile(`^ *([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?$`)
	rowsFoot  = regexp.MustCompile(`^(\d+ rows? in set|Empty set)`)
)

// ParseVerticalRows reads rows printed in the mysql client's vertical
// format (a statement ended with \G): a "*** 1. row ***" header, then one
// "Name: value" line per column. The value NULL is SQL NULL (nil); a line
// that is not "Name:" continues the previous value (MySQL prints long GTID
// sets over several lines). Text before the first header and from a
// "N rows in set" footer on is ignored.
func ParseVerticalRows(r io.Reader) ([]map[string]*string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	var (
		rows []map[string]*string
		cur  map[string]*string
		last string // column the next continuation line belongs to
	)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case rowHeader.MatchString(strings.TrimSpace(line)):
			cur = map[string]*string{}
			rows = append(rows, cur)
			last = ""
			continue
		case rowsFoot.MatchString(line):
			return rows, nil
		case cur == nil:
			if fieldLine.MatchString(line) {
				return nil, fmt.Errorf("parse rows: line %d: column before the first row header", n)
			}
			continue
		case strings.TrimSpace(line) == "":
			continue
		}
		if m := fieldLine.FindStringSubmatch(line); m != nil {
			name := m[1]
			if _, dup := cur[name]; dup {
				return nil, fmt.Errorf("parse rows: line %d: column %s repeated in one row", n, name)
			}
			v := m[2]
			if v == "NULL" {
				cur[name] = nil
			} else {
				cur[name] = &v
			}
			last = name
			continue
		}
		if last == "" {
			return nil, fmt.Errorf("parse rows: line %d: not a \"Name: value\" line", n)
		}
		prev := cur[last]
		if prev == nil {
			return nil, fmt.Errorf("parse rows: line %d: continues NULL column %s", n, last)
		}
		joined := *prev + "\n" + line
		cur[last] = &joined
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse rows: %w", err)
	}
	return rows, nil
}
