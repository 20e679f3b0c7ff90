package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/tunnel"
	"github.com/drdrill/drdrill/harness/workload"
)

// ConnConfig is the IKEv2 connection a site's gateway loads, as in the seed's
// swanctl.conf: PSK auth, DPD on, unlimited keying tries. Only the initiator
// (aws) has dpd_action=restart, the responder clears: with restart on both
// sides their re-initiations cross once a silent WAN comes back and each
// side keeps two IKE SAs and two CHILD SAs, every time (INITIAL_CONTACT
// removes one duplicate; the orphan fails its next DPD and is restarted).
// With one restarting side a tunnel lost to a silent WAN heals by itself,
// once, as soon as packets flow.
func ConnConfig(info *Info, site string) tunnel.ConnConfig {
	me, other := info.Sites[site], info.Sites[peer(site)]
	return tunnel.ConnConfig{
		Name:        ConnName,
		LocalAddrs:  []string{me.Gateway.WANAddr},
		RemoteAddrs: []string{other.Gateway.WANAddr},
		Proposals:   []string{"aes256-sha256-modp2048"},
		LocalID:     me.Gateway.ID,
		RemoteID:    other.Gateway.ID,
		DPDDelay:    time.Duration(info.Timings.DPDDelayS) * time.Second,
		Keyingtries: 0,
		Children: []tunnel.ChildConfig{{
			Name:         ConnName,
			LocalTS:      []string{me.Subnet},
			RemoteTS:     []string{other.Subnet},
			ESPProposals: []string{"aes256-sha256"},
			DPDAction:    dpdAction(site),
		}},
	}
}

// Expectation is what a healthy site gateway shows.
func Expectation(info *Info, site string) tunnel.Expectation {
	return tunnel.Expectation{Connection: ConnName, LocalTS: []string{info.Sites[site].Subnet}, RemoteTS: []string{info.Sites[peer(site)].Subnet}}
}

// ReplicaTimings are the lab's replication timings as the replica package
// takes them.
func (t Timings) Replica() replica.Timings {
	return replica.Timings{
		NetTimeout:   time.Duration(t.NetTimeoutS) * time.Second,
		ConnectRetry: time.Duration(t.ConnectRetryS) * time.Second,
		Heartbeat:    time.Duration(t.HeartbeatPeriodS) * time.Second,
	}
}

// Handles are open connections to a lab's daemons over their unix sockets.
type Handles struct {
	Gateways map[string]*tunnel.Gateway
	DBs      map[string]*replica.Conn
}

