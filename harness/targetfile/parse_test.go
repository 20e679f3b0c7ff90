package targetfile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/tunnel"
)

// Passwords the tests put in the environment: no error, String or %v may
// show them.
const (
	awsPW    = "s3cr3t-aws-Pw!"
	onpremPW = "0nprem-s3cret"
	filePW   = "fr0m-a-f1le"
)

// base is a complete valid file; its line numbers are what the refusal
// cases below name.
const base = `schema: drdrill.target/v1
name: seoul-dr
safety:
  allow_destructive: true
  max_fault: 2m
objectives: {rpo: 5s, rto: 2m}
workload: {database: drills, table: ping2}
ssh:
  known_hosts: KNOWN
  identity_file: IDENT
  user: ops
sites:
  aws:
    role: primary
    gateway:
      via: ssh://drdrill@vpn-aws.example.com
      vici: unix:///var/run/charon.vici
      connection: onprem-aws
      exec: sudo
      retransmit: {timeout: 0.5s, base: 1.4, tries: 3}
      keyingtries: 0
      start_action: start
      commands:
        kill: [systemctl, kill, -s, KILL, strongswan]
        start: [systemctl, start, strongswan]
    db:
      via: ssh://drdrill@db-aws.example.com:2222
      socket: /run/mysqld/mysqld.sock
      user: drdrill
      password_env: TF_TEST_AWS_PW
  onprem:
    role: replica
    gateway:
      vici: tcp://127.0.0.1:4502
      connection: onprem-aws
      child: child-1
      exec: direct
      commands:
        kill: [pkill, -9, charon]
        start: [/usr/local/bin/start-charon]
    db:
      address: db-onprem.example.com:3306
      user: drdrill
      password_env: TF_TEST_ONPREM_PW
      tls: {ca: CA, cert: CERT, key: KEY, server_name: db.onprem}
`

