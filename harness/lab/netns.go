package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
)

// CharonPath is where Debian installs charon (strongswan-charon).
var CharonPath = "/usr/lib/ipsec/charon"

// NetnsBackend runs each lab host in a network namespace of this machine.
type NetnsBackend struct{}

// NewNetnsBackend returns the network-namespace backend.
func NewNetnsBackend() Backend { return NetnsBackend{} }

func (NetnsBackend) Name() string { return "netns" }

// Preflight checks what the netns backend needs, naming the fix.
func (NetnsBackend) Preflight() error {
	if os.Geteuid() != 0 {
		return &EnvError{Msg: "the netns lab needs root (it creates network namespaces): run it as root, e.g. sudo drdrill lab up"}
	}
	missing := map[string]string{}
	for bin, pkg := range map[string]string{"ip": "iproute2", "unshare": "util-linux", "mariadbd": "mariadb-server",
		"mariadb-install-db": "mariadb-server", "nft": "nftables"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing[bin] = pkg
		}
	}
	if _, err := os.Stat(CharonPath); err != nil {
		missing[CharonPath] = "strongswan-charon"
	}
	if _, err := os.Stat("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"); err != nil {
		missing["kernel-libipsec plugin"] = "libcharon-extra-plugins"
	}
	if len(missing) > 0 {
		var what, pkgs []string
		seen := map[string]bool{}
		for bin, pkg := range missing {
			what = append(what, bin)
			if !seen[pkg] {
				pkgs = append(pkgs, pkg)
				seen[pkg] = true
			}
		}
		return &EnvError{Msg: fmt.Sprintf("missing %s: run `make deps` (apt-get install -y %s)", strings.Join(sorted(what), ", "), strings.Join(sorted(pkgs), " "))}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return &EnvError{Msg: "missing /dev/net/tun: kernel-libipsec needs the tun device (modprobe tun)"}
	}
	return nil
}

// EnvError is a missing dependency or privilege: the caller exits 2.
type EnvError struct{ Msg string }

func (e *EnvError) Error() string { return e.Msg }

func (b NetnsBackend) Provision(ctx context.Context, info *Info, rec Recorder) error {
	// Record every namespace before creating any, so a crash halfway leaves
	// nothing that Teardown does not know about.
	if err := rec.Record(func(i *Info) {
		for _, h := range Hosts {
			i.Resources.Namespaces = append(i.Resources.Namespaces, HostName(info.ID, h))
		}
	}); err != nil {
		return err
	}
	// The datadir copies (disk) run while the network is made (netlink).
	var wg sync.WaitGroup
	dataErr := make([]error, len(Sites))
	for i, s := range Sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dataErr[i] = PrepareDatadir(ctx, info.Sites[s].DB.DataDir, filepath.Join(info.Dir, s))
		}()
	}
	netErr := b.network(ctx, info)
	wg.Wait()
	if err := errors.Join(append([]error{netErr}, dataErr...)...); err != nil {
		return err
	}
	exits := map[string]<-chan struct{}{}
	for _, s := range Sites {
		for _, start := range []func(context.Context, *Info, Recorder, string) (string, <-chan struct{}, error){b.startCharon, b.startMariaDB} {
			name, exited, err := start(ctx, info, rec, s)
			if err != nil {
				return err
			}
			exits[name] = exited
		}
	}
	return waitSockets(ctx, info, exits)
}

