package targetfile

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/transport"
)

// gwFile is a minimal local file whose gateways have the given extra
// fields ("exec: sudo, commands: {...}").
func gwFile(t *testing.T, aws, onprem string) *File {
	t.Helper()
	t.Setenv("TF_TEST_EMPTY_PW", "")
	gw := func(extra string) string {
		if extra != "" {
			extra = ", " + extra
		}
		return `{vici: "unix:///run/x.vici", connection: c` + extra + `}`
	}
	text := fmt.Sprintf(`schema: drdrill.target/v1
name: caps
sites:
  aws:
    role: primary
    gateway: %s
    db: {socket: /run/a.sock, user: root, password_env: TF_TEST_EMPTY_PW}
  onprem:
    role: replica
    gateway: %s
    db: {socket: /run/b.sock, user: root, password_env: TF_TEST_EMPTY_PW}
`, gw(aws), gw(onprem))
	f, err := Parse([]byte(text), "caps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const cmds = `commands: {kill: [pkill, -9, charon], start: [start-charon]}`

func TestCapabilitiesFollowTheFile(t *testing.T) {
	for _, c := range []struct {
		name          string
		aws, onprem   string
		exec, restart bool
	}{
		{"nothing allowed", "", "", false, false},
		{"exec on one gateway", "exec: sudo", "", true, false},
		{"exec on both", "exec: direct", "exec: sudo", true, false},
		{"commands on one gateway", "exec: sudo, " + cmds, "exec: direct", true, false},
		{"commands on both", "exec: sudo, " + cmds, "exec: direct, " + cmds, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := wrap(&Target{file: gwFile(t, c.aws, c.onprem)})
			if got := target.Has(tg, target.CapExec); got != c.exec {
				t.Errorf("HostExec: %v, want %v", got, c.exec)
			}
			if got := target.Has(tg, target.CapRestartGateway); got != c.restart {
				t.Errorf("GatewayRestarter: %v, want %v", got, c.restart)
			}
			if b, ok := Base(tg); !ok || b.File().Name != "caps" {
				t.Errorf("Base: %v %v", b, ok)
			}
		})
	}
}

type fakeHost struct {
	name  string
	calls []string // "sudo argv" or "argv"
	err   error
}

func (h *fakeHost) Name() string { return h.name }
func (h *fakeHost) Dial(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("fake host dials nothing")
}
func (h *fakeHost) Exec(ctx context.Context, argv []string, sudo bool) ([]byte, error) {
	return h.ExecInput(ctx, argv, sudo, nil)
}
func (h *fakeHost) ExecInput(_ context.Context, argv []string, sudo bool, _ []byte) ([]byte, error) {
	c := strings.Join(argv, " ")
	if sudo {
		c = "sudo " + c
	}
	h.calls = append(h.calls, c)
	return []byte("ok"), h.err
}
func (h *fakeHost) Close() error { return nil }

func TestExecOnlyWhereAllowed(t *testing.T) {
	f := gwFile(t, "exec: sudo, "+cmds, "")
	aws, onprem := &fakeHost{name: "aws-host"}, &fakeHost{name: "onprem-host"}
	base := &Target{file: f, gwHost: map[string]transport.Host{"aws": aws, "onprem": onprem}}
	tg := wrap(base)
	ex, ok := tg.(target.HostExec)
	if !ok {
		t.Fatal("exec is set on aws: want HostExec")
	}
	ctx := context.Background()
	if _, err := ex.Exec(ctx, target.Host{Site: "aws", Kind: target.GatewayHost}, "nft", "list", "tables"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(aws.calls, []string{"sudo nft list tables"}) {
		t.Errorf("aws ran %q, want sudo nft list tables", aws.calls)
	}
	_, err := ex.Exec(ctx, target.Host{Site: "onprem", Kind: target.GatewayHost}, "nft", "list", "tables")
	if err == nil || !strings.Contains(err.Error(), "onprem-gw") || !strings.Contains(err.Error(), "sites.onprem.gateway.exec is not set (caps.yaml:10)") {
		t.Errorf("exec on a host without exec: %v", err)
	}
	if _, err := ex.Exec(ctx, target.Host{Site: "aws", Kind: target.DBHost}, "true"); err == nil || !strings.Contains(err.Error(), "aws-db") {
		t.Errorf("exec on a database host: %v", err)
	}
	if _, err := ex.Exec(ctx, target.Host{Site: "mars", Kind: target.GatewayHost}, "true"); err == nil || !strings.Contains(err.Error(), `no site "mars"`) {
		t.Errorf("exec on an unknown site: %v", err)
	}
	if len(onprem.calls) != 0 {
		t.Errorf("a refused host ran %q", onprem.calls)
	}
}

func TestKillAndStartCommands(t *testing.T) {
	f := gwFile(t, "exec: sudo, "+cmds, "exec: direct, "+cmds)
	aws, onprem := &fakeHost{name: "aws-host"}, &fakeHost{name: "onprem-host", err: errors.New("exit status 1")}
	tg := wrap(&Target{file: f, gwHost: map[string]transport.Host{"aws": aws, "onprem": onprem}})
	r, ok := tg.(target.GatewayRestarter)
	if !ok {
		t.Fatal("commands on both gateways: want GatewayRestarter")
	}
	ctx := context.Background()
	if err := r.KillGateway(ctx, "aws"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(aws.calls, []string{"sudo pkill -9 charon"}) {
		t.Errorf("kill ran %q", aws.calls)
	}
	// A start command that fails is the error; nothing is waited for.
	if err := r.RestartGateway(ctx, "onprem"); err == nil || !strings.Contains(err.Error(), "start onprem's gateway: exit status 1") {
		t.Errorf("a failed start: %v", err)
	}
	if !slices.Equal(onprem.calls, []string{"start-charon"}) {
		t.Errorf("start ran %q", onprem.calls)
	}
}

func TestOpenErrorsNameTheSite(t *testing.T) {
	f := gwFile(t, "", "")
	_, err := Open(context.Background(), f, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "target caps: site aws: gateway unix:///run/x.vici: ") {
		t.Fatalf("an absent VICI socket: %v", err)
	}
	boom := func(_ context.Context, via, site string) (transport.Host, error) {
		return nil, fmt.Errorf("no route to %s", site)
	}
	if _, err := Open(context.Background(), f, boom); err == nil || err.Error() != "target caps: site aws: gateway host: no route to aws" {
		t.Fatalf("a resolver error: %v", err)
	}
	if _, err := localOnly(context.Background(), "ssh://h", "aws"); err == nil {
		t.Fatal("the default resolver must refuse ssh://")
	}
}

func TestTargetPrintsNoSecret(t *testing.T) {
	fx := newFixture(t)
	f, err := fx.parse(t)
	if err != nil {
		t.Fatal(err)
	}
	tg := &Target{file: f}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, tg); strings.Contains(s, awsPW) || strings.Contains(s, onpremPW) {
			t.Errorf("%s of the target shows a password: %s", verb, s)
		}
	}
	d := fmt.Sprint(tg.Describe())
	if strings.Contains(d, awsPW) || strings.Contains(d, onpremPW) {
		t.Errorf("Describe shows a password: %s", d)
	}
	for _, want := range []string{"TF_TEST_AWS_PW", "ssh://drdrill@db-aws.example.com:2222", "max_fault_s:120", "drills.ping2"} {
		if !strings.Contains(d, want) {
			t.Errorf("Describe lacks %q: %s", want, d)
		}
	}
	if got := tg.Secrets(); !slices.Contains(got, awsPW) || !slices.Contains(got, onpremPW) {
		t.Errorf("Secrets() lacks a password (%d strings)", len(got))
	}
}