// fixture is a directory with the files base names, and the environment
// it needs.
type fixture struct {
	dir                         string
	known, ident, ca, cert, key string
	file                        string // dir/t.yaml
	pwFile, pwOpen              string // a password file (0600), one others can read (0644)
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	t.Setenv("TF_TEST_AWS_PW", awsPW)
	t.Setenv("TF_TEST_ONPREM_PW", onpremPW)
	t.Setenv("TF_TEST_EMPTY_PW", "")
	os.Unsetenv("TF_TEST_UNSET_PW")
	dir := t.TempDir()
	fx := &fixture{dir: dir, known: filepath.Join(dir, "known_hosts"), ident: filepath.Join(dir, "id_ed25519"), file: filepath.Join(dir, "t.yaml")}
	for _, p := range []string{fx.known, fx.ident} {
		if err := os.WriteFile(p, []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fx.ca, fx.cert, fx.key = writeCerts(t, dir)
	fx.pwFile, fx.pwOpen = filepath.Join(dir, "repl.pw"), filepath.Join(dir, "open.pw")
	for p, mode := range map[string]os.FileMode{fx.pwFile: 0o600, fx.pwOpen: 0o644} {
		if err := os.WriteFile(p, []byte(filePW+"\nsecond line\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode) // whatever the umask
	}
	return fx
}

// text is base with the fixture's paths and the replacements old→new.
func (fx *fixture) text(t testing.TB, repl ...string) string {
	t.Helper()
	s := strings.NewReplacer("KNOWN", fx.known, "IDENT", fx.ident, "CA,", fx.ca+",", "CERT", fx.cert, "KEY,", fx.key+",").Replace(base)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("test bug: %q is not in the file", repl[i])
		}
		s = strings.Replace(s, repl[i], repl[i+1], 1)
	}
	return s
}

func (fx *fixture) parse(t *testing.T, repl ...string) (*File, error) {
	t.Helper()
	return Parse([]byte(fx.text(t, repl...)), fx.file)
}

func TestRefusals(t *testing.T) {
	fx := newFixture(t)
	long := "/" + strings.Repeat("s", 119) // 120 bytes
	t.Setenv("SSH_AUTH_SOCK", "")
	cases := []struct {
		name string
		repl []string // old, new, ...
		want string   // the whole error after "t.yaml:"
	}{
		{"schema wrong", []string{"target/v1", "target/v2"},
			`1: schema: "drdrill.target/v2" is not supported (want drdrill.target/v1)`},
		{"typo top level", []string{"workload:", "workloads:"},
			`7: unknown key "workloads" (did you mean "workload"?)`},
		{"typo in safety", []string{"max_fault:", "max_falt:"},
			`5: safety: unknown key "max_falt" (did you mean "max_fault"?)`},
		{"typo in ssh", []string{"identity_file:", "identity_fil:"},
			`10: ssh: unknown key "identity_fil" (did you mean "identity_file"?)`},
		{"typo in a site", []string{"    role: primary", "    rol: primary"},
			`14: sites.aws: unknown key "rol" (did you mean "role"?)`},
		{"typo in a db", []string{"socket:", "sokcet:"},
			`28: sites.aws.db: unknown key "sokcet" (did you mean "socket"?)`},
		{"typo in a flow mapping", []string{"tries: 3", "trys: 3"},
			`20: sites.aws.gateway.retransmit: unknown key "trys" (did you mean "tries"?)`},
		{"a password in the file", []string{"      user: drdrill\n      password_env: TF_TEST_AWS_PW", "      user: drdrill\n      password: hunter2"},
			`30: sites.aws.db: unknown key "password" (secrets come from the environment: password_env)`},
		{"name missing", []string{"name: seoul-dr\n", ""},
			`1: name: required`},
		{"connection missing", []string{"      connection: onprem-aws\n      child", "      child"},
			`33: sites.onprem.gateway.connection: required`},
		{"db user missing", []string{"      user: drdrill\n      password_env: TF_TEST_AWS_PW", "      password_env: TF_TEST_AWS_PW"},
			`26: sites.aws.db.user: required`},
		{"password_env missing for an address", []string{"      password_env: TF_TEST_ONPREM_PW\n", ""},
			`41: sites.onprem.db.password_env: required for an address: the environment variable holding the password (set it to "" for none), or password_file`},
		{"password_env and password_file", []string{"      password_env: TF_TEST_AWS_PW\n", "      password_env: TF_TEST_AWS_PW\n      password_file: PWFILE\n"},
			`31: sites.aws.db.password_file: password_env is given too: give one of them`},
		{"password_file readable by others", []string{"      password_env: TF_TEST_AWS_PW\n", "      password_file: PWOPEN\n"},
			`30: sites.aws.db.password_file: PWOPEN is readable by others (mode 0644): chmod 600 it`},
		{"password_file missing", []string{"      password_env: TF_TEST_AWS_PW\n", "      password_file: nope.pw\n"},
			`30: sites.aws.db.password_file: ` + filepath.Join(fx.dir, "nope.pw") + `: no such file or directory`},
		{"unknown db exec", []string{"      password_env: TF_TEST_AWS_PW\n", "      password_env: TF_TEST_AWS_PW\n      exec: always\n"},
			`31: sites.aws.db.exec: "always": want direct or sudo (or leave it out: no commands there)`},
		{"replication without a password", []string{"workload: {database: drills, table: ping2}\n", "workload: {database: drills, table: ping2}\nreplication: {user: repl}\n"},
			`8: replication.password_env: required: the environment variable holding the replication password, or password_file`},
		{"replication password unset", []string{"workload: {database: drills, table: ping2}\n", "workload: {database: drills, table: ping2}\nreplication: {user: repl, password_env: TF_TEST_UNSET_PW}\n"},
			`8: replication.password_env: TF_TEST_UNSET_PW is not set`},
		{"typo in replication", []string{"workload: {database: drills, table: ping2}\n", "workload: {database: drills, table: ping2}\nreplication: {usr: repl}\n"},
			`8: replication: unknown key "usr" (did you mean "user"?)`},
		{"bad duration", []string{"max_fault: 2m", `max_fault: 5 minutes`},
			`5: safety.max_fault: "5 minutes" is not a duration (e.g. 90s, 5m, 0.5s)`},
		{"bare number duration", []string{"timeout: 0.5s", "timeout: 0.5"},
			`20: sites.aws.gateway.retransmit.timeout: "0.5" is not a duration (e.g. 90s, 5m, 0.5s)`},
		{"zero max_fault", []string{"max_fault: 2m", "max_fault: 0s"},
			`5: safety.max_fault: must be more than 0`},
		{"relative socket", []string{"socket: /run/mysqld/mysqld.sock", "socket: run/mysqld.sock"},
			`28: sites.aws.db.socket: "run/mysqld.sock" is not an absolute path (e.g. /run/mysqld/mysqld.sock)`},
		{"120-byte socket", []string{"socket: /run/mysqld/mysqld.sock", "socket: " + long},
			`28: sites.aws.db.socket: the socket path is 120 bytes; a unix socket path has at most 107`},
		{"relative vici socket", []string{"unix:///var/run", "unix://var/run"},
			`17: sites.aws.gateway.vici: "var/run/charon.vici" is not an absolute path (e.g. unix:///var/run/charon.vici)`},
		{"vici scheme", []string{"vici: unix:///var/run/charon.vici", "vici: /var/run/charon.vici"},
			`17: sites.aws.gateway.vici: "/var/run/charon.vici": want unix:///path/to/charon.vici or tcp://host:port`},
		{"vici tcp without port", []string{"tcp://127.0.0.1:4502", "tcp://127.0.0.1"},
			`34: sites.onprem.gateway.vici: "127.0.0.1": want host:port`},
		{"unset password_env", []string{"TF_TEST_AWS_PW", "TF_TEST_UNSET_PW"},
			`30: sites.aws.db.password_env: TF_TEST_UNSET_PW is not set`},
		{"password_env not a name", []string{"TF_TEST_AWS_PW", "'hunter 2'"},
			`30: sites.aws.db.password_env: "hunter 2" is not an environment variable name (the file names the variable; the password stays in the environment)`},
		{"socket and address", []string{"      socket: /run/mysqld/mysqld.sock\n", "      socket: /run/mysqld/mysqld.sock\n      address: 10.0.0.1:3306\n"},
			`29: sites.aws.db.address: socket is given too: give one of them`},
		{"neither socket nor address", []string{"      socket: /run/mysqld/mysqld.sock\n", ""},
			`26: sites.aws.db.socket: required (or address: host:port)`},
		{"address port", []string{"example.com:3306", "example.com:70000"},
			`42: sites.onprem.db.address: "db-onprem.example.com:70000": port "70000": want 1-65535`},
		{"bad via scheme", []string{"via: ssh://drdrill@vpn-aws", "via: http://drdrill@vpn-aws"},
			`16: sites.aws.gateway.via: "http://drdrill@vpn-aws.example.com": want ssh://[user@]host[:port], netns://NAME or docker://NAME (or leave via out for this machine)`},
		{"via with a path", []string{"vpn-aws.example.com\n", "vpn-aws.example.com/x\n"},
			`16: sites.aws.gateway.via: "ssh://drdrill@vpn-aws.example.com/x": want ssh://[user@]host[:port] and nothing after it`},
		{"via with a password", []string{"ssh://drdrill@vpn-aws", "ssh://drdrill:hunter2@vpn-aws"},
			`16: sites.aws.gateway.via: a password in via is not allowed: use identity_file or the ssh agent`},
		{"two primaries", []string{"role: replica", "role: primary"},
			`32: sites.onprem.role: "primary" again (sites.aws is primary): want one primary and one replica`},
		{"unknown role", []string{"role: replica", "role: standby"},
			`32: sites.onprem.role: "standby": want primary or replica`},
		{"three sites", []string{"  onprem:\n", "  third:\n    role: replica\n  onprem:\n"},
			`12: sites: want exactly two sites (one primary, one replica), got 3`},
		{"unknown exec", []string{"exec: sudo", "exec: root"},
			`19: sites.aws.gateway.exec: "root": want direct or sudo (or leave it out: no commands there)`},
		{"bad workload table", []string{"table: ping2", "table: ping-2"},
			`7: workload.table: "ping-2": want 1-64 letters, digits or '_'`},
		{"system schema", []string{"database: drills", "database: mysql"},
			`7: workload.database: "mysql" is a system schema: drdrill writes its own table, give a database of its own`},
		{"tls file missing", []string{fx.ca + ",", "/nonexistent/ca.pem,"},
			`45: sites.onprem.db.tls.ca: /nonexistent/ca.pem: no such file or directory`},
		{"tls ca not PEM", []string{fx.ca + ",", fx.known + ","},
			`45: sites.onprem.db.tls.ca: no PEM certificate in ` + fx.known},
		{"tls cert without key", []string{", key: " + fx.key, ""},
			`45: sites.onprem.db.tls.key: required with cert`},
		{"tls with a socket", []string{"      password_env: TF_TEST_AWS_PW\n", "      password_env: TF_TEST_AWS_PW\n      tls: {server_name: x}\n"},
			`31: sites.aws.db.tls: only with address: a unix socket needs none`},
		{"commands without exec", []string{"      exec: direct\n", ""},
			`37: sites.onprem.gateway.commands: they run on the gateway's host: set exec: direct or sudo there`},
		{"kill without start", []string{"        start: [/usr/local/bin/start-charon]\n", ""},
			`38: sites.onprem.gateway.commands.start: required with kill (a crashed gateway must be started again)`},
		{"empty argv", []string{"kill: [pkill, -9, charon]", "kill: []"},
			`39: sites.onprem.gateway.commands.kill: empty list`},
		{"ssh without known_hosts", []string{"  known_hosts: " + fx.known + "\n", ""},
			`15: sites.aws.gateway.via: ssh:// needs ssh.known_hosts: unknown or changed host keys are refused`},
		{"ssh without a key", []string{"  identity_file: " + fx.ident + "\n", ""},
			`15: sites.aws.gateway.via: ssh:// needs ssh.identity_file or an ssh agent ($SSH_AUTH_SOCK is not set)`},
		{"typo with no near key", []string{"    role: primary", "    x: primary"},
			`14: sites.aws: unknown key "x" (want one of role, gateway, db)`},
		{"known_hosts missing", []string{"known_hosts: " + fx.known, "known_hosts: nope"},
			`9: ssh.known_hosts: ` + filepath.Join(fx.dir, "nope") + `: no such file or directory`},
		{"ssh on a local endpoint", []string{"      child: child-1\n", "      child: child-1\n      ssh: {user: x}\n"},
			`37: sites.onprem.gateway.ssh: only for a host reached with via: ssh://`},
		{"proxy_jump and proxy_command", []string{"  user: ops\n", "  user: ops\n  proxy_jump: b\n  proxy_command: nc %h %p\n"},
			`13: ssh.proxy_command: proxy_jump is given too: give one`},
		{"one host, two ssh settings", []string{"via: ssh://drdrill@db-aws.example.com:2222", "via: ssh://drdrill@vpn-aws.example.com\n      ssh: {user: other}"},
			`28: sites.aws.db.ssh: differs from the ssh settings of sites.aws.gateway for the same host ssh://drdrill@vpn-aws.example.com`},
		{"not a bool", []string{"allow_destructive: true", "allow_destructive: yes"},
			`4: safety.allow_destructive: "yes" is not true or false`},
		{"keyingtries negative", []string{"keyingtries: 0", "keyingtries: -1"},
			`21: sites.aws.gateway.keyingtries: -1 is out of range 0-1048576`},
		{"start_action", []string{"start_action: start", "start_action: route"},
			`22: sites.aws.gateway.start_action: "route": want none, trap, start or trap|start (as in swanctl.conf)`},
		{"retransmit base", []string{"base: 1.4", "base: 0.5"},
			`20: sites.aws.gateway.retransmit.base: 0.5 is out of range 1-10`},
		{"duplicate key", []string{"      user: drdrill\n", "      user: drdrill\n      user: other\n"},
			`30: sites.aws.db.user: given twice (first at line 29)`},
		{"site name", []string{"  aws:\n", "  aws west:\n"},
			`13: sites.aws west: site name "aws west": want letters, digits, '_' or '-', at most 32`},
		{"gateway not a mapping", []string{"    gateway:\n      vici: tcp://127.0.0.1:4502\n      connection: onprem-aws\n      child: child-1\n      exec: direct\n      commands:\n        kill: [pkill, -9, charon]\n        start: [/usr/local/bin/start-charon]\n", "    gateway: tcp\n"},
			`33: sites.onprem.gateway: want a mapping (key: value), got "tcp"`},
		{"yaml syntax", []string{"name: seoul-dr", "name: seoul: dr"},
			`2: not valid YAML: mapping values are not allowed in this context`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range c.repl {
				c.repl[i] = strings.NewReplacer("PWFILE", fx.pwFile, "PWOPEN", fx.pwOpen).Replace(c.repl[i])
			}
			c.want = strings.ReplaceAll(c.want, "PWOPEN", fx.pwOpen)
			f, err := fx.parse(t, c.repl...)
			if err == nil {
				t.Fatalf("accepted: %v", f)
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("%T, want *InputError: %v", err, err)
			}
			want := fx.file + ":" + c.want
			if err.Error() != want {
				t.Errorf("got  %s\nwant %s", err, want)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("not one line: %q", err)
			}
			for _, s := range []string{awsPW, onpremPW, filePW, "hunter2"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows a secret: %s", err)
				}
			}
		})
	}
}

