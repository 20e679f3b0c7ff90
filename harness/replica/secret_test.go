package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuoteString(t *testing.T) {
	tests := []struct {
		in, backslash, noBackslash string
	}{
		{"plain", `'plain'`, `'plain'`},
		{"", `''`, `''`},
		{"it's", `'it\'s'`, `'it''s'`},
		{`a\b`, `'a\\b'`, `'a\b'`},
		{`\'; DROP USER root; --`, `'\\\'; DROP USER root; --'`, `'\''; DROP USER root; --'`},
		{`say "hi"`, `'say \"hi\"'`, `'say "hi"'`},
		{"two\nlines\r", `'two\nlines\r'`, "'two\nlines\r'"},
		{"ctrl-z\x1a", `'ctrl-z\Z'`, "'ctrl-z\x1a'"},
		{"ünïcödé 비밀", `'ünïcödé 비밀'`, `'ünïcödé 비밀'`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := QuoteString(tt.in, false)
			require.NoError(t, err)
			assert.Equal(t, tt.backslash, got)
			got, err = QuoteString(tt.in, true)
			require.NoError(t, err)
			assert.Equal(t, tt.noBackslash, got)
		})
	}
}

func TestQuoteStringFails(t *testing.T) {
	for _, in := range []string{"nul\x00byte", "bad\xffutf8", "\xbf\x27"} {
		for _, nb := range []bool{false, true} {
			_, err := QuoteString(in, nb)
			require.Error(t, err, "%q", in)
			assert.NotContains(t, err.Error(), in)
		}
	}
}

func TestNativePasswordHash(t *testing.T) {
	// PASSWORD('hashme') on MariaDB 10.11.
	assert.Equal(t, "*FDCF0F06CC9FFB524B403CC0D3A2431CAF0EE301", nativePasswordHash("hashme"))
}

func TestSecretErr(t *testing.T) {
	echo := &mysql.MySQLError{Number: 1470, SQLState: [5]byte{'H', 'Y', '0', '0', '0'},
		Message: "String '" + secretPW + "...' is too long for MASTER_PASSWORD (should be no longer than 96)"}
	unknown := &mysql.MySQLError{Number: 4242, Message: "near '" + secretPW + "'"}
	tests := []struct {
		name   string
		err    error
		want   string
		number uint16
		is     error
	}{
		{"known server error", echo, "server error 1470 (HY000): a value is too long", 1470, nil},
		{"wrapped server error", fmt.Errorf("exec: %w", echo), "server error 1470", 1470, nil},
		{"unknown server error", unknown, "server error 4242", 4242, nil},
		{"client error with secret", errors.New("driver: bad value " + secretPW), "driver: bad value xxxxx", 0, nil},
		{"clean client error keeps cause", fmt.Errorf("x: %w", context.DeadlineExceeded), "context deadline exceeded", 0, context.DeadlineExceeded},
		{"dirty ctx error keeps only the sentinel", fmt.Errorf("%s: %w", secretPW, context.Canceled), "xxxxx", 0, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := secretErr("change master", tt.err, secretPW)
			var se *SecretError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.number, se.Number)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "change master: "))
			assertNoSecret(t, err, secretPW)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
		})
	}
	assert.NoError(t, secretErr("x", nil))
}

// assertNoSecret checks err and everything it unwraps to.
func assertNoSecret(t *testing.T, err error, secret string) {
	t.Helper()
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		assert.NotContains(t, e.Error(), secret)
		assert.NotContains(t, fmt.Sprintf("%+v %#v", e, e), secret)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
}

func TestRedact(t *testing.T) {
	assert.NoError(t, Redact(nil, "x"))
	clean := errors.New("connection refused")
	assert.Same(t, clean, Redact(clean, secretPW), "a clean error is returned as is")
	dirty := fmt.Errorf("auth %s: %w", secretPW, clean)
	r := Redact(dirty, secretPW, "")
	assert.Equal(t, "auth xxxxx: connection refused", r.Error())
	assertNoSecret(t, r, secretPW)
	assert.Contains(t, Redact(dirty, "other").Error(), secretPW, "only the named secrets are removed")
}

// The brief's rule: a failing CHANGE MASTER must not leak the password,
// even when the server quotes it back (syntax errors do).
func TestConfigureReplicaFailingChangeMasterHidesPassword(t *testing.T) {
	for _, version := range []string{"10.11.19-MariaDB", "8.0.36", "5.7.44"} {
		t.Run(version, func(t *testing.T) {
			c, _ := newFakeConn(t, version, func(q string, _ []driver.NamedValue) fakesql.Result {
				switch {
				case q == "SELECT @@SESSION.sql_mode":
					return fakesql.One("m", "STRICT_TRANS_TABLES")
				case strings.HasPrefix(q, "CHANGE "):
					i := strings.Index(q, "PASSWORD=")
					return fakesql.Result{Err: &mysql.MySQLError{Number: 1064, SQLState: [5]byte{'4', '2', '0', '0', '0'},
						Message: "You have an error in your SQL syntax; check the manual near '" + q[i:] + "' at line 1"}}
				}
				return fakesql.Result{}
			})
			err := c.ConfigureReplica(context.Background(),
				Source{Host: "127.0.0.1", Port: 1, User: "repl", Password: secretPW}, Timings{})
			require.Error(t, err)
			t.Log(err)
			var se *SecretError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, uint16(1064), se.Number)
			assert.Contains(t, err.Error(), "1064")
			assertNoSecret(t, err, secretPW)
		})
	}
}

