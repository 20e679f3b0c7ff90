package preflight

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder keeps every statement and VICI packet a check sends.
type recorder struct {
	mu     sync.Mutex
	sql    []string // "site: statement"
	vici   []string // "site: command"
	events []string // "site: event registered"
	hosts  []string // capability calls
}

func (r *recorder) add(list *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, s)
}

func (r *recorder) snapshot() (sqls, vici, events, hosts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sql...), append([]string(nil), r.vici...), append([]string(nil), r.events...), append([]string(nil), r.hosts...)
}

// recConnector records the statements sent through the connections it makes.
type recConnector struct {
	inner driver.Connector
	rec   *recorder
	site  string
}

func (c *recConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: conn, c: c}, nil
}

func (c *recConnector) Driver() driver.Driver { return c.inner.Driver() }

type recConn struct {
	driver.Conn
	c *recConnector
}

func (r *recConn) log(q string) { r.c.rec.add(&r.c.rec.sql, r.c.site+": "+q) }

func (r *recConn) Prepare(q string) (driver.Stmt, error) {
	r.log(q)
	return r.Conn.Prepare(q)
}

func (r *recConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	r.log(q)
	return r.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (r *recConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r.log(q)
	return r.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (r *recConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	r.log(q)
	return r.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (r *recConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	r.log("BEGIN")
	return r.Conn.(driver.ConnBeginTx).BeginTx(ctx, o)
}

func (r *recConn) Ping(ctx context.Context) error { return r.Conn.(driver.Pinger).Ping(ctx) }
func (r *recConn) ResetSession(ctx context.Context) error {
	return r.Conn.(driver.SessionResetter).ResetSession(ctx)
}
func (r *recConn) IsValid() bool { return r.Conn.(driver.Validator).IsValid() }
func (r *recConn) CheckNamedValue(nv *driver.NamedValue) error {
	return r.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

// viciConn records the VICI packets written to charon: a 32-bit length,
// then the packet type (0 command request, 3 event register, 4 event
// unregister: each followed by a name of one length byte).
type viciConn struct {
	net.Conn
	rec  *recorder
	site string
	buf  []byte
}

func (v *viciConn) Write(b []byte) (int, error) {
	v.buf = append(v.buf, b...)
	for len(v.buf) >= 4 {
		n := int(binary.BigEndian.Uint32(v.buf))
		if len(v.buf) < 4+n {
			break
		}
		p := v.buf[4 : 4+n]
		v.buf = v.buf[4+n:]
		if len(p) < 2 || len(p) < 2+int(p[1]) {
			v.rec.add(&v.rec.vici, v.site+": malformed packet")
			continue
		}
		name := string(p[2 : 2+int(p[1])])
		switch p[0] {
		case 0:
			v.rec.add(&v.rec.vici, v.site+": "+name)
		case 3:
			v.rec.add(&v.rec.events, v.site+": "+name)
		case 4:
		default:
			v.rec.add(&v.rec.vici, fmt.Sprintf("%s: packet type %d", v.site, p[0]))
		}
	}
	return v.Conn.Write(b)
}

// watchedTarget is the lab with every capability call recorded.
type watchedTarget struct {
	*lab.Target
	rec *recorder
}

func (w *watchedTarget) Exec(ctx context.Context, h target.Host, argv ...string) ([]byte, error) {
	return w.ExecInput(ctx, h, nil, argv...)
}

func (w *watchedTarget) ExecInput(ctx context.Context, h target.Host, stdin []byte, argv ...string) ([]byte, error) {
	w.rec.add(&w.rec.hosts, "exec on "+h.String()+": "+strings.Join(argv, " "))
	return nil, fmt.Errorf("preflight must not run commands")
}

func (w *watchedTarget) KillGateway(ctx context.Context, site string) error {
	w.rec.add(&w.rec.hosts, "kill gateway "+site)
	return fmt.Errorf("preflight must not kill")
}

func (w *watchedTarget) RestartGateway(ctx context.Context, site string) error {
	w.rec.add(&w.rec.hosts, "restart gateway "+site)
	return fmt.Errorf("preflight must not restart")
}

// recordLab swaps the lab target's gateways and databases for recording
// ones (the lab's IKETimings reads through them too).
func recordLab(t *testing.T, info *lab.Info, tg *lab.Target, user, password string) (*watchedTarget, *recorder) {
	t.Helper()
	rec := &recorder{}
	for _, s := range tg.Sites() {
		sock, site := info.Sites[s.Name].Gateway.VICI, s.Name
		s.Gateway = tunnel.NewGateway(site, tunnel.DialFunc("unix://"+sock, func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", sock)
			if err != nil {
				return nil, err
			}
			return &viciConn{Conn: c, rec: rec, site: site}, nil
		}))
		t.Cleanup(func() { s.Gateway.Close() })
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "unix", info.Sites[site].DB.Socket, user, password
		conn, err := mysql.NewConnector(cfg)
		require.NoError(t, err)
		db := sql.OpenDB(&recConnector{inner: conn, rec: rec, site: site})
		t.Cleanup(func() { db.Close() })
		s.DB, err = replica.FromDB(context.Background(), db)
		require.NoError(t, err)
	}
	*rec = recorder{} // flavor detection is not the check's
	return &watchedTarget{Target: tg, rec: rec}, rec
}

// state is what a change would show: every SA's SPIs, every GTID position.
// (A list-sas reading can skip an IKE SA in use: read until every gateway
// lists one, for a moment, and keep the last reading either way.)
func state(t *testing.T, info *lab.Info) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, s := range lab.Sites {
		g, err := tunnel.Open(ctx, s, tunnel.UnixSocket(info.Sites[s].Gateway.VICI))
		require.NoError(t, err)
		var st tunnel.State
		_ = poll.Until(ctx, "an IKE SA listed", 20*time.Millisecond, time.Second, func(ctx context.Context) (bool, string, error) {
			st, err = g.State(ctx, "")
			return err == nil && len(st.IKESAs) > 0, "", err
		})
		g.Close()
		require.NoError(t, err)
		for _, ike := range st.IKESAs {
			fmt.Fprintf(&b, "%s: %s\n", s, ike.Describe())
		}
		db, err := replica.OpenSocket(ctx, info.Sites[s].DB.Socket, "root", "")
		require.NoError(t, err)
		si, err := db.ServerInfo(ctx)
		db.Close()
		require.NoError(t, err)
		fmt.Fprintf(&b, "%s: binlog %s slave %s current %s\n", s, si.GTID.BinlogPos, si.GTID.SlavePos, si.GTID.CurrentPos)
	}
	return b.String()
}

// Check sends no VICI command but version, list-* and get-*, no SQL but
// SELECT and SHOW, no command to any host; SPIs and GTID positions are the
// same afterwards.
func TestCheckIsReadOnly(t *testing.T) {
	info, tg := upLab(t)
	before := state(t, info)
	require.Contains(t, before, "INSTALLED")
	wt, rec := recordLab(t, info, tg, "root", "")

	r := Check(context.Background(), wt, labOptions())
	require.True(t, r.OK(), "%v", r.Problems())

	sqls, vici, events, hosts := rec.snapshot()
	t.Logf("%d statements, %d VICI commands, %d event registrations", len(sqls), len(vici), len(events))
	assert.Empty(t, hosts, "commands run on hosts")
	for _, q := range sqls {
		_, stmt, _ := strings.Cut(q, ": ")
		u := strings.ToUpper(strings.TrimSpace(stmt))
		ok := strings.HasPrefix(u, "SELECT ") || strings.HasPrefix(u, "SHOW ")
		for _, bad := range []string{" INTO ", "FOR UPDATE", "LOCK IN SHARE", "GET_LOCK", "SLEEP("} {
			ok = ok && !strings.Contains(u, bad)
		}
		assert.True(t, ok, "a statement that is not a plain read: %s", q)
	}
	for _, c := range vici {
		_, cmd, _ := strings.Cut(c, ": ")
		assert.True(t, cmd == "version" || strings.HasPrefix(cmd, "list-") || strings.HasPrefix(cmd, "get-"), "VICI command %s", c)
	}
	for _, e := range events {
		_, ev, _ := strings.Cut(e, ": ")
		assert.True(t, strings.HasPrefix(ev, "list-"), "event registered: %s", e)
	}
	// The recording saw the check (a recorder that saw nothing proves nothing).
	for _, want := range []string{"aws: version", "onprem: version", "aws: list-sas", "onprem: list-sas", "aws: list-conns", "onprem: list-conns"} {
		assert.Contains(t, vici, want)
	}
	for _, want := range []string{"onprem: SHOW REPLICA STATUS", "aws: SHOW GRANTS FOR CURRENT_USER()", "onprem: SHOW GRANTS FOR CURRENT_USER()", "aws: SHOW BINARY LOGS"} {
		assert.Contains(t, sqls, want)
	}

	assert.Equal(t, before, state(t, info), "SPIs or GTID positions changed")
}
