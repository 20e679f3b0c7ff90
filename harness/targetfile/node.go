package targetfile

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// walker reads the YAML node tree of one file, so that every error can name
// the field's path and line.
type walker struct {
	file  string
	lines map[string]int // field path → line of its key, for File.Pos
}

type pair struct{ key, val *yaml.Node }

// obj is one mapping of the file whose keys have been checked.
type obj struct {
	w    *walker
	path string // "sites.aws.db"; "" for the document
	line int    // line of the key holding the mapping
	m    map[string]pair
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object checks that n is a mapping whose keys are unique strings out of
// allowed, and returns it. An unknown key is an error at its own line.
func (w *walker) object(n *yaml.Node, path string, line int, allowed []string) (*obj, error) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return nil, w.errorf(n.Line, path, "want a mapping (key: value), got %s", kindName(n))
	}
	o := &obj{w: w, path: path, line: line, m: map[string]pair{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			return nil, w.errorf(k.Line, path, "unsupported key (want a plain name)")
		}
		if !contains(allowed, k.Value) {
			return nil, w.errorf(k.Line, path, "unknown key %q%s", k.Value, hint(k.Value, allowed))
		}
		if prev, dup := o.m[k.Value]; dup {
			return nil, w.errorf(k.Line, join(path, k.Value), "given twice (first at line %d)", prev.key.Line)
		}
		o.m[k.Value] = pair{k, v}
		w.lines[join(path, k.Value)] = k.Line
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hint suggests the allowed key nearest a typo, or lists them.
func hint(key string, allowed []string) string {
	if key == "password" || key == "passwd" || key == "psk" || key == "secret" {
		return " (secrets come from the environment: password_env)"
	}
	// A suggestion only for a near miss: at most 2 edits, and fewer than
	// half the key's length (so that "x" does not suggest "db").
	best, bestD := "", min(3, len(key)/2+1)
	for _, a := range allowed {
		if d := distance(strings.ToLower(key), a); d < bestD {
			best, bestD = a, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (want one of " + strings.Join(allowed, ", ") + ")"
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// has reports whether key is given with a value (an empty value is absent).
func (o *obj) has(key string) bool {
	p, ok := o.m[key]
	return ok && !isNull(p.val)
}

// at is the field path and line of key: a scalar value's line when given
// (the key's for a mapping or list), the mapping's when not given.
func (o *obj) at(key string) (string, int) {
	if p, ok := o.m[key]; ok {
		if v := resolve(p.val); v.Kind == yaml.ScalarNode {
			return join(o.path, key), v.Line
		}
		return join(o.path, key), p.key.Line
	}
	return join(o.path, key), o.line
}

func (o *obj) errorf(key, format string, args ...any) *InputError {
	path, line := o.at(key)
	return o.w.errorf(line, path, format, args...)
}

func (o *obj) scalar(key, want string) (*yaml.Node, bool, error) {
	if !o.has(key) {
		return nil, false, nil
	}
	n := resolve(o.m[key].val)
	if n.Kind != yaml.ScalarNode {
		return nil, false, o.errorf(key, "want %s, got %s", want, kindName(n))
	}
	return n, true, nil
}

// str is a string value (any scalar, as written).
func (o *obj) str(key string) (string, bool, error) {
	n, ok, err := o.scalar(key, "a string")
	if !ok || err != nil {
		return "", ok, err
	}
	return n.Value, true, nil
}

// required is a string value that must be given and not empty.
func (o *obj) required(key string) (string, error) {
	s, ok, err := o.str(key)
	if err != nil {
		return "", err
	}
	if !ok || strings.TrimSpace(s) == "" {
		return "", o.errorf(key, "required")
	}
	return s, nil
}

func (o *obj) boolean(key string) (bool, bool, error) {
	n, ok, err := o.scalar(key, "true or false")
	if !ok || err != nil {
		return false, ok, err
	}
	if n.ShortTag() != "!!bool" {
		return false, false, o.errorf(key, "%q is not true or false", n.Value)
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		return false, false, o.errorf(key, "%q is not true or false", n.Value)
	}
	return b, true, nil
}

// duration is a Go duration ("5m", "0.5s"); a bare number is refused, since
// its unit would be a guess.
func (o *obj) duration(key string) (time.Duration, bool, error) {
	n, ok, err := o.scalar(key, "a duration")
	if !ok || err != nil {
		return 0, ok, err
	}
	d, perr := time.ParseDuration(n.Value)
	if perr != nil {
		return 0, false, o.errorf(key, "%q is not a duration (e.g. 90s, 5m, 0.5s)", n.Value)
	}
	if d < 0 {
		return 0, false, o.errorf(key, "%q is negative", n.Value)
	}
	return d, true, nil
}

func (o *obj) integer(key string, lo, hi int) (int, bool, error) {
	n, ok, err := o.scalar(key, "a whole number")
	if !ok || err != nil {
		return 0, ok, err
	}
	v, perr := strconv.Atoi(n.Value)
	if perr != nil || n.ShortTag() != "!!int" {
		return 0, false, o.errorf(key, "%q is not a whole number", n.Value)
	}
	if v < lo || v > hi {
		return 0, false, o.errorf(key, "%d is out of range %d-%d", v, lo, hi)
	}
	return v, true, nil
}

func (o *obj) float(key string, lo, hi float64) (float64, bool, error) {
	n, ok, err := o.scalar(key, "a number")
	if !ok || err != nil {
		return 0, ok, err
	}
	t := n.ShortTag()
	v, perr := strconv.ParseFloat(n.Value, 64)
	if perr != nil || (t != "!!float" && t != "!!int") || math.IsNaN(v) {
		return 0, false, o.errorf(key, "%q is not a number", n.Value)
	}
	if v < lo || v > hi {
		return 0, false, o.errorf(key, "%v is out of range %v-%v", v, lo, hi)
	}
	return v, true, nil
}

// list is a non-empty list of non-empty strings (an argv).
func (o *obj) list(key string) ([]string, bool, error) {
	if !o.has(key) {
		return nil, false, nil
	}
	n := resolve(o.m[key].val)
	if n.Kind != yaml.SequenceNode {
		return nil, false, o.errorf(key, "want a list of strings (an argv: [systemctl, restart, strongswan]), got %s", kindName(n))
	}
	if len(n.Content) == 0 {
		return nil, false, o.errorf(key, "empty list")
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		c = resolve(c)
		if c.Kind != yaml.ScalarNode || isNull(c) || c.Value == "" {
			return nil, false, o.w.errorf(c.Line, fmt.Sprintf("%s[%d]", join(o.path, key), i), "want a non-empty string, got %s", kindName(c))
		}
		out = append(out, c.Value)
	}
	return out, true, nil
}

// sub is a nested mapping with its own allowed keys; nil when absent.
func (o *obj) sub(key string, allowed []string) (*obj, error) {
	if !o.has(key) {
		return nil, nil
	}
	path, _ := o.at(key)
	return o.w.object(o.m[key].val, path, o.m[key].key.Line, allowed)
}
