package targetfile_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/targetfile"
	"github.com/drdrill/drdrill/harness/transport"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// upLab brings a netns lab up for the test, Down registered first.
func upLab(t testing.TB) *lab.Info {
	t.Helper()
	if testing.Short() {
		t.Skip("lab test: skipped with -short")
	}
	if err := (lab.NetnsBackend{}).Preflight(); err != nil {
		t.Skipf("lab test: the netns lab cannot run here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), dir, map[string]lab.Backend{"netns": lab.NetnsBackend{}}); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	info, err := lab.Up(context.Background(), lab.Options{Dir: dir})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	return info
}

// labFile writes a target file for the lab's unix sockets; gw is added to
// both gateways' fields.
func labFile(t testing.TB, info *lab.Info, gw string) string {
	t.Helper()
	t.Setenv("DRDRILL_TEST_LAB_PW", "") // the lab's root has no password over the socket
	var b strings.Builder
	fmt.Fprintf(&b, "schema: drdrill.target/v1\nname: lab-file\nsafety: {allow_destructive: true, max_fault: 1m}\nsites:\n")
	for _, s := range lab.Sites {
		role := target.RoleReplica
		if info.Sites[s].DB.Role == lab.RolePrimary {
			role = target.RolePrimary
		}
		fmt.Fprintf(&b, `  %s:
    role: %s
    gateway:
      vici: unix://%s
      connection: %s
      retransmit: {timeout: 0.5s, base: 1.4, tries: 3}
%s    db:
      socket: %s
      user: root
      password_env: DRDRILL_TEST_LAB_PW
`, s, role, info.Sites[s].Gateway.VICI, lab.ConnName, gw, info.Sites[s].DB.Socket)
	}
	p := filepath.Join(t.TempDir(), "lab.target.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// nsHost is a lab gateway host: its sockets are on this machine, its
// commands run inside its namespace (never in the root namespace).
type nsHost struct {
	ns    string
	calls *[]string
}

func (h nsHost) Name() string { return "netns " + h.ns }
func (h nsHost) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "unix" {
		return nil, fmt.Errorf("a lab host is reached through unix sockets only, not %s %s", network, addr)
	}
	return transport.Local{}.Dial(ctx, network, addr)
}
func (h nsHost) Exec(ctx context.Context, argv []string, sudo bool) ([]byte, error) {
	return h.ExecInput(ctx, argv, sudo, nil)
}
func (h nsHost) ExecInput(ctx context.Context, argv []string, sudo bool, stdin []byte) ([]byte, error) {
	*h.calls = append(*h.calls, strings.Join(argv, " "))
	return transport.Local{}.ExecInput(ctx, append([]string{"ip", "netns", "exec", h.ns}, argv...), sudo, stdin)
}
func (h nsHost) Close() error { return nil }

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

func TestOpenOnTheLab(t *testing.T) {
	info := upLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := targetfile.Load(labFile(t, info, ""))
	if err != nil {
		t.Fatal(err)
	}
	var resolved []string
	local := func(_ context.Context, via, site string) (transport.Host, error) {
		resolved = append(resolved, site+" "+via)
		return transport.Local{}, nil
	}
	before := openFDs(t)
	tg, err := targetfile.Open(ctx, f, local)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if err := target.Validate(tg); err != nil {
		t.Fatal(err)
	}
	if len(resolved) != 4 {
		t.Errorf("resolver called for %q, want each gateway and database", resolved)
	}
	if tg.Name() != "lab-file" || tg.Sites()[0].Name != "aws" || tg.Sites()[0].Role != target.RolePrimary {
		t.Errorf("target %s, first site %s (%s)", tg.Name(), tg.Sites()[0].Name, tg.Sites()[0].Role)
	}
	for _, s := range tg.Sites() {
		// Read live from the gateway: what the lab set up.
		if want := lab.Expectation(info, s.Name); !slices.Equal(s.Tunnel.LocalTS, want.LocalTS) || !slices.Equal(s.Tunnel.RemoteTS, want.RemoteTS) || s.Tunnel.Connection != want.Connection {
			t.Errorf("%s: expectation %+v, want %+v", s.Name, s.Tunnel, want)
		}
		st, err := s.Gateway.State(ctx, s.Tunnel.Connection)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Healthy(s.Tunnel); err != nil {
			t.Errorf("%s: the lab's tunnel against the expectation read live: %v", s.Name, err)
		}
	}
	it, err := tg.IKETimings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"aws", "onprem"} {
		if it.DPDDelay[s] != 2*time.Second {
			t.Errorf("%s: dpd delay %v, want 2s", s, it.DPDDelay[s])
		}
	}
	if it.DPDAction["aws"] != "restart" || it.DPDAction["onprem"] != "clear" {
		t.Errorf("dpd actions %v, want restart on aws, clear on onprem", it.DPDAction)
	}
	if want := (tunnel.Retransmit{Timeout: 500 * time.Millisecond, Base: 1.4, Tries: 3}); it.Retransmit != want {
		t.Errorf("retransmit %+v, want %+v", it.Retransmit, want)
	}
	if d := it.Sequence(); d < 3540*time.Millisecond || d > 3560*time.Millisecond {
		t.Errorf("retransmit sequence %v, want 3.55s", d)
	}
	if !strings.Contains(it.Source, "declared in "+f.Path) {
		t.Errorf("source %q does not say the retransmission is declared", it.Source)
	}
	if target.Has(tg, target.CapExec) || target.Has(tg, target.CapRestartGateway) {
		t.Error("a file with no exec and no commands must have neither capability")
	}
	// Each site's own database, and a further pool to it.
	for i, s := range tg.Sites() {
		var id int
		if err := s.DB.DB().QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil || id != info.Sites[s.Name].DB.ServerID {
			t.Errorf("%s: server_id %d (%v), want %d", s.Name, id, err, info.Sites[s.Name].DB.ServerID)
		}
		c, err := tg.OpenDB(ctx, s.Name, 3)
		if err != nil {
			t.Fatal(err)
		}
		if c == s.DB || c.DB().Stats().MaxOpenConnections != 4 || c.Flavor() != s.DB.Flavor() {
			t.Errorf("%d %s: OpenDB gave pool %p (max %d), the site's is %p", i, s.Name, c, c.DB().Stats().MaxOpenConnections, s.DB)
		}
		c.Close()
	}
	if _, err := tg.OpenDB(ctx, "mars", 1); err == nil {
		t.Error("OpenDB of an unknown site must fail")
	}
	// Close releases the VICI sessions and the pools.
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tg.Sites()[0].DB.DB().PingContext(ctx); err == nil {
		t.Error("the database pool still answers after Close")
	}
	if err := poll.Until(ctx, "the target's descriptors to be closed", 10*time.Millisecond, 2*time.Second, func(context.Context) (bool, string, error) {
		n := openFDs(t)
		return n <= before, fmt.Sprintf("%d open, %d before Open", n, before), nil
	}); err != nil {
		t.Error(err)
	}
	if err := tg.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func TestCommandsOnTheLab(t *testing.T) {
	info := upLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The lab's gateways are namespaces: the commands run there. kill and
	// start do nothing, so that RestartGateway's wait is what is tested.
	f, err := targetfile.Load(labFile(t, info, "      exec: direct\n      commands: {kill: [\"true\"], start: [\"true\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]*[]string{}
	gwOf := func(_ context.Context, via, site string) (transport.Host, error) {
		if calls[site] == nil {
			calls[site] = &[]string{}
		}
		return nsHost{ns: info.Sites[site].Gateway.Host, calls: calls[site]}, nil
	}
	tg, err := targetfile.Open(ctx, f, gwOf)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	ex, ok := tg.(target.HostExec)
	if !ok || !target.Has(tg, target.CapRestartGateway) {
		t.Fatalf("exec and commands on both gateways: HostExec %v, GatewayRestarter %v", ok, target.Has(tg, target.CapRestartGateway))
	}
	out, err := ex.Exec(ctx, target.Host{Site: "aws", Kind: target.GatewayHost}, "ip", "-br", "addr")
	if err != nil || !strings.Contains(string(out), info.Sites["aws"].Gateway.WANAddr) {
		t.Fatalf("exec in aws-gw: %q %v", out, err)
	}
	r := tg.(target.GatewayRestarter)
	if err := r.KillGateway(ctx, "onprem"); err != nil {
		t.Fatal(err)
	}
	if err := r.RestartGateway(ctx, "onprem"); err != nil {
		t.Fatalf("restart with the connection loaded: %v", err)
	}
	if got := *calls["onprem"]; !slices.Equal(got, []string{"true", "true"}) {
		t.Errorf("onprem ran %q, want kill then start", got)
	}
	// A start that leaves the connection unloaded is waited for, then named.
	// The wait is cut short at 3 s (RestartTimeout is 30): long enough for
	// one probe to finish on a loaded CI machine, which the error must quote.
	gw := target.Replica(tg).Gateway
	if err := gw.UnloadConn(ctx, lab.ConnName); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	err = r.RestartGateway(short, "onprem")
	cancelShort()
	var te *poll.TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "connection onprem-aws loaded") || !strings.Contains(err.Error(), "not loaded") {
		t.Fatalf("a start that leaves the connection unloaded: %v", err)
	}
	if err := gw.LoadConn(ctx, lab.ConnConfig(info, "onprem")); err != nil {
		t.Fatal(err)
	}
	if err := r.RestartGateway(ctx, "onprem"); err != nil {
		t.Fatalf("after loading the connection again: %v", err)
	}
}

// BenchmarkOpen is what a command pays to reach a target file's four
// daemons on the lab (load, VICI version and list-conns on each gateway,
// flavor detection on each database) and close them again.
func BenchmarkOpen(b *testing.B) {
	info := upLab(b)
	path := labFile(b, info, "")
	ctx := context.Background()
	for b.Loop() {
		f, err := targetfile.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		tg, err := targetfile.Open(ctx, f, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tg.IKETimings(ctx); err != nil {
			b.Fatal(err)
		}
		tg.Close()
	}
}
