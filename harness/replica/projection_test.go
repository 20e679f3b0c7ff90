package replica

import (
	"strings"
	"testing"
	"time"
)

func TestProject(t *testing.T) {
	hour := BinlogRetention{LogBin: true, Expire: time.Hour, ExpireSeconds: 3600, Setting: "binlog_expire_logs_seconds=3600"}
	p := Project(100, 1100, "", hour, ProjectedOutages)
	if len(p.Outages) != 3 || p.Outages[0].BacklogRows != 6000 || *p.Outages[0].CatchupS != 6 || !*p.Outages[0].RetentionCovers {
		t.Fatalf("1 min: %+v", p.Outages[0])
	}
	// 1 h of outage and 360 s of catch-up outlast an hour's retention.
	if o := p.Outages[2]; o.BacklogRows != 360000 || *o.CatchupS != 360 || *o.RetentionCovers {
		t.Fatalf("1 h: %+v", o)
	}
	if !strings.Contains(p.String(), "1h0m0s outage → 360000 rows, caught up 360.0s later (binlogs purged first: binlog_expire_logs_seconds=3600)") {
		t.Errorf("string: %s", p.String())
	}
	// Applying no faster than writing never catches up.
	if o := Project(100, 100, "", hour, ProjectedOutages).Outages[0]; !o.Never || o.CatchupS != nil || *o.RetentionCovers {
		t.Errorf("never: %+v", o)
	}
	// Unknown apply rate: backlog only, and why.
	u := Project(0.7, 0, "a 1-row backlog", hour, ProjectedOutages)
	if u.ApplyRate != nil || u.Outages[1].BacklogRows != 420 || u.Outages[1].CatchupS != nil || u.Outages[1].RetentionCovers != nil ||
		!strings.Contains(u.String(), "apply rate not measured: a 1-row backlog") {
		t.Errorf("unknown: %+v %s", u, u.String())
	}
	// Never purged covers any outage; no binary log covers none.
	if o := Project(10, 1000, "", BinlogRetention{LogBin: true, Never: true}, ProjectedOutages).Outages[2]; !*o.RetentionCovers {
		t.Errorf("never purged: %+v", o)
	}
	if o := Project(10, 1000, "", BinlogRetention{}, ProjectedOutages).Outages[0]; *o.RetentionCovers {
		t.Errorf("no binlog: %+v", o)
	}
}
