package tunnel

import (
	"context"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/strongswan/govici/vici"
)

// Events VICI sends that a drill's timeline records.
var followedEvents = []string{"ike-updown", "child-updown", "child-rekey", "ike-rekey"}

// Follow subscribes to the gateway's SA events and records each into tl
// under source until ctx is done. When charon goes away (crash, restart) it
// records that, re-dials every poll interval and resumes. The returned
// channel is closed when Follow has stopped.
//
// Each event is registered on a session of its own: govici v0.8 deadlocks
// when an event of a type already registered on a session arrives before
// that session's next registration is answered
// (docs/findings.md#govici-subscribe-deadlock).
func (g *Gateway) Follow(ctx context.Context, tl *timeline.Timeline, source string, poll time.Duration) (<-chan struct{}, error) {
	sess, err := g.subscribe(ctx)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			lost := g.pump(ctx, sess, tl, source)
			closeAll(sess)
			if !lost {
				return
			}
			tl.Add(source, timeline.KindNote, timeline.Note{"event": "vici event stream lost", "endpoint": g.Endpoint()})
			t := time.NewTicker(poll)
			for sess = nil; sess == nil; {
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
					sess, _ = g.subscribe(ctx)
				}
			}
			t.Stop()
			tl.Add(source, timeline.KindNote, timeline.Note{"event": "vici event stream resumed"})
		}
	}()
	return done, nil
}

// subscribe opens one session per followed event, each registered for it.
func (g *Gateway) subscribe(ctx context.Context) ([]*vici.Session, error) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var out []*vici.Session
	for _, ev := range followedEvents {
		s, err := newSession(dctx, g.dialer)
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, s)
		if err := s.Subscribe(ev); err != nil {
			closeAll(out)
			return nil, err
		}
	}
	return out, nil
}

func closeAll(ss []*vici.Session) {
	for _, s := range ss {
		s.Close()
	}
}

// pump forwards the sessions' events until ctx is done (false) or one
// stream breaks (true).
func (g *Gateway) pump(ctx context.Context, ss []*vici.Session, tl *timeline.Timeline, source string) bool {
	merged := make(chan vici.Event, 64)
	broken := make(chan struct{}, len(ss))
	stop := make(chan struct{})
	defer close(stop)
	for _, s := range ss {
		ch := make(chan vici.Event, 64)
		s.NotifyEvents(ch)
		defer s.StopEvents(ch)
		go func() {
			for {
				select {
				case <-stop:
					return
				case ev, ok := <-ch:
					if !ok {
						broken <- struct{}{}
						return
					}
					select {
					case merged <- ev:
					case <-stop:
						return
					}
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-broken:
			return ctx.Err() == nil
		case ev := <-merged:
			kind, detail := eventRecord(ev.Name, ev.Message)
			tl.AddAt(ev.Timestamp, source, kind, detail)
		}
	}
}

// eventRecord is a VICI event's timeline kind and typed detail
// (timeline.IKEUpDown, ChildUpDown, ChildRekey, IKERekey).
func eventRecord(name string, m *vici.Message) (string, any) {
	d := EventDetail(name, m)
	switch name {
	case "ike-updown":
		return timeline.KindIKEUpDown, timeline.IKEUpDown(d)
	case "child-updown":
		return timeline.KindChildUpDown, timeline.ChildUpDown(d)
	case "child-rekey":
		return timeline.KindChildRekey, timeline.ChildRekey(d)
	case "ike-rekey":
		return timeline.KindIKERekey, timeline.IKERekey(d)
	}
	return name, d
}

// EventDetail flattens a VICI SA event: its name, up (for *-updown), the
// IKE SA's name, state and id, and its children's states and SPIs. Its JSON
// is what the timeline has always carried for these events.
func EventDetail(name string, m *vici.Message) timeline.SAEvent {
	d := timeline.SAEvent{Event: name}
	if name == "ike-updown" || name == "child-updown" {
		d.Up = str(m, "up") == "yes"
	}
	for _, k := range m.Keys() {
		sec, ok := m.Get(k).(*vici.Message)
		if !ok {
			continue
		}
		sa := parseIKESA(k, sec)
		d.IKE, d.IKEState, d.IKEID = sa.Name, sa.State, sa.UniqueID
		for _, c := range sa.Children {
			d.Children = append(d.Children, timeline.SAChild{Name: c.Name, ID: c.UniqueID, State: c.State, SPIIn: c.SPIIn, SPIOut: c.SPIOut})
		}
		break
	}
	return d
}
