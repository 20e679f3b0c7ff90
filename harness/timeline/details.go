package timeline

import (
	"encoding/json"
	"maps"
)

// Typed details. Each one marshals to exactly the JSON its producer wrote
// when details were maps (same keys, same keys left out), so report.json
// does not change; the golden test in details_test.go holds them to it.
// Each one also gives the map a not-yet-converted reader sees in
// Event.Detail (legacyMap), with the Go types the old producer used (int
// for an errno, int64 for seconds_behind, bool for up, ...).
//
// Marshalling goes through that map (one definition of the JSON, and Go
// sorts map keys as it always did); unmarshalling uses the struct tags.

// IOState is a replica IO thread change (KindIOState), as
// replica.WatchTimeline records it: SHOW REPLICA STATUS at the change.
type IOState struct {
	From string `json:"from"` // previous IO state; "" not configured (JSON null when Initial)
	To   string `json:"to"`   // "Yes", "Connecting", "No", "Preparing", "" (not configured)
	// Initial marks the watch's first read: there was no previous state
	// (from is JSON null).
	Initial       bool   `json:"initial,omitempty"`
	SecondsBehind *int64 `json:"seconds_behind"` // nil is SQL NULL (JSON null)
	LastIOErrno   int    `json:"last_io_errno"`
	LastIOError   string `json:"last_io_error"`
}

func (d IOState) legacyMap() map[string]any {
	m := map[string]any{"from": d.From, "to": d.To, "last_io_errno": d.LastIOErrno, "last_io_error": d.LastIOError,
		"seconds_behind": int64OrNil(d.SecondsBehind)}
	if d.Initial {
		m["from"], m["initial"] = nil, true
	}
	return m
}

// MarshalJSON writes the detail as its producer always has.
func (d IOState) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// SQLState is a replica SQL thread change (KindSQLState): "Yes", "No", or
// "" when replication is not configured.
type SQLState struct {
	From         string `json:"from"` // JSON null when Initial
	To           string `json:"to"`
	Initial      bool   `json:"initial,omitempty"`
	LastSQLErrno int    `json:"last_sql_errno"`
	LastSQLError string `json:"last_sql_error"`
}

func (d SQLState) legacyMap() map[string]any {
	m := map[string]any{"from": d.From, "to": d.To, "last_sql_errno": d.LastSQLErrno, "last_sql_error": d.LastSQLError}
	if d.Initial {
		m["from"], m["initial"] = nil, true
	}
	return m
}

// MarshalJSON writes the detail as its producer always has.
func (d SQLState) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// Note events replica.WatchTimeline records when only an errno changes.
const (
	EventIOError  = "io_error"
	EventSQLError = "sql_error"
)

// IOErrorNote is a KindNote with event "io_error": the replica's
// Last_IO_Errno changed while its IO state did not. JSON carries the state
// twice, as "to" and "io", as it always has.
type IOErrorNote struct {
	To              string `json:"to"`
	SecondsBehind   *int64 `json:"seconds_behind"`
	LastIOErrno     int    `json:"last_io_errno"`
	LastIOError     string `json:"last_io_error"`
	PrevLastIOErrno int    `json:"prev_last_io_errno"`
}

func (d IOErrorNote) legacyMap() map[string]any {
	return map[string]any{"event": EventIOError, "io": d.To, "to": d.To, "last_io_errno": d.LastIOErrno,
		"last_io_error": d.LastIOError, "seconds_behind": int64OrNil(d.SecondsBehind), "prev_last_io_errno": d.PrevLastIOErrno}
}

// MarshalJSON writes the detail as its producer always has.
func (d IOErrorNote) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// SQLErrorNote is a KindNote with event "sql_error": Last_SQL_Errno
// changed while the SQL thread did not (JSON: "to" and "sql").
type SQLErrorNote struct {
	To               string `json:"to"`
	LastSQLErrno     int    `json:"last_sql_errno"`
	LastSQLError     string `json:"last_sql_error"`
	PrevLastSQLErrno int    `json:"prev_last_sql_errno"`
}

