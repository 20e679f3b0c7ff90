package harness

import (
	"time"

	"github.com/drdrill/drdrill/harness/report"
)

// Metric is a metric's name in report.json. The contract's names go into
// their own fields of report.Metrics; the others into metrics.extra.
// Durations are recorded in ms.
type Metric string

// The contract's metrics (report.json's metrics object).
const (
	OutageDetectMS          Metric = "outage_detect_ms"
	TunnelRecoverMS         Metric = "tunnel_recover_ms"
	ReplicaRecoverMS        Metric = "replica_recover_ms"
	CatchupMS               Metric = "catchup_ms"
	RowsWritten             Metric = "rows_written"
	RowsWrittenDuringOutage Metric = "rows_written_during_outage"
	RowsMissingOnReplica    Metric = "rows_missing_on_replica"
	RowsUnexpectedOnReplica Metric = "rows_unexpected_on_replica"
)

// Drill-specific metrics (metrics.extra).
const (
	SelfHealMS                Metric = "self_heal_ms"
	DPDDeadMS                 Metric = "dpd_dead_ms"
	OutageHoldMS              Metric = "outage_hold_ms"
	OneSidedRecognised        Metric = "one_sided_recognised"
	ReplicaStuckMS            Metric = "replica_stuck_ms"
	RemediationToIOYesMS      Metric = "remediation_to_io_yes_ms"
	ExpectedReconnectWindowMS Metric = "expected_reconnect_window_ms"
	BacklogAtRecoveryRows     Metric = "backlog_at_recovery_rows"
	CatchupRows               Metric = "catchup_rows"
	ApplyMS                   Metric = "apply_ms"
	ApplyRateRowsPerS         Metric = "apply_rate_rows_per_s"
	WriterAcked               Metric = "writer_acked"
	WriterAttempted           Metric = "writer_attempted"
	WriterConns               Metric = "writer_conns"
	WriterElapsedMS           Metric = "writer_elapsed_ms"
	WriterFailed              Metric = "writer_failed"
	WriterRateRowsPerS        Metric = "writer_rate_rows_per_s"
	WriterTargetRateRowsPerS  Metric = "writer_target_rate_rows_per_s"
	WriterUnknown             Metric = "writer_unknown"
	WritesLate                Metric = "writes_late"
	WritesNotWritten          Metric = "writes_not_written"
	// CatchupProjection is a replica.Projection: longer outages at the
	// drill's measured rates.
	CatchupProjection Metric = "catchup_projection"
)

// The failover drills' metrics (metrics.extra).
const (
	FailoverMS   Metric = "failover_ms"    // the switchover: old writer read-only until the new one writable
	FailbackMS   Metric = "failback_ms"    // the same, back to the original writer
	TwoWritersMS Metric = "two_writers_ms" // replica.WritableRecord.TwoWritersFor: 0 when never
	ErrantGTIDs  Metric = "errant_gtids"   // GTIDs on a server its source lacks, all servers together
	RPORows      Metric = "rpo_rows"       // acknowledged writes lost
	RPOMS        Metric = "rpo_ms"         // how far back the lost writes go
	RTOMS        Metric = "rto_ms"         // until every client not expected stuck wrote again
)

// Metric sets a metric. A time.Duration is recorded in ms.
func (e *Env) Metric(name Metric, v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	setMetric(&e.metrics, name, v)
}

// setMetric puts a value under its contract name; durations are ms.
func setMetric(m *report.Metrics, name Metric, v any) {
	toMS := func() *float64 {
		switch x := v.(type) {
		case time.Duration:
			return report.MS(x)
		case float64:
			return &x
		}
		return nil
	}
	toInt := func() int64 {
		switch x := v.(type) {
		case int:
			return int64(x)
		case int64:
			return x
		}
		return 0
	}
	switch name {
	case OutageDetectMS:
		m.OutageDetectMS = toMS()
	case TunnelRecoverMS:
		m.TunnelRecoverMS = toMS()
	case ReplicaRecoverMS:
		m.ReplicaRecoverMS = toMS()
	case CatchupMS:
		m.CatchupMS = toMS()
	case RowsWritten:
		m.RowsWritten = toInt()
	case RowsWrittenDuringOutage:
		m.RowsWrittenDuringOutage = toInt()
	case RowsMissingOnReplica:
		m.RowsMissingOnReplica = toInt()
	case RowsUnexpectedOnReplica:
		m.RowsUnexpectedOnReplica = toInt()
	default:
		if m.Extra == nil {
			m.Extra = map[string]any{}
		}
		if d, ok := v.(time.Duration); ok {
			v = *report.MS(d)
		}
		m.Extra[string(name)] = v
	}
}

// The site-loss drill's metrics (metrics.extra); rpo_rows, rpo_ms and
// rto_ms above are its headline.
const (
	LagP50MS            Metric = "lag_p50_ms"            // replication lag (heartbeat) before the loss, median
	LagMaxMS            Metric = "lag_max_ms"            // and its maximum
	LagBeforeLossMS     Metric = "lag_before_loss_ms"    // the last lag sample before the loss: the expected RPO
	RPOLedgerMS         Metric = "rpo_ledger_ms"         // from the oldest lost acknowledged write to the loss
	DetectionMS         Metric = "detection_ms"          // the declared detection time waited before promoting
	PromoteMS           Metric = "promote_ms"            // end of the detection wait → the replica writable
	LostTransactions    Metric = "lost_transactions"     // GTIDs the old primary held that the promoted one lacked
	LostRows            Metric = "lost_rows"             // row changes in lost-writes.jsonl
	RebuildMS           Metric = "rebuild_ms"            // replica.Rebuild: refused check to caught up
	RebuildLoadMS       Metric = "rebuild_load_ms"       // its dump | load over the VPN
	RebuildBytes        Metric = "rebuild_bytes"         // the dump stream's size
	RebuildMBPerS       Metric = "rebuild_mb_per_s"      // its throughput (10^6 bytes/s)
	SwitchbackMS        Metric = "switchback_ms"         // the planned switchover back: read-only → the old primary writable
	SiteLossHeldMS      Metric = "site_loss_held_ms"     // the loss → the site back (thawed, WAN lifted)
	WritesAtRiskRows    Metric = "writes_at_risk_rows"   // acknowledged on the primary after replication was cut, before the loss
	HeartbeatIntervalMS Metric = "heartbeat_interval_ms" // the lag measurement's resolution
)
