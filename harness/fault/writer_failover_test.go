package fault

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/internal/fakesql"
)

// fakeMaria is a MariaDB 10.11 server as the failover's validation reads
// it: read_only, server id, replication status and GTID state. Every
// statement that would change something is recorded (and SET GLOBAL
// read_only applied).
type fakeMaria struct {
	mu          sync.Mutex
	id          int64
	ro          bool
	replicaOf   string // source host, "" when not a replica
	srcID       int64
	io, sql     string
	binlogPos   string
	binlogState string
	slavePos    string
	changes     []string
}

func newFakeMaria(t *testing.T, m *fakeMaria) *replica.Conn {
	t.Helper()
	s := &fakesql.Server{Version: "10.11.6-MariaDB-0+deb12u1", Comment: "Debian 12", Handle: m.query, Exec: m.exec}
	c, err := replica.FromDB(context.Background(), s.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (m *fakeMaria) writes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, q := range m.changes {
		if !strings.HasPrefix(q, "SET SESSION") {
			out = append(out, q)
		}
	}
	return out
}

// exec records every statement run with Exec; SET GLOBAL read_only is
// applied.
func (m *fakeMaria) exec(q string, _ []driver.NamedValue) fakesql.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.changes = append(m.changes, q)
	switch q {
	case "SET GLOBAL read_only = ON":
		m.ro = true
	case "SET GLOBAL read_only = OFF":
		m.ro = false
	}
	return fakesql.Result{}
}

func (m *fakeMaria) query(q string, _ []driver.NamedValue) fakesql.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	one := func(v string) fakesql.Result { return fakesql.One("v", v) }
	switch q {
	case "SELECT @@GLOBAL.server_id":
		return one(strconv.FormatInt(m.id, 10))
	case "SELECT @@GLOBAL.read_only":
		return one(map[bool]string{true: "1", false: "0"}[m.ro])
	case "SELECT @@GLOBAL.log_bin":
		return one("1")
	case "SELECT @@GLOBAL.gtid_binlog_state":
		return one(m.binlogState)
	case "SELECT @@GLOBAL.gtid_binlog_pos":
		return one(m.binlogPos)
	case "SELECT @@GLOBAL.gtid_slave_pos":
		return one(m.slavePos)
	case "SHOW REPLICA STATUS":
		cols := []string{"Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master", "Master_Host", "Master_Port", "Connect_Retry",
			"Last_IO_Errno", "Last_IO_Error", "Last_SQL_Errno", "Last_SQL_Error", "Gtid_IO_Pos", "Master_Server_Id"}
		if m.replicaOf == "" {
			return fakesql.Result{Cols: cols}
		}
		return fakesql.Result{Cols: cols, Rows: [][]any{{m.io, m.sql, "0", m.replicaOf, "3306", "1", "0", "", "0", "", m.slavePos, strconv.FormatInt(m.srcID, 10)}}}
	}
	return fakesql.Result{Err: fmt.Errorf("fake mariadb: unexpected query %q", q)}
}

// fakeCluster is a target.Cluster over two fakeMaria instances.
type fakeCluster struct {
	mu        sync.Mutex
	instances []*target.Instance
	eps       map[string]string
	flips     []string
}

func (c *fakeCluster) Instances() []*target.Instance { return c.instances }
func (c *fakeCluster) WriterEndpoint() string        { return "writer.cluster.lab" }
func (c *fakeCluster) ReaderEndpoint() string        { return "reader.cluster.lab" }
func (c *fakeCluster) EndpointTTL() time.Duration    { return 5 * time.Second }
func (c *fakeCluster) Endpoints(context.Context) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return map[string]string{"writer.cluster.lab": c.eps["writer.cluster.lab"], "reader.cluster.lab": c.eps["reader.cluster.lab"]}, nil
}
func (c *fakeCluster) FlipEndpoint(_ context.Context, ep, in string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eps[ep] = in
	c.flips = append(c.flips, ep+"→"+in)
	return nil
}
func (c *fakeCluster) ReplicationSource(in string) (replica.Source, error) {
	return replica.Source{Host: target.InstanceNamed(c, in).Addr, User: "repl", Password: "secret"}, nil
}
func (c *fakeCluster) ReplicationTimings() replica.Timings {
	return replica.Timings{NetTimeout: time.Second, ConnectRetry: time.Second, Heartbeat: 500 * time.Millisecond}
}
func (c *fakeCluster) Apps() []target.App                  { return nil }
func (c *fakeCluster) AppAccount() (user, password string) { return "app", "x" }

