package fault

import (
	"context"
	"encoding/json"
	"maps"
	"time"
)

// Plan is what a fault will change, said before it changes anything: the
// journal's entry (so that a later process, or a person, can undo it) and
// what `drdrill plan` shows.
type Plan struct {
	// Hosts are where it acts ("aws-gw", "onprem-db").
	Hosts []string `json:"hosts,omitempty"`
	// What it changes, and how to undo it by hand, in words.
	What string `json:"what"`
	Undo string `json:"undo"`
	// DeadMan says what reverts the fault by itself, without drdrill, and
	// after how long ("" when nothing does: see each fault's doc).
	DeadMan string `json:"dead_man,omitempty"`
	// Data is what Resume needs that only this moment knows (the
	// replica's original timings, the gateways' WAN addresses).
	Data json.RawMessage `json:"data,omitempty"`
}

// Planner is a fault that can say what it will change before Inject. Plan
// only reads (VICI list-*, SELECT); what it read is what Inject then acts
// on. limit is the longest the fault may be held (the target's max_fault;
// 0: no bound): a fault with a dead-man's switch arms it to revert after
// limit.
type Planner interface {
	Plan(ctx context.Context, limit time.Duration) (Plan, error)
}

// Resumer is a fault that a process which did not inject it can recover
// (drdrill recover, after a kill -9): Resume makes a fresh instance — built
// by New with the journalled parameters — behave as if Inject had run, data
// being its Plan's Data (nil when there was none). Its Recover and
// WaitRecovered must then be safe whatever state the target is in: the
// fault never injected (killed before), half injected, fully injected, or
// already undone by hand.
type Resumer interface {
	Resume(data json.RawMessage) error
}

// built carries what New built a fault with; every registered fault embeds
// it so that ParamsOf can tell the journal how to build it again.
type built struct{ params Params }

func (b *built) setParams(p Params)  { b.params = maps.Clone(p) }
func (b *built) builtParams() Params { return b.params }

type paramsHolder interface {
	setParams(Params)
	builtParams() Params
}

// ParamsOf returns the parameters New built f with, or those a fault from
// another package returns from its Params method; nil otherwise (a fault
// built as a struct literal: New rebuilds it with defaults).
func ParamsOf(f Fault) Params {
	switch h := f.(type) {
	case paramsHolder:
		return h.builtParams()
	case interface{ Params() Params }:
		return maps.Clone(h.Params())
	}
	return nil
}

// Resume on None: nothing to undo.
func (None) Resume(json.RawMessage) error { return nil }

// Plan of None: nothing changes.
func (None) Plan(context.Context, time.Duration) (Plan, error) {
	return Plan{What: "nothing", Undo: "nothing"}, nil
}
