// Package scenarios holds the drills, one file each, and the registry that
// feeds both `go test ./scenarios` and `drdrill run`.
//
// # Adding a drill
//
// A drill is a spec and a short linear Run over the shared steps, the
// methods of [Drill] (steps.go: baseline, inject, write during the outage,
// hold until the replica shows it, recover, verify; steps_tunnel.go and
// steps_replica.go: DPD, self-healing, the documented order as a check,
// a stuck replica, a backlog):
//
//	func MyDrill() harness.Scenario {
//		return harness.Scenario{
//			Name:        "my-drill",
//			Description: "one line: what it breaks and what it proves",
//			Timeout:     2 * time.Minute,
//			Needs:       []target.Capability{target.CapExec}, // what the target must allow
//			Plan:        planMyDrill,                        // plans.go: steps, hosts, changes, windows
//			Run: func(ctx context.Context, t target.Target, env *harness.Env) error {
//				d := Begin(t, env)
//				if err := d.Baseline(ctx); err != nil {
//					return err
//				}
//				in, err := d.Inject(ctx, "step 1: ...", "wan-blackhole", nil)
//				...
//				return d.VerifyRecovery(ctx, VerifyOptions{})
//			},
//		}
//	}
//
//	func init() { Register(MyDrill()) }
//
// Rules the existing drills follow:
//   - A drill sees only the target.Target and the Env: never a lab file,
//     never package lab. What it needs beyond the basics is a capability
//     (Needs) or a fault parameter; test-only switches are spec options.
//   - Every fault goes through Drill.Inject (Env.Inject): its recovery is
//     journalled and deferred, so it runs on every path.
//   - Windows come from the live timings (env.Timings, Drill.IKETimings),
//     never constants; every wait is bounded and says what it saw.
//   - Every check has a pure function in harness/check with a test that
//     makes it fail, and the drill has tests for its failing paths
//     (scenarios_test.go shows how: a fresh lab per test, a fault that has
//     no effect, a damaged replica via VerifyOptions.BeforeVerify).
//   - What the lab taught goes to docs/findings.md, keyed to its test.
//
// Teams write drills of their own outside this package the same way, with
// package drilltest.
package scenarios