// clusterTarget is the lab's shape with a cluster: aws (aws-db) and onprem.
type clusterTarget struct {
	fakeTarget
	*fakeCluster
}

// vpnClusterTarget is the fake VPN target with a cluster (every registered
// fault can be built on it).
type vpnClusterTarget struct {
	vpnTarget
	*fakeCluster
}

// healthyCluster is the original topology: aws-db (server 1) the writer,
// aws-db2 (3) its caught-up replica, onprem-db (2) a replica of aws-db.
func healthyCluster() (db, db2, onprem *fakeMaria) {
	return &fakeMaria{id: 1, binlogPos: "0-1-10", binlogState: "0-1-10"},
		&fakeMaria{id: 3, ro: true, replicaOf: "10.20.11.123", srcID: 1, io: "Yes", sql: "Yes", binlogPos: "0-1-10", binlogState: "0-1-10", slavePos: "0-1-10"},
		&fakeMaria{id: 2, ro: true, replicaOf: "10.20.11.123", srcID: 1, io: "Yes", sql: "Yes", binlogPos: "0-1-10", binlogState: "0-1-10", slavePos: "0-1-10"}
}

func newClusterTarget(t *testing.T, db, db2, onprem *fakeMaria) (clusterTarget, *fakeCluster) {
	t.Helper()
	tg := twoSites()
	c1 := newFakeMaria(t, db)
	tg.sites[0].DB = c1
	tg.sites[1].DB = newFakeMaria(t, onprem)
	fc := &fakeCluster{instances: []*target.Instance{{Name: "aws-db", Addr: "10.20.11.123", DB: c1}, {Name: "aws-db2", Addr: "10.20.12.45", DB: newFakeMaria(t, db2)}},
		eps: map[string]string{"writer.cluster.lab": "aws-db", "reader.cluster.lab": "aws-db2"}}
	return clusterTarget{tg, fc}, fc
}

func TestWriterFailoverParams(t *testing.T) {
	db, db2, onprem := healthyCluster()
	tg, _ := newClusterTarget(t, db, db2, onprem)
	f, err := New("writer-failover", tg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wf := f.(*WriterFailover)
	if wf.To != "" || wf.CatchUp != DefaultCatchUpTimeout || !wf.FlipDNS || wf.LeaveOldWriterWritable || !wf.RepointReplica || wf.ReplicaName != "onprem-db" {
		t.Fatalf("defaults: %+v", wf)
	}
	f, err = New("writer-failover", tg, nil, Params{"to": "aws-db2", "catch_up_timeout": "2s", "flip_dns": "false", "leave_old_writer_writable": "true", "repoint_replica": "false"})
	if err != nil {
		t.Fatal(err)
	}
	wf = f.(*WriterFailover)
	if wf.To != "aws-db2" || wf.CatchUp != 2*time.Second || wf.FlipDNS || !wf.LeaveOldWriterWritable || wf.RepointReplica {
		t.Fatalf("params: %+v", wf)
	}
	for _, tc := range []struct {
		p    Params
		want string
	}{
		{Params{"to": "aws-db3"}, `to="aws-db3": not an instance of the cluster (aws-db, aws-db2)`},
		{Params{"catch_up_timeout": "soon"}, `catch_up_timeout="soon"`},
		{Params{"catch_up_timeout": "0s"}, `catch_up_timeout="0s": want a duration above 0`},
		{Params{"flip_dns": "maybe"}, `flip_dns="maybe": want true or false`},
		{Params{"leave_old_writer_writable": "yes please"}, `leave_old_writer_writable="yes please"`},
		{Params{"repoint_replica": "2"}, `repoint_replica="2"`},
		{Params{"to_instance": "aws-db2"}, `unknown parameter "to_instance"`},
	} {
		if _, err := New("writer-failover", tg, nil, tc.p); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line containing %q", tc.p, err, tc.want)
		}
	}
	// A target without a cluster (a four-host lab) is named before anything.
	var me *target.MissingError
	if _, err := New("writer-failover", twoSites(), nil, nil); !errors.As(err, &me) {
		t.Fatalf("no cluster: %v", err)
	}
}

