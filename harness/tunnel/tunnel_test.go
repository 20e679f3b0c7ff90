package tunnel

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func ikeSA(name, state string, children ...*body) *body {
	b := (&body{}).start(name).kv("uniqueid", "1").kv("state", state).kv("local-host", "198.51.100.1").kv("remote-host", "198.51.100.2").start("child-sas")
	for _, c := range children {
		b.Write(c.Bytes())
	}
	return b.end().end()
}

func childSA(key, state, lts, rts string) *body {
	return (&body{}).start(key).kv("name", "onprem-aws").kv("uniqueid", key).kv("state", state).
		kv("spi-in", "c1").kv("spi-out", "c2").kv("bytes-in", "100").list("local-ts", lts).list("remote-ts", rts).end()
}

// Regression: govici v0.8's CallStreaming dropped the list-sa event when it
// arrived together with the response (about one call in two); State must see
// it every time.
func TestStateNeverLosesListSAEvents(t *testing.T) {
	g := fakeGateway(t, func(cmd string, _ []byte) reply {
		return reply{events: []*body{ikeSA("onprem-aws", "ESTABLISHED", childSA("onprem-aws-1", "INSTALLED", "10.20.0.0/16", "192.168.64.0/24"))}}
	})
	for i := 0; i < 300; i++ {
		st, err := g.State(context.Background(), "onprem-aws")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.IKESAs) != 1 || len(st.IKESAs[0].Children) != 1 {
			t.Fatalf("call %d: lost the list-sa event: %+v", i, st)
		}
	}
}

func TestStateParsesSAs(t *testing.T) {
	g := fakeGateway(t, func(cmd string, _ []byte) reply {
		return reply{events: []*body{ikeSA("onprem-aws", "ESTABLISHED", childSA("onprem-aws-7", "INSTALLED", "10.20.0.0/16", "192.168.64.0/24"))}}
	})
	st, err := g.State(context.Background(), "onprem-aws")
	if err != nil {
		t.Fatal(err)
	}
	ike := st.IKESAs[0]
	c := ike.Children[0]
	if ike.Name != "onprem-aws" || ike.State != "ESTABLISHED" || ike.RemoteHost != "198.51.100.2" ||
		c.State != "INSTALLED" || c.LocalTS[0] != "10.20.0.0/16" || c.RemoteTS[0] != "192.168.64.0/24" || c.BytesIn != 100 || c.SPIIn != "c1" {
		t.Fatalf("parsed %+v", st)
	}
	if got := st.Summary(); got != "ESTABLISHED/INSTALLED 10.20.0.0/16 === 192.168.64.0/24, 1 up" {
		t.Fatalf("summary %q", got)
	}
}

func TestExpectedOutcomesAreTyped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cmd    func(g *Gateway) error
		reply  reply
		want   error
		wantIn string
	}{
		{"terminate with nothing to terminate", func(g *Gateway) error { _, err := g.Down(context.Background(), "onprem-aws", time.Second); return err },
			reply{response: (&body{}).kv("success", "no").kv("errmsg", "no matching SAs to terminate found")}, ErrNoMatchingSA, "no matching SAs"},
		{"initiate refused as a duplicate", func(g *Gateway) error {
			_, err := g.Up(context.Background(), "onprem-aws", "onprem-aws", time.Second)
			return err
		},
			reply{events: []*body{(&body{}).kv("msg", "not establishing CHILD_SA onprem-aws{2} due to existing duplicate {1} with SPIs c1_i c2_o")},
				response: (&body{}).kv("success", "no").kv("errmsg", "establishing CHILD_SA 'onprem-aws' failed")}, ErrDuplicateChild, "duplicate"},
		{"initiate with a dead peer", func(g *Gateway) error {
			_, err := g.Up(context.Background(), "onprem-aws", "onprem-aws", time.Second)
			return err
		},
			reply{events: []*body{(&body{}).kv("msg", "giving up after 3 retransmits")},
				response: (&body{}).kv("success", "no").kv("errmsg", "establishing CHILD_SA 'onprem-aws' failed")}, ErrPeerNotResponding, "peer not responding"},
	} {
		g := fakeGateway(t, func(string, []byte) reply { return tc.reply })
		err := tc.cmd(g)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantIn) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	// A real failure is not any of them.
	g := fakeGateway(t, func(string, []byte) reply {
		return reply{response: (&body{}).kv("success", "no").kv("errmsg", "CHILD_SA config 'x' not found")}
	})
	_, err := g.Up(context.Background(), "x", "x", time.Second)
	var ce *CommandError
	if !errors.As(err, &ce) || errors.Is(err, ErrNoMatchingSA) || errors.Is(err, ErrDuplicateChild) || errors.Is(err, ErrPeerNotResponding) {
		t.Fatalf("unknown failure misclassified: %v", err)
	}
}

func TestLoadSharedPSKNeverShowsTheKey(t *testing.T) {
	const secret = "s3cret-psk-value"
	var got []byte
	g := fakeGateway(t, func(cmd string, req []byte) reply {
		got = append([]byte(nil), req...)
		// A charon that echoes the key in its error must not leak it.
		return reply{response: (&body{}).kv("success", "no").kv("errmsg", "bad key "+secret)}
	})
	err := g.LoadSharedPSK(context.Background(), "lab-psk", secret, "aws.lab", "onprem.lab")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("want an error without the key, got %v", err)
	}
	if !bytes.Contains(got, []byte(secret)) {
		t.Fatal("the key never reached charon")
	}
	if err := g.LoadSharedPSK(context.Background(), "lab-psk", ""); err == nil {
		t.Fatal("an empty key must be refused before anything is sent")
	}
}

