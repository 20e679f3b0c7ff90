package targetfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// maxFileSize bounds what Load reads: a target file is a few dozen lines.
const maxFileSize = 1 << 20

// maxSocketPath is sun_path (108 bytes) less its terminating NUL.
const maxSocketPath = 107

// Load reads and validates a target file. Every problem is an *InputError
// naming the field and its line; the file is used only when all of it is
// valid.
func Load(path string) (*File, error) {
	if path == "" {
		return nil, &InputError{File: "--target", Msg: "no file given"}
	}
	fh, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &InputError{File: path, Msg: err.Error()}
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, &InputError{File: path, Msg: err.Error()}
	}
	if len(b) > maxFileSize {
		return nil, &InputError{File: path, Msg: fmt.Sprintf("larger than %d bytes: not a target file", maxFileSize)}
	}
	return Parse(b, path)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse validates a target file's content; source names it in errors (and
// relative paths in it resolve against source's directory). Passwords are
// read from the environment here.
func Parse(data []byte, source string) (*File, error) {
	if source == "" {
		source = "<target>"
	}
	w := &walker{file: source, lines: map[string]int{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, w.errorf(0, "", "empty file (want schema: %s)", Schema)
		}
		return nil, w.syntax(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, w.errorf(extra.Line, "", "a second YAML document: a target file is one document")
	} else if !errors.Is(err, io.EOF) {
		return nil, w.syntax(err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, w.errorf(0, "", "empty file (want schema: %s)", Schema)
	}
	dir, err := filepath.Abs(filepath.Dir(source))
	if err != nil {
		return nil, w.errorf(0, "", "%v", err)
	}
	p := &parser{w: w, dir: dir, f: &File{Path: source, lines: w.lines}}
	if err := p.document(doc.Content[0]); err != nil {
		return nil, err
	}
	return p.f, nil
}

func (w *walker) syntax(err error) *InputError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return w.errorf(line, "", "not valid YAML: %s", msg)
}

type parser struct {
	w   *walker
	dir string // relative paths resolve against it
	f   *File
	// sshOf is the first endpoint on each ssh:// host, so that two
	// endpoints on one host cannot disagree about how to reach it.
	sshOf map[string]sshAt
}

type sshAt struct {
	field string
	ssh   SSH
}

var (
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	siteRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)
	identRE      = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	envRE        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	userRE       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$`)
	systemSchema = []string{"mysql", "sys", "information_schema", "performance_schema"}
)

func (p *parser) document(root *yaml.Node) error {
	// The schema first: a file of another version would otherwise be
	// refused for keys this version does not know.
	if r := resolve(root); r.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(r.Content); i += 2 {
			if k := resolve(r.Content[i]); k.Value == "schema" {
				v := resolve(r.Content[i+1])
				if v.Kind != yaml.ScalarNode || v.Value != Schema {
					return p.w.errorf(v.Line, "schema", "%s is not supported (want %s)", kindName(v), Schema)
				}
			}
		}
	}
	o, err := p.w.object(root, "", 1, []string{"schema", "name", "safety", "objectives", "workload", "replication", "ssh", "sites"})
	if err != nil {
		return err
	}
	f := p.f
	if f.Schema, err = o.required("schema"); err != nil {
		return err
	}
	if f.Name, err = o.required("name"); err != nil {
		return err
	}
	if !nameRE.MatchString(f.Name) {
		return o.errorf("name", "%q: want letters, digits, '.', '_' or '-', at most 64 (it names the state directory)", f.Name)
	}
	if err := p.safety(o); err != nil {
		return err
	}
	if err := p.objectives(o); err != nil {
		return err
	}
	if err := p.workload(o); err != nil {
		return err
	}
	if err := p.replication(o); err != nil {
		return err
	}
	if s, err := o.sub("ssh", sshKeys); err != nil {
		return err
	} else if s != nil {
		if f.SSH, err = p.ssh(s, SSH{}); err != nil {
			return err
		}
	}
	return p.sites(o)
}

func (p *parser) safety(o *obj) error {
	p.f.safety = Safety{MaxFault: DefaultMaxFault}
	s, err := o.sub("safety", []string{"allow_destructive", "max_fault"})
	if err != nil || s == nil {
		return err
	}
	if b, ok, err := s.boolean("allow_destructive"); err != nil {
		return err
	} else if ok {
		p.f.safety.AllowDestructive = b
	}
	if d, ok, err := s.duration("max_fault"); err != nil {
		return err
	} else if ok {
		if d <= 0 {
			return s.errorf("max_fault", "must be more than 0")
		}
		p.f.safety.MaxFault = d
	}
	return nil
}

func (p *parser) objectives(o *obj) error {
	s, err := o.sub("objectives", []string{"rpo", "rto"})
	if err != nil || s == nil {
		return err
	}
	for _, k := range []string{"rpo", "rto"} {
		d, ok, err := s.duration(k)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if k == "rpo" {
			p.f.Objectives.RPO = &d
		} else {
			p.f.Objectives.RTO = &d
		}
	}
	return nil
}

func (p *parser) workload(o *obj) error {
	p.f.Workload = Workload{Database: DefaultDatabase, Table: DefaultTable}
	s, err := o.sub("workload", []string{"database", "table"})
	if err != nil || s == nil {
		return err
	}
	for _, k := range []string{"database", "table"} {
		v, ok, err := s.str(k)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if !identRE.MatchString(v) {
			return s.errorf(k, "%q: want 1-64 letters, digits or '_'", v)
		}
		if k == "database" {
			if contains(systemSchema, strings.ToLower(v)) {
				return s.errorf(k, "%q is a system schema: drdrill writes its own table, give a database of its own", v)
			}
			p.f.Workload.Database = v
		} else {
			p.f.Workload.Table = v
		}
	}
	return nil
}

var sshKeys = []string{"known_hosts", "identity_file", "proxy_jump", "proxy_command", "user"}

// ssh reads an ssh mapping over base: each given field replaces base's
// (proxy_jump and proxy_command replace each other).
func (p *parser) ssh(o *obj, base SSH) (SSH, error) {
	out := base
	for _, k := range []string{"known_hosts", "identity_file"} {
		v, ok, err := o.str(k)
		if err != nil || !ok {
			if err != nil {
				return out, err
			}
			continue
		}
		path, err := p.existingFile(o, k, v)
		if err != nil {
			return out, err
		}
		if k == "known_hosts" {
			out.KnownHosts = path
		} else {
			out.IdentityFile = path
		}
	}
	if o.has("proxy_jump") && o.has("proxy_command") {
		return out, o.errorf("proxy_command", "proxy_jump is given too: give one")
	}
	if v, ok, err := o.str("proxy_jump"); err != nil {
		return out, err
	} else if ok {
		for _, hop := range strings.Split(v, ",") {
			if _, err := ParseVia("ssh://" + strings.TrimSpace(hop)); err != nil {
				return out, o.errorf("proxy_jump", "%q: want [user@]host[:port], comma-separated", hop)
			}
		}
		out.ProxyJump, out.ProxyCommand = v, ""
	}
	if v, ok, err := o.str("proxy_command"); err != nil {
		return out, err
	} else if ok {
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, "\n\r\x00") {
			return out, o.errorf("proxy_command", "want one command line")
		}
		out.ProxyCommand, out.ProxyJump = v, ""
	}
	if v, ok, err := o.str("user"); err != nil {
		return out, err
	} else if ok {
		if !userRE.MatchString(v) {
			return out, o.errorf("user", "%q is not a login name", v)
		}
		out.User = v
	}
	return out, nil
}

// existingFile expands ~ and resolves a path against the file's directory,
// and checks that a regular file is there.
func (p *parser) existingFile(o *obj, key, v string) (string, error) {
	path, err := p.expand(v)
	if err != nil {
		return "", o.errorf(key, "%q: %v", v, err)
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", o.errorf(key, "%s: %v", path, err)
	case !fi.Mode().IsRegular():
		return "", o.errorf(key, "%s is not a regular file", path)
	}
	return path, nil
}

func (p *parser) expand(v string) (string, error) {
	if v == "~" || strings.HasPrefix(v, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		v = filepath.Join(home, strings.TrimPrefix(v, "~"))
	} else if strings.HasPrefix(v, "~") {
		return "", errors.New("~user is not supported: write the path")
	}
	if !filepath.IsAbs(v) {
		v = filepath.Join(p.dir, v)
	}
	return filepath.Clean(v), nil
}

func (p *parser) sites(o *obj) error {
	if !o.has("sites") {
		return o.errorf("sites", "required (two sites: one primary, one replica)")
	}
	path, _ := o.at("sites")
	n := resolve(o.m["sites"].val)
	if n.Kind != yaml.MappingNode {
		return p.w.errorf(n.Line, path, "want a mapping of site names, got %s", kindName(n))
	}
	if len(n.Content)/2 != 2 {
		return p.w.errorf(o.m["sites"].key.Line, path, "want exactly two sites (one primary, one replica), got %d", len(n.Content)/2)
	}
	var names []string
	for i := 0; i < len(n.Content); i += 2 {
		names = append(names, resolve(n.Content[i]).Value)
	}
	// The sites' own keys are their names: accept exactly the names given.
	so, err := p.w.object(n, path, o.m["sites"].key.Line, names)
	if err != nil {
		return err
	}
	roles := map[string]string{}
	for _, name := range names {
		kp, kl := so.at(name)
		if !siteRE.MatchString(name) {
			return p.w.errorf(so.m[name].key.Line, kp, "site name %q: want letters, digits, '_' or '-', at most 32", name)
		}
		if isNull(so.m[name].val) {
			return p.w.errorf(kl, kp, "required: role, gateway and db")
		}
		s, err := p.site(so, name)
		if err != nil {
			return err
		}
		if other, dup := roles[s.Role]; dup {
			rp, rl := "", 0
			if sub, _ := so.sub(name, siteKeys); sub != nil {
				rp, rl = sub.at("role")
			}
			return p.w.errorf(rl, rp, "%q again (sites.%s is %s): want one primary and one replica", s.Role, other, s.Role)
		}
		roles[s.Role] = name
		p.f.Sites = append(p.f.Sites, s)
	}
	if p.f.Sites[0].Role != target.RolePrimary {
		p.f.Sites[0], p.f.Sites[1] = p.f.Sites[1], p.f.Sites[0]
	}
	return nil
}

var siteKeys = []string{"role", "gateway", "db"}

func (p *parser) site(so *obj, name string) (*Site, error) {
	o, err := so.sub(name, siteKeys)
	if err != nil {
		return nil, err
	}
	s := &Site{Name: name}
	if s.Role, err = o.required("role"); err != nil {
		return nil, err
	}
	if s.Role != target.RolePrimary && s.Role != target.RoleReplica {
		return nil, o.errorf("role", "%q: want primary or replica", s.Role)
	}
	if !o.has("gateway") {
		return nil, o.errorf("gateway", "required")
	}
	if !o.has("db") {
		return nil, o.errorf("db", "required")
	}
	if s.Gateway, err = p.gateway(o); err != nil {
		return nil, err
	}
	if s.DB, err = p.db(o); err != nil {
		return nil, err
	}
	return s, nil
}

var gatewayKeys = []string{"via", "vici", "connection", "child", "exec", "retransmit", "keyingtries", "start_action", "commands", "ssh"}

func (p *parser) gateway(so *obj) (Gateway, error) {
	var g Gateway
	o, err := so.sub("gateway", gatewayKeys)
	if err != nil {
		return g, err
	}
	if g.Via, g.SSH, err = p.via(o); err != nil {
		return g, err
	}
	if g.VICI, err = o.required("vici"); err != nil {
		return g, err
	}
	switch {
	case strings.HasPrefix(g.VICI, "unix://"):
		if err := socketPath(o, "vici", strings.TrimPrefix(g.VICI, "unix://"), "unix:///var/run/charon.vici"); err != nil {
			return g, err
		}
	case strings.HasPrefix(g.VICI, "tcp://"):
		if err := hostPort(o, "vici", strings.TrimPrefix(g.VICI, "tcp://")); err != nil {
			return g, err
		}
		path, _ := o.at("vici")
		p.f.warnings = append(p.f.warnings, path+": tcp:// VICI has no authentication: anyone who reaches "+g.VICI+" controls the gateway")
	default:
		return g, o.errorf("vici", "%q: want unix:///path/to/charon.vici or tcp://host:port", g.VICI)
	}
	if g.Connection, err = o.required("connection"); err != nil {
		return g, err
	}
	if err := charonName(o, "connection", g.Connection); err != nil {
		return g, err
	}
	g.Child = g.Connection
	if v, ok, err := o.str("child"); err != nil {
		return g, err
	} else if ok {
		if err := charonName(o, "child", v); err != nil {
			return g, err
		}
		g.Child = v
	}
	if g.Exec, err = execSetting(o); err != nil {
		return g, err
	}
	g.Retransmit = tunnel.DefaultRetransmit
	if r, err := o.sub("retransmit", []string{"timeout", "base", "tries"}); err != nil {
		return g, err
	} else if r != nil {
		g.RetransmitDeclared = true
		if d, ok, err := r.duration("timeout"); err != nil {
			return g, err
		} else if ok {
			if d <= 0 {
				return g, r.errorf("timeout", "must be more than 0")
			}
			g.Retransmit.Timeout = d
		}
		if v, ok, err := r.float("base", 1, 10); err != nil {
			return g, err
		} else if ok {
			g.Retransmit.Base = v
		}
		if v, ok, err := r.integer("tries", 0, 30); err != nil {
			return g, err
		} else if ok {
			g.Retransmit.Tries = v
		}
	}
	if v, ok, err := o.integer("keyingtries", 0, 1<<20); err != nil {
		return g, err
	} else if ok {
		g.Keyingtries = &v
	}
	if g.StartAction, _, err = o.str("start_action"); err != nil {
		return g, err
	}
	if a := g.StartAction; a != "" && !contains([]string{"none", "trap", "start", "trap|start"}, a) {
		return g, o.errorf("start_action", "%q: want none, trap, start or trap|start (as in swanctl.conf)", a)
	}
	c, err := o.sub("commands", []string{"kill", "start"})
	if err != nil || c == nil {
		return g, err
	}
	if g.Commands.Kill, _, err = c.list("kill"); err != nil {
		return g, err
	}
	if g.Commands.Start, _, err = c.list("start"); err != nil {
		return g, err
	}
	switch {
	case g.Commands.Kill == nil && g.Commands.Start == nil:
		return g, o.errorf("commands", "want kill and start")
	case g.Commands.Kill == nil:
		return g, c.errorf("kill", "required with start")
	case g.Commands.Start == nil:
		return g, c.errorf("start", "required with kill (a crashed gateway must be started again)")
	case g.Exec == ExecNone:
		return g, o.errorf("commands", "they run on the gateway's host: set exec: direct or sudo there")
	}
	return g, nil
}

var dbKeys = []string{"via", "socket", "address", "user", "password_env", "password_file", "exec", "tls", "ssh"}

func (p *parser) db(so *obj) (DB, error) {
	var d DB
	o, err := so.sub("db", dbKeys)
	if err != nil {
		return d, err
	}
	if d.Via, d.SSH, err = p.via(o); err != nil {
		return d, err
	}
	switch {
	case o.has("socket") && o.has("address"):
		return d, o.errorf("address", "socket is given too: give one of them")
	case !o.has("socket") && !o.has("address"):
		return d, o.errorf("socket", "required (or address: host:port)")
	case o.has("socket"):
		if d.Socket, err = o.required("socket"); err != nil {
			return d, err
		}
		if err := socketPath(o, "socket", d.Socket, "/run/mysqld/mysqld.sock"); err != nil {
			return d, err
		}
		if o.has("tls") {
			return d, o.errorf("tls", "only with address: a unix socket needs none")
		}
	default:
		if d.Address, err = o.required("address"); err != nil {
			return d, err
		}
		if err := hostPort(o, "address", d.Address); err != nil {
			return d, err
		}
	}
	if d.User, err = o.required("user"); err != nil {
		return d, err
	}
	if strings.ContainsAny(d.User, "\x00\n\r") || len(d.User) > 80 {
		return d, o.errorf("user", "not a MySQL user name")
	}
	// A socket may authenticate by the peer's uid (unix_socket): no
	// password, no variable. A network address needs one.
	if d.PasswordEnv, d.PasswordFile, d.password, err = p.password(o, d.Socket == ""); err != nil {
		return d, err
	}
	if d.Exec, err = execSetting(o); err != nil {
		return d, err
	}
	if t, err := o.sub("tls", []string{"ca", "cert", "key", "server_name"}); err != nil {
		return d, err
	} else if t != nil {
		if d.TLS, err = p.tls(t); err != nil {
			return d, err
		}
	}
	if d.Address != "" && d.TLS == nil && d.Via == "" {
		host, _, _ := strings.Cut(d.Address, ":")
		if !loopback(host) {
			path, _ := o.at("address")
			p.f.warnings = append(p.f.warnings, path+": MySQL over TCP without tls: the traffic is not encrypted")
		}
	}
	return d, nil
}

// execSetting reads a host's exec: what drdrill may run there.
func execSetting(o *obj) (string, error) {
	v, _, err := o.str("exec")
	if err != nil {
		return "", err
	}
	if v != ExecNone && v != ExecDirect && v != ExecSudo {
		return "", o.errorf("exec", "%q: want direct or sudo (or leave it out: no commands there)", v)
	}
	return v, nil
}

// password reads an account's password_env or password_file (one of them;
// required unless optional). The variable must be set; the file must be a
// regular file that only its owner can read (0600 or 0400), its first line
// the password.
func (p *parser) password(o *obj, required bool) (env, file string, pw *secret, err error) {
	switch {
	case o.has("password_env") && o.has("password_file"):
		return "", "", nil, o.errorf("password_file", "password_env is given too: give one of them")
	case o.has("password_file"):
		v, _ := o.required("password_file")
		if file, err = p.existingFile(o, "password_file", v); err != nil {
			return "", "", nil, err
		}
		fi, err := os.Stat(file)
		if err != nil {
			return "", "", nil, o.errorf("password_file", "%v", err)
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			return "", "", nil, o.errorf("password_file", "%s is readable by others (mode %04o): chmod 600 it", file, m)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", "", nil, o.errorf("password_file", "%s: %v", file, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return "", file, &secret{strings.TrimSuffix(line, "\r")}, nil
	case o.has("password_env"):
		if env, err = o.required("password_env"); err != nil {
			return "", "", nil, err
		}
		if !envRE.MatchString(env) {
			return "", "", nil, o.errorf("password_env", "%q is not an environment variable name (the file names the variable; the password stays in the environment)", env)
		}
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", "", nil, o.errorf("password_env", "%s is not set", env)
		}
		return env, "", &secret{v}, nil
	case required:
		return "", "", nil, o.errorf("password_env", "required for an address: the environment variable holding the password (set it to \"\" for none), or password_file")
	}
	return "", "", &secret{""}, nil
}

// replication reads the account the databases replicate with (optional:
// drills that re-point replication need it).
func (p *parser) replication(o *obj) error {
	r, err := o.sub("replication", []string{"user", "password_env", "password_file"})
	if err != nil || r == nil {
		return err
	}
	a := &Account{}
	if a.User, err = r.required("user"); err != nil {
		return err
	}
	if strings.ContainsAny(a.User, "\x00\n\r'\\") || len(a.User) > 80 {
		return r.errorf("user", "not a MySQL user name")
	}
	if !r.has("password_env") && !r.has("password_file") {
		return r.errorf("password_env", "required: the environment variable holding the replication password, or password_file")
	}
	if a.PasswordEnv, a.PasswordFile, a.password, err = p.password(r, true); err != nil {
		return err
	}
	p.f.Replication = a
	return nil
}

func (p *parser) tls(o *obj) (*TLS, error) {
	t := &TLS{}
	for _, k := range []string{"ca", "cert", "key"} {
		v, ok, err := o.str(k)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		path, err := p.existingFile(o, k, v)
		if err != nil {
			return nil, err
		}
		switch k {
		case "ca":
			t.CA = path
		case "cert":
			t.Cert = path
		case "key":
			t.Key = path
		}
	}
	switch {
	case t.Cert != "" && t.Key == "":
		return nil, o.errorf("key", "required with cert")
	case t.Key != "" && t.Cert == "":
		return nil, o.errorf("cert", "required with key")
	}
	var err error
	if t.ServerName, _, err = o.str("server_name"); err != nil {
		return nil, err
	}
	if _, err := t.Config(""); err != nil {
		if msg, ok := strings.CutPrefix(err.Error(), "ca: "); ok {
			return nil, o.errorf("ca", "%s", msg)
		}
		return nil, o.errorf("cert", "%v", err)
	}
	return t, nil
}

// via reads an endpoint's via and, for ssh://, its effective ssh settings.
func (p *parser) via(o *obj) (string, SSH, error) {
	v, ok, err := o.str("via")
	if err != nil || !ok {
		if err == nil && o.has("ssh") {
			err = o.errorf("ssh", "only for a host reached with via: ssh://")
		}
		return "", SSH{}, err
	}
	if kind, name, ok := LocalVia(v); ok {
		// A namespace or a container on this machine: no ssh settings.
		if o.has("ssh") {
			return "", SSH{}, o.errorf("ssh", "only for a host reached with via: ssh://")
		}
		if !localNameRE.MatchString(name) {
			return "", SSH{}, o.errorf("via", "%q: %q is not a %s name", v, name, kind)
		}
		return v, SSH{}, nil
	}
	if strings.HasPrefix(v, "ssh://") {
		if u, _, found := strings.Cut(strings.TrimPrefix(v, "ssh://"), "@"); found && strings.Contains(u, ":") {
			// Never echo it: the part after the colon is a password.
			return "", SSH{}, o.errorf("via", "a password in via is not allowed: use identity_file or the ssh agent")
		}
	}
	if _, err := ParseVia(v); err != nil {
		return "", SSH{}, o.errorf("via", "%v", err)
	}
	s := p.f.SSH
	if so, err := o.sub("ssh", sshKeys); err != nil {
		return "", s, err
	} else if so != nil {
		if s, err = p.ssh(so, s); err != nil {
			return "", s, err
		}
	}
	field, _ := o.at("via")
	switch {
	case s.KnownHosts == "":
		return "", s, o.errorf("via", "ssh:// needs ssh.known_hosts: unknown or changed host keys are refused")
	case s.IdentityFile == "" && os.Getenv("SSH_AUTH_SOCK") == "":
		return "", s, o.errorf("via", "ssh:// needs ssh.identity_file or an ssh agent ($SSH_AUTH_SOCK is not set)")
	}
	if p.sshOf == nil {
		p.sshOf = map[string]sshAt{}
	}
	if first, seen := p.sshOf[v]; seen && first.ssh != s {
		return "", s, o.errorf("ssh", "differs from the ssh settings of %s for the same host %s", strings.TrimSuffix(first.field, ".via"), v)
	} else if !seen {
		p.sshOf[v] = sshAt{field, s}
	}
	return v, s, nil
}

// Via is a parsed ssh:// host.
type Via struct {
	User string // "" : the file's ssh.user, else the local user
	Host string
	Port int // 22 when not given
}

func (v Via) String() string {
	s := "ssh://"
	if v.User != "" {
		s += v.User + "@"
	}
	h := v.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if v.Port != 22 {
		return s + h + ":" + strconv.Itoa(v.Port)
	}
	return s + h
}

// Addr is host:port for dialling.
func (v Via) Addr() string { return joinHostPort(v.Host, v.Port) }

// ParseVia parses ssh://[user@]host[:port] ("" is this machine: a zero Via
// and no error).
// LocalVia splits a via that names a place on this machine: netns://NAME
// (a network namespace: commands through ip netns exec) or docker://NAME
// (a container: docker exec). Unix sockets there are reached through the
// filesystem (the container's bind mount at the same path).
func LocalVia(s string) (kind, name string, ok bool) {
	for _, k := range []string{"netns", "docker"} {
		if n, found := strings.CutPrefix(s, k+"://"); found {
			return k, n, true
		}
	}
	return "", "", false
}

var localNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func ParseVia(s string) (Via, error) {
	if s == "" {
		return Via{}, nil
	}
	rest, ok := strings.CutPrefix(s, "ssh://")
	if !ok {
		return Via{}, fmt.Errorf("%q: want ssh://[user@]host[:port], netns://NAME or docker://NAME (or leave via out for this machine)", s)
	}
	v := Via{Port: 22}
	if u, h, found := strings.Cut(rest, "@"); found {
		if !userRE.MatchString(u) {
			return Via{}, fmt.Errorf("%q: %q is not a login name", s, u)
		}
		v.User, rest = u, h
	}
	if strings.ContainsAny(rest, "/?#@ \t") {
		return Via{}, fmt.Errorf("%q: want ssh://[user@]host[:port] and nothing after it", s)
	}
	host := rest
	if strings.HasPrefix(rest, "[") || strings.Count(rest, ":") == 1 {
		h, port, err := splitHostPort(rest)
		if err != nil {
			return Via{}, fmt.Errorf("%q: %v", s, err)
		}
		host, v.Port = h, port
	} else if strings.Count(rest, ":") > 1 {
		return Via{}, fmt.Errorf("%q: an IPv6 address goes in brackets: ssh://[%s]", s, rest)
	}
	if host == "" {
		return Via{}, fmt.Errorf("%q: no host", s)
	}
	v.Host = host
	return v, nil
}
