package lab

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderSite(t *testing.T) {
	dir := t.TempDir()
	info := newInfo(dir, "netns")
	for _, s := range Sites {
		if err := renderSite(info, s); err != nil {
			t.Fatal(err)
		}
	}
	read := func(site, f string) string {
		b, err := os.ReadFile(filepath.Join(dir, site, f))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		site, file string
		want       []string
		absent     []string
	}{
		{SiteAWS, "strongswan.conf", []string{"kernel-libipsec", "load_modular = no", "socket = unix://" + filepath.Join(dir, "aws", "charon.vici"),
			"retransmit_tries = 3", "path = " + filepath.Join(dir, "aws", "charon.log")}, nil},
		{SiteOnPrem, "strongswan.conf", []string{"socket = unix://" + filepath.Join(dir, "onprem", "charon.vici")}, nil},
		{SiteAWS, "my.cnf", []string{"bind-address=10.20.11.123", "server-id=1", "socket=" + filepath.Join(dir, "aws", "mysqld.sock"),
			"datadir=" + filepath.Join(dir, "aws", "data"), "innodb_data_file_path=ibdata1:4M:autoextend", "log-bin=", "gtid-strict-mode=ON",
			// The lab's footprint (docs/findings.md#lab-footprint).
			"innodb_buffer_pool_size=8M", "key_buffer_size=64K", "aria_pagecache_buffer_size=1M", "performance_schema=OFF"}, []string{"read-only"}},
		{SiteOnPrem, "my.cnf", []string{"bind-address=192.168.64.15", "server-id=2", "read-only=ON", "tmpdir=" + filepath.Join(dir, "onprem", "tmp")}, nil},
	} {
		got := read(tc.site, tc.file)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s/%s lacks %q:\n%s", tc.site, tc.file, w, got)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(got, a) {
				t.Errorf("%s/%s has %q", tc.site, tc.file, a)
			}
		}
	}
}

func TestNamesFitKernelLimits(t *testing.T) {
	id := IDFor("/a/very/long/lab/dir/" + strings.Repeat("x", 200))
	if len(id) != 11 || !strings.HasPrefix(id, "drd") {
		t.Fatalf("id %q: want drd + 8 hex", id)
	}
	for _, h := range Hosts {
		// Namespace names are files under /run/netns; container names are
		// DNS labels (63). Interface names inside (wan0, lan0, eth0) are
		// fixed and fit IFNAMSIZ (15).
		if n := HostName(id, h); len(n) > 63 {
			t.Errorf("host name %q too long", n)
		}
	}
	if IDFor("/tmp/a") == IDFor("/tmp/b") {
		t.Fatal("two dirs, one id: labs could not run side by side")
	}
	if IDFor("/tmp/a") != IDFor("/tmp/a/") {
		t.Fatal("the same dir must give the same id (down finds a crashed lab by it)")
	}
}

func TestSocketPathTooLong(t *testing.T) {
	long := "/tmp/" + strings.Repeat("d", 90)
	err := checkSocketPaths(newInfo(long, "netns"))
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "unix socket allows") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want a one-line input error about the socket path, got %v", err)
	}
	if err := checkSocketPaths(newInfo("/tmp/drdrill-lab", "netns")); err != nil {
		t.Fatalf("default dir rejected: %v", err)
	}
}

// fakeBackend passes Preflight so Prepare can be tested without root.
type fakeBackend struct{ NetnsBackend }

func (fakeBackend) Preflight() error { return nil }

func TestPrepareRejectsDirInUse(t *testing.T) {
	b := fakeBackend{}
	empty := t.TempDir()
	if _, err := Prepare(empty, b); err != nil {
		t.Fatalf("empty dir rejected: %v", err)
	}
	if _, err := Prepare(filepath.Join(empty, "new"), b); err != nil {
		t.Fatalf("missing dir rejected: %v", err)
	}
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("x"), 0o644)
	up := t.TempDir()
	info := newInfo(up, "netns")
	info.Phase = PhaseUp
	writeInfo(info)
	half := t.TempDir()
	info = newInfo(half, "netns")
	writeInfo(info)
	for _, tc := range []struct{ dir, want string }{
		{foreign, "not empty"},
		{up, "already up"},
		{half, "left creating"},
	} {
		_, err := Prepare(tc.dir, b)
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Prepare(%s): want input error containing %q, got %v", tc.dir, tc.want, err)
		}
	}
}

func TestPreflightNamesTheFix(t *testing.T) {
	if os.Geteuid() == 0 {
		old := CharonPath
		CharonPath = "/nonexistent/charon"
		defer func() { CharonPath = old }()
		err := NetnsBackend{}.Preflight()
		if err == nil || !strings.Contains(err.Error(), "make deps") || !strings.Contains(err.Error(), "strongswan-charon") {
			t.Fatalf("want missing charon with the fix, got %v", err)
		}
		return
	}
	err := NetnsBackend{}.Preflight()
	if err == nil || !strings.Contains(err.Error(), "root") {
		t.Fatalf("want a root error, got %v", err)
	}
}

func TestProcStartTimeGuardsPidReuse(t *testing.T) {
	st, err := procStartTime(os.Getpid())
	if err != nil || st == 0 {
		t.Fatalf("procStartTime(self) = %d, %v", st, err)
	}
	if !(Process{PID: os.Getpid(), StartTime: st}).alive() {
		t.Fatal("self not alive")
	}
	if (Process{PID: os.Getpid(), StartTime: st + 1}).alive() {
		t.Fatal("a recorded start time that differs must mean: not our process")
	}
}
