package transport

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalExec(t *testing.T) {
	out, err := Local{}.Exec(context.Background(), []string{"echo", "hi"}, false)
	if err != nil || strings.TrimSpace(string(out)) != "hi" {
		t.Fatalf("echo: %q %v", out, err)
	}
	_, err = Local{}.Exec(context.Background(), []string{"sh", "-c", "echo nope >&2; exit 3"}, false)
	var ee *ExecError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("a failing command: %v", err)
	}
	if _, err := (Local{}).Exec(context.Background(), nil, false); err == nil {
		t.Fatal("no command must be an error")
	}
}

// ExecInput hands stdin to the command; nil is no stdin, as Exec.
func TestLocalExecInput(t *testing.T) {
	in := []byte("[client]\npassword = \"x\"\n")
	out, err := Local{}.ExecInput(context.Background(), []string{"cat"}, false, in)
	if err != nil || string(out) != string(in) {
		t.Fatalf("cat: %q %v", out, err)
	}
	if out, err := (Local{}).ExecInput(context.Background(), []string{"cat"}, false, nil); err != nil || len(out) != 0 {
		t.Fatalf("cat without stdin: %q %v", out, err)
	}
	if _, err := (Local{}).ExecInput(context.Background(), []string{"true"}, false, in); err != nil {
		t.Fatalf("a command that does not read its stdin: %v", err)
	}
}

func TestLocalDialUnix(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	c, err := Local{}.Dial(context.Background(), "unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 1)
	if _, err := c.Read(b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q %v", b, err)
	}
}

func TestNetns(t *testing.T) {
	if _, err := NewNetns("no-such-ns-drdrill"); err == nil || !strings.Contains(err.Error(), "no such network namespace") {
		t.Fatalf("missing namespace: %v", err)
	}
	if _, err := NewNetns("a/b"); err == nil {
		t.Fatal("a bad name must be refused")
	}
	n := Netns{Namespace: "x"}
	if _, err := n.Dial(context.Background(), "tcp", "10.20.11.123:3306"); err == nil || !strings.Contains(err.Error(), "only unix sockets") {
		t.Fatalf("tcp from a namespace must be refused: %v", err)
	}
}

// Exec runs inside the namespace (root: makes a throwaway namespace).
func TestNetnsExec(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and ip netns")
	}
	name := "drdtt-" + strings.ReplaceAll(t.Name(), "/", "-")
	if out, err := (Local{}).Exec(context.Background(), []string{"ip", "netns", "add", name}, false); err != nil {
		t.Skipf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { (Local{}).Exec(context.Background(), []string{"ip", "netns", "del", name}, false) })
	n, err := NewNetns(name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := n.Exec(context.Background(), []string{"ip", "-o", "link"}, false)
	if err != nil || !strings.Contains(string(out), "lo:") || strings.Contains(string(out), "eth0") {
		t.Fatalf("inside the namespace only lo: %q %v", out, err)
	}
	_, err = n.Exec(context.Background(), []string{"false"}, false)
	var ee *ExecError
	if !errors.As(err, &ee) || ee.Host != "netns://"+name {
		t.Fatalf("a failing command names the namespace: %v", err)
	}
	in := []byte("line 1\nline 2\n")
	out, err = n.ExecInput(context.Background(), []string{"cat"}, false, in)
	if err != nil || string(out) != string(in) {
		t.Fatalf("cat in the namespace: %q %v", out, err)
	}
}

func TestDockerHost(t *testing.T) {
	if _, err := NewDocker("bad name"); err == nil {
		t.Fatal("a bad container name must be refused")
	}
	d, err := NewDocker("drdrill-aws-gw")
	if err != nil || d.Name() != "docker://drdrill-aws-gw" {
		t.Fatalf("%v %v", d, err)
	}
	if _, err := d.Dial(context.Background(), "tcp", "10.20.11.123:3306"); err == nil {
		t.Fatal("tcp from a container must be refused")
	}
}
