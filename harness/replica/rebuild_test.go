package replica

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input is refused before anything runs, each with a one-line error.
func TestRebuildValidates(t *testing.T) {
	ran := false
	run := func(context.Context, ...string) ([]byte, error) { ran = true; return nil, nil }
	m := &Conn{flavor: MariaDB}
	good := RebuildOptions{From: m, To: m, Run: run, Dump: Source{Host: "10.20.11.123", User: "d"}, ToSocket: "/s", ToUser: "root",
		TempDir: t.TempDir(), Repl: Source{Host: "10.20.11.123", User: "r"}}
	for name, tc := range map[string]struct {
		mod  func(o *RebuildOptions)
		want string
	}{
		"no run":        {func(o *RebuildOptions) { o.Run = nil }, "Run are required"},
		"mysql":         {func(o *RebuildOptions) { o.To = &Conn{flavor: MySQL} }, "MariaDB only"},
		"no temp dir":   {func(o *RebuildOptions) { o.TempDir = "" }, "TempDir"},
		"no dump user":  {func(o *RebuildOptions) { o.Dump.User = "" }, "dump source: user is empty"},
		"no repl host":  {func(o *RebuildOptions) { o.Repl.Host = " " }, "replication source: host is empty"},
		"newline":       {func(o *RebuildOptions) { o.Dump.Host = "h\npassword=x" }, "line break"},
		"database name": {func(o *RebuildOptions) { o.Databases = []string{"x; rm -rf /"} }, "database name"},
	} {
		o := good
		tc.mod(&o)
		_, err := Rebuild(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if ran {
		t.Fatal("a command ran before the input was validated")
	}
}

func TestRebuildPipelineAndOptionFile(t *testing.T) {
	p := RebuildPipeline("/t/d.cnf", "/t/to.cnf", "/t/n", []string{"testdb", "app"})
	for _, want := range []string{"set -o pipefail", "SET SESSION sql_log_bin=0;", "--defaults-extra-file='/t/d.cnf'", "--single-transaction --gtid --master-data=1",
		"--databases testdb app", "mariadb --defaults-extra-file='/t/to.cnf'"} {
		if !strings.Contains(p, want) {
			t.Errorf("pipeline lacks %q: %s", want, p)
		}
	}
	path := filepath.Join(t.TempDir(), "x.cnf")
	if err := writeOptionFile(path, map[string]string{"user": "d", "password": `pa"s\s`}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	b, _ := os.ReadFile(path)
	if st.Mode().Perm() != 0o600 || !strings.Contains(string(b), `password = "pa\"s\\s"`) {
		t.Fatalf("%v %s", st.Mode(), b)
	}
	if err := writeOptionFile(path, nil); err == nil {
		t.Fatal("an existing option file must not be overwritten")
	}
}
