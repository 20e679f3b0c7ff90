// Package trend compares two drill outcomes, each a report dir
// (report.json) or a suite dir (suite.json): per drill the verdict and
// every numeric metric (report.Numbers; a suite's p50), old → new, with the
// regressions flagged: a verdict that was pass and is not, a duration
// (*_ms) or a count of rows lost (report.CountsLoss) that went up by more
// than the tolerance (from 0, any rise). Other metrics are shown, never
// flagged: whether more is better is theirs to say.
package trend
