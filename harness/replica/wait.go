package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
)

// DefaultPoll is the poll interval used when a caller passes 0: fast
// enough to time-stamp a transition to within 50 ms.
const DefaultPoll = 25 * time.Millisecond

// ProbeTimeout bounds one status read inside a wait or a watch, so that a
// server that stopped answering delays the next poll by at most this long.
const ProbeTimeout = 5 * time.Second

// statusReader is what waits and watches poll; *Conn in production.
type statusReader interface {
	Status(ctx context.Context) (Status, error)
}

// StateWaitError is a wait that ended before its condition held. It says
// what was awaited and what was last seen; it unwraps to ctx's error.
type StateWaitError struct {
	Want    string        // what was awaited, e.g. "IO thread Yes"
	Last    Status        // the last status read (zero when none was)
	Seen    bool          // whether any status was read at all
	LastErr error         // the last poll error since the last good read, if any
	Waited  time.Duration // how long it waited
	Err     error         // why it stopped: ctx.Err()
}

func (e *StateWaitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wait for %s: gave up after %s", e.Want, e.Waited.Round(time.Millisecond))
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	if e.Seen {
		fmt.Fprintf(&b, "; last seen %s", e.Last)
	} else {
		b.WriteString("; no status was read")
	}
	if e.LastErr != nil {
		fmt.Fprintf(&b, "; last poll error: %v", e.LastErr)
	}
	return b.String()
}

func (e *StateWaitError) Unwrap() error { return e.Err }

// WaitIO polls until the IO thread is in one of the wanted states and
// returns that status. The caller bounds the wait with ctx; on expiry it
// returns the last status seen and a *StateWaitError naming the wanted
// states and the last IO state, errno and error text. Poll errors (a server
// briefly unreachable) do not end the wait.
func WaitIO(ctx context.Context, c *Conn, poll time.Duration, want ...IOState) (Status, error) {
	return waitIO(ctx, c, poll, want...)
}

func waitIO(ctx context.Context, r statusReader, poll time.Duration, want ...IOState) (Status, error) {
	if len(want) == 0 {
		return Status{}, errors.New("wait io: no state given")
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = string(w)
		if w == IONone {
			names[i] = "not configured"
		}
	}
	desc := "IO thread " + strings.Join(names, " or ")
	return waitFor(ctx, r, poll, desc, func(s Status) bool {
		for _, w := range want {
			if s.IO == w {
				return true
			}
		}
		return false
	})
}

// WaitSQLRunning polls until the SQL thread runs, like [WaitIO].
func WaitSQLRunning(ctx context.Context, c *Conn, poll time.Duration) (Status, error) {
	return waitFor(ctx, c, poll, "SQL thread Yes", func(s Status) bool { return s.SQLRunning })
}

// WaitFor polls until cond holds, like [WaitIO]; want describes the
// condition for the error ("replica caught up").
func WaitFor(ctx context.Context, c *Conn, poll time.Duration, want string, cond func(Status) bool) (Status, error) {
	return waitFor(ctx, c, poll, want, cond)
}

func waitFor(ctx context.Context, r statusReader, every time.Duration, want string, cond func(Status) bool) (Status, error) {
	if every <= 0 {
		every = DefaultPoll
	}
	var (
		last    Status
		seen    bool
		lastErr error
	)
	err := poll.Until(ctx, want, every, 0, func(ctx context.Context) (bool, string, error) {
		st, err := probe(ctx, r)
		switch {
		case err == nil:
			last, seen, lastErr = st, true, nil
			return cond(st), st.String(), nil
		case ctx.Err() == nil:
			lastErr = err // transient: a server briefly unreachable does not end the wait
			return false, "poll error: " + err.Error(), nil
		}
		return false, "", nil
	})
	var te *poll.TimeoutError
	if errors.As(err, &te) {
		return last, &StateWaitError{Want: want, Last: last, Seen: seen, LastErr: lastErr, Waited: te.After, Err: te.Cause}
	}
	return last, err
}

func probe(ctx context.Context, r statusReader) (Status, error) {
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	return r.Status(pctx)
}
