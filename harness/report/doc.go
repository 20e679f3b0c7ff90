// Package report writes a drill's outcome: report.json (the stable
// drdrill.report/v1 contract of docs/design.md), junit.xml for CI, summary.md for
// people, and a compact console summary. A failover drill's application
// clients go into clients[] ([Client], built by [ClientFrom] from a
// client's clients.Stats), a table in summary.md and the console, and one
// property each in junit.xml.
//
// Secrets (passwords, PSKs) are scrubbed from every string of the report
// before anything is written: pass them to Write and Console.
package report
