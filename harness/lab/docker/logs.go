package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// logLines is how many log lines an error message carries.
const logLines = 30

// daemonLog is the log file the rendered config gives the daemon: log-error in my.cnf, the
// filelog path in strongswan.conf; "" when there is none.
func daemonLog(siteDir string, gateway bool) string {
	file, re := myCnf, myLogRE
	if gateway {
		file, re = strongswanConf, charonLogRE
	}
	b, err := os.ReadFile(filepath.Join(siteDir, file))
	if err != nil {
		return ""
	}
	if m := re.FindSubmatch(b); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return ""
}

var (
	myLogRE     = regexp.MustCompile(`(?m)^\s*log[-_]error\s*=\s*(\S+)`)
	charonLogRE = regexp.MustCompile(`(?m)^\s*path\s*=\s*(/\S+)`)
)

// fileTail formats a log file's last lines for an error message ("" if unreadable).
func fileTail(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	return fmt.Sprintf("\nlast lines of %s:\n%s", path, lastLines(string(b), logLines))
}

// containerLogs returns the container's log (stdout and stderr interleaved per stream), tail
// lines ("all" or a number); errors give an empty string.
func containerLogs(ctx context.Context, cli *client.Client, cid, tail string) string {
	if cid == "" {
		return ""
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(lctx, cid, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: tail})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, _ = stdcopy.StdCopy(&buf, &buf, rc)
	return buf.String()
}

// logTail formats the container's last log lines for an error message.
func logTail(ctx context.Context, cli *client.Client, cid, host string) string {
	logs := strings.TrimRight(containerLogs(ctx, cli, cid, fmt.Sprint(logLines)), "\n")
	if logs == "" {
		return fmt.Sprintf("\n(no log lines from container %s)", host)
	}
	return fmt.Sprintf("\nlast log lines of container %s:\n%s", host, logs)
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
