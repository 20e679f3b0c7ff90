// Package preflight checks a target before any drill runs on it, changing
// nothing: it reaches every gateway and database, reads what an operator
// looks at (the tunnel as each gateway sees it, the replica's threads, lag,
// last IO error and GTID positions), the live timings and the windows drills
// derive from them, the database account's privileges against what each
// drill needs (per flavor), the primary's binlog retention against the
// longest fault the target allows, drdrill's own table, and which drills
// can run there.
//
// Read-only means: no VICI command but version, list-* and get-*; no SQL
// but SELECT and SHOW; no command on any host. A test on the lab records
// every VICI command and statement Check issues and compares SPIs and GTID
// positions before and after.
//
// [Check] returns a [Report]: OK when everything is reachable and healthy,
// Problems (one line each) otherwise; Print for a person, JSON for tools.
// [GrantStatements] are the GRANTs that give an account what drills need.
package preflight
