package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
)

const mib = 1 << 20

// procMemory is one lab daemon's memory as /proc/PID/smaps_rollup gives it.
type procMemory struct {
	Name     string
	PID      int
	RSS, PSS int64 // bytes
}

// labMemory is what one lab holds: its daemons' resident memory (RSS counts
// a page shared with other processes, mariadbd's and charon's text, in each
// of them; PSS divides it among them, so the PSS of every lab on the machine
// adds up to what they use) and its datadirs on tmpfs, which are memory too.
type labMemory struct {
	Procs      []procMemory
	RSS, PSS   int64
	Tmpfs      int64
	TmpfsFiles int
}

// readLabMemory reads the memory of every process the lab recorded (charon
// and mariadbd per site; the failover lab's aws-db2 mariadbd and unbound)
// and the size of its dirs outside the lab dir (the tmpfs datadirs).
func readLabMemory(info *lab.Info) (labMemory, error) {
	var m labMemory
	for _, p := range info.Resources.Processes {
		pm, err := readProcMemory(p)
		if err != nil {
			return m, err
		}
		m.Procs = append(m.Procs, pm)
		m.RSS += pm.RSS
		m.PSS += pm.PSS
	}
	if len(m.Procs) == 0 {
		return m, fmt.Errorf("lab %s recorded no processes", info.Dir)
	}
	for _, d := range info.Resources.Dirs {
		err := filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				m.Tmpfs += st.Blocks * 512 // allocated, not apparent: the copies are sparse
			}
			m.TmpfsFiles++
			return nil
		})
		if err != nil {
			return m, fmt.Errorf("size of %s: %w", d, err)
		}
	}
	return m, nil
}

// readProcMemory reads Rss and Pss (kB) from /proc/PID/smaps_rollup.
func readProcMemory(p lab.Process) (procMemory, error) {
	pm := procMemory{Name: p.Name, PID: p.PID}
	path := "/proc/" + strconv.Itoa(p.PID) + "/smaps_rollup"
	f, err := os.Open(path)
	if err != nil {
		return pm, fmt.Errorf("%s (pid %d): %w", p.Name, p.PID, err)
	}
	defer f.Close()
	var seen int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "Rss" && k != "Pss") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return pm, fmt.Errorf("%s: line %q: %w", path, sc.Text(), err)
		}
		if k == "Rss" {
			pm.RSS = kb << 10
		} else {
			pm.PSS = kb << 10
		}
		seen++
	}
	if err := sc.Err(); err != nil {
		return pm, fmt.Errorf("%s: %w", path, err)
	}
	if seen != 2 {
		return pm, fmt.Errorf("%s: no Rss and Pss lines", path)
	}
	return pm, nil
}

// labSettings are what the lab's my.cnf sets for its footprint, as the
// running servers must show them (mariadbd adjusts or ignores some values
// silently; the benchmark would then measure something else).
var labSettings = map[string]string{
	"key_buffer_size":                "65536",
	"aria_pagecache_buffer_size":     "1048576",
	"innodb_buffer_pool_size":        "8388608",
	"innodb_temp_data_file_path":     "ibtmp1:1M:autoextend",
	"performance_schema":             "0",
	"innodb_flush_log_at_trx_commit": "2",
}

// checkLabSettings fails when a lab server runs with other values.
func checkLabSettings(ctx context.Context, info *lab.Info) error {
	h, err := lab.Connect(ctx, info)
	if err != nil {
		return err
	}
	defer h.Close()
	for site, db := range h.DBs {
		for name, want := range labSettings {
			var got string
			if err := db.DB().QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&got); err != nil {
				return fmt.Errorf("%s-db: @@%s: %w", site, name, err)
			}
			if got != want {
				return fmt.Errorf("%s-db runs with %s=%s, the lab sets %s", site, name, got, want)
			}
		}
	}
	return nil
}

