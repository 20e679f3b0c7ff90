package poll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Probe looks once. done ends the wait; seen describes what it saw (kept
// for the error when the wait gives up); a non-nil err ends the wait with
// that error (a transient failure should be reported in seen instead).
type Probe func(ctx context.Context) (done bool, seen string, err error)

// TimeoutError is a wait that gave up: its deadline passed (or its context
// ended) before the condition held.
type TimeoutError struct {
	What  string        // what was waited for
	Seen  string        // what the last probe that finished in time saw
	After time.Duration // how long it waited
	Cause error         // context.DeadlineExceeded or context.Canceled
}

func (e *TimeoutError) Error() string {
	s := fmt.Sprintf("waited %.2fs for %s", e.After.Seconds(), e.What)
	if e.Seen != "" {
		s += "; last saw: " + e.Seen
	}
	return s
}

func (e *TimeoutError) Unwrap() error { return e.Cause }

// Until probes at once and then every interval until the probe is done.
// timeout > 0 bounds the wait (in addition to ctx). It returns nil once the
// condition held, the probe's error, or a *TimeoutError.
func Until(ctx context.Context, what string, interval, timeout time.Duration, probe Probe) error {
	start := time.Now()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if o, ok := ctx.Value(observerKey{}).(Observer); ok {
		deadline, _ := ctx.Deadline()
		o(what, start, deadline, false)
		defer o(what, start, deadline, true)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var seen string
	for {
		done, s, err := probe(ctx)
		// A probe the deadline cut short saw only the deadline ("i/o
		// timeout", "context deadline exceeded"): the error keeps what the
		// probe before it saw, when there was one.
		if s != "" && (ctx.Err() == nil || seen == "") {
			seen = s
		}
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return &TimeoutError{What: what, Seen: seen, After: time.Since(start), Cause: ctx.Err()}
			}
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return &TimeoutError{What: what, Seen: seen, After: time.Since(start), Cause: ctx.Err()}
		case <-t.C:
		}
	}
}

// Value is Until for a probe that also yields the value it saw: the last
// value is returned whether or not the wait succeeded.
func Value[T any](ctx context.Context, what string, interval, timeout time.Duration, probe func(ctx context.Context) (v T, done bool, seen string, err error)) (T, error) {
	var last T
	err := Until(ctx, what, interval, timeout, func(ctx context.Context) (bool, string, error) {
		v, done, seen, err := probe(ctx)
		if err == nil {
			last = v
		}
		return done, seen, err
	})
	return last, err
}

// Observer hears every wait that starts (done false) and ends (done true)
// under a context: what it waits for, since when, and its deadline (zero:
// none). Live progress shows it.
type Observer func(what string, start, deadline time.Time, done bool)

type observerKey struct{}

// WithObserver returns ctx with o hearing the waits made under it.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// Hold waits d on purpose: a declared wait that no condition can end early
// (a DNS TTL running out, a runbook's detection time, a hold the drill is
// asked for). Live progress shows it like any other wait. It returns nil
// after d, or ctx's error when ctx ends first.
func Hold(ctx context.Context, what string, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	start := time.Now()
	if o, ok := ctx.Value(observerKey{}).(Observer); ok {
		o(what, start, start.Add(d), false)
		defer o(what, start, start.Add(d), true)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
