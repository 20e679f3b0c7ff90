package replica

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// RebuildOptions say which server is rebuilt from which, and how the
// dump travels.
type RebuildOptions struct {
	// From is the source (the promoted primary), To the server rebuilt
	// (the returned old primary); admin sessions to each. Names are for
	// errors ("onprem-db").
	From, To         *Conn
	FromName, ToName string
	// Run runs a command on To's host with stdin on its standard input
	// (target.HostExec.ExecInput of its db host): the pipeline
	// mariadb-dump | mariadb runs there, dialling From across the VPN, so
	// that the data never passes through this machine.
	Run func(ctx context.Context, stdin []byte, argv ...string) ([]byte, error)
	// Dump is From as To's host reaches it, with an account that may dump
	// (SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, and BINLOG MONITOR
	// for --master-data).
	Dump Source
	// ToSocket, ToUser, ToPassword: how the mariadb client on To's host
	// logs in to To (the lab: its socket, root, no password).
	ToSocket, ToUser, ToPassword string
	// Databases to copy (nil: every database of From but the system ones).
	Databases []string
	// Repl is what To replicates from afterwards; Timings its timings.
	Repl    Source
	Timings Timings
	// SetAside is what ErrantGTIDs(To, From) returned when the caller saved
	// To's lost writes (package divergence): Rebuild discards To's binary
	// log, so it refuses unless To's errant GTIDs are exactly these.
	SetAside string
	// CatchUp bounds the wait for To to apply From's position after the
	// load (0: 60 s).
	CatchUp time.Duration
}

// RebuildResult is what a rebuild did.
type RebuildResult struct {
	Bytes    int64         // dump stream size
	Load     time.Duration // dump | mariadb
	Total    time.Duration // to caught up
	Position string        // To's gtid_slave_pos after the load
}

// MBps is the load's throughput in MB/s (10^6 bytes).
func (r RebuildResult) MBps() float64 {
	if r.Load <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Load.Seconds()
}

var systemDBs = map[string]bool{"mysql": true, "information_schema": true, "performance_schema": true, "sys": true}

var dbNameRE = regexp.MustCompile(`^[A-Za-z0-9_$-]{1,64}$`)

func (o *RebuildOptions) validate() error {
	switch {
	case o.From == nil || o.To == nil || o.Run == nil:
		return errors.New("rebuild: From, To and Run are required")
	case o.From.flavor != MariaDB || o.To.flavor != MariaDB:
		return errors.New("rebuild: MariaDB only (mariadb-dump --gtid)")
	case o.ToSocket == "" || o.ToUser == "":
		return errors.New("rebuild: ToSocket and ToUser are required")
	}
	if err := o.Dump.validate(); err != nil {
		return fmt.Errorf("rebuild: dump %w", err)
	}
	if err := o.Repl.validate(); err != nil {
		return fmt.Errorf("rebuild: replication %w", err)
	}
	for _, v := range []string{o.Dump.Host, o.Dump.User, o.ToSocket, o.ToUser} {
		if strings.ContainsAny(v, "\n\r") {
			return fmt.Errorf("rebuild: %q: a line break cannot go into an option file", v)
		}
	}
	for _, d := range o.Databases {
		if !dbNameRE.MatchString(d) {
			return fmt.Errorf("rebuild: database name %q", d)
		}
	}
	return o.Timings.Validate()
}

