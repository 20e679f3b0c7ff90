package docker

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/moby/moby/client"
)

const (
	// readyTimeout bounds every wait for a socket or a container when ctx has no earlier
	// deadline. A first start initialises two datadirs on 2 cores: seconds, not minutes.
	readyTimeout = 90 * time.Second
	pollEvery    = 20 * time.Millisecond
)

// wait calls cond every pollEvery until it is done or fails, or until ctx's deadline
// (readyTimeout when ctx has none). The timeout error names what it waited for.
func wait(ctx context.Context, what string, cond func() (bool, error), onTimeout func() string) error {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	start := time.Now()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		done, err := cond()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			extra := ""
			if onTimeout != nil {
				extra = onTimeout()
			}
			return fmt.Errorf("docker lab: gave up after %s waiting for %s: %w%s", time.Since(start).Round(time.Millisecond), what, ctx.Err(), extra)
		case <-t.C:
		}
	}
}

func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, readyTimeout)
}

// waitSocket waits until the unix socket at path accepts a connection. Every 10 polls it also
// checks that the container still runs, so that a daemon that died fails at once. Failures
// carry the container's last log lines and those of the daemon's own log file (logPath).
func waitSocket(ctx context.Context, cli *client.Client, cid, host, path, what, logPath string) error {
	n := 0
	logs := func() string { return logTail(ctx, cli, cid, host) + fileTail(logPath) }
	return wait(ctx, fmt.Sprintf("%s %s on %s", what, path, host), func() (bool, error) {
		if c, err := net.DialTimeout("unix", path, 250*time.Millisecond); err == nil {
			c.Close()
			return true, nil
		}
		if n++; n%10 == 0 && cid != "" {
			st, err := cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
			if err == nil && st.Container.State != nil && !st.Container.State.Running {
				return false, fmt.Errorf("docker lab: %s exited (code %d) before %s %s accepted connections%s",
					host, st.Container.State.ExitCode, what, path, logs())
			}
		}
		return false, nil
	}, logs)
}
