// Package workload writes the drill's rows to the primary and keeps the
// ledger of what the primary acknowledged, so that checks can compare it
// with what the replica holds.
//
// Every row carries the drill id, a writer number and a per-writer sequence
// (see Schema), so a row on any server can be traced to exactly one write.
// Rows written by hand without them (the seed's INSERT INTO ping(msg)) keep
// NULL tags, never collide with each other and are never read back.
// Writes have three outcomes: acknowledged (the server replied OK: the row is
// in the Ledger), failed (the server rejected it with a definite error such
// as 1290 read-only, or the statement was never sent), and unknown (the
// connection died or timed out after the statement may have reached the
// server). Unknown writes are never silently dropped or retried under a new
// sequence without being recorded; Ledger.ResolveUnknown settles them later by
// reading the primary.
//
// Pinger is the seed's single-row writes ('replication_test_1', ...); Steady
// is a paced multi-connection writer for drills under load.
package workload
