package preflight

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Print writes the report for a person: per site what an operator looks at
// (as `drdrill lab status` does), then timings, windows, privileges, the
// workload table, the drills, and the problems and warnings.
func (r *Report) Print(w io.Writer) {
	mf := "not set"
	if r.MaxFaultMS > 0 {
		mf = ms(r.MaxFaultMS)
	}
	took := time.Duration(r.DurationMS) * time.Millisecond
	fmt.Fprintf(w, "preflight of target %s in %s (max_fault %s): %s\n", r.Target, took, mf, verdict(r))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range r.Sites {
		g := s.Gateway
		line := g.Summary
		switch {
		case g.Error != "":
			line = "ERROR " + g.Error
		case !g.Healthy && g.Unhealthy != "":
			line += " — NOT HEALTHY: " + g.Unhealthy
		}
		fmt.Fprintf(tw, "%s gateway\t%s at %s\t%s\n", s.Name, orDash(g.Daemon), g.Endpoint, line)
		d := s.DB
		if d.Server == nil {
			fmt.Fprintf(tw, "%s db\t%s %s %s\tERROR %s\n", s.Name, s.Role, d.Flavor, d.Version, strings.Join(d.Errors, "; "))
			continue
		}
		si := d.Server
		ro := "read_only " + onOff(si.ReadOnly)
		if si.SuperReadOnly {
			ro += ", super_read_only ON"
		}
		account := orDash(d.Account)
		if d.TLS != "" {
			account += " over " + d.TLS
		}
		fmt.Fprintf(tw, "%s db\t%s, %s %s, %s\t%s, %s\n", s.Name, s.Role, d.Flavor, d.Version, account, ro, positions(s.Role, d))
		if rs := d.Replication; rs != nil {
			lag := "NULL"
			if rs.SecondsBehind != nil {
				lag = fmt.Sprint(*rs.SecondsBehind)
			}
			line := fmt.Sprintf("IO: %s, SQL: %s, Seconds_Behind: %s", orDash(string(rs.IO)), yesNo(rs.SQLRunning), lag)
			if rs.LastIOErrno != 0 {
				line += fmt.Sprintf(", Last_IO_Error: %d %s", rs.LastIOErrno, oneLine(rs.LastIOError))
			}
			if rs.LastSQLErrno != 0 {
				line += fmt.Sprintf(", Last_SQL_Error: %d %s", rs.LastSQLErrno, oneLine(rs.LastSQLError))
			}
			src := "not configured"
			if rs.Configured {
				src = fmt.Sprintf("from %s:%d", rs.SourceHost, rs.SourcePort)
				if d.SourceServerID != 0 {
					src += fmt.Sprintf(" (server_id %d)", d.SourceServerID)
				}
			}
			fmt.Fprintf(tw, "  replication\t%s\t%s\n", src, line)
		}
		if s.Role == "primary" {
			bl := si.Retention.String()
			if ob := d.OldestBinlog; ob != nil {
				start := "the first transaction (nothing purged)"
				if ob.Start != "" {
					start = ob.Start
				}
				bl += fmt.Sprintf("; %s begins at %s", ob.File, start)
			}
			fmt.Fprintf(tw, "  binlog\t\t%s\n", bl)
		}
		for _, e := range d.Errors {
			fmt.Fprintf(tw, "  ERROR\t\t%s\n", e)
		}
	}
	tw.Flush()

	if t := r.Timings.Replica; t != nil {
		retries := "retry count unknown"
		if t.RetryCount > 0 {
			retries = fmt.Sprintf("retry count %d (stops retrying after %s)", t.RetryCount, ms(t.GiveUpAfterMS))
		}
		fmt.Fprintf(w, "replica timings: net timeout %s, connect retry %s, heartbeat %s, %s\n",
			ms(t.NetTimeoutMS), ms(t.ConnectRetryMS), ms(t.HeartbeatMS), retries)
	}
	if t := r.Timings.IKE; t != nil {
		var dpd []string
		for _, s := range r.Sites {
			if is, ok := t.Sites[s.Name]; ok {
				dpd = append(dpd, fmt.Sprintf("%s %s %s", s.Name, ms(is.DPDDelayMS), orDash(is.DPDAction)))
			}
		}
		fmt.Fprintf(w, "IKE timings: dpd %s; retransmit %s × %g^n, %d tries (%s)\n",
			strings.Join(dpd, ", "), ms(t.RetransmitTimeoutMS), t.RetransmitBase, t.RetransmitTries, ms(t.RetransmitSeqMS))
	}
	wd := r.Windows
	fmt.Fprintf(w, "windows: outage detect %s, outage evidence %s, reconnect %s, dpd %s, heal %s\n",
		ms(wd.OutageDetectMS), ms(wd.OutageEvidenceMS), ms(wd.ReconnectMS), ms(wd.DPDMS), ms(wd.HealMS))
	fmt.Fprintf(w, "replica: caught up %s, can resume from the primary's binary logs %s\n", tri(r.Replication.CaughtUp), tri(r.Replication.CanResume))

	fmt.Fprintln(w, "privileges:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, p := range r.Privileges {
		have := "yes"
		switch {
		case p.Unknown:
			have = "unknown"
		case !p.Have:
			have = "MISSING"
		}
		who := "every drill"
		switch {
		case p.Optional:
			who = "optional"
		case len(p.Drills) > 0:
			who = strings.Join(p.Drills, ", ")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s: %s\n", p.Site, p.Privilege, p.On, have, who, p.Why)
	}
	tw.Flush()

	ws := r.Workload
	state := "absent on the primary (drills create it)"
	switch {
	case ws.Error != "":
		state = "ERROR " + ws.Error
	case len(ws.MissingColumns) > 0:
		state = "exists WITHOUT drdrill's columns " + strings.Join(ws.MissingColumns, ", ")
	case ws.Exists:
		state = "exists on the primary"
		if ws.OnReplica != nil && !*ws.OnReplica {
			state += ", NOT on the replica"
		} else if ws.OnReplica != nil {
			state += " and the replica"
		}
	}
	fmt.Fprintf(w, "workload table %s: %s\n", ws.Workload, state)

	fmt.Fprintln(w, "drills:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, d := range r.Drills {
		if d.Runnable {
			fmt.Fprintf(tw, "  %s\trunnable\n", d.Name)
			continue
		}
		var why []string
		for _, c := range d.MissingCapabilities {
			why = append(why, "target lacks capability "+string(c))
		}
		for _, p := range d.MissingPrivileges {
			why = append(why, "lacks "+p)
		}
		why = append(why, d.Blocked...)
		fmt.Fprintf(tw, "  %s\tnot runnable: %s\n", d.Name, strings.Join(why, "; "))
	}
	tw.Flush()

	for _, p := range r.problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
	for _, p := range r.warnings {
		fmt.Fprintf(w, "warning: %s\n", p)
	}
}

func verdict(r *Report) string {
	if r.OK() {
		return "OK"
	}
	return fmt.Sprintf("NOT OK, %d problem(s)", len(r.problems))
}

func positions(role string, d DB) string {
	g := d.Server.GTID
	if d.Flavor == "mariadb" {
		s := "gtid_binlog_pos " + orDash(g.BinlogPos)
		if role != "primary" || g.SlavePos != "" {
			s += ", gtid_slave_pos " + orDash(g.SlavePos)
		}
		return s
	}
	s := "gtid_executed " + orDash(g.Executed)
	if g.Purged != "" {
		s += ", gtid_purged " + g.Purged
	}
	return s
}

func ms(n int64) string {
	if n == 0 {
		return "-"
	}
	return (time.Duration(n) * time.Millisecond).String()
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

func tri(b *bool) string {
	switch {
	case b == nil:
		return "unknown"
	case *b:
		return "yes"
	}
	return "NO"
}
