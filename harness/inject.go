package harness

import (
	"context"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/fault"
)

// InjectTimeout bounds one fault's Inject.
const InjectTimeout = 30 * time.Second

// Injection is a fault a drill injected: its lifecycle, with the recovery
// state the deferred undo needs.
type Injection struct {
	Fault fault.Fault
	// At is when Inject was called.
	At time.Time

	env         *Env
	mu          sync.Mutex
	causeUndone bool
	steady      bool
}

// Inject injects f as a recorded step. Before anything happens it defers
// the fault's recovery (Recover, then WaitRecovered, each only if the drill
// did not get there itself) with a fresh context; from the inject until
// WaitRecovered succeeds the fault is in place, so that the diagnosis of a
// failure ignores the fault's own effect. Inject is bounded by
// InjectTimeout.
func (e *Env) Inject(ctx context.Context, step string, f fault.Fault) (*Injection, error) {
	in := &Injection{Fault: f, env: e}
	e.Defer("recover "+f.Name(), in.undo)
	e.faultIn(1)
	err := e.Step(ctx, step, func(ctx context.Context) error {
		ictx, cancel := context.WithTimeout(ctx, InjectTimeout)
		defer cancel()
		in.At = time.Now()
		return f.Inject(ictx)
	})
	return in, err
}

// WaitForEffect waits for the fault's own effect.
func (in *Injection) WaitForEffect(ctx context.Context) error { return in.Fault.WaitForEffect(ctx) }

// Recover undoes the cause.
func (in *Injection) Recover(ctx context.Context) error {
	err := in.Fault.Recover(ctx)
	if err == nil {
		in.mu.Lock()
		in.causeUndone = true
		in.mu.Unlock()
	}
	return err
}

// WaitRecovered waits for (or restores) steady state; once it succeeds the
// fault is no longer in place.
func (in *Injection) WaitRecovered(ctx context.Context) error {
	err := in.Fault.WaitRecovered(ctx)
	if err == nil {
		in.mu.Lock()
		first := !in.steady
		in.steady = true
		in.mu.Unlock()
		if first {
			in.env.faultIn(-1)
		}
	}
	return err
}

// undo is the deferred recovery: whatever the drill did not do.
func (in *Injection) undo(ctx context.Context) error {
	in.mu.Lock()
	cause, steady := in.causeUndone, in.steady
	in.mu.Unlock()
	if steady {
		return nil
	}
	if !cause {
		if err := in.Recover(ctx); err != nil {
			return err
		}
	}
	return in.WaitRecovered(ctx)
}
