package lab

// The docker backend: the lab's four hosts as containers (testcontainers-go), on three internal
// Docker networks with DESIGN.md's address plan. Like the netns backend it only makes the hosts and
// starts charon and MariaDB with the configs rendered into the lab dir; loading the VPN, replication
// and the schema are shared code.
//
// Conventions the rendered configs rely on:
//   - DIR/SITE is bind-mounted at the SAME path in both containers of the site, so the paths inside
//     strongswan.conf and my.cnf (VICI socket, datadir, MySQL socket, logs) are valid on both sides
//     and the harness reaches the daemons through those unix sockets only.
//   - the gateway runs /usr/lib/ipsec/charon with STRONGSWAN_CONF=DIR/SITE/strongswan.conf;
//     the db runs mariadbd --defaults-file=DIR/SITE/my.cnf --user=root (a datadir without the
//     `mysql` schema is initialised by the image's entrypoint).
//   - charon is not PID 1: KillGateway kills it with -9 inside a container that keeps running, so
//     addresses, routes and sysctls survive, exactly as in the netns lab.
//
// Only one docker lab can exist per engine at a time: the address plan is fixed and Docker refuses
// overlapping subnets.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// ErrNoDockerEngine is returned, with exactly this text, when no Docker engine answers. It is an
// *EnvError (exit 2).
var ErrNoDockerEngine error = &EnvError{Msg: "the docker backend needs a running Docker engine"}

// NewDockerBackend returns the backend that runs the lab in Docker containers. It never pulls:
// the images drdrill/gateway:local and drdrill/db:local are built locally by `make images`.
func NewDockerBackend() Backend { return dockerBackend{} }

const (
	dockerGatewayImage = "drdrill/gateway:local"
	dockerDBImage      = "drdrill/db:local"

	dockerLabelLab  = "org.drdrill.lab" // = info.ID, on every container and network
	dockerLabelHost = "org.drdrill.host"
	dockerLabelRole = "org.drdrill.role" // gateway, db, hostfw

	dockerWANSubnet = "198.51.100.0/24"
	dockerWANName   = "wan"

	dockerStrongswanConf = "strongswan.conf"
	dockerMyCnf          = "my.cnf"

	dockerGatewayCmd = "/usr/local/sbin/drdrill-gateway"
	dockerHostfwCmd  = "/usr/local/sbin/drdrill-hostfw"

	// dockerReadyTimeout bounds every wait for a socket or a container when ctx has no
	// earlier deadline. A first start initialises two datadirs on 2 cores: seconds, not minutes.
	dockerReadyTimeout = 90 * time.Second
	dockerPingTimeout  = 5 * time.Second
	dockerPollEvery    = 20 * time.Millisecond
	dockerLogLines     = 30
)

// dockerDefaults is DESIGN.md's address plan, used where info leaves a field empty.
var dockerDefaults = map[string]struct {
	subnet, wan, lan, db, remote string
}{
	SiteAWS:    {subnet: "10.20.0.0/16", wan: "198.51.100.1", lan: "10.20.0.1", db: "10.20.11.123", remote: SiteOnPrem},
	SiteOnPrem: {subnet: "192.168.64.0/24", wan: "198.51.100.2", lan: "192.168.64.1", db: "192.168.64.15", remote: SiteAWS},
}

var dockerSites = []string{SiteAWS, SiteOnPrem}

// dockerNameRE is what Docker accepts as a container or network name.
var dockerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

type dockerBackend struct{}

func (dockerBackend) Name() string { return "docker" }

// Preflight checks, before anything is created, that an engine answers and that both images are
// in its local store. Errors are *EnvError.
func (dockerBackend) Preflight() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*dockerPingTimeout)
	defer cancel()
	eng, err := dockerConnect(ctx)
	if err != nil {
		return err
	}
	defer eng.close()
	return dockerCheckImages(ctx, eng.cli, dockerGatewayImage, dockerDBImage)
}

