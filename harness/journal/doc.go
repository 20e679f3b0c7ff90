// Package journal records every fault before it is injected and when it
// is recovered, in a state dir, so that drdrill recover can undo what a
// killed drill left in place.
package journal

// Journal is the state dir's journal of faults.
type Journal struct{}
