package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/scenarios"
)

// buildDrdrill builds this command into a temp dir: a lab target file's
// gateway commands run it.
func buildDrdrill(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "drdrill")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// labState is what a refused drill must leave unchanged: the SAs by SPI
// and both servers' GTID positions.
func labState(t *testing.T, dir string) string {
	t.Helper()
	info, err := lab.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := lab.Open(context.Background(), info, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	ctx := context.Background()
	states, err := tunnel.Snapshot(ctx, target.Primary(tg).Side(), target.Replica(tg).Side())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, st := range states {
		for _, ike := range st.IKESAs {
			b.WriteString(ike.Describe() + "\n")
		}
	}
	p, _ := target.Primary(tg).DB.PrimaryPosition(ctx)
	r, _ := target.Replica(tg).DB.AppliedPosition(ctx)
	return b.String() + "primary " + p + " replica " + r
}

// Every drill passes through a target file on the lab, its hosts reached
// through their namespaces (via local) and through a real sshd in each
// (via ssh), and a drill without both opt-ins is refused with nothing
// changed.
func TestEveryDrillThroughATargetFile(t *testing.T) {
	for _, via := range []string{"local", "ssh"} {
		t.Run(via, func(t *testing.T) { testDrillsThroughTargetFile(t, via) })
	}
}

func testDrillsThroughTargetFile(t *testing.T, via string) {
	requireLab(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the journal of the target file's drills
	t.Setenv("DRDRILL_BIN", buildDrdrill(t))
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() { lab.Down(context.Background(), dir, backends()) })
	// Over ssh the databases are reached by address with TLS, as real
	// targets' often are (a TLS lab: lab up --tls).
	if _, err := lab.Up(context.Background(), lab.Options{Dir: dir, TLS: via == "ssh"}); err != nil {
		t.Fatal(err)
	}
	code, file, stderr := runCLI("lab", "target", "--lab", dir, "--via", via)
	if code != exitPass {
		t.Fatalf("lab target: exit %d: %s", code, stderr)
	}
	tf := filepath.Join(t.TempDir(), "lab.yaml")
	os.WriteFile(tf, []byte(file), 0o600)
	denied := filepath.Join(t.TempDir(), "denied.yaml")
	os.WriteFile(denied, []byte(strings.Replace(file, "allow_destructive: true", "allow_destructive: false", 1)), 0o600)

	before := labState(t, dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", tf}, "it needs --yes on the command line"},
		{[]string{"--target", denied, "--yes"}, "it needs safety.allow_destructive: true in " + denied},
		{[]string{"--target", denied}, "allow_destructive: true in " + denied + " and --yes"},
	} {
		code, out, stderr := runCLI(append([]string{"run", "vpn-outage", "--report", t.TempDir()}, tc.args...)...)
		if code != exitCannotRun || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 saying %q", tc.args, code, stderr, out, tc.want)
		}
	}
	// Bad input in the file, or an SSH host that is not who it should be:
	// exit 2, one line, nothing changed.
	bad := func(name, from, to string) string {
		if !strings.Contains(file, from) {
			t.Fatalf("%s: the lab's target file has no %q", name, from)
		}
		p := filepath.Join(t.TempDir(), name+".yaml")
		os.WriteFile(p, []byte(strings.Replace(file, from, to, 1)), 0o600)
		return p
	}
	nopw := func() string {
		if via == "ssh" { // the databases' TLS account has a password file
			return bad("nopw", fmt.Sprintf("password_file: %q", filepath.Join(dir, lab.TLSPasswordFile)), "password_env: DRDRILL_TEST_UNSET_PW")
		}
		return bad("nopw", "user: root", "user: root\n      password_env: DRDRILL_TEST_UNSET_PW")
	}
	refusals := []struct{ file, want string }{
		{bad("typo", "connection: onprem-aws", "conection: onprem-aws"), `unknown key "conection"`},
		{nopw(), "DRDRILL_TEST_UNSET_PW is not set"},
	}
	if via == "ssh" {
		kh := filepath.Join(dir, "ssh", "known_hosts")
		orig, err := os.ReadFile(kh)
		if err != nil {
			t.Fatal(err)
		}
		empty := filepath.Join(t.TempDir(), "known_hosts_empty")
		os.WriteFile(empty, nil, 0o600)
		// The same host names with another key: what a man in the middle,
		// or a reinstalled host, looks like.
		hosts, _, _ := strings.Cut(string(orig), " ")
		changed := filepath.Join(t.TempDir(), "known_hosts_changed")
		os.WriteFile(changed, []byte(hosts+" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3Zy1bX0dmYfE6Zd4xUQ9rJcP3Jf5tWqYbK2vM8nR1s\n"), 0o600)
		refusals = append(refusals,
			struct{ file, want string }{bad("unknown-host", kh, empty), "aws-gw"},
			struct{ file, want string }{bad("changed-key", kh, changed), "SHA256:"},
			// A certificate that is not the server's name.
			struct{ file, want string }{bad("tls-name", "server_name: aws-db.lab", "server_name: other-db.lab"), "x509: certificate is valid for aws-db.lab"})
	}
	for _, r := range refusals {
		code, out, stderr := runCLI("run", "vpn-outage", "--target", r.file, "--yes", "--report", t.TempDir())
		if code != exitCannotRun || !strings.Contains(stderr, r.want) || strings.Count(stderr, "\n") != 1 || strings.Contains(out, "PASS") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 saying %q", filepath.Base(r.file), code, stderr, r.want)
		}
	}
	if after := labState(t, dir); after != before {
		t.Fatalf("a refused drill changed the lab:\n%s\n%s", before, after)
	}

	// preflight: read-only, ready, every drill runnable.
	code, out, stderr := runCLI("preflight", "--target", tf)
	if code != exitPass || !strings.Contains(out, ": OK") || strings.Contains(out, "cannot run") {
		t.Fatalf("preflight: exit %d\n%s\n%s", code, out, stderr)
	}
	if tls := strings.Count(out, lab.TLSUser+"@% over TLSv1."); via == "ssh" && tls != 2 {
		t.Fatalf("preflight over ssh: want both databases over TLS:\n%s", out)
	}
	if after := labState(t, dir); after != before {
		t.Fatalf("preflight changed the lab:\n%s\n%s", before, after)
	}
	for _, sc := range scenarios.All() {
		if strings.HasPrefix(sc.Name, "test-") {
			continue // fakes the suite tests register in this binary
		}
		code, out, stderr := runCLI("run", sc.Name, "--target", tf, "--yes", "--report", t.TempDir())
		if lacks := fileLacks(sc.Needs); len(lacks) > 0 {
			// A target file has no cluster: refused before anything
			// changes, naming what it lacks.
			if code != exitCannotRun || !strings.Contains(stderr, "lacks") || !strings.Contains(stderr, string(lacks[0])) {
				t.Errorf("%s through the target file: exit %d, want 2 naming %v\n%s", sc.Name, code, lacks, stderr)
			}
			continue
		}
		if code != exitPass {
			t.Errorf("%s through the target file: exit %d\n%s\n%s", sc.Name, code, out, stderr)
		}
	}
	// plan reaches it too, with neither opt-in.
	if code, out, stderr := runCLI("plan", "wan-blackhole", "--target", denied); code != exitPass || !strings.Contains(out, "changes nothing") {
		t.Errorf("plan on a target file: exit %d\n%s\n%s", code, out, stderr)
	}
}

