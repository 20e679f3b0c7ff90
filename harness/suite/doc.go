// Package suite is several drills, each run some number of times, and
// what the runs add up to: per drill the runs, passes, failures, errors,
// whether it is flaky (both passed and did not) and the p50/p95 of every
// metric; written as junit.xml (a testsuite per drill, a testcase per run),
// suite.json (drdrill.suite/v1) and suite.html, beside each run's own
// report dir (DIR/<scenario>/run-<n>/).
//
// A run that could not start (the lab did not come up, the target could not
// be opened) is an infrastructure error, told apart from a drill that ran
// and failed (fail) or could not run to its checks (error). Execute runs
// the jobs on N workers and starts nothing once its context is cancelled.
package suite
