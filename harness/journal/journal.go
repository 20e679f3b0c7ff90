package journal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drdrill/drdrill/harness/fault"
)

// Files of a state dir.
const (
	FileName = "journal.jsonl"
	LockName = "journal.lock"
)

// Events of an entry.
const (
	EventInject    = "inject"    // written and synced before the fault is injected
	EventRecovered = "recovered" // its recovery completed (steady state back)
	EventAbandoned = "abandoned" // a person said it is no longer drdrill's to undo
)

// Ref names a target and how a later process reopens it.
type Ref struct {
	Name string `json:"name"`
	// Reopen is "lab:DIR" or "file:PATH" (absolute).
	Reopen string `json:"reopen"`
}

// LabRef is the reference of the lab in dir.
func LabRef(dir string) Ref {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return Ref{Name: "lab", Reopen: "lab:" + dir}
}

// FileRef is the reference of the target file at path, named name.
func FileRef(name, path string) Ref {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return Ref{Name: name, Reopen: "file:" + path}
}

// Entry is one line of the journal.
type Entry struct {
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Event string    `json:"event"`
	// PID is the process that wrote the line.
	PID    int `json:"pid"`
	Target Ref `json:"target"`
	// Fault is the registered name; Params rebuild it (fault.New).
	Fault  string       `json:"fault,omitempty"`
	Params fault.Params `json:"params,omitempty"`
	// Data is what the fault's Plan read for its Resume.
	Data json.RawMessage `json:"data,omitempty"`
	// Step is the drill step that injected it.
	Step string `json:"step,omitempty"`
	// Hosts, What and Undo say where, what and how to undo it by hand.
	Hosts []string `json:"hosts,omitempty"`
	What  string   `json:"what,omitempty"`
	Undo  string   `json:"undo,omitempty"`
	// DeadMan is what reverts the fault without drdrill, and DeadManAt
	// when ("" and nil: nothing does).
	DeadMan   string     `json:"dead_man,omitempty"`
	DeadManAt *time.Time `json:"dead_man_at,omitempty"`
	// MaxFaultMS is the bound the fault was injected under (0: none).
	MaxFaultMS int64 `json:"max_fault_ms,omitempty"`
	// Note says, on a recovered or abandoned entry, who did it and why.
	Note string `json:"note,omitempty"`
}

// Journal is a state dir's journal, open for appending, its lock held.
type Journal struct {
	dir  string
	lock *os.File

	mu       sync.Mutex
	f        *os.File
	ref      Ref
	warnings []string
}

// LockedError is a state dir another drdrill process holds.
type LockedError struct {
	Dir string
	PID int // the holder, 0 when unknown
}

func (e *LockedError) Error() string {
	who := "another drdrill process"
	if e.PID > 0 {
		who = fmt.Sprintf("drdrill pid %d", e.PID)
	}
	return fmt.Sprintf("state dir %s is in use by %s: one drill at a time per target", e.Dir, who)
}

// Open opens (creating it with mode 0700) the state dir's journal for
// appending and takes the dir's lock; a dir another process holds is a
// *LockedError. A last line torn by a kill -9 is closed off (a newline is
// appended) so that the next entry starts a line of its own.
func Open(dir string) (*Journal, error) {
	if dir == "" {
		return nil, errors.New("journal: no state dir")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: state dir %s: %w", dir, err)
	}
	created, err := mkdirAll(abs)
	if err != nil {
		return nil, fmt.Errorf("journal: state dir %s: %w", abs, err)
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return nil, fmt.Errorf("journal: state dir %s: %w", abs, err)
		}
	}
	lock, err := takeLock(abs)
	if err != nil {
		return nil, err
	}
	j := &Journal{dir: abs, lock: lock}
	path := filepath.Join(abs, FileName)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.f = f
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(abs); err != nil {
			j.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	if err := j.closeTornLine(); err != nil {
		j.Close()
		return nil, err
	}
	return j, nil
}

// mkdirAll is os.MkdirAll(dir, 0700) that returns the dirs it created.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("not a directory")
	}
	return missing, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// takeLock flocks dir/journal.lock (exclusive, without waiting) and writes
// this process's pid into it for the next one's error.
func takeLock(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("journal: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// closeTornLine appends a newline when the file does not end with one.
func (j *Journal) closeTornLine() error {
	fi, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if fi.Size() == 0 {
		return nil
	}
	last := make([]byte, 1)
	if _, err := j.f.ReadAt(last, fi.Size()-1); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if last[0] == '\n' {
		return nil
	}
	j.warn(fmt.Sprintf("%s: the last line has no newline (a kill -9 in the middle of a write): closed off; torn, it is ignored", j.Path()))
	if _, err := j.f.Write([]byte("\n")); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return j.f.Sync()
}

// Dir is the state dir; Path the journal file.
func (j *Journal) Dir() string  { return j.dir }
func (j *Journal) Path() string { return filepath.Join(j.dir, FileName) }

// SetTarget is the target new entries are written for (when they name
// none themselves).
func (j *Journal) SetTarget(r Ref) {
	j.mu.Lock()
	j.ref = r
	j.mu.Unlock()
}

// Target is what SetTarget set.
func (j *Journal) Target() Ref {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.ref
}

// Warnings are what reading the journal ignored (torn lines), for the
// caller to show.
func (j *Journal) Warnings() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.warnings...)
}

