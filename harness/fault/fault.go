package fault

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Fault is one thing a drill breaks and repairs.
type Fault interface {
	Name() string
	// Inject breaks it. It returns once the fault is in place (not once its
	// effect is seen: drills wait for that from evidence).
	Inject(ctx context.Context) error
	// Recover repairs it and returns when the repair is verified. It must be
	// safe to call when Inject failed halfway or was never called.
	Recover(ctx context.Context) error
}

// Target is what faults act on; the harness passes its environment in.
// Faults take only what they need through small interfaces of their own.
type Target any

// Factory builds a fault against a target.
type Factory func(t Target) (Fault, error)

var (
	mu       sync.Mutex
	registry = map[string]registered{}
)

type registered struct {
	desc string
	f    Factory
}

// Register adds a fault under name; it panics on a duplicate (init-time bug).
func Register(name, description string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic("fault: duplicate registration of " + name)
	}
	registry[name] = registered{description, f}
}

// New builds the fault registered as name.
func New(name string, t Target) (Fault, error) {
	mu.Lock()
	r, ok := registry[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown fault %q (known: %v)", name, Names())
	}
	return r.f(t)
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

// Describe returns a fault's one-line description.
func Describe(name string) string {
	mu.Lock()
	defer mu.Unlock()
	return registry[name].desc
}

// None is a fault that does nothing: tests use it to prove that a drill
// notices when its fault had no effect.
type None struct{}

func (None) Name() string                  { return "none" }
func (None) Inject(context.Context) error  { return nil }
func (None) Recover(context.Context) error { return nil }

func init() {
	Register("none", "does nothing (to prove a drill fails when its fault has no effect)", func(Target) (Fault, error) { return None{}, nil })
}

// HostTarget can run a command inside a lab host (namespace or container).
type HostTarget interface {
	ExecHost(ctx context.Context, host string, argv ...string) ([]byte, error)
}

// GatewayTarget can kill a site's charon and start it again (with the VPN
// loaded back into it).
type GatewayTarget interface {
	KillGateway(ctx context.Context, site string) error
	RestartGateway(ctx context.Context, site string) error
}
