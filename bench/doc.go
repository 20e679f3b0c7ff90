// Package bench measures drdrill on the embedded lab: lab up and down, each
// drill's wall time against its intrinsic waits, and the reference shell
// recipe (the original shell prototype) in the same run. Speed is
// measured here and reported, never asserted by a timed test.
//
//	make bench   # go test -run '^$' -bench . -benchtime 3x ./bench/
package bench