func (j *Journal) warn(w string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, have := range j.warnings {
		if have == w {
			return
		}
	}
	j.warnings = append(j.warnings, w)
}

// Begin writes an inject entry and syncs it to disk: call it before the
// fault changes anything. It returns the entry's id (for Done).
func (j *Journal) Begin(e Entry) (string, error) {
	if e.Fault == "" {
		return "", errors.New("journal: an inject entry needs the fault's name")
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	e.ID, e.Event = id, EventInject
	if err := j.append(e); err != nil {
		return "", err
	}
	return id, nil
}

// Done records that the fault's recovery completed.
func (j *Journal) Done(id string) error {
	return j.close(id, EventRecovered, "")
}

// DoneNote is Done saying who recovered it ("drdrill recover", "the
// max_fault watchdog").
func (j *Journal) DoneNote(id, note string) error {
	return j.close(id, EventRecovered, note)
}

// Abandon records that an open fault is no longer drdrill's to undo (a
// person undid it, or the target is gone); why is kept in the entry.
func (j *Journal) Abandon(id, why string) error {
	if strings.TrimSpace(why) == "" {
		return errors.New("journal: abandon: say why")
	}
	return j.close(id, EventAbandoned, why)
}

func (j *Journal) close(id, event, note string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("journal: %s: bad id %q", event, id)
	}
	return j.append(Entry{ID: id, Event: event, Note: note})
}

// append writes one line with one write(2) and fsyncs the file.
func (j *Journal) append(e Entry) error {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	e.PID = os.Getpid()
	j.mu.Lock()
	defer j.mu.Unlock()
	if e.Target == (Ref{}) {
		e.Target = j.ref
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if j.f == nil {
		return errors.New("journal: closed")
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: write %s: %w", j.Path(), err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync %s: %w", j.Path(), err)
	}
	return nil
}

var idRE = regexp.MustCompile(`^f-[0-9a-f]{12}$`)

func newID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("journal: id: %w", err)
	}
	return "f-" + hex.EncodeToString(b), nil
}

// Entries reads every readable line, in order; unreadable ones are
// warnings.
func (j *Journal) Entries() ([]Entry, error) {
	b, err := os.ReadFile(j.Path())
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	es, warns := parse(j.Path(), b)
	for _, w := range warns {
		j.warn(w)
	}
	return es, nil
}

// OpenFaults are the faults injected and neither recovered nor abandoned,
// in the order they were injected.
func (j *Journal) OpenFaults() ([]Entry, error) {
	es, err := j.Entries()
	if err != nil {
		return nil, err
	}
	return openOf(es), nil
}

// Pending reads the open faults of a state dir without taking its lock
// (for a status or preflight that changes nothing). A dir without a
// journal has none.
func Pending(dir string) (open []Entry, warnings []string, err error) {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	es, warns := parse(path, b)
	return openOf(es), warns, nil
}

func parse(path string, b []byte) ([]Entry, []string) {
	var out []Entry
	var warns []string
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var e Entry
		err := json.Unmarshal(l, &e)
		switch {
		case err != nil && i == len(lines)-1:
			warns = append(warns, fmt.Sprintf("%s: the last line is torn (a kill -9 in the middle of a write): ignored", path))
			continue
		case err != nil:
			warns = append(warns, fmt.Sprintf("%s:%d: unreadable line (a torn write): ignored", path, i+1))
			continue
		case !idRE.MatchString(e.ID):
			warns = append(warns, fmt.Sprintf("%s:%d: entry with a bad id %q: ignored", path, i+1, e.ID))
			continue
		}
		switch e.Event {
		case EventInject, EventRecovered, EventAbandoned:
			out = append(out, e)
		default:
			warns = append(warns, fmt.Sprintf("%s:%d: unknown event %q: ignored", path, i+1, e.Event))
		}
	}
	return out, warns
}

func openOf(es []Entry) []Entry {
	closed := map[string]bool{}
	for _, e := range es {
		if e.Event != EventInject {
			closed[e.ID] = true
		}
	}
	var out []Entry
	seen := map[string]bool{}
	for _, e := range es {
		if e.Event == EventInject && !closed[e.ID] && !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

// Close closes the file and releases the lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	if j.f != nil {
		errs = append(errs, j.f.Close())
		j.f = nil
	}
	if j.lock != nil {
		errs = append(errs, j.lock.Close()) // closing the fd releases the flock
		j.lock = nil
	}
	return errors.Join(errs...)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// DefaultDir is the state dir of a target: the lab's own dir for a lab,
// $XDG_STATE_HOME/drdrill/<name>/ (default ~/.local/state) for a target
// file, so that drdrill recover finds it from --lab or --target alone.
func DefaultDir(r Ref) (string, error) {
	kind, where, ok := strings.Cut(r.Reopen, ":")
	switch {
	case ok && kind == "lab" && where != "":
		return where, nil
	case ok && kind == "file":
	default:
		return "", fmt.Errorf("journal: target reference %q: want lab:DIR or file:PATH", r.Reopen)
	}
	if !nameRE.MatchString(r.Name) {
		return "", fmt.Errorf("journal: target name %q cannot name a state dir (letters, digits, . _ -)", r.Name)
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("journal: no state dir: $XDG_STATE_HOME unset and %w", err)
		}
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "drdrill", r.Name), nil
}
