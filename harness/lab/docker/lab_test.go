package docker

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/drdrill/drdrill/harness/lab"
)

func TestDockerProvisionTeardown(t *testing.T) {
	cli := needLab(t)
	id := testID(t)
	info := testInfo(id, t.TempDir())
	testRender(t, info)
	rec := &testRecorder{info: info}
	b := New()
	if b.Name() != "docker" {
		t.Fatalf("Name() = %q", b.Name())
	}
	// Registered before Provision's error is looked at: whatever was made goes away.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := b.Teardown(ctx, info); err != nil {
			t.Errorf("cleanup Teardown: %v", err)
		}
		if left := leftovers(t, cli, id); len(left) > 0 {
			t.Errorf("left after cleanup Teardown: %v", left)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	err := b.Provision(ctx, info, rec)
	t.Logf("Provision: %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if got := len(info.Resources.Containers); got != 5 {
		t.Errorf("recorded containers = %v, want 4 hosts + hostfw", info.Resources.Containers)
	}
	if got := len(info.Resources.Networks); got != 3 {
		t.Errorf("recorded networks = %v, want wan, aws, onprem", info.Resources.Networks)
	}
	if rec.n == 0 {
		t.Error("Provision recorded nothing through the Recorder")
	}
	if got, want := info.Sites[lab.SiteAWS].Gateway.Host, id+"-aws-gw"; got != want {
		t.Errorf("aws gateway host = %q, want %q", got, want)
	}

	t.Run("sockets answer", func(t *testing.T) {
		for _, s := range sites {
			v, err := viciVersion(ctx, info.Sites[s].Gateway.VICI)
			if err != nil {
				t.Errorf("%s VICI version: %v", s, err)
			} else {
				t.Logf("%s VICI: %s", s, v)
			}
			if err := select1(ctx, info.Sites[s].DB.Socket); err != nil {
				t.Errorf("%s MySQL SELECT 1: %v", s, err)
			}
		}
	})

	t.Run("exec and host setup", func(t *testing.T) {
		out, err := b.Exec(ctx, info, "aws-db", "ip", "route")
		if err != nil || !strings.Contains(string(out), "192.168.64.0/24 via 10.20.0.1") {
			t.Errorf("aws-db routes: %q, %v; want 192.168.64.0/24 via 10.20.0.1", out, err)
		}
		out, err = b.Exec(ctx, info, id+"-onprem-db", "ip", "route")
		if err != nil || !strings.Contains(string(out), "10.20.0.0/16 via 192.168.64.1") {
			t.Errorf("onprem-db routes: %q, %v", out, err)
		}
		out, err = b.Exec(ctx, info, "onprem-gw", "cat", "/proc/sys/net/ipv4/ip_forward")
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Errorf("onprem-gw ip_forward = %q, %v", out, err)
		}
		out, err = b.Exec(ctx, info, "aws-gw", "ip", "-4", "-o", "addr")
		for _, a := range []string{"198.51.100.1/24", "10.20.0.1/16"} {
			if err != nil || !strings.Contains(string(out), a) {
				t.Errorf("aws-gw addresses %q, %v: want %s", out, err, a)
			}
		}
		for _, h := range []string{"aws-gw", "aws-db", "onprem-gw", "onprem-db"} {
			out, err := b.Exec(ctx, info, h, "ip", "route", "show", "default")
			if err != nil || strings.TrimSpace(string(out)) != "" {
				t.Errorf("%s has a default route (%q, %v): lab traffic could leave the lab", h, out, err)
			}
		}
		if _, err := b.Exec(ctx, info, "aws-db", "false"); err == nil || !strings.Contains(err.Error(), "status 1") {
			t.Errorf("Exec(false) error = %v, want exit status 1", err)
		}
		if out, err := b.ExecInput(ctx, info, "aws-db", []byte("in\n"), "cat"); err != nil || string(out) != "in\n" {
			t.Errorf("ExecInput(cat) = %q, %v; want its stdin back", out, err)
		}
	})

	// The LAN hop carries the other site's addresses: this is what Docker's internal-network
	// isolation drops without the hostfw helper. TCP from aws-db to onprem-db's MariaDB, through
	// the tunnel, entirely inside the lab's containers.
	t.Run("tunnel carries the LAN", func(t *testing.T) {
		for _, s := range sites {
			uri := "unix://" + info.Sites[s].Gateway.VICI
			if out, err := b.Exec(ctx, info, s+"-gw", "swanctl", "--load-all", "--uri", uri, "--file", filepath.Join(info.Dir, s, "swanctl.conf")); err != nil {
				t.Fatalf("%s swanctl --load-all: %v\n%s", s, err, out)
			}
		}
		if out, err := b.Exec(ctx, info, "aws-gw", "swanctl", "--initiate", "--child", lab.ConnName, "--uri", "unix://"+info.Sites[lab.SiteAWS].Gateway.VICI); err != nil {
			t.Fatalf("swanctl --initiate: %v\n%s", err, out)
		}
		// bash's /dev/tcp inside aws-db, bounded by timeout(1): a deadline, not a sleep.
		out, err := b.Exec(ctx, info, "aws-db", "timeout", "20", "bash", "-c",
			"until (exec 3<>/dev/tcp/192.168.64.15/3306) 2>/dev/null; do sleep 0.05; done; echo connected")
		if err != nil || !strings.Contains(string(out), "connected") {
			t.Fatalf("aws-db -> 192.168.64.15:3306 through the tunnel: %q, %v", out, err)
		}
	})

	t.Run("kill and start gateway", func(t *testing.T) {
		before, err := cli.ContainerInspect(ctx, id+"-aws-gw", client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.KillGateway(ctx, info, lab.SiteAWS); err != nil {
			t.Fatalf("KillGateway: %v", err)
		}
		if c, err := net.DialTimeout("unix", info.Sites[lab.SiteAWS].Gateway.VICI, time.Second); err == nil {
			c.Close()
			t.Fatal("VICI socket still accepts connections after KillGateway")
		}
		if out, err := b.Exec(ctx, info, "aws-gw", gatewayCmd, "status"); err == nil {
			t.Fatalf("charon still running after KillGateway: %s", out)
		}
		start := time.Now()
		if err := b.StartGateway(ctx, info, rec, lab.SiteAWS); err != nil {
			t.Fatalf("StartGateway: %v", err)
		}
		t.Logf("StartGateway: %s", time.Since(start).Round(time.Millisecond))
		if _, err := viciVersion(ctx, info.Sites[lab.SiteAWS].Gateway.VICI); err != nil {
			t.Errorf("VICI after StartGateway: %v", err)
		}
		after, err := cli.ContainerInspect(ctx, id+"-aws-gw", client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.Container.State.StartedAt != before.Container.State.StartedAt || !after.Container.State.Running {
			t.Errorf("the gateway container was restarted (%s -> %s): its network state was not kept",
				before.Container.State.StartedAt, after.Container.State.StartedAt)
		}
	})

	if rules, ok := fwRules(id); ok && len(rules) != 2 {
		t.Errorf("hostfw rules for the lab = %q, want one per LAN bridge", rules)
	}
	start = time.Now()
	if err := b.Teardown(context.Background(), info); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	t.Logf("Teardown: %s", time.Since(start).Round(time.Millisecond))
	if left := leftovers(t, cli, id); len(left) > 0 {
		t.Errorf("left after Teardown: %v", left)
	}
	if rules, ok := fwRules(id); ok && len(rules) != 0 {
		t.Errorf("hostfw rules left after Teardown: %q", rules)
	}
	if err := b.Teardown(context.Background(), info); err != nil {
		t.Errorf("second Teardown (idempotent): %v", err)
	}
}

// A daemon that cannot start fails Provision at once (not at the deadline), with its logs, and
// the cleanup removes everything.
func TestDockerProvisionFailureShowsLogs(t *testing.T) {
	cli := needLab(t)
	id := testID(t)
	info := testInfo(id, t.TempDir())
	testRender(t, info)
	cnf := filepath.Join(info.Dir, lab.SiteOnPrem, myCnf)
	body, err := os.ReadFile(cnf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cnf, append(body, "no-such-mariadb-option=1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	b := New()
	t.Cleanup(func() {
		if err := b.Teardown(context.Background(), info); err != nil {
			t.Errorf("cleanup Teardown: %v", err)
		}
		if left := leftovers(t, cli, id); len(left) > 0 {
			t.Errorf("left after cleanup Teardown: %v", left)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	err = b.Provision(ctx, info, &testRecorder{info: info})
	if err == nil {
		t.Fatal("Provision succeeded with a broken my.cnf")
	}
	t.Logf("Provision failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	for _, want := range []string{"onprem-db", "exited", "no-such-mariadb-option"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q", want)
		}
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("Provision took %s to notice a dead daemon", d)
	}
}

// A crashed run leaves labelled resources that info.Resources does not list: Teardown finds them.
func TestDockerTeardownFindsLeftovers(t *testing.T) {
	cli := needLab(t)
	id := testID(t)
	ctx := context.Background()
	name := id + "-orphan"
	t.Cleanup(func() { cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}) })
	_, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge", Internal: true, Labels: map[string]string{labelLab: id},
	})
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	info := &lab.Info{ID: id, Dir: t.TempDir(), Resources: lab.Resources{Containers: []string{id + "-never-created"}}}
	if err := New().Teardown(ctx, info); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if left := leftovers(t, cli, id); len(left) > 0 {
		t.Errorf("left after Teardown: %v", left)
	}
}

