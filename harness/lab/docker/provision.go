package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/drdrill/drdrill/harness/lab"
)

// Provision creates the networks, the host-firewall helper and the four containers, then waits
// until every VICI and MySQL socket accepts connections.
func (b backend) Provision(ctx context.Context, info *lab.Info, rec lab.Recorder) error {
	p, err := makePlan(info)
	if err != nil {
		return err
	}
	for _, sp := range p.sites {
		for _, f := range []string{strongswanConf, myCnf} {
			if _, err := os.Stat(filepath.Join(sp.dir, f)); err != nil {
				return fmt.Errorf("docker lab: %s is missing: render the lab configs before provisioning", filepath.Join(sp.dir, f))
			}
		}
		for _, d := range sp.mounts { // a bind mount needs its source
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("docker lab: %w", err)
			}
		}
	}
	eng, err := connect(ctx)
	if err != nil {
		return err
	}
	defer eng.close()
	if err := checkImages(ctx, eng.cli, gatewayImage, dbImage); err != nil {
		return err
	}
	// With MariaDB on the host, copy its cached bootstrapped datadir (as the
	// netns backend does) instead of letting each container run
	// mariadb-install-db (~2 s). Same 10.11 series as the image; a datadir
	// the container cannot use would fail the socket wait with its log.
	if _, err := exec.LookPath("mariadb-install-db"); err == nil {
		errs := make(chan error, len(sites))
		for _, name := range sites {
			go func() {
				dd := info.Sites[name].DB.DataDir
				if _, err := os.Stat(filepath.Join(dd, "mysql")); dd == "" || err == nil {
					errs <- nil // not ours to prepare, or already prepared
					return
				}
				errs <- lab.PrepareDatadir(ctx, dd, p.sites[name].dir)
			}()
		}
		for range sites {
			if err := <-errs; err != nil {
				return fmt.Errorf("docker lab: %w", err)
			}
		}
	}
	prov, err := eng.provider()
	if err != nil {
		return err
	}

	// Networks: WAN and one LAN per site, all internal.
	bridges := map[string]string{} // what -> Linux bridge name
	for _, n := range p.networks() {
		name := resourceName(p.id, n.what)
		if err := record(info, rec, func(i *lab.Info) { addUnique(&i.Resources.Networks, name) }); err != nil {
			return err
		}
		res, err := eng.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
			Driver:   "bridge",
			Internal: true,
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet: n.subnet, Gateway: bridgeGateway(n.subnet),
			}}},
			Labels: map[string]string{labelLab: p.id},
		})
		if err != nil {
			return explainNetErr(ctx, eng.cli, name, n.subnet, err)
		}
		bridges[n.what] = "br-" + res.ID[:12]
	}

	// The four hosts and the host-firewall helper, created and started in parallel.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		ids  = map[string]string{} // host -> container id
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, h := range p.hosts() {
		cname := resourceName(p.id, h.host)
		if err := record(info, rec, func(i *lab.Info) {
			addUnique(&i.Resources.Containers, cname)
			if s := i.Sites[h.site]; s != nil {
				if h.gateway {
					s.Gateway.Host = cname
				} else {
					s.DB.Host = cname
				}
			}
		}); err != nil {
			return err
		}
		wg.Add(1)
		go func(h hostSpec, cname string) {
			defer wg.Done()
			id, err := runHost(ctx, eng, prov, p.id, cname, h)
			if err != nil {
				fail(err)
				return
			}
			mu.Lock()
			ids[h.host] = id
			mu.Unlock()
		}(h, cname)
	}
	fwName := resourceName(p.id, "hostfw")
	if err := record(info, rec, func(i *lab.Info) { addUnique(&i.Resources.Containers, fwName) }); err != nil {
		wg.Wait()
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := runHostfw(ctx, eng, prov, p.id, fwName, bridges[lab.SiteAWS], bridges[lab.SiteOnPrem]); err != nil {
			fail(err)
		}
	}()
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	// Readiness: every socket accepts a connection, or a container died, or the deadline.
	for _, name := range sites {
		sp := p.sites[name]
		for _, w := range []struct{ host, sock, what, log string }{
			{name + "-gw", sp.vici, "charon's VICI socket", daemonLog(sp.dir, true)},
			{name + "-db", sp.socket, "MariaDB's socket", daemonLog(sp.dir, false)},
		} {
			if err := waitSocket(ctx, eng.cli, ids[w.host], w.host, w.sock, w.what, w.log); err != nil {
				return err
			}
		}
	}
	return nil
}

