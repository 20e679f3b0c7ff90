// Package report writes a drill's outcome: report.json (the stable
// drdrill.report/v1 contract of docs/design.md), junit.xml for CI, summary.md for
// people, and a compact console summary.
//
// Secrets (passwords, PSKs) are scrubbed from every string of the report
// before anything is written: pass them to Write and Console.
package report
