package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Source is where a replica replicates from.
type Source struct {
	Host     string
	Port     int // 0 means 3306
	User     string
	Password string
}

// Restart stops and starts both replica threads: the seed's remedy for an
// IO thread stuck in Connecting after the network is back.
func (c *Conn) Restart(ctx context.Context) error {
	if _, err := c.db.ExecContext(ctx, c.stopStmt()); err != nil {
		return fmt.Errorf("restart replica: %s: %w", c.stopStmt(), err)
	}
	if _, err := c.db.ExecContext(ctx, c.startStmt()); err != nil {
		return fmt.Errorf("restart replica: %s: %w", c.startStmt(), err)
	}
	return nil
}

// ConfigureReplica points the server at src with GTID auto-positioning and
// the given timings, then starts replication. Zero timings keep the server's
// values. It stops the replica threads first, sets the net timeout before
// CHANGE MASTER (the IO thread reads it when it connects), and never logs
// the statement; an error from that statement is a *SecretError.
//
//   - MariaDB: CHANGE MASTER TO … MASTER_USE_GTID=slave_pos and
//     SET GLOBAL slave_net_timeout. MariaDB cannot set the retry count
//     (a startup option); t.RetryCount is ignored there.
//   - MySQL 8.0.23+: CHANGE REPLICATION SOURCE TO … SOURCE_AUTO_POSITION=1,
//     GET_SOURCE_PUBLIC_KEY=1 (a caching_sha2_password user cannot log in
//     without TLS otherwise) and replica_net_timeout (slave_net_timeout
//     before 8.0.26).
//   - Older MySQL: CHANGE MASTER TO … MASTER_AUTO_POSITION=1.
//
// MariaDB notes: STOP REPLICA on a server that was never a replica is only
// a Note (1255), so stopping first is safe; the server itself keeps the
// password in clear text in DATADIR/master.info (MySQL: in
// mysql.slave_master_info), which this package cannot prevent.
func (c *Conn) ConfigureReplica(ctx context.Context, src Source, t Timings) error {
	if err := src.validate(); err != nil {
		return fmt.Errorf("configure replica: %w", err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("configure replica: %w", err)
	}
	// One session for all statements: the quoting depends on its sql_mode.
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("configure replica: %w", err)
	}
	defer conn.Close()

	noBackslash, err := noBackslashEscapes(ctx, conn)
	if err != nil {
		return fmt.Errorf("configure replica: %w", err)
	}
	// Build (and so check) the statement before stopping anything.
	stmt, err := c.changeSourceStmt(src, t, noBackslash)
	if err != nil {
		return fmt.Errorf("configure replica: %w", err)
	}
	if _, err := conn.ExecContext(ctx, c.stopStmt()); err != nil {
		return fmt.Errorf("configure replica: %s: %w", c.stopStmt(), err)
	}
	if t.NetTimeout > 0 {
		q := fmt.Sprintf("SET GLOBAL %s = %d", c.netTimeoutVar(), wholeSeconds(t.NetTimeout))
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("configure replica: set %s: %w", c.netTimeoutVar(), err)
		}
	}
	op := "configure replica: change master"
	if c.flavor == MySQL && c.ver.atLeast(8, 0, 23) {
		op = "configure replica: change replication source"
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return secretErr(op, err, src.Password)
	}
	if _, err := conn.ExecContext(ctx, c.startStmt()); err != nil {
		return fmt.Errorf("configure replica: %s: %w", c.startStmt(), err)
	}
	return nil
}

func (s Source) validate() error {
	switch {
	case strings.TrimSpace(s.Host) == "":
		return errors.New("source: host is empty")
	case s.Port < 0 || s.Port > 65535:
		return fmt.Errorf("source: port %d: must be 1-65535", s.Port)
	case s.User == "":
		return errors.New("source: user is empty")
	}
	return nil
}

