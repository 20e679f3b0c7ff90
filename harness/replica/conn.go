package replica

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Defaults applied to a DSN that does not set them, so that a dead or
// unreachable server cannot hang a poll for long. Queries also honour ctx.
const (
	DefaultDialTimeout  = 5 * time.Second
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	// MaxOpenConns keeps the pool small: a watcher, a waiter and a writer.
	MaxOpenConns = 4
)

// Conn is a small connection pool to one server plus what was learnt about
// it when it was opened. It is safe for concurrent use.
type Conn struct {
	db          *sql.DB
	flavor      Flavor
	version     string
	ver         version
	readTimeout time.Duration // 0 = none; WaitApplied waits in slices below it
}

// Open connects with a go-sql-driver DSN ("user:pass@tcp(host:3306)/"),
// adding short dial/read/write timeouts when the DSN has none, and detects
// the flavor. Errors are one line and never contain the password.
func Open(ctx context.Context, dsn string) (*Conn, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return openConfig(ctx, cfg)
}

// ParseDSN validates a go-sql-driver DSN and fills in the default timeouts.
// Errors name what is wrong and never contain the password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("parse dsn: dsn is empty")
	}
	pw := dsnPassword(dsn)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %s", scrub(oneLine(err.Error()), pw))
	}
	switch cfg.Net {
	case "tcp", "tcp4", "tcp6":
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil || host == "" {
			return nil, fmt.Errorf("parse dsn: address %q: want host:port", scrub(cfg.Addr, pw))
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("parse dsn: address %q: port must be 1-65535", scrub(cfg.Addr, pw))
		}
	case "unix":
		if cfg.Addr == "" {
			return nil, errors.New("parse dsn: unix socket path is empty")
		}
	default:
		return nil, fmt.Errorf("parse dsn: network %q not supported (want tcp or unix)", scrub(cfg.Net, pw))
	}
	if cfg.User == "" {
		return nil, errors.New("parse dsn: user is empty")
	}
	applyDefaults(cfg)
	return cfg, nil
}

// OpenSocket connects over a unix socket, checking first that the path
// exists and is a socket. An empty password means none.
func OpenSocket(ctx context.Context, socketPath, user, password string) (*Conn, error) {
	fi, err := os.Stat(socketPath)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return nil, fmt.Errorf("open socket %s: %w", socketPath, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("open socket %s: not a unix socket", socketPath)
	}
	if user == "" {
		return nil, fmt.Errorf("open socket %s: user is empty", socketPath)
	}
	cfg := mysql.NewConfig()
	cfg.Net = "unix"
	cfg.Addr = socketPath
	cfg.User = user
	cfg.Passwd = password
	applyDefaults(cfg)
	return openConfig(ctx, cfg)
}

func applyDefaults(cfg *mysql.Config) {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultDialTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	// The driver's own log lines ("closing bad idle connection") are noise
	// during an outage drill; keep them out of stderr.
	cfg.Logger = slogLogger{}
}

func openConfig(ctx context.Context, cfg *mysql.Config) (*Conn, error) {
	where := cfg.Net + " " + cfg.Addr
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", where, Redact(err, cfg.Passwd))
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxOpenConns)
	db.SetConnMaxIdleTime(time.Minute)
	c, err := newConn(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", where, Redact(err, cfg.Passwd))
	}
	c.readTimeout = cfg.ReadTimeout
	return c, nil
}

// FromDB wraps an existing pool (the caller keeps its settings) and detects
// the flavor. Close closes db.
func FromDB(ctx context.Context, db *sql.DB) (*Conn, error) {
	return newConn(ctx, db)
}

func newConn(ctx context.Context, db *sql.DB) (*Conn, error) {
	var v, comment sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@version_comment").Scan(&v, &comment); err != nil {
		return nil, fmt.Errorf("detect flavor: %w", err)
	}
	f, ver, err := detectFlavor(v.String, comment.String)
	if err != nil {
		return nil, err
	}
	return &Conn{db: db, flavor: f, version: v.String, ver: ver}, nil
}

// DB is the underlying pool, for workload and checks.
func (c *Conn) DB() *sql.DB { return c.db }

// Flavor is the server family detected at Open.
func (c *Conn) Flavor() Flavor { return c.flavor }

// Version is SELECT VERSION() as the server returned it.
func (c *Conn) Version() string { return c.version }

// Close closes the pool.
func (c *Conn) Close() error { return c.db.Close() }

// DetectFlavor classifies a server from SELECT VERSION() and
// @@version_comment: "MariaDB" in either is MariaDB; otherwise MySQL from
// 8.0.22 on (the release that renamed SLAVE/MASTER to REPLICA/SOURCE) and
// MySQLLegacy before it.
func DetectFlavor(versionStr, comment string) (Flavor, error) {
	f, _, err := detectFlavor(versionStr, comment)
	return f, err
}

