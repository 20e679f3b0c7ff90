package replica

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ServerInfo is what a preflight reads about a server, in one round trip
// (SHOW GLOBAL VARIABLES, which needs no privilege): read-only state,
// binary logging and its retention, and the GTID positions.
type ServerInfo struct {
	ServerID string `json:"server_id"`
	ReadOnly bool   `json:"read_only"`
	// SuperReadOnly is MySQL's super_read_only (MariaDB has none: from
	// 11.0.1 its read_only holds for SUPER too, unless READ ONLY ADMIN).
	SuperReadOnly bool            `json:"super_read_only,omitempty"`
	Retention     BinlogRetention `json:"binlog"`
	GTID          Positions       `json:"gtid"`
}

// Positions are a server's GTID state: MariaDB gtid_binlog_pos (what it
// wrote to its binary log), gtid_slave_pos (what it applied as a replica)
// and gtid_current_pos; MySQL gtid_executed, gtid_purged (no longer in its
// binary logs) and gtid_mode.
type Positions struct {
	BinlogPos  string `json:"gtid_binlog_pos,omitempty"`
	SlavePos   string `json:"gtid_slave_pos,omitempty"`
	CurrentPos string `json:"gtid_current_pos,omitempty"`
	Executed   string `json:"gtid_executed,omitempty"`
	Purged     string `json:"gtid_purged,omitempty"`
	Mode       string `json:"gtid_mode,omitempty"`
}

// BinlogRetention is how long the server keeps its binary logs. A replica
// that was cut off longer than that finds the events it needs purged and
// can never catch up (error 1236).
type BinlogRetention struct {
	LogBin bool `json:"log_bin"`
	// Expire is the automatic purge age; 0 with Never set means never.
	Expire time.Duration `json:"-"`
	// ExpireSeconds is Expire for JSON.
	ExpireSeconds float64 `json:"expire_s"`
	// Never: no automatic purge (expiry 0, or MySQL's
	// binlog_expire_logs_auto_purge OFF).
	Never bool `json:"never_purged"`
	// Setting names the variable that decided, with its value.
	Setting string `json:"setting"`
}

// infoVars are the variables ServerInfo reads; a flavor lacks some.
var infoVars = []string{
	"server_id", "read_only", "super_read_only", "log_bin",
	"binlog_expire_logs_seconds", "expire_logs_days", "binlog_expire_logs_auto_purge",
	"gtid_binlog_pos", "gtid_slave_pos", "gtid_current_pos",
	"gtid_executed", "gtid_purged", "gtid_mode",
}

// ServerInfo reads read-only state, binlog retention and GTID positions.
func (c *Conn) ServerInfo(ctx context.Context) (ServerInfo, error) {
	vars, err := c.Variables(ctx, infoVars...)
	if err != nil {
		return ServerInfo{}, err
	}
	return ParseServerInfo(c.flavor, vars)
}

// Variables reads global variables by name (SHOW GLOBAL VARIABLES WHERE
// Variable_name IN …); names the server does not have are absent from the
// map.
func (c *Conn) Variables(ctx context.Context, names ...string) (map[string]string, error) {
	if len(names) == 0 {
		return map[string]string{}, nil
	}
	// Literals, not placeholders: SHOW is not preparable everywhere.
	quoted := make([]string, len(names))
	for i, n := range names {
		if !varNameRE.MatchString(n) {
			return nil, fmt.Errorf("read variables: %q is not a variable name", n)
		}
		quoted[i] = "'" + n + "'"
	}
	rows, err := c.db.QueryContext(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ("+strings.Join(quoted, ", ")+")")
	if err != nil {
		return nil, fmt.Errorf("read variables: %w", err)
	}
	all, err := readRows(rows)
	if err != nil {
		return nil, fmt.Errorf("read variables: %w", err)
	}
	out := make(map[string]string, len(all))
	for _, r := range all {
		name, val := r["Variable_name"], r["Value"]
		if name == nil {
			return nil, errors.New("read variables: no Variable_name column")
		}
		if val != nil {
			out[strings.ToLower(*name)] = *val
		} else {
			out[strings.ToLower(*name)] = ""
		}
	}
	return out, nil
}

var varNameRE = regexp.MustCompile(`^[a-z0-9_]+$`)

// ParseServerInfo reads ServerInfo out of SHOW GLOBAL VARIABLES (names in
// lower case). The retention rules:
//
//   - MariaDB: binlog_expire_logs_seconds (10.6.1+, kept in step with
//     expire_logs_days), else expire_logs_days (a fraction of days from
//     10.6.1); 0 = never.
//   - MySQL 8: binlog_expire_logs_seconds when not 0, else expire_logs_days
//     (8.0 only); both 0 = never; binlog_expire_logs_auto_purge OFF
//     (8.0.29+) = never.
//   - MySQL 5.7: expire_logs_days.
func ParseServerInfo(f Flavor, vars map[string]string) (ServerInfo, error) {
	var si ServerInfo
	var err error
	si.ServerID = vars["server_id"]
	if si.ReadOnly, err = boolVar(vars, "read_only"); err != nil {
		return si, err
	}
	if f != MariaDB {
		if si.SuperReadOnly, err = boolVar(vars, "super_read_only"); err != nil {
			return si, err
		}
	}
	if si.Retention, err = parseRetention(f, vars); err != nil {
		return si, err
	}
	g := &si.GTID
	if f == MariaDB {
		g.BinlogPos, g.SlavePos, g.CurrentPos = normalizeGTID(vars["gtid_binlog_pos"]), normalizeGTID(vars["gtid_slave_pos"]), normalizeGTID(vars["gtid_current_pos"])
	} else {
		g.Executed, g.Purged, g.Mode = normalizeGTID(vars["gtid_executed"]), normalizeGTID(vars["gtid_purged"]), vars["gtid_mode"]
	}
	return si, nil
}

func parseRetention(f Flavor, vars map[string]string) (BinlogRetention, error) {
	var r BinlogRetention
	var err error
	if r.LogBin, err = boolVar(vars, "log_bin"); err != nil {
		return r, err
	}
	secs, hasSecs := vars["binlog_expire_logs_seconds"]
	days, hasDays := vars["expire_logs_days"]
	var d time.Duration
	switch {
	case hasSecs && (f == MariaDB || !hasDays || !zero(secs)):
		if d, err = secondsVar("binlog_expire_logs_seconds", secs); err != nil {
			return r, err
		}
		r.Setting = "binlog_expire_logs_seconds=" + secs
	case hasDays:
		n, err := strconv.ParseFloat(strings.TrimSpace(days), 64)
		if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
			return r, fmt.Errorf("variable expire_logs_days: %q is not a number of days", days)
		}
		d = time.Duration(n * float64(24*time.Hour))
		r.Setting = "expire_logs_days=" + days
	default:
		return r, errors.New("variables: neither binlog_expire_logs_seconds nor expire_logs_days is present")
	}
	r.Expire, r.ExpireSeconds, r.Never = d, d.Seconds(), d == 0
	if ap, ok := vars["binlog_expire_logs_auto_purge"]; ok && f != MariaDB {
		on, err := boolVar(vars, "binlog_expire_logs_auto_purge")
		if err != nil {
			return r, err
		}
		if !on {
			r.Never = true
			r.Setting += ", binlog_expire_logs_auto_purge=" + ap
		}
	}
	return r, nil
}