func (d SQLErrorNote) legacyMap() map[string]any {
	return map[string]any{"event": EventSQLError, "sql": d.To, "to": d.To, "last_sql_errno": d.LastSQLErrno,
		"last_sql_error": d.LastSQLError, "prev_last_sql_errno": d.PrevLastSQLErrno}
}

// MarshalJSON writes the detail as its producer always has.
func (d SQLErrorNote) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// SAEvent is a VICI SA event flattened (tunnel.EventDetail): the event's
// name, up for *-updown, the IKE SA it is about and that SA's children. The
// kinds have types of their own, all with these fields: IKEUpDown,
// ChildUpDown, ChildRekey, IKERekey.
type SAEvent struct {
	Event string `json:"event"` // VICI event name: "ike-updown", "child-updown", "child-rekey", "ike-rekey"
	Up    bool   `json:"up"`    // *-updown only: the SA came up (false: went down)
	// The IKE SA the event is about: its name (the connection), state and
	// unique id. IKE is "" when the event carried no SA; then the three
	// are left out of the JSON.
	IKE      string    `json:"ike"`
	IKEState string    `json:"ike_state"`
	IKEID    string    `json:"ike_id"`
	Children []SAChild `json:"children,omitempty"`
}

// SAChild is one CHILD SA of an SAEvent.
type SAChild struct {
	Name   string `json:"name"`
	ID     string `json:"id"`
	State  string `json:"state"`
	SPIIn  string `json:"spi_in"`
	SPIOut string `json:"spi_out"`
}

// legacyMap: event (defaulting to the type's own event name), up when
// withUp, the IKE SA when there is one, children when there are any.
func (d SAEvent) legacyMap(event string, withUp bool) map[string]any {
	if d.Event != "" {
		event = d.Event
	}
	m := map[string]any{"event": event}
	if withUp {
		m["up"] = d.Up
	}
	if d.IKE != "" {
		m["ike"], m["ike_state"], m["ike_id"] = d.IKE, d.IKEState, d.IKEID
	}
	var kids []map[string]any
	for _, c := range d.Children {
		kids = append(kids, map[string]any{"name": c.Name, "id": c.ID, "state": c.State, "spi_in": c.SPIIn, "spi_out": c.SPIOut})
	}
	if kids != nil {
		m["children"] = kids
	}
	return m
}

func isUpDown(event string) bool { return event == "ike-updown" || event == "child-updown" }

// MarshalJSON: up only for *-updown events, as tunnel.EventDetail wrote.
func (d SAEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.legacyMap("", isUpDown(d.Event)))
}

// IKEUpDown is KindIKEUpDown: an IKE SA came up or went down.
type IKEUpDown SAEvent

// ChildUpDown is KindChildUpDown: a CHILD SA came up or went down.
type ChildUpDown SAEvent

// ChildRekey is KindChildRekey: a CHILD SA was rekeyed (no up).
type ChildRekey SAEvent

// IKERekey is KindIKERekey: an IKE SA was rekeyed (no up).
type IKERekey SAEvent

func (d IKEUpDown) legacyMap() map[string]any   { return SAEvent(d).legacyMap("ike-updown", true) }
func (d ChildUpDown) legacyMap() map[string]any { return SAEvent(d).legacyMap("child-updown", true) }
func (d ChildRekey) legacyMap() map[string]any  { return SAEvent(d).legacyMap("child-rekey", false) }
func (d IKERekey) legacyMap() map[string]any    { return SAEvent(d).legacyMap("ike-rekey", false) }

// MarshalJSON writes the detail as tunnel.EventDetail always has.
func (d IKEUpDown) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// MarshalJSON writes the detail as tunnel.EventDetail always has.
func (d ChildUpDown) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// MarshalJSON writes the detail as tunnel.EventDetail always has.
func (d ChildRekey) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// MarshalJSON writes the detail as tunnel.EventDetail always has.
func (d IKERekey) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// TunnelAction is the harness acting on a tunnel (a down or an up) and how
// it went: kind KindStep (done, or failed), KindExpected (an outcome that
// looks like an error but is documented as normal: "no matching SAs", a
// duplicate CHILD_SA, an unanswered DELETE) or KindRemediation.
type TunnelAction struct {
	Action     string   `json:"action"` // "down", "up", "up (alone)", ...
	Connection string   `json:"connection"`
	Result     string   `json:"result,omitempty"` // "ok", the expected outcome, "error", "forced", ...
	DurationMS int64    `json:"duration_ms"`
	Error      string   `json:"error,omitempty"`
	Log        []string `json:"log,omitempty"`     // charon's log of a failed command
	Outcome    string   `json:"outcome,omitempty"` // an initiate's outcome in words
	Note       string   `json:"note,omitempty"`
}