func TestConfigureReplicaStatements(t *testing.T) {
	tl := Timings{NetTimeout: 3 * time.Second, ConnectRetry: time.Second, Heartbeat: 1500 * time.Millisecond, RetryCount: 50}
	src := Source{Host: "10.20.11.123", User: "repl", Password: `p'w\d`}
	tests := []struct {
		version, sqlMode string
		want             []string
	}{
		{"10.11.19-MariaDB-log", "STRICT_TRANS_TABLES", []string{
			"SELECT @@SESSION.sql_mode",
			"STOP REPLICA",
			"SET GLOBAL slave_net_timeout = 3",
			`CHANGE MASTER TO MASTER_HOST='10.20.11.123', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='p\'w\\d', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1.500`,
			"START REPLICA",
		}},
		{"10.4.32-MariaDB", "NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES", []string{
			"SELECT @@SESSION.sql_mode",
			"STOP SLAVE",
			"SET GLOBAL slave_net_timeout = 3",
			`CHANGE MASTER TO MASTER_HOST='10.20.11.123', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='p''w\d', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1.500`,
			"START SLAVE",
		}},
		{"8.0.36", "", []string{
			"SELECT @@SESSION.sql_mode",
			"STOP REPLICA",
			"SET GLOBAL replica_net_timeout = 3",
			`CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.20.11.123', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='p\'w\\d', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, SOURCE_RETRY_COUNT=50, SOURCE_CONNECT_RETRY=1, SOURCE_HEARTBEAT_PERIOD=1.500`,
			"START REPLICA",
		}},
		{"8.0.22", "", []string{
			"SELECT @@SESSION.sql_mode",
			"STOP REPLICA",
			"SET GLOBAL slave_net_timeout = 3",
			`CHANGE MASTER TO MASTER_HOST='10.20.11.123', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='p\'w\\d', MASTER_AUTO_POSITION=1, GET_MASTER_PUBLIC_KEY=1, MASTER_RETRY_COUNT=50, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1.500`,
			"START REPLICA",
		}},
		{"5.7.44-log", "", []string{
			"SELECT @@SESSION.sql_mode",
			"STOP SLAVE",
			"SET GLOBAL slave_net_timeout = 3",
			`CHANGE MASTER TO MASTER_HOST='10.20.11.123', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='p\'w\\d', MASTER_AUTO_POSITION=1, MASTER_RETRY_COUNT=50, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1.500`,
			"START SLAVE",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			c, s := newFakeConn(t, tt.version, func(q string, _ []driver.NamedValue) fakesql.Result {
				if q == "SELECT @@SESSION.sql_mode" {
					return fakesql.One("m", tt.sqlMode)
				}
				return fakesql.Result{}
			})
			require.NoError(t, c.ConfigureReplica(context.Background(), src, tl))
			assert.Equal(t, tt.want, s.Statements()[1:])
		})
	}

	t.Run("zero timings keep the server's", func(t *testing.T) {
		c, s := newFakeConn(t, "10.11.19-MariaDB", nil)
		require.NoError(t, c.ConfigureReplica(context.Background(), Source{Host: "h", Port: 3307, User: "u"}, Timings{}))
		assert.Equal(t, []string{"SELECT @@SESSION.sql_mode", "STOP REPLICA",
			"CHANGE MASTER TO MASTER_HOST='h', MASTER_PORT=3307, MASTER_USER='u', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos",
			"START REPLICA"}, s.Statements()[1:])
	})
}

func TestConfigureReplicaRejects(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		t    Timings
		want string
	}{
		{"no host", Source{User: "u"}, Timings{}, "host is empty"},
		{"bad port", Source{Host: "h", Port: 70000, User: "u"}, Timings{}, "port 70000"},
		{"no user", Source{Host: "h"}, Timings{}, "user is empty"},
		{"NUL in password", Source{Host: "h", User: "u", Password: "a\x00b"}, Timings{}, "source password: quote string: contains a NUL byte"},
		{"heartbeat too long", Source{Host: "h", User: "u"}, Timings{NetTimeout: 3 * time.Second, Heartbeat: 3 * time.Second}, "shorter than net timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := newFakeConn(t, "10.11.19-MariaDB", nil)
			err := c.ConfigureReplica(context.Background(), tt.src, tt.t)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			for _, q := range s.Statements() {
				assert.False(t, strings.HasPrefix(q, "CHANGE") || strings.HasPrefix(q, "STOP"), "nothing was touched: %s", q)
			}
		})
	}
}

func TestCreateReplicationUser(t *testing.T) {
	tests := []struct {
		version string
		want    []string
	}{
		{"10.11.19-MariaDB", []string{
			"SELECT @@SESSION.sql_mode",
			"CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY PASSWORD '" + nativePasswordHash(secretPW) + "'",
			"GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'",
		}},
		{"8.0.36", []string{
			"SELECT @@SESSION.sql_mode",
			"CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '" + secretPW + "'",
			"GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			c, s := newFakeConn(t, tt.version, nil)
			require.NoError(t, c.CreateReplicationUser(context.Background(), "repl", secretPW))
			assert.Equal(t, tt.want, s.Statements()[1:])
		})
	}
	t.Run("failure hides the password", func(t *testing.T) {
		c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result {
			if strings.HasPrefix(q, "CREATE USER") {
				return fakesql.Result{Err: &mysql.MySQLError{Number: 1819, Message: "Your password '" + secretPW + "' does not satisfy the current policy requirements"}}
			}
			return fakesql.Result{}
		})
		err := c.CreateReplicationUser(context.Background(), "repl", secretPW)
		var se *SecretError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, uint16(1819), se.Number)
		assertNoSecret(t, err, secretPW)
	})
	t.Run("empty user", func(t *testing.T) {
		c, _ := newFakeConn(t, "8.0.36", nil)
		assert.Error(t, c.CreateReplicationUser(context.Background(), "", "x"))
	})
}
