package docker

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/drdrill/drdrill/harness/lab"
)

const (
	gatewayImage = "drdrill/gateway:local"
	dbImage      = "drdrill/db:local"

	labelLab  = "org.drdrill.lab" // = info.ID, on every container and network
	labelHost = "org.drdrill.host"
	labelRole = "org.drdrill.role" // gateway, db, hostfw

	wanSubnet = "198.51.100.0/24"
	wanName   = "wan"

	strongswanConf = "strongswan.conf"
	myCnf          = "my.cnf"

	gatewayCmd = "/usr/local/sbin/drdrill-gateway"
	hostfwCmd  = "/usr/local/sbin/drdrill-hostfw"
)

// defaults is docs/design.md's address plan, used where info leaves a field empty.
var defaults = map[string]struct {
	subnet, wan, lan, db, remote string
}{
	lab.SiteAWS:    {subnet: "10.20.0.0/16", wan: "198.51.100.1", lan: "10.20.0.1", db: "10.20.11.123", remote: lab.SiteOnPrem},
	lab.SiteOnPrem: {subnet: "192.168.64.0/24", wan: "198.51.100.2", lan: "192.168.64.1", db: "192.168.64.15", remote: lab.SiteAWS},
}

var sites = []string{lab.SiteAWS, lab.SiteOnPrem}

// nameRE is what Docker accepts as a container or network name.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// sitePlan is one site resolved from info plus defaults.
type sitePlan struct {
	name, dir        string
	subnet           netip.Prefix
	wanAddr, lanAddr netip.Addr
	dbAddr           netip.Addr
	vici, socket     string
	mounts           []string // host dirs mounted at the same path in the site's containers
	routes           string   // DRDRILL_ROUTES of the db: the other site via this site's gateway
}

// plan is a lab's containers and networks: its id, its dir and both sites.
type plan struct {
	id, dir string
	sites   map[string]*sitePlan
}

// makePlan validates info and fills docs/design.md's defaults for empty fields.
func makePlan(info *lab.Info) (*plan, error) {
	if info == nil {
		return nil, errors.New("docker lab: no lab info")
	}
	if info.ID == "" || !nameRE.MatchString(info.ID) || len(info.ID) > 40 {
		return nil, fmt.Errorf("docker lab: lab id %q is not usable in container names (letters, digits, _ . -; at most 40)", info.ID)
	}
	if !filepath.IsAbs(info.Dir) {
		return nil, fmt.Errorf("docker lab: lab dir %q must be an absolute path (it is mounted at the same path in the containers)", info.Dir)
	}
	p := &plan{id: info.ID, dir: filepath.Clean(info.Dir), sites: map[string]*sitePlan{}}
	for _, name := range sites {
		def := defaults[name]
		var s lab.Site
		if info.Sites != nil && info.Sites[name] != nil {
			s = *info.Sites[name]
		}
		sp := &sitePlan{name: name, dir: filepath.Join(p.dir, name)}
		var err error
		if sp.subnet, err = netip.ParsePrefix(orDefault(s.Subnet, def.subnet)); err != nil || !sp.subnet.Addr().Is4() {
			return nil, fmt.Errorf("docker lab: sites.%s.subnet %q is not an IPv4 prefix", name, s.Subnet)
		}
		sp.subnet = sp.subnet.Masked()
		for _, a := range []struct {
			field, val string
			dst        *netip.Addr
		}{
			{"gateway.wan_addr", orDefault(s.Gateway.WANAddr, def.wan), &sp.wanAddr},
			{"gateway.lan_addr", orDefault(s.Gateway.LANAddr, def.lan), &sp.lanAddr},
			{"db.addr", orDefault(s.DB.Addr, def.db), &sp.dbAddr},
		} {
			if *a.dst, err = netip.ParseAddr(a.val); err != nil || !a.dst.Is4() {
				return nil, fmt.Errorf("docker lab: sites.%s.%s %q is not an IPv4 address", name, a.field, a.val)
			}
		}
		if !sp.subnet.Contains(sp.lanAddr) || !sp.subnet.Contains(sp.dbAddr) {
			return nil, fmt.Errorf("docker lab: sites.%s: gateway %s and db %s must be in %s", name, sp.lanAddr, sp.dbAddr, sp.subnet)
		}
		sp.vici = orDefault(s.Gateway.VICI, filepath.Join(sp.dir, "charon.vici"))
		sp.socket = orDefault(s.DB.Socket, filepath.Join(sp.dir, "mysqld.sock"))
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
			if d := filepath.Clean(f.dir); !under(d, sp.mounts) {
				sp.mounts = append(sp.mounts, d)
			}
		}
		p.sites[name] = sp
	}
	wan := netip.MustParsePrefix(wanSubnet)
	for _, name := range sites {
		sp := p.sites[name]
		if !wan.Contains(sp.wanAddr) {
			return nil, fmt.Errorf("docker lab: sites.%s.gateway.wan_addr %s is not in the WAN %s", name, sp.wanAddr, wan)
		}
		other := p.sites[defaults[name].remote]
		sp.routes = fmt.Sprintf("%s via %s", other.subnet, sp.lanAddr)
	}
	return p, nil
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// under reports whether dir is one of roots or below one of them.
func under(dir string, roots []string) bool {
	for _, r := range roots {
		if dir == r || strings.HasPrefix(dir, r+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// bridgeGateway is the address Docker's bridge gets: the last usable one of the subnet,
// so that .1 stays free for our gateways.
func bridgeGateway(p netip.Prefix) netip.Addr {
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

// resourceName names every container and network of a lab: "<id>-<what>".
func resourceName(id, what string) string { return id + "-" + what }

// netSpec is one of the lab's Docker networks, all internal.
type netSpec struct {
	what   string // wan, or the site
	subnet netip.Prefix
}

// networks are the WAN and one LAN per site.
func (p *plan) networks() []netSpec {
	nets := []netSpec{{wanName, netip.MustParsePrefix(wanSubnet)}}
	for _, name := range sites {
		nets = append(nets, netSpec{name, p.sites[name].subnet})
	}
	return nets
}

// hostSpec is one container of the lab.
type hostSpec struct {
	host, site, role, image string
	nets                    []string // network names, first one is attached at create
	addrs                   []netip.Addr
	env                     map[string]string
	mounts                  []string
	gateway                 bool
}

func (p *plan) hosts() []hostSpec {
	var out []hostSpec
	for _, name := range sites {
		sp := p.sites[name]
		out = append(out,
			hostSpec{
				host: name + "-gw", site: name, role: "gateway", image: gatewayImage, gateway: true,
				nets:   []string{resourceName(p.id, wanName), resourceName(p.id, name)},
				addrs:  []netip.Addr{sp.wanAddr, sp.lanAddr},
				env:    map[string]string{"STRONGSWAN_CONF": filepath.Join(sp.dir, strongswanConf)},
				mounts: sp.mounts,
			},
			hostSpec{
				host: name + "-db", site: name, role: "db", image: dbImage,
				nets:  []string{resourceName(p.id, name)},
				addrs: []netip.Addr{sp.dbAddr},
				env: map[string]string{
					"DRDRILL_MYCNF":  filepath.Join(sp.dir, myCnf),
					"DRDRILL_ROUTES": sp.routes,
				},
				mounts: sp.mounts,
			})
	}
	return out
}
