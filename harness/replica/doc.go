// Package replica talks to the replica (and primary) databases of a drill:
// MariaDB and MySQL, old and new statement names alike.
//
// It opens a small, time-bounded connection pool ([Open], [OpenSocket]),
// detects the server [Flavor], reads one normalised [Status] per poll
// ([Conn.Status], [ParseStatus]), waits for the IO and SQL threads
// ([WaitIO], [WaitSQLRunning], [WaitFor]), records their transitions on a
// timeline ([WatchTimeline]), compares and waits for GTID positions
// ([Covers], [Conn.WaitApplied]) and derives drill windows from the
// replica's own timeouts ([Conn.Timings], [Timings.OutageDetectWindow],
// [Timings.ReconnectWindow]). It reads the account's privileges ([Conn.Grants],
// [ParseGrants], [Grants.Has]: both flavors' names, SUPER and ALL, MySQL
// partial revokes; roles noted, not expanded) and what a preflight looks
// at: read-only state, binlog retention and GTID positions in one round
// trip ([Conn.ServerInfo]), where the binary logs begin ([Conn.OldestBinlog],
// [CanResume]). For failover drills it samples which servers are writable,
// recording every round that saw two ([WatchWritable], [WritableRecord]),
// and checksums a table ([Conn.ChecksumTable]).
//
// Secrets: statements that carry a password (CHANGE MASTER / CHANGE
// REPLICATION SOURCE, CREATE USER) are built as text with [QuoteString],
// never logged, and any error they return is replaced by a [SecretError]
// that keeps the server's error number but not its text, which can echo the
// statement. Connection errors are scrubbed of the DSN password ([Redact]).
package replica
