package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
)

// The failover lab (docs/design.md, "The failover drills extend it") adds,
// with the same per-lab prefix and rules as the four-host lab:
//
//   - aws-db2 10.20.12.45: the cluster's reader, a MariaDB replica of aws-db
//     (GTID, log_slave_updates, read_only, server-id 3). onprem-db keeps
//     replicating from aws-db over the VPN.
//   - aws-dns 10.20.0.2: Debian's unbound serving the cluster zone:
//     writer.cluster.lab and reader.cluster.lab as CNAMEs (TTL 5 s) to the
//     instances' names, A records for every db host. It is changed the way
//     an operator changes a zone: FlipCNAME rewrites the zone file and runs
//     `unbound-control auth_zone_reload` over the control unix socket.
//   - aws-app 10.20.21.10 in the AWS VPC and peer-app 10.30.1.10 in a peered
//     VPC 10.30.0.0/16 whose only route is to 10.20.0.0/16: where clients run.
//
// Every lab host resolves through aws-dns: /etc/netns/<ns>/resolv.conf,
// which `ip netns exec` bind-mounts over /etc/resolv.conf for everything
// started in the host (it is written before any daemon starts). On-prem
// hosts ask 10.20.0.2 too, through the tunnel, as an on-prem forwarder to a
// VPC resolver would. So a VPN outage is a DNS outage on-prem: with the
// CHILD SA gone onprem-gw has no route to 10.20.0.0/16, and its ICMP net
// unreachable is a soft error that a UDP socket never reports, so a lookup
// waits out resolv.conf's timeout:1 × attempts:2 (2 s, glibc and Go) and
// fails (EAI_AGAIN, "Temporary failure in name resolution"; Go: i/o
// timeout; dig: "no servers could be reached"); a silent WAN does the same.
// A replica whose source is a name therefore fails each reconnect at name
// resolution (MariaDB error 2005, unknown host), 2 s into it, rather than at
// connect (2003) while the VPN is down.
// TestFailoverOnPremDNSNeedsTheTunnel measures it.

// Names and timings of the failover lab's DNS.
const (
	ClusterZone = "cluster.lab"
	WriterName  = "writer.cluster.lab" // the cluster (writer) endpoint
	ReaderName  = "reader.cluster.lab" // the reader endpoint
	// CNAMETTL is the TTL of the cluster endpoints, as Aurora's.
	CNAMETTL = 5 * time.Second
	// ATTL is the TTL of the instances' A records (they never change).
	ATTL = 60 * time.Second
	// DNSAddr is aws-dns, the VPC resolver (the VPC base + 2, as in AWS).
	DNSAddr = "10.20.0.2"
	// PeerVPC is the peered VPC's CIDR.
	PeerVPC = "10.30.0.0/16"
)

// FailoverHosts are the hosts the failover lab adds, in the order they are made.
var FailoverHosts = []string{"aws-db2", "aws-dns", "aws-app", "peer-app"}

// FailoverInfo is what the failover extension made; Info.Failover is nil on
// a four-host lab.
type FailoverInfo struct {
	DB2  DB        `json:"db2"` // aws-db2, the cluster's reader at lab up
	DNS  DNSServer `json:"dns"`
	Apps []AppHost `json:"apps"` // aws-app, peer-app
	// ResolvConfs are the /etc/netns/<ns>/resolv.conf files the lab wrote.
	ResolvConfs []string `json:"resolv_confs"`
}

// DNSServer is aws-dns: unbound, controlled through a unix socket.
type DNSServer struct {
	Host     string `json:"host"` // namespace
	Addr     string `json:"addr"`
	Zone     string `json:"zone"`
	Config   string `json:"config"`   // unbound.conf
	ZoneFile string `json:"zonefile"` // the zone unbound serves
	Control  string `json:"control"`  // unbound-control's unix socket
	CNAMETTL int    `json:"cname_ttl_s"`
	PID      int    `json:"pid,omitempty"`
}

// AppHost is a host where clients run; it has no daemon.
type AppHost struct {
	Name   string   `json:"name"` // aws-app or peer-app
	Host   string   `json:"host"` // namespace
	Addr   string   `json:"addr"`
	VPC    string   `json:"vpc"`
	Routes []string `json:"routes"` // what it can reach beyond its own VPC
}

// App returns the app host by lab name (aws-app, peer-app).
func (f *FailoverInfo) App(name string) (AppHost, bool) {
	for _, a := range f.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return AppHost{}, false
}

