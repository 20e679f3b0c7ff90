package replica

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Privileges drdrill checks, as each flavor names them.
const (
	// MariaDB 10.5.9+ (SLAVE MONITOR is its other name): SHOW REPLICA STATUS.
	PrivReplicaMonitor = "REPLICA MONITOR"
	// MariaDB 10.5.2+ (REPLICATION REPLICA ADMIN): START/STOP REPLICA,
	// CHANGE MASTER, SET GLOBAL slave_net_timeout.
	PrivReplicationSlaveAdmin = "REPLICATION SLAVE ADMIN"
	// MariaDB 10.5.2+ (REPLICATION CLIENT is its other name): SHOW BINARY
	// LOGS, SHOW MASTER STATUS.
	PrivBinlogMonitor = "BINLOG MONITOR"
	// MySQL: SHOW REPLICA STATUS, SHOW BINARY LOGS.
	PrivReplicationClient = "REPLICATION CLIENT"
	// MySQL 8 (a dynamic privilege): START/STOP REPLICA, CHANGE
	// REPLICATION SOURCE TO.
	PrivReplicationSlaveAdminDyn = "REPLICATION_SLAVE_ADMIN"
	// Either flavor, deprecated: covers the replication privileges above.
	PrivSuper = "SUPER"
	// ALL [PRIVILEGES] at a level covers every privilege of that level.
	PrivAll = "ALL PRIVILEGES"
)

// Grants are one account's privileges as SHOW GRANTS lists them. Roles
// granted to the account are noted in Roles but not expanded: a privilege
// that only a role gives is reported missing. Column privileges are kept
// apart and never count as table privileges. Nothing from the lines'
// authentication clauses (IDENTIFIED BY PASSWORD '<hash>', …) is kept.
type Grants struct {
	Flavor  Flavor  `json:"flavor"`
	Account string  `json:"account,omitempty"` // "drdrill@%", from the result's column name
	Grants  []Grant `json:"grants"`
	// Revokes are MySQL's partial revokes (REVOKE … ON `db`.* FROM …).
	Revokes []Grant  `json:"revokes,omitempty"`
	Roles   []string `json:"roles,omitempty"`
	// LiteralDBNames: MySQL with partial_revokes ON matches database
	// names in grants literally; otherwise % and _ are wildcards.
	LiteralDBNames bool `json:"literal_db_names,omitempty"`

	ver version
}

// Grant is one GRANT (or REVOKE) line at one level.
type Grant struct {
	// Privileges are canonical names (upper case, one space between
	// words, the flavor's aliases resolved; ALL is "ALL PRIVILEGES").
	Privileges []string `json:"privileges"`
	// Columns are column privileges ("SELECT (id, msg)").
	Columns []string `json:"columns,omitempty"`
	// DB and Table are "*" for any; DB may be a pattern (see
	// [Grants.LiteralDBNames]).
	DB          string `json:"db"`
	Table       string `json:"table"`
	GrantOption bool   `json:"grant_option,omitempty"`
}

// Level is the grant's level as SQL writes it: *.*, `db`.*, `db`.`t`.
func (g Grant) Level() string {
	if g.DB == "*" {
		return "*.*"
	}
	if g.Table == "*" {
		return QuoteIdent(g.DB) + ".*"
	}
	return QuoteIdent(g.DB) + "." + QuoteIdent(g.Table)
}

// String is "SELECT, INSERT ON `db`.*".
func (g Grant) String() string {
	return strings.Join(append(append([]string(nil), g.Privileges...), g.Columns...), ", ") + " ON " + g.Level()
}

// QuoteIdent quotes an identifier with backticks, doubling any inside.
func QuoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// GrantsError is a SHOW GRANTS line that could not be read. It never quotes
// the line: the part after TO can carry a password hash.
type GrantsError struct {
	Line   int // 1-based, among the grant lines
	Reason string
}

func (e *GrantsError) Error() string {
	return fmt.Sprintf("parse grants: line %d: %s", e.Line, e.Reason)
}

