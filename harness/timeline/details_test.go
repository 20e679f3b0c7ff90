package timeline

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The maps below are built the way the producers built them before details
// were typed (replica/watch.go, tunnel/events.go, tunnel/recover.go,
// harness/env.go, harness/run.go, harness/fault): the typed details must
// marshal to the same JSON, and give legacy readers the same map, Go types
// included.

func i64(n int64) *int64 { return &n }

// oldIO is replica/watch.go's ioDetail plus from/initial.
func oldIO(prevIO, io string, first bool, errno int, msg string, behind *int64) map[string]any {
	var b any
	if behind != nil {
		b = *behind
	}
	d := map[string]any{"to": io, "last_io_errno": errno, "last_io_error": msg, "seconds_behind": b}
	d["from"] = prevIO
	if first {
		d["from"], d["initial"] = nil, true
	}
	return d
}

func oldSQL(prev, cur string, first bool, errno int, msg string) map[string]any {
	d := map[string]any{"to": cur, "last_sql_errno": errno, "last_sql_error": msg}
	d["from"] = prev
	if first {
		d["from"], d["initial"] = nil, true
	}
	return d
}

func oldIOError(io string, errno int, msg string, behind *int64, prevErrno int) map[string]any {
	var b any
	if behind != nil {
		b = *behind
	}
	d := map[string]any{"to": io, "last_io_errno": errno, "last_io_error": msg, "seconds_behind": b}
	d["event"] = "io_error"
	d["io"] = io
	d["prev_last_io_errno"] = prevErrno
	return d
}

func oldSQLError(sql string, errno int, msg string, prevErrno int) map[string]any {
	d := map[string]any{"to": sql, "last_sql_errno": errno, "last_sql_error": msg}
	d["event"] = "sql_error"
	d["sql"] = sql
	d["prev_last_sql_errno"] = prevErrno
	return d
}

type oldSA struct {
	name, uniqueID, state string
	children              []SAChild
}

// oldEvent is tunnel/events.go's EventDetail over a parsed message.
func oldEvent(name string, up bool, sa *oldSA) map[string]any {
	d := map[string]any{"event": name}
	if name == "ike-updown" || name == "child-updown" {
		d["up"] = up
	}
	if sa != nil {
		d["ike"] = sa.name
		d["ike_state"] = sa.state
		d["ike_id"] = sa.uniqueID
		var kids []map[string]any
		for _, c := range sa.children {
			kids = append(kids, map[string]any{"name": c.Name, "id": c.ID, "state": c.State, "spi_in": c.SPIIn, "spi_out": c.SPIOut})
		}
		if kids != nil {
			d["children"] = kids
		}
	}
	return d
}

// oldAction is tunnel/recover.go's step record.
func oldAction(action, conn string, took time.Duration, result string, err string, log []string) map[string]any {
	d := map[string]any{"action": action, "connection": conn, "duration_ms": took.Milliseconds()}
	d["result"] = result
	if err != "" {
		d["error"] = err
		if len(log) > 0 {
			d["log"] = log
		}
	}
	return d
}

func oldStepEnd(name, verdict, err string) map[string]any {
	detail := map[string]any{"step": name, "event": "end", "verdict": "pass"}
	if verdict != "pass" {
		detail["verdict"], detail["error"] = verdict, err
	}
	return detail
}

func oldRecovery(action string, took time.Duration, err string) map[string]any {
	d := map[string]any{"action": action, "duration_ms": took.Milliseconds()}
	if err != "" {
		d["error"] = err
	}
	return d
}

var seedErr = `error reconnecting to master 'repl@10.20.11.123:3306' - retry-time: 1  maximum-retries: 100000  message: Can't connect to server on '10.20.11.123' (110 "Connection timed out")`

var kids = []SAChild{{Name: "onprem-aws", ID: "7", State: "INSTALLED", SPIIn: "c1a2b3c4", SPIOut: "d5e6f7a8"}}

