// Package clients runs application clients against a database reached by
// name, as a team's apps reach a cluster's writer endpoint, so that a
// failover drill can say for each client whether and for how long it could
// not write, and why.
//
// A client's behaviour is a Profile: which name it is configured with (the
// cluster endpoint or an instance), how it resolves that name (on every new
// connection, or once at start), whether it keeps a long-lived pool, the
// query its pool validates connections with, and go-sql-driver's
// rejectReadOnly. The built-in profiles (Builtin) reproduce the causes of a
// client stuck on a demoted writer; a target file can describe its own apps
// with the same fields.
//
// Clients run inside a network namespace: every socket, to the database
// and to the DNS server, is created in it (NetnsDialer: setns on a locked
// OS thread, and each socket's namespace checked before it connects), and
// the name is resolved by asking a given DNS server from there
// (NamespaceResolver). Nothing is dialled from the calling namespace.
//
// Every write is a tagged row (workload's drill_id, writer, seq, phase),
// entered in the workload.Ledger only when acknowledged. Every failure is
// recorded with its MySQL error code (the server's, read off the wire even
// when rejectReadOnly turns it into driver.ErrBadConn; or the client code
// the mysql CLI would give: 2003 cannot connect, 2005 unknown host, 2013
// lost), the time, and the server it reached (@@server_id and @@read_only
// read on the same connection when it is still open).
package clients
