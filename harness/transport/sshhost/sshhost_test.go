package sshhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/transport"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// current is the connection a host handle uses now.
func current(t *testing.T, h transport.Host) *client {
	t.Helper()
	e := h.(*host).ep
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		t.Fatal("no current connection")
	}
	return e.cur
}

func sshdPID(t *testing.T, h transport.Host) int {
	c := current(t, h)
	if c.proxy == nil {
		t.Fatal("not over a proxy command")
	}
	return c.proxy.cmd.Process.Pid
}

func TestExec(t *testing.T) {
	ctx := ctxT(t)
	h := targetHost(t, ctx)
	if h.Name() != "ssh://target" {
		t.Errorf("Name = %q", h.Name())
	}
	// Arguments arrive as they were given, whatever they hold.
	odd := []string{"a b", `it's`, `$HOME`, "*", "", `"q"`, "x;y", "\\n"}
	out, err := h.Exec(ctx, append([]string{"printf", "[%s]"}, odd...), false)
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, a := range odd {
		want += "[" + a + "]"
	}
	if string(out) != want {
		t.Errorf("printf: got %q, want %q", out, want)
	}
	// A failing command: *transport.ExecError with its output (stdout and stderr).
	out, err = h.Exec(ctx, []string{"sh", "-c", "echo out; echo nope >&2; exit 3"}, false)
	var ee *transport.ExecError
	if !errors.As(err, &ee) {
		t.Fatalf("exit 3: want *transport.ExecError, got %T %v", err, err)
	}
	if !strings.Contains(ee.Output, "out") || !strings.Contains(ee.Output, "nope") || !strings.Contains(err.Error(), "status 3") {
		t.Errorf("exit 3: error %q, output %q", err, ee.Output)
	}
	if string(out) != ee.Output {
		t.Errorf("output returned %q, in the error %q", out, ee.Output)
	}
	// sudo -n -- prefix, quoted like the rest.
	out, err = h.Exec(ctx, []string{"sh", "-c", `echo "$0:$(id -u)"`, "a b"}, true)
	if err != nil {
		t.Fatalf("sudo: %v", err)
	}
	if strings.TrimSpace(string(out)) != "a b:0" {
		t.Errorf("sudo: got %q", out)
	}
	if _, err := h.Exec(ctx, []string{"false"}, true); !errors.As(err, &ee) || ee.Argv[0] != "sudo" || ee.Argv[3] != "false" {
		t.Errorf("sudo false: %v (argv %q)", err, ee.Argv)
	}
	if _, err := h.Exec(ctx, nil, false); err == nil {
		t.Error("no command: want an error")
	}
}

// ExecInput's stdin reaches the command (with sudo too); nil is an empty
// stdin; a command that leaves it unread has still run.
func TestExecInput(t *testing.T) {
	ctx := ctxT(t)
	h := targetHost(t, ctx)
	in := []byte("[client]\npassword = \"pa'ss\"\n")
	for _, sudo := range []bool{false, true} {
		out, err := h.ExecInput(ctx, []string{"cat"}, sudo, in)
		if err != nil || string(out) != string(in) {
			t.Fatalf("cat (sudo %v): %q %v", sudo, out, err)
		}
	}
	if out, err := h.ExecInput(ctx, []string{"cat"}, false, nil); err != nil || len(out) != 0 {
		t.Fatalf("cat without stdin: %q %v", out, err)
	}
	// More than the channel's window: the write fails once true exits.
	if _, err := h.ExecInput(ctx, []string{"true"}, false, make([]byte, 8<<20)); err != nil {
		t.Fatalf("a command that does not read its stdin: %v", err)
	}
}

func TestExecContext(t *testing.T) {
	s := newServer(t)
	p := newPool(t, s.options(t))
	h, err := p.Host(ctxT(t), "ssh://target")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	// sshd forwards the KILL only with post-auth privilege separation,
	// which it never uses for root: as root the command runs to its end
	// (so it is short here; the cleanup checks that nothing is left).
	_, err = h.Exec(ctx, []string{"sleep", "1.5"}, false)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the deadline, got %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("cancelled exec took %s", d)
	}
	// The connection still works.
	if _, err := h.Exec(ctxT(t), []string{"true"}, false); err != nil {
		t.Fatal(err)
	}
}

// echoServer accepts on a unix socket and echoes lines back.
func echoServer(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "echo.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					s, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte("echo " + s))
				}
			}()
		}
	}()
	return path
}

