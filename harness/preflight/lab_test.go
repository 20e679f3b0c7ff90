package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
		assert.True(t, d.Runnable, "%s: %+v", d.Name, d)
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
