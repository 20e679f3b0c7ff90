package sshhost

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func execCommand(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// startAgent serves an in-process ssh agent holding the key at keyPath.
func startAgent(t *testing.T, keyPath string) string {
	t.Helper()
	b, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: k}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
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
			go func() { defer wg.Done(); agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	return sock
}

func TestNewPoolValidates(t *testing.T) {
	d := t.TempDir()
	key := filepath.Join(d, "id")
	signer, _ := writeKey(t, key)
	kh := knownHosts(t, line("h", signer.PublicKey()))
	bad := filepath.Join(d, "bad_known_hosts")
	os.WriteFile(bad, []byte("# ok\nh ssh-ed25519 notbase64!!\n"), 0o644)
	enc := filepath.Join(d, "enc")
	{
		raw, _ := ssh.ParseRawPrivateKey(mustRead(t, key))
		blk, err := ssh.MarshalPrivateKeyWithPassphrase(raw, "", []byte("secret-passphrase"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(enc, pemEncode(blk), 0o600)
	}
	notKey := filepath.Join(d, "notkey")
	os.WriteFile(notKey, []byte("hello"), 0o600)

	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"no known_hosts", Options{IdentityFile: key}, "known_hosts is required"},
		{"missing known_hosts", Options{KnownHosts: filepath.Join(d, "nope"), IdentityFile: key}, "nope: no such file"},
		{"known_hosts a dir", Options{KnownHosts: d, IdentityFile: key}, "not a regular file"},
		{"bad known_hosts line", Options{KnownHosts: bad, IdentityFile: key}, bad + ":2"},
		{"no auth", Options{KnownHosts: kh}, "no way to authenticate"},
		{"missing identity", Options{KnownHosts: kh, IdentityFile: filepath.Join(d, "gone")}, "gone: no such file"},
		{"encrypted identity", Options{KnownHosts: kh, IdentityFile: enc}, "encrypted with a passphrase"},
		{"not a key", Options{KnownHosts: kh, IdentityFile: notKey}, "not a private key"},
		{"jump and command", Options{KnownHosts: kh, IdentityFile: key, ProxyJump: "b", ProxyCommand: "nc %h %p"}, "mutually exclusive"},
		{"bad jump", Options{KnownHosts: kh, IdentityFile: key, ProxyJump: "a,,b"}, "proxy_jump"},
		{"bad jump port", Options{KnownHosts: kh, IdentityFile: key, ProxyJump: "a:99999"}, "port"},
		{"jump password", Options{KnownHosts: kh, IdentityFile: key, ProxyJump: "u:hunter2@a"}, "passwords are never used"},
		{"per-host command for a bad name", Options{KnownHosts: kh, IdentityFile: key, ProxyCommands: map[string]string{"a b": "x"}}, "not a host name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SSH_AUTH_SOCK", "")
			_, err := NewPool(c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error with %q, got %v", c.want, err)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret-passphrase") {
				t.Errorf("a secret in the error: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
		})
	}
	t.Run("agent unset", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", "")
		if _, err := NewPool(Options{KnownHosts: kh, UseAgent: true}); err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK is not set") {
			t.Fatal(err)
		}
	})
	t.Run("agent not answering", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", filepath.Join(d, "no-agent.sock"))
		if _, err := NewPool(Options{KnownHosts: kh, UseAgent: true}); err == nil || !strings.Contains(err.Error(), "no-agent.sock") {
			t.Fatal(err)
		}
	})
	t.Run("home", func(t *testing.T) {
		t.Setenv("HOME", d)
		p, err := NewPool(Options{KnownHosts: "~/" + filepath.Base(kh), IdentityFile: "~/id"})
		if err == nil {
			p.Close()
			t.Fatal("known_hosts is in another dir: want an error")
		}
		os.WriteFile(filepath.Join(d, "kh"), mustRead(t, kh), 0o644)
		p, err = NewPool(Options{KnownHosts: "~/kh", IdentityFile: "~/id"})
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
	})
}

func TestHostRejectsBadVia(t *testing.T) {
	d := t.TempDir()
	key := filepath.Join(d, "id")
	signer, _ := writeKey(t, key)
	p, err := NewPool(Options{KnownHosts: knownHosts(t, line("h", signer.PublicKey())), IdentityFile: key, User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for via, want := range map[string]string{
		"h":                      "want ssh://",
		"tcp://h:22":             "want ssh://",
		"ssh://u:hunter2@h":      "passwords are never used",
		"ssh://h/path":           "nothing after the port",
		"ssh://h:0":              "port",
		"ssh://h;reboot":         "not a host name",
		"ssh://$(reboot)@h":      "user",
		"ssh://h:22?x=1":         "nothing after the port",
		"ssh://bad%20user@h":     "user",
		"ssh://-oProxyCommand=x": "not a host name",
	} {
		_, err := p.Host(context.Background(), via)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want %q, got %v", via, want, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the password is in the error: %v", via, err)
		}
	}
}

func TestParseVia(t *testing.T) {
	for via, want := range map[string]hop{
		"ssh://h":                {host: "h", port: 22},
		"ssh://u@h.example.com":  {user: "u", host: "h.example.com", port: 22},
		"ssh://u@10.0.0.1:2222":  {user: "u", host: "10.0.0.1", port: 2222},
		"ssh://drdrill@[::1]:22": {user: "drdrill", host: "::1", port: 22},
	} {
		got, err := parseVia(via)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", via, got, err, want)
		}
	}
	if h := (hop{user: "u", host: "::1", port: 22}); h.name() != "ssh://u@[::1]:22" {
		t.Errorf("name %s", h.name())
	}
}

func TestShellJoin(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"nft", "-f", "/tmp/x.nft"}, "nft -f /tmp/x.nft"},
		{[]string{"echo", "a b", "it's", ""}, `echo 'a b' 'it'\''s' ''`},
		{[]string{"sh", "-c", "a; b"}, `sh -c 'a; b'`},
		{[]string{"x", "$HOME", "`id`", "*"}, `x '$HOME' '` + "`id`" + `' '*'`},
	} {
		if got := ShellJoin(c.argv); got != c.want {
			t.Errorf("ShellJoin(%q) = %s, want %s", c.argv, got, c.want)
		}
	}
}

func TestExpandProxy(t *testing.T) {
	h := hop{user: "root", host: "aws-gw", port: 22}
	got, err := expandProxy("ip netns exec lab-%h sshd -i -f /x/%h.conf # %r %p %%", h)
	if err != nil || got != "ip netns exec lab-aws-gw sshd -i -f /x/aws-gw.conf # root 22 %" {
		t.Errorf("got %q %v", got, err)
	}
	for _, bad := range []string{"x %q", "x %"} {
		if _, err := expandProxy(bad, h); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
