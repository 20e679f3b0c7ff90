package timeline

import (
	"sort"
	"sync"
	"time"
)

// Well-known sources and kinds. Sources are free-form ("tunnel/aws"); kinds
// that checks and reports branch on are named here.
const (
	KindIOState     = "io_state"     // replica IO thread changed: detail.from, detail.to
	KindSQLState    = "sql_state"    // replica SQL thread changed: detail.from, detail.to
	KindIKEUpDown   = "ike_updown"   // VICI ike-updown event
	KindChildUpDown = "child_updown" // VICI child-updown event
	KindChildRekey  = "child_rekey"  // VICI child-rekey event
	KindStep        = "step"         // a drill step started or ended
	KindFault       = "fault"        // a fault was injected or recovered
	KindWrite       = "write"        // workload phase boundaries and write summaries
	KindRemediation = "remediation"  // the harness acted to repair something
	KindExpected    = "expected"     // an outcome that looks like an error but is documented as normal
	KindNote        = "note"         // anything else worth seeing next to the events
)

// Event is one entry. TMS is the offset from the timeline's start in
// milliseconds (fractional, so sub-millisecond ordering survives JSON).
type Event struct {
	TMS    float64        `json:"t_ms"`
	Source string         `json:"source"`
	Kind   string         `json:"kind"`
	Detail map[string]any `json:"detail,omitempty"`

	at time.Duration
}

// At is the event's offset from the start of its timeline.
func (e Event) At() time.Duration { return e.at }

// Timeline is safe for concurrent use.
type Timeline struct {
	start time.Time
	mu    sync.Mutex
	evs   []Event
	subs  []func(Event)
}

// New starts a timeline now.
func New() *Timeline { return &Timeline{start: time.Now()} }

// Start is the instant the timeline started (carries a monotonic reading).
func (t *Timeline) Start() time.Time { return t.start }

// Since is the monotonic offset of now from the start.
func (t *Timeline) Since() time.Duration { return time.Since(t.start) }

// Offset converts an instant taken with time.Now() into an offset.
func (t *Timeline) Offset(at time.Time) time.Duration { return at.Sub(t.start) }

// Add records an event stamped now.
func (t *Timeline) Add(source, kind string, detail map[string]any) Event {
	return t.AddAt(time.Now(), source, kind, detail)
}

// AddAt records an event observed at the given instant (for example the
// moment a poll returned, not the moment it was processed).
func (t *Timeline) AddAt(at time.Time, source, kind string, detail map[string]any) Event {
	d := at.Sub(t.start)
	ev := Event{TMS: float64(d.Microseconds()) / 1000, Source: source, Kind: kind, Detail: detail, at: d}
	t.mu.Lock()
	t.evs = append(t.evs, ev)
	// Keep the log ordered even when an observer reports a little late.
	if n := len(t.evs); n > 1 && t.evs[n-2].at > d {
		sort.SliceStable(t.evs, func(i, j int) bool { return t.evs[i].at < t.evs[j].at })
	}
	subs := append([]func(Event){}, t.subs...)
	t.mu.Unlock()
	for _, f := range subs {
		f(ev)
	}
	return ev
}

// Subscribe calls f for every event added from now on (for console progress).
func (t *Timeline) Subscribe(f func(Event)) {
	t.mu.Lock()
	t.subs = append(t.subs, f)
	t.mu.Unlock()
}

// Events returns a copy of the log in time order.
func (t *Timeline) Events() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Event(nil), t.evs...)
}

// Filter returns the events of one kind, optionally of one source ("" = any).
func (t *Timeline) Filter(kind, source string) []Event {
	var out []Event
	for _, e := range t.Events() {
		if (kind == "" || e.Kind == kind) && (source == "" || e.Source == source) {
			out = append(out, e)
		}
	}
	return out
}
