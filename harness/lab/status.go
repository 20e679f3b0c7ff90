package lab

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// StatusReport is what `lab status` shows: what an operator looks at in the
// seed (ipsec statusall, SHOW REPLICA STATUS), per site. Its JSON carries the
// docs/design.md contract: sites.SITE.gateway.vici, sites.SITE.db.socket and role.
type StatusReport struct {
	Dir     string                 `json:"dir"`
	ID      string                 `json:"id"`
	Backend string                 `json:"backend"`
	Phase   string                 `json:"phase"`
	Timings Timings                `json:"timings"`
	Sites   map[string]*SiteStatus `json:"sites"`
	// Cluster is the failover extension's cluster (nil on a four-host lab).
	Cluster *ClusterStatus `json:"cluster,omitempty"`
}

// ClusterStatus is where the cluster's endpoints point and each
// instance's role as it stands (a failover changes it).
type ClusterStatus struct {
	Endpoints map[string]string `json:"endpoints"`
	Instances []InstanceStatus  `json:"instances"`
	Error     string            `json:"error,omitempty"`
}

// InstanceStatus is one cluster instance, live.
type InstanceStatus struct {
	Name        string          `json:"name"`
	Addr        string          `json:"addr"`
	ReadOnly    bool            `json:"read_only"`
	Replication *replica.Status `json:"replication,omitempty"` // nil: not a replica
	GTIDPos     string          `json:"gtid_binlog_pos,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// SiteStatus is one site's gateway and database, live.
type SiteStatus struct {
	Gateway GatewayStatus `json:"gateway"`
	DB      DBStatus      `json:"db"`
}

// GatewayStatus is the tunnel as this gateway sees it.
type GatewayStatus struct {
	Gateway
	Tunnel  *tunnel.State `json:"tunnel,omitempty"`
	Summary string        `json:"summary"`
	Error   string        `json:"error,omitempty"`
}

// DBStatus is the database, and for the replica its replication threads.
type DBStatus struct {
	DB
	Version     string          `json:"version,omitempty"`
	Replication *replica.Status `json:"replication,omitempty"`
	GTIDPos     string          `json:"gtid_pos,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// Status reads a lab's live state. Daemons that do not answer are reported,
// not fatal.
func Status(ctx context.Context, dir string) (*StatusReport, error) {
	info, err := Load(dir)
	if err != nil {
		return nil, inputErrorf("no lab at %s: %v", dir, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r := &StatusReport{Dir: info.Dir, ID: info.ID, Backend: info.Backend, Phase: info.Phase, Timings: info.Timings, Sites: map[string]*SiteStatus{}}
	for _, s := range Sites {
		site := info.Sites[s]
		if site == nil {
			continue
		}
		ss := &SiteStatus{Gateway: GatewayStatus{Gateway: site.Gateway}, DB: DBStatus{DB: site.DB}}
		r.Sites[s] = ss
		if g, err := tunnel.Open(ctx, s, tunnel.UnixSocket(site.Gateway.VICI)); err != nil {
			ss.Gateway.Error = err.Error()
		} else {
			st, err := g.State(ctx, ConnName)
			if err != nil {
				ss.Gateway.Error = err.Error()
			} else {
				ss.Gateway.Tunnel, ss.Gateway.Summary = &st, st.Summary()
			}
			g.Close()
		}
		db, err := replica.OpenSocket(ctx, site.DB.Socket, "root", "")
		if err != nil {
			ss.DB.Error = err.Error()
			continue
		}
		ss.DB.Version = db.Version()
		if site.DB.Role == RoleReplica {
			if st, err := db.Status(ctx); err != nil {
				ss.DB.Error = err.Error()
			} else {
				ss.DB.Replication = &st
			}
			ss.DB.GTIDPos, _ = db.AppliedPosition(ctx)
		} else {
			ss.DB.GTIDPos, _ = db.PrimaryPosition(ctx)
		}
		db.Close()
	}
	if info.Failover != nil {
		r.Cluster = clusterStatus(ctx, info)
	}
	return r, nil
}

func clusterStatus(ctx context.Context, info *Info) *ClusterStatus {
	c := &ClusterStatus{}
	eps, err := CNAMEs(info)
	if err != nil {
		c.Error = err.Error()
	}
	c.Endpoints = eps
	for _, in := range []struct{ name, addr, socket string }{
		{"aws-db", info.Sites[SiteAWS].DB.Addr, info.Sites[SiteAWS].DB.Socket},
		{"aws-db2", info.Failover.DB2.Addr, info.Failover.DB2.Socket},
	} {
		is := InstanceStatus{Name: in.name, Addr: in.addr}
		db, err := replica.OpenSocket(ctx, in.socket, "root", "")
		if err != nil {
			is.Error = err.Error()
			c.Instances = append(c.Instances, is)
			continue
		}
		if is.ReadOnly, err = db.ReadOnly(ctx); err != nil {
			is.Error = err.Error()
		}
		if st, err := db.Status(ctx); err == nil && st.Configured {
			is.Replication = &st
		}
		is.GTIDPos, _ = db.PrimaryPosition(ctx)
		db.Close()
		c.Instances = append(c.Instances, is)
	}
	return c
}

// Print writes the status for a person.
func (r *StatusReport) Print(w io.Writer) {
	fmt.Fprintf(w, "lab %s (%s, %s) at %s\n", r.ID, r.Backend, r.Phase, r.Dir)
	fmt.Fprintf(w, "timings: heartbeat %ds, connect retry %ds, net timeout %ds, dpd %ds\n",
		r.Timings.HeartbeatPeriodS, r.Timings.ConnectRetryS, r.Timings.NetTimeoutS, r.Timings.DPDDelayS)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range Sites {
		ss := r.Sites[s]
		if ss == nil {
			continue
		}
		gw := ss.Gateway.Summary
		if ss.Gateway.Error != "" {
			gw = "ERROR " + ss.Gateway.Error
		}
		fmt.Fprintf(tw, "%s gateway\t%s\t%s\n", s, ss.Gateway.WANAddr, gw)
		db := ss.DB.Role + " " + ss.DB.Version
		if ss.DB.Error != "" {
			db += " ERROR " + ss.DB.Error
		}
		fmt.Fprintf(tw, "%s db\t%s\t%s gtid %s\n", s, ss.DB.Addr, db, ss.DB.GTIDPos)
		if rs := ss.DB.Replication; rs != nil {
			fmt.Fprintf(tw, "  replication\t%s:%d\t%s\n", rs.SourceHost, rs.SourcePort, replLine(rs))
		}
	}
	if c := r.Cluster; c != nil {
		line := fmt.Sprintf("%s → %s, %s → %s", WriterName, orDash(c.Endpoints[WriterName]), ReaderName, orDash(c.Endpoints[ReaderName]))
		if c.Error != "" {
			line += " ERROR " + c.Error
		}
		fmt.Fprintf(tw, "cluster\t\t%s\n", line)
		for _, in := range c.Instances {
			role := "writable"
			if in.ReadOnly {
				role = "read-only"
			}
			if in.Error != "" {
				role = "ERROR " + in.Error
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s gtid %s\n", in.Name, in.Addr, role, in.GTIDPos)
			if rs := in.Replication; rs != nil {
				fmt.Fprintf(tw, "    replication\t%s:%d\t%s\n", rs.SourceHost, rs.SourcePort, replLine(rs))
			}
		}
	}
	tw.Flush()
}

// replLine is a replica's threads in the seed's words.
func replLine(rs *replica.Status) string {
	lag := "NULL"
	if rs.SecondsBehind != nil {
		lag = fmt.Sprint(*rs.SecondsBehind)
	}
	line := fmt.Sprintf("IO: %s, SQL: %s, Seconds_Behind: %s", orDash(string(rs.IO)), yesNo(rs.SQLRunning), lag)
	if rs.LastIOErrno != 0 {
		line += fmt.Sprintf(", Last_IO_Error: %d %s", rs.LastIOErrno, oneLine(rs.LastIOError))
	}
	return line
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
