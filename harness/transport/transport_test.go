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
