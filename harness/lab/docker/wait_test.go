package docker

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
)

// A wait that gives up says what it waited for, what it last saw and the logs, and unwraps to
// the context's error.
func TestDockerWaitGivesUpSayingWhatItSaw(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	sock := filepath.Join(t.TempDir(), "never.sock")
	err := waitSocket(ctx, nil, "", "aws-gw", sock, "charon's VICI socket", "")
	var te *poll.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a *poll.TimeoutError wrapping DeadlineExceeded", err)
	}
	for _, want := range []string{"docker lab: ", "for charon's VICI socket " + sock + " on aws-gw", "last saw: dial unix " + sock, "no log lines from container aws-gw"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A probe's own error ends the wait at once, as it is.
func TestDockerWaitStopsOnProbeError(t *testing.T) {
	boom := errors.New("boom")
	start := time.Now()
	err := wait(context.Background(), "x", func(context.Context) (bool, string, error) { return false, "", boom }, nil)
	if err != boom {
		t.Errorf("err = %v, want boom itself", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s", d)
	}
}
