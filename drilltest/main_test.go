package drilltest_test

import (
	"os"
	"testing"

	"github.com/drdrill/drdrill/harness/lab"
)

// TestMain takes every lab down if the test binary is interrupted (^C):
// t.Cleanup does not run then.
func TestMain(m *testing.M) {
	lab.TeardownOnSignal()
	os.Exit(m.Run())
}
