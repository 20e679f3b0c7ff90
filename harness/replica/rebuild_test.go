package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/internal/fakesql"
)

// Bad input is refused before anything runs, each with a one-line error.
func TestRebuildValidates(t *testing.T) {
	ran := false
	run := func(context.Context, []byte, ...string) ([]byte, error) { ran = true; return nil, nil }
	m := &Conn{flavor: MariaDB}
	good := RebuildOptions{From: m, To: m, Run: run, Dump: Source{Host: "10.20.11.123", User: "d"}, ToSocket: "/s", ToUser: "root",
		Repl: Source{Host: "10.20.11.123", User: "r"}}
	for name, tc := range map[string]struct {
		mod  func(o *RebuildOptions)
		want string
	}{
		"no run":        {func(o *RebuildOptions) { o.Run = nil }, "Run are required"},
		"mysql":         {func(o *RebuildOptions) { o.To = &Conn{flavor: MySQL} }, "MariaDB only"},
		"no socket":     {func(o *RebuildOptions) { o.ToSocket = "" }, "ToSocket"},
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
	p := RebuildPipeline([]string{"testdb", "app"})
	for _, want := range []string{"set -o pipefail; umask 077; d=$(mktemp -d) || exit 1; trap 'rm -rf \"$d\"' EXIT; cat > \"$d/my.cnf\"",
		"SET SESSION sql_log_bin=0;", `mariadb-dump --defaults-extra-file="$d/my.cnf" --defaults-group-suffix=_drdrill_dump --single-transaction --gtid --master-data=1`,
		"--databases testdb app", `mariadb --defaults-extra-file="$d/my.cnf" --defaults-group-suffix=_drdrill_to;`, `echo "drdrill-bytes $(cat "$d/bytes")"`} {
		if !strings.Contains(p, want) {
			t.Errorf("pipeline lacks %q: %s", want, p)
		}
	}
	g := optionGroup("client_x", map[string]string{"user": "d", "password": `pa"s\s`, "host": ""})
	if g != "[client_x]\nuser = \"d\"\npassword = \"pa\\\"s\\\\s\"\n" {
		t.Fatalf("option group: %q", g)
	}
	for out, want := range map[string]int64{"drdrill-bytes 1234\n": 1234, "Warning: x\ndrdrill-bytes 5": 5, "drdrill-bytes 7\nlater\n": 0, "": 0, "drdrill-bytes \n": 0} {
		if got := streamBytes([]byte(out)); got != want {
			t.Errorf("streamBytes(%q) = %d, want %d", out, got, want)
		}
	}
}

// The option file, both accounts' passwords in it, goes to the pipeline's
// stdin; no password is in its argv or in the error of a failed load.
func TestRebuildSendsOptionFileOnStdin(t *testing.T) {
	const dumpPW, toPW = `du'mp"pw\`, "to-pw"
	handle := func(q string, _ []driver.NamedValue) fakesql.Result {
		switch q {
		case "SELECT @@GLOBAL.log_bin":
			return fakesql.One("v", "1")
		case "SELECT @@GLOBAL.gtid_binlog_state":
			return fakesql.One("v", "0-1-10")
		case "SELECT @@GLOBAL.gtid_slave_pos":
			return fakesql.One("v", "")
		}
		return fakesql.Result{}
	}
	from, _ := newFakeConn(t, "10.11.19-MariaDB-log", handle)
	to, _ := newFakeConn(t, "10.11.19-MariaDB-log", handle)
	var stdin []byte
	var argv []string
	runOut, runErr := []byte("ERROR 1045 (28000): Access denied; password "+dumpPW+"\n"), errors.New("exit status 1")
	o := RebuildOptions{From: from, To: to, FromName: "aws-db", ToName: "onprem-db",
		Run: func(_ context.Context, in []byte, a ...string) ([]byte, error) {
			stdin, argv = in, a
			return runOut, runErr
		},
		Dump:     Source{Host: "10.20.11.123", User: "drdrill_dump", Password: dumpPW},
		ToSocket: "/run/mysqld/mysqld.sock", ToUser: "root", ToPassword: toPW, Databases: []string{"testdb"},
		Repl: Source{Host: "10.20.11.123", User: "repl", Password: "repl-pw"}}
	_, err := Rebuild(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "Access denied") || strings.Contains(err.Error(), dumpPW) {
		t.Fatalf("a failed load: %v", err)
	}
	want := "[client_drdrill_dump]\nhost = \"10.20.11.123\"\nport = \"3306\"\nuser = \"drdrill_dump\"\npassword = \"du'mp\\\"pw\\\\\"\n" +
		"[client_drdrill_to]\nsocket = \"/run/mysqld/mysqld.sock\"\nuser = \"root\"\npassword = \"to-pw\"\n"
	if string(stdin) != want {
		t.Errorf("stdin:\n%s\nwant:\n%s", stdin, want)
	}
	if len(argv) != 3 || argv[0] != "bash" || argv[1] != "-c" || argv[2] != RebuildPipeline([]string{"testdb"}) {
		t.Errorf("argv: %q", argv)
	}
	for _, a := range argv {
		for _, pw := range []string{dumpPW, toPW, "du'mp", "repl-pw"} {
			if strings.Contains(a, pw) {
				t.Errorf("argv holds a password: %q", a)
			}
		}
	}
	// A load that worked: the size comes from its last line.
	runOut, runErr = []byte("drdrill-bytes 4096\n"), nil
	res, err := Rebuild(context.Background(), o)
	if res.Bytes != 4096 || err == nil || !strings.Contains(err.Error(), "no gtid_slave_pos") {
		t.Fatalf("bytes %d, err %v (the fake sets no gtid_slave_pos)", res.Bytes, err)
	}
}