// kill -9 of drdrill run before, during and after its fault, then drdrill
// recover: the tunnel and replication are back (exit 0), and a second
// recover finds nothing open. site-loss is killed with the primary's
// database frozen: recover, through the target file over ssh, thaws it.
func TestRecoverAfterKill9(t *testing.T) {
	requireLab(t)
	bin := buildDrdrill(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the target file's journal
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() { lab.Down(context.Background(), dir, backends()) })
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, file, _ := runCLI("lab", "target", "--lab", dir, "--via", "ssh")
	tf := filepath.Join(t.TempDir(), "lab.yaml")
	os.WriteFile(tf, []byte(file), 0o600)
	var dbPID int
	for _, p := range info.Resources.Processes {
		if p.Name == "aws-db/mariadbd" {
			dbPID = p.PID
		}
	}
	for _, tc := range []struct {
		name   string
		killAt string   // a line in the journal that must be there first ("" : at once)
		target []string // how run and recover name the target
		drill  string   // default wan-blackhole
		frozen bool     // kill once the primary's database is frozen too
	}{
		{"before the fault", "", []string{"--lab", dir}, "", false},
		{"during the fault", `"event":"inject"`, []string{"--lab", dir}, "", false},
		{"after the fault", `"event":"recovered"`, []string{"--lab", dir}, "", false},
		// Through the target file over ssh: recover finds the journal by
		// the file's name alone (no --state).
		{"during the fault via ssh", `"event":"inject"`, []string{"--target", tf}, "", false},
		{"site-loss frozen via ssh", `"fault":"site-loss"`, []string{"--target", tf}, "site-loss", true},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) {
			journalFile := filepath.Join(dir, "journal.jsonl")
			drill := "wan-blackhole"
			if tc.drill != "" {
				drill = tc.drill
			}
			args := []string{"run", drill, "--report", t.TempDir()}
			if tc.target[0] == "--target" {
				journalFile = filepath.Join(os.Getenv("XDG_STATE_HOME"), "drdrill", "lab-"+info.ID, "journal.jsonl")
				args = append(args, "--yes")
			}
			before, _ := os.ReadFile(journalFile)
			cmd := exec.Command(bin, append(args, tc.target...)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if tc.killAt != "" {
				err := poll.Until(context.Background(), "the journal to say "+tc.killAt, 10*time.Millisecond, 30*time.Second, func(context.Context) (bool, string, error) {
					b, _ := os.ReadFile(journalFile)
					return strings.Count(string(b), tc.killAt) > strings.Count(string(before), tc.killAt), "", nil
				})
				if err == nil && tc.frozen {
					err = poll.Until(context.Background(), "aws-db's mariadbd to be stopped", 5*time.Millisecond, 30*time.Second, func(context.Context) (bool, string, error) {
						s := procState(dbPID)
						return s == 'T', "state " + string(s), nil
					})
				}
				if err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatal(err)
				}
			}
			cmd.Process.Kill() // SIGKILL: no deferred recovery runs
			cmd.Wait()
			start := time.Now()
			code, out, stderr := runCLI(append([]string{"recover"}, tc.target...)...)
			if code != exitPass || !strings.Contains(out, "steady state") {
				t.Fatalf("recover: exit %d\n%s\n%s", code, out, stderr)
			}
			if tc.killAt == `"event":"inject"` && !strings.Contains(out, "undone: wan-blackhole") {
				t.Fatalf("recover undid nothing after a kill during the fault:\n%s", out)
			}
			if tc.frozen && (!strings.Contains(out, "undone: site-loss") || procState(dbPID) == 'T') {
				t.Fatalf("recover after a kill with the database frozen: mariadbd state %q\n%s", procState(dbPID), out)
			}
			t.Logf("recover took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
			if code, out, _ := runCLI(append([]string{"recover"}, tc.target...)...); code != exitPass || !strings.Contains(out, "no fault was open") {
				t.Fatalf("second recover: exit %d\n%s", code, out)
			}
		})
	}
}

