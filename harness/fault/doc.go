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
// do the right thing after no Inject and after a half Inject.
package fault
