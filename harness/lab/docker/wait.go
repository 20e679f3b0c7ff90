package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/moby/moby/client"

	"github.com/drdrill/drdrill/harness/poll"
)

const (
	// readyTimeout bounds every wait for a socket or a container when ctx has no earlier
	// deadline. A first start initialises two datadirs on 2 cores: seconds, not minutes.
	readyTimeout = 90 * time.Second
	pollEvery    = 20 * time.Millisecond
)

// wait polls probe every pollEvery (poll.Until) until it is done or fails, or until ctx's
// deadline (readyTimeout when ctx has none). When it gives up, the error says what it waited
// for and what the probe saw last, followed by logs() (the container's and the daemon's last
// log lines); it unwraps to a *poll.TimeoutError.
func wait(ctx context.Context, what string, probe poll.Probe, logs func() string) error {
	var timeout time.Duration // ctx's own deadline
	if _, ok := ctx.Deadline(); !ok {
		timeout = readyTimeout
	}
	err := poll.Until(ctx, what, pollEvery, timeout, probe)
	var te *poll.TimeoutError
	if !errors.As(err, &te) {
		return err
	}
	extra := ""
	if logs != nil {
		extra = logs()
	}
	return fmt.Errorf("docker lab: %w%s", err, extra)
}

// waitSocket waits until the unix socket at path accepts a connection. Every 10 polls it also
// checks that the container still runs, so that a daemon that died fails at once. Failures
// carry the container's last log lines and those of the daemon's own log file (logPath).
func waitSocket(ctx context.Context, cli *client.Client, cid, host, path, what, logPath string) error {
	n := 0
	logs := func() string { return logTail(ctx, cli, cid, host) + fileTail(logPath) }
	return wait(ctx, fmt.Sprintf("%s %s on %s", what, path, host), func(ctx context.Context) (bool, string, error) {
		c, err := net.DialTimeout("unix", path, 250*time.Millisecond)
		if err == nil {
			c.Close()
			return true, "", nil
		}
		seen := err.Error()
		if n++; n%10 == 0 && cid != "" {
			st, err := cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
			if err == nil && st.Container.State != nil {
				if !st.Container.State.Running {
					return false, seen, fmt.Errorf("docker lab: %s exited (code %d) before %s %s accepted connections%s",
						host, st.Container.State.ExitCode, what, path, logs())
				}
				seen += "; container " + string(st.Container.State.Status)
			}
		}
		return false, seen, nil
	}, logs)
}
