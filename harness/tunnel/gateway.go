package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strongswan/govici/vici"
)

// Typed outcomes callers branch on.
var (
	// ErrNoMatchingSA: terminate found no SA to terminate (already down).
	ErrNoMatchingSA = errors.New("no matching SAs")
	// ErrDuplicateChild: initiate refused because an identical CHILD SA is
	// already installed (charon: "not establishing CHILD_SA … due to existing
	// duplicate").
	ErrDuplicateChild = errors.New("duplicate CHILD_SA already installed")
	// ErrPeerNotResponding: the IKE exchange timed out after retransmits.
	ErrPeerNotResponding = errors.New("peer not responding")
	// ErrDeleteUnanswered: a forced terminate that charon reports as
	// "terminating SA failed" because the peer never answered the DELETE,
	// although the SA is gone locally (checked with list-sas).
	ErrDeleteUnanswered = errors.New("DELETE unanswered, SA removed anyway")
)

// CommandError is a VICI command that charon answered with success=no.
type CommandError struct {
	Gateway string
	Command string
	Msg     string   // charon's errmsg
	Log     []string // control-log lines charon streamed during the command
	kind    error
}

func (e *CommandError) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Gateway, e.Command, e.Msg)
	if e.kind != nil && !strings.Contains(e.Msg, e.kind.Error()) {
		s += " (" + e.kind.Error() + ")"
	}
	return s
}

func (e *CommandError) Unwrap() error { return e.kind }

// Gateway is one charon reached over VICI. Methods are safe for concurrent
// use; a session broken by a charon restart is re-dialled once per call.
type Gateway struct {
	name   string
	dialer Dialer

	mu       sync.Mutex
	sess     *vici.Session
	streamMu sync.Mutex // one streamed command at a time: events are per session

	// CallTimeout bounds each command that has no deadline of its own.
	CallTimeout time.Duration
}

// Open connects to a gateway and checks that charon answers `version`.
func Open(ctx context.Context, name string, d Dialer) (*Gateway, error) {
	g := &Gateway{name: name, dialer: d, CallTimeout: 10 * time.Second}
	if _, err := g.Version(ctx); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// Name is the gateway's name in reports ("aws", "onprem").
func (g *Gateway) Name() string { return g.name }

// Endpoint names the VICI endpoint.
func (g *Gateway) Endpoint() string { return g.dialer.String() }

// Close ends the VICI session.
func (g *Gateway) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sess == nil {
		return nil
	}
	err := g.sess.Close()
	g.sess = nil
	return err
}

func newSession(ctx context.Context, d Dialer) (*vici.Session, error) {
	return vici.NewSession(vici.WithDialContext(func(context.Context, string, string) (net.Conn, error) {
		return d.Dial(ctx)
	}))
}

func (g *Gateway) session(ctx context.Context) (*vici.Session, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sess != nil {
		return g.sess, nil
	}
	s, err := newSession(ctx, g.dialer)
	if err != nil {
		return nil, fmt.Errorf("connect to %s gateway at %s: %w", g.name, g.dialer, err)
	}
	g.sess = s
	return s, nil
}

func (g *Gateway) dropSession(s *vici.Session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sess == s {
		g.sess.Close()
		g.sess = nil
	}
}

// redial reports whether a failed command should be sent again on a new
// session: the connection broke (charon restarted) and the caller's context
// still has time. A command the context cut short leaves its answer
// unread on the session, so that session is dropped either way; dialling
// again with the expired context would only replace the command's error
// with the dial's "i/o timeout".
func (g *Gateway) redial(ctx context.Context, s *vici.Session, err error, attempt int) bool {
	if ctx.Err() != nil {
		g.dropSession(s)
		return false
	}
	if attempt == 0 && transportBroken(err) {
		g.dropSession(s)
		return true
	}
	return false
}

// transportBroken reports an error of the connection, not of the command.
// A context's deadline counts too (context.DeadlineExceeded is a
// net.Error), which is why redial looks at the context first.
func transportBroken(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrClosedPipe) || errors.As(err, &ne) ||
		strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "connection reset")
}

func (g *Gateway) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || g.CallTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, g.CallTimeout)
}

// call runs a command, re-dialling once if the session had broken (charon
// restarted since the last call).
func (g *Gateway) call(ctx context.Context, cmd string, in *vici.Message) (*vici.Message, error) {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		s, err := g.session(ctx)
		if err != nil {
			return nil, err
		}
		out, err := s.Call(ctx, cmd, in)
		if err != nil && out == nil && g.redial(ctx, s, err, attempt) {
			continue
		}
		if err != nil {
			if out != nil {
				return out, g.commandError(cmd, out, nil)
			}
			return nil, fmt.Errorf("%s %s: %w", g.name, cmd, err)
		}
		return out, nil
	}
}

