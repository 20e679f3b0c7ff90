package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/drdrill/drdrill/harness/promfile"
	"github.com/drdrill/drdrill/harness/suite"
)

// checkMetricsFile validates --metrics-file before anything changes: its
// dir exists and takes a file (made and removed), and the path is not a dir.
func checkMetricsFile(path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return usageErrorf("--metrics-file %s: a directory, not a file", path)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".drdrill-probe-*")
	if err != nil {
		return usageErrorf("--metrics-file %s: cannot write in %s: %v", path, dir, unwrapPathErr(err))
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return usageErrorf("--metrics-file %s: cannot remove a file in %s: %v", path, dir, unwrapPathErr(err))
	}
	return nil
}

// writeMetrics writes runs as a Prometheus text file at path, atomically.
func writeMetrics(path, target string, runs []suite.Run, parallel, count int) error {
	s := suite.New(target, time.Now(), 0, parallel, count, false, runs)
	if err := promfile.Write(path, s); err != nil {
		return fmt.Errorf("--metrics-file %s: %v", path, err)
	}
	return nil
}

// unwrapPathErr drops the path an *os.PathError repeats.
func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// promfileWrite writes a suite's metrics file.
func promfileWrite(path string, s *suite.Suite) error {
	if err := promfile.Write(path, s); err != nil {
		return fmt.Errorf("--metrics-file %s: %v", path, err)
	}
	return nil
}