// network makes the namespaces, the WAN and the two LANs.
func (NetnsBackend) network(ctx context.Context, info *Info) error {
	ns := func(h string) string { return HostName(info.ID, h) }
	for _, h := range Hosts {
		if _, err := run(ctx, "ip", "netns", "add", ns(h)); err != nil {
			return fmt.Errorf("host %s: %w", h, err)
		}
	}
	// veths are created directly inside their namespaces, so the same
	// interface names in two labs never meet in this machine's namespace.
	links := [][]string{
		{"ip", "link", "add", "wan0", "netns", ns("aws-gw"), "type", "veth", "peer", "name", "wan0", "netns", ns("onprem-gw")},
		{"ip", "link", "add", "lan0", "netns", ns("aws-gw"), "type", "veth", "peer", "name", "eth0", "netns", ns("aws-db")},
		{"ip", "link", "add", "lan0", "netns", ns("onprem-gw"), "type", "veth", "peer", "name", "eth0", "netns", ns("onprem-db")},
	}
	for _, l := range links {
		if _, err := run(ctx, l...); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 0, len(Sites)*2)
	var mu sync.Mutex
	do := func(host string, script string) {
		defer wg.Done()
		if _, err := run(ctx, "ip", "netns", "exec", ns(host), "sh", "-ec", script); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("host %s: %w", host, err))
			mu.Unlock()
		}
	}
	for _, s := range Sites {
		p := plan[s]
		wg.Add(2)
		// Gateways forward between LAN and tunnel and have no default route:
		// nothing in the lab can reach beyond it. With the tunnel down they
		// have no route to the other site and answer with ICMP net
		// unreachable, unthrottled (icmp_ratelimit=0): since Linux 6.5 that
		// is a soft error for a connecting socket, so a replica's reconnect
		// fails after one SYN retransmit (~1 s, errno 101) every time instead
		// of hanging until its connect timeout whenever the ICMP was
		// rate-limited. A silent WAN (errno 110) is the wan-blackhole drill.
		go do(s+"-gw", fmt.Sprintf(`ip link set lo up
ip addr add %s/%d dev wan0
ip link set wan0 up
ip addr add %s dev lan0
ip link set lan0 up
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv4.icmp_ratelimit=0`, p.wanAddr, wanPrefixLen, p.gwLANCIDR))
		go do(s+"-db", fmt.Sprintf(`ip link set lo up
ip addr add %s dev eth0
ip link set eth0 up
ip route add default via %s`, p.dbCIDR, p.gwLAN))
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (NetnsBackend) startCharon(ctx context.Context, info *Info, rec Recorder, site string) (string, <-chan struct{}, error) {
	dir := filepath.Join(info.Dir, site)
	host := site + "-gw"
	os.Remove(info.Sites[site].Gateway.VICI)
	// charon writes a fixed pid file under /run: each one gets a private
	// tmpfs /run in a mount namespace of its own (see lab-prototype.sh).
	argv := []string{"ip", "netns", "exec", HostName(info.ID, host), "unshare", "--mount", "--propagation", "private",
		"sh", "-c", "mount -t tmpfs tmpfs /run && exec " + CharonPath}
	p, exited, err := startDaemon(host+"/charon", argv, []string{"STRONGSWAN_CONF=" + filepath.Join(dir, "strongswan.conf")}, filepath.Join(dir, "charon.out"))
	if err != nil {
		return "", nil, err
	}
	return host, exited, rec.Record(func(i *Info) {
		i.Resources.Processes = replaceProcess(i.Resources.Processes, p)
		i.Sites[site].Gateway.PID = p.PID
	})
}

func (NetnsBackend) startMariaDB(ctx context.Context, info *Info, rec Recorder, site string) (string, <-chan struct{}, error) {
	dir := filepath.Join(info.Dir, site)
	host := site + "-db"
	argv := []string{"ip", "netns", "exec", HostName(info.ID, host), "mariadbd", "--defaults-file=" + filepath.Join(dir, "my.cnf")}
	p, exited, err := startDaemon(host+"/mariadbd", argv, nil, filepath.Join(dir, "mysqld.out"))
	if err != nil {
		return "", nil, err
	}
	return host, exited, rec.Record(func(i *Info) {
		i.Resources.Processes = replaceProcess(i.Resources.Processes, p)
		i.Sites[site].DB.PID = p.PID
	})
}

func replaceProcess(ps []Process, p Process) []Process {
	out := ps[:0:0]
	for _, q := range ps {
		if q.Name != p.Name {
			out = append(out, q)
		}
	}
	return append(out, p)
}

// waitSockets waits until every VICI and MySQL socket accepts a connection;
// a daemon that exits first fails the wait at once, with its log.
func waitSockets(ctx context.Context, info *Info, exits map[string]<-chan struct{}) error {
	var socks []hostSocket
	for _, s := range Sites {
		d := filepath.Join(info.Dir, s)
		socks = append(socks, hostSocket{s + "-gw", info.Sites[s].Gateway.VICI, filepath.Join(d, "charon.log")},
			hostSocket{s + "-db", info.Sites[s].DB.Socket, filepath.Join(d, "mysqld.log")})
	}
	return waitHostSockets(ctx, "every VICI and MySQL socket to accept connections", socks, exits)
}

// hostSocket is a daemon's unix socket on a lab host, and its log.
type hostSocket struct{ host, path, log string }

// waitHostSockets waits until every socket accepts connections; a daemon
// that exits meanwhile (exits, by host) fails at once with its log.
func waitHostSockets(ctx context.Context, what string, socks []hostSocket, exits map[string]<-chan struct{}) error {
	pending := socks
	err := poll.Until(ctx, what, 5*time.Millisecond, 20*time.Second, func(context.Context) (bool, string, error) {
		var still []hostSocket
		var seen []string
		for _, s := range pending {
			if ch, ok := exits[s.host]; ok {
				select {
				case <-ch:
					return false, "", &HostError{Host: s.host, Err: errors.New("daemon exited during start"), Log: s.log}
				default:
				}
			}
			c, err := net.DialTimeout("unix", s.path, 100*time.Millisecond)
			if err != nil {
				still = append(still, s)
				seen = append(seen, fmt.Sprintf("%s: %v", s.host, err))
				continue
			}
			c.Close()
		}
		pending = still
		return len(still) == 0, "not accepting yet: " + strings.Join(seen, "; "), nil
	})
	var te *poll.TimeoutError
	if errors.As(err, &te) {
		s := pending[0]
		return &HostError{Host: s.host, Err: fmt.Errorf("socket %s did not accept connections in time: %w", s.path, err), Log: s.log}
	}
	return err
}

// HostError says which lab host failed and shows its daemon's last log lines.
type HostError struct {
	Host string
	Err  error
	Log  string // path of the daemon's log; its stdout/stderr (.out) is the fallback
}

func (e *HostError) Error() string {
	s := fmt.Sprintf("host %s: %v", e.Host, e.Err)
	for _, p := range []string{e.Log, strings.TrimSuffix(e.Log, filepath.Ext(e.Log)) + ".out"} {
		if t := tail(p, 6); p != "" && t != "" {
			return s + "\n  last lines of " + p + ":\n    " + strings.ReplaceAll(t, "\n", "\n    ")
		}
	}
	return s
}

func (e *HostError) Unwrap() error { return e.Err }

func (b NetnsBackend) Teardown(ctx context.Context, info *Info) error {
	procs := append([]Process(nil), info.Resources.Processes...)
	nss := map[string]bool{}
	for _, n := range info.Resources.Namespaces {
		nss[n] = true
	}
	// Namespaces that carry the lab id but were not recorded (a crash between
	// create and record cannot happen, but a hand-made mess can).
	if out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], info.ID+"-") {
				nss[f[0]] = true
			}
		}
	}
	// Anything still running inside the lab's namespaces is the lab's.
	for n := range nss {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", n).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				st, _ := procStartTime(pid)
				procs = append(procs, Process{Name: n, PID: pid, StartTime: st})
			}
		}
	}
	kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	errs := []error{killAndWait(kctx, procs)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for n := range nss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := os.Stat("/run/netns/" + n); err != nil {
				return
			}
			if _, err := run(ctx, "ip", "netns", "del", n); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// The failover lab's /etc/netns/<ns> dirs (resolv.conf), by lab id.
	errs = append(errs, sweepEtcNetns(info.ID))
	return errors.Join(errs...)
}