// Close closes every handle.
func (h *Handles) Close() error {
	var errs []error
	for _, g := range h.Gateways {
		errs = append(errs, g.Close())
	}
	for _, d := range h.DBs {
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

// Connect opens VICI sessions and MySQL connections to every lab daemon.
func Connect(ctx context.Context, info *Info) (*Handles, error) {
	h := &Handles{Gateways: map[string]*tunnel.Gateway{}, DBs: map[string]*replica.Conn{}}
	for _, s := range Sites {
		site := info.Sites[s]
		if site == nil {
			return nil, fmt.Errorf("lab %s has no site %s", info.Dir, s)
		}
		g, err := tunnel.Open(ctx, s, tunnel.UnixSocket(site.Gateway.VICI))
		if err != nil {
			h.Close()
			return nil, &HostError{Host: s + "-gw", Err: err}
		}
		h.Gateways[s] = g
		db, err := replica.OpenSocket(ctx, site.DB.Socket, "root", "")
		if err != nil {
			h.Close()
			return nil, &HostError{Host: s + "-db", Err: err}
		}
		h.DBs[s] = db
	}
	return h, nil
}

// configure is the backend-independent half of Up.
func configure(ctx context.Context, info *Info, sec *Secrets) error {
	h, err := Connect(ctx, info)
	if err != nil {
		return err
	}
	defer h.Close()
	logOf := func(site, daemon string) string { return info.Dir + "/" + site + "/" + daemon }

	// The VPN, loaded over VICI (not swanctl): PSK and connection per side.
	errs := make(chan error, len(Sites))
	for _, s := range Sites {
		go func() { errs <- loadVPN(ctx, h.Gateways[s], info, s, sec) }()
	}
	for range Sites {
		if err := <-errs; err != nil {
			return err
		}
	}
	if _, err := h.Gateways[SiteAWS].Up(ctx, ConnName, ConnName, 10*time.Second); err != nil {
		return &HostError{Host: "aws-gw", Err: fmt.Errorf("initiate %s: %w", ConnName, err), Log: logOf(SiteAWS, "charon.log")}
	}

	// Replication aws → onprem across the tunnel, GTID based.
	primary, rep := h.DBs[SiteAWS], h.DBs[SiteOnPrem]
	if err := primary.CreateReplicationUser(ctx, sec.ReplUser, sec.ReplPassword); err != nil {
		return &HostError{Host: "aws-db", Err: err, Log: logOf(SiteAWS, "mysqld.log")}
	}
	src := replica.Source{Host: info.Sites[SiteAWS].DB.Addr, Port: 3306, User: sec.ReplUser, Password: sec.ReplPassword}
	if err := rep.ConfigureReplica(ctx, src, info.Timings.Replica()); err != nil {
		return &HostError{Host: "onprem-db", Err: err, Log: logOf(SiteOnPrem, "mysqld.log")}
	}
	if err := workload.ApplySchema(ctx, primary.DB()); err != nil {
		return &HostError{Host: "aws-db", Err: fmt.Errorf("schema: %w", err), Log: logOf(SiteAWS, "mysqld.log")}
	}
	if info.TLS != nil { // replicated to onprem-db like the schema
		if err := primary.CreateAdminUser(ctx, info.TLS.User, sec.TLSPassword); err != nil {
			return &HostError{Host: "aws-db", Err: err, Log: logOf(SiteAWS, "mysqld.log")}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := replica.WaitIO(wctx, rep, 10*time.Millisecond, replica.IOYes); err != nil {
		return &HostError{Host: "onprem-db", Err: err, Log: logOf(SiteOnPrem, "mysqld.log")}
	}
	pos, err := primary.PrimaryPosition(ctx)
	if err != nil {
		return &HostError{Host: "aws-db", Err: err}
	}
	if err := rep.WaitApplied(wctx, pos, 10*time.Second); err != nil {
		return &HostError{Host: "onprem-db", Err: err, Log: logOf(SiteOnPrem, "mysqld.log")}
	}
	st, err := rep.Status(ctx)
	if err != nil || !st.SQLRunning {
		return &HostError{Host: "onprem-db", Err: fmt.Errorf("replica SQL thread not running (errno %d %s) %v", st.LastSQLErrno, st.LastSQLError, err), Log: logOf(SiteOnPrem, "mysqld.log")}
	}
	return tunnel.WaitHealthy(wctx, 10*time.Millisecond,
		tunnel.Side{GW: h.Gateways[SiteAWS], Want: Expectation(info, SiteAWS)},
		tunnel.Side{GW: h.Gateways[SiteOnPrem], Want: Expectation(info, SiteOnPrem)})
}

// loadVPN loads the lab PSK and the site's connection into its charon.
func loadVPN(ctx context.Context, g *tunnel.Gateway, info *Info, site string, sec *Secrets) error {
	logPath := info.Dir + "/" + site + "/charon.log"
	if err := g.LoadSharedPSK(ctx, "lab-psk", sec.PSK, info.Sites[SiteAWS].Gateway.ID, info.Sites[SiteOnPrem].Gateway.ID); err != nil {
		return &HostError{Host: site + "-gw", Err: err, Log: logPath}
	}
	if err := g.LoadConn(ctx, ConnConfig(info, site)); err != nil {
		return &HostError{Host: site + "-gw", Err: err, Log: logPath}
	}
	return nil
}

// RestartGateway starts a site's charon again after it died (or was killed
// by a drill), records its new pid, and loads the VPN into it over VICI: a
// charon that restarts knows nothing until it is told.
func RestartGateway(ctx context.Context, info *Info, b Backend, site string) error {
	rec := RecorderFor(info)
	if err := b.StartGateway(ctx, info, rec, site); err != nil {
		return err
	}
	sec, err := LoadSecrets(info.Dir)
	if err != nil {
		return fmt.Errorf("restart gateway %s: %w", site, err)
	}
	g, err := tunnel.Open(ctx, site, tunnel.UnixSocket(info.Sites[site].Gateway.VICI))
	if err != nil {
		return &HostError{Host: site + "-gw", Err: err}
	}
	defer g.Close()
	return loadVPN(ctx, g, info, site, sec)
}

func dpdAction(site string) string {
	if site == SiteAWS {
		return "restart"
	}
	return "clear"
}
