package check

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSteadyStateRestored(t *testing.T) {
	if r := SteadyStateRestored(SteadyState{Window: time.Second}); !r.Passed() {
		t.Fatalf("all fine: %+v", r)
	}
	r := SteadyStateRestored(SteadyState{Tunnel: errors.New("onprem: no IKE SA"), CaughtUp: errors.New("waited 30s\nfor 0-1-5")})
	if r.Passed() || !strings.Contains(r.Observed, "tunnel: onprem: no IKE SA") || !strings.Contains(r.Observed, "catch-up: waited 30s for 0-1-5") || strings.Contains(r.Observed, "threads") {
		t.Fatalf("left behind: %+v", r)
	}
	if r := SteadyStateRestored(SteadyState{Threads: errors.New("IO Connecting")}); r.Passed() {
		t.Fatalf("threads down must fail: %+v", r)
	}
}

func TestFaultWithinMaxFault(t *testing.T) {
	if r := FaultWithinMaxFault("wan-blackhole", time.Minute, false); !r.Passed() {
		t.Fatalf("%+v", r)
	}
	if r := FaultWithinMaxFault("wan-blackhole", time.Minute, true); r.Passed() || !strings.Contains(r.Observed, "watchdog") {
		t.Fatalf("%+v", r)
	}
}
