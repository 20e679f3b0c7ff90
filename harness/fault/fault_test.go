package fault

import (
	"context"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	if _, err := New("no-such-fault", nil); err == nil || !strings.Contains(err.Error(), `unknown fault "no-such-fault"`) {
		t.Fatalf("got %v", err)
	}
	if _, err := New("tunnel-down", struct{}{}); err == nil || !strings.Contains(err.Error(), "two gateways") {
		t.Fatalf("tunnel-down on a target without gateways: got %v", err)
	}
	f, err := New("none", nil)
	if err != nil || f.Inject(context.Background()) != nil || f.Recover(context.Background()) != nil {
		t.Fatalf("none: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a duplicate registration must panic")
		}
	}()
	Register("none", "again", nil)
}
