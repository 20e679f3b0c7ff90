// Package timeline is the record of a drill: one monotonic clock and one
// ordered log of tunnel, replica, workload, fault and step events.
//
// Every event is stamped with the time since the timeline started, read from
// Go's monotonic clock, so wall-clock jumps during a drill cannot reorder or
// stretch it. The log (slog) is for operators; the timeline is the evidence
// that checks read and that report.json carries.
package timeline