// BenchmarkDockerLab measures Provision and Teardown (reported as up-ms and down-ms) with
// datadirs initialised beforehand, as the shared lab code does: the first iteration's
// Provision initialises them in the db containers and is not counted.
//
//	go test ./harness/lab/docker -run '^$' -bench DockerLab -benchtime 5x
func BenchmarkDockerLab(b *testing.B) {
	if testing.Short() {
		b.Skip("skipped in -short mode")
	}
	eng, err := connect(context.Background())
	if err != nil {
		b.Skipf("skipped: %v", err)
	}
	defer eng.close()
	if err := checkImages(context.Background(), eng.cli, gatewayImage, dbImage); err != nil {
		b.Skipf("skipped: %v", err)
	}
	dir := b.TempDir()
	info := testInfo("drdb-"+fmt.Sprint(time.Now().UnixNano()%1e8), dir)
	testRender(b, info)
	be := New()
	ctx := context.Background()
	round := func() (up, down time.Duration) {
		i := testInfo(info.ID, dir)
		start := time.Now()
		err := be.Provision(ctx, i, &testRecorder{info: i})
		up = time.Since(start)
		start = time.Now()
		if terr := be.Teardown(ctx, i); terr != nil {
			b.Fatalf("Teardown: %v", terr)
		}
		down = time.Since(start)
		if err != nil {
			b.Fatalf("Provision: %v", err)
		}
		return up, down
	}
	round() // initialises the datadirs
	var upSum, downSum time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		up, down := round()
		upSum += up
		downSum += down
	}
	b.ReportMetric(float64(upSum.Milliseconds())/float64(b.N), "up-ms")
	b.ReportMetric(float64(downSum.Milliseconds())/float64(b.N), "down-ms")
}