func detectFlavor(versionStr, comment string) (Flavor, version, error) {
	isMaria := strings.Contains(strings.ToLower(versionStr+" "+comment), "mariadb")
	s := versionStr
	if isMaria {
		// Replication handshakes of MariaDB 10.x prefix "5.5.5-"; VERSION()
		// normally does not, but accept it.
		s = strings.TrimPrefix(s, "5.5.5-")
	}
	ver, err := parseVersion(s)
	if err != nil {
		return "", version{}, fmt.Errorf("detect flavor: %w", err)
	}
	switch {
	case isMaria:
		return MariaDB, ver, nil
	case ver.atLeast(8, 0, 22):
		return MySQL, ver, nil
	default:
		return MySQLLegacy, ver, nil
	}
}

// version is the numeric prefix of VERSION(): "10.11.19-MariaDB-log".
type version struct{ major, minor, patch int }

func parseVersion(s string) (version, error) {
	end := 0
	for end < len(s) && (s[end] == '.' || (s[end] >= '0' && s[end] <= '9')) {
		end++
	}
	parts := strings.Split(s[:end], ".")
	if len(parts) < 2 {
		return version{}, fmt.Errorf("parse version %q: want major.minor[.patch]", s)
	}
	var n [3]int
	for i := 0; i < 3 && i < len(parts); i++ {
		v, err := strconv.Atoi(parts[i])
		if err != nil {
			return version{}, fmt.Errorf("parse version %q: want major.minor[.patch]", s)
		}
		n[i] = v
	}
	return version{n[0], n[1], n[2]}, nil
}

func (v version) atLeast(major, minor, patch int) bool {
	if v.major != major {
		return v.major > major
	}
	if v.minor != minor {
		return v.minor > minor
	}
	return v.patch >= patch
}

// replicaKeyword reports whether the server accepts SHOW/START/STOP REPLICA
// (MariaDB 10.5.1, MySQL 8.0.22) rather than only the SLAVE spelling.
func (c *Conn) replicaKeyword() bool {
	switch c.flavor {
	case MariaDB:
		return c.ver.atLeast(10, 5, 1)
	case MySQL:
		return true
	default:
		return false
	}
}

func (c *Conn) statusStmt() string {
	if c.replicaKeyword() {
		return "SHOW REPLICA STATUS"
	}
	return "SHOW SLAVE STATUS"
}

func (c *Conn) startStmt() string {
	if c.replicaKeyword() {
		return "START REPLICA"
	}
	return "START SLAVE"
}

func (c *Conn) stopStmt() string {
	if c.replicaKeyword() {
		return "STOP REPLICA"
	}
	return "STOP SLAVE"
}

// netTimeoutVar is the replica's read/connect timeout variable; MySQL
// renamed it in 8.0.26.
func (c *Conn) netTimeoutVar() string {
	if c.flavor == MySQL && c.ver.atLeast(8, 0, 26) {
		return "replica_net_timeout"
	}
	return "slave_net_timeout"
}

type slogLogger struct{}

func (slogLogger) Print(v ...any) {
	slog.Debug("mysql driver", "msg", strings.TrimSpace(fmt.Sprint(v...)))
}

// dsnPassword finds the password in a DSN the way the driver does, so that
// parse errors can be scrubbed even when parsing fails.
func dsnPassword(dsn string) string {
	slash := strings.LastIndexByte(dsn, '/')
	if slash <= 0 {
		slash = len(dsn)
	}
	at := strings.LastIndexByte(dsn[:slash], '@')
	if at < 0 {
		return ""
	}
	if colon := strings.IndexByte(dsn[:at], ':'); colon >= 0 {
		return dsn[colon+1 : at]
	}
	return ""
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Endpoint is a server as a target file names it: a unix socket or a TCP
// address on some host, reached through Dial (nil: this machine).
type Endpoint struct {
	Network  string // "unix" or "tcp"
	Addr     string // socket path or host:port, as the host sees it
	User     string
	Password string
	// TLS for TCP (nil: none). Its ServerName names the server.
	TLS *tls.Config
	// Dial connects as the host (an SSH client's direct-streamlocal).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// OpenEndpoint connects to an endpoint, detecting the flavor. Errors are
// one line and never contain the password.
func OpenEndpoint(ctx context.Context, e Endpoint) (*Conn, error) {
	switch {
	case e.Network != "unix" && e.Network != "tcp":
		return nil, fmt.Errorf("open %s: network %q not supported (want unix or tcp)", e.Addr, e.Network)
	case e.Addr == "":
		return nil, errors.New("open: address is empty")
	case e.User == "":
		return nil, fmt.Errorf("open %s: user is empty", e.Addr)
	}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = e.Network, e.Addr, e.User, e.Password
	if e.TLS != nil {
		cfg.TLS = e.TLS
	}
	if e.Dial != nil {
		cfg.DialFunc = e.Dial
	}
	applyDefaults(cfg)
	c, err := openConfig(ctx, cfg)
	if err != nil {
		return nil, Redact(err, e.Password)
	}
	return c, nil
}
