// Package journal records every fault before it is injected and when it
// is recovered, in a state dir, so that drdrill recover can undo what a
// killed drill left in place.
//
// The journal is one append-only file, journal.jsonl: one JSON Entry per
// line. harness.Env.Inject appends an "inject" entry (what, where, how to
// undo it, the fault's name and parameters, and the data its Plan read) and
// fsyncs it before the fault touches anything, and a "recovered" entry once
// its recovery completed. A fault with an inject and no later recovered or
// abandoned entry is open: [Recover] undoes it, newest first, with a fresh
// instance of the fault ([fault.Resumer]). A line torn by a kill -9 in the
// middle of a write is ignored with a warning: it can only be an entry whose
// fault was never injected (or whose recovery was done), since the write
// is synced before anything happens.
//
// A state dir is one target's: the lab's dir, or for a target file
// $XDG_STATE_HOME/drdrill/<target name>/ ([DefaultDir]). Open takes an
// exclusive flock on it, so that two drdrill processes never run faults on
// one target at once (the second gets a *LockedError).
package journal