var goldens = []struct {
	name  string
	kind  string
	typed any
	old   map[string]any
	json  string // the old map's JSON, spelled out
}{
	{"io initial", KindIOState, IOState{To: "Yes", Initial: true, SecondsBehind: i64(0)},
		oldIO("", "Yes", true, 0, "", i64(0)),
		`{"from":null,"initial":true,"last_io_errno":0,"last_io_error":"","seconds_behind":0,"to":"Yes"}`},
	{"io outage", KindIOState, IOState{From: "Yes", To: "Connecting", LastIOErrno: 2003, LastIOError: seedErr},
		oldIO("Yes", "Connecting", false, 2003, seedErr, nil),
		`{"from":"Yes","last_io_errno":2003,"last_io_error":` + quote(seedErr) + `,"seconds_behind":null,"to":"Connecting"}`},
	{"io not configured", KindIOState, IOState{From: "", To: "Connecting", SecondsBehind: nil},
		oldIO("", "Connecting", false, 0, "", nil),
		`{"from":"","last_io_errno":0,"last_io_error":"","seconds_behind":null,"to":"Connecting"}`},
	{"sql initial", KindSQLState, SQLState{To: "Yes", Initial: true},
		oldSQL("", "Yes", true, 0, ""),
		`{"from":null,"initial":true,"last_sql_errno":0,"last_sql_error":"","to":"Yes"}`},
	{"sql stopped", KindSQLState, SQLState{From: "Yes", To: "No", LastSQLErrno: 1062, LastSQLError: "Duplicate entry '7'"},
		oldSQL("Yes", "No", false, 1062, "Duplicate entry '7'"),
		`{"from":"Yes","last_sql_errno":1062,"last_sql_error":"Duplicate entry '7'","to":"No"}`},
	{"io_error note", KindNote, IOErrorNote{To: "Connecting", LastIOErrno: 2003, LastIOError: seedErr, PrevLastIOErrno: 0},
		oldIOError("Connecting", 2003, seedErr, nil, 0),
		`{"event":"io_error","io":"Connecting","last_io_errno":2003,"last_io_error":` + quote(seedErr) + `,"prev_last_io_errno":0,"seconds_behind":null,"to":"Connecting"}`},
	{"sql_error note", KindNote, SQLErrorNote{To: "Yes", LastSQLErrno: 1062, LastSQLError: "dup", PrevLastSQLErrno: 0},
		oldSQLError("Yes", 1062, "dup", 0),
		`{"event":"sql_error","last_sql_errno":1062,"last_sql_error":"dup","prev_last_sql_errno":0,"sql":"Yes","to":"Yes"}`},
	{"ike up", KindIKEUpDown, IKEUpDown{Event: "ike-updown", Up: true, IKE: "onprem-aws", IKEState: "ESTABLISHED", IKEID: "3", Children: kids},
		oldEvent("ike-updown", true, &oldSA{"onprem-aws", "3", "ESTABLISHED", kids}),
		`{"children":[{"id":"7","name":"onprem-aws","spi_in":"c1a2b3c4","spi_out":"d5e6f7a8","state":"INSTALLED"}],"event":"ike-updown","ike":"onprem-aws","ike_id":"3","ike_state":"ESTABLISHED","up":true}`},
	{"ike down, no children", KindIKEUpDown, IKEUpDown{Event: "ike-updown", IKE: "onprem-aws", IKEState: "DELETING", IKEID: "3"},
		oldEvent("ike-updown", false, &oldSA{"onprem-aws", "3", "DELETING", nil}),
		`{"event":"ike-updown","ike":"onprem-aws","ike_id":"3","ike_state":"DELETING","up":false}`},
	{"child down", KindChildUpDown, ChildUpDown{Event: "child-updown", IKE: "onprem-aws", IKEState: "ESTABLISHED", IKEID: "3", Children: kids},
		oldEvent("child-updown", false, &oldSA{"onprem-aws", "3", "ESTABLISHED", kids}),
		`{"children":[{"id":"7","name":"onprem-aws","spi_in":"c1a2b3c4","spi_out":"d5e6f7a8","state":"INSTALLED"}],"event":"child-updown","ike":"onprem-aws","ike_id":"3","ike_state":"ESTABLISHED","up":false}`},
	{"child up without an SA", KindChildUpDown, ChildUpDown{Event: "child-updown", Up: true},
		oldEvent("child-updown", true, nil), `{"event":"child-updown","up":true}`},
	{"child rekey", KindChildRekey, ChildRekey{Event: "child-rekey", IKE: "onprem-aws", IKEState: "ESTABLISHED", IKEID: "3", Children: kids},
		oldEvent("child-rekey", false, &oldSA{"onprem-aws", "3", "ESTABLISHED", kids}),
		`{"children":[{"id":"7","name":"onprem-aws","spi_in":"c1a2b3c4","spi_out":"d5e6f7a8","state":"INSTALLED"}],"event":"child-rekey","ike":"onprem-aws","ike_id":"3","ike_state":"ESTABLISHED"}`},
	{"ike rekey", KindIKERekey, IKERekey{Event: "ike-rekey", IKE: "onprem-aws", IKEState: "REKEYING", IKEID: "3"},
		oldEvent("ike-rekey", false, &oldSA{"onprem-aws", "3", "REKEYING", nil}),
		`{"event":"ike-rekey","ike":"onprem-aws","ike_id":"3","ike_state":"REKEYING"}`},
	{"tunnel down ok", KindStep, TunnelAction{Action: "down", Connection: "onprem-aws", DurationMS: 12, Result: "ok"},
		oldAction("down", "onprem-aws", 12*time.Millisecond, "ok", "", nil),
		`{"action":"down","connection":"onprem-aws","duration_ms":12,"result":"ok"}`},
	{"tunnel down in no time", KindStep, TunnelAction{Action: "down", Connection: "onprem-aws", Result: "ok"},
		oldAction("down", "onprem-aws", 0, "ok", "", nil),
		`{"action":"down","connection":"onprem-aws","duration_ms":0,"result":"ok"}`},
	{"tunnel down expected", KindExpected, TunnelAction{Action: "down", Connection: "onprem-aws", DurationMS: 3, Result: "no matching SAs"},
		oldAction("down", "onprem-aws", 3*time.Millisecond, "no matching SAs", "", nil),
		`{"action":"down","connection":"onprem-aws","duration_ms":3,"result":"no matching SAs"}`},
	{"tunnel up failed with log", KindStep, TunnelAction{Action: "up", Connection: "onprem-aws", DurationMS: 3600, Result: "error",
		Error: "establishing CHILD_SA 'onprem-aws' failed", Log: []string{"[IKE] giving up after 3 retransmits"}},
		oldAction("up", "onprem-aws", 3600*time.Millisecond, "error", "establishing CHILD_SA 'onprem-aws' failed", []string{"[IKE] giving up after 3 retransmits"}),
		`{"action":"up","connection":"onprem-aws","duration_ms":3600,"error":"establishing CHILD_SA 'onprem-aws' failed","log":["[IKE] giving up after 3 retransmits"],"result":"error"}`},
	{"tunnel up failed, no log", KindStep, TunnelAction{Action: "up", Connection: "onprem-aws", DurationMS: 5, Result: "error", Error: "dial: no socket"},
		oldAction("up", "onprem-aws", 5*time.Millisecond, "error", "dial: no socket", nil),
		`{"action":"up","connection":"onprem-aws","duration_ms":5,"error":"dial: no socket","result":"error"}`},
	{"step start", KindStep, Step{Step: "step 1: vpn down", Event: "start"},
		map[string]any{"step": "step 1: vpn down", "event": "start"},
		`{"event":"start","step":"step 1: vpn down"}`},
	{"step end pass", KindStep, Step{Step: "step 1: vpn down", Event: "end", Verdict: "pass"},
		oldStepEnd("step 1: vpn down", "pass", ""),
		`{"event":"end","step":"step 1: vpn down","verdict":"pass"}`},
	{"step end error", KindStep, Step{Step: "step 1: vpn down", Event: "end", Verdict: "error", Error: "boom"},
		oldStepEnd("step 1: vpn down", "error", "boom"),
		`{"error":"boom","event":"end","step":"step 1: vpn down","verdict":"error"}`},
	{"check", KindCheck, Check{Name: "outage_observed", Verdict: "pass", Observed: "Connecting at 3.02s, errno 2003"},
		map[string]any{"name": "outage_observed", "verdict": "pass", "observed": "Connecting at 3.02s, errno 2003"},
		`{"name":"outage_observed","observed":"Connecting at 3.02s, errno 2003","verdict":"pass"}`},
	{"fault plain", KindFault, Fault{Fault: "tunnel-down", Action: "inject", Detail: "terminate IKE SA onprem-aws"},
		map[string]any{"fault": "tunnel-down", "action": "inject", "detail": "terminate IKE SA onprem-aws"},
		`{"action":"inject","detail":"terminate IKE SA onprem-aws","fault":"tunnel-down"}`},
	{"fault with extras", KindFault, Fault{Fault: "gateway-crash", Action: "restart", Detail: "charon on onprem started",
		Extra: map[string]any{"duration_ms": int64(310), "error": "no socket"}},
		map[string]any{"fault": "gateway-crash", "action": "restart", "detail": "charon on onprem started", "duration_ms": int64(310), "error": "no socket"},
		`{"action":"restart","detail":"charon on onprem started","duration_ms":310,"error":"no socket","fault":"gateway-crash"}`},
	{"fault with per-side keys", KindFault, Fault{Fault: "one-sided-reset", Action: "inject", Detail: "aws terminated its IKE SA",
		Extra: map[string]any{"aws_state": "no IKE SA", "onprem_state": "ESTABLISHED/INSTALLED", "terminate_log": []string{"a", "b"}, "packets_dropped": 2}},
		map[string]any{"fault": "one-sided-reset", "action": "inject", "detail": "aws terminated its IKE SA",
			"aws_state": "no IKE SA", "onprem_state": "ESTABLISHED/INSTALLED", "terminate_log": []string{"a", "b"}, "packets_dropped": 2},
		`{"action":"inject","aws_state":"no IKE SA","detail":"aws terminated its IKE SA","fault":"one-sided-reset","onprem_state":"ESTABLISHED/INSTALLED","packets_dropped":2,"terminate_log":["a","b"]}`},
	{"recovery", KindRecovery, Recovery{Action: "recover tunnel-down", DurationMS: 1500},
		oldRecovery("recover tunnel-down", 1500*time.Millisecond, ""),
		`{"action":"recover tunnel-down","duration_ms":1500}`},
	{"recovery failed", KindRecovery, Recovery{Action: "recover tunnel-down", DurationMS: 60000, Error: "context deadline exceeded"},
		oldRecovery("recover tunnel-down", time.Minute, "context deadline exceeded"),
		`{"action":"recover tunnel-down","duration_ms":60000,"error":"context deadline exceeded"}`},
	{"note", KindNote, Note{"event": "poll_error", "error": "dial tcp: refused"},
		map[string]any{"event": "poll_error", "error": "dial tcp: refused"},
		`{"error":"dial tcp: refused","event":"poll_error"}`},
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestTypedDetailsGolden: each typed detail marshals byte for byte to the
// JSON its old map produced, and gives legacy readers that very map.
func TestTypedDetailsGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			oldJSON, err := json.Marshal(g.old)
			if err != nil {
				t.Fatal(err)
			}
			if string(oldJSON) != g.json {
				t.Fatalf("the old map's JSON is\n%s\nnot\n%s", oldJSON, g.json)
			}
			got, err := json.Marshal(g.typed)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != g.json {
				t.Fatalf("typed detail marshals to\n%s\nwant (old map)\n%s", got, g.json)
			}
			lm := g.typed.(legacy).legacyMap()
			if !reflect.DeepEqual(lm, g.old) {
				t.Fatalf("legacy map\n%#v\nwant the old map\n%#v", lm, g.old)
			}
		})
	}
}

