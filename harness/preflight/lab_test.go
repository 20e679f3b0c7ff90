package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/scenarios"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain takes every lab down if the test binary is interrupted.
func TestMain(m *testing.M) {
	lab.TeardownOnSignal()
	os.Exit(m.Run())
}

// upLab brings a fresh netns lab up for one test, Down registered first.
func upLab(tb testing.TB) (*lab.Info, *lab.Target) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("lab test: skipped with -short")
	}
	b := lab.NetnsBackend{}
	if err := b.Preflight(); err != nil {
		tb.Skipf("lab test: the netns lab cannot run here: %v", err)
	}
	dir := filepath.Join(tb.TempDir(), "lab")
	tb.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, map[string]lab.Backend{b.Name(): b}); err != nil {
			tb.Errorf("lab down: %v", err)
		}
	})
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir, Backend: b})
	require.NoError(tb, err, "lab up")
	tg, err := lab.Open(context.Background(), info, b)
	require.NoError(tb, err, "open lab")
	tb.Cleanup(func() { tg.Close() })
	return info, tg
}

var labWorkload = Workload{Database: "testdb", Table: "ping"}

func labOptions() Options {
	return Options{MaxFault: 5 * time.Minute, Scenarios: scenarios.All(), Workload: labWorkload}
}

func printed(r *Report) string {
	var b bytes.Buffer
	r.Print(&b)
	return b.String()
}