func TestDialUnix(t *testing.T) {
	sock := echoServer(t)
	s := newServer(t)
	p := newPool(t, s.options(t))
	ctx := ctxT(t)
	h, err := p.Host(ctx, "ssh://root@target:22")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for i := 0; i < 3; i++ { // channels share the one connection
		c, err := h.Dial(ctx, "unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		if c.RemoteAddr().String() != sock {
			t.Errorf("RemoteAddr = %v", c.RemoteAddr())
		}
		if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatalf("deadlines must work (go-sql-driver sets them): %v", err)
		}
		msg := strings.Repeat("x", i*40000) + "hi\n" // more than one channel window
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || got != "echo "+msg {
			t.Fatalf("echo: %d bytes, %v", len(got), err)
		}
	}
	// A read deadline times out as a net.Error and leaves the conn usable.
	c := conns[0]
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	if n := len(p.eps); n != 1 {
		t.Errorf("pool has %d connections, want 1", n)
	}
	// A socket that is not there: the server refuses the channel; the
	// connection is fine and not redialled.
	reconnects := 0
	p.v.o.OnReconnect = func(string, error) { reconnects++ }
	if _, err := h.Dial(ctx, "unix", sock+".missing"); err == nil || !strings.Contains(err.Error(), sock+".missing") {
		t.Errorf("missing socket: %v", err)
	}
	if _, err := h.Dial(ctx, "udp", "x:1"); err == nil {
		t.Error("udp: want an error")
	}
	if reconnects != 0 {
		t.Errorf("a refused channel caused %d reconnects", reconnects)
	}
}

func TestHostKeyUnknown(t *testing.T) {
	s := newServer(t)
	o := s.options(t)
	other, _ := writeKey(t, filepath.Join(t.TempDir(), "k"))
	o.KnownHosts = knownHosts(t, line("elsewhere", other.PublicKey()))
	p := newPool(t, o)
	_, err := p.Host(ctxT(t), "ssh://target")
	if !errors.Is(err, ErrUnknownHost) || errors.Is(err, ErrHostKeyChanged) {
		t.Fatalf("want ErrUnknownHost, got %v", err)
	}
	fp := ssh.FingerprintSHA256(s.hostKey.PublicKey())
	for _, want := range []string{"ssh://root@target:22", fp, "ssh-keyscan", o.KnownHosts} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Fingerprint != fp {
		t.Errorf("HostKeyError %+v", hk)
	}
}

func TestHostKeyChanged(t *testing.T) {
	s := newServer(t)
	o := s.options(t)
	old, _ := writeKey(t, filepath.Join(t.TempDir(), "k"))
	o.KnownHosts = knownHosts(t, "# comment", line("target", old.PublicKey()))
	p := newPool(t, o)
	_, err := p.Host(ctxT(t), "ssh://target")
	if !errors.Is(err, ErrHostKeyChanged) {
		t.Fatalf("want ErrHostKeyChanged, got %v", err)
	}
	for _, want := range []string{ssh.FingerprintSHA256(s.hostKey.PublicKey()), ssh.FingerprintSHA256(old.PublicKey()), o.KnownHosts + ":2", "CHANGED", "ssh-keygen -R target"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// A key for another port is not this host's.
	o.KnownHosts = knownHosts(t, line("[target]:2222", s.hostKey.PublicKey()))
	p2 := newPool(t, o)
	if _, err := p2.Host(ctxT(t), "ssh://target"); !errors.Is(err, ErrUnknownHost) {
		t.Errorf("key known for port 2222 only: %v", err)
	}
	// Revoked.
	o.KnownHosts = knownHosts(t, line("target", s.hostKey.PublicKey()), "@revoked "+line("*", s.hostKey.PublicKey()))
	p3 := newPool(t, o)
	if _, err := p3.Host(ctxT(t), "ssh://target"); !errors.Is(err, ErrHostKeyRevoked) {
		t.Errorf("revoked: %v", err)
	}
}

// A server with an RSA and an ed25519 host key, known here by its RSA key:
// the RSA key is asked for, not reported as changed.
func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	requireSSHD(t)
	s := newServer(t)
	rsaKey := filepath.Join(s.dir, "host_rsa")
	if out, err := execCommand("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsaKey); err != nil {
		t.Skipf("ssh-keygen: %v %s", err, out)
	}
	cfg, _ := os.ReadFile(s.config)
	os.WriteFile(s.config, append(cfg, []byte("HostKey "+rsaKey+"\n")...), 0o644)
	pubB, _ := os.ReadFile(rsaKey + ".pub")
	pub, _, _, _, err := ssh.ParseAuthorizedKey(pubB)
	if err != nil {
		t.Fatal(err)
	}
	o := s.options(t)
	o.KnownHosts = knownHosts(t, line("target", pub))
	p := newPool(t, o)
	h, err := p.Host(ctxT(t), "ssh://target")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Exec(ctxT(t), []string{"true"}, false); err != nil {
		t.Fatal(err)
	}
}

func TestReconnectAfterSSHDKilled(t *testing.T) {
	s := newServer(t)
	o := s.options(t)
	var mu sync.Mutex
	var events []string
	o.OnReconnect = func(host string, err error) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, host+": "+err.Error())
	}
	p := newPool(t, o)
	ctx := ctxT(t)
	h, err := p.Host(ctx, "ssh://target")
	if err != nil {
		t.Fatal(err)
	}
	first := current(t, h)
	// Killed, and used at once: the call finds the connection dead and
	// dials again (once), or finds it already marked lost.
	syscall.Kill(sshdPID(t, h), syscall.SIGKILL)
	out, err := h.Exec(ctx, []string{"echo", "back"}, false)
	if err != nil || strings.TrimSpace(string(out)) != "back" {
		t.Fatalf("exec after the kill: %q %v", out, err)
	}
	if current(t, h) == first {
		t.Error("still on the killed connection")
	}
	// Killed, and noticed before the next call.
	second := current(t, h)
	syscall.Kill(sshdPID(t, h), syscall.SIGKILL)
	if err := poll.Until(ctx, "the lost connection to be noticed", 5*time.Millisecond, 5*time.Second, func(context.Context) (bool, string, error) {
		return second.lost(), "", nil
	}); err != nil {
		t.Fatal(err)
	}
	c, err := h.Dial(ctx, "unix", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Killed, and the first reconnect fails (the server is not there):
	// the call fails naming why; the next one reconnects and reports the
	// original loss.
	os.Rename(s.config, s.config+".away")
	syscall.Kill(sshdPID(t, h), syscall.SIGKILL)
	_, err = h.Exec(ctx, []string{"true"}, false)
	if err == nil || !strings.Contains(err.Error(), "reconnecting after") {
		t.Fatalf("exec with the server away: %v", err)
	}
	os.Rename(s.config+".away", s.config)
	if _, err := h.Exec(ctx, []string{"true"}, false); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 3 {
		t.Fatalf("OnReconnect calls: %q, want 3", events)
	}
	for _, e := range events {
		if !strings.HasPrefix(e, "ssh://root@target:22: ") {
			t.Errorf("OnReconnect: %q", e)
		}
	}
}

func TestKeepaliveDetectsDeadConnection(t *testing.T) {
	s := newServer(t)
	o := s.options(t)
	o.Keepalive = 100 * time.Millisecond
	var got error
	var mu sync.Mutex
	o.OnReconnect = func(_ string, err error) { mu.Lock(); got = err; mu.Unlock() }
	p := newPool(t, o)
	ctx := ctxT(t)
	h, err := p.Host(ctx, "ssh://target")
	if err != nil {
		t.Fatal(err)
	}
	c := current(t, h)
	// Keepalives are sent and answered: alive after several rounds.
	if err := poll.Until(ctx, "3 keepalive replies", 10*time.Millisecond, 3*time.Second, func(context.Context) (bool, string, error) {
		if c.lost() {
			return false, "", fmt.Errorf("lost while the server answers: %v", c.cause())
		}
		return c.replies.Load() >= 3, "", nil
	}); err != nil {
		t.Fatal(err)
	}
	// A stopped sshd: the connection stays open but nothing answers.
	pid := sshdPID(t, h)
	syscall.Kill(pid, syscall.SIGSTOP)
	t0 := time.Now()
	if err := poll.Until(ctx, "the keepalive to mark the connection lost", 10*time.Millisecond, 3*time.Second, func(context.Context) (bool, string, error) {
		return c.lost(), "", nil
	}); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Errorf("took %s to notice (keepalive 100ms)", d)
	}
	if !strings.Contains(c.cause().Error(), "keepalive") {
		t.Errorf("cause: %v", c.cause())
	}
	if _, err := h.Exec(ctx, []string{"true"}, false); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got == nil || !strings.Contains(got.Error(), "keepalive") {
		t.Errorf("OnReconnect: %v", got)
	}
}

func TestSharedConnectionAndClose(t *testing.T) {
	s := newServer(t)
	p := newPool(t, s.options(t))
	ctx := ctxT(t)
	a, err := p.Host(ctx, "ssh://target")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Host(ctx, "ssh://root@target")
	if err != nil {
		t.Fatal(err)
	}
	if current(t, a) != current(t, b) {
		t.Fatal("two handles to one host must share one connection")
	}
	a.Close()
	a.Close() // idempotent
	if _, err := b.Exec(ctx, []string{"true"}, false); err != nil {
		t.Fatalf("closing one handle broke the other: %v", err)
	}
	b.Close()
	assertNoChildren(t) // the last handle closed the connection
	p.Close()
	if _, err := p.Host(ctx, "ssh://target"); err == nil {
		t.Error("Host after Close: want an error")
	}
}

