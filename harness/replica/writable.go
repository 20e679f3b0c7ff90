package replica

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Writable sampling defaults.
const (
	// DefaultWritableEvery is the sampling interval when none is given.
	DefaultWritableEvery = 5 * time.Millisecond
	// WritableReadTimeout bounds one server's read in a round: a server
	// that does not answer makes that sample an error, not a stalled
	// watch.
	WritableReadTimeout = 2 * time.Second
)

// WritableRecord is what a [WritableWatch] saw: when each server was
// writable (@@read_only OFF, see [Conn.ReadOnly]) and every round in which
// two or more were.
//
// Times are the instants rounds began; every read of a round is sent at
// that instant, concurrently, and answers within the round.
type WritableRecord struct {
	Every time.Duration `json:"every_ns"`
	// Rounds counts completed rounds: rounds in which every server was
	// read. A round with a failed read does not count.
	Rounds int `json:"rounds"`
	// Changes are each server's transitions, its first sample included,
	// in the order seen.
	Changes []WritableChange `json:"changes"`
	// TwoWriters are the intervals in which a round saw two or more
	// servers writable; see [TwoWriters].
	TwoWriters []TwoWriters `json:"two_writers"`
	// Errors counts failed samples (one per server per round); a failed
	// read is neither writable nor read-only.
	Errors    int    `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// MaxGap is the longest time from the start of a completed round to
	// the start of the next completed one, or of the last round if none
	// completed after it: the resolution of what was seen. Failed reads
	// widen it (their rounds are not complete), a failing tail included.
	MaxGap time.Duration `json:"max_gap_ns"`
}

// WritableChange is one server's state as first seen, or a change of it.
type WritableChange struct {
	At       time.Time `json:"at"`
	Server   string    `json:"server"`
	Writable bool      `json:"writable"`
}

// TwoWriters is one interval in which two or more servers were writable:
// From is the first round that saw it, To the last round that still saw
// it, Servers every server writable in any of its rounds (sorted). A round
// in which two writers are possible only if a failed read was writable
// neither ends nor extends an interval: it could not tell.
type TwoWriters struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Servers []string  `json:"servers"`
}

// TwoWritersFor is how long two writers were seen, conservatively: per
// interval, To - From plus one Every (the round after To could have been
// the first that no longer saw it), so an interval seen in a single round
// counts one Every, never 0. The true overlap may still exceed this by up
// to MaxGap at either end.
func (r WritableRecord) TwoWritersFor() time.Duration {
	var d time.Duration
	for _, tw := range r.TwoWriters {
		d += tw.To.Sub(tw.From) + max(r.Every, time.Nanosecond)
	}
	return d
}

// WritableWatch samples the writable state of a set of servers until its
// context ends or Stop.
type WritableWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	names []string // sorted
	conns []*Conn  // by names

	mu   sync.Mutex
	rec  WritableRecord
	last []int8 // per server: unseen, writable, readOnly
	open int    // index in rec.TwoWriters of the interval still open, -1 if none
	prev time.Time
}

const (
	unseen int8 = iota
	writable
	readOnly
)

// WatchWritable samples @@read_only (and on MySQL super_read_only, through
// [Conn.ReadOnly]) of every server in servers (name → admin connection)
// every `every` (DefaultWritableEvery if ≤ 0), starting at once, until ctx
// ends or Stop. A round reads all servers concurrently, so that what it
// sees is one instant; a nil connection is a failed read. Rounds do not
// overlap: a slow one delays the next (MaxGap shows it).
func WatchWritable(ctx context.Context, servers map[string]*Conn, every time.Duration) *WritableWatch {
	if every <= 0 {
		every = DefaultWritableEvery
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &WritableWatch{cancel: cancel, done: make(chan struct{}), open: -1}
	for name := range servers {
		w.names = append(w.names, name)
	}
	slices.Sort(w.names)
	for _, name := range w.names {
		w.conns = append(w.conns, servers[name])
	}
	w.last = make([]int8, len(w.names))
	w.rec = WritableRecord{Every: every, Changes: []WritableChange{}, TwoWriters: []TwoWriters{}}
	go w.run(ctx, every)
	return w
}

// Stop ends the sampling, waits for the round in flight and returns the
// record. It is idempotent.
func (w *WritableWatch) Stop() WritableRecord {
	w.cancel()
	<-w.done
	return w.Record()
}

// Record is a copy of the record so far (safe while the watch runs).
func (w *WritableWatch) Record() WritableRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.rec
	r.Changes = slices.Clone(w.rec.Changes)
	r.TwoWriters = make([]TwoWriters, len(w.rec.TwoWriters))
	for i, tw := range w.rec.TwoWriters {
		tw.Servers = slices.Clone(tw.Servers)
		r.TwoWriters[i] = tw
	}
	return r
}

// sample is one server's read in a round.
type sample struct {
	readOnly bool
	err      error
}

func (w *WritableWatch) run(ctx context.Context, every time.Duration) {
	defer close(w.done)
	results := make([]sample, len(w.conns))
	var buf []int // indices of the servers writable in a round
	var wg sync.WaitGroup
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		at := time.Now()
		for i, c := range w.conns {
			wg.Add(1)
			go w.read(ctx, c, &results[i], &wg)
		}
		wg.Wait()
		if ctx.Err() != nil {
			return // reads cut short by the watch's own end are no evidence
		}
		buf = w.round(at, results, buf[:0])
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *WritableWatch) read(ctx context.Context, c *Conn, s *sample, wg *sync.WaitGroup) {
	defer wg.Done()
	if c == nil {
		s.readOnly, s.err = false, errNoConn
		return
	}
	ctx, cancel := context.WithTimeout(ctx, WritableReadTimeout)
	s.readOnly, s.err = c.ReadOnly(ctx)
	cancel()
}

var errNoConn = errors.New("no connection")

// round records one round's samples, taken at at; buf is scratch space,
// returned for reuse.
func (w *WritableWatch) round(at time.Time, results []sample, buf []int) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	failed := 0
	for i, s := range results {
		if s.err != nil {
			failed++
			w.rec.Errors++
			w.rec.LastError = w.names[i] + ": " + s.err.Error()
			continue
		}
		st := writable
		if s.readOnly {
			st = readOnly
		}
		if st != w.last[i] {
			w.last[i] = st
			w.rec.Changes = append(w.rec.Changes, WritableChange{At: at, Server: w.names[i], Writable: st == writable})
		}
		if st == writable {
			buf = append(buf, i)
		}
	}
	if !w.prev.IsZero() {
		w.rec.MaxGap = max(w.rec.MaxGap, at.Sub(w.prev))
	}
	if failed == 0 {
		w.rec.Rounds++
		w.prev = at
	}
	switch {
	case len(buf) >= 2 && w.open >= 0:
		tw := &w.rec.TwoWriters[w.open]
		tw.To = at
		for _, i := range buf {
			if !slices.Contains(tw.Servers, w.names[i]) {
				tw.Servers = append(tw.Servers, w.names[i])
				slices.Sort(tw.Servers)
			}
		}
	case len(buf) >= 2:
		servers := make([]string, len(buf))
		for j, i := range buf {
			servers[j] = w.names[i] // names are sorted, so is servers
		}
		w.rec.TwoWriters = append(w.rec.TwoWriters, TwoWriters{From: at, To: at, Servers: servers})
		w.open = len(w.rec.TwoWriters) - 1
	case len(buf)+failed < 2:
		w.open = -1 // fewer than two writable even if every failed read were: it ended
	}
	return buf
}
