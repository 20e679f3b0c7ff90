package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/internal/fakesql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secretPW = "S3cr3t-pa55"

func TestParseDSN(t *testing.T) {
	cfg, err := ParseDSN("repl:" + secretPW + "@tcp(127.0.0.1:3306)/")
	require.NoError(t, err)
	assert.Equal(t, DefaultDialTimeout, cfg.Timeout)
	assert.Equal(t, DefaultReadTimeout, cfg.ReadTimeout)
	assert.Equal(t, DefaultWriteTimeout, cfg.WriteTimeout)

	cfg, err = ParseDSN("root@unix(/run/mysqld/mysqld.sock)/?timeout=1s&readTimeout=2s")
	require.NoError(t, err)
	assert.Equal(t, time.Second, cfg.Timeout, "a timeout in the DSN is kept")
	assert.Equal(t, 2*time.Second, cfg.ReadTimeout)
}

func TestParseDSNFails(t *testing.T) {
	tests := []struct{ name, dsn, want string }{
		{"empty", "  ", "dsn is empty"},
		{"no slash", "repl:" + secretPW + "@tcp(127.0.0.1:3306)", "missing the slash"},
		{"unterminated address", "repl:" + secretPW + "@tcp(127.0.0.1:3306/", "network address not terminated"},
		{"bad param", "repl:" + secretPW + "@tcp(127.0.0.1:3306)/?timeout=" + secretPW, "parse dsn"},
		{"no user", ":" + secretPW + "@tcp(127.0.0.1:3306)/", "user is empty"},
		{"bad network", "repl:" + secretPW + "@udp(127.0.0.1:3306)/", `network "udp" not supported`},
		{"bad port", "repl:" + secretPW + "@tcp(127.0.0.1:99999)/", "port must be 1-65535"},
		{"no host", "repl:" + secretPW + "@tcp(:3306)/", "want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDSN(tt.dsn)
			require.Error(t, err)
			t.Log(err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), secretPW)
			assert.NotContains(t, err.Error(), "\n")
			_, err = Open(context.Background(), tt.dsn)
			require.Error(t, err, "Open validates too")
		})
	}
}

func TestOpenUnreachable(t *testing.T) {
	// Nothing listens on port 1 of the loopback address: refused at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "repl:"+secretPW+"@tcp(127.0.0.1:1)/")
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), "127.0.0.1:1")
	assert.NotContains(t, err.Error(), secretPW)
}

func TestOpenSocketFails(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.sock")
	regular := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(regular, nil, 0o600))
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() { // a "server" that hangs up at once
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	tests := []struct{ name, path, user, want string }{
		{"missing", missing, "root", "no such file"},
		{"not a socket", regular, "root", "not a unix socket"},
		{"no user", sock, "", "user is empty"},
		{"hangs up", sock, "root", "open unix " + sock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := OpenSocket(ctx, tt.path, tt.user, secretPW)
			require.Error(t, err)
			t.Log(err)
			assert.Contains(t, err.Error(), tt.path)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), secretPW)
		})
	}
}

func TestDetectFlavor(t *testing.T) {
	tests := []struct {
		version, comment string
		want             Flavor
	}{
		{"10.11.19-MariaDB-0+deb12u1-log", "Debian 12", MariaDB},
		{"10.4.32-MariaDB", "mariadb.org binary distribution", MariaDB},
		{"5.5.5-10.6.12-MariaDB", "", MariaDB},
		{"10.6.12", "MariaDB Server", MariaDB},
		{"8.0.36", "MySQL Community Server - GPL", MySQL},
		{"8.0.22-log", "MySQL Community Server - GPL", MySQL},
		{"8.4.0", "", MySQL},
		{"9.1.0-commercial", "", MySQL},
		{"8.0.21", "", MySQLLegacy},
		{"8.0.36-28", "Percona Server (GPL)", MySQL},
		{"5.7.44-log", "MySQL Community Server (GPL)", MySQLLegacy},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			got, err := DetectFlavor(tt.version, tt.comment)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	for _, bad := range []string{"", "MariaDB", "eight.0", "8"} {
		_, err := DetectFlavor(bad, "")
		assert.Error(t, err, "%q", bad)
	}
}

func TestStatusStatements(t *testing.T) {
	tests := []struct {
		version, status, stop, start, netVar string
	}{
		{"10.11.19-MariaDB-log", "SHOW REPLICA STATUS", "STOP REPLICA", "START REPLICA", "slave_net_timeout"},
		{"10.5.1-MariaDB", "SHOW REPLICA STATUS", "STOP REPLICA", "START REPLICA", "slave_net_timeout"},
		{"10.5.0-MariaDB", "SHOW SLAVE STATUS", "STOP SLAVE", "START SLAVE", "slave_net_timeout"},
		{"10.4.32-MariaDB", "SHOW SLAVE STATUS", "STOP SLAVE", "START SLAVE", "slave_net_timeout"},
		{"8.0.36", "SHOW REPLICA STATUS", "STOP REPLICA", "START REPLICA", "replica_net_timeout"},
		{"8.0.25", "SHOW REPLICA STATUS", "STOP REPLICA", "START REPLICA", "slave_net_timeout"},
		{"8.0.21", "SHOW SLAVE STATUS", "STOP SLAVE", "START SLAVE", "slave_net_timeout"},
		{"5.7.44", "SHOW SLAVE STATUS", "STOP SLAVE", "START SLAVE", "slave_net_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			c, s := newFakeConn(t, tt.version, nil)
			assert.Equal(t, tt.status, c.statusStmt())
			assert.Equal(t, tt.netVar, c.netTimeoutVar())
			require.NoError(t, c.Restart(context.Background()))
			assert.Equal(t, []string{"SELECT VERSION(), @@version_comment", tt.stop, tt.start}, s.Statements())
		})
	}
}

