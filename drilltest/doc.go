// Package drilltest lets a team write DR drills of its own, in its own
// repository, as ordinary Go tests: a drill is a harness.Scenario (usually
// a short linear Run over the shared steps of package scenarios), Lab gives
// it a fresh embedded lab torn down in t.Cleanup, and Run runs it, keeps
// the report and fails the test with the drill's one-line diagnosis.
//
//	func TestOutageFromOnPrem(t *testing.T) {
//		drilltest.Run(t, myDrill, drilltest.Lab(t))
//	}
//
// The lab needs root (network namespaces) and strongSwan + MariaDB
// (`make deps`); DRDRILL_BACKEND=docker runs it in containers when the
// program links harness/lab/docker in.
package drilltest
