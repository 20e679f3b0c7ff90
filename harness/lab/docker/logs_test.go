package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDockerDaemonLog(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, myCnf), []byte("[mysqld]\ndatadir=/x/data\nlog-error=/x/aws/mysqld.log\n"), 0o600)
	os.WriteFile(filepath.Join(dir, strongswanConf), []byte("charon {\n  filelog {\n    log {\n      path = /x/aws/charon.log\n      default = 1\n"), 0o600)
	if got := daemonLog(dir, false); got != "/x/aws/mysqld.log" {
		t.Errorf("db log = %q", got)
	}
	if got := daemonLog(dir, true); got != "/x/aws/charon.log" {
		t.Errorf("charon log = %q", got)
	}
	if got := daemonLog(t.TempDir(), true); got != "" {
		t.Errorf("no config: %q", got)
	}
	log := filepath.Join(dir, "d.log")
	os.WriteFile(log, []byte("one\ntwo\n"), 0o600)
	if got := fileTail(log); !strings.Contains(got, "last lines of "+log+":\none\ntwo") {
		t.Errorf("fileTail = %q", got)
	}
}
