package lab

import (
	"context"
	"errors"
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
	dirs        map[string]Backend
	ups         sync.WaitGroup // Ups in flight
	interrupted bool
}

// interrupted is cancelled by TeardownOnSignal's handler: every Up in
// flight stops at its current step and takes down what it made.
var interrupted, interrupt = context.WithCancel(context.Background())

// beginUp tracks the lab an Up is about to make; done is called when that
// Up returns. Once the process is being interrupted no Up begins: with
// drills running in parallel, one may be about to bring its lab up.
func beginUp(dir string, b Backend) (done func(), err error) {
	live.Lock()
	defer live.Unlock()
	if live.interrupted {
		return nil, errors.New("lab up: interrupted: no lab is brought up any more")
	}
	if live.dirs == nil {
		live.dirs = map[string]Backend{}
	}
	live.dirs[dir] = b
	live.ups.Add(1)
	return live.ups.Done, nil
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
//
// Labs being brought up at that moment (parallel drills start theirs at
// any time) are not raced: their Up is cancelled, takes down what it made
// and returns before the handler takes down the labs that are up, and no
// Up begins afterwards.
func TeardownOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		live.Lock()
		live.interrupted = true
		live.Unlock()
		interrupt()
		ups := make(chan struct{})
		go func() { live.ups.Wait(); close(ups) }()
		select {
		case <-ups:
		case <-time.After(upCleanupTimeout):
			fmt.Fprintf(os.Stderr, "drdrill: %v: labs still being brought up after %s; taking every lab down anyway\n", sig, upCleanupTimeout)
		}
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

// upCleanupTimeout bounds the wait for cancelled Ups: Up's own cleanup is
// bounded by 30 s.
const upCleanupTimeout = 35 * time.Second