// Grants reads the connection's own privileges (SHOW GRANTS FOR
// CURRENT_USER()) and, on MySQL, whether partial_revokes is on.
func (c *Conn) Grants(ctx context.Context) (*Grants, error) {
	rows, err := c.db.QueryContext(ctx, "SHOW GRANTS FOR CURRENT_USER()")
	if err != nil {
		return nil, fmt.Errorf("read grants: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("read grants: %w", err)
	}
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("read grants: %w", err)
		}
		lines = append(lines, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read grants: %w", err)
	}
	g, err := parseGrants(c.flavor, c.ver, lines)
	if err != nil {
		return nil, err
	}
	if len(cols) == 1 {
		g.Account = strings.TrimPrefix(cols[0], "Grants for ")
	}
	if c.flavor != MariaDB {
		v, err := c.queryString(ctx, "SELECT @@GLOBAL.partial_revokes")
		var me *mysql.MySQLError
		switch {
		case err == nil:
			g.LiteralDBNames = v == "1" || strings.EqualFold(v, "ON")
		case errors.As(err, &me) && me.Number == 1193: // before 8.0.16
		default:
			return nil, fmt.Errorf("read grants: partial_revokes: %w", err)
		}
	}
	return g, nil
}

// ParseGrants reads SHOW GRANTS lines of a server of flavor f and version
// serverVersion (SELECT VERSION(); "" for the newest rules). Lines it has
// no use for (SET DEFAULT ROLE, GRANT PROXY, routine grants) are skipped.
func ParseGrants(f Flavor, serverVersion string, lines []string) (*Grants, error) {
	v := newest
	if serverVersion != "" {
		var err error
		if _, v, err = detectFlavor(serverVersion, string(f)); err != nil {
			return nil, err
		}
	}
	return parseGrants(f, v, lines)
}

// newest stands for an unknown version: the current rules apply.
var newest = version{math.MaxInt32, 0, 0}

func parseGrants(f Flavor, v version, lines []string) (*Grants, error) {
	if _, ok := columnSets[f]; !ok {
		return nil, fmt.Errorf("parse grants: unknown flavor %q", f)
	}
	g := &Grants{Flavor: f, Grants: []Grant{}, ver: v}
	for i, line := range lines {
		if err := g.parseLine(line); err != nil {
			return nil, &GrantsError{Line: i + 1, Reason: err.Error()}
		}
	}
	return g, nil
}

// token is one lexical element of a GRANT line.
type token struct {
	kind byte   // 'w' word, 'i' quoted identifier, 's' string, or the punctuation itself
	text string // the word or the unquoted identifier/string
}

func (t token) describe() string {
	switch t.kind {
	case 'i':
		return "a quoted name"
	case 's':
		return "a string"
	}
	return fmt.Sprintf("%q", t.text)
}

func (t token) is(word string) bool { return t.kind == 'w' && strings.EqualFold(t.text, word) }

var wordRE = regexp.MustCompile(`^[A-Za-z0-9_$%.\-]+`)

// lex splits a GRANT line. Identifiers are `quoted` (or "quoted" under
// ANSI_QUOTES), strings 'quoted' with ” or \ escapes.
func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '`' || c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '\\' && c == '\'' && j+1 < len(s) {
					j++
					b.WriteByte(s[j])
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						b.WriteByte(c)
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, errors.New("unterminated quote")
			}
			kind := byte('i')
			if c == '\'' {
				kind = 's'
			}
			out = append(out, token{kind, b.String()})
			i = j + 1
		case strings.IndexByte(",().*@;=", c) >= 0:
			out = append(out, token{c, string(c)})
			i++
		default:
			m := wordRE.FindString(s[i:])
			if m == "" {
				return nil, fmt.Errorf("unexpected character %q", c)
			}
			// "db.*" written bare lexes as one word: split at dots.
			for k, part := range strings.Split(m, ".") {
				if k > 0 {
					out = append(out, token{'.', "."})
				}
				if part != "" {
					out = append(out, token{'w', part})
				}
			}
			i += len(m)
		}
	}
	return out, nil
}