// The agent instead of an identity file (an in-process agent on a socket).
func TestAgent(t *testing.T) {
	s := newServer(t)
	o := s.options(t)
	sock := startAgent(t, s.identity)
	t.Setenv("SSH_AUTH_SOCK", sock)
	o.IdentityFile, o.UseAgent = "", true
	p := newPool(t, o)
	h, err := p.Host(ctxT(t), "ssh://target")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Exec(ctxT(t), []string{"true"}, false); err != nil {
		t.Fatal(err)
	}
}

// A key the server does not authorise: one line naming the host.
func TestAuthRefused(t *testing.T) {
	s := newServer(t)
	o := s.options(t)
	o.IdentityFile = filepath.Join(t.TempDir(), "other")
	writeKey(t, o.IdentityFile)
	p := newPool(t, o)
	_, err := p.Host(ctxT(t), "ssh://target")
	if err == nil || !strings.Contains(err.Error(), "ssh://root@target:22") || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("want an authentication failure naming the host, got %v", err)
	}
}

// A proxy command that fails: its last stderr line is in the error.
func TestProxyCommandFails(t *testing.T) {
	s := newServer(t)
	o := s.options(t)
	o.ProxyCommands = map[string]string{"target": "echo no route to %h port %p as %r >&2; exit 7"}
	p := newPool(t, o)
	_, err := p.Host(ctxT(t), "ssh://target")
	if err == nil || !strings.Contains(err.Error(), "no route to target port 22 as root") {
		t.Fatalf("got %v", err)
	}
}

// The pool-wide ProxyCommand with %h serves every host.
func TestProxyCommandTemplate(t *testing.T) {
	s := newServer(t)
	o := s.options(t)
	cfg, _ := os.ReadFile(s.config)
	os.WriteFile(filepath.Join(s.dir, "target.sshd_config"), cfg, 0o644)
	o.ProxyCommands = nil
	o.ProxyCommand = sshdPath + " -i -e -f " + s.dir + "/%h.sshd_config"
	p := newPool(t, o)
	if _, err := p.Host(ctxT(t), "ssh://target"); err != nil {
		t.Fatal(err)
	}
}

// A unix socket whose listen backlog is full (charon's VICI socket has a
// backlog of 3) refuses a connect at once (EAGAIN); Dial tries again.
func TestDialUnixBacklogFull(t *testing.T) {
	ctx := ctxT(t)
	h := targetHost(t, ctx)
	path := filepath.Join(t.TempDir(), "full.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// Close through the *os.File that owns fd: closing fd directly left
	// the File's finalizer to close the number again later, by then
	// another file's (a TempDir cleanup failed with EBADF).
	f := os.NewFile(uintptr(fd), path)
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var fill []net.Conn
	for len(fill) < 16 {
		c, err := net.Dial("unix", path)
		if err != nil {
			break
		}
		fill = append(fill, c)
	}
	defer func() {
		for _, c := range fill {
			c.Close()
		}
	}()
	if _, err := net.Dial("unix", path); err == nil {
		t.Skip("could not fill the backlog")
	}
	// Accepting starts a little later, as a busy charon's does.
	accepted := make(chan struct{})
	time.AfterFunc(15*time.Millisecond, func() {
		defer close(accepted)
		for range len(fill) + 1 {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	})
	c, err := h.Dial(ctx, "unix", path)
	if err != nil {
		t.Fatalf("dial with the backlog full for 15ms: %v", err)
	}
	c.Close()
	<-accepted
}

// A conn whose far end went away fails like a socket: EOF on read, EPIPE
// on write; after our own Close, net.ErrClosed.
func TestDialConnErrors(t *testing.T) {
	ctx := ctxT(t)
	h := targetHost(t, ctx)
	c, err := h.Dial(ctx, "unix", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(sshdPID(t, h), syscall.SIGKILL)
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Errorf("a deadline on a conn whose far end went: %v, want nil as a socket's", err)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after the connection died: %v, want EOF", err)
	}
	if _, err := c.Write([]byte("x\n")); !errors.Is(err, syscall.EPIPE) || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("write after the connection died: %v, want EPIPE", err)
	}
	c.Close()
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v, want net.ErrClosed", err)
	}
	if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("deadline after Close: %v, want net.ErrClosed", err)
	}
}

// targetHost is ssh://target on a fresh test sshd.
func targetHost(tb testing.TB, ctx context.Context) transport.Host {
	tb.Helper()
	s := newServer(tb)
	h, err := newPool(tb, s.options(tb)).Host(ctx, "ssh://target")
	if err != nil {
		tb.Fatal(err)
	}
	return h
}