// TestTypedDetailsRoundTrip: an event read back from JSON carries its
// kind's typed detail, equal to the one written, and the map beside it.
func TestTypedDetailsRoundTrip(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			tl := New()
			ev := tl.Add("src", g.kind, g.typed)
			if !reflect.DeepEqual(ev.Detail, g.typed) || !reflect.DeepEqual(ev.Map(), g.old) {
				t.Fatalf("Add kept %#v / %#v", ev.Detail, ev.Map())
			}
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			var back Event
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			want := g.typed
			if f, ok := want.(Fault); ok && f.Extra != nil {
				// Extra comes back as JSON gives it (json.Number, []any).
				var extra map[string]any
				raw, _ := json.Marshal(f.Extra)
				extra, _ = decodeObject(raw)
				f.Extra = extra
				want = f
			}
			if n, ok := want.(Note); ok {
				want, _ = decodeObject(mustJSON(t, n))
				want = Note(want.(map[string]any))
			}
			if !reflect.DeepEqual(back.Detail, want) {
				t.Fatalf("read back %T %#v\nwant %#v", back.Detail, back.Detail, want)
			}
			if back.Kind != g.kind || back.Source != "src" || back.TMS != ev.TMS {
				t.Fatalf("event read back %+v", back)
			}
			again, _ := json.Marshal(back)
			if string(again) != string(b) {
				t.Fatalf("written again\n%s\nfirst\n%s", again, b)
			}
			// And a legacy caller passing the old map gets the same typed
			// detail (the maps hold every key their type writes).
			fromMap := tl.Add("src", g.kind, g.old)
			if _, isNote := g.typed.(Note); !isNote {
				wantT := g.typed
				if f, ok := wantT.(Fault); ok && f.Extra != nil {
					raw, _ := json.Marshal(f.Extra)
					f.Extra, _ = decodeObject(raw)
					wantT = f
				}
				if !reflect.DeepEqual(fromMap.Detail, wantT) {
					t.Fatalf("Add(old map) gave %T %#v, want %#v", fromMap.Detail, fromMap.Detail, wantT)
				}
			}
			if a, b := mustJSON(t, fromMap.Detail), mustJSON(t, g.old); string(a) != string(b) {
				t.Fatalf("Add(old map) writes\n%s\nthe map wrote\n%s", a, b)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A map that its kind's type cannot carry exactly stays a Note (in JSON
// and in Data), so nothing it holds is lost; As still reads it.
func TestLegacyMapThatDoesNotFitStaysANote(t *testing.T) {
	tl := New()
	// One-sided recovery's initiate: no result; fault/one_sided's down: no
	// duration_ms; an io_state from a test without last_io_error.
	cases := []struct {
		kind string
		m    map[string]any
	}{
		{KindStep, map[string]any{"action": "down", "connection": "c", "result": "forced"}},
		{KindRemediation, map[string]any{"action": "seed troubleshooting 1"}},
		{KindIOState, map[string]any{"from": "Yes", "to": "Connecting", "last_io_errno": 2003, "seconds_behind": nil}},
		{KindChildUpDown, map[string]any{"up": true}},
	}
	for _, c := range cases {
		ev := tl.Add("s", c.kind, c.m)
		if _, ok := ev.Detail.(Note); !ok {
			t.Fatalf("%s %v: Data is %T, want Note", c.kind, c.m, ev.Detail)
		}
		b := mustJSON(t, ev)
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if _, ok := back.Detail.(Note); !ok {
			t.Fatalf("%s read back: Data is %T, want Note", c.kind, back.Detail)
		}
		if again := mustJSON(t, back); string(again) != string(b) {
			t.Fatalf("JSON changed:\n%s\n%s", again, b)
		}
	}
	down, ok := As[TunnelAction](tl.Filter(KindStep, "")[0])
	if !ok || down.Action != "down" || down.Result != "forced" {
		t.Fatalf("As[TunnelAction] of a legacy map = %+v, %v", down, ok)
	}
	io, ok := As[IOState](tl.Filter(KindIOState, "")[0])
	if !ok || io.To != "Connecting" || io.LastIOErrno != 2003 || io.SecondsBehind != nil {
		t.Fatalf("As[IOState] of a legacy map = %+v, %v", io, ok)
	}
	up, ok := As[ChildUpDown](tl.Filter(KindChildUpDown, "")[0])
	if !ok || !up.Up {
		t.Fatalf("As[ChildUpDown] of a legacy map = %+v, %v", up, ok)
	}
}

func TestAs(t *testing.T) {
	st := IOState{From: "Yes", To: "Connecting", LastIOErrno: 2003}
	ev := Event{Kind: KindIOState, Detail: st}
	if got, ok := As[IOState](ev); !ok || got != st {
		t.Fatalf("As[IOState] = %+v, %v", got, ok)
	}
	if got, ok := As[IOState](Event{Kind: KindIOState, Detail: &st}); !ok || got != st {
		t.Fatalf("As[IOState] of a pointer = %+v, %v", got, ok)
	}
	if _, ok := As[SQLState](ev); ok {
		t.Fatal("an IOState is a SQLState")
	}
	if _, ok := As[IOState](Event{Kind: KindIOState}); ok {
		t.Fatal("no detail is an IOState")
	}
	if _, ok := As[IOState](Event{Kind: KindIOState, Detail: (*IOState)(nil)}); ok {
		t.Fatal("a nil pointer is an IOState")
	}
	// A literal with only the legacy map (tests, old callers).
	lit := Event{Kind: KindIOState, Detail: map[string]any{"to": "Yes", "last_io_errno": 2013.0}}
	if got, ok := As[IOState](lit); !ok || got.To != "Yes" || got.LastIOErrno != 2013 {
		t.Fatalf("As[IOState] of a literal map = %+v, %v", got, ok)
	}
	// A map of the wrong shape does not crash a reader: it is not a T.
	bad := Event{Kind: KindIOState, Detail: map[string]any{"to": 5, "last_io_errno": "many"}}
	if _, ok := As[IOState](bad); ok {
		t.Fatal("a map that does not decode is an IOState")
	}
	// The kind decides: a step map with a "step" key is a Step.
	step := Event{Kind: KindStep, Detail: map[string]any{"step": "s", "event": "end", "action": "down"}}
	if _, ok := As[TunnelAction](step); ok {
		t.Fatal("a drill step read as a tunnel action")
	}
	if s, ok := As[Step](step); !ok || s.Event != "end" {
		t.Fatalf("As[Step] = %+v, %v", s, ok)
	}
	// Notes.
	n, ok := As[Note](Event{Kind: KindNote, Detail: Note{"event": "x"}})
	if !ok || n["event"] != "x" {
		t.Fatalf("As[Note] = %v, %v", n, ok)
	}
	if n, ok := As[Note](Event{Kind: KindWrite, Detail: map[string]any{"phase": "during"}}); !ok || n["phase"] != "during" {
		t.Fatalf("As[Note] of a map = %v, %v", n, ok)
	}
	if _, ok := As[Note](ev); ok {
		t.Fatal("a typed detail is a Note")
	}
	// A kind without a type decodes straight into the caller's type.
	type write struct {
		Phase string `json:"phase"`
	}
	if w, ok := As[write](Event{Kind: KindWrite, Detail: map[string]any{"phase": "during"}}); !ok || w.Phase != "during" {
		t.Fatalf("As[write] = %+v, %v", w, ok)
	}
}

// Old JSON (a report.json written before typed details) reads back typed.
func TestOldReportJSONReadsBackTyped(t *testing.T) {
	const old = `[
{"t_ms":12.5,"source":"replica/onprem","kind":"io_state","detail":{"from":null,"initial":true,"last_io_errno":0,"last_io_error":"","seconds_behind":0,"to":"Yes"}},
{"t_ms":3060,"source":"replica/onprem","kind":"io_state","detail":{"from":"Yes","last_io_errno":2003,"last_io_error":"x","seconds_behind":null,"to":"Connecting"}},
{"t_ms":3400,"source":"tunnel/onprem","kind":"child_updown","detail":{"event":"child-updown","ike":"onprem-aws","ike_id":"3","ike_state":"ESTABLISHED","up":true}},
{"t_ms":3500,"source":"tunnel/aws","kind":"step","detail":{"action":"down","connection":"onprem-aws","duration_ms":4,"result":"ok"}},
{"t_ms":3600,"source":"step","kind":"step","detail":{"event":"start","step":"step 3"}},
{"t_ms":3700,"source":"harness","kind":"note","detail":{"event":"whatever","n":12345678901234567}},
{"t_ms":3800,"source":"x","kind":"note"}
]`
	var evs []Event
	if err := json.Unmarshal([]byte(old), &evs); err != nil {
		t.Fatal(err)
	}
	if d, ok := evs[0].Detail.(IOState); !ok || !d.Initial || d.SecondsBehind == nil || *d.SecondsBehind != 0 {
		t.Fatalf("event 0: %T %+v", evs[0].Detail, evs[0].Detail)
	}
	if d, ok := evs[1].Detail.(IOState); !ok || d.From != "Yes" || d.LastIOErrno != 2003 || d.SecondsBehind != nil {
		t.Fatalf("event 1: %T %+v", evs[1].Detail, evs[1].Detail)
	}
	if d, ok := evs[2].Detail.(ChildUpDown); !ok || !d.Up || d.IKE != "onprem-aws" {
		t.Fatalf("event 2: %T %+v", evs[2].Detail, evs[2].Detail)
	}
	if d, ok := evs[3].Detail.(TunnelAction); !ok || d.Action != "down" || d.DurationMS != 4 {
		t.Fatalf("event 3: %T %+v", evs[3].Detail, evs[3].Detail)
	}
	if d, ok := evs[4].Detail.(Step); !ok || d.Step != "step 3" {
		t.Fatalf("event 4: %T %+v", evs[4].Detail, evs[4].Detail)
	}
	if d, ok := evs[5].Detail.(Note); !ok || d["n"] != json.Number("12345678901234567") {
		t.Fatalf("event 5: %T %+v", evs[5].Detail, evs[5].Detail)
	}
	if evs[6].Detail != nil {
		t.Fatalf("event 6 has a detail: %+v", evs[6])
	}
	// Written again, byte for byte what was read (modulo whitespace).
	again, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	json.Unmarshal([]byte(old), &a)
	json.Unmarshal(again, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("written again:\n%s", again)
	}
}

// Empty details are left out of JSON, as the omitempty map was.
func TestEmptyDetailOmitted(t *testing.T) {
	tl := New()
	for _, d := range []any{nil, map[string]any{}, map[string]any(nil), Note{}, (*IOState)(nil)} {
		ev := tl.Add("s", KindNote, d)
		if b := mustJSON(t, ev); string(b) != `{"t_ms":`+jsonNum(ev.TMS)+`,"source":"s","kind":"note"}` {
			t.Fatalf("%#v: %s", d, b)
		}
	}
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }
