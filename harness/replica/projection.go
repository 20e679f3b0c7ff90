package replica

import (
	"fmt"
	"math"
	"time"
)

// ProjectedOutages are the outage lengths every catch-up projection
// covers (issue: "1 min, 10 min and 1 h").
var ProjectedOutages = []time.Duration{time.Minute, 10 * time.Minute, time.Hour}

// Projection is what a drill's measured rates say about longer outages:
// the backlog each would leave at the drill's write rate, how long the
// replica would take to catch up at its measured apply rate while the
// writes go on, and whether the primary keeps its binary logs long enough
// for that (a replica whose events were purged can never catch up: 1236).
type Projection struct {
	WriteRate float64 `json:"write_rate_rows_per_s"`
	// ApplyRate is nil when the drill's backlog was too small to measure
	// one (ApplyNote says so).
	ApplyRate *float64          `json:"apply_rate_rows_per_s"`
	ApplyNote string            `json:"apply_rate_note,omitempty"`
	Retention BinlogRetention   `json:"binlog_retention"`
	Outages   []ProjectedOutage `json:"outages"`
	// Summary is String(), for people (reports show it in place of the
	// object).
	Summary string `json:"summary"`
}

// ProjectedOutage is one outage length's projection.
type ProjectedOutage struct {
	OutageS     float64 `json:"outage_s"`
	BacklogRows int64   `json:"backlog_rows"`
	// CatchupS is nil when unknown (no apply rate) or never (the apply
	// rate does not exceed the write rate: Never is set).
	CatchupS *float64 `json:"catchup_s"`
	Never    bool     `json:"never_catches_up,omitempty"`
	// RetentionCovers: the binary logs kept cover the outage and the
	// catch-up after it (nil: unknown, catch-up time unknown). A replica
	// needs every event from the outage's start until it has caught up.
	RetentionCovers *bool `json:"retention_covers"`
}

// Project computes the projection. applyRate ≤ 0 is unknown (note says
// why); writeRate is rows per second over the drill.
func Project(writeRate, applyRate float64, note string, ret BinlogRetention, outages []time.Duration) Projection {
	p := Projection{WriteRate: round1(writeRate), Retention: ret, Outages: []ProjectedOutage{}}
	if applyRate > 0 {
		a := round1(applyRate)
		p.ApplyRate = &a
	} else {
		p.ApplyNote = note
	}
	for _, d := range outages {
		o := ProjectedOutage{OutageS: d.Seconds(), BacklogRows: int64(math.Round(writeRate * d.Seconds()))}
		switch {
		case applyRate <= 0:
		case applyRate <= writeRate:
			o.Never = true
			no := false
			o.RetentionCovers = &no
		default:
			// The backlog drains at the difference: the writes go on.
			c := float64(o.BacklogRows) / (applyRate - writeRate)
			c = round1(c)
			o.CatchupS = &c
			// No binary log: nothing to catch up from.
			covers := ret.LogBin && (ret.Never || ret.Expire.Seconds() >= d.Seconds()+c)
			o.RetentionCovers = &covers
		}
		p.Outages = append(p.Outages, o)
	}
	p.Summary = p.String()
	return p
}

// String is the projection in one line.
func (p Projection) String() string {
	s := fmt.Sprintf("at %.1f rows/s written", p.WriteRate)
	if p.ApplyRate == nil {
		return s + "; apply rate not measured: " + p.ApplyNote
	}
	s += fmt.Sprintf(", %.1f rows/s applied:", *p.ApplyRate)
	for i, o := range p.Outages {
		if i > 0 {
			s += ";"
		}
		s += fmt.Sprintf(" %s outage → %d rows", time.Duration(o.OutageS*float64(time.Second)), o.BacklogRows)
		switch {
		case o.Never:
			s += ", never catches up"
		case o.CatchupS != nil:
			s += fmt.Sprintf(", caught up %.1fs later", *o.CatchupS)
		}
		if o.RetentionCovers != nil && !*o.RetentionCovers && !o.Never {
			s += " (binlogs purged first: " + p.Retention.Setting + ")"
		}
	}
	return s
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
