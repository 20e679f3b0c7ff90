package replica

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Status reads one normalised replication status. A server that is not a
// replica returns Status{Configured: false}. ObservedAt is stamped as soon
// as the status statement returns, before any follow-up query.
//
// MySQL with several channels returns a row per channel: the default
// channel ("") is used, else the first row. MariaDB's SHOW SLAVE STATUS
// already shows only the default connection.
func (c *Conn) Status(ctx context.Context) (Status, error) {
	rows, err := c.db.QueryContext(ctx, c.statusStmt())
	if err != nil {
		return Status{}, fmt.Errorf("read replica status: %w", err)
	}
	observed := time.Now()
	all, err := readRows(rows)
	if err != nil {
		return Status{}, fmt.Errorf("read replica status: %w", err)
	}
	row := pickChannel(all)
	if row == nil {
		return Status{ObservedAt: observed}, nil
	}
	st, err := ParseStatus(c.flavor, row)
	if err != nil {
		return Status{}, err
	}
	st.ObservedAt = observed
	if c.flavor == MariaDB {
		pos, err := c.queryString(ctx, "SELECT @@GLOBAL.gtid_slave_pos")
		if err != nil {
			return Status{}, fmt.Errorf("read gtid_slave_pos: %w", err)
		}
		st.ExecutedGTID = normalizeGTID(pos)
	}
	return st, nil
}

func pickChannel(rows []map[string]*string) map[string]*string {
	for _, r := range rows {
		if ch, ok := r["Channel_Name"]; ok && ch != nil && *ch == "" {
			return r
		}
	}
	if len(rows) > 0 {
		return rows[0]
	}
	return nil
}

// readRows reads every row generically, by column name; NULL becomes nil.
func readRows(rows *sql.Rows) ([]map[string]*string, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []map[string]*string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]*string, len(cols))
		for i, name := range cols {
			if vals[i].Valid {
				s := vals[i].String
				m[name] = &s
			} else {
				m[name] = nil
			}
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// queryString reads one string value; NULL reads as "".
func (c *Conn) queryString(ctx context.Context, query string, args ...any) (string, error) {
	var s sql.NullString
	if err := c.db.QueryRowContext(ctx, query, args...).Scan(&s); err != nil {
		return "", err
	}
	return s.String, nil
}

// String is a one-line summary for logs and error messages.
func (s Status) String() string {
	if !s.Configured {
		return "not configured"
	}
	behind := "NULL"
	if s.SecondsBehind != nil {
		behind = fmt.Sprint(*s.SecondsBehind)
	}
	sql := "No"
	if s.SQLRunning {
		sql = "Yes"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "IO=%s SQL=%s behind=%s", s.IO, sql, behind)
	if s.LastIOErrno != 0 || s.LastIOError != "" {
		fmt.Fprintf(&b, " last_io_errno=%d last_io_error=%q", s.LastIOErrno, s.LastIOError)
	}
	if s.LastSQLErrno != 0 || s.LastSQLError != "" {
		fmt.Fprintf(&b, " last_sql_errno=%d last_sql_error=%q", s.LastSQLErrno, s.LastSQLError)
	}
	return b.String()
}

// TLS is the session's TLS version and cipher ("TLSv1.3
// TLS_AES_256_GCM_SHA384"), or "" when the connection is not encrypted (a
// unix socket, or TCP without TLS).
func (c *Conn) TLS(ctx context.Context) (string, error) {
	rows, err := c.db.QueryContext(ctx, "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
	if err != nil {
		return "", fmt.Errorf("read the session's TLS: %w", err)
	}
	defer rows.Close()
	v := map[string]string{}
	for rows.Next() {
		var name, val string
		if err := rows.Scan(&name, &val); err != nil {
			return "", fmt.Errorf("read the session's TLS: %w", err)
		}
		v[strings.ToLower(name)] = val
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read the session's TLS: %w", err)
	}
	return strings.TrimSpace(v["ssl_version"] + " " + v["ssl_cipher"]), nil
}
