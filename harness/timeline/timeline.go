package timeline

import (
	"sort"
	"sync"
	"time"
)

// Well-known sources and kinds. Sources are free-form ("tunnel/aws"); kinds
// that checks and reports branch on are named here, each with the type of
// its detail (details.go).
const (
	KindIOState     = "io_state"     // replica IO thread changed: IOState
	KindSQLState    = "sql_state"    // replica SQL thread changed: SQLState
	KindIKEUpDown   = "ike_updown"   // VICI ike-updown event: IKEUpDown
	KindChildUpDown = "child_updown" // VICI child-updown event: ChildUpDown
	KindChildRekey  = "child_rekey"  // VICI child-rekey event: ChildRekey
	KindIKERekey    = "ike-rekey"    // VICI ike-rekey event: IKERekey (the kind has always been the VICI name)
	KindStep        = "step"         // a drill step started or ended (Step), or a tunnel action (TunnelAction)
	KindCheck       = "check"        // a check's verdict: Check
	KindFault       = "fault"        // a fault was injected or recovered: Fault
	KindRecovery    = "recovery"     // a deferred recovery ran after the drill: Recovery
	KindWrite       = "write"        // workload phase boundaries and write summaries: Note
	KindRemediation = "remediation"  // the harness acted to repair something: TunnelAction (or Note)
	KindExpected    = "expected"     // an outcome that looks like an error but is documented as normal: TunnelAction
	KindNote        = "note"         // anything else worth seeing next to the events: Note (IOErrorNote, SQLErrorNote)
)

// Event is one entry. TMS is the offset from the timeline's start in
// milliseconds (fractional, so sub-millisecond ordering survives JSON).
//
// The detail is typed by kind (see the Kind constants); read it with [As].
type Event struct {
	TMS    float64 `json:"t_ms"`
	Source string  `json:"source"`
	Kind   string  `json:"kind"`
	// Detail is a typed value (IOState, TunnelAction, ...), a Note, or
	// whatever a caller passed to Add. Its JSON is the contract's "detail".
	Detail any `json:"-"`

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

// Add records an event stamped now. detail is the kind's typed detail (see
// the Kind constants), a Note, or nil; a map[string]any is accepted too and
// becomes typed when its kind's type carries it exactly (else it stays a
// Note).
func (t *Timeline) Add(source, kind string, detail any) Event {
	return t.AddAt(time.Now(), source, kind, detail)
}

// AddAt records an event observed at the given instant (for example the
// moment a poll returned, not the moment it was processed).
func (t *Timeline) AddAt(at time.Time, source, kind string, detail any) Event {
	d := at.Sub(t.start)
	ev := Event{TMS: float64(d.Microseconds()) / 1000, Source: source, Kind: kind, at: d}
	ev.Detail = normalise(kind, detail)
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