func TestRestartFails(t *testing.T) {
	c, _ := newFakeConn(t, "10.11.19-MariaDB", func(q string, _ []driver.NamedValue) fakesql.Result {
		if q == "START REPLICA" {
			return fakesql.Result{Err: errors.New("boom")}
		}
		return fakesql.Result{}
	})
	err := c.Restart(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "START REPLICA")
}

func TestConnStatus(t *testing.T) {
	ctx := context.Background()
	t.Run("mariadb reads gtid_slave_pos", func(t *testing.T) {
		row := loadRow(t, "mariadb_connecting.txt")
		c, s := newFakeConn(t, "10.11.19-MariaDB-0+deb12u1-log", func(q string, _ []driver.NamedValue) fakesql.Result {
			switch q {
			case "SHOW REPLICA STATUS":
				return rowResult(row)
			case "SELECT @@GLOBAL.gtid_slave_pos":
				return fakesql.One("@@GLOBAL.gtid_slave_pos", "0-1-6")
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		before := time.Now()
		st, err := c.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, IOConnecting, st.IO)
		assert.Equal(t, "0-1-7", st.RetrievedGTID)
		assert.Equal(t, "0-1-6", st.ExecutedGTID)
		assert.False(t, st.ObservedAt.Before(before))
		assert.Equal(t, []string{"SELECT VERSION(), @@version_comment", "SHOW REPLICA STATUS", "SELECT @@GLOBAL.gtid_slave_pos"}, s.Statements())
	})
	t.Run("old mariadb uses SHOW SLAVE STATUS", func(t *testing.T) {
		row := loadRow(t, "mariadb_yes.txt")
		c, _ := newFakeConn(t, "10.4.32-MariaDB", func(q string, _ []driver.NamedValue) fakesql.Result {
			switch q {
			case "SHOW SLAVE STATUS":
				return rowResult(row)
			case "SELECT @@GLOBAL.gtid_slave_pos":
				return fakesql.One("p", "0-1-7")
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		st, err := c.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, IOYes, st.IO)
	})
	t.Run("not configured", func(t *testing.T) {
		c, s := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result { return rowResult() })
		st, err := c.Status(ctx)
		require.NoError(t, err)
		assert.False(t, st.Configured)
		assert.Equal(t, IONone, st.IO)
		assert.False(t, st.ObservedAt.IsZero())
		assert.Len(t, s.Statements(), 2)
	})
	t.Run("mysql channels pick the default", func(t *testing.T) {
		def := loadRow(t, "mysql8_connecting.txt")
		other := cloneRow(loadRow(t, "mysql8_yes.txt"), map[string]*string{"Channel_Name": ptr("analytics")})
		c, _ := newFakeConn(t, "8.0.36", func(q string, _ []driver.NamedValue) fakesql.Result {
			if q == "SHOW REPLICA STATUS" {
				return rowResult(other, def)
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		st, err := c.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, IOConnecting, st.IO)
	})
	t.Run("legacy", func(t *testing.T) {
		row := loadRow(t, "mysql57_connecting.txt")
		c, _ := newFakeConn(t, "5.7.44-log", func(q string, _ []driver.NamedValue) fakesql.Result {
			if q == "SHOW SLAVE STATUS" {
				return rowResult(row)
			}
			return fakesql.Result{Err: errors.New("unexpected " + q)}
		})
		st, err := c.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2003, st.LastIOErrno)
	})
	t.Run("query fails", func(t *testing.T) {
		c, _ := newFakeConn(t, "8.0.36", func(string, []driver.NamedValue) fakesql.Result {
			return fakesql.Result{Err: errors.New("connection refused")}
		})
		_, err := c.Status(ctx)
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "read replica status: "))
	})
	t.Run("row does not parse", func(t *testing.T) {
		row := cloneRow(loadRow(t, "mysql8_yes.txt"), map[string]*string{"Replica_IO_Running": ptr("Sleeping")})
		c, _ := newFakeConn(t, "8.0.36", func(string, []driver.NamedValue) fakesql.Result { return rowResult(row) })
		_, err := c.Status(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `"Sleeping"`)
	})
}
