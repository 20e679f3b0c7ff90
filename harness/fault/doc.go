// Package fault is what a drill breaks on purpose. A Fault has one
// lifecycle (after roachprod's failure injection):
//
//	Inject        break it; return once the cause is in place
//	WaitForEffect return once the fault's own effect shows (bounded)
//	Recover       undo the cause only (lift the blackhole, restart the daemon)
//	WaitRecovered return once steady state is back, restoring it the
//	              documented way if it does not come back by itself
//
// Recover and WaitRecovered must be safe when Inject failed halfway or
// never ran, and idempotent: harness.Env.Inject defers them with a fresh
// context, so they run whatever happened (failed check, panic, SIGINT,
// timeout).
//
// # Journal, resume, dead-man's switch
//
// Before a fault changes anything, harness.Env.Inject asks its Plan
// ([Planner]: read-only) what it will change, where, how to undo it by
// hand, and what a later process needs to undo it (Data); that goes into
// the journal (package journal). After a kill -9, drdrill recover rebuilds
// the fault with New and the journalled params and calls Resume
// ([Resumer]): the fresh instance then behaves as if Inject had run, and its
// Recover and WaitRecovered look before they act (no second charon, no
// documented order on a healthy tunnel, timings restored only when they
// differ). Plan's limit is the target's max_fault: a fault that can revert
// by itself arms its dead-man's switch with it (wan-blackhole: nftables set
// elements with a timeout) and says so in Plan.DeadMan. Each fault's doc
// says whether it has one and why not. [WaitSteady] verifies steady state
// after a recover.
//
// # Adding a fault
//
// Write a type with the five methods in a file of its own, and register a
// Spec in init(): its name, a one-line description, the target
// capabilities it needs (target.CapExec, ...) and the parameters it takes
// with their defaults. The factory gets the Target, the drill's timeline
// and validated Params; it reads everything else from the Target (sites,
// gateways, IKE timings), never from lab files. Drills build it with
// fault.New(name, target, timeline, params) and never assert its concrete
// type. Give Recover/WaitRecovered a test with a fake target showing they
// do the right thing after no Inject and after a half Inject. Implement
// Plan and Resume, with a test of the resumed fault in each state the
// target may be in. So that the journal can rebuild it, a fault of this
// package embeds built (New records its params in it); one from another
// package keeps the params its factory got and returns them from a
// Params() Params method ([ParamsOf]).
package fault
