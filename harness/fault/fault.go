package fault

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
)

// Fault is one thing a drill breaks and repairs (see the package doc).
type Fault interface {
	Name() string
	Inject(ctx context.Context) error
	WaitForEffect(ctx context.Context) error
	Recover(ctx context.Context) error
	WaitRecovered(ctx context.Context) error
}

// Params are a fault's parameters by name (strings, as a command line or a
// target file gives them); each Spec lists the ones it takes.
type Params map[string]string

// String returns p[k] or def.
func (p Params) String(k, def string) string {
	if v, ok := p[k]; ok && v != "" {
		return v
	}
	return def
}

// Duration parses p[k] ("2s", "500ms"), or returns def.
func (p Params) Duration(k string, def time.Duration) (time.Duration, error) {
	v, ok := p[k]
	if !ok || v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("parameter %s=%q: want a duration such as 2s", k, v)
	}
	return d, nil
}

// Bool parses p[k] (true/false), or returns def.
func (p Params) Bool(k string, def bool) (bool, error) {
	v, ok := p[k]
	if !ok || v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("parameter %s=%q: want true or false", k, v)
	}
	return b, nil
}

// Param documents one parameter of a fault.
type Param struct {
	Name    string
	Default string // in words when it is derived ("the replica's site")
	Doc     string
}

// Factory builds a fault against a target; p holds only declared names.
type Factory func(t target.Target, tl *timeline.Timeline, p Params) (Fault, error)

// Spec is a registered fault.
type Spec struct {
	Name        string
	Description string
	Needs       []target.Capability
	Params      []Param
	New         Factory
}

var (
	mu       sync.Mutex
	registry = map[string]Spec{}
)

// Register adds a fault; a duplicate name is an init-time bug (panic).
func Register(s Spec) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[s.Name]; dup {
		panic("fault: duplicate registration of " + s.Name)
	}
	registry[s.Name] = s
}

// Lookup returns the spec registered as name.
func Lookup(name string) (Spec, error) {
	mu.Lock()
	s, ok := registry[name]
	mu.Unlock()
	if !ok {
		return Spec{}, fmt.Errorf("unknown fault %q (known: %v)", name, Names())
	}
	return s, nil
}

// New builds the fault registered as name against t: the target must have
// the capabilities it needs, and every parameter must be one it takes.
func New(name string, t target.Target, tl *timeline.Timeline, p Params) (Fault, error) {
	s, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	for k := range p {
		if !s.takes(k) {
			return nil, fmt.Errorf("fault %s: unknown parameter %q (takes: %s)", name, k, s.paramNames())
		}
	}
	if t != nil {
		if err := target.Require(t, "fault "+name, s.Needs...); err != nil {
			return nil, err
		}
	}
	if tl == nil {
		tl = timeline.New()
	}
	f, err := s.New(t, tl, p)
	if err != nil {
		return nil, err
	}
	if h, ok := f.(paramsHolder); ok {
		h.setParams(p)
	}
	return f, nil
}

func (s Spec) takes(k string) bool {
	for _, p := range s.Params {
		if p.Name == k {
			return true
		}
	}
	return false
}

func (s Spec) paramNames() string {
	if len(s.Params) == 0 {
		return "none"
	}
	var out []string
	for _, p := range s.Params {
		out = append(out, p.Name)
	}
	return strings.Join(out, ", ")
}

// Names lists registered faults, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// None is a fault that does nothing: tests use it to prove that a drill
// notices when its fault had no effect.
type None struct{}

func (None) Name() string                        { return "none" }
func (None) Inject(context.Context) error        { return nil }
func (None) WaitForEffect(context.Context) error { return nil }
func (None) Recover(context.Context) error       { return nil }
func (None) WaitRecovered(context.Context) error { return nil }

func init() {
	Register(Spec{Name: "none", Description: "does nothing (to prove a drill fails when its fault has no effect)",
		New: func(target.Target, *timeline.Timeline, Params) (Fault, error) { return None{}, nil }})
}

// sides returns the tunnel sides of a target, the one named from first
// (default: the primary's site, the seed's AWS).
func sides(t target.Target, from string) (first, second *target.Site, err error) {
	if t == nil {
		return nil, nil, fmt.Errorf("no target")
	}
	if err := target.Validate(t); err != nil {
		return nil, nil, err
	}
	first = target.Primary(t)
	if from != "" {
		if first, err = target.SiteNamed(t, from); err != nil {
			return nil, nil, err
		}
	}
	return first, target.Other(t, first), nil
}

// documentedOrder describes the seed's recovery order in words.
func documentedOrder(first, second string) string {
	return first + " down; " + second + " down, " + second + " up; " + first + " up"
}
