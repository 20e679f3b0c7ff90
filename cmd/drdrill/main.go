package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/spf13/cobra"
)

// Exit codes (docs/design.md).
const (
	exitPass      = 0
	exitFail      = 1
	exitCannotRun = 2
)

// errCheckFailed is a drill that ran and failed a check: exit 1, and nothing
// on stderr (the report on stdout says which check).
var errCheckFailed = errors.New("a check failed")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitPass
	case errors.Is(err, errCheckFailed):
		if err != errCheckFailed { // a reason to say (recover)
			fmt.Fprintln(stderr, "drdrill: "+errorText(err))
		}
		return exitFail
	}
	fmt.Fprintln(stderr, "drdrill: "+errorText(err))
	return exitCannotRun
}

const rootLong = `drdrill runs disaster-recovery drills on a site-to-site IPsec VPN
(strongSwan) that carries MySQL/MariaDB replication: it injects a fault
(a VPN outage, a gateway crash, a blackholed WAN...), checks that replication
notices, recovers in the documented order and catches up, and writes a
report (report.json, junit.xml, summary.md).

The drills run on an embedded lab: two sites, each a strongSwan gateway and a
MariaDB server, in network namespaces (netns backend, needs root) or in
containers (docker backend).

Exit codes: 0 the drill passed; 1 the drill ran and a check failed; 2 it could
not run (bad input, missing dependency, interrupted), with a one-line reason
on stderr.

Environment: DRDRILL_LAB is the default lab directory (else ` + lab.DefaultDir + `);
DRDRILL_DEBUG=1 logs what the harness does to stderr.`

// newRootCmd builds the command tree writing to stdout and stderr. Cobra
// prints neither errors nor usage: run prints each error as one line.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "drdrill",
		Short: "Disaster-recovery drills for an IPsec VPN carrying MySQL/MariaDB replication",
		Long:  rootLong,
		// Runnable only to turn "no command" and an unknown command into
		// an error rather than a help page.
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("want a command: %s (drdrill --help shows them)", commandNames(c))
			}
			return usageErrorf("unknown command %q (want %s)%s", args[0], commandNames(c), suggest(c, args[0]))
		},
		RunE:                  func(*cobra.Command, []string) error { return nil },
		DisableFlagsInUseLine: true,
		SilenceErrors:         true,
		SilenceUsage:          true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetUsageTemplate(usageTemplate)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%s%v", cmdPrefix(c), err)
	})
	root.SetHelpCommand(newHelpCmd())
	root.AddCommand(newLabCmd(stderr), newListCmd(), newRunCmd(stderr), newPlanCmd(), newPreflightCmd(), newRecoverCmd(), newReportCmd())
	// The completion command needs stdout set first (it keeps the writer);
	// made here rather than by Execute so that it too rejects bad input.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			shells := make([]string, 0, len(c.Commands()))
			for _, s := range c.Commands() {
				shells = append(shells, s.Name())
			}
			c.Args = func(c *cobra.Command, args []string) error {
				if len(args) == 0 {
					return usageErrorf("completion: want a shell: %s", orList(shells))
				}
				return usageErrorf("completion: unknown shell %q (want %s)", args[0], orList(shells))
			}
			c.RunE = func(*cobra.Command, []string) error { return nil }
		}
	}
	return root
}

// usageTemplate is cobra's, except that a command runnable only to reject
// bad input (root, lab, completion) shows just its "[command]" usage line.
const usageTemplate = `Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

// newHelpCmd replaces cobra's help command, which answers an unknown topic
// with the root usage and exit 0: here that is an error like any other.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long: `Help prints the description, usage and flags of a command
(the same as drdrill COMMAND --help).`,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usageErrorf("help: unknown command %q (drdrill --help lists them)", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag() // so that the help lists -h
			return cmd.Help()
		},
	}
}

// cmdPrefix is "lab up: " for drdrill lab up, "" for drdrill itself.
func cmdPrefix(c *cobra.Command) string {
	if !c.HasParent() {
		return ""
	}
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ") + ": "
}

// noArgs rejects positional arguments, naming the first.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%sunexpected argument %q", cmdPrefix(c), args[0])
	}
	return nil
}

// commandNames lists c's visible subcommands: "lab, list, run or completion".
func commandNames(c *cobra.Command) string {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return orList(names)
}

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// suggest is cobra's "did you mean" on the same line.
func suggest(c *cobra.Command, arg string) string {
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
	}
	if s := c.SuggestionsFor(arg); len(s) > 0 {
		return "; did you mean " + orList(s) + "?"
	}
	return ""
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

func newLogger(w io.Writer) *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("DRDRILL_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// isUsage reports whether err is bad input (nothing ran).
func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}

// failed is exit 1 with a reason to say on stderr (a suite, a comparison).
type failed struct{ msg string }

func (e *failed) Error() string        { return e.msg }
func (e *failed) Is(target error) bool { return target == errCheckFailed }

func failedf(f string, a ...any) error { return &failed{fmt.Sprintf(f, a...)} }
