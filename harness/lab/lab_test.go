package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
)

// requireLab skips only where the lab cannot run at all.
func requireLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("lab test: skipped with -short")
	}
	if err := (NetnsBackend{}).Preflight(); err != nil {
		t.Skipf("lab test: the netns lab cannot run here: %v", err)
	}
}

var testBackends = map[string]Backend{"netns": NetnsBackend{}}

// upLab brings a lab up in a fresh dir, with Down registered first.
func upLab(t *testing.T) *Info {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := Down(context.Background(), dir, testBackends); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	info, err := Up(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	return info
}

// assertGone fails when anything of the lab is left: namespace, process,
// lab dir, tmpfs dir.
func assertGone(t *testing.T, info *Info) {
	t.Helper()
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), info.ID) {
		t.Errorf("namespaces of %s left: %s", info.ID, out)
	}
	for _, p := range info.Resources.Processes {
		if p.alive() {
			t.Errorf("process %s (pid %d) left", p.Name, p.PID)
		}
	}
	for _, d := range append([]string{info.Dir}, info.Resources.Dirs...) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("dir %s left", d)
		}
	}
}

func TestLabUpStatusDown(t *testing.T) {
	requireLab(t)
	info := upLab(t)
	if info.Phase != PhaseUp || len(info.Resources.Processes) != 4 || len(info.Resources.Namespaces) != 4 {
		t.Fatalf("lab info after up: phase %s, %d processes, %d namespaces", info.Phase, len(info.Resources.Processes), len(info.Resources.Namespaces))
	}
	st, err := Status(context.Background(), info.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Sites {
		ss := st.Sites[s]
		if ss.Gateway.Error != "" || ss.DB.Error != "" {
			t.Fatalf("%s: gateway error %q, db error %q", s, ss.Gateway.Error, ss.DB.Error)
		}
		if err := ss.Gateway.Tunnel.Healthy(Expectation(info, s)); err != nil {
			t.Errorf("tunnel after lab up: %v", err)
		}
	}
	rs := st.Sites[SiteOnPrem].DB.Replication
	if rs == nil || rs.IO != "Yes" || !rs.SQLRunning || rs.SourceHost != "10.20.11.123" {
		t.Fatalf("replica after lab up: %+v", rs)
	}
	// The JSON contract of lab status --json.
	b, _ := json.Marshal(st)
	var m map[string]any
	json.Unmarshal(b, &m)
	sites := m["sites"].(map[string]any)
	for site, role := range map[string]string{"aws": "primary", "onprem": "replica"} {
		s := sites[site].(map[string]any)
		if s["gateway"].(map[string]any)["vici"] != info.Sites[site].Gateway.VICI ||
			s["db"].(map[string]any)["socket"] != info.Sites[site].DB.Socket || s["db"].(map[string]any)["role"] != role {
			t.Errorf("lab status json for %s does not follow the contract: %s", site, b)
		}
	}
	// The secrets never reach lab.json or the status.
	sec, err := LoadSecrets(info.Dir)
	if err != nil {
		t.Fatal(err)
	}
	lj, _ := os.ReadFile(filepath.Join(info.Dir, InfoFile))
	for _, v := range sec.Values() {
		if strings.Contains(string(lj), v) || strings.Contains(string(b), v) {
			t.Fatal("a lab secret is in lab.json or the status")
		}
	}
	if err := Down(context.Background(), info.Dir, testBackends); err != nil {
		t.Fatal(err)
	}
	assertGone(t, info)
	// Idempotent.
	if err := Down(context.Background(), info.Dir, testBackends); err != nil {
		t.Fatalf("second down: %v", err)
	}
}

func TestTwoLabsSideBySide(t *testing.T) {
	requireLab(t)
	a, b := upLab(t), upLab(t)
	if a.ID == b.ID {
		t.Fatal("two labs share an id")
	}
	for _, info := range []*Info{a, b} {
		st, err := Status(context.Background(), info.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range Sites {
			if err := st.Sites[s].Gateway.Tunnel.Healthy(Expectation(info, s)); err != nil {
				t.Errorf("lab %s: %v", info.ID, err)
			}
		}
	}
	if err := Down(context.Background(), a.Dir, testBackends); err != nil {
		t.Fatal(err)
	}
	assertGone(t, a)
	// Taking one down leaves the other running.
	st, err := Status(context.Background(), b.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if rs := st.Sites[SiteOnPrem].DB.Replication; rs == nil || rs.IO != "Yes" {
		t.Fatalf("lab %s broken by taking %s down: %+v", b.ID, a.ID, rs)
	}
}

func TestUpRefusesALabThatIsUp(t *testing.T) {
	requireLab(t)
	info := upLab(t)
	_, err := Up(context.Background(), Options{Dir: info.Dir})
	if _, ok := err.(*InputError); !ok || !strings.Contains(err.Error(), "already up") {
		t.Fatalf("second up: want 'already up' input error, got %v", err)
	}
	if st, err := Status(context.Background(), info.Dir); err != nil || st.Phase != PhaseUp {
		t.Fatalf("the running lab was disturbed: %v %+v", err, st)
	}
}

// TestHelperLabUp is not a test: the killed-halfway test runs it in a child
// process and kills it with SIGKILL in the middle of Up.
func TestHelperLabUp(t *testing.T) {
	dir := os.Getenv("DRDRILL_HELPER_LAB_UP")
	if dir == "" {
		t.Skip("helper process only")
	}
	Up(context.Background(), Options{Dir: dir})
}

func TestDownAfterKilledUp(t *testing.T) {
	requireLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLabUp$")
	cmd.Env = append(os.Environ(), "DRDRILL_HELPER_LAB_UP="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Down(context.Background(), dir, testBackends) })
	// Kill it as soon as it has started a daemon: namespaces made, processes
	// running, nothing configured.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	started := poll.Until(ctx, "the helper's lab up to start a daemon", 2*time.Millisecond, 0, func(context.Context) (bool, string, error) {
		i, err := Load(dir)
		if err != nil {
			return false, err.Error(), nil
		}
		return len(i.Resources.Processes) > 0, fmt.Sprintf("phase %s, no process recorded", i.Phase), nil
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if started != nil {
		t.Fatalf("helper never started a daemon: %v", started)
	}
	info, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Phase != PhaseCreating {
		t.Fatalf("killed up left phase %s, want %s", info.Phase, PhaseCreating)
	}
	if _, err := Up(context.Background(), Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "lab down") {
		t.Fatalf("up over a crashed lab: want advice to run lab down, got %v", err)
	}
	if err := Down(context.Background(), dir, testBackends); err != nil {
		t.Fatal(err)
	}
	assertGone(t, info)
	// Processes started after the last lab.json read are found through the
	// namespaces; none may survive.
	for _, name := range []string{"charon", "mariadbd"} {
		out, _ := exec.Command("pgrep", "-f", dir).Output()
		if len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("%s processes of the killed lab survive: %s", name, out)
		}
	}
}

func TestUpFailureNamesHostShowsLogAndCleansUp(t *testing.T) {
	requireLab(t)
	fake := filepath.Join(t.TempDir(), "charon")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'charon: fatal: planted failure for the test' >&2\nexit 1\n"), 0o755)
	old := CharonPath
	CharonPath = fake
	defer func() { CharonPath = old }()
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() { Down(context.Background(), dir, testBackends) })
	info, err := Up(context.Background(), Options{Dir: dir})
	if err == nil {
		t.Fatal("up with a charon that dies: no error")
	}
	msg := err.Error()
	if !strings.Contains(strings.SplitN(msg, "\n", 2)[0], "-gw") || !strings.Contains(msg, "planted failure for the test") {
		t.Fatalf("want the failing host on the first line and its log, got:\n%s", msg)
	}
	if info != nil {
		t.Fatal("up failed but returned a lab")
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), IDFor(dir)) {
		t.Errorf("failed up left namespaces: %s", out)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("failed up left the lab dir")
	}
	if _, err := os.Stat(filepath.Join(TmpfsRoot, "drdrill-"+IDFor(dir))); err == nil {
		t.Error("failed up left the tmpfs datadir")
	}
}

