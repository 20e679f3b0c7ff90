package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes (DESIGN.md).
const (
	exitPass      = 0
	exitFail      = 1
	exitCannotRun = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		usage(stderr)
		return exitCannotRun
	}
	var err error
	code := exitPass
	switch args[0] {
	case "lab":
		err = cmdLab(ctx, args[1:], stdout, stderr)
	case "list":
		err = cmdList(args[1:], stdout)
	case "run":
		code, err = cmdRun(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return exitPass
	default:
		err = usageErrorf("unknown command %q (want lab, list or run)", args[0])
	}
	if err != nil {
		fmt.Fprintln(stderr, "drdrill: "+errorText(err))
		if code == exitPass {
			code = exitCannotRun
		}
	}
	return code
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  drdrill lab up     [--lab DIR] [--backend netns|docker]
  drdrill lab down   [--lab DIR]
  drdrill lab status [--lab DIR] [--json]
  drdrill list
  drdrill run SCENARIO [--target lab] [--lab DIR] [--report DIR] [--keep-lab] [--backend netns|docker]
exit codes: 0 pass, 1 a check failed, 2 could not run
`)
}

// usageError is bad input on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(f string, a ...any) error { return &usageError{fmt.Sprintf(f, a...)} }

// errorText keeps a one-line reason first; context a backend adds after it
// (a daemon's last log lines) follows indented.
func errorText(err error) string {
	return strings.TrimRight(err.Error(), "\n")
}

// parseFlags parses flags that may come before or after positional args
// (drdrill run vpn-outage --keep-lab). Unknown flags are a usage error.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usageErrorf("%s: see drdrill help", fs.Name())
			}
			return nil, usageErrorf("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newLogger(w io.Writer) *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("DRDRILL_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}