// Rebuild makes To a copy of From at a consistent GTID position and a
// replica of it, then waits for it to catch up:
//
//  1. refuses unless To's errant GTIDs against From are exactly SetAside
//     (its lost writes were saved; everything here discards them);
//  2. on To: replication stopped and reset, read_only, RESET MASTER (its
//     divergent binary log goes), gtid_slave_pos emptied;
//  3. on To's host: { SET SESSION sql_log_bin=0; mariadb-dump
//     --single-transaction --gtid --master-data=1 --add-drop-database
//     --routines --events --triggers --databases …; } | mariadb — one
//     consistent snapshot without a global read lock (MariaDB ≥ 5.3),
//     whose header sets gtid_slave_pos to the snapshot's position; the
//     load is not binlogged on To (its GTIDs would be errant on From);
//  4. To replicates from Repl with MASTER_USE_GTID=slave_pos and applies
//     From's position within CatchUp.
//
// The passwords reach To's host only on the pipeline's stdin, as one
// option file (see [RebuildPipeline]); no password is in any argv.
func Rebuild(ctx context.Context, o RebuildOptions) (RebuildResult, error) {
	var res RebuildResult
	start := time.Now()
	if err := o.validate(); err != nil {
		return res, err
	}
	errant, err := ErrantGTIDs(ctx, o.To, o.From)
	if err != nil {
		return res, fmt.Errorf("rebuild: %w", err)
	}
	if errant != normalizeGTID(o.SetAside) {
		return res, fmt.Errorf("rebuild: refused: %s holds transactions %s lacks (%s), set aside: %q; save its lost writes first (package divergence) and pass what ErrantGTIDs returned",
			o.ToName, o.FromName, orNothing(errant), o.SetAside)
	}
	dbs := o.Databases
	if dbs == nil {
		if dbs, err = userDatabases(ctx, o.From); err != nil {
			return res, fmt.Errorf("rebuild: %s: %w", o.FromName, err)
		}
	}
	if len(dbs) == 0 {
		return res, fmt.Errorf("rebuild: %s has no database to copy", o.FromName)
	}
	port := o.Dump.Port
	if port == 0 {
		port = 3306
	}
	cnf := optionGroup("client"+dumpSuffix, map[string]string{"host": o.Dump.Host, "port": strconv.Itoa(port), "user": o.Dump.User, "password": o.Dump.Password}) +
		optionGroup("client"+toSuffix, map[string]string{"socket": o.ToSocket, "user": o.ToUser, "password": o.ToPassword})
	for _, q := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = ON", "RESET MASTER", "SET GLOBAL gtid_slave_pos = ''"} {
		if _, err := o.To.db.ExecContext(ctx, q); err != nil {
			return res, fmt.Errorf("rebuild: %s: %s: %w", o.ToName, q, err)
		}
	}
	load := time.Now()
	out, err := o.Run(ctx, []byte(cnf), "bash", "-c", RebuildPipeline(dbs))
	res.Load = time.Since(load)
	if err != nil {
		return res, fmt.Errorf("rebuild: mariadb-dump from %s | mariadb into %s: %w: %s", o.FromName, o.ToName, err, Redact(errors.New(strings.TrimSpace(string(out))), o.Dump.Password, o.ToPassword))
	}
	res.Bytes = streamBytes(out)
	if res.Position, err = o.To.AppliedPosition(ctx); err != nil {
		return res, fmt.Errorf("rebuild: %s: %w", o.ToName, err)
	}
	if res.Position == "" {
		return res, fmt.Errorf("rebuild: the dump set no gtid_slave_pos on %s (was --gtid --master-data honoured?)", o.ToName)
	}
	if err := o.To.ConfigureReplica(ctx, o.Repl, o.Timings); err != nil {
		return res, fmt.Errorf("rebuild: %w", err)
	}
	pos, err := o.From.PrimaryPosition(ctx)
	if err != nil {
		return res, fmt.Errorf("rebuild: %s: %w", o.FromName, err)
	}
	wait := o.CatchUp
	if wait == 0 {
		wait = time.Minute
	}
	if err := o.To.WaitApplied(ctx, pos, wait); err != nil {
		return res, fmt.Errorf("rebuild: %s catching up with %s: %w", o.ToName, o.FromName, err)
	}
	res.Total = time.Since(start)
	return res, nil
}

// The option file's groups: [client_drdrill_dump] is Dump's account,
// [client_drdrill_to] To's; each client reads its own with
// --defaults-group-suffix. bytesTag starts the pipeline's last line.
const (
	dumpSuffix = "_drdrill_dump"
	toSuffix   = "_drdrill_to"
	bytesTag   = "drdrill-bytes"
)

// RebuildPipeline is the bash command line Rebuild runs on To's host. It
// saves its stdin (the option file) as my.cnf in a fresh private dir,
// removed on exit, and names only that file, never a password. On success
// its last line is "drdrill-bytes N", N the dump stream's size.
func RebuildPipeline(dbs []string) string {
	return `set -o pipefail; umask 077; d=$(mktemp -d) || exit 1; trap 'rm -rf "$d"' EXIT; cat > "$d/my.cnf" || exit 1; ` +
		`{ echo 'SET SESSION sql_log_bin=0;'; mariadb-dump --defaults-extra-file="$d/my.cnf" --defaults-group-suffix=` + dumpSuffix +
		` --single-transaction --gtid --master-data=1 --add-drop-database --routines --events --triggers --databases ` + strings.Join(dbs, " ") +
		`; } | tee >(wc -c > "$d/bytes") | mariadb --defaults-extra-file="$d/my.cnf" --defaults-group-suffix=` + toSuffix +
		`; rc=$?; wait; if [ $rc -eq 0 ]; then echo "` + bytesTag + ` $(cat "$d/bytes")"; fi; exit $rc`
}

// streamBytes is the size RebuildPipeline's last line gives (0: none).
func streamBytes(out []byte) int64 {
	s := strings.TrimRight(string(out), "\n")
	f := strings.Fields(s[strings.LastIndexByte(s, '\n')+1:])
	if len(f) != 2 || f[0] != bytesTag {
		return 0
	}
	n, _ := strconv.ParseInt(f[1], 10, 64)
	return n
}

// optionGroup is a [group] of an option file with the given values.
func optionGroup(group string, kv map[string]string) string {
	var b strings.Builder
	b.WriteString("[" + group + "]\n")
	for _, k := range []string{"host", "port", "socket", "user", "password"} {
		if v, ok := kv[k]; ok && v != "" {
			// Option files take quoted values with backslash escapes.
			b.WriteString(k + " = \"" + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + "\"\n")
		}
	}
	return b.String()
}

func userDatabases(ctx context.Context, c *Conn) ([]string, error) {
	rows, err := c.db.QueryContext(ctx, "SHOW DATABASES")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		if !systemDBs[d] {
			if !dbNameRE.MatchString(d) {
				return nil, fmt.Errorf("database name %q: name it in Databases", d)
			}
			out = append(out, d)
		}
	}
	return out, rows.Err()
}
