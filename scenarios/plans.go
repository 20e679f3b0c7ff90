package scenarios

import (
	"fmt"
	"time"

	"github.com/drdrill/drdrill/harness"
	"github.com/drdrill/drdrill/harness/target"
)

// The drills' plans (drdrill plan): each step as the drill runs it, where
// it acts, what it would change, and its expected time and window derived
// from the live timings. Expected times follow each drill's intrinsic
// model (docs/design.md#performance-targets); small IKE and SQL round
// trips count as 0.

// ikeExchangeWindow bounds one IKE exchange of a documented-order recovery.
const ikeExchangeWindow = 10 * time.Second

type planner struct {
	in               harness.PlanInput
	primary, replica string // site names
	conn             string
	steps            []harness.PlanStep
	// since is how long after the fault the last step ended: the waits
	// that follow a fault overlap (DPD runs while the replica times out),
	// so each expects only what remains after the one before.
	since time.Duration
}

func newPlanner(in harness.PlanInput) *planner {
	p := target.Primary(in.Target)
	return &planner{in: in, primary: p.Name, replica: target.Replica(in.Target).Name, conn: p.Tunnel.Connection}
}

func (p *planner) add(step, host, changes string, expected, window time.Duration) *planner {
	p.steps = append(p.steps, harness.PlanStep{Step: step, Host: host, Changes: changes, Expected: expected, Window: window})
	return p
}

// at adds a step that ends sinceFault after the fault.
func (p *planner) at(step, host, changes string, sinceFault, window time.Duration) *planner {
	expected := max(0, sinceFault-p.since)
	p.since = max(p.since, sinceFault)
	return p.add(step, host, changes, expected, window)
}

func (p *planner) gw(site string) string { return site + " gateway" }
func (p *planner) db(site string) string { return site + " db" }

func (p *planner) baseline() *planner {
	return p.add("baseline: tunnel up, replica running, first row replicated", p.db(p.primary), "INSERT 1 row into the drill's table", 0, 10*time.Second)
}

func (p *planner) writeDuring() *planner {
	return p.add("step 2: write during the outage", p.db(p.primary), "INSERT 1 row", 0, 2*time.Second)
}

// outageSeen waits for IO Connecting with an error: the net timeout, plus
// a connect timeout (the net timeout again) when the WAN is silent.
func (p *planner) outageSeen(silent bool) *planner {
	at := p.in.Replica.NetTimeout
	if silent {
		at += p.in.Replica.NetTimeout
	}
	return p.at("outage seen: replica IO Connecting", p.db(p.replica), "", at, OutageEvidenceWindow(p.in.Replica))
}

func (p *planner) documentedOrder(step string) *planner {
	a, b := p.primary, p.replica
	return p.add(step, "both gateways", fmt.Sprintf("%s down; %s down, %s up; %s up (%s)", a, b, b, a, p.conn), 0, 4*ikeExchangeWindow)
}

func (p *planner) verify() []harness.PlanStep {
	p.add("replica IO thread back to Yes", p.db(p.replica), "", p.in.Replica.ConnectRetry, p.in.Replica.ReconnectWindow())
	return p.verifyCaughtUp()
}

func (p *planner) verifyCaughtUp() []harness.PlanStep {
	p.add("step 4: write after recovery and catch up", p.db(p.primary), "INSERT 1 row", 0, 60*time.Second)
	p.add("verify: replica rows equal the ledger", p.db(p.replica), "", 0, 0)
	p.add("verify: tunnel ESTABLISHED/INSTALLED, 1 up, both sides", "both gateways", "", 0, 0)
	return p.steps
}

func planVPNOutage(in harness.PlanInput) []harness.PlanStep {
	p := newPlanner(in).baseline()
	p.add("step 1: VPN down from "+p.primary+" (tunnel-down)", p.gw(p.primary), "terminate IKE SA "+p.conn+" (a DELETE is sent)", 0, harness.InjectTimeout)
	return p.writeDuring().outageSeen(false).documentedOrder("step 3: recover in the documented order").verify()
}

