package scenarios

import (
	"flag"
	"os"
	"strconv"
	"testing"

	"github.com/drdrill/drdrill/harness/lab"
	_ "github.com/drdrill/drdrill/harness/lab/docker" // registers the docker backend
)

// drillParallel is how many drills run at once unless -parallel is given
// (go test's default is GOMAXPROCS, 2 here). A drill mostly waits on its
// replica's timings (net timeout, connect retry, DPD) and uses a few
// percent of a core meanwhile; what costs CPU is a lab's up (~0.4 s of CPU).
const drillParallel = 8

// TestMain takes every lab down if the test binary is interrupted (^C):
// t.Cleanup does not run then. It runs drillParallel drills at once unless
// -parallel says otherwise.
func TestMain(m *testing.M) {
	lab.TeardownOnSignal()
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(drillParallel))
	}
	os.Exit(m.Run())
}