func (g *Grants) parseLine(line string) error {
	toks, err := lex(line)
	if err != nil {
		return err
	}
	if len(toks) > 0 && toks[len(toks)-1].kind == ';' {
		toks = toks[:len(toks)-1]
	}
	switch {
	case len(toks) == 0:
		return nil
	case toks[0].is("SET"): // SET DEFAULT ROLE … FOR …
		return nil
	case !toks[0].is("GRANT") && !toks[0].is("REVOKE"):
		return errors.New("not a GRANT or REVOKE statement")
	}
	revoke := toks[0].is("REVOKE")
	to := "TO"
	if revoke {
		to = "FROM"
	}
	on, end := -1, -1
	depth := 0
	for i, t := range toks[1:] {
		i++
		switch {
		case t.kind == '(':
			depth++
		case t.kind == ')':
			depth--
		case depth == 0 && on < 0 && t.is("ON"):
			on = i
		case depth == 0 && t.is(to):
			end = i
		}
		if end > 0 {
			break
		}
	}
	if end < 0 {
		return fmt.Errorf("no %s clause", to)
	}
	if on < 0 { // GRANT role[, role] TO account
		if revoke {
			return nil
		}
		roles, err := roleList(toks[1:end])
		if err != nil {
			return err
		}
		g.Roles = append(g.Roles, roles...)
		return nil
	}
	privs, cols, err := g.privList(toks[1:on])
	if err != nil {
		return err
	}
	if len(privs) == 1 && privs[0] == "PROXY" && len(cols) == 0 {
		return nil
	}
	lvl := toks[on+1 : end]
	if len(lvl) > 0 && lvl[0].is("TABLE") {
		lvl = lvl[1:]
	} else if len(lvl) > 0 && (lvl[0].is("FUNCTION") || lvl[0].is("PROCEDURE") || lvl[0].is("PACKAGE")) {
		return nil // routine privileges: nothing drdrill needs
	}
	db, table, err := level(lvl)
	if err != nil {
		return err
	}
	gr := Grant{Privileges: privs, Columns: cols, DB: db, Table: table}
	rest := toks[end+1:]
	for i := 0; i+2 < len(rest); i++ {
		if rest[i].is("WITH") && rest[i+1].is("GRANT") && rest[i+2].is("OPTION") {
			gr.GrantOption = true
		}
	}
	if revoke {
		g.Revokes = append(g.Revokes, gr)
	} else {
		g.Grants = append(g.Grants, gr)
	}
	return nil
}

// privList reads "SELECT, INSERT (a, b), REPLICATION SLAVE ADMIN".
func (g *Grants) privList(toks []token) (privs, cols []string, err error) {
	if n := len(toks); n > 0 && toks[n-1].kind == ',' {
		return nil, nil, errors.New("empty privilege after a comma")
	}
	var words []string
	flush := func(columns []string) error {
		if len(words) == 0 {
			return errors.New("empty privilege")
		}
		p := canonicalPriv(g.Flavor, g.ver, strings.Join(words, " "))
		words = nil
		if columns != nil {
			cols = append(cols, p+" ("+strings.Join(columns, ", ")+")")
		} else {
			privs = append(privs, p)
		}
		return nil
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case 'w':
			words = append(words, t.text)
		case '(':
			var columns []string
			for i++; i < len(toks) && toks[i].kind != ')'; i++ {
				if toks[i].kind == 'w' || toks[i].kind == 'i' {
					columns = append(columns, toks[i].text)
				}
			}
			if i >= len(toks) {
				return nil, nil, errors.New("unclosed column list")
			}
			if err := flush(columns); err != nil {
				return nil, nil, err
			}
			if i+1 < len(toks) && toks[i+1].kind == ',' {
				i++
			}
		case ',':
			if err := flush(nil); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, fmt.Errorf("unexpected %s in the privilege list", t.describe())
		}
	}
	if len(words) > 0 {
		if err := flush(nil); err != nil {
			return nil, nil, err
		}
	}
	if len(privs)+len(cols) == 0 {
		return nil, nil, errors.New("no privileges")
	}
	return privs, cols, nil
}

// level reads *, *.*, db.*, db.table.
func level(toks []token) (db, table string, err error) {
	name := func(t token) (string, bool) {
		switch t.kind {
		case '*':
			return "*", true
		case 'w', 'i':
			return t.text, true
		}
		return "", false
	}
	switch len(toks) {
	case 1:
		if n, ok := name(toks[0]); ok && n == "*" {
			return "*", "*", nil
		}
	case 3:
		d, ok1 := name(toks[0])
		t, ok2 := name(toks[2])
		if ok1 && ok2 && toks[1].kind == '.' && !(d == "*" && t != "*") {
			return d, t, nil
		}
	}
	return "", "", errors.New("cannot read the privilege level after ON")
}

// roleList reads "`r1`@`%`,`r2`" (MySQL) or "`dr_role`" (MariaDB).
func roleList(toks []token) ([]string, error) {
	var out []string
	var cur string
	for _, t := range toks {
		switch t.kind {
		case 'w', 'i', 's':
			cur += t.text
		case '@':
			cur += "@"
		case ',':
			out = append(out, cur)
			cur = ""
		default:
			return nil, errors.New("cannot read the role list")
		}
	}
	if cur == "" {
		return nil, errors.New("empty role list")
	}
	return append(out, cur), nil
}

