package lab

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/target"
)

func TestFreezeWatchdogScript(t *testing.T) {
	got := FreezeWatchdogScript(4242, 987654, 2500*time.Millisecond)
	for _, want := range []string{"sleep 2.500;", "/proc/4242/stat", "= 987654 ]", "kill -CONT 4242"} {
		if !strings.Contains(got, want) {
			t.Fatalf("%q lacks %q", got, want)
		}
	}
}

// A docker lab (or any backend but netns) says it cannot freeze, so that
// a drill needing CapFreeze is refused before anything changes.
func TestCanFreezeOnlyOnNetns(t *testing.T) {
	if !(&Target{backend: NetnsBackend{}, info: &Info{}}).CanFreeze() {
		t.Fatal("netns must freeze")
	}
	other := &Target{backend: nil, info: &Info{Backend: "docker"}}
	if other.CanFreeze() || target.Has(other, target.CapFreeze) {
		t.Fatal("a backend that cannot freeze must say so")
	}
	if err := other.Thaw(context.Background(), target.Host{Site: "aws", Kind: target.DBHost}); err == nil || !strings.Contains(err.Error(), "docker backend cannot freeze") {
		t.Fatalf("thaw on docker: %v", err)
	}
}

var awsDB = target.Host{Site: SiteAWS, Kind: target.DBHost}

// Freeze stops mariadbd (a query hangs, the connection is not closed);
// Thaw continues it and cancels the watchdog; bad hosts are refused.
func TestFreezeThawLab(t *testing.T) {
	requireLab(t)
	info := upLab(t)
	tg, err := Open(context.Background(), info, NetnsBackend{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	ctx := context.Background()
	t.Cleanup(func() { tg.Thaw(context.Background(), awsDB) })
	if err := tg.Freeze(ctx, target.Host{Site: SiteAWS, Kind: target.GatewayHost}, time.Minute); err == nil {
		t.Fatal("freezing a gateway host must be refused")
	}
	if err := tg.Freeze(ctx, awsDB, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(markedProcesses(freezeMarker(info, awsDB))); n != 1 {
		t.Fatalf("%d watchdogs, want 1", n)
	}
	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = tg.Sites()[0].DB.DB().ExecContext(qctx, "DO 1")
	cancel()
	if err == nil {
		t.Fatal("a frozen server answered")
	}
	if err := tg.Thaw(ctx, awsDB); err != nil {
		t.Fatal(err)
	}
	if f, _ := tg.Frozen(awsDB); f {
		t.Fatal("still frozen after Thaw")
	}
	if n := len(markedProcesses(freezeMarker(info, awsDB))); n != 0 {
		t.Fatalf("the watchdog survived Thaw: %d left", n)
	}
	if err := tg.Thaw(ctx, awsDB); err != nil {
		t.Fatalf("a second Thaw: %v", err)
	}
	if _, err := tg.Sites()[0].DB.DB().ExecContext(ctx, "DO 1"); err != nil {
		t.Fatalf("the thawed server does not answer: %v", err)
	}
}

// TestHelperFreeze is not a test: it freezes aws-db with a limit and waits
// to be killed, for TestFreezeDeadManAfterKill.
func TestHelperFreeze(t *testing.T) {
	dir := os.Getenv("DRDRILL_HELPER_FREEZE")
	if dir == "" {
		t.Skip("helper process only")
	}
	info, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := Open(context.Background(), info, NetnsBackend{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Freeze(context.Background(), awsDB, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dir+"/frozen-by-helper", nil, 0o600)
	select {}
}

// The dead-man's switch: a harness that froze mariadbd and was killed -9
// leaves no frozen process after the limit.
func TestFreezeDeadManAfterKill(t *testing.T) {
	requireLab(t)
	info := upLab(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFreeze$")
	cmd.Env = append(os.Environ(), "DRDRILL_HELPER_FREEZE="+info.Dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tg, err := Open(context.Background(), info, NetnsBackend{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); tg.Thaw(context.Background(), awsDB) })
	ctx := context.Background()
	err = poll.Until(ctx, "the helper to freeze aws-db", 10*time.Millisecond, 20*time.Second, func(context.Context) (bool, string, error) {
		_, err := os.Stat(info.Dir + "/frozen-by-helper")
		return err == nil, "no mark yet", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	frozenAt := time.Now()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if f, _ := tg.Frozen(awsDB); !f {
		t.Fatal("aws-db is not frozen after the helper's Freeze")
	}
	err = poll.Until(ctx, "the watchdog to thaw aws-db", 20*time.Millisecond, 5*time.Second, func(context.Context) (bool, string, error) {
		f, err := tg.Frozen(awsDB)
		if err != nil {
			return false, "", err
		}
		return !f, "still stopped", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("thawed by the watchdog %.2fs after the freeze (limit 2s), with the harness killed", time.Since(frozenAt).Seconds())
	if _, err := tg.Sites()[0].DB.DB().ExecContext(ctx, "DO 1"); err != nil {
		t.Fatalf("the thawed server does not answer: %v", err)
	}
	if n := len(markedProcesses(freezeMarker(info, awsDB))); n != 0 {
		t.Fatalf("the watchdog is still there after it fired: %d", n)
	}
}
