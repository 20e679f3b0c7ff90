package poll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestUntilReturnsOnceDone(t *testing.T) {
	n := 0
	err := Until(context.Background(), "three probes", time.Millisecond, time.Second, func(context.Context) (bool, string, error) {
		n++
		return n == 3, "", nil
	})
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d probes, want nil after 3", err, n)
	}
}

func TestUntilGivesUpSayingWhatItSaw(t *testing.T) {
	err := Until(context.Background(), "IO thread Yes", time.Millisecond, 20*time.Millisecond, func(context.Context) (bool, string, error) {
		return false, "IO Connecting", nil
	})
	var te *TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a *TimeoutError wrapping DeadlineExceeded", err)
	}
	for _, want := range []string{"for IO thread Yes", "last saw: IO Connecting"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A probe cut short by the deadline sees only the deadline; the error says
// what the probe before it saw. When no probe finished in time, the cut
// one's observation is all there is, and it is kept.
func TestUntilKeepsWhatAProbeSawBeforeTheDeadline(t *testing.T) {
	n := 0
	err := Until(context.Background(), "connection loaded", time.Millisecond, 30*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if n++; n == 1 {
			return false, "connection not loaded", nil
		}
		<-ctx.Done()
		return false, "dial unix: i/o timeout", nil
	})
	if err == nil || !strings.HasSuffix(err.Error(), "last saw: connection not loaded") {
		t.Errorf("err = %v, want the observation made before the deadline", err)
	}
	err = Until(context.Background(), "connection loaded", time.Millisecond, 30*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		<-ctx.Done()
		return false, "dial unix: i/o timeout", nil
	})
	if err == nil || !strings.HasSuffix(err.Error(), "last saw: dial unix: i/o timeout") {
		t.Errorf("err = %v, want the only observation there was", err)
	}
}

func TestUntilStopsOnProbeError(t *testing.T) {
	boom := errors.New("boom")
	err := Until(context.Background(), "x", time.Millisecond, time.Second, func(context.Context) (bool, string, error) { return false, "", boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestUntilHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Until(ctx, "never", time.Millisecond, 0, func(context.Context) (bool, string, error) { return false, "still no", nil })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "still no") {
		t.Fatalf("err = %v, want canceled with the last seen value", err)
	}
}

func TestValueKeepsLast(t *testing.T) {
	n := 0
	v, err := Value(context.Background(), "n=2", time.Millisecond, time.Second, func(context.Context) (int, bool, string, error) {
		n++
		return n, n == 2, "", nil
	})
	if err != nil || v != 2 {
		t.Fatalf("v=%d err=%v", v, err)
	}
}

func TestHoldIsAnnouncedAndHonoursCancel(t *testing.T) {
	var heard []string
	ctx := WithObserver(context.Background(), func(what string, start, deadline time.Time, done bool) {
		heard = append(heard, fmt.Sprintf("%s %v %v", what, deadline.Sub(start), done))
	})
	if err := Hold(ctx, "the TTL", 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if strings.Join(heard, "|") != "the TTL 5ms false|the TTL 5ms true" {
		t.Fatalf("observer heard %q", heard)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Hold(cctx, "forever", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled hold returned %v", err)
	}
}
