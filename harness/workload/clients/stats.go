package clients

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/workload"
)

// Server is the server a write reached.
type Server struct {
	// Addr is the IP:port the write's statements were sent to, or that a
	// failed connection was dialled to ("" if neither: the name did not
	// resolve).
	Addr string `json:"addr,omitempty"`
	// ServerID and ReadOnly are @@server_id and @@read_only, read on the
	// write's own connection right after it (Read); a connection the
	// driver dropped (rejectReadOnly) or that died leaves them unread.
	ServerID uint32 `json:"server_id,omitempty"`
	ReadOnly bool   `json:"read_only,omitempty"`
	Read     bool   `json:"read"`
}

// Failure is one write that was not acknowledged.
type Failure struct {
	Seq    int64          `json:"seq"`
	Phase  workload.Phase `json:"phase"`
	SentAt time.Time      `json:"sent_at"`
	At     time.Time      `json:"at"`
	// Code is the server's error number (1290 read-only, …) or a client
	// code (CodeCannotConnect, CodeUnknownHost, CodeServerGone, CodeLost).
	Code int `json:"code"`
	// Sent: the statement reached a server. Unknown: it may have been
	// committed (entered as unknown in the ledger).
	Sent    bool   `json:"sent"`
	Unknown bool   `json:"unknown,omitempty"`
	Err     string `json:"error"`
	Server  Server `json:"server"`
}

// Ack is an acknowledged write.
type Ack struct {
	Seq    int64     `json:"seq"`
	SentAt time.Time `json:"sent_at"`
	AckAt  time.Time `json:"ack_at"`
	Server Server    `json:"server"`
}

// Outage is one run of failed writes, from the last acknowledged write
// before it to the first acknowledged after it.
type Outage struct {
	LastAckBefore time.Time   `json:"last_ack_before"` // zero: it failed from its first write
	FirstFailure  Failure     `json:"first_failure"`
	LastFailure   Failure     `json:"last_failure"`
	Failures      int         `json:"failures"`
	ErrorsByCode  map[int]int `json:"errors_by_code"`
	Recovered     *Ack        `json:"recovered,omitempty"` // nil: still failing
	// Duration is Recovered.AckAt - LastAckBefore; while unrecovered, up
	// to LastFailure.At (a lower bound).
	Duration time.Duration `json:"duration_ns"`
	// Resolution is how precisely each end is known: the larger of the
	// gap between the last ack and the first failed attempt's start, and
	// the gap between the last failure and the start of the attempt that
	// succeeded (at most about one Interval each). Duration exceeds the
	// time writes were truly impossible by at most twice this.
	Resolution time.Duration `json:"resolution_ns"`
}

func (o *Outage) finish() {
	from := o.LastAckBefore
	if from.IsZero() {
		from = o.FirstFailure.SentAt
	}
	o.Resolution = o.FirstFailure.SentAt.Sub(from)
	if o.Recovered != nil {
		o.Duration = o.Recovered.AckAt.Sub(from)
		o.Resolution = max(o.Resolution, o.Recovered.SentAt.Sub(o.LastFailure.At))
	} else {
		o.Duration = o.LastFailure.At.Sub(from)
	}
	if o.Resolution < 0 {
		o.Resolution = 0
	}
}

// Stats is one client's record.
type Stats struct {
	Client   string      `json:"client"`
	Profile  string      `json:"profile"`
	Endpoint string      `json:"endpoint"`
	Writer   int         `json:"writer"`
	Expected Expectation `json:"expected"`

	Attempts int `json:"attempts"`
	Acked    int `json:"acked"`
	Failed   int `json:"failed"`
	Unknown  int `json:"unknown"`
	// AckedByServer counts acknowledged writes by @@server_id (0: not read).
	AckedByServer map[uint32]int `json:"acked_by_server"`
	// FailuresByServer counts failures whose server was read.
	FailuresByServer map[uint32]int `json:"failures_by_server"`
	// FailuresByAddr counts failures by the address the statement was
	// sent to (known also when the driver dropped the connection).
	FailuresByAddr map[string]int `json:"failures_by_addr"`
	ErrorsByCode   map[int]int    `json:"errors_by_code"`
	FirstFailure   *Failure       `json:"first_failure,omitempty"`
	LastFailure    *Failure       `json:"last_failure,omitempty"`
	// Recovered is the first acknowledged write after the first failure.
	Recovered *Ack `json:"recovered,omitempty"`
	// WriteUnavailable is the first outage's Duration.
	WriteUnavailable time.Duration `json:"write_unavailable_ns"`
	Outages          []Outage      `json:"outages"`
	// FailingAtEnd: the last write failed (an outage still in progress).
	FailingAtEnd bool   `json:"failing_at_end"`
	Lookups      int    `json:"lookups"` // DNS lookups made
	LastResolved string `json:"last_resolved,omitempty"`
}

// Diagnosis is one line on the client's longest outage: how many writes
// were refused, with which codes, by which server, for how long, until
// what, and the cause its profile names (its Expected, for a planned
// failover). failback is when the drill began failing back (zero: none):
// an outage that began before it and ended only after it was stuck until
// failback; one that began after it is the failback's own.
// name labels a server (nil: its address and server_id).
func (s Stats) Diagnosis(failback time.Time, name func(Server) string) string {
	if name == nil {
		name = func(sv Server) string {
			switch {
			case sv.Read:
				return fmt.Sprintf("%s (server_id %d)", sv.Addr, sv.ServerID)
			case sv.Addr != "":
				return sv.Addr
			}
			return "no server"
		}
	}
	if len(s.Outages) == 0 {
		return fmt.Sprintf("%s: no write refused (%d acknowledged)", s.Client, s.Acked)
	}
	o := s.Outages[0]
	for _, x := range s.Outages[1:] {
		if x.Duration > o.Duration {
			o = x
		}
	}
	codes := make([]int, 0, len(o.ErrorsByCode))
	for c := range o.ErrorsByCode {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var cs []string
	for _, c := range codes {
		cs = append(cs, fmt.Sprintf("%d×%d", c, o.ErrorsByCode[c]))
	}
	srv := name(o.LastFailure.Server)
	// 1290 is the read-only refusal itself: also when the driver dropped
	// the connection before @@read_only could be read (rejectReadOnly).
	if o.LastFailure.Server.Read && o.LastFailure.Server.ReadOnly || o.LastFailure.Code == CodeReadOnly {
		srv += " (read-only)"
	}
	until, stuck := "and still refused when it stopped", true
	switch {
	case o.Recovered != nil && !failback.IsZero() && o.FirstFailure.At.Before(failback) && o.Recovered.AckAt.After(failback):
		until = "until failback (it wrote again on " + name(o.Recovered.Server) + ")"
	case o.Recovered != nil:
		until, stuck = "until it wrote again on "+name(o.Recovered.Server), false
	}
	exp := "as its profile expects: "
	if stuck != s.Expected.Stuck {
		exp = "NOT as its profile expects: "
	}
	return fmt.Sprintf("%s: %d writes refused (%s) by %s for %.3f s, %s; %s%s",
		s.Client, o.Failures, strings.Join(cs, ", "), srv, o.Duration.Seconds(), until, exp, s.Expected.Why)
}
