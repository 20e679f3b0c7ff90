package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// provisionFailover makes the failover hosts in a netns lab whose four
// hosts are up: namespaces, links, aws-db2's datadir, then mariadbd on
// aws-db2 and unbound on aws-dns. It returns when both answer on their unix
// sockets.
//
// The network. aws-gw is already the AWS VPC's router (aws-db's default
// gateway); it stays that, for more hosts: each new AWS host gets a veth of
// its own to aws-gw (lan1..lan3) and keeps the VPC's /16 as on-link, like an
// instance in a VPC; aws-gw answers ARP for the others (proxy_arp, no proxy
// delay) and routes them by /32, which is what the VPC's implicit router
// does (a VPC has no L2 broadcast domain either). aws-db's veth (lan0) only
// gets proxy_arp and proxy_delay=0: its address, routes and daemons are
// untouched. The peered VPC hangs off aws-gw too (peer0, 10.30.0.1/16), the
// VPC router's side of the peering connection, rather than a namespace of
// its own: a peering router namespace would add a hop and a namespace to
// lab up for nothing a drill observes. peer-app's only route beyond its own
// VPC is 10.20.0.0/16 (as a peering route table entry); it has no route to
// on-prem, and the tunnel's traffic selectors (10.20.0.0/16 ===
// 192.168.64.0/24) would not carry 10.30.0.0/16 anyway: peering is not
// transitive, as in AWS.
func provisionFailover(ctx context.Context, info *Info, rec Recorder) error {
	f := info.Failover
	dataErr := make(chan error, 1)
	go func() {
		dataErr <- PrepareDatadir(ctx, f.DB2.DataDir, filepath.Dir(f.DB2.Socket))
	}()
	netErr := failoverNetwork(ctx, info)
	if err := errors.Join(netErr, <-dataErr); err != nil {
		return err
	}
	db2Dir, dnsDir := filepath.Dir(f.DB2.Socket), filepath.Dir(f.DNS.Config)
	os.Remove(f.DNS.Control)
	type daemon struct {
		host, name, sock, log string
		argv                  []string
		record                func(i *Info, p Process)
	}
	ds := []daemon{
		{"aws-db2", "aws-db2/mariadbd", f.DB2.Socket, filepath.Join(db2Dir, "mysqld.log"),
			[]string{"ip", "netns", "exec", f.DB2.Host, "mariadbd", "--defaults-file=" + filepath.Join(db2Dir, "my.cnf")},
			func(i *Info, p Process) { i.Failover.DB2.PID = p.PID }},
		{"aws-dns", "aws-dns/unbound", f.DNS.Control, filepath.Join(dnsDir, "unbound.log"),
			[]string{"ip", "netns", "exec", f.DNS.Host, UnboundPath, "-d", "-c", f.DNS.Config},
			func(i *Info, p Process) { i.Failover.DNS.PID = p.PID }},
	}
	exits := map[string]<-chan struct{}{}
	for _, d := range ds {
		// The namespace is recorded already: a daemon killed with the lab
		// between its start and this record is still found by `ip netns pids`.
		p, exited, err := startDaemon(d.name, d.argv, nil, strings.TrimSuffix(d.log, filepath.Ext(d.log))+".out")
		if err != nil {
			return &HostError{Host: d.host, Err: err, Log: d.log}
		}
		exits[d.host] = exited
		if err := rec.Record(func(i *Info) {
			i.Resources.Processes = replaceProcess(i.Resources.Processes, p)
			d.record(i, p)
		}); err != nil {
			return err
		}
	}
	var socks []hostSocket
	for _, d := range ds {
		socks = append(socks, hostSocket{d.host, d.sock, d.log})
	}
	return waitHostSockets(ctx, "aws-db2's MySQL socket and aws-dns's unbound control socket to accept connections", socks, exits)
}

// failoverNetwork makes the failover hosts' namespaces and links.
func failoverNetwork(ctx context.Context, info *Info) error {
	ns := func(h string) string { return HostName(info.ID, h) }
	for _, h := range FailoverHosts {
		if _, err := run(ctx, "ip", "netns", "add", ns(h)); err != nil {
			return fmt.Errorf("host %s: %w", h, err)
		}
	}
	links := [][]string{
		{"ip", "link", "add", "lan1", "netns", ns("aws-gw"), "type", "veth", "peer", "name", "eth0", "netns", ns("aws-db2")},
		{"ip", "link", "add", "lan2", "netns", ns("aws-gw"), "type", "veth", "peer", "name", "eth0", "netns", ns("aws-dns")},
		{"ip", "link", "add", "lan3", "netns", ns("aws-gw"), "type", "veth", "peer", "name", "eth0", "netns", ns("aws-app")},
		{"ip", "link", "add", "peer0", "netns", ns("aws-gw"), "type", "veth", "peer", "name", "eth0", "netns", ns("peer-app")},
	}
	for _, l := range links {
		if _, err := run(ctx, l...); err != nil {
			return err
		}
	}
	awsHost := func(cidr string) string {
		return fmt.Sprintf("ip link set lo up\nip addr add %s dev eth0\nip link set eth0 up\nip route add default via %s", cidr, plan[SiteAWS].gwLAN)
	}
	scripts := map[string]string{
		"aws-gw": fmt.Sprintf(`for l in lan0 lan1 lan2 lan3; do
  sysctl -qw net.ipv4.conf.$l.proxy_arp=1 net.ipv4.neigh.$l.proxy_delay=0
done
ip link set lan1 up
ip route add %s/32 dev lan1
ip link set lan2 up
ip route add %s/32 dev lan2
ip link set lan3 up
ip route add %s/32 dev lan3
ip addr add %s dev peer0
ip link set peer0 up`, db2Addr, DNSAddr, awsAppAddr, peerGWCIDR),
		"aws-db2": awsHost(db2CIDR),
		"aws-dns": awsHost(dnsCIDR),
		"aws-app": awsHost(awsAppCIDR),
		"peer-app": fmt.Sprintf("ip link set lo up\nip addr add %s dev eth0\nip link set eth0 up\nip route add %s via %s",
			peerCIDR, plan[SiteAWS].subnet, peerGWAddr),
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for h, script := range scripts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := run(ctx, "ip", "netns", "exec", ns(h), "sh", "-ec", script); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("host %s: %w", h, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sweepEtcNetns removes /etc/netns/<id>-* (the failover lab's resolv.conf
// dirs), also when lab.json is gone: they carry the lab id like its
// namespaces. /etc/netns itself is shared with other labs and stays.
func sweepEtcNetns(id string) error {
	ents, err := os.ReadDir(EtcNetns)
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), id+"-") {
			errs = append(errs, os.RemoveAll(filepath.Join(EtcNetns, e.Name())))
		}
	}
	return errors.Join(errs...)
}
