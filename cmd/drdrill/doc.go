// Command drdrill runs disaster-recovery drills on a site-to-site IPsec VPN
// that carries MySQL/MariaDB replication.
//
//	drdrill lab up|down|status [--lab DIR] [--backend netns|docker] [--json]
//	drdrill list
//	drdrill run SCENARIO [--target lab] [--lab DIR] [--report DIR] [--keep-lab] [--backend netns|docker] [--metrics-file PATH]
//	drdrill run SCENARIO... | --all [--count K] [--parallel N] ...   (a suite: suite.go)
//	drdrill report compare OLD NEW [--tolerance 20%] [--json]        (compare.go)
//	drdrill completion bash|zsh|fish|powershell
//
// drdrill COMMAND --help (or drdrill help COMMAND) describes each command.
//
// Exit codes: 0 the drill passed; 1 the drill ran and a check failed; 2 it
// could not run (bad input, missing dependency, unreachable target,
// interrupted), with a one-line reason on stderr.
//
// The commands are cobra commands (main.go, lab.go, run.go, suite.go,
// compare.go); every call into
// the harness that runs a drill is in runDrill (drill.go).
package main
