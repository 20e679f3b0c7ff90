package tunnel

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/strongswan/govici/vici"
)

// LogFollower follows charon's own log over VICI ("log" events, the control
// level that swanctl --log shows) for the length of a drill. charon's log
// file is no evidence in time: it is written through a stdio buffer and can
// lag by seconds (docs/findings.md#charon-log-buffered).
type LogFollower struct {
	mu       sync.Mutex
	lines    []logLine
	sessions []*vici.Session
	wg       sync.WaitGroup
}

type logLine struct {
	at      time.Time
	gateway string
	group   string // charon's log group: IKE, CFG, NET, ENC, KNL, ...
	msg     string
}

// maxLogLines bounds what a follower keeps.
const maxLogLines = 5000

// RelevantLog are the lines about SA state worth a timeline entry.
var RelevantLog = regexp.MustCompile(`INIT_CONTACT|INITIAL_CONTACT|duplicate|retransmit|giving up|not responding|DELETE|destroying|deleting IKE_SA|DPD|initiating IKE_SA|established|restarting CHILD_SA|INVALID_IKE_SPI|ignoring`)

// FollowLog subscribes to each gateway's log on a session of its own.
// Lines matching RelevantLog also go into tl under "tunnel/<gateway>". A
// gateway whose log cannot be followed is noted on the timeline; the
// follower still works for the others. Stop ends it.
func FollowLog(ctx context.Context, tl *timeline.Timeline, gws ...*Gateway) *LogFollower {
	lf := &LogFollower{}
	for _, g := range gws {
		src := "tunnel/" + g.Name()
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		sess, err := newSession(dctx, g.dialer)
		cancel()
		if err == nil {
			if err = sess.Subscribe("log"); err != nil {
				sess.Close()
			}
		}
		if err != nil {
			tl.Add(src, timeline.KindNote, map[string]any{"event": "cannot follow charon log", "error": err.Error()})
			continue
		}
		ch := make(chan vici.Event, 4096)
		sess.NotifyEvents(ch)
		lf.sessions = append(lf.sessions, sess)
		lf.wg.Add(1)
		go func(name string) {
			defer lf.wg.Done()
			for ev := range ch { // closed when the session closes
				msg, _ := ev.Message.Get("msg").(string)
				group, _ := ev.Message.Get("group").(string)
				if msg == "" {
					continue
				}
				lf.mu.Lock()
				if len(lf.lines) < maxLogLines {
					lf.lines = append(lf.lines, logLine{ev.Timestamp, name, group, msg})
				}
				lf.mu.Unlock()
				if RelevantLog.MatchString(msg) {
					tl.AddAt(ev.Timestamp, src, timeline.KindNote, map[string]any{"event": "charon log", "line": msg})
				}
			}
		}(g.Name())
	}
	return lf
}

// Stop closes the sessions and waits for the readers.
func (lf *LogFollower) Stop() {
	for _, s := range lf.sessions {
		s.Close()
	}
	lf.wg.Wait()
}

// Lines returns "gateway: line" for every line since t that matches re.
func (lf *LogFollower) Lines(since time.Time, re *regexp.Regexp) []string {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	var out []string
	for _, l := range lf.lines {
		if !l.at.Before(since) && re.MatchString(l.msg) {
			out = append(out, l.gateway+": "+l.msg)
		}
	}
	return out
}

// logNoise are lines that say nothing about what charon is doing.
var logNoise = []string{"sending packet", "received packet", "queueing ", "activating ",
	"nothing to initiate", "reinitiating already active tasks", "selected proposal", "scheduling rekeying", "maximum IKE_SA lifetime",
	"notify", "shared key MAC", "authentication of", "behind NAT", "endpoint changed", "MOBIKE", "[KNL]"}

// Tail returns a gateway's last n meaningful lines.
func (lf *LogFollower) Tail(gateway string, n int) []string {
	if lf == nil {
		return nil
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	var out []string
	for i := len(lf.lines) - 1; i >= 0 && len(out) < n; i-- {
		l := lf.lines[i]
		msg := strings.TrimSpace(l.msg)
		if l.gateway != gateway || msg == "" || l.group == "ENC" || l.group == "KNL" || slices.ContainsFunc(logNoise, func(s string) bool { return strings.Contains(l.msg, s) }) {
			continue
		}
		out = append(out, msg)
	}
	slices.Reverse(out)
	return out
}