// failover address plan (docs/design.md).
const (
	db2Addr    = "10.20.12.45"
	db2CIDR    = "10.20.12.45/16"
	dnsCIDR    = "10.20.0.2/16"
	awsAppAddr = "10.20.21.10"
	awsAppCIDR = "10.20.21.10/16"
	peerGWAddr = "10.30.0.1"
	peerGWCIDR = "10.30.0.1/16"
	peerApp    = "10.30.1.10"
	peerCIDR   = "10.30.1.10/16"
	db2ID      = 3
)

// dbNames are the instance names in the zone and their addresses.
var dbNames = []struct{ Name, Addr string }{
	{"aws-db", "10.20.11.123"}, {"aws-db2", db2Addr}, {"onprem-db", "192.168.64.15"}, {"aws-dns", DNSAddr},
}

// EtcNetns is where `ip netns exec` finds a namespace's own /etc files.
var EtcNetns = "/etc/netns"

// UnboundPath and UnboundControlPath are Debian's unbound.
var (
	UnboundPath        = "/usr/sbin/unbound"
	UnboundControlPath = "/usr/sbin/unbound-control"
)

// checkFailover validates a failover lab before anything is made.
func checkFailover(dir string, b Backend) error {
	if b.Name() != "netns" {
		return inputErrorf("the failover lab runs on the netns backend only (docker: not yet); got --backend %s", b.Name())
	}
	f := failoverLayout(dir, IDFor(dir))
	for _, p := range []string{f.DB2.Socket, f.DNS.Control} {
		if len(p) > maxSocketPath {
			return inputErrorf("lab dir %s: socket path %s is %d bytes, more than the %d a unix socket allows; use a shorter --lab",
				dir, p, len(p), maxSocketPath)
		}
	}
	var missing []string
	for _, p := range []string{UnboundPath, UnboundControlPath} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return &EnvError{Msg: fmt.Sprintf("the failover lab needs Debian's unbound: missing %s: run `make deps` (apt-get install -y unbound)", strings.Join(missing, ", "))}
	}
	return nil
}

// failoverLayout is where the extension's files and sockets go.
func failoverLayout(dir, id string) *FailoverInfo {
	db2Dir, dnsDir := filepath.Join(dir, "aws-db2"), filepath.Join(dir, "aws-dns")
	f := &FailoverInfo{
		DB2: DB{Host: HostName(id, "aws-db2"), Socket: filepath.Join(db2Dir, "mysqld.sock"), Role: RoleReplica, Addr: db2Addr,
			ServerID: db2ID, DataDir: filepath.Join(db2Dir, "data")},
		DNS: DNSServer{Host: HostName(id, "aws-dns"), Addr: DNSAddr, Zone: ClusterZone, Config: filepath.Join(dnsDir, "unbound.conf"),
			ZoneFile: filepath.Join(dnsDir, ClusterZone+".zone"), Control: filepath.Join(dnsDir, "unbound.ctl"), CNAMETTL: int(CNAMETTL / time.Second)},
		Apps: []AppHost{
			{Name: "aws-app", Host: HostName(id, "aws-app"), Addr: awsAppAddr, VPC: plan[SiteAWS].subnet, Routes: []string{"0.0.0.0/0 via 10.20.0.1"}},
			{Name: "peer-app", Host: HostName(id, "peer-app"), Addr: peerApp, VPC: PeerVPC, Routes: []string{plan[SiteAWS].subnet + " via " + peerGWAddr}},
		},
	}
	for _, h := range append(append([]string{}, Hosts...), FailoverHosts...) {
		f.ResolvConfs = append(f.ResolvConfs, filepath.Join(EtcNetns, HostName(id, h), "resolv.conf"))
	}
	return f
}

// unboundParams feed fixtures/unbound.conf.tmpl.
type unboundParams struct {
	LabID, Dir, Addr, Zone, ZoneFile, Control string
	Allow                                     []string
}

// zoneState is the cluster zone's changing part, kept next to the zone
// file (DIR/aws-dns/zone.json) so that every flip renders the whole zone.
type zoneState struct {
	Serial int    `json:"serial"`
	Writer string `json:"writer"` // instance name, e.g. aws-db
	Reader string `json:"reader"`
}

// zoneParams feed fixtures/cluster.lab.zone.tmpl.
type zoneParams struct {
	LabID, Zone, Writer, Reader string
	Serial, CNAMETTL, ATTL      int
	A                           []struct{ Name, Addr string }
}

