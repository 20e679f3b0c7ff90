package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/targetfile"
	"github.com/drdrill/drdrill/harness/transport"
)

// targetSpec is what --target names, loaded and validated before anything
// is changed: the embedded lab (at a lab dir) or a target file.
type targetSpec struct {
	labDir string           // --target lab
	file   *targetfile.File // --target FILE
}

func (s *targetSpec) isLab() bool { return s.file == nil }

// name is how output names the target.
func (s *targetSpec) name() string {
	if s.isLab() {
		return "the lab at " + s.labDir
	}
	return "target " + s.file.Name + " (" + s.file.Path + ")"
}

// loadTarget reads --target: "lab" or a target file. A bad file is a
// one-line usage error naming the field and its line (exit 2).
func loadTarget(flag, labDir string) (*targetSpec, error) {
	if flag == "" || flag == "lab" {
		abs, _ := filepath.Abs(labDir)
		return &targetSpec{labDir: abs}, nil
	}
	if fi, err := os.Stat(flag); err != nil {
		return nil, usageErrorf("--target %s: no such target file (--target lab is the embedded lab)", flag)
	} else if fi.IsDir() {
		return nil, usageErrorf("--target %s: a directory, not a target file", flag)
	}
	f, err := targetfile.Load(flag)
	if err != nil {
		var ie *targetfile.InputError
		if errors.As(err, &ie) {
			return nil, usageErrorf("%s", ie.Error())
		}
		return nil, usageErrorf("--target %s: %v", flag, err)
	}
	return &targetSpec{file: f}, nil
}

// checkDestructive refuses, before anything changes, a drill on a target
// file without both opt-ins: allow_destructive in the file and --yes.
func (s *targetSpec) checkDestructive(yes bool) error {
	if s.isLab() {
		return nil
	}
	var missing []string
	if !s.file.Safety().AllowDestructive {
		missing = append(missing, "safety.allow_destructive: true in "+s.file.Path)
	}
	if !yes {
		missing = append(missing, "--yes on the command line")
	}
	if len(missing) > 0 {
		return usageErrorf("refused: a drill changes %s; it needs %s", s.name(), strings.Join(missing, " and "))
	}
	return nil
}

// openFile opens a target file's target with the hosts its vias name.
func (s *targetSpec) openFile(ctx context.Context) (target.Target, func(), error) {
	hosts, closeHosts, err := hostResolver(s.file)
	if err != nil {
		return nil, nil, err
	}
	t, err := targetfile.Open(ctx, s.file, hosts)
	if err != nil {
		closeHosts()
		return nil, nil, fmt.Errorf("open %s: %w", s.name(), err)
	}
	return t, func() { t.Close(); closeHosts() }, nil
}

// openExisting opens the target without bringing anything up: the lab
// that is up at the lab dir, or the target file's systems.
func (s *targetSpec) openExisting(ctx context.Context) (target.Target, func(), error) {
	if !s.isLab() {
		return s.openFile(ctx)
	}
	info, err := upLab(s.labDir)
	if err != nil {
		return nil, nil, err
	}
	t, err := lab.Open(ctx, info, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("open the lab at %s: %w", s.labDir, err)
	}
	return t, func() { t.Close() }, nil
}

// stateDir is where the journal of a target's faults lives: the lab dir,
// or --state, or $XDG_STATE_HOME/drdrill/<target name>.
func (s *targetSpec) stateDir(flag string) string {
	switch {
	case flag != "":
		return flag
	case s.isLab():
		return s.labDir
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "/root"
		}
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "drdrill", s.file.Name)
}

// hostResolver reaches a target file's hosts: this machine, a network
// namespace or a container on it, or an ssh:// host.
func hostResolver(f *targetfile.File) (targetfile.HostResolver, func(), error) {
	ssh, closeSSH, err := sshResolver(f)
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context, via, site string) (transport.Host, error) {
		if via == "" {
			return transport.Local{}, nil
		}
		if kind, name, ok := targetfile.LocalVia(via); ok {
			if kind == "netns" {
				return transport.NewNetns(name)
			}
			return transport.NewDocker(name)
		}
		return ssh(ctx, via, site)
	}, closeSSH, nil
}

// reportName is the target as reports and metrics name it: "lab" or the
// target file's name.
func (s *targetSpec) reportName() string {
	if s.isLab() {
		return "lab"
	}
	return s.file.Name
}
