package targetfile_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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

// netnsHosts resolves the lab target file's netns:// vias.
func netnsHosts(_ context.Context, via, _ string) (transport.Host, error) {
	kind, name, ok := targetfile.LocalVia(via)
	if !ok || kind != "netns" {
		return nil, fmt.Errorf("%q: want netns://", via)
	}
	return transport.NewNetns(name)
}

// openLabFile opens the lab's own target file (lab target --via local).
func openLabFile(t *testing.T, ctx context.Context, info *lab.Info, opts ...targetfile.OpenOption) target.Target {
	t.Helper()
	b, err := lab.TargetFile(info, lab.TargetFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "lab.yaml")
	os.WriteFile(p, b, 0o600)
	f, err := targetfile.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := targetfile.Open(ctx, f, netnsHosts, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// procState is the state letter of a pid (0 when gone).
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if i := strings.LastIndexByte(string(b), ')'); err == nil && i >= 0 && i+2 < len(b) {
		return b[i+2]
	}
	return 0
}

// watchdogs are the live processes whose argv holds marker as an argument.
func watchdogs(marker string) []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []string
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err == nil && slices.Contains(strings.Split(string(b), "\x00"), marker) && procState(atoi(filepath.Base(d))) != 'Z' {
			out = append(out, filepath.Base(d))
		}
	}
	return out
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// The lab's target file freezes a database through exec on its host: the
// daemon is stopped (SIGSTOP) behind a dead-man's switch on that host; Thaw
// continues it, also from a target opened afterwards (another process, as
// drdrill recover is), which finds the pid in the watchdog's arguments; a
// watchdog that is left alone continues the daemon after the limit.
func TestFreezeThroughTheLabFile(t *testing.T) {
	info := upLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tg := openLabFile(t, ctx, info)
	for _, c := range []target.Capability{target.CapFreeze, target.CapReplicationAccount, target.CapExec} {
		if !target.Has(tg, c) {
			t.Fatalf("the lab's target file lacks %s", c)
		}
	}
	if user, pw := tg.(target.ReplicationAccounter).ReplicationAccount(); user != "drdrill_repl" || pw == "" || !slices.Contains(tg.Secrets(), pw) {
		t.Fatalf("replication account %q (password given: %v, in Secrets: %v)", user, pw != "", slices.Contains(tg.Secrets(), pw))
	}
	var pid int
	for _, p := range info.Resources.Processes {
		if p.Name == "aws-db/mariadbd" {
			pid = p.PID
		}
	}
	if pid == 0 {
		t.Fatal("the lab recorded no aws-db/mariadbd")
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	h := target.Host{Site: "aws", Kind: target.DBHost}
	fz := tg.(target.Freezer)
	marker := "drdrill-thaw-" + tg.Name() + "-aws-db"

	if err := fz.Freeze(ctx, h, time.Minute); err != nil {
		t.Fatal(err)
	}
	if s := procState(pid); s != 'T' {
		t.Fatalf("mariadbd state %q after Freeze, want T", s)
	}
	if w := watchdogs(marker); len(w) != 1 {
		t.Fatalf("watchdogs %v after Freeze, want one", w)
	}
	// Another process (drdrill recover): nothing remembered, the database
	// does not answer; opening the target thaws what the watchdog guards.
	rt := openLabFile(t, ctx, info, targetfile.Recovering())
	if s := procState(pid); s == 'T' {
		t.Fatalf("mariadbd still stopped after Thaw from another target")
	}
	if w := watchdogs(marker); len(w) != 0 {
		t.Fatalf("watchdogs %v left after Thaw", w)
	}
	if err := fz.Thaw(ctx, h); err != nil {
		t.Fatalf("a second Thaw: %v", err)
	}
	// Another process again, thawing through the Freezer (the journal's
	// undo): the watchdog tells the pid.
	if err := fz.Freeze(ctx, h, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := rt.(target.Freezer).Thaw(ctx, h); err != nil {
		t.Fatal(err)
	}
	if s := procState(pid); s == 'T' || len(watchdogs(marker)) != 0 {
		t.Fatalf("after Thaw from another target: state %q, watchdogs %v", s, watchdogs(marker))
	}
	// Left alone, the dead-man's switch continues the daemon.
	if err := fz.Freeze(ctx, h, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := poll.Until(ctx, "the watchdog to continue mariadbd", 20*time.Millisecond, 10*time.Second, func(context.Context) (bool, string, error) {
		s := procState(pid)
		return s != 'T', "state " + string(s), nil
	}); err != nil {
		t.Fatal(err)
	}
	// Refusals: a gateway host; a db host whose exec is not set.
	if err := fz.Freeze(ctx, target.Host{Site: "aws", Kind: target.GatewayHost}, 0); err == nil || !strings.Contains(err.Error(), "not a database host") {
		t.Errorf("freeze of a gateway host: %v", err)
	}
	f, err := targetfile.Load(labFile(t, info, ""))
	if err != nil {
		t.Fatal(err)
	}
	noExec, err := targetfile.Open(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer noExec.Close()
	if target.Has(noExec, target.CapFreeze) || target.Has(noExec, target.CapReplicationAccount) {
		t.Errorf("a file with no db exec and no replication account: freeze %v, replication-account %v", target.Has(noExec, target.CapFreeze), target.Has(noExec, target.CapReplicationAccount))
	}
	if err := noExec.(target.Freezer).Freeze(ctx, h, 0); err == nil || !strings.Contains(err.Error(), "sites.aws.db.exec is not set") {
		t.Errorf("freeze where exec is not set: %v", err)
	}
	if s := procState(pid); s == 'T' {
		t.Error("a refused freeze stopped mariadbd")
	}
}
