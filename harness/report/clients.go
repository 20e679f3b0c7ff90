package report

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/workload/clients"
)

// Client is one application client of a failover drill, as report.json's
// clients[] carries it. The outage it describes (WriteUnavailableMS,
// ResolutionMS, FirstFailureMS, RecoveredMS, RecoveredOn) is its longest,
// the one its verdict and diagnosis judge. A nil *_ms is null: not
// measured (never unavailable, never recovered, no bound), never 0.
type Client struct {
	Name     string `json:"name"`
	App      string `json:"app"`
	Profile  string `json:"profile"`
	Endpoint string `json:"endpoint"`
	// ExpectedStuck: its profile expects it stuck on the demoted writer
	// until failback; ExpectedWhy says why (or why not).
	ExpectedStuck bool   `json:"expected_stuck"`
	ExpectedWhy   string `json:"expected_why"`
	// BoundMS is the most a client not expected stuck may be unable to
	// write (null for one expected stuck).
	BoundMS  *float64 `json:"bound_ms"`
	Attempts int      `json:"attempts"`
	Acked    int      `json:"acked"`
	Failed   int      `json:"failed"`
	Unknown  int      `json:"unknown"`
	// WriteUnavailableMS is its longest outage: from the last acknowledged
	// write before it to the first after it (or, if none came, to its
	// last failure). ResolutionMS is how precisely each end is known.
	WriteUnavailableMS *float64 `json:"write_unavailable_ms"`
	ResolutionMS       *float64 `json:"resolution_ms"`
	// ErrorsByCode counts failures by error number ("1290", "2003", ...).
	ErrorsByCode map[string]int `json:"errors_by_code"`
	// WritesToDemotedWriter counts writes sent to the demoted writer and
	// refused: see ClientFrom.
	WritesToDemotedWriter int  `json:"writes_to_demoted_writer"`
	Stuck                 bool `json:"stuck"` // check.ClientStuck
	// FirstFailureMS and RecoveredMS are the longest outage's first
	// failure and the acknowledged write that ended it, on the drill's
	// timeline (ms since its start); RecoveredOn names that write's server.
	FirstFailureMS *float64 `json:"first_failure_ms"`
	RecoveredMS    *float64 `json:"recovered_ms"`
	RecoveredOn    string   `json:"recovered_on,omitempty"`
	Verdict        string   `json:"verdict"`   // pass or fail
	Diagnosis      string   `json:"diagnosis"` // one line
}

// ClientOptions are what ClientFrom needs beyond the client's own record.
type ClientOptions struct {
	App string // the app host it ran on ("peer-app")
	// Start is the drill's start (the timeline's zero), Failback when
	// failback began (zero: none).
	Start, Failback time.Time
	// Bound is the most a client not expected stuck may be unable to write.
	Bound time.Duration
	// Demoted is the demoted writer's server_id; DemotedAddr its address
	// as clients dial it ("10.20.11.123:3306", optional): failures whose
	// server_id was not read (a connection the driver dropped) are
	// counted by it.
	Demoted     uint32
	DemotedAddr string
	// Name labels a server ("aws-db"; nil: its address and server_id).
	Name func(clients.Server) string
	// Verdict is the client's verdict ("": check.ClientVerdict's).
	Verdict string
}

// ClientFrom is one client's entry of clients[].
//
// WritesToDemotedWriter is the number of failures sent to the demoted
// writer: by address when DemotedAddr is given (which also counts
// connections the driver dropped on a 1290 before the server_id could be
// read), else by server_id. Acknowledged writes on it are not counted:
// Stats does not say when they happened, and before the failover (and
// after failback) it was the writer; the no_two_writers check covers a
// demoted writer that accepted writes.
//
// The diagnosis is Stats.Diagnosis, followed by why the client failed when
// it did ("… — FAIL: stuck and never wrote again").
func ClientFrom(s clients.Stats, o ClientOptions) Client {
	c := Client{Name: s.Client, App: o.App, Profile: s.Profile, Endpoint: s.Endpoint,
		ExpectedStuck: s.Expected.Stuck, ExpectedWhy: s.Expected.Why,
		Attempts: s.Attempts, Acked: s.Acked, Failed: s.Failed, Unknown: s.Unknown,
		ErrorsByCode: make(map[string]int, len(s.ErrorsByCode)), Stuck: check.ClientStuck(s, o.Failback)}
	if !s.Expected.Stuck && o.Bound > 0 {
		c.BoundMS = MS(o.Bound)
	}
	for code, n := range s.ErrorsByCode {
		c.ErrorsByCode[strconv.Itoa(code)] = n
	}
	if o.DemotedAddr != "" {
		c.WritesToDemotedWriter = s.FailuresByAddr[o.DemotedAddr]
	} else {
		c.WritesToDemotedWriter = s.FailuresByServer[o.Demoted]
	}
	name := o.Name
	if name == nil {
		name = serverLabel
	}
	if out := longest(s.Outages); out != nil {
		c.WriteUnavailableMS, c.ResolutionMS = MS(out.Duration), MS(out.Resolution)
		c.FirstFailureMS = offsetMS(o.Start, out.FirstFailure.At)
		if out.Recovered != nil {
			c.RecoveredMS = offsetMS(o.Start, out.Recovered.AckAt)
			c.RecoveredOn = name(out.Recovered.Server)
		}
	}
	v, why := check.ClientVerdict(check.ClientOutcome{Stats: s, Bound: o.Bound, Failback: o.Failback, Name: o.Name})
	c.Verdict = v
	if o.Verdict != "" {
		c.Verdict = o.Verdict
	}
	c.Diagnosis = s.Diagnosis(o.Failback, o.Name)
	if why != "" {
		c.Diagnosis += " — FAIL: " + why
	}
	return c
}

// longest is the first of the longest outages (as Stats.Diagnosis picks).
func longest(outs []clients.Outage) *clients.Outage {
	if len(outs) == 0 {
		return nil
	}
	o := &outs[0]
	for i := 1; i < len(outs); i++ {
		if outs[i].Duration > o.Duration {
			o = &outs[i]
		}
	}
	return o
}

func offsetMS(start, t time.Time) *float64 {
	if start.IsZero() || t.IsZero() {
		return nil
	}
	return MS(t.Sub(start))
}

func serverLabel(sv clients.Server) string {
	switch {
	case sv.Read:
		return fmt.Sprintf("%s (server_id %d)", sv.Addr, sv.ServerID)
	case sv.Addr != "":
		return sv.Addr
	}
	return "no server"
}

// errorsByCode is "1290×12, 2003×1" in code order ("–" when none).
func errorsByCode(m map[string]int) string {
	codes := slices.Collect(maps.Keys(m))
	slices.SortFunc(codes, func(a, b string) int {
		x, errA := strconv.Atoi(a)
		y, errB := strconv.Atoi(b)
		if errA == nil && errB == nil {
			return x - y
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s×%d", c, m[c]))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

// clientExpected is what a client was expected to do, in a table cell.
func clientExpected(c Client) string {
	switch {
	case c.ExpectedStuck:
		return "stuck until failback"
	case c.BoundMS != nil:
		return "≤ " + secsMS(*c.BoundMS)
	}
	return "not stuck"
}

func msCell(p *float64) string {
	if p == nil {
		return "–"
	}
	return secsMS(*p)
}

func clientVerdictMark(c Client) string { return mark(c.Verdict == check.Pass) }