// record applies fn through rec (persisted before the resource exists) and to info itself, in
// case rec works on a copy. fn must be idempotent.
func record(info *lab.Info, rec lab.Recorder, fn func(*lab.Info)) error {
	if rec != nil {
		if err := rec.Record(fn); err != nil {
			return fmt.Errorf("docker lab: record resource: %w", err)
		}
	}
	fn(info)
	return nil
}

func addUnique(list *[]string, v string) {
	if !slices.Contains(*list, v) {
		*list = append(*list, v)
	}
}

// explainNetErr turns "Pool overlaps" into a hint about the lab holding the address plan.
func explainNetErr(ctx context.Context, cli *client.Client, name string, subnet netip.Prefix, err error) error {
	if !strings.Contains(err.Error(), "overlaps") {
		return fmt.Errorf("docker lab: create network %s (%s): %w", name, subnet, err)
	}
	holders := []string{}
	if res, lerr := cli.NetworkList(ctx, client.NetworkListOptions{}); lerr == nil {
		for _, n := range res.Items {
			if id, ok := n.Labels[labelLab]; ok {
				holders = append(holders, fmt.Sprintf("%s (lab %s)", n.Name, id))
			}
		}
	}
	hint := "another Docker network uses it"
	if len(holders) > 0 {
		hint = "another drdrill lab holds the address plan: " + strings.Join(holders, ", ") + "; take it down first (drdrill lab down, or scripts/compose-lab.sh down)"
	}
	return fmt.Errorf("docker lab: create network %s: subnet %s is taken: %s", name, subnet, hint)
}

// runHost creates one lab container (not started), connects its second network with a static
// address, then starts it.
func runHost(ctx context.Context, eng *engine, prov *testcontainers.DockerProvider, id, cname string, h hostSpec) (string, error) {
	var mounts []mount.Mount
	for _, d := range h.mounts {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: d, Target: d})
	}
	withInit := true
	req := testcontainers.ContainerRequest{
		Image: h.image,
		Name:  cname,
		Env:   h.env,
		Labels: map[string]string{
			labelLab: id, labelHost: h.host, labelRole: h.role,
		},
		Networks: h.nets[:1],
		ConfigModifier: func(c *container.Config) {
			c.Hostname = h.host
		},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode(h.nets[0])
			hc.Init = &withInit
			hc.CapAdd = []string{"NET_ADMIN"} // gateways: routes, TUN; dbs: the route to the other site
			hc.Mounts = mounts
			if h.gateway {
				hc.Devices = []container.DeviceMapping{{PathOnHost: "/dev/net/tun", PathInContainer: "/dev/net/tun", CgroupPermissions: "rwm"}}
				// icmp_ratelimit=0 as in the netns lab (see harness/lab/netns.go): a reconnect
				// through a downed tunnel fails after one SYN retransmit, every time.
				hc.Sysctls = map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.icmp_ratelimit": "0"}
			}
		},
		EndpointSettingsModifier: func(m map[string]*network.EndpointSettings) {
			es := m[h.nets[0]]
			if es == nil {
				es = &network.EndpointSettings{}
				m[h.nets[0]] = es
			}
			es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: h.addrs[0]}
		},
	}
	ctr, err := prov.CreateContainer(ctx, req)
	if err != nil {
		return "", fmt.Errorf("docker lab: create %s: %w", h.host, err)
	}
	cid := ctr.GetContainerID()
	for i := 1; i < len(h.nets); i++ {
		if _, err := eng.cli.NetworkConnect(ctx, h.nets[i], client.NetworkConnectOptions{
			Container:      cid,
			EndpointConfig: &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: h.addrs[i]}},
		}); err != nil {
			return "", fmt.Errorf("docker lab: connect %s to %s as %s: %w", h.host, h.nets[i], h.addrs[i], err)
		}
	}
	if err := ctr.Start(ctx); err != nil {
		return "", fmt.Errorf("docker lab: start %s: %w%s", h.host, err, logTail(ctx, eng.cli, cid, h.host))
	}
	return cid, nil
}
