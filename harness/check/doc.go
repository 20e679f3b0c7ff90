// Package check turns a drill's evidence into verdicts. Every check is a
// pure function over evidence already collected (timeline events, the
// workload ledger, rows read back, tunnel states, GTID positions): no I/O,
// so each one is tested with bad data until it fails.
//
// A Result states what was expected and what was observed in words a person
// can act on ("Connecting at 3.02s, errno 2003", "missing seq 2 (phase
// during, 'replication_test_while_vpn_down')"), and carries the observation
// in Detail for report.json.
//
// Timeline evidence is read as typed details (timeline.As): the replica's
// IO thread from io_state events (timeline.IOState: from, to, and at that
// observation seconds_behind, nil for SQL NULL, last_io_errno and
// last_io_error) and io_error notes (timeline.IOErrorNote); the gateways'
// SA events (timeline.IKEUpDown, timeline.ChildUpDown) and the harness's
// own tunnel actions (timeline.TunnelAction). A detail that is a map from a
// producer not yet converted is read through timeline.As too; one that does
// not decode as its kind's type is skipped, never a panic.
//
// The failover drills' checks (failover.go) read what those drills record:
// a replica.WritableRecord ([NoTwoWriters]), every server's rows
// ([LedgerOnServers]), CHECKSUM TABLE per server ([ChecksumsEqual]), errant
// GTIDs per server ([NoErrantGTIDs]) and each client's clients.Stats against
// its profile's expectation ([ClientsAsExpected], [ClientStuck]).
package check