func TestOpenWrongSocketIsOneLineNamingThePath(t *testing.T) {
	_, err := Open(context.Background(), "aws", UnixSocket("/nonexistent/charon.vici"))
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/charon.vici") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v", err)
	}
	f := t.TempDir() + "/plain-file"
	if err := writeFile(f); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), "aws", UnixSocket(f)); err == nil || !strings.Contains(err.Error(), "not a unix socket") {
		t.Fatalf("got %v", err)
	}
}

func TestHealthyFailsOnBadStates(t *testing.T) {
	want := Expectation{Connection: "onprem-aws", LocalTS: []string{"10.20.0.0/16"}, RemoteTS: []string{"192.168.64.0/24"}}
	child := func(state string, lts string) ChildSA {
		return ChildSA{Name: "onprem-aws", State: state, LocalTS: []string{lts}, RemoteTS: []string{"192.168.64.0/24"}}
	}
	ike := func(state string, kids ...ChildSA) IKESA {
		return IKESA{Name: "onprem-aws", State: state, Children: kids}
	}
	for _, tc := range []struct {
		name  string
		sas   []IKESA
		fails string
	}{
		{"healthy", []IKESA{ike("ESTABLISHED", child("INSTALLED", "10.20.0.0/16"))}, ""},
		{"no IKE SA", nil, "no IKE SA"},
		{"two IKE SAs", []IKESA{ike("ESTABLISHED", child("INSTALLED", "10.20.0.0/16")), ike("ESTABLISHED")}, "2 IKE SAs"},
		{"connecting", []IKESA{ike("CONNECTING")}, "IKE SA CONNECTING"},
		{"no child", []IKESA{ike("ESTABLISHED")}, "no CHILD_SA"},
		{"two children", []IKESA{ike("ESTABLISHED", child("INSTALLED", "10.20.0.0/16"), child("INSTALLED", "10.20.0.0/16"))}, "2 CHILD SAs"},
		{"rekeying", []IKESA{ike("ESTABLISHED", child("REKEYING", "10.20.0.0/16"))}, "CHILD_SA REKEYING"},
		{"wrong selectors", []IKESA{ike("ESTABLISHED", child("INSTALLED", "10.30.0.0/16"))}, "traffic selectors"},
	} {
		err := State{Gateway: "aws", IKESAs: tc.sas}.Healthy(want)
		if (tc.fails == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.fails)) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.fails)
		}
	}
}

func TestConnConfigValidate(t *testing.T) {
	good := ConnConfig{Name: "c", LocalAddrs: []string{"a"}, RemoteAddrs: []string{"b"}, LocalID: "x", RemoteID: "y",
		Children: []ChildConfig{{Name: "c", LocalTS: []string{"10.0.0.0/8"}, RemoteTS: []string{"192.168.0.0/16"}}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.Children = []ChildConfig{{Name: "c"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "traffic selectors") {
		t.Fatalf("got %v", err)
	}
	bad = good
	bad.RemoteID = ""
	if err := bad.Validate(); err == nil {
		t.Fatal("missing remote id accepted")
	}
}

// Regression (one-sided-recovery): a forced terminate whose DELETE is never
// answered reports failure although the SA is gone; that is the outcome a
// down asks for, so it must be typed, not a plain error.
func TestDownWithUnansweredDeleteIsExpected(t *testing.T) {
	sas := true
	g := fakeGateway(t, func(cmd string, _ []byte) reply {
		switch cmd {
		case "terminate":
			sas = false
			return reply{response: (&body{}).kv("success", "no").kv("errmsg", "terminating SA failed")}
		case "list-sas":
			if sas {
				return reply{events: []*body{ikeSA("onprem-aws", "ESTABLISHED")}}
			}
		}
		return reply{}
	})
	_, err := g.Down(context.Background(), "onprem-aws", time.Second)
	if !errors.Is(err, ErrDeleteUnanswered) {
		t.Fatalf("got %v, want ErrDeleteUnanswered", err)
	}
	// The same failure with the SA still there is a real error.
	sas = true
	g2 := fakeGateway(t, func(cmd string, _ []byte) reply {
		if cmd == "terminate" {
			return reply{response: (&body{}).kv("success", "no").kv("errmsg", "terminating SA failed")}
		}
		return reply{events: []*body{ikeSA("onprem-aws", "DELETING")}}
	})
	if _, err := g2.Down(context.Background(), "onprem-aws", time.Second); err == nil || errors.Is(err, ErrDeleteUnanswered) {
		t.Fatalf("SA still listed: want a plain error, got %v", err)
	}
}

// A command its context cut short is not sent again on a new session: the
// caller gets its own deadline back, not a dial's "i/o timeout", and the
// next command (with time left) dials afresh, since the cut one's answer
// would arrive on the old session out of turn.
func TestACommandCutByItsDeadlineIsNotRedialled(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var slow atomic.Bool
	f := &fakeCharon{h: func(cmd string, _ []byte) reply {
		if slow.Load() {
			<-release
		}
		return reply{response: (&body{}).kv("daemon", "charon").kv("version", "5.9.8")}
	}}
	g, err := Open(context.Background(), "aws", f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	slow.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = g.Version(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "dial") {
		t.Fatalf("a command cut by its deadline: %v", err)
	}
	if n := f.dials.Load(); n != 1 {
		t.Errorf("%d dials after a command cut by its deadline, want 1 (no redial)", n)
	}
	slow.Store(false)
	if _, err := g.Version(context.Background()); err != nil {
		t.Fatalf("the next command: %v", err)
	}
	if n := f.dials.Load(); n != 2 {
		t.Errorf("%d dials after the next command, want 2 (the cut session is dropped)", n)
	}
}
