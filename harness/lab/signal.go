package lab

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Labs this process is bringing up or has up, so that an interrupted test
// binary can still take them down (t.Cleanup does not run on SIGINT).
var live struct {
	sync.Mutex
	dirs map[string]Backend
}

func track(dir string, b Backend) {
	live.Lock()
	defer live.Unlock()
	if live.dirs == nil {
		live.dirs = map[string]Backend{}
	}
	live.dirs[dir] = b
}

func untrack(dir string) {
	live.Lock()
	defer live.Unlock()
	delete(live.dirs, dir)
}

// TeardownOnSignal makes SIGINT and SIGTERM take down every lab this process
// brought up, then exit (status 130). Test binaries call it from TestMain:
// go test forwards ^C to them and t.Cleanup would not run. The CLI does not
// use it: it cancels its context and cleans up in order instead.
func TeardownOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		live.Lock()
		dirs := live.dirs
		live.dirs = nil
		live.Unlock()
		for dir, b := range dirs {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := Down(ctx, dir, map[string]Backend{b.Name(): b}); err != nil {
				fmt.Fprintf(os.Stderr, "drdrill: %v: lab down %s: %v\n", sig, dir, err)
			} else {
				fmt.Fprintf(os.Stderr, "drdrill: %v: took the lab at %s down\n", sig, dir)
			}
			cancel()
		}
		os.Exit(130)
	}()
}
