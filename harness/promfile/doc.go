// Package promfile writes drill outcomes as a Prometheus text-format file
// for node_exporter's textfile collector (--collector.textfile.directory):
// built with client_golang's registry and expfmt, written atomically (temp
// file in the same dir, then rename) so the collector never reads half a
// file.
//
// Every series is labelled scenario and target:
//
//	drdrill_drill_verdict{verdict="pass|fail|error"}    1 for the drill's verdict, 0 for the others
//	drdrill_drill_flaky                                   1 when a drill both passed and failed over its runs
//	drdrill_drill_runs{outcome=...}                       runs by outcome (pass, fail, error, interrupted, infra, not-run)
//	drdrill_drill_duration_seconds                        the drill's duration
//	drdrill_drill_last_run_timestamp_seconds              when its last run started (for "no drill in 26 h")
//	drdrill_metric_seconds{name="outage_detect"}          every *_ms metric (metrics.extra too), in seconds
//	drdrill_rows_missing_on_replica, drdrill_rows_unexpected_on_replica, drdrill_rows_written
//	drdrill_rows_lost{name=...}                           any other metric counting rows lost or missing
//
// With several runs of a drill each duration is the p50 over the runs that
// measured it, and each count of rows lost the worst run's (a row lost in
// one run of three must not read 0). The *_ms metrics share one gauge with a name label rather
// than a gauge each: the set is open-ended (each drill adds its own in
// metrics.extra), all are the same unit, and one dashboard panel or alert
// rule then covers every drill, present and future, without learning new
// metric names; the label's values are the drills' fixed metric names, so
// the cardinality stays bounded. Rows lost are gauges of their own: alerts
// on them (> 0) should not depend on a label's spelling.
package promfile
