package docker

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/drdrill/drdrill/harness/lab"
)

func TestDockerPlan(t *testing.T) {
	dir := t.TempDir()
	info := testInfo("lab1", dir)
	p, err := makePlan(info)
	if err != nil {
		t.Fatal(err)
	}
	aws, onprem := p.sites[lab.SiteAWS], p.sites[lab.SiteOnPrem]
	if aws.routes != "192.168.64.0/24 via 10.20.0.1" || onprem.routes != "10.20.0.0/16 via 192.168.64.1" {
		t.Errorf("routes = %q / %q", aws.routes, onprem.routes)
	}
	if len(aws.mounts) != 1 || aws.mounts[0] != filepath.Join(dir, "aws") {
		t.Errorf("aws mounts = %v, want only the site dir", aws.mounts)
	}
	hosts := p.hosts()
	if len(hosts) != 4 || hosts[0].nets[0] != "lab1-wan" || hosts[0].addrs[1].String() != "10.20.0.1" {
		t.Errorf("hosts = %+v", hosts)
	}

	// Empty fields take docs/design.md's plan; a socket outside the site dir is mounted too.
	bare := &lab.Info{ID: "lab2", Dir: dir, Sites: map[string]*lab.Site{lab.SiteAWS: {Gateway: lab.Gateway{VICI: "/run/drdrill-x/charon.vici"}}}}
	p, err = makePlan(bare)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.sites[lab.SiteOnPrem].dbAddr.String(); got != "192.168.64.15" {
		t.Errorf("default onprem db addr = %s", got)
	}
	if m := p.sites[lab.SiteAWS].mounts; len(m) != 2 || m[1] != "/run/drdrill-x" {
		t.Errorf("aws mounts = %v", m)
	}

	for name, mut := range map[string]func(*lab.Info){
		"relative dir":       func(i *lab.Info) { i.Dir = "lab" },
		"bad id":             func(i *lab.Info) { i.ID = "-x y" },
		"db outside subnet":  func(i *lab.Info) { i.Sites[lab.SiteAWS].DB.Addr = "192.168.64.99" },
		"wan outside wan":    func(i *lab.Info) { i.Sites[lab.SiteOnPrem].Gateway.WANAddr = "10.0.0.2" },
		"relative socket":    func(i *lab.Info) { i.Sites[lab.SiteOnPrem].DB.Socket = "mysqld.sock" },
		"subnet not a range": func(i *lab.Info) { i.Sites[lab.SiteAWS].Subnet = "10.20.0.0" },
	} {
		i := testInfo("lab3", dir)
		mut(i)
		if _, err := makePlan(i); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDockerBridgeGateway(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.0/24": "198.51.100.254",
		"10.20.0.0/16":    "10.20.255.254",
		"192.168.64.0/24": "192.168.64.254",
		"10.20.0.0/20":    "10.20.15.254",
	} {
		if got := bridgeGateway(netip.MustParsePrefix(in)).String(); got != want {
			t.Errorf("bridgeGateway(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestDockerContainerName(t *testing.T) {
	info := &lab.Info{ID: "lab1"}
	for in, want := range map[string]string{"aws-gw": "lab1-aws-gw", "lab1-onprem-db": "lab1-onprem-db"} {
		if got, err := containerName(info, in); err != nil || got != want {
			t.Errorf("containerName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := containerName(info, ""); err == nil {
		t.Error("empty host: no error")
	}
}