// Every way the starting topology can be wrong is refused by step 0, with
// nothing written anywhere and no step on the timeline.
func TestWriterFailoverValidationRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      Params
		break_ func(db, db2, onprem *fakeMaria, c *fakeCluster)
		want   string
	}{
		{"writer read-only", nil, func(db, _, _ *fakeMaria, _ *fakeCluster) { db.ro = true }, "the writer aws-db is read-only"},
		{"writer is a replica", nil, func(db, _, _ *fakeMaria, _ *fakeCluster) {
			db.replicaOf, db.srcID, db.io, db.sql = "10.20.12.45", 3, "Yes", "Yes"
		}, "the writer aws-db is itself a replica"},
		{"candidate writable", nil, func(_, db2, _ *fakeMaria, _ *fakeCluster) { db2.ro = false }, "the candidate aws-db2 is writable"},
		{"candidate not a replica", nil, func(_, db2, _ *fakeMaria, _ *fakeCluster) { db2.replicaOf = "" }, "the candidate aws-db2 is not a replica"},
		{"candidate replicates from elsewhere", nil, func(_, db2, _ *fakeMaria, _ *fakeCluster) { db2.srcID = 2 }, "replicates from server 2"},
		{"candidate IO connecting", nil, func(_, db2, _ *fakeMaria, _ *fakeCluster) { db2.io = "Connecting" }, "replication is not running: IO=Connecting"},
		{"candidate SQL stopped and behind", nil, func(db, db2, _ *fakeMaria, _ *fakeCluster) {
			db2.sql, db.binlogPos, db.binlogState = "No", "0-1-12", "0-1-12"
		}, "SQL=No behind=0; it lacks 0-1-12 of aws-db (applied 0-1-10)"},
		{"errant GTID on the candidate", nil, func(_, db2, _ *fakeMaria, _ *fakeCluster) { db2.binlogState = "0-1-10,0-3-11" },
			"errant transaction on aws-db2: 0-3-11 (it has, aws-db lacks)"},
		{"errant GTID on the replica site", nil, func(_, _, onprem *fakeMaria, _ *fakeCluster) { onprem.binlogState = "0-1-10,0-2-4" },
			"errant transaction on onprem-db: 0-2-4 (it has, aws-db lacks)"},
		{"replica site follows another server", nil, func(_, _, onprem *fakeMaria, _ *fakeCluster) { onprem.srcID = 3 },
			"onprem-db replicates from server 3, not from the writer aws-db (server 1)"},
		{"to is the writer", Params{"to": "aws-db"}, func(*fakeMaria, *fakeMaria, *fakeMaria, *fakeCluster) {}, "to=aws-db is already the writer"},
		{"writer endpoint names nothing", nil, func(_, _, _ *fakeMaria, c *fakeCluster) { delete(c.eps, "writer.cluster.lab") }, "names no instance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, db2, onprem := healthyCluster()
			tg, fc := newClusterTarget(t, db, db2, onprem)
			tc.break_(db, db2, onprem, fc)
			tl := timeline.New()
			f, err := New("writer-failover", tg, tl, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			err = f.Inject(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Inject: %v, want a one-line refusal containing %q", err, tc.want)
			}
			for name, m := range map[string]*fakeMaria{"aws-db": db, "aws-db2": db2, "onprem-db": onprem} {
				if w := m.writes(); len(w) > 0 {
					t.Errorf("%s changed: %v", name, w)
				}
			}
			if len(fc.flips) > 0 || len(tl.Events()) > 0 {
				t.Errorf("flips %v, timeline %v", fc.flips, tl.Events())
			}
			// Refused before anything changed: Recover and WaitRecovered
			// have nothing to do.
			recoverAll(t, f)
			if w := db.writes(); len(w) > 0 {
				t.Errorf("Recover after a refusal changed aws-db: %v", w)
			}
		})
	}
}

