package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/spf13/cobra"
)

// backends by name, for lab up/down and run --backend (registered by the
// backend packages linked in: see backends.go).
func backends() map[string]lab.Backend { return lab.Backends() }

func backendByName(name string) (lab.Backend, error) { return lab.BackendByName(name) }

// backendNames are the registered backends, sorted, for help and completion.
func backendNames() []string {
	var names []string
	for n := range backends() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

const labDirUsage = "the `DIR` the lab lives in ($DRDRILL_LAB sets the default)"

func backendUsage() string { return "`NAME` of the lab backend: " + orList(backendNames()) }

func defaultLabDir() string {
	if d := os.Getenv("DRDRILL_LAB"); d != "" {
		return d
	}
	return lab.DefaultDir
}

// labOptions are the flags of lab up, down and status.
type labOptions struct {
	dir      string
	backend  string
	json     bool
	failover bool
	tls      bool
}

func newLabCmd(stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Bring the embedded lab up, take it down, or show its status",
		Long: `The embedded lab is two sites (aws and onprem), each a strongSwan gateway and
a MariaDB server (the primary at aws, its replica at onprem), joined by an
IPsec tunnel over a simulated WAN. Its state (lab.json, the sockets, the
logs) lives in a lab directory: --lab, default $DRDRILL_LAB or
` + lab.DefaultDir + `.

drdrill run brings a lab up and takes it down by itself; these commands are
for keeping one up between drills and looking at it.`,
		// Runnable only to reject a missing or unknown subcommand.
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("lab: want %s", commandNames(c))
			}
			return usageErrorf("lab: unknown subcommand %q (want %s)%s", args[0], commandNames(c), suggest(c, args[0]))
		},
		RunE:                  func(*cobra.Command, []string) error { return nil },
		DisableFlagsInUseLine: true,
	}
	var up, down, status labOptions
	upCmd := &cobra.Command{
		Use:   "up",
		Short: "Bring a lab up and leave it running",
		Long: `Bring a lab up in the lab directory with the chosen backend and leave it
running: netns (network namespaces and host daemons; needs root, strongSwan
and MariaDB installed) or docker (containers from the drdrill images).
Prints the lab's id and each site's VICI and MySQL sockets. It fails if a lab
is already up there, or one was left half up (drdrill lab down clears it).`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return labUp(c.Context(), up, c.OutOrStdout(), stderr)
		},
	}
	downCmd := &cobra.Command{
		Use:   "down",
		Short: "Take a lab down and remove its directory",
		Long: `Take the lab in the lab directory down, whichever backend brought it up, and
remove the directory; also clears a lab an earlier run left half up. A
second ^C does not stop the teardown.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return labDown(c.Context(), down, c.OutOrStdout())
		},
	}
	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "Show a lab's state, tunnel and replication",
		Long: `Show the state of the lab in the lab directory: its phase and backend, and
for each site the gateway's tunnel and the database's role and replication,
as text or (--json) as a JSON document.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return labStatus(c.Context(), status, c.OutOrStdout())
		},
	}
	// Each subcommand accepts all three flags, as the one flag set of the
	// earlier parser did (lab down --backend docker in a script still works),
	// but shows only the ones it uses.
	addLabFlags(upCmd, &up, "json")
	upCmd.Flags().BoolVar(&up.failover, "failover", false, "add the failover drills' hosts: a second AWS instance (the cluster's reader), its DNS, two app hosts (netns only)")
	upCmd.Flags().BoolVar(&up.tls, "tls", false, "give the databases TLS certificates from a CA made for the lab; lab target --via ssh then reaches them by address with tls: (netns only)")
	addLabFlags(downCmd, &down, "backend", "json")
	addLabFlags(statusCmd, &status, "backend")
	c.AddCommand(upCmd, downCmd, statusCmd, newLabTargetCmd(), newLabGatewayCmd())
	return c
}

func addLabFlags(c *cobra.Command, o *labOptions, hidden ...string) {
	f := c.Flags()
	f.StringVar(&o.dir, "lab", defaultLabDir(), labDirUsage)
	f.StringVar(&o.backend, "backend", "netns", backendUsage())
	f.BoolVar(&o.json, "json", false, "print the status as JSON")
	for _, h := range hidden {
		f.MarkHidden(h)
	}
	c.MarkFlagDirname("lab")
	c.RegisterFlagCompletionFunc("backend", cobra.FixedCompletions(backendNames(), cobra.ShellCompDirectiveNoFileComp))
}

func labUp(ctx context.Context, o labOptions, stdout, stderr io.Writer) error {
	b, err := backendByName(o.backend)
	if err != nil {
		return err
	}
	if o.failover && b.Name() != "netns" {
		return usageErrorf("lab up: --failover: the failover lab runs on the netns backend only; got --backend %s", b.Name())
	}
	if o.tls && b.Name() != "netns" {
		return usageErrorf("lab up: --tls: the netns backend only; got --backend %s", b.Name())
	}
	start := time.Now()
	info, err := lab.Up(ctx, lab.Options{Dir: o.dir, Backend: b, Log: newLogger(stderr), Failover: o.failover, TLS: o.tls})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %s up at %s in %.2fs (%s backend)\n", info.ID, info.Dir, time.Since(start).Seconds(), info.Backend)
	for _, s := range lab.Sites {
		site := info.Sites[s]
		fmt.Fprintf(stdout, "  %-6s vici %s  mysql %s (%s)\n", s, site.Gateway.VICI, site.DB.Socket, site.DB.Role)
	}
	if f := info.Failover; f != nil {
		fmt.Fprintf(stdout, "  failover: reader mysql %s, dns %s (%s), apps", f.DB2.Socket, f.DNS.Addr, f.DNS.Zone)
		for _, a := range f.Apps {
			fmt.Fprintf(stdout, " %s", a.Name)
		}
		fmt.Fprintln(stdout)
	}
	if t := info.TLS; t != nil {
		fmt.Fprintf(stdout, "  tls: CA %s, account %s (password in %s); drdrill lab target --via ssh uses them\n",
			t.CA, t.User, filepath.Join(info.Dir, lab.TLSPasswordFile))
	}
	return nil
}

func labDown(ctx context.Context, o labOptions, stdout io.Writer) error {
	// Teardown must finish even when the user presses ^C again.
	start := time.Now()
	if err := lab.Down(context.WithoutCancel(ctx), o.dir, backends()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab at %s down in %.2fs\n", o.dir, time.Since(start).Seconds())
	return nil
}

func labStatus(ctx context.Context, o labOptions, stdout io.Writer) error {
	st, err := lab.Status(ctx, o.dir)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	st.Print(stdout)
	return nil
}