// dockerSitePlan is one site resolved from info plus defaults.
type dockerSitePlan struct {
	name, dir        string
	subnet           netip.Prefix
	wanAddr, lanAddr netip.Addr
	dbAddr           netip.Addr
	vici, socket     string
	mounts           []string // host dirs mounted at the same path in the site's containers
	routes           string   // DRDRILL_ROUTES of the db: the other site via this site's gateway
}

type dockerPlan struct {
	id, dir string
	sites   map[string]*dockerSitePlan
}

// dockerMakePlan validates info and fills DESIGN.md's defaults for empty fields.
func dockerMakePlan(info *Info) (*dockerPlan, error) {
	if info == nil {
		return nil, errors.New("docker lab: no lab info")
	}
	if info.ID == "" || !dockerNameRE.MatchString(info.ID) || len(info.ID) > 40 {
		return nil, fmt.Errorf("docker lab: lab id %q is not usable in container names (letters, digits, _ . -; at most 40)", info.ID)
	}
	if !filepath.IsAbs(info.Dir) {
		return nil, fmt.Errorf("docker lab: lab dir %q must be an absolute path (it is mounted at the same path in the containers)", info.Dir)
	}
	p := &dockerPlan{id: info.ID, dir: filepath.Clean(info.Dir), sites: map[string]*dockerSitePlan{}}
	for _, name := range dockerSites {
		def := dockerDefaults[name]
		var s Site
		if info.Sites != nil && info.Sites[name] != nil {
			s = *info.Sites[name]
		}
		sp := &dockerSitePlan{name: name, dir: filepath.Join(p.dir, name)}
		var err error
		if sp.subnet, err = netip.ParsePrefix(dockerOr(s.Subnet, def.subnet)); err != nil || !sp.subnet.Addr().Is4() {
			return nil, fmt.Errorf("docker lab: sites.%s.subnet %q is not an IPv4 prefix", name, s.Subnet)
		}
		sp.subnet = sp.subnet.Masked()
		for _, a := range []struct {
			field, val string
			dst        *netip.Addr
		}{
			{"gateway.wan_addr", dockerOr(s.Gateway.WANAddr, def.wan), &sp.wanAddr},
			{"gateway.lan_addr", dockerOr(s.Gateway.LANAddr, def.lan), &sp.lanAddr},
			{"db.addr", dockerOr(s.DB.Addr, def.db), &sp.dbAddr},
		} {
			if *a.dst, err = netip.ParseAddr(a.val); err != nil || !a.dst.Is4() {
				return nil, fmt.Errorf("docker lab: sites.%s.%s %q is not an IPv4 address", name, a.field, a.val)
			}
		}
		if !sp.subnet.Contains(sp.lanAddr) || !sp.subnet.Contains(sp.dbAddr) {
			return nil, fmt.Errorf("docker lab: sites.%s: gateway %s and db %s must be in %s", name, sp.lanAddr, sp.dbAddr, sp.subnet)
		}
		sp.vici = dockerOr(s.Gateway.VICI, filepath.Join(sp.dir, "charon.vici"))
		sp.socket = dockerOr(s.DB.Socket, filepath.Join(sp.dir, "mysqld.sock"))
		sp.mounts = []string{sp.dir}
		for _, f := range []struct{ field, path, dir string }{
			{"gateway.vici", sp.vici, filepath.Dir(sp.vici)},
			{"db.socket", sp.socket, filepath.Dir(sp.socket)},
			{"db.datadir", s.DB.DataDir, s.DB.DataDir},
		} {
			if f.path == "" {
				continue
			}
			if !filepath.IsAbs(f.path) {
				return nil, fmt.Errorf("docker lab: sites.%s.%s %q must be an absolute path", name, f.field, f.path)
			}
			if d := filepath.Clean(f.dir); !dockerUnder(d, sp.mounts) {
				sp.mounts = append(sp.mounts, d)
			}
		}
		p.sites[name] = sp
	}
	wan := netip.MustParsePrefix(dockerWANSubnet)
	for _, name := range dockerSites {
		sp := p.sites[name]
		if !wan.Contains(sp.wanAddr) {
			return nil, fmt.Errorf("docker lab: sites.%s.gateway.wan_addr %s is not in the WAN %s", name, sp.wanAddr, wan)
		}
		other := p.sites[dockerDefaults[name].remote]
		sp.routes = fmt.Sprintf("%s via %s", other.subnet, sp.lanAddr)
	}
	return p, nil
}

func dockerOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// dockerUnder reports whether dir is one of roots or below one of them.
func dockerUnder(dir string, roots []string) bool {
	for _, r := range roots {
		if dir == r || strings.HasPrefix(dir, r+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// dockerBridgeGateway is the address Docker's bridge gets: the last usable one of the subnet,
// so that .1 stays free for our gateways.
func dockerBridgeGateway(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	bits := p.Bits()
	for i := 0; i < 4; i++ {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	last := netip.AddrFrom4(a) // broadcast
	return last.Prev()
}

// Naming: every resource is "<id>-<what>".
func dockerName(id, what string) string { return id + "-" + what }

// dockerHostSpec is one container of the lab.
type dockerHostSpec struct {
	host, site, role, image string
	nets                    []string // network names, first one is attached at create
	addrs                   []netip.Addr
	env                     map[string]string
	mounts                  []string
	gateway                 bool
}

func (p *dockerPlan) hosts() []dockerHostSpec {
	var out []dockerHostSpec
	for _, name := range dockerSites {
		sp := p.sites[name]
		out = append(out,
			dockerHostSpec{
				host: name + "-gw", site: name, role: "gateway", image: dockerGatewayImage, gateway: true,
				nets:   []string{dockerName(p.id, dockerWANName), dockerName(p.id, name)},
				addrs:  []netip.Addr{sp.wanAddr, sp.lanAddr},
				env:    map[string]string{"STRONGSWAN_CONF": filepath.Join(sp.dir, dockerStrongswanConf)},
				mounts: sp.mounts,
			},
			dockerHostSpec{
				host: name + "-db", site: name, role: "db", image: dockerDBImage,
				nets:  []string{dockerName(p.id, name)},
				addrs: []netip.Addr{sp.dbAddr},
				env: map[string]string{
					"DRDRILL_MYCNF":  filepath.Join(sp.dir, dockerMyCnf),
					"DRDRILL_ROUTES": sp.routes,
				},
				mounts: sp.mounts,
			})
	}
	return out
}

// dockerEngine is one connection: a client that honours DOCKER_HOST strictly and a
// testcontainers provider that uses that same client.
type dockerEngine struct {
	cli  *client.Client
	prov *testcontainers.DockerProvider
}

var dockerQuietOnce sync.Once

// dockerConnect pings the engine named by the environment (DOCKER_HOST or the default socket).
// Any failure to reach it is ErrNoDockerEngine, with nothing else in the text.
func dockerConnect(ctx context.Context) (*dockerEngine, error) {
	dockerQuietOnce.Do(func() {
		// testcontainers prints a multi-line banner on its first engine contact; the CLI's
		// stderr is for one-line reasons. DRDRILL_DOCKER_VERBOSE=1 keeps testcontainers' log.
		if os.Getenv("DRDRILL_DOCKER_VERBOSE") == "" {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
	})
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		// The reaper would have to be pulled; the backend removes what it made itself.
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, ErrNoDockerEngine
	}
	pctx, cancel := context.WithTimeout(ctx, dockerPingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, ErrNoDockerEngine
	}
	return &dockerEngine{cli: cli}, nil
}

// provider returns the testcontainers provider, made on first use (only Provision and
// StartGateway need it) and pointed at e.cli.
func (e *dockerEngine) provider() (*testcontainers.DockerProvider, error) {
	if e.prov != nil {
		return e.prov, nil
	}
	prov, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tclog.NewNoopLogger()))
	if err != nil {
		return nil, fmt.Errorf("docker lab: testcontainers provider: %w", err)
	}
	if !prov.Config().Config.RyukDisabled {
		prov.Close()
		return nil, errors.New("docker lab: testcontainers' reaper (Ryuk) is enabled but its image cannot be pulled here: set TESTCONTAINERS_RYUK_DISABLED=true (the backend cleans up itself)")
	}
	prov.Close() // its own client: every call goes through e.cli, the engine that answered the ping
	prov.SetClient(e.cli)
	e.prov = prov
	return prov, nil
}

func (e *dockerEngine) close() {
	if e.prov != nil {
		e.prov.Close()
	}
	e.cli.Close()
}

// dockerRecord applies fn through rec (persisted before the resource exists) and to info
// itself, in case rec works on a copy. fn must be idempotent.
func dockerRecord(info *Info, rec Recorder, fn func(*Info)) error {
	if rec != nil {
		if err := rec.Record(fn); err != nil {
			return fmt.Errorf("docker lab: record resource: %w", err)
		}
	}
	fn(info)
	return nil
}

func dockerAddUnique(list *[]string, v string) {
	if !slices.Contains(*list, v) {
		*list = append(*list, v)
	}
}

// dockerCheckImages fails, before anything is created, when an image is not in the local store.
func dockerCheckImages(ctx context.Context, cli *client.Client, images ...string) error {
	var missing []string
	for _, img := range images {
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			if cerrdefs.IsNotFound(err) {
				missing = append(missing, img)
				continue
			}
			return fmt.Errorf("docker lab: inspect image %s: %w", img, err)
		}
	}
	if len(missing) > 0 {
		return &EnvError{Msg: fmt.Sprintf("docker lab: image %s not found locally (the docker backend never pulls): run `make images` first", strings.Join(missing, ", "))}
	}
	return nil
}

// Provision creates the networks, the host-firewall helper and the four containers, then waits
// until every VICI and MySQL socket accepts connections.
func (b dockerBackend) Provision(ctx context.Context, info *Info, rec Recorder) error {
	plan, err := dockerMakePlan(info)
	if err != nil {
		return err
	}
	for _, sp := range plan.sites {
		for _, f := range []string{dockerStrongswanConf, dockerMyCnf} {
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
	eng, err := dockerConnect(ctx)
	if err != nil {
		return err
	}
	defer eng.close()
	if err := dockerCheckImages(ctx, eng.cli, dockerGatewayImage, dockerDBImage); err != nil {
		return err
	}
	// With MariaDB on the host, copy its cached bootstrapped datadir (as the
	// netns backend does) instead of letting each container run
	// mariadb-install-db (~2 s). Same 10.11 series as the image; a datadir
	// the container cannot use would fail the socket wait with its log.
	if _, err := exec.LookPath("mariadb-install-db"); err == nil {
		errs := make(chan error, len(dockerSites))
		for _, name := range dockerSites {
			go func() {
				dd := info.Sites[name].DB.DataDir
				if _, err := os.Stat(filepath.Join(dd, "mysql")); dd == "" || err == nil {
					errs <- nil // not ours to prepare, or already prepared
					return
				}
				errs <- prepareDatadir(ctx, dd, plan.sites[name].dir)
			}()
		}
		for range dockerSites {
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
	type netSpec struct {
		what   string
		subnet netip.Prefix
	}
	nets := []netSpec{{dockerWANName, netip.MustParsePrefix(dockerWANSubnet)}}
	for _, name := range dockerSites {
		nets = append(nets, netSpec{name, plan.sites[name].subnet})
	}
	bridges := map[string]string{} // what -> Linux bridge name
	for _, n := range nets {
		name := dockerName(plan.id, n.what)
		if err := dockerRecord(info, rec, func(i *Info) { dockerAddUnique(&i.Resources.Networks, name) }); err != nil {
			return err
		}
		res, err := eng.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
			Driver:   "bridge",
			Internal: true,
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet: n.subnet, Gateway: dockerBridgeGateway(n.subnet),
			}}},
			Labels: map[string]string{dockerLabelLab: plan.id},
		})
		if err != nil {
			return dockerExplainNetErr(ctx, eng.cli, name, n.subnet, err)
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
	for _, h := range plan.hosts() {
		cname := dockerName(plan.id, h.host)
		if err := dockerRecord(info, rec, func(i *Info) {
			dockerAddUnique(&i.Resources.Containers, cname)
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
		go func(h dockerHostSpec, cname string) {
			defer wg.Done()
			id, err := dockerRunHost(ctx, eng, prov, plan.id, cname, h)
			if err != nil {
				fail(err)
				return
			}
			mu.Lock()
			ids[h.host] = id
			mu.Unlock()
		}(h, cname)
	}
	fwName := dockerName(plan.id, "hostfw")
	if err := dockerRecord(info, rec, func(i *Info) { dockerAddUnique(&i.Resources.Containers, fwName) }); err != nil {
		wg.Wait()
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := dockerRunHostfw(ctx, eng, prov, plan.id, fwName, bridges[SiteAWS], bridges[SiteOnPrem]); err != nil {
			fail(err)
		}
	}()
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	// Readiness: every socket accepts a connection, or a container died, or the deadline.
	for _, name := range dockerSites {
		sp := plan.sites[name]
		for _, w := range []struct{ host, sock, what, log string }{
			{name + "-gw", sp.vici, "charon's VICI socket", dockerDaemonLog(sp.dir, true)},
			{name + "-db", sp.socket, "MariaDB's socket", dockerDaemonLog(sp.dir, false)},
		} {
			if err := dockerWaitSocket(ctx, eng.cli, ids[w.host], w.host, w.sock, w.what, w.log); err != nil {
				return err
			}
		}
	}
	return nil
}

// dockerExplainNetErr turns "Pool overlaps" into a hint about the lab holding the address plan.
func dockerExplainNetErr(ctx context.Context, cli *client.Client, name string, subnet netip.Prefix, err error) error {
	if !strings.Contains(err.Error(), "overlaps") {
		return fmt.Errorf("docker lab: create network %s (%s): %w", name, subnet, err)
	}
	holders := []string{}
	if res, lerr := cli.NetworkList(ctx, client.NetworkListOptions{}); lerr == nil {
		for _, n := range res.Items {
			if id, ok := n.Labels[dockerLabelLab]; ok {
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

// dockerRunHost creates one lab container (not started), connects its second network with a
// static address, then starts it.
func dockerRunHost(ctx context.Context, eng *dockerEngine, prov *testcontainers.DockerProvider, id, cname string, h dockerHostSpec) (string, error) {
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
			dockerLabelLab: id, dockerLabelHost: h.host, dockerLabelRole: h.role,
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
				// icmp_ratelimit=0 as in the netns lab (see netns.go): a reconnect
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
		return "", fmt.Errorf("docker lab: start %s: %w%s", h.host, err, dockerLogTail(ctx, eng.cli, cid, h.host))
	}
	return cid, nil
}

// dockerRunHostfw starts the helper that lets routed traffic cross the lab's internal LAN bridges
// (see fixtures/docker/hostfw.sh) and waits until its rules are in place.
func dockerRunHostfw(ctx context.Context, eng *dockerEngine, prov *testcontainers.DockerProvider, id, cname string, bridges ...string) error {
	withInit := true
	req := testcontainers.ContainerRequest{
		Image:      dockerGatewayImage,
		Name:       cname,
		Entrypoint: []string{dockerHostfwCmd},
		Cmd:        append([]string{"hold", id}, bridges...),
		Labels:     map[string]string{dockerLabelLab: id, dockerLabelHost: "hostfw", dockerLabelRole: "hostfw"},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			hc.Init = &withInit
			hc.CapAdd = []string{"NET_ADMIN", "NET_RAW"}
		},
	}
	ctr, err := prov.CreateContainer(ctx, req)
	if err != nil {
		return fmt.Errorf("docker lab: create hostfw helper: %w", err)
	}
	cid := ctr.GetContainerID()
	if err := ctr.Start(ctx); err != nil {
		return fmt.Errorf("docker lab: start hostfw helper: %w%s", err, dockerLogTail(ctx, eng.cli, cid, "hostfw"))
	}
	return dockerPoll(ctx, "the hostfw helper to install its rules (its log says ready)", func() (bool, error) {
		logs := dockerLogs(ctx, eng.cli, cid, "all")
		if strings.Contains(logs, "drdrill-hostfw: ready") {
			return true, nil
		}
		if st, err := eng.cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{}); err == nil &&
			st.Container.State != nil && !st.Container.State.Running {
			return false, fmt.Errorf("docker lab: hostfw helper exited with %d:\n%s", st.Container.State.ExitCode, dockerLastLines(logs, dockerLogLines))
		}
		return false, nil
	}, func() string { return dockerLogTail(ctx, eng.cli, cid, "hostfw") })
}

// dockerPoll calls cond every dockerPollEvery until it is done or fails, or until ctx's deadline
// (dockerReadyTimeout when ctx has none). The timeout error names what it waited for.
func dockerPoll(ctx context.Context, what string, cond func() (bool, error), onTimeout func() string) error {
	ctx, cancel := dockerDeadline(ctx)
	defer cancel()
	start := time.Now()
	t := time.NewTicker(dockerPollEvery)
	defer t.Stop()
	for {
		done, err := cond()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			extra := ""
			if onTimeout != nil {
				extra = onTimeout()
			}
			return fmt.Errorf("docker lab: gave up after %s waiting for %s: %w%s", time.Since(start).Round(time.Millisecond), what, ctx.Err(), extra)
		case <-t.C:
		}
	}
}

func dockerDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, dockerReadyTimeout)
}

// dockerWaitSocket waits until the unix socket at path accepts a connection. Every 10 polls it
// also checks that the container still runs, so that a daemon that died fails at once. Failures
// carry the container's last log lines and those of the daemon's own log file (logPath).
func dockerWaitSocket(ctx context.Context, cli *client.Client, cid, host, path, what, logPath string) error {
	n := 0
	logs := func() string { return dockerLogTail(ctx, cli, cid, host) + dockerFileTail(logPath) }
	return dockerPoll(ctx, fmt.Sprintf("%s %s on %s", what, path, host), func() (bool, error) {
		if c, err := net.DialTimeout("unix", path, 250*time.Millisecond); err == nil {
			c.Close()
			return true, nil
		}
		if n++; n%10 == 0 && cid != "" {
			st, err := cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
			if err == nil && st.Container.State != nil && !st.Container.State.Running {
				return false, fmt.Errorf("docker lab: %s exited (code %d) before %s %s accepted connections%s",
					host, st.Container.State.ExitCode, what, path, logs())
			}
		}
		return false, nil
	}, logs)
}

// dockerDaemonLog is the log file the rendered config gives the daemon: log-error in my.cnf,
// the filelog path in strongswan.conf; "" when there is none.
func dockerDaemonLog(siteDir string, gateway bool) string {
	file, re := dockerMyCnf, dockerMyLogRE
	if gateway {
		file, re = dockerStrongswanConf, dockerCharonLogRE
	}
	b, err := os.ReadFile(filepath.Join(siteDir, file))
	if err != nil {
		return ""
	}
	if m := re.FindSubmatch(b); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return ""
}

var (
	dockerMyLogRE     = regexp.MustCompile(`(?m)^\s*log[-_]error\s*=\s*(\S+)`)
	dockerCharonLogRE = regexp.MustCompile(`(?m)^\s*path\s*=\s*(/\S+)`)
)

// dockerFileTail formats a log file's last lines for an error message ("" if unreadable).
func dockerFileTail(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	return fmt.Sprintf("\nlast lines of %s:\n%s", path, dockerLastLines(string(b), dockerLogLines))
}

// dockerLogs returns the container's log (stdout and stderr interleaved per stream), tail lines
// ("all" or a number); errors give an empty string.
func dockerLogs(ctx context.Context, cli *client.Client, cid, tail string) string {
	if cid == "" {
		return ""
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(lctx, cid, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: tail})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, _ = stdcopy.StdCopy(&buf, &buf, rc)
	return buf.String()
}

// dockerLogTail formats the container's last log lines for an error message.
func dockerLogTail(ctx context.Context, cli *client.Client, cid, host string) string {
	logs := strings.TrimRight(dockerLogs(ctx, cli, cid, fmt.Sprint(dockerLogLines)), "\n")
	if logs == "" {
		return fmt.Sprintf("\n(no log lines from container %s)", host)
	}
	return fmt.Sprintf("\nlast log lines of container %s:\n%s", host, logs)
}

func dockerLastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Teardown removes every container and network the lab recorded or labelled with info.ID,
// the host-firewall helper first (its SIGTERM removes its rules). Idempotent.
func (b dockerBackend) Teardown(ctx context.Context, info *Info) error {
	if info == nil || info.ID == "" {
		return errors.New("docker lab: teardown needs the lab id")
	}
	eng, err := dockerConnect(ctx)
	if err != nil {
		if len(info.Resources.Containers) == 0 && len(info.Resources.Networks) == 0 {
			return nil // nothing was ever created: nothing to do, engine or not
		}
		return err
	}
	defer eng.close()
	ctx = context.WithoutCancel(ctx) // cleanup runs to its end, also after an interrupt
	cli := eng.cli
	label := make(client.Filters).Add("label", dockerLabelLab+"="+info.ID)

	// Containers: recorded names plus whatever carries the label (a crashed run's leftovers).
	targets := map[string]string{} // name or id -> role
	for _, c := range info.Resources.Containers {
		targets[c] = ""
	}
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: label})
	if err != nil {
		return fmt.Errorf("docker lab: list containers of lab %s: %w", info.ID, err)
	}
	for _, c := range res.Items {
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		delete(targets, name)
		delete(targets, c.ID)
		targets[name] = c.Labels[dockerLabelRole]
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	// The hostfw helper removes its firewall rules on SIGTERM: stop it gracefully, then remove it,
	// in parallel with the forced removal of the lab hosts.
	for name, role := range targets {
		wg.Add(1)
		go func(name, role string) {
			defer wg.Done()
			if role == "hostfw" || strings.HasSuffix(name, "-hostfw") {
				timeout := 5
				if _, err := cli.ContainerStop(ctx, name, client.ContainerStopOptions{Timeout: &timeout}); err != nil && !cerrdefs.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("docker lab: stop %s: %w", name, err))
					mu.Unlock()
				}
			}
			if _, err := cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("docker lab: remove container %s: %w", name, err))
				mu.Unlock()
			}
		}(name, role)
	}
	wg.Wait()

	nets := map[string]bool{}
	for _, n := range info.Resources.Networks {
		nets[n] = true
	}
	nres, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: label})
	if err != nil {
		errs = append(errs, fmt.Errorf("docker lab: list networks of lab %s: %w", info.ID, err))
	} else {
		for _, n := range nres.Items {
			delete(nets, n.ID)
			nets[n.Name] = true
		}
	}
	for n := range nets {
		wg.Add(1)
		go func(n string) {
			defer wg.Done()
			if _, err := cli.NetworkRemove(ctx, n, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("docker lab: remove network %s: %w", n, err))
				mu.Unlock()
			}
		}(n)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// dockerContainerName maps a lab host ("aws-gw", or the container name itself) to its container.