func planUnderLoad(o UnderLoadOptions) func(harness.PlanInput) []harness.PlanStep {
	return func(in harness.PlanInput) []harness.PlanStep {
		p := newPlanner(in).baseline()
		before := int64(2 * o.Conns)
		p.add(fmt.Sprintf("steady writer: %d connections at %g rows/s", o.Conns, o.Rate), p.db(p.primary),
			fmt.Sprintf("INSERT %g rows/s until the drill ends", o.Rate), time.Duration(float64(before)/o.Rate*float64(time.Second)), rowsTimeout(before, o.Rate))
		p.add("step 1: VPN down from "+p.primary+" under load (tunnel-down)", p.gw(p.primary), "terminate IKE SA "+p.conn, 0, harness.InjectTimeout)
		p.outageSeen(false).documentedOrder("step 3: recover in the documented order")
		p.add("replica IO thread back to Yes", p.db(p.replica), "", in.Replica.ConnectRetry, in.Replica.ReconnectWindow())
		after := int64(o.AfterRows)
		p.add(fmt.Sprintf("step 4: %d rows written after recovery, then stop the writer", after), p.db(p.primary), "INSERT rows",
			time.Duration(float64(after)/o.Rate*float64(time.Second)), rowsTimeout(after, o.Rate))
		p.add("catch up: replica applies the primary's GTID position", p.db(p.replica), "", 0, 60*time.Second)
		p.add("verify: replica rows equal the ledger", p.db(p.replica), "", 0, 0)
		return p.add("verify: tunnel ESTABLISHED/INSTALLED, 1 up, both sides", "both gateways", "", 0, 0).steps
	}
}

func planWANBlackhole(in harness.PlanInput) []harness.PlanStep {
	p := newPlanner(in).baseline()
	p.add("step 1: WAN blackhole between the gateways (wan-blackhole)", "both gateways",
		"nft table inet drdrill_blackhole dropping IKE/NAT-T/ESP from the peer; blackhole routes to the other site", 0, harness.InjectTimeout)
	p.writeDuring().outageSeen(true)
	p.at("replica reconnect times out (errno 110: silent WAN)", p.db(p.replica), "", 2*in.Replica.NetTimeout, OutageEvidenceWindow(in.Replica))
	var dpd time.Duration
	for _, s := range in.IKE.DPDSites() {
		dpd = max(dpd, in.IKE.DPDDelay[s])
	}
	p.at("DPD declares the peer dead (no DELETE, no terminate)", "both gateways", "", dpd+in.IKE.Sequence(), in.IKE.DPDWindow())
	p.add("step 3: lift the blackhole; the tunnel heals by itself (no initiate)", "both gateways", "delete the nft table and the blackhole routes",
		in.IKE.Retransmit.Timeout, in.IKE.HealWindow())
	return p.verify()
}

func planGatewayCrash(o GatewayCrashOptions) func(harness.PlanInput) []harness.PlanStep {
	return func(in harness.PlanInput) []harness.PlanStep {
		p := newPlanner(in).baseline()
		site := o.Site
		if site == "" {
			site = p.replica
		}
		other := p.primary
		if site == p.primary {
			other = p.replica
		}
		p.add("step 1: kill -9 charon on "+site+" (gateway-crash)", p.gw(site), "kill -9 the IKE daemon (no DELETE is sent)", 0, harness.InjectTimeout)
		p.writeDuring().outageSeen(false)
		if in.IKE.DPDDelay[other] > 0 {
			p.at(other+"'s DPD declares the crashed peer dead (stale SAs)", p.gw(other), "", in.IKE.DPDDelay[other]+in.IKE.Sequence(), in.IKE.DPDWindow())
		}
		p.add("step 3: restart charon on "+site+"; the tunnel comes back", p.gw(site), "start the IKE daemon with its connection and PSK",
			in.IKE.Retransmit.Timeout, in.IKE.HealWindow()+4*ikeExchangeWindow)
		return p.verify()
	}
}

