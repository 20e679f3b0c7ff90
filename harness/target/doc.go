// Package target is the seam between drills and what they drill. A drill
// sees a [Target]: the sites of a site-to-site VPN, each with its gateway
// (strongSwan over VICI) and its database (MySQL or MariaDB), what a
// healthy tunnel looks like on each side, and the gateways' IKE timings.
// It never sees whether that is the embedded lab or a user's real systems.
//
// What some drills need beyond that (run a command on a host, crash and
// restart a gateway) is an optional capability: a small interface the
// Target may implement, found by type assertion. A drill lists the
// capabilities it needs, so that a missing one is named before anything
// changes ([Missing]).
//
// The embedded lab implements Target (harness/lab.Open); a target file
// will (drdrill.target/v1).
package target