// changeSourceStmt builds CHANGE MASTER / CHANGE REPLICATION SOURCE as text:
// neither may be a server-side prepared statement.
func (c *Conn) changeSourceStmt(src Source, t Timings, noBackslash bool) (string, error) {
	host, err := QuoteString(src.Host, noBackslash)
	if err != nil {
		return "", fmt.Errorf("source host: %w", err)
	}
	user, err := QuoteString(src.User, noBackslash)
	if err != nil {
		return "", fmt.Errorf("source user: %w", err)
	}
	pass, err := QuoteString(src.Password, noBackslash)
	if err != nil {
		return "", fmt.Errorf("source password: %w", err)
	}
	port := src.Port
	if port == 0 {
		port = 3306
	}
	word, verb := "MASTER", "CHANGE MASTER TO"
	if c.flavor == MySQL && c.ver.atLeast(8, 0, 23) {
		word, verb = "SOURCE", "CHANGE REPLICATION SOURCE TO"
	}
	opts := []string{
		fmt.Sprintf("%s_HOST=%s", word, host),
		fmt.Sprintf("%s_PORT=%d", word, port),
		fmt.Sprintf("%s_USER=%s", word, user),
		fmt.Sprintf("%s_PASSWORD=%s", word, pass),
	}
	if c.flavor == MariaDB {
		opts = append(opts, "MASTER_USE_GTID=slave_pos")
	} else {
		opts = append(opts, word+"_AUTO_POSITION=1")
		if c.ver.atLeast(8, 0, 4) {
			opts = append(opts, "GET_"+word+"_PUBLIC_KEY=1")
		}
		if t.RetryCount > 0 {
			opts = append(opts, fmt.Sprintf("%s_RETRY_COUNT=%d", word, t.RetryCount))
		}
	}
	if t.ConnectRetry > 0 {
		opts = append(opts, fmt.Sprintf("%s_CONNECT_RETRY=%d", word, wholeSeconds(t.ConnectRetry)))
	}
	if t.Heartbeat > 0 {
		opts = append(opts, fmt.Sprintf("%s_HEARTBEAT_PERIOD=%s", word,
			strconv.FormatFloat(t.Heartbeat.Seconds(), 'f', 3, 64)))
	}
	return verb + " " + strings.Join(opts, ", "), nil
}

// CreateReplicationUser creates user@'%' with the password if it does not
// exist, and grants it REPLICATION SLAVE. An existing user keeps its
// password. Errors from the statement carrying the password are
// *SecretError.
//
// MariaDB writes CREATE USER … IDENTIFIED BY '<password>' to the binary log
// verbatim (MySQL rewrites it), which would put the password in every
// binlog and replica; on MariaDB the user is therefore created with
// IDENTIFIED BY PASSWORD '<mysql_native_password hash>' computed here.
func (c *Conn) CreateReplicationUser(ctx context.Context, user, password string) error {
	return c.createUser(ctx, "create replication user", user, password, "REPLICATION SLAVE ON *.*")
}

// CreateAdminUser is CreateReplicationUser for an administrator: ALL
// PRIVILEGES ON *.* WITH GRANT OPTION (the lab's account for drills over
// TCP with TLS).
func (c *Conn) CreateAdminUser(ctx context.Context, user, password string) error {
	return c.createUser(ctx, "create admin user", user, password, "ALL PRIVILEGES ON *.*")
}

func (c *Conn) createUser(ctx context.Context, what, user, password, grant string) error {
	if user == "" {
		return errors.New(what + ": user is empty")
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer conn.Close()
	noBackslash, err := noBackslashEscapes(ctx, conn)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	u, err := QuoteString(user, noBackslash)
	if err != nil {
		return fmt.Errorf("%s: user: %w", what, err)
	}
	var ident string
	if c.flavor == MariaDB {
		ident = "IDENTIFIED BY PASSWORD '" + nativePasswordHash(password) + "'"
	} else {
		p, err := QuoteString(password, noBackslash)
		if err != nil {
			return fmt.Errorf("%s: password: %w", what, err)
		}
		ident = "IDENTIFIED BY " + p
	}
	if _, err := conn.ExecContext(ctx, "CREATE USER IF NOT EXISTS "+u+"@'%' "+ident); err != nil {
		return secretErr(what+": create user", err, password)
	}
	stmt := "GRANT " + grant + " TO " + u + "@'%'"
	if strings.HasPrefix(grant, "ALL ") {
		stmt += " WITH GRANT OPTION"
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: grant: %w", what, err)
	}
	return nil
}

// noBackslashEscapes reports whether the session's sql_mode makes the
// backslash an ordinary character in string literals.
func noBackslashEscapes(ctx context.Context, conn *sql.Conn) (bool, error) {
	var mode sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		return false, fmt.Errorf("read sql_mode: %w", err)
	}
	return strings.Contains(strings.ToUpper(mode.String), "NO_BACKSLASH_ESCAPES"), nil
}

// wholeSeconds rounds up to whole seconds, at least 1.
func wholeSeconds(d time.Duration) int64 {
	return max(int64(math.Ceil(d.Seconds())), 1)
}
