package tunnel

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/strongswan/govici/vici"
)

// oldEventDetail is EventDetail as it was when details were maps: the typed
// detail must marshal to the same JSON and give legacy readers this map.
func oldEventDetail(name string, m *vici.Message) map[string]any {
	d := map[string]any{"event": name}
	if name == "ike-updown" || name == "child-updown" {
		d["up"] = str(m, "up") == "yes"
	}
	for _, k := range m.Keys() {
		sec, ok := m.Get(k).(*vici.Message)
		if !ok {
			continue
		}
		sa := parseIKESA(k, sec)
		d["ike"] = sa.Name
		d["ike_state"] = sa.State
		d["ike_id"] = sa.UniqueID
		var kids []map[string]any
		for _, c := range sa.Children {
			kids = append(kids, map[string]any{"name": c.Name, "id": c.UniqueID, "state": c.State, "spi_in": c.SPIIn, "spi_out": c.SPIOut})
		}
		if kids != nil {
			d["children"] = kids
		}
		break
	}
	return d
}

func viciMsg(t *testing.T, kv ...any) *vici.Message {
	t.Helper()
	m := vici.NewMessage()
	for i := 0; i < len(kv); i += 2 {
		if err := m.Set(kv[i].(string), kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestEventDetailIsTypedWithTheOldJSON(t *testing.T) {
	child := viciMsg(t, "name", "onprem-aws", "uniqueid", "7", "state", "INSTALLED", "spi-in", "c1a2b3c4", "spi-out", "d5e6f7a8")
	sa := func(state string, withChild bool) *vici.Message {
		kids := vici.NewMessage()
		if withChild {
			kids = viciMsg(t, "onprem-aws-7", child)
		}
		return viciMsg(t, "uniqueid", "3", "state", state, "initiator", "yes", "child-sas", kids)
	}
	for _, tc := range []struct {
		name string
		kind string
		msg  *vici.Message
	}{
		{"ike-updown", timeline.KindIKEUpDown, viciMsg(t, "up", "yes", "onprem-aws", sa("ESTABLISHED", true))},
		{"ike-updown", timeline.KindIKEUpDown, viciMsg(t, "onprem-aws", sa("DELETING", false))},
		{"child-updown", timeline.KindChildUpDown, viciMsg(t, "up", "yes", "onprem-aws", sa("ESTABLISHED", true))},
		{"child-updown", timeline.KindChildUpDown, viciMsg(t, "onprem-aws", sa("ESTABLISHED", true))},
		{"child-rekey", timeline.KindChildRekey, viciMsg(t, "onprem-aws", sa("ESTABLISHED", true))},
		{"ike-rekey", timeline.KindIKERekey, viciMsg(t, "onprem-aws", sa("ESTABLISHED", false))},
		{"child-updown", timeline.KindChildUpDown, viciMsg(t, "up", "yes")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := oldEventDetail(tc.name, tc.msg)
			kind, detail := eventRecord(tc.name, tc.msg)
			if kind != tc.kind {
				t.Fatalf("kind %q, want %q", kind, tc.kind)
			}
			got, _ := json.Marshal(detail)
			want, _ := json.Marshal(old)
			if string(got) != string(want) {
				t.Fatalf("typed JSON\n%s\nold JSON\n%s", got, want)
			}
			ev := timeline.New().Add("tunnel/aws", kind, detail)
			if !reflect.DeepEqual(ev.Map(), old) {
				t.Fatalf("map view\n%#v\nold map\n%#v", ev.Map(), old)
			}
			if reflect.TypeOf(ev.Detail) == reflect.TypeOf(timeline.SAEvent{}) {
				t.Fatalf("detail of %s is an untyped SAEvent", tc.name)
			}
		})
	}
	// A reader takes the kind's type.
	_, d := eventRecord("child-updown", viciMsg(t, "up", "yes", "onprem-aws", sa("ESTABLISHED", true)))
	ev := timeline.New().Add("tunnel/aws", timeline.KindChildUpDown, d)
	up, ok := timeline.As[timeline.ChildUpDown](ev)
	if !ok || !up.Up || up.IKE != "onprem-aws" || len(up.Children) != 1 || up.Children[0].SPIIn != "c1a2b3c4" {
		t.Fatalf("As[ChildUpDown] = %+v, %v", up, ok)
	}
}

// RecoverInOrder records each down and up as a typed TunnelAction: the
// steps that went through as KindStep, documented outcomes as KindExpected.
func TestRecoverInOrderRecordsTunnelActions(t *testing.T) {
	healthy := ikeSA("onprem-aws", "ESTABLISHED", childSA("onprem-aws-1", "INSTALLED", "10.20.0.0/16", "192.168.64.0/24"))
	side := func(name string, terminate reply) Side {
		g := fakeGateway(t, func(cmd string, _ []byte) reply {
			switch cmd {
			case "terminate":
				return terminate
			case "list-sas":
				return reply{events: []*body{healthy}}
			}
			return reply{}
		})
		g.name = name
		return Side{GW: g, Want: Expectation{Connection: "onprem-aws", LocalTS: []string{"10.20.0.0/16"}, RemoteTS: []string{"192.168.64.0/24"}}}
	}
	aws := side("aws", reply{})
	onprem := side("onprem", reply{response: (&body{}).kv("success", "no").kv("errmsg", "no matching SAs to terminate found")})
	tl := timeline.New()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := RecoverInOrder(ctx, aws, onprem, tl, time.Second); err != nil {
		t.Fatal(err)
	}
	type rec struct {
		source, kind, action, result string
	}
	var got []rec
	for _, e := range tl.Events() {
		a, ok := e.Detail.(timeline.TunnelAction)
		if !ok {
			t.Fatalf("%s %s: detail %T, want timeline.TunnelAction", e.Source, e.Kind, e.Detail)
		}
		if a.Connection != "onprem-aws" || a.DurationMS < 0 {
			t.Fatalf("action %+v", a)
		}
		got = append(got, rec{e.Source, e.Kind, a.Action, a.Result})
	}
	want := []rec{
		{"tunnel/aws", timeline.KindStep, "down", "ok"},
		{"tunnel/onprem", timeline.KindExpected, "down", "no matching SAs"},
		{"tunnel/onprem", timeline.KindStep, "up", "ok"},
		{"tunnel/aws", timeline.KindStep, "up", "ok"},
	}
	if len(got) != len(want) {
		t.Fatalf("records %+v, want %+v", got, want)
	}
	for i := range want {
		// An expected outcome's result is the error's text.
		if got[i].source != want[i].source || got[i].kind != want[i].kind || got[i].action != want[i].action ||
			!strings.Contains(got[i].result, want[i].result) {
			t.Fatalf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// The first down waits for the peer's answer to its DELETE only when the
// peer holds the same IKE SA; a peer without it (a restarted charon) never
// answers, and the down is forced at once, saying why.
func TestRecoverInOrderForcesADeleteThePeerCannotAnswer(t *testing.T) {
	sa := func(spiI, spiR string) *body {
		b := (&body{}).start("onprem-aws").kv("uniqueid", "1").kv("state", "ESTABLISHED").
			kv("initiator-spi", spiI).kv("responder-spi", spiR).start("child-sas")
		b.Write(childSA("onprem-aws-1", "INSTALLED", "10.20.0.0/16", "192.168.64.0/24").Bytes())
		return b.end().end()
	}
	for _, tc := range []struct {
		name     string
		peer     []*body
		wantWait string
		wantNote string
	}{
		{"peer holds the SA", []*body{sa("a1", "b1")}, "2000", ""},
		{"peer holds another SA", []*body{sa("c1", "d1")}, "0", "holds no such IKE SA"},
		{"peer holds none", nil, "0", "holds no such IKE SA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var terminate []byte
			side := func(name string, sas []*body, onTerminate func([]byte)) Side {
				g := fakeGateway(t, func(cmd string, req []byte) reply {
					switch cmd {
					case "terminate":
						onTerminate(req)
					case "list-sas":
						return reply{events: sas}
					}
					return reply{}
				})
				g.name = name
				return Side{GW: g, Want: Expectation{Connection: "onprem-aws"}}
			}
			aws := side("aws", []*body{sa("a1", "b1")}, func(req []byte) {
				if terminate == nil {
					terminate = req
				}
			})
			onprem := side("onprem", tc.peer, func([]byte) {})
			tl := timeline.New()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			RecoverInOrder(ctx, aws, onprem, tl, 100*time.Millisecond) // never healthy: only the first down matters
			if !bytes.Contains(terminate, []byte("timeout\x00"+string(rune(len(tc.wantWait)))+tc.wantWait)) {
				t.Errorf("aws terminate %q: want timeout %s", terminate, tc.wantWait)
			}
			first := tl.Events()[0].Detail.(timeline.TunnelAction)
			if !strings.Contains(first.Note, tc.wantNote) || (tc.wantNote == "" && first.Note != "") {
				t.Errorf("first down's note %q, want %q", first.Note, tc.wantNote)
			}
		})
	}
}
