package targetfile

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/transport"
)

var _ target.Freezer = (*Target)(nil)

// freezeScript stops the database daemon whose pid file is $1 (SIGSTOP)
// after arming its dead-man's switch: a watchdog in its own session
// (`sh -c WATCHDOG $2 $3 PID START`, $2 the marker Thaw finds it by, $3
// the limit; none when $3 is empty) that continues the pid after the
// limit if it is still the process that started at START. It prints the
// pid. The watchdog outlives this command and drdrill.
const freezeScript = `pidfile=$1 marker=$2 limit=$3
pid=$(cat "$pidfile") || exit 1
case $pid in ''|*[!0-9]*) echo "$pidfile holds no pid"; exit 1;; esac
start=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f20)
[ -n "$start" ] || { echo "no process $pid (from $pidfile)"; exit 1; }
if [ -n "$limit" ]; then
  setsid sh -c 'sleep "$1"; [ "$(sed "s/.*) //" /proc/$2/stat 2>/dev/null | cut -d" " -f20)" = "$3" ] && kill -CONT "$2"' "$marker" "$limit" "$pid" "$start" </dev/null >/dev/null 2>&1 &
fi
kill -STOP "$pid" || exit 1
echo "$pid"`

// thawScript kills every watchdog marked $1 (its session: the sleep goes
// too), waits until none is left, then continues the pids they guarded and
// $2 (the pid this process froze, if any); it prints the pids continued.
// Nothing to thaw is not an error. A watchdog is the process whose argv[3]
// is the marker (grep -z reads argv elements as lines; grep's own is its
// argv[2]). dash's kill takes a process group as -s KILL -- -PGID.
const thawScript = `marker=$1 pids=$2
marked() {
  for f in $(grep -lszxFe "$marker" /proc/[0-9]*/cmdline); do
    [ "$(tr '\0' '\n' 2>/dev/null < "$f" | sed -n 4p)" = "$marker" ] && { p=${f#/proc/}; echo "${p%/cmdline}"; }
  done
}
for w in $(marked); do
  pids="$pids $(tr '\0' '\n' 2>/dev/null < "/proc/$w/cmdline" | sed -n 6p)"
  kill -s KILL -- "-$w" 2>/dev/null
done
n=0
while [ -n "$(marked)" ]; do
  n=$((n+1)); [ $n -le 250 ] || { echo "the dead-man's switch $marker outlived SIGKILL: pid $(marked)"; exit 1; }
  sleep 0.02
done
for pid in $pids; do kill -CONT "$pid" 2>/dev/null; done
echo $pids`

// stateScript prints the state letter of each pid given (- when gone).
const stateScript = `for pid in "$@"; do s=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1); echo "$pid ${s:--}"; done`

// CanFreeze: a site's database host allows exec (the daemon is stopped
// there with kill, so the login needs the right: exec sudo, or the
// daemon's own user).
func (t *Target) CanFreeze() bool {
	for _, s := range t.file.Sites {
		if s.DB.Exec != ExecNone {
			return true
		}
	}
	return false
}

// Freeze stops a site's database daemon (SIGSTOP), found by its pid file
// (@@pid_file), after starting its dead-man's switch on that host when
// limit > 0. It returns once the host shows the process stopped.
func (t *Target) Freeze(ctx context.Context, h target.Host, limit time.Duration) error {
	host, sudo, site, err := t.freezable(h)
	if err != nil {
		return err
	}
	var pidFile, dataDir string
	if err := site.DB.DB().QueryRowContext(ctx, "SELECT @@pid_file, @@datadir").Scan(&pidFile, &dataDir); err != nil {
		return fmt.Errorf("freeze %s: the server's pid file: %w", h, err)
	}
	if !filepath.IsAbs(pidFile) {
		pidFile = filepath.Join(dataDir, pidFile)
	}
	marker := t.freezeMarker(h)
	if _, err := host.Exec(ctx, []string{"sh", "-c", thawScript, "drdrill-thaw", marker, ""}, sudo); err != nil {
		return scriptError(fmt.Sprintf("freeze %s: cancel an earlier dead-man's switch", h), err)
	}
	lim := ""
	if limit > 0 {
		lim = strconv.FormatFloat(limit.Seconds(), 'f', 3, 64)
	}
	out, err := host.Exec(ctx, []string{"sh", "-c", freezeScript, "drdrill-freeze", pidFile, marker, lim}, sudo)
	if err != nil {
		return scriptError("freeze "+h.String(), err)
	}
	pid := strings.TrimSpace(string(out))
	if _, err := strconv.Atoi(pid); err != nil {
		return fmt.Errorf("freeze %s: the freeze printed %q, not a pid", h, pid)
	}
	t.frozen.Store(marker, pid)
	return t.waitState(ctx, h, host, sudo, []string{pid}, true)
}

