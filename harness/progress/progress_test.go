package progress

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/timeline"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func step(tl *timeline.Timeline, name, event, verdict, err string) {
	tl.Add("step", timeline.KindStep, timeline.Step{Step: name, Event: event, Verdict: verdict, Error: err})
}

// Plain mode (a CI log): a timestamped line per step start and end, and
// one per wait of a second or more, naming what it waits for.
func TestPlainLines(t *testing.T) {
	var out syncBuf
	tl := timeline.New()
	p := New(&out, false, "vpn-outage#1: ")
	ctx := p.Attach(context.Background(), tl)
	defer p.Stop()
	step(tl, "step 1: VPN down", "start", "", "")
	_ = poll.Until(ctx, "the IO thread to leave Yes", time.Millisecond, 2*time.Second, func(context.Context) (bool, string, error) { return true, "", nil })
	_ = poll.Until(ctx, "a short wait", time.Millisecond, 10*time.Millisecond, func(context.Context) (bool, string, error) { return true, "", nil })
	step(tl, "step 1: VPN down", "end", "fail", "tunnel still up\non aws")
	s := out.String()
	for _, want := range []string{"vpn-outage#1: +", "step 1: VPN down\n", "waiting for the IO thread to leave Yes (up to 2s)", "step 1: VPN down — fail: tunnel still up on aws in "} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "a short wait") || strings.Contains(s, "\r") {
		t.Errorf("a short wait got a line, or a redraw in plain mode:\n%s", s)
	}
}

// Terminal mode: the status line names the step, what it waits for, the
// time waited and the deadline; a failed step is kept on its own line.
func TestTerminalStatus(t *testing.T) {
	var out syncBuf
	tl := timeline.New()
	p := New(&out, true, "")
	ctx := p.Attach(context.Background(), tl)
	step(tl, "step 3: hold", "start", "", "")
	seen := make(chan struct{})
	_ = poll.Until(ctx, "the clients to write", time.Millisecond, 5*time.Second, func(context.Context) (bool, string, error) {
		select {
		case <-seen:
			return true, "", nil
		default:
		}
		p.mu.Lock()
		s := p.status(time.Now())
		p.mu.Unlock()
		if strings.Contains(s, "▶ step 3: hold") && strings.Contains(s, "waiting for the clients to write (") && strings.Contains(s, " of 5s)") {
			close(seen)
		}
		return false, "", nil
	})
	step(tl, "step 3: hold", "end", "error", "boom")
	p.Stop()
	if !strings.Contains(out.String(), "✘ step 3: hold: boom\n") {
		t.Errorf("failed step not kept: %q", out.String())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waits) != 0 || p.status(time.Now()) != "" {
		t.Errorf("state after the drill: waits %v, status %q", p.waits, p.status(time.Now()))
	}
}