func dockerContainerName(info *Info, host string) (string, error) {
	if info == nil || info.ID == "" {
		return "", errors.New("docker lab: no lab id")
	}
	if host == "" {
		return "", errors.New("docker lab: empty host name")
	}
	if strings.HasPrefix(host, info.ID+"-") {
		return host, nil
	}
	return dockerName(info.ID, host), nil
}

// Exec runs argv in a lab host's container and returns its combined output. A non-zero exit
// status is an error that carries the output's last lines.
func (b dockerBackend) Exec(ctx context.Context, info *Info, host string, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("docker lab: exec: empty command")
	}
	cname, err := dockerContainerName(info, host)
	if err != nil {
		return nil, err
	}
	eng, err := dockerConnect(ctx)
	if err != nil {
		return nil, err
	}
	defer eng.close()
	return dockerExec(ctx, eng.cli, cname, host, argv...)
}

func dockerExec(ctx context.Context, cli *client.Client, cname, host string, argv ...string) ([]byte, error) {
	ex, err := cli.ExecCreate(ctx, cname, client.ExecCreateOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil, fmt.Errorf("docker lab: exec %s in %s: %w", argv[0], host, err)
	}
	att, err := cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker lab: exec %s in %s: %w", argv[0], host, err)
	}
	defer att.Close()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &out, att.Reader)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		att.Close()
		<-done
		return out.Bytes(), fmt.Errorf("docker lab: exec %s in %s: %w", argv[0], host, ctx.Err())
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("docker lab: exec %s in %s: read output: %w", argv[0], host, err)
	}
	st, err := cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
	if err != nil {
		return out.Bytes(), fmt.Errorf("docker lab: exec %s in %s: %w", argv[0], host, err)
	}
	if st.ExitCode != 0 {
		return out.Bytes(), fmt.Errorf("docker lab: %s in %s exited with status %d: %s", argv[0], host, st.ExitCode, dockerLastLines(out.String(), 5))
	}
	return out.Bytes(), nil
}