// A healthy lab passes, with its timings read live and root's privileges
// satisfied; a stopped replica is named, and passes again once started.
func TestCheckLab(t *testing.T) {
	_, tg := upLab(t)
	ctx := context.Background()
	r := Check(ctx, tg, labOptions())
	out := printed(r)
	t.Log("\n" + out)
	require.True(t, r.OK(), "problems: %v", r.Problems())
	assert.Empty(t, r.Problems())

	require.NotNil(t, r.Timings.Replica)
	assert.Equal(t, int64(3000), r.Timings.Replica.NetTimeoutMS)
	assert.Equal(t, int64(1000), r.Timings.Replica.ConnectRetryMS)
	assert.Equal(t, int64(1000), r.Timings.Replica.HeartbeatMS)
	require.NotNil(t, r.Timings.IKE)
	for _, s := range []string{"aws", "onprem"} {
		assert.Equal(t, int64(2000), r.Timings.IKE.Sites[s].DPDDelayMS, s)
	}
	assert.Equal(t, "restart", r.Timings.IKE.Sites["aws"].DPDAction)
	assert.Equal(t, "clear", r.Timings.IKE.Sites["onprem"].DPDAction)
	assert.Equal(t, scenarios.OutageEvidenceWindow(replica.Timings{NetTimeout: 3 * time.Second, ConnectRetry: time.Second, Heartbeat: time.Second}).Milliseconds(),
		r.Windows.OutageEvidenceMS)
	assert.Positive(t, r.Windows.DPDMS)
	assert.Positive(t, r.Windows.HealMS)

	require.NotEmpty(t, r.Privileges)
	for _, p := range r.Privileges {
		assert.True(t, p.Have, "root has %s on %s at %s", p.Privilege, p.On, p.Site)
	}
	for _, d := range r.Drills {
		assert.True(t, runnableHere(d), "%s: %+v", d.Name, d)
	}
	assert.Len(t, r.Drills, len(scenarios.All()))
	for _, s := range r.Sites {
		assert.True(t, s.Gateway.Healthy, s.Name)
		assert.Contains(t, s.Gateway.Summary, "ESTABLISHED/INSTALLED")
		assert.Equal(t, "mariadb", s.DB.Flavor)
		assert.Equal(t, "root@localhost", s.DB.Account)
	}
	rep := r.Sites[1]
	require.Equal(t, target.RoleReplica, rep.Role)
	require.NotNil(t, rep.DB.Replication)
	assert.Equal(t, replica.IOYes, rep.DB.Replication.IO)
	assert.True(t, rep.DB.Server.ReadOnly)
	assert.NotEmpty(t, rep.DB.Server.GTID.SlavePos)
	assert.Equal(t, int64(1), rep.DB.SourceServerID, "the lab's primary is server_id 1")
	require.NotNil(t, r.Replication.CaughtUp)
	assert.True(t, *r.Replication.CaughtUp)
	require.NotNil(t, r.Replication.CanResume)
	assert.True(t, *r.Replication.CanResume)
	assert.True(t, r.Workload.Exists)
	for _, want := range []string{"aws gateway", "onprem db", "IO: Yes, SQL: Yes, Seconds_Behind: 0", "net timeout 3s", "dpd aws 2s restart",
		"REPLICA MONITOR", "vpn-outage", "runnable"} {
		assert.Contains(t, out, want)
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"ok":true`)
	assert.Contains(t, string(b), `"problems":[]`)

	// Break it: the replica's threads stopped.
	repDB := target.Replica(tg).DB
	_, err = repDB.DB().ExecContext(ctx, "STOP SLAVE")
	require.NoError(t, err)
	t.Cleanup(func() { repDB.DB().ExecContext(context.Background(), "START SLAVE") })
	r = Check(ctx, tg, labOptions())
	t.Log("\n" + printed(r))
	require.False(t, r.OK())
	assert.Contains(t, strings.Join(r.Problems(), "\n"), "onprem db: replica not running: IO: No, SQL: No")

	_, err = repDB.DB().ExecContext(ctx, "START SLAVE")
	require.NoError(t, err)
	_, err = replica.WaitIO(ctx, repDB, 20*time.Millisecond, replica.IOYes)
	require.NoError(t, err)
	r = Check(ctx, tg, labOptions())
	assert.True(t, r.OK(), "after START SLAVE: %v", r.Problems())
}

// execPrimary runs statements on the lab's primary as root (connections
// of its own: a test may have swapped the target's), then waits until the
// replica has applied them.
func execPrimary(t *testing.T, info *lab.Info, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	p, err := replica.OpenSocket(ctx, info.Sites["aws"].DB.Socket, "root", "")
	require.NoError(t, err)
	defer p.Close()
	r, err := replica.OpenSocket(ctx, info.Sites["onprem"].DB.Socket, "root", "")
	require.NoError(t, err)
	defer r.Close()
	for _, s := range stmts {
		_, err := p.DB().ExecContext(ctx, s)
		require.NoError(t, err, s)
	}
	pos, err := p.PrimaryPosition(ctx)
	require.NoError(t, err)
	require.NoError(t, r.WaitApplied(ctx, pos, 10*time.Second))
}

// An account made with GrantStatements has every privilege Check asks for,
// on a real server; without the replication admin privilege only the drill
// that needs it is blocked; without the monitor one the target is not OK.
// The account's password is in no output.
func TestCheckLabLeastPrivilege(t *testing.T) {
	info, tg := upLab(t)
	const pw = "Pf-s3cret-not-in-output"
	stmts := []string{"CREATE USER 'drdrill'@'localhost' IDENTIFIED BY '" + pw + "'"}
	stmts = append(stmts, GrantStatements(replica.MariaDB, "drdrill@localhost", labWorkload)...)
	execPrimary(t, info, stmts...)

	check := func() *Report {
		t.Helper()
		wt, _ := recordLab(t, info, tg, "drdrill", pw) // fresh connections: global privileges are read at login
		r := Check(context.Background(), wt, labOptions())
		b, err := json.Marshal(r)
		require.NoError(t, err)
		out := printed(r)
		assert.NotContains(t, string(b)+out, pw)
		t.Log("\n" + out)
		return r
	}
	r := check()
	require.True(t, r.OK(), "%v", r.Problems())
	// Everything but the administrator's grant the site-loss drills need.
	admin := []string{"ALL PRIVILEGES on *.* at aws", "GRANT OPTION on *.* at aws", "ALL PRIVILEGES on *.* at onprem", "GRANT OPTION on *.* at onprem"}
	for _, p := range r.Privileges {
		assert.Equal(t, !slices.Equal(p.Drills, siteLossDrills), p.Have, "%s on %s at %s", p.Privilege, p.On, p.Site)
	}
	for _, d := range r.Drills {
		if slices.Contains(siteLossDrills, d.Name) {
			assert.False(t, d.Runnable, d.Name)
			assert.Equal(t, admin, d.MissingPrivileges, d.Name)
			continue
		}
		assert.True(t, runnableHere(d), "%s: %+v", d.Name, d)
	}
	assert.Equal(t, "drdrill@localhost", r.Sites[0].DB.Account)
	// The commented-out grant makes them runnable.
	last := GrantStatements(replica.MariaDB, "drdrill@localhost", labWorkload)
	_, grant, _ := strings.Cut(last[len(last)-1], ": ")
	execPrimary(t, info, grant)
	for _, d := range check().Drills {
		assert.True(t, runnableHere(d), "%s with the admin grant: %+v", d.Name, d)
	}
	execPrimary(t, info, "REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'drdrill'@'localhost'")
	execPrimary(t, info, GrantStatements(replica.MariaDB, "drdrill@localhost", labWorkload)[:2]...)

	execPrimary(t, info, "REVOKE REPLICATION SLAVE ADMIN ON *.* FROM 'drdrill'@'localhost'")
	r = check()
	require.True(t, r.OK(), "a drill-specific privilege is not a health problem: %v", r.Problems())
	for _, d := range r.Drills {
		if slices.Contains(siteLossDrills, d.Name) {
			continue
		}
		if d.Name == stuckDrill {
			assert.False(t, d.Runnable)
			assert.Equal(t, []string{"REPLICATION SLAVE ADMIN on *.* at onprem"}, d.MissingPrivileges)
		} else {
			assert.True(t, runnableHere(d), "%s: %+v", d.Name, d)
		}
	}

	execPrimary(t, info, "REVOKE SLAVE MONITOR ON *.* FROM 'drdrill'@'localhost'")
	r = check()
	require.False(t, r.OK())
	probs := strings.Join(r.Problems(), "\n")
	assert.Contains(t, probs, "onprem db: drdrill@localhost lacks REPLICA MONITOR on *.*, which every drill needs")
	assert.Contains(t, probs, "onprem db: read replica status: Error 1227")
	for _, d := range r.Drills {
		assert.False(t, d.Runnable, d.Name)
	}
}

// drdrill's table: absent (created by drills when the account may), or a
// table that is not drdrill's (never altered: a problem).
func TestCheckLabWorkloadTable(t *testing.T) {
	info, tg := upLab(t)
	ctx := context.Background()
	o := labOptions()

	o.Workload = Workload{Database: "drdrill", Table: "ping"}
	r := Check(ctx, tg, o)
	require.True(t, r.OK(), "%v", r.Problems())
	assert.False(t, r.Workload.Exists)
	assert.False(t, r.Workload.DatabaseExists)
	assert.Contains(t, strings.Join(r.Warnings(), "\n"), "drdrill.ping does not exist on the primary: drills create it")
	var create *Privilege
	for i, p := range r.Privileges {
		if p.Privilege == "CREATE" {
			create = &r.Privileges[i]
		}
	}
	require.NotNil(t, create, "creating the table is a need when it is absent")
	assert.Equal(t, "`drdrill`.*", create.On)
	assert.True(t, create.Have)

	execPrimary(t, info, "CREATE TABLE testdb.seed (id BIGINT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50), created_at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))")
	o.Workload = Workload{Database: "testdb", Table: "seed"}
	r = Check(ctx, tg, o)
	require.False(t, r.OK())
	assert.Equal(t, []string{"drill_id", "seq", "phase", "writer"}, r.Workload.MissingColumns)
	assert.Contains(t, strings.Join(r.Problems(), "\n"), "testdb.seed on the primary has no drill_id, seq, phase, writer column(s): it is not drdrill's table")
}

// max_fault against the lab's windows and binlog retention.
func TestCheckLabMaxFault(t *testing.T) {
	_, tg := upLab(t)
	ctx := context.Background()
	o := labOptions()
	o.MaxFault = 5 * time.Second // shorter than the outage evidence window (9.5 s)
	r := Check(ctx, tg, o)
	require.False(t, r.OK())
	assert.Contains(t, strings.Join(r.Problems(), "\n"), "max_fault 5s is shorter than the outage evidence window 9.5s")
	for _, d := range r.Drills {
		assert.Equal(t, []string{"max_fault 5s < outage evidence window 9.5s"}, d.Blocked, d.Name)
	}

	p := target.Primary(tg).DB
	_, err := p.DB().ExecContext(ctx, "SET GLOBAL binlog_expire_logs_seconds = 3600")
	require.NoError(t, err)
	o.MaxFault = 2 * time.Hour
	r = Check(ctx, tg, o)
	require.False(t, r.OK())
	assert.Contains(t, strings.Join(r.Problems(), "\n"),
		"aws db: binary logs are purged after 1h0m0s (binlog_expire_logs_seconds=3600), not longer than max_fault 2h0m0s: an outage longer than the retention can never catch up (error 1236)")
	o.MaxFault = 30 * time.Minute
	assert.True(t, Check(ctx, tg, o).OK())
}

// runnableHere: the drill can run, or all it lacks is a capability this
// kind of target never has (the four-host lab has no cluster; a recorded
// target cannot freeze a database) — not a privilege, not a health problem.
func runnableHere(d Drill) bool {
	return d.Runnable || len(d.MissingPrivileges) == 0 && len(d.Blocked) == 0 && len(d.MissingCapabilities) > 0
}
