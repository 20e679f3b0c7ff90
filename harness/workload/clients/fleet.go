package clients

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/workload"
)

// Fleet is a drill's clients, started, observed and stopped together.
type Fleet struct {
	Clients []*Client
	// App is the host each client runs on, by client name.
	App map[string]string

	stopOnce sync.Once
	stats    []Stats
}

// NewFleet builds one client per config; app names each one's host.
// Nothing is dialled until Start.
func NewFleet(cfgs []Config, app []string) (*Fleet, error) {
	if len(cfgs) != len(app) {
		return nil, fmt.Errorf("fleet: %d configs, %d app names", len(cfgs), len(app))
	}
	f := &Fleet{App: map[string]string{}}
	for i, cfg := range cfgs {
		if _, dup := f.App[cfg.Name]; dup {
			return nil, fmt.Errorf("fleet: two clients named %q", cfg.Name)
		}
		c, err := New(cfg)
		if err != nil {
			return nil, err
		}
		f.Clients = append(f.Clients, c)
		f.App[cfg.Name] = app[i]
	}
	return f, nil
}

// Start starts every client (long-lived pools are filled now: "opened
// before the fault"). On an error the clients already started are stopped.
func (f *Fleet) Start(ctx context.Context) error {
	for i, c := range f.Clients {
		if err := c.Start(ctx); err != nil {
			for _, s := range f.Clients[:i] {
				s.Stop()
			}
			return err
		}
	}
	return nil
}

// SetPhase tags every client's next writes.
func (f *Fleet) SetPhase(p workload.Phase) {
	for _, c := range f.Clients {
		c.SetPhase(p)
	}
}

// WaitAcked waits until every client that want selects has had a write
// acknowledged after since, or ctx ends; the error names the clients that
// had not and what each last saw.
func (f *Fleet) WaitAcked(ctx context.Context, what string, since time.Time, every time.Duration, want func(*Client) bool) error {
	return poll.Until(ctx, what, every, 0, func(context.Context) (bool, string, error) {
		var waiting []string
		for _, c := range f.Clients {
			if want != nil && !want(c) {
				continue
			}
			if at, _ := c.LastAck(); at.After(since) {
				continue
			}
			last := "no write acknowledged yet"
			if st := c.Stats(); st.LastFailure != nil {
				last = fmt.Sprintf("last failure %d: %s", st.LastFailure.Code, st.LastFailure.Err)
			}
			waiting = append(waiting, c.cfg.Name+" ("+last+")")
		}
		return len(waiting) == 0, strings.Join(waiting, "; "), nil
	})
}

// Stop stops every client (concurrently: each waits for its write in
// flight) and returns their stats in order. Idempotent.
func (f *Fleet) Stop() []Stats {
	f.stopOnce.Do(func() {
		f.stats = make([]Stats, len(f.Clients))
		var wg sync.WaitGroup
		for i, c := range f.Clients {
			wg.Go(func() { f.stats[i] = c.Stop() })
		}
		wg.Wait()
	})
	return f.stats
}

// Stats are the clients' current stats, in order.
func (f *Fleet) Stats() []Stats {
	out := make([]Stats, len(f.Clients))
	for i, c := range f.Clients {
		out[i] = c.Stats()
	}
	return out
}
