package replica

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// sourceWords are the server's spelling of CHANGE MASTER and its options:
// CHANGE REPLICATION SOURCE TO … SOURCE_* from MySQL 8.0.23, CHANGE MASTER
// TO … MASTER_* on MariaDB and older MySQL (8.0.22 already has START/STOP
// REPLICA but not CHANGE REPLICATION SOURCE).
func (c *Conn) sourceWords() (verb, word string) {
	if c.flavor == MySQL && c.ver.atLeast(8, 0, 23) {
		return "CHANGE REPLICATION SOURCE TO", "SOURCE"
	}
	return "CHANGE MASTER TO", "MASTER"
}

// TimingStatements are the statements that set the replica's connect retry
// and heartbeat (with netTimeout also its net timeout; on MySQL a positive
// RetryCount too) and nothing else, in this server's words: STOP, [SET
// GLOBAL net timeout,] CHANGE … TO, START, run on one session. A zero
// Heartbeat is left out (the server keeps its own).
//
// Spellings by version: MariaDB (STOP REPLICA from 10.5.1) and MySQL before
// 8.0.22: STOP/START SLAVE, CHANGE MASTER TO MASTER_*; MySQL 8.0.22: STOP/START
// REPLICA but CHANGE MASTER; from 8.0.23 CHANGE REPLICATION SOURCE TO
// SOURCE_*; the net timeout is slave_net_timeout until MySQL 8.0.25 and
// replica_net_timeout from 8.0.26.
func (c *Conn) TimingStatements(t Timings, netTimeout bool) ([]string, error) {
	if t.ConnectRetry < time.Second {
		return nil, fmt.Errorf("timing statements: connect retry %s: must be at least 1s", t.ConnectRetry)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("timing statements: %w", err)
	}
	verb, word := c.sourceWords()
	opts := []string{fmt.Sprintf("%s_CONNECT_RETRY=%d", word, wholeSeconds(t.ConnectRetry))}
	if t.Heartbeat > 0 {
		opts = append(opts, fmt.Sprintf("%s_HEARTBEAT_PERIOD=%s", word, strconv.FormatFloat(t.Heartbeat.Seconds(), 'f', 3, 64)))
	}
	if t.RetryCount > 0 && c.flavor != MariaDB {
		opts = append(opts, fmt.Sprintf("%s_RETRY_COUNT=%d", word, t.RetryCount))
	}
	out := []string{c.stopStmt()}
	if netTimeout {
		if t.NetTimeout < time.Second {
			return nil, fmt.Errorf("timing statements: net timeout %s: must be at least 1s", t.NetTimeout)
		}
		out = append(out, fmt.Sprintf("SET GLOBAL %s = %d", c.netTimeoutVar(), wholeSeconds(t.NetTimeout)))
	}
	return append(out, verb+" "+strings.Join(opts, ", "), c.startStmt()), nil
}