// KillGateway kills -9 the site's charon inside its container, which keeps running with its
// network state; it returns when no charon is left.
func (b dockerBackend) KillGateway(ctx context.Context, info *Info, site string) error {
	if _, ok := dockerDefaults[site]; !ok {
		return fmt.Errorf("docker lab: unknown site %q", site)
	}
	_, err := b.Exec(ctx, info, site+"-gw", dockerGatewayCmd, "kill")
	return err
}

// StartGateway starts the site's charon again (or the gateway container, if it is not running)
// and returns when its VICI socket accepts connections.
func (b dockerBackend) StartGateway(ctx context.Context, info *Info, rec Recorder, site string) error {
	plan, err := dockerMakePlan(info)
	if err != nil {
		return err
	}
	sp, ok := plan.sites[site]
	if !ok {
		return fmt.Errorf("docker lab: unknown site %q", site)
	}
	host := site + "-gw"
	cname := dockerName(info.ID, host)
	eng, err := dockerConnect(ctx)
	if err != nil {
		return err
	}
	defer eng.close()
	st, err := eng.cli.ContainerInspect(ctx, cname, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("docker lab: inspect %s: %w", host, err)
	}
	if st.Container.State != nil && st.Container.State.Running {
		if _, err := dockerExec(ctx, eng.cli, cname, host, dockerGatewayCmd, "start"); err != nil {
			return err
		}
	} else if _, err := eng.cli.ContainerStart(ctx, cname, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("docker lab: start %s: %w", host, err)
	}
	return dockerWaitSocket(ctx, eng.cli, st.Container.ID, host, sp.vici, "charon's VICI socket", dockerDaemonLog(sp.dir, true))
}
