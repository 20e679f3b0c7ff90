package main

// The lab backends this binary can run: each registers itself with the lab
// package when linked in (netns lives in package lab, docker in its own).
import (
	_ "github.com/drdrill/drdrill/harness/lab"
	_ "github.com/drdrill/drdrill/harness/lab/docker"
)