func zero(s string) bool {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil && f == 0
}

func secondsVar(name, v string) (time.Duration, error) {
	d, err := parseSeconds(v)
	if err != nil {
		return 0, fmt.Errorf("variable %s: %w", name, err)
	}
	return d, nil
}

// boolVar reads ON/OFF/1/0; absent is false.
func boolVar(vars map[string]string, name string) (bool, error) {
	v, ok := vars[name]
	if !ok {
		return false, nil
	}
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "ON", "1", "YES", "TRUE":
		return true, nil
	case "OFF", "0", "NO", "FALSE", "":
		return false, nil
	}
	return false, fmt.Errorf("variable %s: %q is not ON or OFF", name, v)
}

// String says the retention in words: "never purged (binlog_expire_logs_seconds=0)".
func (r BinlogRetention) String() string {
	switch {
	case !r.LogBin:
		return "binary logging is off"
	case r.Never:
		return "never purged automatically (" + r.Setting + ")"
	}
	return fmt.Sprintf("purged after %s (%s)", r.Expire, r.Setting)
}

// Check returns an error when an outage of maxFault could outlast the
// binary logs: the events written during it may be purged before the
// replica is back, and it can never catch up (error 1236). Every event is
// kept at least Expire (a file is purged Expire after it was closed), so
// Expire must exceed maxFault.
func (r BinlogRetention) Check(maxFault time.Duration) error {
	switch {
	case !r.LogBin:
		return errors.New("binary logging is off (log_bin=OFF): the server cannot be a replication source")
	case r.Never || maxFault <= 0:
		return nil
	case r.Expire <= maxFault:
		return fmt.Errorf("binary logs are purged after %s (%s), not longer than max_fault %s: an outage longer than the retention can never catch up (error 1236)",
			r.Expire, r.Setting, maxFault)
	}
	return nil
}

// OldestBinlog is where the server's binary logs begin.
type OldestBinlog struct {
	File string `json:"file"`
	// Start is the GTID state before the file's first event (MariaDB
	// BINLOG_GTID_POS(file, 4)); on MySQL the set no longer in any binary
	// log (gtid_purged).
	Start string `json:"start"`
}

// OldestBinlog reads the first binary log (SHOW BINARY LOGS: MariaDB
// BINLOG MONITOR, MySQL REPLICATION CLIENT) and the GTID state where it
// begins.
func (c *Conn) OldestBinlog(ctx context.Context) (OldestBinlog, error) {
	var ob OldestBinlog
	rows, err := c.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return ob, fmt.Errorf("read binary logs: %w", err)
	}
	all, err := readRows(rows)
	if err != nil {
		return ob, fmt.Errorf("read binary logs: %w", err)
	}
	if len(all) == 0 || all[0]["Log_name"] == nil {
		return ob, errors.New("read binary logs: none listed")
	}
	ob.File = *all[0]["Log_name"]
	q, arg := "SELECT @@GLOBAL.gtid_purged", []any(nil)
	if c.flavor == MariaDB {
		q, arg = "SELECT BINLOG_GTID_POS(?, 4)", []any{ob.File}
	}
	s, err := c.queryString(ctx, q, arg...)
	if err != nil {
		return ob, fmt.Errorf("read where %s begins: %w", ob.File, err)
	}
	ob.Start = normalizeGTID(s)
	return ob, nil
}

// CanResume reports whether a replica that has applied applied finds every
// later event still in the source's binary logs, which begin at start
// (OldestBinlog.Start): otherwise it stops with error 1236.
//
// MariaDB: start must be covered by applied (per domain). MySQL: every
// purged transaction must be applied.
func CanResume(f Flavor, applied, start string) (bool, error) {
	return Covers(f, applied, start)
}

// IsAccessDenied reports a server error for a missing privilege (1044,
// 1045, 1142, 1143, 1227, 1370).
func IsAccessDenied(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1044, 1045, 1142, 1143, 1227, 1370:
		return true
	}
	return false
}
