package journal

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/fault"
)

func openT(t *testing.T, dir string) *Journal {
	t.Helper()
	j, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func TestBeginDoneOpenFaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "seoul-dr")
	j := openT(t, dir)
	j.SetTarget(FileRef("seoul-dr", "/etc/drdrill/seoul.yaml"))
	at := time.Now().Add(5 * time.Minute).UTC().Truncate(time.Millisecond)
	a, err := j.Begin(Entry{Fault: "wan-blackhole", Params: fault.Params{"heal_wait": "5s"}, Data: json.RawMessage(`[{"host":{"Site":"aws","Kind":"gw"}}]`),
		Step: "step 1", Hosts: []string{"aws-gw", "onprem-gw"}, What: "drop", Undo: "nft delete table inet drdrill_blackhole",
		DeadMan: "expires", DeadManAt: &at, MaxFaultMS: 300000})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := j.Begin(Entry{Fault: "tunnel-down"})
	c, _ := j.Begin(Entry{Fault: "gateway-crash"})
	if err := j.Done(b); err != nil {
		t.Fatal(err)
	}
	open, err := j.OpenFaults()
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 2 || open[0].ID != a || open[1].ID != c {
		t.Fatalf("open faults %+v, want %s then %s", open, a, c)
	}
	e := open[0]
	if e.Event != EventInject || e.Params["heal_wait"] != "5s" || string(e.Data) != `[{"host":{"Site":"aws","Kind":"gw"}}]` ||
		e.Target.Name != "seoul-dr" || e.Target.Reopen != "file:/etc/drdrill/seoul.yaml" || e.PID != os.Getpid() ||
		e.DeadManAt == nil || !e.DeadManAt.Equal(at) || e.MaxFaultMS != 300000 || len(e.Hosts) != 2 || e.Time.IsZero() {
		t.Fatalf("entry did not survive the round trip: %+v", e)
	}
	if err := j.Abandon(c, ""); err == nil {
		t.Fatal("abandon without a reason must be refused")
	}
	if err := j.Abandon(c, "charon reinstalled by hand"); err != nil {
		t.Fatal(err)
	}
	if err := j.Done("f-../../etc"); err == nil {
		t.Fatal("a bad id must be refused")
	}
	if _, err := j.Begin(Entry{}); err == nil {
		t.Fatal("an entry without a fault name must be refused")
	}
	// Another process (here: after Close) sees the same.
	j.Close()
	j2 := openT(t, dir)
	open, _ = j2.OpenFaults()
	if len(open) != 1 || open[0].ID != a {
		t.Fatalf("reopened: %+v", open)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Dir(dir): 0o700, filepath.Join(dir, FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode().Perm(), want, err)
		}
	}
}

// Begin returns only once the line is in the file (written and synced).
func TestBeginIsOnDiskWhenItReturns(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	id, err := j.Begin(Entry{Fault: "tunnel-down"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil || !strings.Contains(string(b), id) || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("journal after Begin: %q %v", b, err)
	}
}

// A second drdrill on the same state dir is refused, naming the holder.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	_, err := Open(dir)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || !strings.Contains(err.Error(), "in use by drdrill pid") {
		t.Fatalf("second Open: %v", err)
	}
	// Reading without the lock is fine.
	if _, _, err := Pending(dir); err != nil {
		t.Fatal(err)
	}
	j.Close()
	openT(t, dir)
}

