package main

// The lab backends this binary can run: each registers itself with the lab
// package when linked in.
import _ "github.com/drdrill/drdrill/harness/lab"