func TestMain(m *testing.M) {
	TeardownOnSignal()
	os.Exit(m.Run())
}

// TestHelperLabUpAndWait is not a test: it brings a lab up and waits to be
// interrupted, for TestSIGINTTakesTheLabDown.
func TestHelperLabUpAndWait(t *testing.T) {
	dir := os.Getenv("DRDRILL_HELPER_LAB_WAIT")
	if dir == "" {
		t.Skip("helper process only")
	}
	t.Cleanup(func() { t.Error("cleanup ran: this test wants the signal handler to do the work") })
	if _, err := Up(context.Background(), Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	select {}
}

func TestSIGINTTakesTheLabDown(t *testing.T) {
	requireLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLabUpAndWait$")
	cmd.Env = append(os.Environ(), "DRDRILL_HELPER_LAB_WAIT="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); Down(context.Background(), dir, testBackends) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var info *Info
	if err := poll.Until(ctx, "the helper's lab to be up", 5*time.Millisecond, 0, func(context.Context) (bool, string, error) {
		i, err := Load(dir)
		if err != nil {
			return false, err.Error(), nil
		}
		if i.Phase != PhaseUp {
			return false, "phase " + i.Phase, nil
		}
		info = i
		return true, "", nil
	}); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("helper exit: %v", err)
	}
	assertGone(t, info)
}