// A password file's first line is the password; the replication account
// and a db host's exec are read; Secrets has every password; nothing that
// prints the file shows one.
func TestPasswordFileReplicationAndDBExec(t *testing.T) {
	fx := newFixture(t)
	f, err := fx.parse(t,
		"workload: {database: drills, table: ping2}\n", "workload: {database: drills, table: ping2}\nreplication: {user: repl, password_file: "+fx.pwFile+"}\n",
		"      password_env: TF_TEST_AWS_PW\n", "      password_env: TF_TEST_AWS_PW\n      exec: sudo\n")
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Replication; r == nil || r.User != "repl" || r.PasswordFile != fx.pwFile || r.password.value() != filePW {
		t.Fatalf("replication %#v", r)
	}
	if f.Sites[0].DB.Exec != ExecSudo || f.Sites[1].DB.Exec != ExecNone {
		t.Errorf("db exec %q %q, want sudo and none", f.Sites[0].DB.Exec, f.Sites[1].DB.Exec)
	}
	if got := f.Secrets(); !slices.Contains(got, filePW) || !slices.Contains(got, awsPW) {
		t.Errorf("Secrets() lacks the replication or a db password (%d secrets)", len(got))
	}
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", f, f, f, f), fmt.Sprintf("%v %+v %#v", f.Replication, f.Replication, *f.Replication)} {
		if strings.Contains(out, filePW) {
			t.Errorf("printing shows the password: %s", out)
		}
	}
	// A db password from a file too.
	f, err = fx.parse(t, "      password_env: TF_TEST_ONPREM_PW\n", "      password_file: "+fx.pwFile+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Sites[1].DB; d.password.value() != filePW || d.PasswordFile != fx.pwFile || d.PasswordEnv != "" {
		t.Errorf("onprem db: password file %q env %q", d.PasswordFile, d.PasswordEnv)
	}
}

