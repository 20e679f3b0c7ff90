// Package progress shows a running drill live: the current step, what it
// waits for, the time elapsed and the wait's deadline. On a terminal one
// status line is redrawn in place; elsewhere (CI logs) each step and each
// wait of a second or more is a plain timestamped line. It listens to the
// drill's timeline (step events) and to harness/poll's waits.
package progress