// Thaw cancels the dead-man's switch and continues the daemon; it returns
// once the process is no longer stopped. Nothing to thaw (never frozen,
// thawed already, the watchdog fired) is not an error.
func (t *Target) Thaw(ctx context.Context, h target.Host) error {
	if h.Kind != target.DBHost {
		return fmt.Errorf("thaw %s: not a database host", h)
	}
	host, sudo, err := t.execHost(h)
	if err != nil {
		return fmt.Errorf("thaw %s: %w", h, err)
	}
	marker := t.freezeMarker(h)
	known, _ := t.frozen.Load(marker)
	k, _ := known.(string)
	out, err := host.Exec(ctx, []string{"sh", "-c", thawScript, "drdrill-thaw", marker, k}, sudo)
	if err != nil {
		return scriptError("thaw "+h.String(), err)
	}
	pids := strings.Fields(string(out))
	if len(pids) == 0 {
		return nil
	}
	if err := t.waitState(ctx, h, host, sudo, pids, false); err != nil {
		return fmt.Errorf("thaw %s: %w", h, err)
	}
	t.frozen.Delete(marker)
	return nil
}

// waitState polls the pids' states on the host until all are stopped
// (stopped true) or none is.
func (t *Target) waitState(ctx context.Context, h target.Host, host transport.Host, sudo bool, pids []string, stopped bool) error {
	what := fmt.Sprintf("%s's database daemon (pid %s) to run again", h, strings.Join(pids, ", "))
	if stopped {
		what = fmt.Sprintf("%s's database daemon (pid %s) to be stopped", h, strings.Join(pids, ", "))
	}
	argv := append([]string{"sh", "-c", stateScript, "drdrill-state"}, pids...)
	return poll.Until(ctx, what, 20*time.Millisecond, 5*time.Second, func(ctx context.Context) (bool, string, error) {
		out, err := host.Exec(ctx, argv, sudo)
		if err != nil {
			return false, scriptError("read the state", err).Error(), nil
		}
		seen := strings.TrimSpace(string(out))
		for _, line := range strings.Split(seen, "\n") {
			_, state, _ := strings.Cut(line, " ")
			if isStopped := state == "T" || state == "t"; isStopped != stopped {
				return false, "state " + seen, nil
			}
		}
		return true, "", nil
	})
}

// openFrozenDB opens a site's database for drdrill recover: a drill killed
// while the database was frozen left it stopped, and a stopped server
// accepts the connection but never answers. When the first try does not
// answer within frozenProbe, what drdrill froze there is thawed (its
// watchdog names it; nothing else is touched) and the open tried again.
func (t *Target) openFrozenDB(ctx context.Context, s *Site) (*replica.Conn, error) {
	pctx, cancel := context.WithTimeout(ctx, frozenProbe)
	c, err := t.openDB(pctx, s)
	cancel()
	if err == nil || ctx.Err() != nil {
		return c, err
	}
	if terr := t.Thaw(ctx, target.Host{Site: s.Name, Kind: target.DBHost}); terr != nil {
		return nil, fmt.Errorf("%w (and thawing it: %v)", err, terr)
	}
	return t.openDB(ctx, s)
}

// frozenProbe is how long drdrill recover waits for a database to answer
// before it looks for a freeze of its own there.
const frozenProbe = 2 * time.Second

// freezable is the host, sudo and site of a db host whose exec is set.
func (t *Target) freezable(h target.Host) (transport.Host, bool, *target.Site, error) {
	if h.Kind != target.DBHost {
		return nil, false, nil, fmt.Errorf("freeze %s: not a database host", h)
	}
	host, sudo, err := t.execHost(h)
	if err != nil {
		return nil, false, nil, fmt.Errorf("freeze %s: %w", h, err)
	}
	site, err := target.SiteNamed(t, h.Site)
	if err != nil {
		return nil, false, nil, fmt.Errorf("freeze %s: %w", h, err)
	}
	return host, sudo, site, nil
}

// freezeMarker is the watchdog's $0: unique to the target and host, so
// that a Thaw (in this process or a later one) finds exactly its watchdog.
func (t *Target) freezeMarker(h target.Host) string {
	return "drdrill-thaw-" + t.file.Name + "-" + h.String()
}

// scriptError is a failed script's error without the script: the host, how
// it ended and the first line it printed.
func scriptError(what string, err error) error {
	var ee *transport.ExecError
	if !errors.As(err, &ee) {
		return fmt.Errorf("%s: %w", what, err)
	}
	out, _, _ := strings.Cut(strings.TrimSpace(ee.Output), "\n")
	if out == "" {
		return fmt.Errorf("%s on %s: %w", what, ee.Host, ee.Err)
	}
	return fmt.Errorf("%s on %s: %w: %s", what, ee.Host, ee.Err, out)
}
