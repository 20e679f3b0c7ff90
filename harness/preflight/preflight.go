package preflight

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/report"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
	"github.com/drdrill/drdrill/scenarios"
)

// DefaultTimeout bounds a whole Check when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// An unhealthy tunnel reading is confirmed by reading again every
// confirmPoll for up to confirmWindow.
const (
	confirmPoll   = 20 * time.Millisecond
	confirmWindow = 200 * time.Millisecond
)

// Options say what to check against.
type Options struct {
	// MaxFault is the longest a fault may be held (the target file's
	// safety.max_fault); 0: not compared.
	MaxFault time.Duration
	// Scenarios are the drills to tabulate (name and Needs).
	Scenarios []harness.Scenario
	// Workload is drdrill's own table; zero: the one drills write today
	// (workload.Table).
	Workload Workload
	// Timeout bounds the check; 0: DefaultTimeout.
	Timeout time.Duration
}

// tagColumns are the columns that make a table drdrill's (schema.sql).
var tagColumns = []string{"id", "msg", "drill_id", "seq", "phase", "writer"}

// Check reads the target and changes nothing. It never fails: what could
// not be read is in the report's problems.
func Check(ctx context.Context, t target.Target, o Options) *Report {
	start := time.Now()
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Workload == (Workload{}) {
		// The target's table (a target file's workload), else the lab's.
		o.Workload = Workload{Database: workload.DefaultTable.Database, Table: workload.DefaultTable.Table}
		if w, ok := t.(target.Workloader); ok {
			o.Workload.Database, o.Workload.Table = w.WorkloadTable()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c := &checker{t: t, o: o, secrets: t.Secrets(),
		r: &Report{Target: t.Name(), CheckedAt: start, MaxFaultMS: o.MaxFault.Milliseconds(), Privileges: []Privilege{}, Drills: []Drill{}}}
	c.r.Workload.Workload = o.Workload
	if err := target.Validate(t); err != nil {
		c.problem("%v", err)
	}

	var wg sync.WaitGroup
	for _, s := range t.Sites() {
		rs := &Site{Name: s.Name, Role: s.Role, Gateway: Gateway{Connection: s.Tunnel.Connection}}
		c.r.Sites = append(c.r.Sites, rs)
		if s.Gateway != nil {
			wg.Go(func() { c.gateway(ctx, s, &rs.Gateway) })
		}
		if s.DB != nil {
			wg.Go(func() { c.db(ctx, s, &rs.DB) })
		}
	}
	var (
		it             tunnel.IKETimings
		rt             replica.Timings
		itErr, rtErr   error
		readIT, readRT bool
	)
	if target.Validate(t) == nil { // IKETimings reads every site's gateway
		readIT = true
		wg.Go(func() { it, itErr = t.IKETimings(ctx) })
	}
	if rep := target.Replica(t); rep != nil && rep.DB != nil {
		readRT = true
		wg.Go(func() { rt, rtErr = rep.DB.Timings(ctx) })
	}
	wg.Wait()

	c.sites()
	if readRT {
		c.replicaTimings(rt, rtErr)
	}
	if readIT {
		c.ikeTimings(it, itErr)
	}
	c.replication()
	c.privileges()
	c.workload()
	c.drills()
	c.r.DurationMS = time.Since(start).Milliseconds()
	return c.r
}

type checker struct {
	t       target.Target
	o       Options
	r       *Report
	secrets []string
	// the workload table as each role's database sees it
	mu      sync.Mutex
	tables  map[string]*tableState
	tblErrs map[string]error
}

type tableState struct {
	dbExists bool
	columns  []string // lower case; none: the table is absent
}

func (c *checker) problem(format string, a ...any) {
	c.r.problems = append(c.r.problems, report.Redact(fmt.Sprintf(format, a...), c.secrets...))
}

func (c *checker) warn(format string, a ...any) {
	c.r.warnings = append(c.r.warnings, report.Redact(fmt.Sprintf(format, a...), c.secrets...))
}

func (c *checker) errText(err error) string { return report.Redact(oneLine(err.Error()), c.secrets...) }

// gateway reads charon's version and the connection's SAs (VICI version,
// list-sas).
func (c *checker) gateway(ctx context.Context, s *target.Site, g *Gateway) {
	g.Endpoint = s.Gateway.Endpoint()
	v, err := s.Gateway.Version(ctx)
	if err != nil {
		g.Error = c.errText(err)
		return
	}
	g.Daemon = strings.TrimSpace(v["daemon"] + " " + v["version"])
	st, err := s.Gateway.State(ctx, s.Tunnel.Connection)
	if err != nil {
		g.Error = c.errText(err)
		return
	}
	if st.Healthy(s.Tunnel) != nil {
		// list-sas (as tunnel reads it, noblock) skips an IKE SA another
		// job holds (a DPD exchange, a rekey): a healthy tunnel can read
		// as "no IKE SA" now and then (measured on the lab: 2 reads in
		// 85 000). Confirm a bad reading for a moment before reporting it.
		_ = poll.Until(ctx, "a healthy reading", confirmPoll, confirmWindow, func(ctx context.Context) (bool, string, error) {
			again, err := s.Gateway.State(ctx, s.Tunnel.Connection)
			if err != nil {
				return false, err.Error(), nil
			}
			st = again
			return again.Healthy(s.Tunnel) == nil, "", nil
		})
	}
	g.Tunnel, g.Summary = &st, st.Summary()
	if err := st.Healthy(s.Tunnel); err != nil {
		g.Unhealthy = strings.TrimPrefix(c.errText(err), st.Gateway+": ")
	} else {
		g.Healthy = true
	}
}

// db reads the database: its state in one round trip first (which is also
// the reachability check), then the rest side by side.
func (c *checker) db(ctx context.Context, s *target.Site, d *DB) {
	conn := s.DB
	d.Version, d.Flavor = conn.Version(), string(conn.Flavor())
	si, err := conn.ServerInfo(ctx)
	if err != nil {
		d.Errors = []string{"unreachable: " + c.errText(err)}
		return
	}
	d.Server = &si
	var mu sync.Mutex
	fail := func(err error) { // replica's errors say what they were reading
		mu.Lock()
		defer mu.Unlock()
		d.Errors = append(d.Errors, c.errText(err))
	}
	var wg sync.WaitGroup
	if s.Role == target.RoleReplica {
		wg.Go(func() {
			st, err := conn.Status(ctx)
			if err != nil {
				fail(err)
				return
			}
			d.Replication = &st
		})
		wg.Go(func() {
			id, err := conn.SourceServerID(ctx)
			if err != nil {
				fail(err)
				return
			}
			d.SourceServerID = id
		})
	}
	wg.Go(func() {
		tls, err := conn.TLS(ctx)
		if err != nil {
			fail(err)
			return
		}
		d.TLS = tls
	})
	wg.Go(func() {
		g, err := conn.Grants(ctx)
		if err != nil {
			fail(err)
			return
		}
		d.Grants, d.Account = g, g.Account
	})
	if s.Role == target.RolePrimary && si.Retention.LogBin {
		wg.Go(func() {
			ob, err := conn.OldestBinlog(ctx)
			switch {
			case err == nil:
				d.OldestBinlog = &ob
			case replica.IsAccessDenied(err): // the privilege check says so
			default:
				fail(err)
			}
		})
	}
	wg.Go(func() {
		ts, err := c.readTable(ctx, conn.DB())
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.tables == nil {
			c.tables, c.tblErrs = map[string]*tableState{}, map[string]error{}
		}
		c.tables[s.Role], c.tblErrs[s.Role] = ts, err
	})
	wg.Wait()
	sort.Strings(d.Errors)
}

// readTable reads whether the workload's database and table exist, and the
// table's columns (information_schema shows what the account may see).
func (c *checker) readTable(ctx context.Context, db *sql.DB) (*tableState, error) {
	w := c.o.Workload
	var n int
	var cols sql.NullString
	err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?),
		(SELECT GROUP_CONCAT(COLUMN_NAME) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?)`,
		w.Database, w.Database, w.Table).Scan(&n, &cols)
	if err != nil {
		return nil, err
	}
	ts := &tableState{dbExists: n > 0}
	if cols.Valid && cols.String != "" {
		for _, col := range strings.Split(cols.String, ",") {
			ts.columns = append(ts.columns, strings.ToLower(strings.TrimSpace(col)))
		}
	}
	return ts, nil
}

// sites turns what each site showed into problems and warnings.
func (c *checker) sites() {
	for _, s := range c.r.Sites {
		g := &s.Gateway
		switch {
		case g.Error != "":
			c.problem("%s gateway (%s): unreachable: %s", s.Name, g.Endpoint, g.Error)
		case !g.Healthy && g.Endpoint != "":
			c.problem("%s gateway: tunnel %s is not healthy: %s", s.Name, g.Connection, g.Unhealthy)
		}
		d := &s.DB
		if d.Server == nil && len(d.Errors) == 0 {
			continue // no database (Validate said so)
		}
		for _, e := range d.Errors {
			c.problem("%s db: %s", s.Name, e)
		}
		if d.Server == nil {
			continue
		}
		si := d.Server
		if d.Flavor != string(replica.MariaDB) && si.GTID.Mode != "" && si.GTID.Mode != "ON" {
			c.problem("%s db: gtid_mode=%s: drills need GTID replication (gtid_mode=ON)", s.Name, si.GTID.Mode)
		}
		switch s.Role {
		case target.RolePrimary:
			if si.ReadOnly || si.SuperReadOnly {
				c.problem("%s db: the primary is read_only: drills write drdrill's rows there", s.Name)
			}
			if err := si.Retention.Check(c.o.MaxFault); err != nil {
				c.problem("%s db: %v", s.Name, err)
			}
		case target.RoleReplica:
			if !si.ReadOnly {
				c.warn("%s db: the replica is not read_only: a write there would make it diverge from the primary", s.Name)
			}
			c.replicaThreads(s.Name, d.Replication)
		}
		if d.Grants != nil && len(d.Grants.Roles) > 0 {
			c.warn("%s db: %s has roles (%s): privileges they give are not counted; grant directly or check by hand",
				s.Name, d.Account, strings.Join(d.Grants.Roles, ", "))
		}
	}
}

func (c *checker) replicaThreads(site string, st *replica.Status) {
	switch {
	case st == nil:
		return // its read error is already a problem
	case !st.Configured:
		c.problem("%s db: replication is not configured (SHOW REPLICA STATUS is empty)", site)
	case st.IO != replica.IOYes || !st.SQLRunning:
		line := fmt.Sprintf("%s db: replica not running: IO: %s, SQL: %s", site, orDash(string(st.IO)), yesNo(st.SQLRunning))
		if st.LastIOErrno != 0 {
			line += fmt.Sprintf(", Last_IO_Error: %d %s", st.LastIOErrno, oneLine(st.LastIOError))
		}
		if st.LastSQLErrno != 0 {
			line += fmt.Sprintf(", Last_SQL_Error: %d %s", st.LastSQLErrno, oneLine(st.LastSQLError))
		}
		c.problem("%s", line)
	}
}

func (c *checker) replicaTimings(rt replica.Timings, err error) {
	if err != nil {
		c.problem("replica timings: %s", c.errText(err))
		return
	}
	c.r.Timings.Replica = &ReplicaTimings{NetTimeoutMS: rt.NetTimeout.Milliseconds(), ConnectRetryMS: rt.ConnectRetry.Milliseconds(),
		HeartbeatMS: rt.Heartbeat.Milliseconds(), RetryCount: rt.RetryCount, GiveUpAfterMS: rt.GiveUpAfter().Milliseconds()}
	w := &c.r.Windows
	w.OutageDetectMS, w.ReconnectMS = rt.OutageDetectWindow().Milliseconds(), rt.ReconnectWindow().Milliseconds()
	w.OutageEvidenceMS = scenarios.OutageEvidenceWindow(rt).Milliseconds()
	if rt.Heartbeat == 0 {
		c.warn("replica heartbeat not read: windows assume the server default (half the net timeout)")
	}
	mf := c.o.MaxFault
	if g := rt.GiveUpAfter(); mf > 0 && g > 0 && g <= mf {
		c.problem("the replica stops retrying after %s (connect retry %s × %d tries), within max_fault %s: a fault held that long leaves its IO thread stopped for good",
			g, rt.ConnectRetry, rt.RetryCount, mf)
	}
	if ev := scenarios.OutageEvidenceWindow(rt); mf > 0 && ev > mf {
		c.problem("max_fault %s is shorter than the outage evidence window %s (from the replica's timings): drills hold a fault until the replica shows the outage", mf, ev)
	}
}

func (c *checker) ikeTimings(it tunnel.IKETimings, err error) {
	if err != nil {
		c.problem("IKE timings: %s", c.errText(err))
		return
	}
	ike := &IKETimings{Sites: map[string]IKESite{}, RetransmitTimeoutMS: it.Retransmit.Timeout.Milliseconds(),
		RetransmitBase: it.Retransmit.Base, RetransmitTries: it.Retransmit.Tries, RetransmitSeqMS: it.Sequence().Milliseconds(), Source: it.Source}
	for _, s := range it.Sites {
		ike.Sites[s] = IKESite{DPDDelayMS: it.DPDDelay[s].Milliseconds(), DPDAction: it.DPDAction[s], StartAction: it.StartAction[s], Keyingtries: it.Keyingtries[s]}
	}
	c.r.Timings.IKE = ike
	c.r.Windows.HealMS = it.HealWindow().Milliseconds()
	if len(it.DPDSites()) > 0 {
		c.r.Windows.DPDMS = it.DPDWindow().Milliseconds()
	} else {
		c.warn("no gateway has DPD: a silent WAN is never noticed by the gateways (%s)", it.Reinitiators())
	}
}

// replication compares the replica with the primary: caught up, and able
// to resume from the primary's binary logs.
func (c *checker) replication() {
	p, r := c.siteReport(target.RolePrimary), c.siteReport(target.RoleReplica)
	if p == nil || r == nil || p.DB.Server == nil || r.DB.Server == nil {
		return
	}
	if id := r.DB.SourceServerID; id != 0 && p.DB.Server.ServerID != "" && fmt.Sprint(id) != p.DB.Server.ServerID {
		c.problem("%s db: the replica replicates from server_id %d, but the primary at %s is server_id %s: it is not this primary's replica",
			r.Name, id, p.Name, p.DB.Server.ServerID)
	}
	f := replica.Flavor(r.DB.Flavor)
	applied, written, start := r.DB.Server.GTID.Executed, p.DB.Server.GTID.Executed, p.DB.Server.GTID.Purged
	if f == replica.MariaDB {
		applied, written = r.DB.Server.GTID.SlavePos, p.DB.Server.GTID.BinlogPos
		start = ""
		if p.DB.OldestBinlog != nil {
			start = p.DB.OldestBinlog.Start
		}
	}
	if ok, err := replica.Covers(f, applied, written); err == nil {
		c.r.Replication.CaughtUp = &ok
		if !ok {
			c.warn("%s db: the replica has applied %s, the primary is at %s (behind when read)", r.Name, orDash(applied), orDash(written))
		}
	} else {
		c.warn("compare GTID positions: %s", c.errText(err))
	}
	if f == replica.MariaDB && p.DB.OldestBinlog == nil {
		return
	}
	if ok, err := replica.CanResume(f, applied, start); err == nil {
		c.r.Replication.CanResume = &ok
		if !ok {
			c.problem("%s db: the primary's binary logs begin after the replica's position (%s, replica at %s): replication cannot resume (error 1236)",
				r.Name, start, orDash(applied))
		}
	}
}

func (c *checker) siteReport(role string) *Site {
	for _, s := range c.r.Sites {
		if s.Role == role {
			return s
		}
	}
	return nil
}

// privileges checks each site's account against what its role needs.
func (c *checker) privileges() {
	pt := c.tables[target.RolePrimary]
	create := pt != nil && len(pt.columns) == 0
	for _, s := range c.r.Sites {
		if s.DB.Server == nil {
			continue
		}
		for _, n := range needs(replica.Flavor(s.DB.Flavor), c.o.Workload, create, create && !pt.dbExists) {
			if n.role != s.Role {
				continue
			}
			p := Privilege{Site: s.Name, Role: s.Role, Privilege: n.priv, On: n.level(), Why: n.why, Drills: n.drills, Optional: n.optional}
			if s.DB.Grants == nil {
				p.Unknown = true
			} else {
				p.Have = s.DB.Grants.Has(n.priv, n.db, n.table)
			}
			c.r.Privileges = append(c.r.Privileges, p)
			switch {
			case p.Have || p.Unknown:
			case n.optional:
				c.warn("%s db: %s lacks %s on %s (%s)", s.Name, s.DB.Account, p.Privilege, p.On, p.Why)
			case n.drills == nil:
				c.problem("%s db: %s lacks %s on %s, which every drill needs (%s)", s.Name, s.DB.Account, p.Privilege, p.On, p.Why)
			}
		}
	}
}

// workload checks drdrill's own table: an existing one must be drdrill's;
// the replica must have what the primary has.
func (c *checker) workload() {
	ws := &c.r.Workload
	pt, err := c.tables[target.RolePrimary], c.tblErrs[target.RolePrimary]
	switch {
	case err != nil:
		ws.Error = c.errText(err)
		c.problem("%s: cannot read whether it exists on the primary: %s", ws.Workload, ws.Error)
		return
	case pt == nil:
		return
	}
	ws.DatabaseExists, ws.Exists = pt.dbExists, len(pt.columns) > 0
	if !ws.Exists {
		c.warn("%s does not exist on the primary: drills create it (see the CREATE privilege)", ws.Workload)
	}
	for _, col := range tagColumns {
		if ws.Exists && !slices.Contains(pt.columns, col) {
			ws.MissingColumns = append(ws.MissingColumns, col)
		}
	}
	if len(ws.MissingColumns) > 0 {
		c.problem("%s on the primary has no %s column(s): it is not drdrill's table and is never altered; name another in workload: {database, table}",
			ws.Workload, strings.Join(ws.MissingColumns, ", "))
	}
	if rt, err := c.tables[target.RoleReplica], c.tblErrs[target.RoleReplica]; err == nil && rt != nil {
		on := len(rt.columns) > 0
		ws.OnReplica = &on
		if ws.Exists && !on {
			c.problem("%s exists on the primary but not on the replica: is it filtered out of replication?", ws.Workload)
		}
	}
}

// drills tabulates each drill: the capabilities the target lacks, the
// privileges its account lacks, a max_fault too short for it.
func (c *checker) drills() {
	for _, sc := range c.o.Scenarios {
		d := Drill{Name: sc.Name, MissingCapabilities: target.Missing(c.t, sc.Needs...)}
		for _, p := range c.r.Privileges {
			if p.Have || p.Optional || (len(p.Drills) > 0 && !slices.Contains(p.Drills, sc.Name)) {
				continue
			}
			m := fmt.Sprintf("%s on %s at %s", p.Privilege, p.On, p.Site)
			if p.Unknown {
				m += " (grants unreadable)"
			}
			d.MissingPrivileges = append(d.MissingPrivileges, m)
		}
		if slices.Contains(siteLossDrills, sc.Name) {
			for _, s := range c.r.Sites {
				if s.DB.Server != nil && replica.Flavor(s.DB.Flavor) != replica.MariaDB {
					d.Blocked = append(d.Blocked, fmt.Sprintf("%s db is %s: %s", s.Name, s.DB.Flavor, siteLossBlocked))
				}
			}
		}
		if w := c.r.Windows.OutageEvidenceMS; c.o.MaxFault > 0 && w > c.o.MaxFault.Milliseconds() {
			d.Blocked = append(d.Blocked, fmt.Sprintf("max_fault %s < outage evidence window %s", c.o.MaxFault, time.Duration(w)*time.Millisecond))
		}
		d.Runnable = len(d.MissingCapabilities)+len(d.MissingPrivileges)+len(d.Blocked) == 0
		c.r.Drills = append(c.r.Drills, d)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