// planFailover lays the extension out and records it before anything of it
// exists: namespaces, datadir, resolv.conf files; then writes the configs
// and the resolv.conf files (before any daemon starts, so that every daemon
// the lab starts resolves through aws-dns).
func planFailover(info *Info, rec Recorder) error {
	f := failoverLayout(info.Dir, info.ID)
	if tmpfs := tmpfsDataRoot(info); tmpfs != "" {
		f.DB2.DataDir = filepath.Join(tmpfs, "aws-db2", "data")
	}
	if err := rec.Record(func(i *Info) {
		i.Failover = f
		for _, h := range FailoverHosts {
			i.Resources.Namespaces = append(i.Resources.Namespaces, HostName(info.ID, h))
		}
		for _, rc := range f.ResolvConfs {
			i.Resources.Dirs = append(i.Resources.Dirs, filepath.Dir(rc))
		}
	}); err != nil {
		return err
	}
	db2Dir, dnsDir := filepath.Dir(f.DB2.Socket), filepath.Dir(f.DNS.Config)
	for _, d := range []string{db2Dir, filepath.Join(db2Dir, "tmp"), dnsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	my, err := render("my.cnf.tmpl", mycnfParams{LabID: info.ID, Site: "aws-db2", Dir: db2Dir, DataDir: f.DB2.DataDir, Role: RoleReplica,
		Addr: f.DB2.Addr, ServerID: f.DB2.ServerID, InnoDB: innodbSettings})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(db2Dir, "my.cnf"), my, 0o644); err != nil {
		return err
	}
	ub, err := render("unbound.conf.tmpl", unboundParams{LabID: info.ID, Dir: dnsDir, Addr: f.DNS.Addr, Zone: f.DNS.Zone,
		ZoneFile: f.DNS.ZoneFile, Control: f.DNS.Control, Allow: []string{plan[SiteAWS].subnet, PeerVPC, plan[SiteOnPrem].subnet}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(f.DNS.Config, ub, 0o644); err != nil {
		return err
	}
	if err := writeZone(info, f, zoneState{Serial: 1, Writer: "aws-db", Reader: "aws-db2"}); err != nil {
		return err
	}
	for _, rc := range f.ResolvConfs {
		if err := os.MkdirAll(filepath.Dir(rc), 0o755); err != nil {
			return fmt.Errorf("resolv.conf for %s: %w", filepath.Base(filepath.Dir(rc)), err)
		}
		body := fmt.Sprintf("# drdrill lab %s: every lab host resolves through aws-dns (on-prem: through the tunnel)\nnameserver %s\nsearch %s\noptions timeout:1 attempts:2\n",
			info.ID, DNSAddr, ClusterZone)
		if err := os.WriteFile(rc, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// tmpfsDataRoot is the lab's tmpfs dir when its datadirs are there.
func tmpfsDataRoot(info *Info) string {
	root := filepath.Join(TmpfsRoot, "drdrill-"+info.ID)
	for _, d := range info.Resources.Dirs {
		if d == root {
			return root
		}
	}
	return ""
}

// writeZone renders the zone and its state atomically (write, rename).
func writeZone(info *Info, f *FailoverInfo, st zoneState) error {
	p := zoneParams{LabID: info.ID, Zone: f.DNS.Zone, Writer: st.Writer, Reader: st.Reader, Serial: st.Serial,
		CNAMETTL: f.DNS.CNAMETTL, ATTL: int(ATTL / time.Second)}
	p.A = append(p.A, dbNames...)
	z, err := render("cluster.lab.zone.tmpl", p)
	if err != nil {
		return err
	}
	js, _ := json.Marshal(st)
	for path, data := range map[string][]byte{f.DNS.ZoneFile: z, zoneStatePath(f): js} {
		if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return err
		}
	}
	return nil
}

func zoneStatePath(f *FailoverInfo) string {
	return filepath.Join(filepath.Dir(f.DNS.ZoneFile), "zone.json")
}

// flipMu serialises flips within this process; a flock on the zone state
// serialises them across processes.
var flipMu sync.Mutex

// FlipCNAME points a cluster endpoint (WriterName or ReaderName) at an
// instance ("aws-db" or "aws-db2", or its name in the zone), the way an
// operator changes a zone: the zone file is rewritten with a new serial and
// unbound reloads it (`unbound-control auth_zone_reload`, over the control
// unix socket). The next query answers the new target; a client that
// cached the old answer keeps it for at most CNAMETTL.
func FlipCNAME(ctx context.Context, info *Info, name, to string) error {
	if info == nil || info.Failover == nil {
		return errors.New("flip cname: the lab has no failover extension (lab up with Options.Failover)")
	}
	f := info.Failover
	n := strings.TrimSuffix(strings.ToLower(name), ".")
	if n != WriterName && n != ReaderName {
		return inputErrorf("flip cname: name %q: want %s or %s", name, WriterName, ReaderName)
	}
	target := strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(to), "."), "."+ClusterZone)
	if target != "aws-db" && target != "aws-db2" {
		return inputErrorf("flip cname %s: target %q: want aws-db or aws-db2 (an instance of the cluster)", n, to)
	}
	flipMu.Lock()
	defer flipMu.Unlock()
	lock, err := os.OpenFile(zoneStatePath(f)+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("flip cname: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("flip cname: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	st, err := readZoneState(f)
	if err != nil {
		return fmt.Errorf("flip cname: %w", err)
	}
	if n == WriterName {
		st.Writer = target
	} else {
		st.Reader = target
	}
	st.Serial++
	if err := writeZone(info, f, st); err != nil {
		return fmt.Errorf("flip cname: %w", err)
	}
	if err := unboundControl(ctx, f, "auth_zone_reload", ClusterZone); err != nil {
		return fmt.Errorf("flip cname %s to %s.%s: %w", n, target, ClusterZone, err)
	}
	return nil
}

// CNAMEs returns where the cluster endpoints point in the zone file
// (WriterName and ReaderName to instance names): what the last flip wrote.
func CNAMEs(info *Info) (map[string]string, error) {
	if info == nil || info.Failover == nil {
		return nil, errors.New("cnames: the lab has no failover extension")
	}
	st, err := readZoneState(info.Failover)
	if err != nil {
		return nil, err
	}
	return map[string]string{WriterName: st.Writer, ReaderName: st.Reader}, nil
}

func readZoneState(f *FailoverInfo) (zoneState, error) {
	var st zoneState
	b, err := os.ReadFile(zoneStatePath(f))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", zoneStatePath(f), err)
	}
	return st, nil
}

// unboundControl runs unbound-control against aws-dns's control socket
// (a unix socket: nothing is dialled) and wants its "ok".
func unboundControl(ctx context.Context, f *FailoverInfo, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	argv := append([]string{"-c", f.DNS.Config}, args...)
	out, err := exec.CommandContext(ctx, UnboundControlPath, argv...).CombinedOutput()
	o := strings.TrimSpace(string(out))
	if err != nil {
		return fmt.Errorf("unbound-control %s: %w: %s", strings.Join(args, " "), err, o)
	}
	if o != "ok" {
		return fmt.Errorf("unbound-control %s: answered %q, want ok", strings.Join(args, " "), o)
	}
	return nil
}

// FlipCNAME points a cluster endpoint at an instance (see FlipCNAME).
func (t *Target) FlipCNAME(ctx context.Context, name, to string) error {
	return FlipCNAME(ctx, t.Info(), name, to)
}

// configureFailover creates the application account on aws-db, then makes
// aws-db2 a replica of aws-db (the replication user, schema and app account
// are already there: it replays aws-db's binlog from the start, so all three
// servers have them) and returns when it has applied aws-db's position.
func configureFailover(ctx context.Context, info *Info, sec *Secrets) error {
	f := info.Failover
	logPath := filepath.Join(filepath.Dir(f.DB2.Socket), "mysqld.log")
	primary, err := replica.OpenSocket(ctx, info.Sites[SiteAWS].DB.Socket, "root", "")
	if err != nil {
		return &HostError{Host: "aws-db", Err: err}
	}
	defer primary.Close()
	if err := createAppAccount(ctx, primary, sec.AppUser, sec.AppPassword); err != nil {
		return &HostError{Host: "aws-db", Err: err}
	}
	db2, err := replica.OpenSocket(ctx, f.DB2.Socket, "root", "")
	if err != nil {
		return &HostError{Host: "aws-db2", Err: err, Log: logPath}
	}
	defer db2.Close()
	src := replica.Source{Host: info.Sites[SiteAWS].DB.Addr, Port: 3306, User: sec.ReplUser, Password: sec.ReplPassword}
	if err := db2.ConfigureReplica(ctx, src, info.Timings.Replica()); err != nil {
		return &HostError{Host: "aws-db2", Err: err, Log: logPath}
	}
	pos, err := primary.PrimaryPosition(ctx)
	if err != nil {
		return &HostError{Host: "aws-db", Err: err}
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db2.WaitApplied(wctx, pos, 10*time.Second); err != nil {
		return &HostError{Host: "aws-db2", Err: err, Log: logPath}
	}
	st, err := db2.Status(ctx)
	if err != nil || st.IO != replica.IOYes || !st.SQLRunning {
		return &HostError{Host: "aws-db2", Err: fmt.Errorf("replica threads: IO %s, SQL running %v (errno %d %s) %v",
			st.IO, st.SQLRunning, st.LastSQLErrno, st.LastSQLError, err), Log: logPath}
	}
	return nil
}
