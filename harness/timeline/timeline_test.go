package timeline

import (
	"testing"
	"time"
)

func TestEventsStayOrderedWhenReportedLate(t *testing.T) {
	tl := New()
	now := time.Now()
	tl.AddAt(now.Add(20*time.Millisecond), "a", KindNote, nil)
	tl.AddAt(now.Add(10*time.Millisecond), "b", KindNote, nil)
	evs := tl.Events()
	if evs[0].Source != "b" || evs[1].Source != "a" {
		t.Fatalf("events out of order: %+v", evs)
	}
	if evs[0].TMS <= 0 || evs[0].TMS >= evs[1].TMS {
		t.Fatalf("bad offsets: %v %v", evs[0].TMS, evs[1].TMS)
	}
}

func TestFilterAndSubscribe(t *testing.T) {
	tl := New()
	var seen int
	tl.Subscribe(func(Event) { seen++ })
	tl.Add("replica/onprem", KindIOState, map[string]any{"from": "Yes", "to": "Connecting"})
	tl.Add("tunnel/aws", KindIKEUpDown, nil)
	if got := len(tl.Filter(KindIOState, "")); got != 1 {
		t.Fatalf("Filter(io_state) = %d events, want 1", got)
	}
	if got := len(tl.Filter("", "tunnel/aws")); got != 1 {
		t.Fatalf("Filter(source) = %d events, want 1", got)
	}
	if got := len(tl.Filter(KindIOState, "tunnel/aws")); got != 0 {
		t.Fatalf("Filter(kind+source) = %d events, want 0", got)
	}
	if seen != 2 {
		t.Fatalf("subscriber saw %d events, want 2", seen)
	}
}