// An SSH connection dropped mid-drill (every lab host's sshd killed while
// the tunnel is down) is re-established and recorded on the timeline; the
// drill is still correct.
func TestSSHDroppedMidDrill(t *testing.T) {
	requireLab(t)
	t.Setenv("DRDRILL_BIN", buildDrdrill(t))
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() { lab.Down(context.Background(), dir, backends()) })
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, file, _ := runCLI("lab", "target", "--lab", dir, "--via", "ssh")
	tf := filepath.Join(t.TempDir(), "lab.yaml")
	os.WriteFile(tf, []byte(file), 0o600)
	rep := t.TempDir()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	state := filepath.Join(os.Getenv("XDG_STATE_HOME"), "drdrill", "lab-"+info.ID, "journal.jsonl")
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Once the fault is journalled (the drill is mid-way), kill every
		// host's sshd.
		if err := poll.Until(context.Background(), "the fault in the journal", 10*time.Millisecond, 30*time.Second, func(context.Context) (bool, string, error) {
			b, _ := os.ReadFile(state)
			return strings.Contains(string(b), `"event":"inject"`), "", nil
		}); err != nil {
			t.Error(err)
			return
		}
		for _, h := range []string{"aws-gw", "aws-db", "onprem-gw", "onprem-db"} {
			if _, err := lab.KillSSHD(context.Background(), info, h); err != nil {
				t.Errorf("kill sshd on %s: %v", h, err)
			}
		}
	}()
	code, out, stderr := runCLI("run", "vpn-outage", "--target", tf, "--yes", "--report", rep)
	<-done
	if code != exitPass {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	b, err := os.ReadFile(filepath.Join(rep, "report.json"))
	if err != nil || !strings.Contains(string(b), "ssh connection lost and re-established") {
		t.Fatalf("the report does not record the reconnect: %v", err)
	}
}

// fileLacks are the capabilities of needs that the lab's target file does
// not have: all but a cluster (exec, restart-gateway, freeze and the
// replication account it gives).
func fileLacks(needs []target.Capability) []target.Capability {
	var out []target.Capability
	for _, c := range needs {
		if c == target.CapCluster {
			out = append(out, c)
		}
	}
	return out
}

// procState is the state letter of a pid (0 when gone).
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) {
		return b[i+2]
	}
	return 0
}
