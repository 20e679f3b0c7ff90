// Package harness is what scenarios and the CLI share: an Env (the sites,
// their tunnel and replica handles, the timeline, the workload) and Run,
// which executes a scenario step by step, always undoes its faults with a
// fresh context, and turns the evidence into a report.
//
// Sub-packages, one concern each: tunnel (strongSwan over VICI), replica
// (MySQL/MariaDB), fault, workload, check, timeline, report, lab.
package harness