// Recover of a fault that never injected, and of a resumed one on the
// original topology, only reads.
func TestWriterFailoverRecoverOnOriginalOnlyReads(t *testing.T) {
	db, db2, onprem := healthyCluster()
	tg, fc := newClusterTarget(t, db, db2, onprem)
	f := resumed(t, "writer-failover", tg, nil, json.RawMessage(`{"original_writer":"aws-db","candidate":"aws-db2"}`))
	recoverAll(t, f)
	for name, m := range map[string]*fakeMaria{"aws-db": db, "aws-db2": db2, "onprem-db": onprem} {
		if w := m.writes(); len(w) > 0 {
			t.Errorf("%s changed: %v", name, w)
		}
	}
	if len(fc.flips) > 0 {
		t.Errorf("flips: %v", fc.flips)
	}
}

// Resume and Plan: the journal carries the original writer.
func TestWriterFailoverResumePlan(t *testing.T) {
	db, db2, onprem := healthyCluster()
	tg, _ := newClusterTarget(t, db, db2, onprem)
	f, _ := New("writer-failover", tg, nil, Params{"flip_dns": "false"})
	p, err := f.(Planner).Plan(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != `{"original_writer":"aws-db","candidate":"aws-db2"}` || p.DeadMan != "" ||
		!strings.Contains(p.What, "DNS: not flipped") || !strings.Contains(p.Undo, "drdrill recover fails back") {
		t.Fatalf("plan: %+v", p)
	}
	if len(db.writes())+len(db2.writes())+len(onprem.writes()) > 0 {
		t.Fatal("Plan changed something")
	}
	for data, want := range map[string]string{`{"original_writer":"aws-db2"}`: "aws-db2", ``: "aws-db"} {
		g := resumed(t, "writer-failover", tg, nil, json.RawMessage(data))
		if got := g.(*WriterFailover).Original(); got != want {
			t.Errorf("resumed from %q: original %q, want %q", data, got, want)
		}
	}
	g, _ := New("writer-failover", tg, nil, nil)
	if err := g.(Resumer).Resume(json.RawMessage(`{"original_writer":"aws-db9"}`)); err == nil || !strings.Contains(err.Error(), `"aws-db9"`) {
		t.Fatalf("resume with an unknown writer: %v", err)
	}
}

// A state no planned procedure leads from is refused, naming it.
func TestWriterFailoverRecoverRefusesUnknownState(t *testing.T) {
	db, db2, onprem := healthyCluster()
	db.replicaOf, db.srcID, db.io, db.sql, db.ro = "10.20.12.45", 3, "Yes", "Yes", true // both replicas of each other
	tg, _ := newClusterTarget(t, db, db2, onprem)
	f := resumed(t, "writer-failover", tg, nil, nil)
	err := f.Recover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no planned procedure leads from this state") || !strings.Contains(err.Error(), "aws-db (server 1): read_only=ON, replica of 10.20.12.45") {
		t.Fatalf("Recover: %v", err)
	}
	if len(db.writes())+len(db2.writes()) > 0 {
		t.Fatal("a refused Recover changed something")
	}
}

// Two primaries that each took writes the other lacks diverged: Recover
// refuses, naming both, rather than demote either.
func TestWriterFailoverRecoverRefusesDiverged(t *testing.T) {
	db, db2, onprem := healthyCluster()
	db.binlogState, db.binlogPos = "0-1-11", "0-1-11"
	db2.replicaOf, db2.ro = "", false
	db2.binlogState, db2.binlogPos = "0-1-10,0-3-11", "0-3-11"
	tg, _ := newClusterTarget(t, db, db2, onprem)
	f := resumed(t, "writer-failover", tg, nil, nil)
	err := f.Recover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "diverged: aws-db has 0-1-11 that aws-db2 lacks, aws-db2 has 0-3-11 that aws-db lacks") {
		t.Fatalf("Recover: %v", err)
	}
	if len(db.writes())+len(db2.writes()) > 0 {
		t.Fatal("a refused Recover changed something")
	}
}
