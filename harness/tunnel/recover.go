package tunnel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
)

// Expectation is what a healthy gateway shows for a connection.
type Expectation struct {
	Connection string
	LocalTS    []string
	RemoteTS   []string
}

// Healthy returns nil when the state holds exactly one IKE SA of the
// connection, ESTABLISHED, with exactly one CHILD SA, INSTALLED, whose
// traffic selectors are the expected ones; otherwise an error that says
// what is wrong in the seed's words.
func (s State) Healthy(want Expectation) error {
	var mine []IKESA
	for _, ike := range s.IKESAs {
		if ike.Name == want.Connection {
			mine = append(mine, ike)
		}
	}
	switch {
	case len(mine) == 0:
		return fmt.Errorf("%s: no IKE SA", s.Gateway)
	case len(mine) > 1:
		return fmt.Errorf("%s: %d IKE SAs", s.Gateway, len(mine))
	}
	ike := mine[0]
	if ike.State != "ESTABLISHED" {
		return fmt.Errorf("%s: IKE SA %s", s.Gateway, ike.State)
	}
	switch n := len(ike.Children); {
	case n == 0:
		return fmt.Errorf("%s: no CHILD_SA", s.Gateway)
	case n > 1:
		return fmt.Errorf("%s: %d CHILD SAs", s.Gateway, n)
	}
	c := ike.Children[0]
	if c.State != "INSTALLED" {
		return fmt.Errorf("%s: CHILD_SA %s", s.Gateway, c.State)
	}
	if !slices.Equal(c.LocalTS, want.LocalTS) || !slices.Equal(c.RemoteTS, want.RemoteTS) {
		return fmt.Errorf("%s: traffic selectors %v === %v, want %v === %v", s.Gateway, c.LocalTS, c.RemoteTS, want.LocalTS, want.RemoteTS)
	}
	return nil
}

// Side pairs a gateway with what it should show.
type Side struct {
	GW   *Gateway
	Want Expectation
}

// RecoverInOrder brings the tunnel back in the seed's documented order
// (section 8, step 3): first down; second down, second up; first up. In the
// seed "first" is AWS, the side the outage was caused from. Resetting both
// sides before re-initiating is what clears one side's stale SAs (seed
// troubleshooting 1; see scenarios/one_sided_recovery.go for what strongSwan
// does otherwise). "No matching SAs" or an unanswered DELETE on a down and a
// duplicate CHILD_SA on the last up are expected and recorded, not errors.
// Each down and up is recorded on tl under "tunnel/<gateway>" as a
// timeline.TunnelAction: KindStep when it went through or failed,
// KindExpected for those documented outcomes. It returns when both
// sides are healthy, or the last unhealthy state when ctx ends first.
func RecoverInOrder(ctx context.Context, first, second Side, tl *timeline.Timeline, ikeTimeout time.Duration) error {
	step := func(s Side, action string, f func() ([]string, string, error)) error {
		src := "tunnel/" + s.GW.Name()
		start := time.Now()
		log, note, err := f()
		d := timeline.TunnelAction{Action: action, Connection: s.Want.Connection, DurationMS: time.Since(start).Milliseconds(), Note: note}
		switch {
		case err == nil:
			d.Result = "ok"
			tl.AddAt(start, src, timeline.KindStep, d)
			return nil
		case errors.Is(err, ErrNoMatchingSA), errors.Is(err, ErrDuplicateChild), errors.Is(err, ErrDeleteUnanswered):
			d.Result = err.Error()
			tl.AddAt(start, src, timeline.KindExpected, d)
			return nil
		default:
			d.Result, d.Error, d.Log = "error", err.Error(), log
			tl.AddAt(start, src, timeline.KindStep, d)
			return fmt.Errorf("%s %s: %w", action, s.GW.Name(), err)
		}
	}
	down := func(s, peer Side) func() ([]string, string, error) {
		return func() ([]string, string, error) {
			wait, note := deleteWait(ctx, s, peer)
			r, err := s.GW.Down(ctx, s.Want.Connection, wait)
			return r.Log, note, err
		}
	}
	up := func(s Side) func() ([]string, string, error) {
		return func() ([]string, string, error) {
			r, err := s.GW.Up(ctx, s.Want.Connection, s.Want.Connection, ikeTimeout)
			if ce := (*CommandError)(nil); errors.As(err, &ce) {
				return ce.Log, "", err
			}
			return r.Log, "", err
		}
	}
	for _, st := range []struct {
		s      Side
		action string
		f      func() ([]string, string, error)
	}{
		{first, "down", down(first, second)},
		{second, "down", down(second, first)},
		{second, "up", up(second)},
		{first, "up", up(first)},
	} {
		if err := step(st.s, st.action, st.f); err != nil {
			return err
		}
	}
	return WaitHealthy(ctx, 20*time.Millisecond, first, second)
}

// WaitHealthy polls both sides until each is Healthy, or returns the last
// problems seen when ctx ends.
func WaitHealthy(ctx context.Context, poll time.Duration, sides ...Side) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		var problems []error
		for _, s := range sides {
			st, err := s.GW.State(ctx, s.Want.Connection)
			if err == nil {
				err = st.Healthy(s.Want)
			}
			if err != nil {
				problems = append(problems, err)
			}
		}
		if len(problems) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for tunnel ESTABLISHED/INSTALLED on both sides: %w; last seen: %w", ctx.Err(), errors.Join(problems...))
		case <-t.C:
		}
	}
}

// deleteAnswerWait is how long a down waits for the peer to answer its
// DELETE when the peer holds the IKE SA (a live peer answers in one round
// trip), before the SA is deleted locally anyway.
const deleteAnswerWait = 2 * time.Second

// deleteWait is how long s's down should wait for its DELETE to be
// answered: deleteAnswerWait when the peer holds one of s's IKE SAs (same
// SPIs), else nothing: a peer that holds no such SA (restarted, or it
// already cleared it) or cannot be read never answers, and waiting for it
// only delays the recovery (findings#delete-to-a-peer-without-the-sa).
func deleteWait(ctx context.Context, s, peer Side) (time.Duration, string) {
	mine, err := s.GW.State(ctx, s.Want.Connection)
	if err != nil || len(mine.IKESAs) == 0 {
		return deleteAnswerWait, "" // nothing to delete, or the down itself will say why
	}
	theirs, err := peer.GW.State(ctx, peer.Want.Connection)
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		return 0, "the peer's SAs cannot be read (" + first + "): deleted without waiting for its answer"
	}
	for _, a := range mine.IKESAs {
		for _, b := range theirs.IKESAs {
			if a.SPIInit == b.SPIInit && a.SPIResp == b.SPIResp {
				return deleteAnswerWait, ""
			}
		}
	}
	return 0, "the peer holds no such IKE SA: deleted without waiting for an answer that cannot come"
}