// A kill -9 in the middle of a write leaves a torn last line: it is
// ignored with a warning, recover never fails because of it, and the next
// entry is a line of its own.
func TestTornLastLine(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	a, _ := j.Begin(Entry{Fault: "tunnel-down"})
	j.Close()
	f, _ := os.OpenFile(filepath.Join(dir, FileName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"f-0123456789ab","event":"inj`)
	f.Close()

	open, warns, err := Pending(dir)
	if err != nil || len(open) != 1 || open[0].ID != a || len(warns) != 1 || !strings.Contains(warns[0], "torn") {
		t.Fatalf("pending: %+v %q %v", open, warns, err)
	}
	j = openT(t, dir)
	b, err := j.Begin(Entry{Fault: "gateway-crash"})
	if err != nil {
		t.Fatal(err)
	}
	open, err = j.OpenFaults()
	if err != nil || len(open) != 2 || open[0].ID != a || open[1].ID != b {
		t.Fatalf("after the torn line: %+v %v", open, err)
	}
	if w := j.Warnings(); len(w) == 0 || !strings.Contains(strings.Join(w, " "), "torn") {
		t.Fatalf("warnings %q", w)
	}
}

// Whatever byte a kill -9 stops a write at, the journal still reads: every
// complete line counts, the torn one is ignored.
func TestTruncatedAnywhere(t *testing.T) {
	src := t.TempDir()
	j := openT(t, src)
	a, _ := j.Begin(Entry{Fault: "tunnel-down", What: "terminate IKE SA"})
	b, _ := j.Begin(Entry{Fault: "wan-blackhole", Data: json.RawMessage(`{"x":1}`)})
	j.Done(a)
	j.Close()
	full, _ := os.ReadFile(filepath.Join(src, FileName))
	for n := 0; n <= len(full); n++ {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, FileName), full[:n], 0o600)
		jj, err := Open(dir)
		if err != nil {
			t.Fatalf("at %d bytes: %v", n, err)
		}
		open, err := jj.OpenFaults()
		jj.Close()
		if err != nil {
			t.Fatalf("at %d bytes: %v", n, err)
		}
		// A line counts once its JSON is whole (its newline may be missing).
		lines := strings.Count(string(full[:n])+"\n", "\n") - 1
		if n < len(full) && full[n] == '\n' {
			lines++
		}
		var want []string
		switch lines {
		case 0:
		case 1:
			want = []string{a}
		case 2:
			want = []string{a, b}
		default:
			want = []string{b}
		}
		var got []string
		for _, e := range open {
			got = append(got, e.ID)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("at %d bytes (%d lines): open %v, want %v", n, lines, got, want)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/lib/me/state")
	if d, err := DefaultDir(FileRef("seoul-dr", "/x/seoul.yaml")); err != nil || d != "/var/lib/me/state/drdrill/seoul-dr" {
		t.Fatalf("got %q %v", d, err)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/sre")
	if d, err := DefaultDir(FileRef("seoul-dr", "/x/seoul.yaml")); err != nil || d != "/home/sre/.local/state/drdrill/seoul-dr" {
		t.Fatalf("got %q %v", d, err)
	}
	if d, err := DefaultDir(LabRef("/tmp/lab")); err != nil || d != "/tmp/lab" {
		t.Fatalf("lab: %q %v", d, err)
	}
	for _, r := range []Ref{{Name: "../etc", Reopen: "file:/x"}, {Name: "a/b", Reopen: "file:/x"}, {Name: ".hidden", Reopen: "file:/x"},
		{Name: "ok", Reopen: "ssh:/x"}, {Name: "ok", Reopen: "lab:"}} {
		if d, err := DefaultDir(r); err == nil {
			t.Errorf("%+v: got %q, want an error", r, d)
		}
	}
}

// BenchmarkBeginDone is the journal's cost per fault (two synced appends),
// in the dir DRDRILL_BENCH_STATE_DIR (default: a temp dir).
func BenchmarkBeginDone(b *testing.B) {
	dir := os.Getenv("DRDRILL_BENCH_STATE_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		dir = filepath.Join(dir, "bench-journal")
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	j, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	for b.Loop() {
		id, err := j.Begin(Entry{Fault: "wan-blackhole", What: "drop", Data: json.RawMessage(`[{"addr":"198.51.100.1"}]`)})
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Done(id); err != nil {
			b.Fatal(err)
		}
	}
}