// BenchmarkLabMemory: one lab's resident memory, target ≤ 100 MiB (the
// defaults gave 176 MiB RSS, 82 MiB per mariadbd). Reported as the sum of
// its daemons' RSS and PSS, and the tmpfs its datadirs take. PSS depends on
// what else maps the same files (every other lab on the machine shares
// mariadbd's text), so it is lower with more labs up; RSS does not.
func BenchmarkLabMemory(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts lab.Options
	}{{"lab", lab.Options{}}, {"failover", lab.Options{Failover: true}}} {
		b.Run(tc.name, func(b *testing.B) {
			be := backend(b, "netns")
			var sum labMemory
			for i := 0; i < b.N; i++ {
				dir := labDir(b)
				b.Cleanup(func() { lab.Down(context.Background(), dir, backends) })
				o := tc.opts
				o.Dir, o.Backend = dir, be
				info, err := lab.Up(context.Background(), o)
				var envErr *lab.EnvError
				if errors.As(err, &envErr) {
					b.Skipf("the %s lab cannot run here: %v", tc.name, err)
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := checkLabSettings(context.Background(), info); err != nil {
					b.Fatal(err)
				}
				m, err := readLabMemory(info)
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range m.Procs {
					b.Logf("%-20s pid %-7d rss %5.1f MiB  pss %5.1f MiB", p.Name, p.PID, float64(p.RSS)/mib, float64(p.PSS)/mib)
				}
				b.Logf("lab: rss %.1f MiB, pss %.1f MiB, tmpfs %.1f MiB in %d files", float64(m.RSS)/mib, float64(m.PSS)/mib, float64(m.Tmpfs)/mib, m.TmpfsFiles)
				sum.RSS += m.RSS
				sum.PSS += m.PSS
				sum.Tmpfs += m.Tmpfs
				down(b, dir)
			}
			n := float64(b.N)
			b.ReportMetric(float64(sum.RSS)/mib/n, "MiB-rss")
			b.ReportMetric(float64(sum.PSS)/mib/n, "MiB-pss")
			b.ReportMetric(float64(sum.Tmpfs)/mib/n, "MiB-tmpfs")
		})
	}
}

// BenchmarkLabsSideBySide brings N labs up at once, as go test ./scenarios
// does, and takes them down at once. Target: 50 labs up in ≤ 10 s on 2
// cores. Any lab that fails to come up fails the benchmark with its error.
func BenchmarkLabsSideBySide(b *testing.B) {
	for _, n := range []int{20, 50} {
		b.Run(fmt.Sprintf("labs=%d", n), func(b *testing.B) {
			be := backend(b, "netns")
			var upT, downT time.Duration
			var pss, rss int64
			for i := 0; i < b.N; i++ {
				dirs := make([]string, n)
				for j := range dirs {
					dirs[j] = labDir(b)
					b.Cleanup(func() { lab.Down(context.Background(), dirs[j], backends) })
				}
				infos := make([]*lab.Info, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				start := time.Now()
				for j := range dirs {
					wg.Go(func() {
						infos[j], errs[j] = lab.Up(context.Background(), lab.Options{Dir: dirs[j], Backend: be})
					})
				}
				wg.Wait()
				upT += time.Since(start)
				if err := errors.Join(errs...); err != nil {
					b.Fatalf("%d labs side by side: %v", n, err)
				}
				for _, info := range infos {
					m, err := readLabMemory(info)
					if err != nil {
						b.Fatal(err)
					}
					pss += m.PSS
					rss += m.RSS
				}
				start = time.Now()
				for j := range dirs {
					wg.Go(func() { errs[j] = lab.Down(context.Background(), dirs[j], backends) })
				}
				wg.Wait()
				downT += time.Since(start)
				if err := errors.Join(errs...); err != nil {
					b.Fatalf("%d labs down: %v", n, err)
				}
			}
			N := float64(b.N)
			b.ReportMetric(upT.Seconds()/N, "s-up-all")
			b.ReportMetric(downT.Seconds()/N, "s-down-all")
			b.ReportMetric(float64(pss)/mib/N/float64(n), "MiB-pss/lab")
			b.ReportMetric(float64(rss)/mib/N/float64(n), "MiB-rss/lab")
		})
	}
}