// TestHelperLabsUpAndWait is not a test: it brings several labs up at once,
// as parallel drills do, and waits to be interrupted, for
// TestSIGINTDuringUpTakesEveryLabDown.
func TestHelperLabsUpAndWait(t *testing.T) {
	dirs := os.Getenv("DRDRILL_HELPER_LABS_WAIT")
	if dirs == "" {
		t.Skip("helper process only")
	}
	t.Cleanup(func() { t.Error("cleanup ran: this test wants the signal handler to do the work") })
	for _, dir := range strings.Split(dirs, ",") {
		go Up(context.Background(), Options{Dir: dir})
	}
	select {}
}

// ^C while labs are being brought up: the handler must not take down what
// is recorded while an Up goes on making more (it did: daemons started
// after the handler's Down outlived the test binary, in namespaces already
// deleted). Cancelled Ups take down what they made; every lab is gone.
func TestSIGINTDuringUpTakesEveryLabDown(t *testing.T) {
	requireLab(t)
	var dirs []string
	for i := range 4 {
		dirs = append(dirs, filepath.Join(t.TempDir(), fmt.Sprint("lab", i)))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLabsUpAndWait$")
	cmd.Env = append(os.Environ(), "DRDRILL_HELPER_LABS_WAIT="+strings.Join(dirs, ","))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		for _, d := range dirs {
			Down(context.Background(), d, testBackends)
		}
	})
	// Interrupt once some lab has started a daemon and is not up yet.
	seen := map[string]*Info{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := poll.Until(ctx, "a lab with a daemon started and not yet up", time.Millisecond, 0, func(context.Context) (bool, string, error) {
		var phases []string
		midUp := false
		for _, d := range dirs {
			i, err := Load(d)
			if err != nil {
				phases = append(phases, "none")
				continue
			}
			seen[d] = i
			phases = append(phases, fmt.Sprintf("%s with %d processes", i.Phase, len(i.Resources.Processes)))
			midUp = midUp || (i.Phase == PhaseCreating && len(i.Resources.Processes) > 0)
		}
		return midUp, strings.Join(phases, ", "), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("helper exit: %v", err)
	}
	for _, d := range dirs {
		info := seen[d]
		if info == nil {
			info = newInfo(d, "netns")
		}
		assertGone(t, info)
		if _, err := os.Stat(filepath.Join(TmpfsRoot, "drdrill-"+info.ID)); err == nil {
			t.Errorf("tmpfs datadir of %s left", d)
		}
		if pids := pidsMentioning(t, d); len(pids) > 0 {
			t.Errorf("processes of %s left: %v", d, pids)
		}
	}
}

// pidsMentioning lists processes whose command line or environment names
// path (mariadbd's --defaults-file, charon's STRONGSWAN_CONF).
func pidsMentioning(t *testing.T, path string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if strings.Contains(string(b), path+"/") {
				pids = append(pids, e.Name())
				break
			}
		}
	}
	return pids
}
