package scenarios

import (
	"fmt"
	"sort"
	"sync"

	"github.com/drdrill/drdrill/harness"
)

var (
	mu       sync.Mutex
	registry = map[string]harness.Scenario{}
)

// Register adds a scenario; a duplicate name is an init-time bug.
func Register(s harness.Scenario) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[s.Name]; dup {
		panic("scenarios: duplicate " + s.Name)
	}
	registry[s.Name] = s
}

// Lookup finds a scenario by name.
func Lookup(name string) (harness.Scenario, error) {
	mu.Lock()
	defer mu.Unlock()
	s, ok := registry[name]
	if !ok {
		var names []string
		for n := range registry {
			names = append(names, n)
		}
		sort.Strings(names)
		return harness.Scenario{}, fmt.Errorf("unknown scenario %q (drdrill list shows: %v)", name, names)
	}
	return s, nil
}

// All returns the scenarios sorted by name.
func All() []harness.Scenario {
	mu.Lock()
	defer mu.Unlock()
	var out []harness.Scenario
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
