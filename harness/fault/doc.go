// Package fault is what a drill breaks on purpose. A Fault has a small
// lifecycle — Inject, then Recover — and Recover always runs: drills call it
// from a defer with a fresh context, whatever happened in between (failed
// check, panic, SIGINT, timeout). Faults register by name in init(), and a
// drill finds them with Lookup.
package fault