func planOneSided(in harness.PlanInput) []harness.PlanStep {
	p := newPlanner(in).baseline()
	p.add("step 1: "+p.primary+" loses its IKE SA, its DELETE never reaches "+p.replica+" (one-sided-reset)", p.gw(p.replica)+", "+p.gw(p.primary),
		"nft drop of IKE from the peer on "+p.replica+" for the terminate; terminate IKE SA on "+p.primary+"; drop removed", 0, harness.InjectTimeout)
	p.writeDuring()
	p.add("step 3: "+p.replica+" re-initiates alone (no down on either side)", p.gw(p.replica), "initiate CHILD SA "+p.conn, 0, ikeExchangeWindow)
	p.add("recognise: compare both gateways' SAs", "both gateways", "", 0, 0)
	p.add("remediation: both sides fully down", "both gateways", "terminate IKE SA "+p.conn+" on both", 0, 2*ikeExchangeWindow)
	p.outageSeen(false).documentedOrder("remediation: up in the documented order")
	steps := p.verify()
	return append(steps, harness.PlanStep{Step: "verify: the same SAs on both sides (SPIs match)", Host: "both gateways"})
}

func planReplicaStuck(in harness.PlanInput) []harness.PlanStep {
	p := newPlanner(in).baseline()
	window := in.Replica.ReconnectWindow()
	p.add("step 1: hour-long connect retry on the replica, then VPN down from "+p.primary+" (replica-stuck-connecting)", p.db(p.replica)+", "+p.gw(p.primary),
		"STOP SLAVE; CHANGE MASTER TO MASTER_CONNECT_RETRY=3600; START SLAVE; terminate IKE SA "+p.conn, 0, harness.InjectTimeout)
	p.writeDuring().outageSeen(false).documentedOrder("step 3: recover the tunnel in the documented order")
	p.add(fmt.Sprintf("replica IO thread back to Yes within the expected %.1f s?", window.Seconds()), p.db(p.replica), "", window, window)
	p.add("remediation: STOP REPLICA; START REPLICA", p.db(p.replica), "STOP SLAVE; START SLAVE", 0, 10*time.Second)
	p.add("replica IO thread back to Yes after the remediation", p.db(p.replica), "", 0, window)
	steps := p.verifyCaughtUp()
	return append(steps, harness.PlanStep{Step: "recovery: restore the replica's connect retry", Host: p.db(p.replica),
		Changes: "STOP SLAVE; CHANGE MASTER TO the original connect retry and heartbeat; START SLAVE", Window: in.Replica.ReconnectWindow()})
}

// planFailoverFailback: the failover and the failback are each a few SQL
// round trips and a DNS flip (expected 0); the holds are the endpoint TTL.
func planFailoverFailback(in harness.PlanInput) []harness.PlanStep {
	p := newPlanner(in).baseline()
	cl, ok := in.Target.(target.Cluster)
	if !ok || len(cl.Instances()) < 2 {
		return p.add("the target has no writer/reader cluster: this drill cannot run here", "", "", 0, 0).steps
	}
	w, r := cl.Instances()[0].Name, cl.Instances()[1].Name
	ttl := cl.EndpointTTL()
	p.add("baseline: one writable writer, the reader and "+p.replica+" read-only and caught up, no errant GTID", "", "", 0, 10*time.Second)
	p.add("clients: every profile from every app host, writing through "+cl.WriterEndpoint(), "app hosts", "INSERT rows as the app account, every 8ms per client", 0, 10*time.Second)
	p.add("step 2: failover "+w+" → "+r+" (writer-failover)", w+", "+r+", "+p.db(p.replica)+", DNS",
		fmt.Sprintf("%s read-only; wait for %s to apply its GTID position; promote %s (RESET SLAVE ALL, writable); demote %s (replica of %s); flip %s → %s, %s → %s; repoint %s to %s",
			w, r, r, w, r, cl.WriterEndpoint(), r, cl.ReaderEndpoint(), w, p.db(p.replica), r), 0, 10*time.Second+harness.InjectTimeout)
	p.add("step 3: hold while the clients write", "", "", ttl, ttl+5*time.Second)
	p.add("step 4: failback "+r+" → "+w+" (the same way)", w+", "+r+", "+p.db(p.replica)+", DNS", "the failover's steps reversed", 0, 30*time.Second)
	p.add("step 5: every client writes again after the failback", "", "", ttl, ttl+10*time.Second)
	p.add("verify: every acknowledged write on all three servers, once; CHECKSUM TABLE equal", "", "", 0, 30*time.Second)
	return p.steps
}

