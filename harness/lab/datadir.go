package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// innodbSettings must be the same for the template datadir and the lab's
// my.cnf (innodb_data_file_path in particular), see fixtures/my.cnf.tmpl.
// An 8M buffer pool holds every drill's data; 64M cost 2 MiB more resident
// per server (docs/findings.md#lab-footprint).
const innodbSettings = "innodb_buffer_pool_size=8M\ninnodb_log_file_size=16M\ninnodb_data_file_path=ibdata1:4M:autoextend\ninnodb_autoextend_increment=4\nperformance_schema=OFF\n"

// DatadirCache is where a bootstrapped MariaDB datadir is kept, one per
// server version and settings. mariadb-install-db takes about a second on
// two cores; copying its result takes a tenth of that, which is most of what
// keeps `lab up` under 1.5 s.
var DatadirCache = "/var/cache/drdrill"

// TmpfsRoot is where the netns backend puts datadirs when it is a tmpfs:
// a lab's data is thrown away, and deleting ~30 MB of InnoDB files from this
// machine's disk takes ~0.4 s, most of `lab down` (on tmpfs: ~5 ms).
var TmpfsRoot = "/dev/shm"

// useTmpfsData moves each site's datadir to TmpfsRoot/drdrill-ID/SITE when
// TmpfsRoot is a tmpfs, recording the dir so that Down removes it.
func useTmpfsData(info *Info, rec Recorder) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(TmpfsRoot, &st); err != nil || st.Type != 0x01021994 { // TMPFS_MAGIC
		return nil
	}
	root := filepath.Join(TmpfsRoot, "drdrill-"+info.ID)
	return rec.Record(func(i *Info) {
		i.Resources.Dirs = append(i.Resources.Dirs, root)
		for _, s := range Sites {
			i.Sites[s].DB.DataDir = filepath.Join(root, s, "data")
		}
	})
}

// PrepareDatadir gives dst a freshly bootstrapped datadir: a copy of the
// cached template (made once with mariadb-install-db), or a bootstrap in
// place when there is no usable cache. siteDir receives the bootstrap's tmp
// dir and install.log. Backends call it from Provision (the docker backend
// too, when MariaDB is installed on this machine).
func PrepareDatadir(ctx context.Context, dst, siteDir string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmpl, err := templateDatadir(ctx)
	if err != nil {
		// No usable cache (read-only /var, say): bootstrap in place.
		return installDB(ctx, dst, filepath.Join(siteDir, "tmp"), filepath.Join(siteDir, "install.log"))
	}
	if _, err := run(ctx, "cp", "-a", "--sparse=always", tmpl, dst); err != nil {
		return fmt.Errorf("copy template datadir: %w", err)
	}
	return nil
}

// mariadbVersion is asked once per process: each `mariadbd --version`
// costs ~30 ms of CPU (loading and relocating a 26 MB binary), twice per
// lab, 15% of a lab's up when many come up side by side.
func mariadbVersion(ctx context.Context) (string, error) {
	version.Lock()
	defer version.Unlock()
	if version.v != "" {
		return version.v, nil
	}
	out, err := exec.CommandContext(ctx, "mariadbd", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("mariadbd --version: %w", err)
	}
	version.v = strings.TrimSpace(string(out))
	return version.v, nil
}

var version struct {
	sync.Mutex
	v string
}

// templateDatadir returns the cached datadir, creating it once under a lock.
func templateDatadir(ctx context.Context) (string, error) {
	ver, err := mariadbVersion(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(ver + "\n" + innodbSettings))
	base := filepath.Join(DatadirCache, "mariadb-"+hex.EncodeToString(h[:6]))
	data := filepath.Join(base, "data")
	if _, err := os.Stat(filepath.Join(base, "ok")); err == nil {
		return data, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(base, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(base, "ok")); err == nil {
		return data, nil // another lab made it while we waited
	}
	os.RemoveAll(data)
	tmp := filepath.Join(base, "tmp")
	os.MkdirAll(tmp, 0o755)
	if err := installDB(ctx, data, tmp, filepath.Join(base, "install.log")); err != nil {
		os.RemoveAll(data)
		return "", err
	}
	return data, os.WriteFile(filepath.Join(base, "ok"), []byte(ver+"\n"), 0o644)
}

// installDB bootstraps a datadir. Each run gets its own tmpdir: two runs at
// once collide on a shared one (see lab-prototype.sh).
func installDB(ctx context.Context, datadir, tmpdir, logPath string) error {
	cnf := filepath.Join(filepath.Dir(datadir), "install.cnf")
	body := fmt.Sprintf("[mysqld]\ndatadir=%s\ntmpdir=%s\nuser=root\nskip-networking\n%s", datadir, tmpdir, innodbSettings)
	if err := os.WriteFile(cnf, []byte(body), 0o644); err != nil {
		return err
	}
	defer os.Remove(cnf)
	out, err := exec.CommandContext(ctx, "mariadb-install-db", "--defaults-file="+cnf,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return fmt.Errorf("mariadb-install-db: %w; last lines:\n%s", err, tail(logPath, 8))
	}
	return nil
}
