package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DefaultDir is where a lab lives when no --lab is given.
const DefaultDir = "/tmp/drdrill-lab"

// Options for Up.
type Options struct {
	Dir     string
	Backend Backend // nil: netns
	Log     *slog.Logger
	// Timeout bounds the whole Up (default 60 s).
	Timeout time.Duration
	// Failover adds the failover drills' hosts (aws-db2, aws-dns, aws-app,
	// peer-app; see failover.go). netns backend only.
	Failover bool
	// TLS gives the databases a certificate from a CA made for the lab
	// (DIR/tls) and an administrator account for TCP (TLSUser, password in
	// DIR/tls.password), so that the lab's target file over ssh reaches
	// them by address with tls:. netns backend only.
	TLS bool
}

// preflighter is the optional ability of a backend to check its own
// dependencies before anything is created.
type preflighter interface{ Preflight() error }

// Prepare validates a lab dir and backend without changing anything and
// returns the absolute dir. Errors are *InputError or *EnvError (exit 2).
func Prepare(dir string, b Backend) (string, error) {
	if dir == "" {
		dir = DefaultDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", inputErrorf("lab dir %q: %v", dir, err)
	}
	if err := checkSocketPaths(newInfo(abs, b.Name())); err != nil {
		return "", err
	}
	if info, err := Load(abs); err == nil {
		if info.Phase == PhaseUp {
			return "", inputErrorf("lab at %s is already up (drdrill lab status --lab %s; drdrill lab down --lab %s)", abs, abs, abs)
		}
		return "", inputErrorf("lab at %s was left %s by an earlier run: run drdrill lab down --lab %s first", abs, info.Phase, abs)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", inputErrorf("lab dir %s is in use: %v", abs, err)
	}
	if ents, err := os.ReadDir(abs); err == nil && len(ents) > 0 {
		return "", inputErrorf("lab dir %s is in use: it is not empty and holds no %s", abs, InfoFile)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", inputErrorf("lab dir %s: %v", abs, err)
	}
	// The input is valid; now what this machine lacks.
	if p, ok := b.(preflighter); ok {
		if err := p.Preflight(); err != nil {
			return "", err
		}
	}
	return abs, nil
}

// Up builds a lab in opts.Dir and returns when it is ready (tunnel up on
// both sides, replica threads running, schema replicated). On failure it
// removes everything it made and returns an error naming the host.
func Up(ctx context.Context, opts Options) (info *Info, err error) {
	b := opts.Backend
	if b == nil {
		b = NewNetnsBackend()
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := Prepare(opts.Dir, b)
	if err != nil {
		return nil, err
	}
	if opts.Failover {
		if err := checkFailover(dir, b); err != nil {
			return nil, err
		}
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer context.AfterFunc(interrupted, cancel)()

	info = newInfo(dir, b.Name())
	info.CreatedAt = time.Now().UTC()
	done, err := beginUp(dir, b)
	if err != nil {
		return nil, err
	}
	defer done() // after the cleanup below: deferred calls run last first
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, inputErrorf("lab dir %s: %v", dir, err)
	}
	rec := &fileRecorder{info: info}
	if err := rec.Record(func(*Info) {}); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer func() {
		if err == nil {
			return
		}
		// Clean up with a fresh context: ctx may be what failed.
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		rec.Record(func(i *Info) { i.Phase = PhaseFailed })
		snap := rec.snapshot()
		terr := errors.Join(b.Teardown(cctx, snap), removeDirs(snap))
		if terr != nil {
			err = fmt.Errorf("%w (cleanup also failed: %v; run drdrill lab down --lab %s)", err, terr, dir)
			return
		}
		os.RemoveAll(dir)
		untrack(dir)
		info = nil
	}()

	sec, err := newSecrets(dir)
	if err != nil {
		return nil, err
	}
	if opts.TLS {
		if b.Name() != "netns" {
			return nil, inputErrorf("--tls: the netns backend only")
		}
		if err := makeTLS(info); err != nil {
			return nil, fmt.Errorf("lab up: tls: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, TLSPasswordFile), []byte(sec.TLSPassword+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	if b.Name() == "netns" {
		if err := useTmpfsData(info, rec); err != nil {
			return nil, err
		}
	}
	for _, s := range Sites {
		if err := renderSite(info, s); err != nil {
			return nil, err
		}
	}
	if opts.Failover {
		if err := planFailover(info, rec); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	if err := b.Provision(ctx, info, rec); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	if opts.Failover {
		if err := provisionFailover(ctx, info, rec); err != nil {
			return nil, fmt.Errorf("lab up: failover hosts: %w", err)
		}
	}
	log.Debug("lab provisioned", "backend", b.Name(), "took", time.Since(t0))
	t1 := time.Now()
	if err := configure(ctx, info, sec); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	if opts.Failover {
		if err := configureFailover(ctx, info, sec); err != nil {
			return nil, fmt.Errorf("lab up: failover hosts: %w", err)
		}
	}
	log.Debug("lab configured", "took", time.Since(t1))
	if err := rec.Record(func(i *Info) { i.Phase = PhaseUp }); err != nil {
		return nil, err
	}
	return rec.snapshot(), nil
}

// Down takes the lab at dir down: it stops only what the lab recorded (and
// anything running in the lab's namespaces or carrying its label), deletes
// the namespaces or containers and the lab dir. Idempotent; works on a lab
// whose Up crashed or was killed.
func Down(ctx context.Context, dir string, backends map[string]Backend) error {
	if dir == "" {
		dir = DefaultDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return inputErrorf("lab dir %q: %v", dir, err)
	}
	info, err := Load(abs)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			// A torn lab.json (killed mid-write cannot happen: writes are
			// atomic) or a foreign file: still sweep by id.
			slog.Warn("lab down: unreadable lab state; sweeping by lab id", "dir", abs, "err", err)
		}
		info = newInfo(abs, "netns")
		info.Sites = map[string]*Site{}
	}
	b := backends[info.Backend]
	if b == nil {
		return fmt.Errorf("lab down: unknown backend %q in %s", info.Backend, filepath.Join(abs, InfoFile))
	}
	if err := b.Teardown(ctx, info); err != nil {
		return fmt.Errorf("lab down %s: %w", abs, err)
	}
	if err := removeDirs(info); err != nil {
		return fmt.Errorf("lab down %s: %w", abs, err)
	}
	untrack(abs)
	// Only remove a dir that is a lab's (or is empty).
	if _, err := os.Stat(filepath.Join(abs, InfoFile)); err == nil {
		return os.RemoveAll(abs)
	}
	os.Remove(abs)
	return nil
}

// Load reads DIR/lab.json.
func Load(dir string) (*Info, error) {
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return nil, err
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, InfoFile), err)
	}
	if info.Schema != InfoSchema {
		return nil, fmt.Errorf("read %s: schema %q, want %q", filepath.Join(dir, InfoFile), info.Schema, InfoSchema)
	}
	return &info, nil
}

