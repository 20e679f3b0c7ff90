// Package timeline is the record of a drill: one monotonic clock and one
// ordered log of tunnel, replica, workload, fault and step events.
//
// Every event is stamped with the time since the timeline started, read from
// Go's monotonic clock, so wall-clock jumps during a drill cannot reorder or
// stretch it. The log (slog) is for operators; the timeline is the evidence
// that checks read and that report.json carries.
//
// An event's detail is typed by its kind (details.go: IOState, ChildUpDown,
// TunnelAction, Step, Fault, ...; Note for the free-form rest). Readers take
// it with [As], which also reads the map a not-yet-converted producer
// passed. The JSON of every typed detail is the JSON its producer wrote
// when details were maps, and reading JSON back gives the typed details.
package timeline
