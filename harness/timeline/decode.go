package timeline

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// legacy is implemented by the typed details: the map their JSON is
// written from (the same keys and Go types the untyped maps had).
type legacy interface{ legacyMap() map[string]any }

// Value is the event's detail (nil when there is none).
func (e Event) Value() any { return e.Detail }

// Map is the event's detail as a map with its JSON's keys (typed details
// keep the Go types of their fields: an errno is an int, up a bool); nil
// when there is none. For tests and reports that look at a detail by key.
func (e Event) Map() map[string]any {
	switch d := e.Detail.(type) {
	case nil:
		return nil
	case Note:
		return d
	case map[string]any:
		return d
	case legacy:
		return d.legacyMap()
	}
	raw, err := json.Marshal(e.Detail)
	if err != nil {
		return nil
	}
	m, _ := decodeObject(raw)
	return m
}

// As returns the event's detail as a T, and whether it is one.
//
// A typed detail is returned as it is (T, or *T dereferenced). A map
// detail — from a producer not yet converted, or a detail read back from
// JSON that its kind's type could not carry exactly — is decoded into the
// type of its kind through JSON, leniently: keys T does not have are
// dropped and missing ones are zero. It is a T only when T is that kind's
// type (a "step" map with a "step" key is a Step, any other one a
// TunnelAction); for a kind without a type it is decoded straight into T.
// As[Note] returns a map detail as a Note. As never panics: a detail that
// does not decode is not a T.
func As[T any](e Event) (T, bool) {
	var zero T
	v := e.Value()
	switch d := v.(type) {
	case nil:
		return zero, false
	case T:
		return d, true
	case *T:
		if d == nil {
			return zero, false
		}
		return *d, true
	}
	m, ok := asMap(v)
	if !ok {
		return zero, false
	}
	if _, wantNote := any(zero).(Note); wantNote {
		return any(m).(T), true
	}
	raw, err := json.Marshal(map[string]any(m))
	if err != nil {
		return zero, false
	}
	if p := newFor(e.Kind, m); p != nil {
		if json.Unmarshal(raw, p) != nil {
			return zero, false
		}
		t, ok := reflect.ValueOf(p).Elem().Interface().(T)
		return t, ok
	}
	var t T
	if json.Unmarshal(raw, &t) != nil {
		return zero, false
	}
	return t, true
}

// asMap is a map detail as a Note.
func asMap(v any) (Note, bool) {
	switch m := v.(type) {
	case Note:
		return m, m != nil
	case map[string]any:
		return Note(m), m != nil
	}
	return nil, false
}

// newFor is a pointer to a new value of the type the kind's detail has, or
// nil when the kind's detail is a Note. m decides between the types one
// kind can have.
func newFor(kind string, m map[string]any) any {
	switch kind {
	case KindIOState:
		return new(IOState)
	case KindSQLState:
		return new(SQLState)
	case KindIKEUpDown:
		return new(IKEUpDown)
	case KindChildUpDown:
		return new(ChildUpDown)
	case KindChildRekey:
		return new(ChildRekey)
	case KindIKERekey:
		return new(IKERekey)
	case KindStep:
		if _, ok := m["step"]; ok {
			return new(Step)
		}
		return new(TunnelAction)
	case KindExpected, KindRemediation:
		return new(TunnelAction)
	case KindCheck:
		return new(Check)
	case KindFault:
		return new(Fault)
	case KindRecovery:
		return new(Recovery)
	case KindNote:
		switch m["event"] {
		case EventIOError:
			return new(IOErrorNote)
		case EventSQLError:
			return new(SQLErrorNote)
		}
	}
	return nil
}

// exact decodes the JSON object raw (m decoded) into the kind's type and
// returns it when it marshals back to the same JSON (the same keys and
// values); otherwise ok is false and nothing may be lost by typing it.
func exact(kind string, raw []byte, m map[string]any) (any, bool) {
	p := newFor(kind, m)
	if p == nil {
		return nil, false
	}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, false
	}
	v := reflect.ValueOf(p).Elem().Interface()
	again, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	var a, b any
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal(again, &b) != nil || !reflect.DeepEqual(a, b) {
		return nil, false
	}
	return v, true
}

// normalise turns what a caller passed to Add into the detail: a typed
// value stays as it is; a map becomes typed when its kind's type carries it
// exactly, else a Note.
func normalise(kind string, detail any) any {
	if isEmpty(detail) {
		return nil
	}
	if mm, ok := detail.(map[string]any); ok {
		if newFor(kind, mm) != nil {
			if raw, err := json.Marshal(mm); err == nil {
				if v, ok := exact(kind, raw, mm); ok {
					return v
				}
			}
		}
		return Note(mm)
	}
	return detail
}

// isEmpty: nil, a nil pointer, or a map or slice without elements (what
// omitempty left out when the detail was a map).
func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	case reflect.Map, reflect.Slice:
		return rv.Len() == 0
	}
	return false
}

// decodeObject decodes a JSON object keeping numbers exact (json.Number).
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

type wireEvent struct {
	TMS    float64         `json:"t_ms"`
	Source string          `json:"source"`
	Kind   string          `json:"kind"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// MarshalJSON writes t_ms, source, kind and detail (left out when there is
// none or it is an empty map).
func (e Event) MarshalJSON() ([]byte, error) {
	w := wireEvent{TMS: e.TMS, Source: e.Source, Kind: e.Kind}
	if v := e.Value(); !isEmpty(v) {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		w.Detail = b
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads an event back: the detail is its kind's type when
// that carries it exactly, else the map (numbers as json.Number, so that
// they stay exact when written again) as a Note. A detail that is not a
// JSON object is kept as decoded. The event's At is 0: only TMS survives
// JSON.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Event{TMS: w.TMS, Source: w.Source, Kind: w.Kind}
	raw := bytes.TrimSpace(w.Detail)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] != '{' {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		e.Detail = v
		return nil
	}
	m, err := decodeObject(raw)
	if err != nil {
		return err
	}
	if v, ok := exact(e.Kind, raw, m); ok {
		e.Detail = v
	} else {
		e.Detail = Note(m)
	}
	return nil
}