// planSiteLoss: the intrinsic waits are the declared ones (the writes at
// risk, the detection time, the business on-prem) plus the heal of the
// tunnel when the site returns and the rebuild's copy.
func planSiteLoss(in harness.PlanInput, o SiteLossOptions) []harness.PlanStep {
	p := newPlanner(in).baseline()
	oldDB, newDB := p.db(p.primary), p.db(p.replica)
	p.add(fmt.Sprintf("baseline: steady writer (%d connections, %g rows/s), lag measured every %s", o.Steady.Conns, o.Steady.Rate, o.Heartbeat),
		oldDB, "CREATE TABLE drdrill_heartbeat; UPDATE it every "+o.Heartbeat.String()+"; INSERT rows until the site is lost", 5*o.Heartbeat, 10*time.Second)
	if o.Variant == RateLimited {
		p.add("step 1: WAN rate-limited to "+o.Rate+" (wan-ratelimit)", p.gw(p.primary), "tc qdisc tbf on the WAN egress", 0, harness.InjectTimeout)
		p.add(fmt.Sprintf("step 1: hold until the replica trails by %s", o.LagAtLeast), newDB, "", o.LagAtLeast, 30*time.Second)
	} else {
		p.add("step 1: VPN outage: the WAN goes silent (wan-blackhole)", "both gateways", "nft table inet drdrill_blackhole", 0, harness.InjectTimeout)
		p.add(fmt.Sprintf("step 1: writes at risk for %s", o.AtRisk), oldDB, "INSERT rows that will not cross the VPN", o.AtRisk, o.AtRisk)
	}
	p.add("step 2: site "+p.primary+" goes dark (site-loss)", oldDB+" and both gateways", "SIGSTOP mariadbd (a watchdog continues it after max_fault); WAN blackholed", 0, harness.InjectTimeout)
	p.add(fmt.Sprintf("step 3: detection: %s of silence (declared)", o.Detection), newDB, "mariadb-admin ping to the old primary", o.Detection, o.Detection)
	p.add("step 3: old primary fenced; promote "+newDB, newDB, "STOP REPLICA; RESET REPLICA ALL; read_only OFF", 0, 30*time.Second)
	p.add("step 4: endpoint flip: writer to "+newDB+"; RPO, RTO", newDB, "INSERT rows", o.OnPrem, o.OnPrem+10*time.Second)
	p.add("step 5: "+p.primary+" returns: thawed, WAN back, tunnel up", oldDB+" and both gateways", "SIGCONT; nft table removed", in.IKE.HealWindow(), 60*time.Second)
	p.add("step 6: find the lost writes → "+LostWritesFile, oldDB, "mariadb-binlog reads its binlog", 0, 0)
	p.add("step 7: rebuild "+oldDB+" from "+newDB+" over the VPN", oldDB, "RESET MASTER; mariadb-dump | mariadb; CHANGE MASTER TO "+newDB, 0, 60*time.Second)
	p.add("step 8: switch back", "both dbs", "read_only; MASTER_GTID_WAIT; promote; demote; INSERT 10 rows", 0, 30*time.Second)
	p.add("verify: rows, checksums, errant GTIDs", "both dbs", "", 0, 30*time.Second)
	return p.add("verify: tunnel ESTABLISHED/INSTALLED, 1 up, both sides", "both gateways", "", 0, 0).steps
}
