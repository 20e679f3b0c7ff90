// Package divergence finds the lost writes of a failover: the
// transactions an old primary committed that never reached the server
// promoted in its place. When the old primary's site comes back it holds
// them; they must be found exactly and set aside before it is rebuilt from
// the promoted server (replica.Rebuild), never replicated over.
//
// [Find] works from the old primary's binary log (MariaDB, ROW format):
//
//  1. which transactions: every GTID D-S-N in the old primary's binlog
//     for which the promoted server has no D-S-M with M >= N in its
//     @@gtid_binlog_state or @@gtid_slave_pos (a server's sequence numbers
//     grow within a domain, so this is exact per transaction, not just a
//     count);
//  2. where they are: SHOW BINLOG EVENTS gives each lost transaction's
//     file, start and end position and its tables (Table_map events);
//  3. which rows: mariadb-binlog --base64-output=decode-rows -v over
//     exactly those positions, run on the old primary's db host
//     (target.HostExec: the binlog files are there), decodes each row
//     image; the primary key columns come from information_schema.
//
// Why the binlog and not a comparison of the drill table between the two
// servers: the binlog names the transaction (GTID) of every lost row, sees
// updates and deletes (a row comparison sees only differences left at the
// end), covers every table, and is not confused by rows the promoted
// server wrote after the failover with the same auto-increment ids.
//
// Each lost row of the drill table (drill_id, writer, seq) is matched with
// the ledger of acknowledged writes: Acknowledged means a client was told
// it committed — the RPO actually lost.
package divergence