// fileRecorder keeps Info and writes it atomically after every change.
type fileRecorder struct {
	mu   sync.Mutex
	info *Info
}

func (r *fileRecorder) Record(f func(*Info)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.info)
	return writeInfo(r.info)
}

func (r *fileRecorder) snapshot() *Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(r.info)
	var c Info
	json.Unmarshal(b, &c)
	return &c
}

// Recorder returns a Recorder that persists changes to info's lab.json (for
// drills that restart a daemon and must record its new pid).
func RecorderFor(info *Info) Recorder { return &fileRecorder{info: info} }

func writeInfo(info *Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(info.Dir, InfoFile)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Secrets are a lab's PSK, replication password and application password:
// random per lab, kept in DIR/secrets.json (0600) because a restarted
// gateway must reload the PSK. They never appear in lab.json, logs, reports,
// errors or command lines. The application account exists on a failover
// lab only (configureFailover).
type Secrets struct {
	PSK          string `json:"psk"`
	ReplUser     string `json:"repl_user"`
	ReplPassword string `json:"repl_password"`
	AppUser      string `json:"app_user,omitempty"`
	AppPassword  string `json:"app_password,omitempty"`
	TLSPassword  string `json:"tls_password,omitempty"` // TLSUser's (Options.TLS)
}

const secretsFile = "secrets.json"

// ReplPasswordFile holds the replication password alone (0600), for the
// lab's target file (replication.password_file).
const ReplPasswordFile = "repl.password"

func newSecrets(dir string) (*Secrets, error) {
	rnd := func() string {
		b := make([]byte, 18)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	s := &Secrets{PSK: rnd(), ReplUser: "drdrill_repl", ReplPassword: rnd(), AppUser: AppUser, AppPassword: rnd(), TLSPassword: rnd()}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(dir, ReplPasswordFile), []byte(s.ReplPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	return s, os.WriteFile(filepath.Join(dir, secretsFile), b, 0o600)
}

// LoadSecrets reads a lab's secrets (for reports to scrub, and for restarts).
func LoadSecrets(dir string) (*Secrets, error) {
	b, err := os.ReadFile(filepath.Join(dir, secretsFile))
	if err != nil {
		return nil, err
	}
	var s Secrets
	return &s, json.Unmarshal(b, &s)
}

// Values lists the secret strings, for redaction.
func (s *Secrets) Values() []string {
	if s == nil {
		return nil
	}
	out := []string{s.PSK, s.ReplPassword}
	if s.AppPassword != "" {
		out = append(out, s.AppPassword)
	}
	if s.TLSPassword != "" {
		out = append(out, s.TLSPassword)
	}
	return out
}

// removeDirs deletes the lab's dirs outside the lab dir, and only those that
// carry the lab's id in their name (a hand-edited lab.json cannot make Down
// delete anything else).
func removeDirs(info *Info) error {
	var errs []error
	for _, d := range info.Resources.Dirs {
		if !strings.Contains(filepath.Base(d), info.ID) {
			errs = append(errs, fmt.Errorf("refusing to remove %s: not named after lab %s", d, info.ID))
			continue
		}
		errs = append(errs, os.RemoveAll(d))
	}
	// A crash between creating the tmpfs dir and recording it cannot happen
	// (it is recorded first), but sweep the derived name anyway.
	errs = append(errs, os.RemoveAll(filepath.Join(TmpfsRoot, "drdrill-"+info.ID)))
	return errors.Join(errs...)
}
