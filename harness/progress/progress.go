package progress

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/timeline"
)

// Redraw is how often the terminal status line is redrawn.
const Redraw = 100 * time.Millisecond

// MinWaitLine is the shortest wait deadline that gets its own line in
// plain mode (shorter ones would flood a CI log).
const MinWaitLine = time.Second

// Printer writes one drill's progress to w.
type Printer struct {
	w      io.Writer
	tty    bool
	prefix string // e.g. "vpn-outage#2: " in a suite; "" alone
	now    func() time.Time

	mu        sync.Mutex
	start     time.Time
	step      string
	stepStart time.Time
	waits     []wait // in progress, innermost last
	drawn     bool
	stop      chan struct{}
	done      chan struct{}
}

type wait struct {
	what            string
	start, deadline time.Time
}

// New returns a printer; tty redraws one line in place (use it only when w
// is a terminal and one drill runs at a time).
func New(w io.Writer, tty bool, prefix string) *Printer {
	return &Printer{w: w, tty: tty, prefix: prefix, now: time.Now}
}

// Attach starts showing the drill recorded on tl; waits made under the
// returned context are shown too. Call Stop when the drill ends.
func (p *Printer) Attach(ctx context.Context, tl *timeline.Timeline) context.Context {
	p.mu.Lock()
	p.start = tl.Start()
	p.mu.Unlock()
	tl.Subscribe(p.event)
	if p.tty {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.redraw()
	}
	return poll.WithObserver(ctx, p.observe)
}

// Stop ends the display (the terminal line is cleared). Idempotent.
func (p *Printer) Stop() {
	p.mu.Lock()
	stop := p.stop
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		<-p.done
	}
}

func (p *Printer) event(e timeline.Event) {
	st, ok := timeline.As[timeline.Step](e)
	if !ok || e.Kind != timeline.KindStep || st.Step == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	at := p.start.Add(e.At())
	switch st.Event {
	case "start":
		p.step, p.stepStart = st.Step, at
		if !p.tty {
			p.line(at, st.Step)
		}
	case "end":
		if !p.tty {
			v := st.Verdict
			if st.Error != "" {
				v += ": " + oneLine(st.Error, 160)
			}
			p.line(at, fmt.Sprintf("%s — %s in %s", st.Step, v, round(at.Sub(p.stepStart))))
		} else if st.Verdict != "pass" {
			p.clear()
			fmt.Fprintf(p.w, "%s✘ %s: %s\n", p.prefix, st.Step, oneLine(st.Error, 200))
		}
		p.step = ""
	}
}

func (p *Printer) observe(what string, start, deadline time.Time, done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done {
		for i := len(p.waits) - 1; i >= 0; i-- {
			if p.waits[i].what == what && p.waits[i].start.Equal(start) {
				p.waits = append(p.waits[:i], p.waits[i+1:]...)
				break
			}
		}
		return
	}
	p.waits = append(p.waits, wait{what, start, deadline})
	if !p.tty && !deadline.IsZero() && deadline.Sub(start) >= MinWaitLine {
		p.line(start, fmt.Sprintf("  waiting for %s (up to %s)", what, round(deadline.Sub(start))))
	}
}

// line writes a plain timestamped line; p.mu is held.
func (p *Printer) line(at time.Time, s string) {
	fmt.Fprintf(p.w, "%s %s+%6.2fs %s\n", at.Format("15:04:05.000"), p.prefix, at.Sub(p.start).Seconds(), s)
}

func (p *Printer) redraw() {
	defer close(p.done)
	t := time.NewTicker(Redraw)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.mu.Lock()
			p.clear()
			p.mu.Unlock()
			return
		case <-t.C:
			p.mu.Lock()
			if s := p.status(p.now()); s != "" {
				fmt.Fprintf(p.w, "\r\033[K%s", s)
				p.drawn = true
			}
			p.mu.Unlock()
		}
	}
}

func (p *Printer) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// status is the terminal line at now; p.mu is held.
func (p *Printer) status(now time.Time) string {
	if p.step == "" {
		return ""
	}
	s := fmt.Sprintf("%s▶ %s  %s (drill %s)", p.prefix, oneLine(p.step, 70), round(now.Sub(p.stepStart)), round(now.Sub(p.start)))
	if n := len(p.waits); n > 0 {
		w := p.waits[n-1]
		s += " — waiting for " + oneLine(w.what, 60)
		if !w.deadline.IsZero() {
			s += fmt.Sprintf(" (%s of %s)", round(now.Sub(w.start)), round(w.deadline.Sub(w.start)))
		}
	}
	return s
}

func round(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
