package sshhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/transport"
)

// TestProxyJump reaches a destination through a jump host, as ssh -J does.
// Nothing listens in this machine's namespace: both servers live in a
// network namespace of the test's own. The jump host is reached through its
// proxy command (sshd -i inside the namespace); the destination is an sshd
// listening on 127.0.0.1:2222 inside the namespace, which only the jump
// host can dial.
func TestProxyJump(t *testing.T) {
	requireSSHD(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip (iproute2)")
	}
	ns := fmt.Sprintf("drdssh-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", ns, err, out)
		}
	})
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	bastion, dest := newServer(t), newServer(t)
	// One user key for both.
	os.WriteFile(dest.dir+"/authorized_keys", ssh.MarshalAuthorizedKey(bastion.userPub), 0o644)
	var mu sync.Mutex
	var reconnects []string
	o := Options{
		KnownHosts:    knownHosts(t, line("bastion", bastion.hostKey.PublicKey()), line("[127.0.0.1]:2222", dest.hostKey.PublicKey())),
		IdentityFile:  bastion.identity,
		User:          "root",
		ProxyJump:     "root@bastion",
		ProxyCommands: map[string]string{"bastion": "ip netns exec " + ns + " " + bastion.proxy()},
		OnReconnect: func(host string, err error) {
			mu.Lock()
			reconnects = append(reconnects, host)
			mu.Unlock()
		},
	}
	p := newPool(t, o)
	// Registered after the pool: stopped before the pool's cleanup checks
	// that nothing is left.
	daemon := exec.Command("ip", "netns", "exec", ns, sshdPath, "-D", "-e", "-f", dest.config, "-o", "ListenAddress=127.0.0.1:2222")
	var derr strings.Builder
	daemon.Stderr = &derr
	// Its per-connection children hold stderr until the pool closes.
	daemon.WaitDelay = time.Second
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
	})
	ctx := ctxT(t)
	var h transport.Host
	// Until the daemon listens: the jump host's channel is refused till then.
	err := poll.Until(ctx, "the destination sshd to accept through the jump host", 20*time.Millisecond, 5*time.Second, func(ctx context.Context) (bool, string, error) {
		var err error
		h, err = p.Host(ctx, "ssh://127.0.0.1:2222")
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			return false, err.Error(), nil
		}
		return err == nil, "", err
	})
	if err != nil {
		t.Fatalf("%v (sshd: %s)", err, derr.String())
	}
	out, err := h.Exec(ctx, []string{"cat", "/proc/net/dev"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), ":") != 1 || !strings.Contains(string(out), "lo:") {
		t.Errorf("the destination should be in the namespace (lo only): %s", out)
	}
	jump, d := endpointNamed(t, p, "ssh://root@bastion:22"), h.(*host).ep
	if d.via != jump || d.depth != 1 {
		t.Errorf("destination not reached through the jump host: via %v depth %d", d.via, d.depth)
	}

	// The jump host's connection dies: both are dialled again on the next call.
	syscall.Kill(jump.cur.proxy.cmd.Process.Pid, syscall.SIGKILL)
	if err := poll.Until(ctx, "the destination's connection to be lost with the jump host's", 5*time.Millisecond, 5*time.Second, func(context.Context) (bool, string, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.cur.lost(), "", nil
	}); err != nil {
		t.Fatal(err)
	}
	// The jump host's watcher may not have seen its connection end yet
	// (it did not here once, under load): as if so, the dead connection
	// is handed out, its channel open fails on the transport, and the jump
	// host is dialled again within the same call.
	jump.mu.Lock()
	jump.cur.mu.Lock()
	jump.cur.err = nil
	jump.cur.mu.Unlock()
	jump.mu.Unlock()
	if _, err := h.Exec(ctx, []string{"true"}, false); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if strings.Join(reconnects, " ") != "ssh://root@bastion:22 ssh://root@127.0.0.1:2222" {
		t.Errorf("reconnects: %q", reconnects)
	}
	mu.Unlock()

	// The jump host as a destination of its own shares its connection;
	// closing that handle leaves the jump host to the others.
	b, err := p.Host(ctx, "ssh://root@bastion")
	if err != nil {
		t.Fatal(err)
	}
	if b.(*host).ep != jump {
		t.Error("the jump host as a destination has a connection of its own")
	}
	b.Close()
	if _, err := h.Exec(ctx, []string{"true"}, false); err != nil {
		t.Fatalf("after closing a handle to the jump host: %v", err)
	}

	// Every hop's host key is checked against the same known_hosts.
	for name, kh := range map[string]string{
		"[127.0.0.1]:2222": knownHosts(t, line("bastion", bastion.hostKey.PublicKey())),
		"bastion":          knownHosts(t, line("[127.0.0.1]:2222", dest.hostKey.PublicKey())),
	} {
		o2 := o
		o2.KnownHosts, o2.OnReconnect = kh, nil
		p2, err := NewPool(o2)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p2.Host(ctx, "ssh://127.0.0.1:2222")
		if !errors.Is(err, ErrUnknownHost) || !strings.Contains(err.Error(), name+" is not in") {
			t.Errorf("%s unknown: %v", name, err)
		}
		p2.Close()
	}
}

func endpointNamed(t *testing.T, p *Pool, name string) *endpoint {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.eps {
		if e.hop.name() == name {
			return e
		}
	}
	t.Fatalf("no endpoint %s", name)
	return nil
}