func TestDocumentRefusals(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"empty", "", "t.yaml: empty file (want schema: drdrill.target/v1)"},
		{"comment only", "# nothing\n", "t.yaml: empty file (want schema: drdrill.target/v1)"},
		{"two documents", "schema: drdrill.target/v1\n---\nname: x\n", "t.yaml:2: a second YAML document: a target file is one document"},
		{"a list", "- schema\n", `t.yaml:1: want a mapping (key: value), got a list`},
		{"no sites", "schema: drdrill.target/v1\nname: x\n", "t.yaml:1: sites: required (two sites: one primary, one replica)"},
		{"schema missing", "name: x\n", "t.yaml:1: schema: required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.text), "t.yaml")
			if err == nil || err.Error() != c.want {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.HasSuffix(err.Error(), "missing.yaml: no such file or directory") {
		t.Fatalf("a missing file: %v", err)
	}
}

func dur(d time.Duration) *time.Duration { return &d }
func intp(i int) *int                    { return &i }

func TestValidFile(t *testing.T) {
	fx := newFixture(t)
	if err := os.WriteFile(fx.file, []byte(fx.text(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(fx.file)
	if err != nil {
		t.Fatal(err)
	}
	sshd := SSH{KnownHosts: fx.known, IdentityFile: fx.ident, User: "ops"}
	want := &File{
		Path: fx.file, Schema: Schema, Name: "seoul-dr",
		Objectives: Objectives{RPO: dur(5 * time.Second), RTO: dur(2 * time.Minute)},
		Workload:   Workload{Database: "drills", Table: "ping2"},
		SSH:        sshd,
		Sites: []*Site{
			{Name: "aws", Role: "primary",
				Gateway: Gateway{Via: "ssh://drdrill@vpn-aws.example.com", VICI: "unix:///var/run/charon.vici", Connection: "onprem-aws", Child: "onprem-aws",
					Exec: ExecSudo, Retransmit: tunnel.Retransmit{Timeout: 500 * time.Millisecond, Base: 1.4, Tries: 3}, RetransmitDeclared: true,
					Keyingtries: intp(0), StartAction: "start", SSH: sshd,
					Commands: Commands{Kill: []string{"systemctl", "kill", "-s", "KILL", "strongswan"}, Start: []string{"systemctl", "start", "strongswan"}}},
				DB: DB{Via: "ssh://drdrill@db-aws.example.com:2222", Socket: "/run/mysqld/mysqld.sock", User: "drdrill", PasswordEnv: "TF_TEST_AWS_PW", SSH: sshd}},
			{Name: "onprem", Role: "replica",
				Gateway: Gateway{VICI: "tcp://127.0.0.1:4502", Connection: "onprem-aws", Child: "child-1", Exec: ExecDirect, Retransmit: tunnel.DefaultRetransmit,
					Commands: Commands{Kill: []string{"pkill", "-9", "charon"}, Start: []string{"/usr/local/bin/start-charon"}}},
				DB: DB{Address: "db-onprem.example.com:3306", User: "drdrill", PasswordEnv: "TF_TEST_ONPREM_PW",
					TLS: &TLS{CA: fx.ca, Cert: fx.cert, Key: fx.key, ServerName: "db.onprem"}}},
		},
		safety: Safety{AllowDestructive: true, MaxFault: 2 * time.Minute},
	}
	// The unexported bookkeeping is compared on its own below.
	want.lines, want.warnings = f.lines, f.warnings
	for i := range want.Sites {
		want.Sites[i].DB.password = f.Sites[i].DB.password
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got\n%#v\nwant\n%#v", fmt.Sprintf("%+v", *f), fmt.Sprintf("%+v", *want))
		for i := range f.Sites {
			if !reflect.DeepEqual(f.Sites[i], want.Sites[i]) {
				t.Errorf("site %d:\n got %+v\nwant %+v", i, f.Sites[i].Gateway, want.Sites[i].Gateway)
			}
		}
	}
	if got := f.Secrets(); !slices.Equal(got, []string{awsPW, onpremPW}) {
		t.Errorf("Secrets() = %d strings, want both passwords", len(got))
	}
	if got, want := f.Warnings(), []string{"sites.onprem.gateway.vici: tcp:// VICI has no authentication: anyone who reaches tcp://127.0.0.1:4502 controls the gateway"}; !slices.Equal(got, want) {
		t.Errorf("Warnings() = %q, want %q", got, want)
	}
	if got := f.Safety(); got != (Safety{AllowDestructive: true, MaxFault: 2 * time.Minute}) {
		t.Errorf("Safety() = %+v", got)
	}
	if got := f.Pos("sites.aws.db.socket"); got != fx.file+":28" {
		t.Errorf("Pos = %q", got)
	}
	if got := f.Vias(); !slices.Equal(got, []string{"ssh://drdrill@vpn-aws.example.com", "ssh://drdrill@db-aws.example.com:2222"}) {
		t.Errorf("Vias() = %q", got)
	}
	if s, ok := f.SSHFor("ssh://drdrill@db-aws.example.com:2222"); !ok || s != sshd {
		t.Errorf("SSHFor = %+v %v", s, ok)
	}
}

func TestDefaults(t *testing.T) {
	t.Setenv("TF_TEST_EMPTY_PW", "")
	text := `schema: drdrill.target/v1
name: minimal
sites:
  onprem:
    role: replica
    gateway: {vici: "unix:///run/b.vici", connection: c}
    db: {socket: /run/b.sock, user: root, password_env: TF_TEST_EMPTY_PW}
  aws:
    role: primary
    gateway: {vici: "unix:///run/a.vici", connection: c, child: c2}
    db: {address: "127.0.0.1:3306", user: root, password_env: TF_TEST_EMPTY_PW}
`
	f, err := Parse([]byte(text), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Sites[0].Name != "aws" || f.Sites[1].Name != "onprem" {
		t.Errorf("sites in order %s, %s: want the primary first", f.Sites[0].Name, f.Sites[1].Name)
	}
	if s := f.Safety(); s.AllowDestructive || s.MaxFault != DefaultMaxFault {
		t.Errorf("safety defaults: %+v", s)
	}
	if f.Workload != (Workload{DefaultDatabase, DefaultTable}) {
		t.Errorf("workload default: %+v", f.Workload)
	}
	g := f.Sites[1].Gateway
	if g.Child != "c" || g.Retransmit != tunnel.DefaultRetransmit || g.RetransmitDeclared || g.Keyingtries != nil || g.Exec != ExecNone {
		t.Errorf("gateway defaults: %+v", g)
	}
	if f.Sites[0].Gateway.Child != "c2" {
		t.Errorf("child: %q", f.Sites[0].Gateway.Child)
	}
	if len(f.Secrets()) != 0 {
		t.Errorf("an empty password is not a secret to redact: %d", len(f.Secrets()))
	}
	if f.Objectives.RPO != nil || f.Objectives.RTO != nil {
		t.Errorf("objectives: %+v", f.Objectives)
	}
	if len(f.Warnings()) != 0 {
		t.Errorf("warnings for a loopback db: %q", f.Warnings())
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	fx := newFixture(t)
	f, err := fx.parse(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{f, *f, f.Sites, f.Sites[0], *f.Sites[0], f.Sites[0].DB, &f.Sites[1].DB, f.Sites[1].Gateway} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			s := fmt.Sprintf(verb, v)
			if strings.Contains(s, awsPW) || strings.Contains(s, onpremPW) {
				t.Errorf("%s of %T shows a password: %s", verb, v, s)
			}
		}
	}
	// The passwords are there, and come out through Secrets only.
	if got := f.Secrets(); !slices.Contains(got, awsPW) || !slices.Contains(got, onpremPW) {
		t.Errorf("Secrets() lacks a password (%d strings)", len(got))
	}
}

// writeCerts writes a CA and a client certificate signed by it.
func writeCerts(t testing.TB, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "drdrill"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	cDER, err := x509.CreateCertificate(rand.Reader, cTmpl, caTmpl, &cKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(cKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	for p, b := range map[string][]byte{
		ca:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cDER}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}

func BenchmarkParse(b *testing.B) {
	fx := newFixture(b)
	text := []byte(fx.text(b))
	for b.Loop() {
		if _, err := Parse(text, fx.file); err != nil {
			b.Fatal(err)
		}
	}
}

// A socket may authenticate by the peer's uid: password_env may be left
// out there (the lab's MariaDB root); the password is then empty.
func TestSocketWithoutPasswordEnv(t *testing.T) {
	f, err := Parse([]byte(`schema: drdrill.target/v1
name: lab-x
sites:
  aws:
    role: primary
    gateway: {via: netns://drdx-aws-gw, vici: unix:///tmp/l/aws/charon.vici, connection: onprem-aws, exec: direct}
    db: {via: netns://drdx-aws-db, socket: /tmp/l/aws/mysqld.sock, user: root}
  onprem:
    role: replica
    gateway: {via: docker://drdrill-onprem-gw, vici: unix:///tmp/l/onprem/charon.vici, connection: onprem-aws}
    db: {socket: /tmp/l/onprem/mysqld.sock, user: root}
`), "lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Secrets(); len(s) != 0 {
		t.Fatalf("no secrets expected: %q", s)
	}
	if v := f.Site("aws").Gateway.Via; v != "netns://drdx-aws-gw" {
		t.Fatalf("via %q", v)
	}
	if _, err := Parse([]byte(strings.Replace(`schema: drdrill.target/v1
name: lab-x
sites:
  aws:
    role: primary
    gateway: {via: "netns://bad name", vici: unix:///a.vici, connection: c}
    db: {socket: /a.sock, user: root}
  onprem:
    role: replica
    gateway: {vici: unix:///b.vici, connection: c}
    db: {socket: /b.sock, user: root}
`, "", "", 1)), "bad.yaml"); err == nil || !strings.Contains(err.Error(), `"bad name" is not a netns name`) {
		t.Fatalf("a bad namespace name: %v", err)
	}
}
