package lab

import (
	"sort"
	"strings"
	"sync"
)

// Backends register themselves by name (netns here; docker from the init of
// package harness/lab/docker, which a program links in with a blank import),
// so that `lab down` and `run --backend` find every backend a program links
// in without this package importing them.
var (
	backendsMu sync.Mutex
	registered = map[string]func() Backend{}
)

// RegisterBackend adds a backend constructor under name; a duplicate is an
// init-time bug.
func RegisterBackend(name string, f func() Backend) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if _, dup := registered[name]; dup {
		panic("lab: duplicate backend " + name)
	}
	registered[name] = f
}

// Backends returns one instance of every registered backend, by name.
func Backends() map[string]Backend {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	out := make(map[string]Backend, len(registered))
	for n, f := range registered {
		out[n] = f()
	}
	return out
}

// BackendNames lists the registered backends, sorted.
func BackendNames() []string {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	var out []string
	for n := range registered {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// BackendByName returns the named backend; an unknown name is an *InputError.
func BackendByName(name string) (Backend, error) {
	backendsMu.Lock()
	f, ok := registered[name]
	backendsMu.Unlock()
	if !ok {
		return nil, inputErrorf("--backend %q: want %s", name, strings.Join(BackendNames(), " or "))
	}
	return f(), nil
}

func init() {
	RegisterBackend("netns", NewNetnsBackend)
}
