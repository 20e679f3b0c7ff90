package sshhost

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proxyGrace is how long a proxy command may take to exit once its
// connection is closed before its process group is killed.
const proxyGrace = 2 * time.Second

// expandProxy substitutes OpenSSH's %h %p %r (and %%) in a proxy command.
func expandProxy(cmd string, h hop) (string, error) {
	var b strings.Builder
	for i := 0; i < len(cmd); i++ {
		if cmd[i] != '%' {
			b.WriteByte(cmd[i])
			continue
		}
		if i+1 == len(cmd) {
			return "", fmt.Errorf("proxy command %q: a lone %% at the end", cmd)
		}
		i++
		switch cmd[i] {
		case 'h':
			b.WriteString(h.host)
		case 'p':
			b.WriteString(strconv.Itoa(h.port))
		case 'r':
			b.WriteString(h.user)
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("proxy command %q: unknown %%%c (have %%h %%p %%r %%%%)", cmd, cmd[i])
		}
	}
	return b.String(), nil
}

// proxyConn is a connection carried by a proxy command's stdin and stdout
// (one end of a socket pair; the command has the other).
type proxyConn struct {
	net.Conn
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *tailBuffer
	once   sync.Once
}

// startProxy runs command with sh -c, in a process group of its own, as
// OpenSSH runs a ProxyCommand ("exec" first, so that the shell is replaced).
func startProxy(command string) (*proxyConn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("proxy command: socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "proxy"), os.NewFile(uintptr(fds[1]), "proxy-command")
	defer theirs.Close()
	cmd := exec.Command("/bin/sh", "-c", "exec "+command)
	stderr := &tailBuffer{max: 4096}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs, theirs, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Something the command leaves behind that holds its stderr open must
	// not hold up Wait.
	cmd.WaitDelay = proxyGrace
	if err := cmd.Start(); err != nil {
		ours.Close()
		return nil, fmt.Errorf("proxy command %q: %w", command, err)
	}
	c, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		return nil, fmt.Errorf("proxy command: %w", err)
	}
	p := &proxyConn{Conn: c, cmd: cmd, exited: make(chan struct{}), stderr: stderr}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Close closes the connection, which the command sees as EOF on its stdin,
// then waits for it to exit; one that does not within proxyGrace is
// killed with its process group. No process is left behind.
func (p *proxyConn) Close() error {
	var err error
	p.once.Do(func() {
		err = p.Conn.Close()
		select {
		case <-p.exited:
		case <-time.After(proxyGrace):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	})
	return err
}

// kill ends the command's process group at once (it stopped answering).
func (p *proxyConn) kill() {
	select {
	case <-p.exited:
	default:
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// lastError is the command's last line on stderr, or its exit status.
func (p *proxyConn) lastError() string {
	if s := p.stderr.lastLine(); s != "" {
		return s
	}
	select {
	case <-p.exited:
		if st := p.cmd.ProcessState; st != nil {
			return "it " + st.String()
		}
	default:
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(strings.ReplaceAll(string(t.b), "\r", ""))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
