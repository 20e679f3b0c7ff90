// Package scenarios holds the drills, one file each, and the registry that
// feeds both `go test ./scenarios` and `drdrill run`.
package scenarios
