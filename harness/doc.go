// Package harness runs drills. A drill (Scenario) gets a target.Target —
// what it may observe and change at each site — and an Env, where it
// records: its steps, checks, metrics, timeline and workload. Run executes
// a scenario, always undoes its faults with a fresh context (Env.Inject
// defers each fault's recovery), decides the verdict in one place
// (report.Decide) and turns the evidence into a report.
//
// Sub-packages, one concern each: target (the seam), tunnel (strongSwan
// over VICI), replica (MySQL/MariaDB), fault, workload, check, timeline,
// report, poll, lab (the embedded lab, one Target).
package harness
