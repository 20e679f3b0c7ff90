package suite

import (
	"context"
	"sync"
)

// Execute runs the jobs on parallel workers, each job by run, and returns
// their runs in job order; done (if not nil) is called as each finishes,
// one call at a time. Once ctx is cancelled no job starts: the ones left
// are Skipped (the running ones get ctx and finish their own cleanup).
func Execute(ctx context.Context, jobs []Job, parallel int, run func(ctx context.Context, j Job) Run, done func(Run)) []Run {
	parallel = max(1, min(parallel, len(jobs)))
	out := make([]Run, len(jobs))
	next := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := run(ctx, jobs[i])
				out[i] = r
				if done != nil {
					mu.Lock()
					done(r)
					mu.Unlock()
				}
			}
		}()
	}
	i := 0
feed:
	for ; i < len(jobs); i++ {
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for ; i < len(jobs); i++ {
		out[i] = Skipped(jobs[i])
	}
	return out
}
