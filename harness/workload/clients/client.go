package clients

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/drdrill/drdrill/harness/workload"
)

// Client codes, as the mysql CLI names a failure that has no server error.
const (
	CodeCannotConnect = 2003 // CR_CONN_HOST_ERROR: the dial failed
	CodeUnknownHost   = 2005 // CR_UNKNOWN_HOST: the name did not resolve
	CodeServerGone    = 2006 // CR_SERVER_GONE_ERROR: the connection was dead before the statement was sent
	CodeLost          = 2013 // CR_SERVER_LOST: lost (or timed out) after the statement was sent: outcome unknown
	CodeReadOnly      = 1290 // ER_OPTION_PREVENTS_STATEMENT (--read-only)
)

// Defaults.
const (
	DefaultInterval = 10 * time.Millisecond
	DefaultPort     = 3306
	// MaxFailuresKept bounds Failures(); counts go on.
	MaxFailuresKept = 100000
)

// Config is one client: a profile, where it runs and what it writes.
type Config struct {
	// Name labels the client in reports and is each row's msg, e.g.
	// "peer-app/pool-pinned" (1-50 of letters, digits, ' ', '.', '_', '/', '-').
	Name    string
	Profile Profile
	// Cluster is the writer endpoint name (writer.cluster.lab), Instance an
	// instance's name; the profile's Endpoint picks which one is used.
	Cluster, Instance string
	Port              int // DefaultPort if 0
	User, Password    string
	Dialer            Dialer   // makes every socket (a NetnsDialer)
	Resolver          Resolver // resolves the endpoint (a NamespaceResolver)
	Ledger            *workload.Ledger
	Table             workload.TableName // workload.DefaultTable if zero
	Writer            int                // this client's writer number in the ledger (unique per drill)
	// Interval between writes (DefaultInterval if 0): the resolution of
	// the unavailability measured.
	Interval time.Duration
	// Timeout bounds one write, connecting and validating included
	// (workload.DefaultTimeout if 0).
	Timeout time.Duration
}

var clientNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,49}$`)

// Client writes tagged rows at a steady rate. Start it before the fault
// (a long-lived pool is opened then), Stop it after.
type Client struct {
	cfg      Config
	endpoint string
	db       *sql.DB
	wire     wire
	phase    atomic.Value // workload.Phase

	resolveMu sync.Mutex
	cached    string // ResolveOnce: the address resolved at start
	lookups   int
	lastIP    string

	cancel  context.CancelFunc
	done    chan struct{}
	stopped sync.Once

	mu       sync.Mutex
	seq      int64
	st       Stats
	failures []Failure
	out      *Outage // the outage in progress
	lastAck  time.Time
	lastSrv  Server // the server of the last acknowledged write
}

// New checks cfg. Nothing is dialled until Start.
func New(cfg Config) (*Client, error) {
	if !clientNameRE.MatchString(cfg.Name) {
		return nil, fmt.Errorf("client name %q: want 1-50 of letters, digits, ' ', '.', '_', '/', '-'", cfg.Name)
	}
	if err := cfg.Profile.Validate(); err != nil {
		return nil, fmt.Errorf("client %s: %w", cfg.Name, err)
	}
	c := &Client{cfg: cfg, done: make(chan struct{})}
	switch cfg.Profile.Endpoint {
	case EndpointCluster:
		c.endpoint = cfg.Cluster
	case EndpointInstance:
		c.endpoint = cfg.Instance
	}
	if c.endpoint == "" {
		return nil, fmt.Errorf("client %s: profile %s uses the %s endpoint, and it is not set", cfg.Name, cfg.Profile.Name, cfg.Profile.Endpoint)
	}
	if len(c.endpoint) > 253 || net.ParseIP(c.endpoint) != nil {
		return nil, fmt.Errorf("client %s: endpoint %q: want a DNS name", cfg.Name, c.endpoint)
	}
	switch {
	case cfg.Dialer == nil:
		return nil, fmt.Errorf("client %s: no Dialer (a NetnsDialer for the namespace it runs in)", cfg.Name)
	case cfg.Resolver == nil:
		return nil, fmt.Errorf("client %s: no Resolver", cfg.Name)
	case cfg.Ledger == nil:
		return nil, fmt.Errorf("client %s: no Ledger", cfg.Name)
	case cfg.User == "":
		return nil, fmt.Errorf("client %s: no User", cfg.Name)
	case cfg.Writer < 1:
		return nil, fmt.Errorf("client %s: writer %d: want ≥ 1 (0 is the workload's Pinger)", cfg.Name, cfg.Writer)
	case cfg.Interval < 0 || cfg.Timeout < 0 || cfg.Port < 0 || cfg.Port > 65535:
		return nil, fmt.Errorf("client %s: negative interval or timeout, or port out of range", cfg.Name)
	}
	if c.cfg.Port == 0 {
		c.cfg.Port = DefaultPort
	}
	if c.cfg.Table == (workload.TableName{}) {
		c.cfg.Table = workload.DefaultTable
	}
	if err := c.cfg.Table.Validate(); err != nil {
		return nil, fmt.Errorf("client %s: %w", cfg.Name, err)
	}
	if c.cfg.Interval == 0 {
		c.cfg.Interval = DefaultInterval
	}
	if c.cfg.Timeout == 0 {
		c.cfg.Timeout = workload.DefaultTimeout
	}
	c.phase.Store(workload.PhaseBefore)
	c.st = Stats{Client: cfg.Name, Profile: cfg.Profile.Name, Endpoint: c.endpoint, Writer: cfg.Writer,
		Expected: cfg.Profile.Expect(c.endpoint), AckedByServer: map[uint32]int{}, ErrorsByCode: map[int]int{},
		FailuresByServer: map[uint32]int{}, FailuresByAddr: map[string]int{}}
	return c, nil
}

// Expected is what the client's profile should see in a planned failover.
func (c *Client) Expected() Expectation { return c.st.Expected }

// Endpoint is the name the client connects to.
func (c *Client) Endpoint() string { return c.endpoint }

// SetPhase tags the following writes with p.
func (c *Client) SetPhase(p workload.Phase) { c.phase.Store(p) }

// resolveError and dialError mark where a connection attempt failed.
type resolveError struct{ err error }

func (e *resolveError) Error() string { return e.err.Error() }
func (e *resolveError) Unwrap() error { return e.err }

type dialError struct {
	addr string
	err  error
}

// validationError is a pooled connection that failed its validation
// query (after the retries): the write was never sent.
type validationError struct{ err error }

func (e *validationError) Error() string { return "validation query: " + e.err.Error() }
func (e *validationError) Unwrap() error { return e.err }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (c *Client) resolve(ctx context.Context) (string, error) {
	ips, err := c.cfg.Resolver.LookupIPv4(ctx, c.endpoint)
	if err == nil && len(ips) == 0 {
		err = fmt.Errorf("resolve %s: no A record", c.endpoint)
	}
	c.resolveMu.Lock()
	defer c.resolveMu.Unlock()
	c.lookups++
	if err != nil {
		return "", &resolveError{err}
	}
	c.lastIP = ips[0].String()
	return c.lastIP, nil
}

// dial is the driver's DialFunc: the profile decides the address.
func (c *Client) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	var ip string
	if c.cfg.Profile.Resolve == ResolveOnce {
		c.resolveMu.Lock()
		ip = c.cached
		c.resolveMu.Unlock()
	} else {
		var err error
		if ip, err = c.resolve(ctx); err != nil {
			return nil, err
		}
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(c.cfg.Port))
	nc, err := c.cfg.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &dialError{addr, err}
	}
	return &tracedConn{Conn: nc, w: &c.wire, addr: addr}, nil
}

// Start opens the client (resolving once, or filling a long-lived pool
// with validated connections: "opened before the fault") and starts
// writing every Interval until Stop or ctx ends.
func (c *Client) Start(ctx context.Context) error {
	if c.db != nil {
		return fmt.Errorf("client %s: started twice", c.cfg.Name)
	}
	p := c.cfg.Profile
	if p.Resolve == ResolveOnce {
		ip, err := c.resolve(ctx)
		if err != nil {
			return fmt.Errorf("client %s: %w", c.cfg.Name, err)
		}
		c.resolveMu.Lock()
		c.cached = ip
		c.resolveMu.Unlock()
	}
	mc := mysql.NewConfig()
	mc.User, mc.Passwd = c.cfg.User, c.cfg.Password
	mc.Net, mc.Addr = "tcp", net.JoinHostPort(c.endpoint, strconv.Itoa(c.cfg.Port))
	mc.DialFunc = c.dial
	mc.RejectReadOnly = p.RejectReadOnly
	mc.InterpolateParams = true // one round trip per write, like most ORMs' drivers
	mc.Timeout = c.cfg.Timeout
	// The driver would log each broken connection to stderr; every
	// failure is in the client's record instead.
	mc.Logger = mysql.Logger(log.New(io.Discard, "", 0))
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return fmt.Errorf("client %s: %w", c.cfg.Name, err)
	}
	c.db = sql.OpenDB(conn)
	if p.Pooling == PoolLongLived {
		c.db.SetMaxOpenConns(p.PoolSize)
		c.db.SetMaxIdleConns(p.PoolSize)
		if err := c.fill(ctx); err != nil {
			c.db.Close()
			return fmt.Errorf("client %s: open its pool: %w", c.cfg.Name, err)
		}
	} else {
		c.db.SetMaxIdleConns(0) // every write dials (and resolves) anew
	}
	stop := make(chan struct{})
	c.cancel = func() { close(stop) }
	go c.loop(ctx, stop)
	return nil
}

// fill opens PoolSize validated connections and leaves them idle in the pool.
func (c *Client) fill(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var conns []*sql.Conn
	defer func() {
		for _, sc := range conns {
			sc.Close()
		}
	}()
	for range c.cfg.Profile.PoolSize {
		sc, err := c.db.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, sc)
		if q := c.cfg.Profile.ValidationQuery; q != "" {
			if err := validate(ctx, sc, q); err != nil {
				return fmt.Errorf("validation query %q: %w", q, err)
			}
		}
	}
	return nil
}

func validate(ctx context.Context, sc *sql.Conn, q string) error {
	rows, err := sc.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

// loop writes every Interval until stop is closed or ctx ends. Stop lets
// the write in flight finish (its own Timeout bounds it): cancelling it
// would make its outcome unknown to the client although the server may
// still commit it.
func (c *Client) loop(ctx context.Context, stop <-chan struct{}) {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		default:
		}
		c.writeOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// Stop ends the writes, waits for the one in flight to finish, closes the
// pool and returns the client's stats.
func (c *Client) Stop() Stats {
	c.stopped.Do(func() {
		if c.cancel != nil {
			c.cancel()
			<-c.done
		}
		if c.db != nil {
			c.db.Close()
		}
	})
	return c.Stats()
}

// conn takes a connection for one write: from the pool (validated, a
// failing one dropped and another taken) or a new one.
func (c *Client) conn(ctx context.Context) (*sql.Conn, error) {
	q := c.cfg.Profile.ValidationQuery
	var err error
	for range c.cfg.Profile.PoolSize + 1 {
		var sc *sql.Conn
		if sc, err = c.db.Conn(ctx); err != nil {
			return nil, err
		}
		if q == "" {
			return sc, nil
		}
		if err = validate(ctx, sc, q); err == nil {
			return sc, nil
		}
		discard(sc)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, &validationError{err}
}

func discard(sc *sql.Conn) {
	_ = sc.Raw(func(any) error { return driver.ErrBadConn })
	_ = sc.Close()
}

func (c *Client) writeOnce(ctx context.Context) {
	c.mu.Lock()
	c.seq++
	seq := c.seq
	c.mu.Unlock()
	phase, _ := c.phase.Load().(workload.Phase)
	if ctx.Err() != nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	c.wire.reset()
	sent := time.Now()
	sc, err := c.conn(wctx)
	if err != nil {
		if ctx.Err() != nil {
			return // stopped while connecting: not a failure of the server
		}
		c.record(seq, phase, sent, nil, err, false)
		return
	}
	res, err := sc.ExecContext(wctx, "INSERT INTO "+c.cfg.Table.String()+" (msg, drill_id, writer, seq, phase) VALUES (?, ?, ?, ?, ?)",
		c.cfg.Name, c.cfg.Ledger.DrillID(), c.cfg.Writer, seq, string(phase))
	var id int64
	if err == nil {
		id, _ = res.LastInsertId()
	}
	at := c.record(seq, phase, sent, sc, err, true)
	if err == nil {
		c.cfg.Ledger.Ack(workload.Entry{Writer: c.cfg.Writer, Seq: seq, Phase: phase, Msg: c.cfg.Name, ID: id, SentAt: sent, AckAt: at})
	}
	_ = sc.Close()
}

// serverOf reads @@server_id and @@read_only on the write's own connection.
func (c *Client) serverOf(sc *sql.Conn) (Server, bool) {
	_, sentTo := c.wire.get()
	s := Server{Addr: sentTo}
	if sc == nil {
		return s, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	var ro int
	if err := sc.QueryRowContext(ctx, "SELECT @@server_id, @@read_only").Scan(&s.ServerID, &ro); err != nil {
		return s, false
	}
	s.ReadOnly, s.Read = ro != 0, true
	return s, true
}

// record classifies one write's outcome and enters it (a failure in the
// ledger too; the caller enters an ack, with its id). It returns the time
// the outcome was known.
func (c *Client) record(seq int64, phase workload.Phase, sent time.Time, sc *sql.Conn, err error, gotConn bool) (at time.Time) {
	at = time.Now()
	wireErrno, _ := c.wire.get()
	var srv Server
	if err == nil || !errors.Is(err, driver.ErrBadConn) {
		srv, _ = c.serverOf(sc)
	} else {
		srv, _ = c.serverOf(nil) // the driver closed it
	}
	if err == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.lastAck, c.lastSrv = at, srv
		c.st.Attempts++
		c.st.Acked++
		c.st.AckedByServer[srv.ServerID]++
		if c.out != nil {
			c.out.Recovered = &Ack{Seq: seq, SentAt: sent, AckAt: at, Server: srv}
			c.out.finish()
			c.st.Outages = append(c.st.Outages, *c.out)
			c.out = nil
		}
		return at
	}
	f := Failure{Seq: seq, Phase: phase, SentAt: sent, At: at, Err: err.Error(), Server: srv}
	var me *mysql.MySQLError
	var re *resolveError
	var de *dialError
	var ve *validationError
	switch {
	case errors.As(err, &me):
		// A refused insert, or a refused connection or validation query
		// (1045, 1040, ...): then the insert was never sent.
		f.Code, f.Sent = int(me.Number), gotConn
	case errors.As(err, &ve):
		f.Code = CodeLost // the connection failed its validation: the insert was not sent
	case errors.As(err, &re):
		f.Code = CodeUnknownHost
	case errors.As(err, &de):
		f.Code = CodeCannotConnect
		f.Server.Addr = de.addr
	case errors.Is(err, driver.ErrBadConn) && wireErrno != 0:
		// rejectReadOnly: the server refused it; the driver closed the
		// connection and said ErrBadConn.
		f.Code, f.Sent = wireErrno, true
		f.Err = fmt.Sprintf("server error %d (the driver dropped the connection: rejectReadOnly): %v", wireErrno, err)
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), !gotConn:
		f.Code = CodeServerGone
		if !gotConn {
			f.Code = CodeCannotConnect
		}
	default:
		f.Code, f.Sent, f.Unknown = CodeLost, true, true
	}
	a := workload.Attempt{Writer: c.cfg.Writer, Seq: seq, Phase: phase, Msg: c.cfg.Name, SentAt: sent, At: at, Sent: f.Sent, Err: f.Err}
	if f.Code < 2000 {
		a.Errno = f.Code
	}
	if f.Unknown {
		c.cfg.Ledger.AddUnknown(a)
	} else {
		c.cfg.Ledger.AddFailed(a)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Attempts++
	if f.Unknown {
		c.st.Unknown++
	} else {
		c.st.Failed++
	}
	c.st.ErrorsByCode[f.Code]++
	if f.Server.Read {
		c.st.FailuresByServer[f.Server.ServerID]++
	}
	if f.Server.Addr != "" {
		c.st.FailuresByAddr[f.Server.Addr]++
	}
	if len(c.failures) < MaxFailuresKept {
		c.failures = append(c.failures, f)
	}
	if c.st.FirstFailure == nil {
		ff := f
		c.st.FirstFailure = &ff
	}
	lf := f
	c.st.LastFailure = &lf
	if c.out == nil {
		c.out = &Outage{LastAckBefore: c.lastAck, FirstFailure: f, ErrorsByCode: map[int]int{}}
	}
	c.out.LastFailure = f
	c.out.Failures++
	c.out.ErrorsByCode[f.Code]++
	return at
}

// LastAck is when the client's last write was acknowledged, and by which
// server (zero before its first).
func (c *Client) LastAck() (time.Time, Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastAck, c.lastSrv
}

// Failures returns the failed writes in order (at most MaxFailuresKept).
func (c *Client) Failures() []Failure {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Failure(nil), c.failures...)
}

// Stats is a snapshot of the client's counts and outages; an outage still
// in progress is included, unrecovered, up to its last failure.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.AckedByServer = cloneMap(c.st.AckedByServer)
	s.ErrorsByCode = cloneMap(c.st.ErrorsByCode)
	s.FailuresByServer = cloneMap(c.st.FailuresByServer)
	s.FailuresByAddr = cloneMap(c.st.FailuresByAddr)
	s.Outages = append([]Outage(nil), c.st.Outages...)
	if c.out != nil {
		o := *c.out
		o.ErrorsByCode = cloneMap(o.ErrorsByCode)
		o.finish()
		s.Outages = append(s.Outages, o)
		s.FailingAtEnd = true
	}
	c.resolveMu.Lock()
	s.Lookups, s.LastResolved = c.lookups, c.lastIP
	c.resolveMu.Unlock()
	if len(s.Outages) > 0 {
		o := s.Outages[0]
		s.WriteUnavailable, s.Recovered = o.Duration, o.Recovered
	}
	return s
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