func (d TunnelAction) legacyMap() map[string]any {
	m := map[string]any{"action": d.Action, "connection": d.Connection, "duration_ms": d.DurationMS}
	putNonEmpty(m, "result", d.Result)
	putNonEmpty(m, "error", d.Error)
	if len(d.Log) > 0 {
		m["log"] = d.Log
	}
	putNonEmpty(m, "outcome", d.Outcome)
	putNonEmpty(m, "note", d.Note)
	return m
}

// MarshalJSON writes the detail as its producers always have.
func (d TunnelAction) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// Step is a drill step starting or ending (KindStep, source "step"), as
// harness.Env.Step records it.
type Step struct {
	Step    string `json:"step"`
	Event   string `json:"event"`             // "start" or "end"
	Verdict string `json:"verdict,omitempty"` // end: "pass", "fail" or "error"
	Error   string `json:"error,omitempty"`
}

func (d Step) legacyMap() map[string]any {
	m := map[string]any{"step": d.Step, "event": d.Event}
	putNonEmpty(m, "verdict", d.Verdict)
	putNonEmpty(m, "error", d.Error)
	return m
}

// MarshalJSON writes the detail as its producer always has.
func (d Step) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// Check is a verdict recorded on the timeline (KindCheck), as
// harness.Env.Check records it.
type Check struct {
	Name     string `json:"name"`
	Verdict  string `json:"verdict"`
	Observed string `json:"observed"`
}

func (d Check) legacyMap() map[string]any {
	return map[string]any{"name": d.Name, "verdict": d.Verdict, "observed": d.Observed}
}

// MarshalJSON writes the detail as its producer always has.
func (d Check) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// Fault is a fault injected, restarted or recovered (KindFault). Faults
// record more than these three (duration_ms, host, error, the sides'
// states, ...): Extra holds the rest, flat beside them in JSON as before.
type Fault struct {
	Fault  string `json:"fault"`  // the fault's name
	Action string `json:"action"` // "inject", "recover", "restart", ...
	Detail string `json:"detail"` // what was done, in words
	// Extra are the fault's other keys; they cannot replace the three
	// above.
	Extra map[string]any `json:"-"`
}

func (d Fault) legacyMap() map[string]any {
	m := maps.Clone(d.Extra)
	if m == nil {
		m = map[string]any{}
	}
	m["fault"], m["action"], m["detail"] = d.Fault, d.Action, d.Detail
	return m
}

// MarshalJSON writes the three fields and Extra side by side.
func (d Fault) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// UnmarshalJSON reads the three fields and puts every other key in Extra.
func (d *Fault) UnmarshalJSON(b []byte) error {
	m, err := decodeObject(b)
	if err != nil {
		return err
	}
	type plain Fault
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	delete(m, "fault")
	delete(m, "action")
	delete(m, "detail")
	if len(m) == 0 {
		m = nil
	}
	*d = Fault(p)
	d.Extra = m
	return nil
}

// Recovery is one deferred recovery the harness ran after a drill
// (KindRecovery), as harness.Run records it.
type Recovery struct {
	Action     string `json:"action"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
}

func (d Recovery) legacyMap() map[string]any {
	m := map[string]any{"action": d.Action, "duration_ms": d.DurationMS}
	putNonEmpty(m, "error", d.Error)
	return m
}

// MarshalJSON writes the detail as its producer always has.
func (d Recovery) MarshalJSON() ([]byte, error) { return json.Marshal(d.legacyMap()) }

// Note is a free-form detail: notes (KindNote other than io_error and
// sql_error), workload records (KindWrite), kinds without a type, and a
// detail read back from JSON that its kind's type cannot carry exactly.
type Note map[string]any

func (d Note) legacyMap() map[string]any { return d }

func int64OrNil(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func putNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}
