package workload

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// SteadyConfig shapes a steady load. Zero values take the defaults.
type SteadyConfig struct {
	Conns   int           // connections, one writer each (default 4)
	Rate    float64       // target rows/s across all connections (default 300)
	Timeout time.Duration // per statement (default DefaultTimeout)
	Phase   Phase         // initial phase (default PhaseBefore)
	MaxRows int64         // stop by itself after this many attempts (0 = until stopped)
}

// Stats are a steady writer's counters. Attempted = Acked + Failed + Unknown
// once it has stopped.
type Stats struct {
	Attempted int64         `json:"attempted"`
	Acked     int64         `json:"acked"`
	Failed    int64         `json:"failed"`
	Unknown   int64         `json:"unknown"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// Rate is the achieved acknowledged rows per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Acked) / s.Elapsed.Seconds()
}

// Steady writes at a paced rate over several connections until its context
// is cancelled, Stop is called, or MaxRows attempts have been made. Each
// connection is one writer with its own seq; each write is tagged with the
// phase current when it is sent. It never retries: an unknown outcome is
// recorded and the next tick writes the next seq.
type Steady struct {
	w           *Workload
	db          *sql.DB
	cfg         SteadyConfig
	firstWriter int

	phase                             atomic.Value // Phase
	reserved                          atomic.Int64
	attempted, acked, failed, unknown atomic.Int64

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
	start   time.Time
	end     time.Time
}

// NewSteady prepares a steady writer on db; it takes cfg.Conns writer numbers.
func (w *Workload) NewSteady(db *sql.DB, cfg SteadyConfig) *Steady {
	if cfg.Conns <= 0 {
		cfg.Conns = 4
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 300
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Phase == "" {
		cfg.Phase = PhaseBefore
	}
	s := &Steady{w: w, db: db, cfg: cfg, firstWriter: w.takeWriters(cfg.Conns), done: make(chan struct{})}
	s.phase.Store(cfg.Phase)
	return s
}

// Writers are the writer numbers this Steady uses, [first, first+n).
func (s *Steady) Writers() (first, n int) { return s.firstWriter, s.cfg.Conns }

// SetPhase tags the writes sent from now on with p.
func (s *Steady) SetPhase(p Phase) {
	s.phase.Store(p)
	s.w.note(map[string]any{"event": "phase", "phase": string(p), "writers": s.writerRange()})
}

// Phase is the phase new writes are tagged with.
func (s *Steady) Phase() Phase { return s.phase.Load().(Phase) }

// Stats returns the counters so far.
func (s *Steady) Stats() Stats {
	s.mu.Lock()
	start, end := s.start, s.end
	s.mu.Unlock()
	st := Stats{Attempted: s.attempted.Load(), Acked: s.acked.Load(), Failed: s.failed.Load(), Unknown: s.unknown.Load()}
	switch {
	case start.IsZero():
	case end.IsZero():
		st.Elapsed = time.Since(start)
	default:
		st.Elapsed = end.Sub(start)
	}
	return st
}

// Start runs the writer in the background; Stop or Wait collects it.
func (s *Steady) Start(ctx context.Context) {
	ready := make(chan struct{})
	go func() {
		s.run(ctx, ready)
	}()
	<-ready
}

// Run writes until ctx is cancelled, Stop is called or MaxRows is reached,
// then returns the final counters. A Steady runs once; later runs return at
// once.
func (s *Steady) Run(ctx context.Context) Stats {
	s.run(ctx, nil)
	return s.Stats()
}

// Stop ends the run (writes in flight finish, bounded by the statement
// timeout) and returns the final counters. It is safe to call more than once
// and before Start.
func (s *Steady) Stop() Stats {
	s.mu.Lock()
	s.stopped = true
	cancel, started := s.cancel, s.started
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if started {
		<-s.done
	}
	return s.Stats()
}

// Wait blocks until the run ends by itself (MaxRows, ctx) and returns the
// final counters.
func (s *Steady) Wait() Stats {
	<-s.done
	return s.Stats()
}

// Done is closed when the run has ended.
func (s *Steady) Done() <-chan struct{} { return s.done }

func (s *Steady) run(ctx context.Context, ready chan<- struct{}) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.started { // a Steady runs once
		s.mu.Unlock()
		if ready != nil {
			close(ready)
		}
		return
	}
	s.started, s.cancel, s.start = true, cancel, time.Now()
	if s.stopped {
		cancel()
	}
	s.mu.Unlock()
	if ready != nil {
		close(ready)
	}
	s.w.note(map[string]any{"event": "steady_start", "writers": s.writerRange(), "conns": s.cfg.Conns,
		"rate": s.cfg.Rate, "phase": string(s.Phase())})

	interval := time.Duration(float64(time.Second) * float64(s.cfg.Conns) / s.cfg.Rate)
	if interval <= 0 {
		interval = time.Microsecond
	}
	var wg sync.WaitGroup
	for i := range s.cfg.Conns {
		wg.Go(func() { s.writer(ctx, cancel, s.firstWriter+i, interval) })
	}
	wg.Wait()

	s.mu.Lock()
	s.end = time.Now()
	s.mu.Unlock()
	st := s.Stats()
	s.w.note(map[string]any{"event": "steady_stop", "writers": s.writerRange(), "attempted": st.Attempted,
		"acked": st.Acked, "failed": st.Failed, "unknown": st.Unknown, "elapsed_ms": st.Elapsed.Milliseconds()})
	close(s.done)
}

// writer is one connection's loop, paced by its own ticker (a slow write
// drops ticks rather than queueing a burst).
func (s *Steady) writer(ctx context.Context, stopAll context.CancelFunc, writer int, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var c *wconn
	defer func() {
		if c != nil {
			c.close(false)
		}
	}()
	var seq int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n := s.reserved.Add(1); s.cfg.MaxRows > 0 && n > s.cfg.MaxRows {
			stopAll()
			return
		}
		seq++
		s.attempted.Add(1)
		// A write in flight is allowed to finish when the run is stopped,
		// so stopping does not manufacture unknown outcomes.
		opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
		var connErr error
		if c == nil {
			c, connErr = openConn(opCtx, s.db, s.w.Table)
		}
		phase := s.Phase()
		_, o, err := s.w.insert(opCtx, c, connErr, writer, seq, phase, fmt.Sprintf("steady_%s_w%d_%d", phase, writer, seq))
		cancel()
		switch o {
		case acked:
			s.acked.Add(1)
		case failed:
			s.failed.Add(1)
			if _, sent, _ := classify(err); c != nil && !sent {
				c.close(true) // driver.ErrBadConn: the connection is gone
				c = nil
			}
		default:
			s.unknown.Add(1)
			c.close(true) // the connection's state is unknown: never reuse it
			c = nil
		}
	}
}

func (s *Steady) writerRange() string {
	return fmt.Sprintf("%d-%d", s.firstWriter, s.firstWriter+s.cfg.Conns-1)
}