func (b NetnsBackend) Exec(ctx context.Context, info *Info, host string, argv ...string) ([]byte, error) {
	return b.ExecInput(ctx, info, host, nil, argv...)
}

func (NetnsBackend) ExecInput(ctx context.Context, info *Info, host string, stdin []byte, argv ...string) ([]byte, error) {
	return runInput(ctx, stdin, append([]string{"ip", "netns", "exec", HostName(info.ID, host)}, argv...)...)
}

func (NetnsBackend) KillGateway(ctx context.Context, info *Info, site string) error {
	for _, p := range info.Resources.Processes {
		if p.Name == site+"-gw/charon" {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return killAndWait(ctx, []Process{p})
		}
	}
	return fmt.Errorf("kill gateway %s: no charon recorded", site)
}

func (b NetnsBackend) StartGateway(ctx context.Context, info *Info, rec Recorder, site string) error {
	host, exited, err := b.startCharon(ctx, info, rec, site)
	if err != nil {
		return err
	}
	path := info.Sites[site].Gateway.VICI
	log := filepath.Join(info.Dir, site, "charon.log")
	err = poll.Until(ctx, "charon's VICI socket "+path+" to accept connections", 5*time.Millisecond, 10*time.Second, func(context.Context) (bool, string, error) {
		select {
		case <-exited:
			return false, "", &HostError{Host: host, Err: errors.New("charon exited during start"), Log: log}
		default:
		}
		c, err := net.DialTimeout("unix", path, 100*time.Millisecond)
		if err != nil {
			return false, err.Error(), nil
		}
		c.Close()
		return true, "", nil
	})
	var te *poll.TimeoutError
	if errors.As(err, &te) {
		return &HostError{Host: host, Err: fmt.Errorf("vici socket %s did not answer in time: %w", path, err), Log: log}
	}
	return err
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