// canonicalPriv resolves a flavor's other names for a privilege.
func canonicalPriv(f Flavor, v version, p string) string {
	p = strings.Join(strings.Fields(strings.ToUpper(p)), " ")
	if p == "ALL" {
		return PrivAll
	}
	if f != MariaDB {
		return p
	}
	switch p {
	case "SLAVE MONITOR":
		return PrivReplicaMonitor
	case "REPLICATION REPLICA ADMIN":
		return PrivReplicationSlaveAdmin
	case "REPLICATION REPLICA":
		return "REPLICATION SLAVE"
	case "REPLICATION CLIENT":
		// An alias of BINLOG MONITOR from 10.5.2; before, a privilege of
		// its own that also allowed SHOW SLAVE STATUS.
		if v.atLeast(10, 5, 2) {
			return PrivBinlogMonitor
		}
	}
	return p
}

// globalOnly are privileges that exist only at the global level.
var globalOnly = map[string]bool{
	PrivReplicaMonitor: true, PrivReplicationSlaveAdmin: true, PrivBinlogMonitor: true,
	PrivReplicationClient: true, PrivSuper: true, "REPLICATION SLAVE": true, "PROCESS": true,
	"RELOAD": true, "SHUTDOWN": true, "FILE": true, "CREATE USER": true, "SHOW DATABASES": true,
}

// isGlobalOnly: the known global privileges and every dynamic one (MySQL
// 8 names them with underscores).
func isGlobalOnly(p string) bool { return globalOnly[p] || strings.Contains(p, "_") }

// covers reports whether holding have gives want (both canonical), on
// this flavor and version.
func (g *Grants) covers(have, want string) bool {
	if have == want {
		return true
	}
	if have == PrivAll {
		return want != "GRANT OPTION" && want != "PROXY"
	}
	if have != PrivSuper && have != PrivReplicationSlaveAdmin && have != "REPLICATION CLIENT" {
		return false
	}
	if g.Flavor == MariaDB {
		switch want {
		case PrivReplicaMonitor:
			// Measured on 10.11.19: SUPER allows SHOW SLAVE STATUS. Before
			// 10.5.9 REPLICA MONITOR did not exist: SHOW SLAVE STATUS took
			// REPLICATION SLAVE ADMIN (10.5.2–10.5.8) or REPLICATION CLIENT.
			return have == PrivSuper ||
				(have == PrivReplicationSlaveAdmin && !g.ver.atLeast(10, 5, 9)) ||
				(have == "REPLICATION CLIENT" && !g.ver.atLeast(10, 5, 2))
		case PrivReplicationSlaveAdmin, PrivBinlogMonitor:
			return have == PrivSuper
		}
		return false
	}
	// MySQL: SUPER (deprecated) still allows SHOW REPLICA STATUS and
	// START/STOP REPLICA, CHANGE REPLICATION SOURCE.
	return have == PrivSuper && (want == PrivReplicationClient || want == PrivReplicationSlaveAdminDyn)
}

// Has reports whether the account holds priv (canonical or any of the
// flavor's names) on db.table: db "" asks for the global level, table ""
// for the database level. Global grants count everywhere, database grants
// (patterns included) for their databases, table grants for their table;
// a MySQL partial revoke on the database cancels the global grant there.
func (g *Grants) Has(priv, db, table string) bool {
	want := canonicalPriv(g.Flavor, g.ver, priv)
	if db == "" || isGlobalOnly(want) {
		db, table = "", ""
	}
	holds := func(gr Grant) bool {
		if want == "GRANT OPTION" && gr.GrantOption {
			return true
		}
		for _, p := range gr.Privileges {
			if g.covers(p, want) {
				return true
			}
		}
		return false
	}
	for _, gr := range g.Grants {
		var applies bool
		switch {
		case gr.DB == "*":
			applies = !(db != "" && g.revoked(want, db))
		case gr.Table == "*":
			applies = db != "" && g.dbMatches(gr.DB, db)
		default:
			applies = db != "" && table != "" && gr.DB == db && gr.Table == table
		}
		if applies && holds(gr) {
			return true
		}
	}
	return false
}

func (g *Grants) revoked(want, db string) bool {
	for _, r := range g.Revokes {
		if r.Table != "*" || r.DB != db {
			continue
		}
		for _, p := range r.Privileges {
			if p == want || p == PrivAll {
				return true
			}
		}
	}
	return false
}

// dbMatches matches a database-level grant's name, a LIKE pattern (% and
// _, \ escapes) unless names are literal.
func (g *Grants) dbMatches(pattern, db string) bool {
	if g.LiteralDBNames {
		return pattern == db
	}
	return likeMatch(pattern, db)
}

func likeMatch(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if likeMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && likeMatch(p[1:], s[1:])
	case '\\':
		if len(p) > 1 {
			return s != "" && s[0] == p[1] && likeMatch(p[2:], s[1:])
		}
	}
	return s != "" && s[0] == p[0] && likeMatch(p[1:], s[1:])
}