// stream runs a streamed command (list-sas, initiate, terminate) and returns
// the events it streamed, in order.
//
// govici v0.8's own CallStreaming loses events: its wait() selects between
// the event and the response channels, and when both are ready Go picks one
// at random, so the final response can win and the list-sa event that came
// before it is dropped (seen here as "no IKE SA" on about one call in two;
// the dropped event then shows up in the next streamed call). Instead we
// subscribe to the event and register a channel of our own: govici's listen
// loop dispatches each event to it synchronously before it hands over the
// response, so once Call returns every event of this command is in ch.
func (g *Gateway) stream(ctx context.Context, cmd, event string, in *vici.Message) ([]*vici.Message, *vici.Message, error) {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	g.streamMu.Lock()
	defer g.streamMu.Unlock()
	for attempt := 0; ; attempt++ {
		s, err := g.session(ctx)
		if err != nil {
			return nil, nil, err
		}
		if err := s.Subscribe(event); err != nil {
			if g.redial(ctx, s, err, attempt) {
				continue
			}
			return nil, nil, fmt.Errorf("%s subscribe %s: %w", g.name, event, err)
		}
		ch := make(chan vici.Event, 4096)
		s.NotifyEvents(ch)
		out, callErr := s.Call(ctx, cmd, in)
		s.StopEvents(ch)
		var evs []*vici.Message
	drain:
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					break drain
				}
				if ev.Name == event {
					evs = append(evs, ev.Message)
				}
			default:
				break drain
			}
		}
		if callErr != nil && out == nil && g.redial(ctx, s, callErr, attempt) {
			continue
		}
		if callErr != nil {
			if out != nil {
				return evs, out, g.commandError(cmd, out, evs)
			}
			return evs, nil, fmt.Errorf("%s %s: %w", g.name, cmd, callErr)
		}
		return evs, out, nil
	}
}

func logLines(evs []*vici.Message) []string {
	var out []string
	for _, m := range evs {
		if msg, ok := m.Get("msg").(string); ok {
			out = append(out, msg)
		}
	}
	return out
}

func (g *Gateway) commandError(cmd string, m *vici.Message, evs []*vici.Message) error {
	msg, _ := m.Get("errmsg").(string)
	e := &CommandError{Gateway: g.name, Command: cmd, Msg: msg, Log: logLines(evs)}
	e.kind = classify(msg, e.Log)
	return e
}

// classify maps charon's wording onto the typed outcomes.
func classify(errmsg string, log []string) error {
	all := strings.ToLower(errmsg + "\n" + strings.Join(log, "\n"))
	switch {
	case strings.Contains(all, "no matching sas"):
		return ErrNoMatchingSA
	case strings.Contains(all, "due to existing duplicate"):
		return ErrDuplicateChild
	case strings.Contains(all, "giving up after") && strings.Contains(all, "retransmit"),
		strings.Contains(all, "peer not responding"):
		return ErrPeerNotResponding
	}
	return nil
}

// Version returns charon's version answer (daemon, version, sysname, …).
func (g *Gateway) Version(ctx context.Context) (map[string]string, error) {
	m, err := g.call(ctx, "version", nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range m.Keys() {
		if v, ok := m.Get(k).(string); ok {
			out[k] = v
		}
	}
	return out, nil
}

// UpResult describes a successful initiate.
type UpResult struct {
	Log []string // control-log lines
}

// Up initiates the CHILD SA child of connection ike and waits until it is
// established or timeout passes. An already-installed duplicate is returned
// as an error wrapping ErrDuplicateChild.
func (g *Gateway) Up(ctx context.Context, ike, child string, timeout time.Duration) (UpResult, error) {
	in := vici.NewMessage()
	set(in, "child", child)
	set(in, "ike", ike)
	set(in, "timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	set(in, "init-limits", "no")
	set(in, "loglevel", "1")
	ctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	defer cancel()
	evs, _, err := g.stream(ctx, "initiate", "control-log", in)
	return UpResult{Log: logLines(evs)}, err
}

// DownResult describes a terminate.
type DownResult struct {
	Log []string
}

// Down terminates the IKE SA of connection ike (and with it its CHILD SAs).
// It sends a DELETE and waits up to timeout for the peer's answer, then
// deletes the SA locally anyway (force), so a dead peer cannot stall a drill.
// Nothing to terminate is an error wrapping ErrNoMatchingSA.
func (g *Gateway) Down(ctx context.Context, ike string, timeout time.Duration) (DownResult, error) {
	in := vici.NewMessage()
	set(in, "ike", ike)
	set(in, "force", "yes")
	set(in, "timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	set(in, "loglevel", "1")
	ctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	defer cancel()
	evs, _, err := g.stream(ctx, "terminate", "control-log", in)
	var ce *CommandError
	if errors.As(err, &ce) && ce.kind == nil {
		// A forced terminate whose DELETE the peer never answered fails
		// ("terminating SA failed") though the SA is destroyed: if it is
		// gone, that is the outcome asked for.
		if st, serr := g.State(ctx, ike); serr == nil && len(st.IKESAs) == 0 {
			ce.kind = ErrDeleteUnanswered
		}
	}
	return DownResult{Log: logLines(evs)}, err
}

// State lists the SAs of connection ike ("" for all).
func (g *Gateway) State(ctx context.Context, ike string) (State, error) {
	in := vici.NewMessage()
	if ike != "" {
		set(in, "ike", ike)
	}
	// Blocking: a non-blocking list skips an IKE SA another job holds (a
	// DPD exchange), and a healthy tunnel reads as "no IKE SA"
	// (docs/findings.md#list-sas-noblock).
	set(in, "noblock", "no")
	evs, _, err := g.stream(ctx, "list-sas", "list-sa", in)
	if err != nil {
		return State{}, err
	}
	st := State{Gateway: g.name, Connection: ike, ObservedAt: time.Now()}
	for _, m := range evs {
		st.IKESAs = append(st.IKESAs, parseIKESAs(m)...)
	}
	return st, nil
}

func set(m *vici.Message, k string, v any) {
	if err := m.Set(k, v); err != nil {
		panic(fmt.Sprintf("vici message %s: %v", k, err)) // only string, []string, *Message are used
	}
}
