package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/drdrill/drdrill/harness/lab"
	"github.com/spf13/cobra"
)

// newLabTargetCmd is drdrill lab target: a target file for a running lab.
func newLabTargetCmd() *cobra.Command {
	var dir, via string
	c := &cobra.Command{
		Use:   "target",
		Short: "Print a target file (drdrill.target/v1) for a running lab",
		Long: `Print a target file for the lab that is up in the lab directory, so that
drills, preflight, plan and recover can reach the lab the way they reach
real gateways and databases:

  --via local  unix sockets through the filesystem, commands inside each
               host's network namespace (ip netns exec)
  --via ssh    an OpenSSH sshd per host, started in inetd mode inside the
               host's namespace by a proxy_command (nothing listens; no lab
               address is dialled), with a host key, a client key and a
               known_hosts made for this lab

The lab is throwaway: the file allows destructive drills; drdrill run still
needs --yes.`,
		Example: `  drdrill lab target > lab.yaml && drdrill run vpn-outage --target lab.yaml --yes
  drdrill lab target --via ssh > lab-ssh.yaml`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := labTargetFile(c.Context(), dir, via)
			if err != nil {
				return err
			}
			_, err = c.OutOrStdout().Write(b)
			return err
		},
	}
	c.Flags().StringVar(&dir, "lab", defaultLabDir(), labDirUsage)
	c.Flags().StringVar(&via, "via", lab.ViaNetns, "how the file reaches the lab's hosts: `local` or ssh")
	c.MarkFlagDirname("lab")
	c.RegisterFlagCompletionFunc("via", cobra.FixedCompletions([]string{"local", "ssh"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func labTargetFile(_ context.Context, dir, via string) ([]byte, error) {
	if via != lab.ViaNetns && via != lab.ViaSSH {
		return nil, usageErrorf("--via %q: want local or ssh", via)
	}
	info, err := upLab(dir)
	if err != nil {
		return nil, err
	}
	// The gateway commands run this binary ($DRDRILL_BIN overrides it, for
	// a test binary that is not drdrill).
	self := os.Getenv("DRDRILL_BIN")
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the drdrill binary: %w", err)
		}
	}
	o := lab.TargetFileOptions{Via: via, Drdrill: self}
	if via == lab.ViaSSH {
		acc, err := lab.EnableSSH(info)
		if err != nil {
			return nil, fmt.Errorf("lab ssh access: %w", err)
		}
		o.SSH = acc
	}
	return lab.TargetFile(info, o)
}

// upLab loads the lab that is up at dir.
func upLab(dir string) (*lab.Info, error) {
	abs, _ := filepath.Abs(dir)
	info, err := lab.Load(abs)
	if err != nil || info.Phase != lab.PhaseUp {
		return nil, usageErrorf("no lab is up at %s (drdrill lab up --lab %s)", abs, abs)
	}
	return info, nil
}

// newLabGatewayCmd is drdrill lab gateway kill|start: what a lab target
// file's gateway commands run (gateway-crash through a target file).
func newLabGatewayCmd() *cobra.Command {
	var dir, site string
	c := &cobra.Command{
		Use:   "gateway kill|start",
		Short: "Crash a lab gateway's charon (kill -9) or start it again with its VPN",
		Long: `kill: kill -9 the charon of a lab site's gateway (no DELETE is sent).
start: start it again and load its connection and PSK over VICI; returns once
it answers. These are the commands a lab target file gives gateway-crash.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || (args[0] != "kill" && args[0] != "start") {
				return usageErrorf("lab gateway: want kill or start")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			info, err := upLab(dir)
			if err != nil {
				return err
			}
			if info.Sites[site] == nil {
				return usageErrorf("--site %q: want %s", site, orList(lab.Sites))
			}
			// Not lab.Open: it would need the charon it is to start.
			b := backends()[info.Backend]
			if b == nil {
				return fmt.Errorf("lab at %s: backend %q is not in this build", info.Dir, info.Backend)
			}
			if args[0] == "kill" {
				return b.KillGateway(c.Context(), info, site)
			}
			return lab.RestartGateway(c.Context(), info, b, site)
		},
	}
	c.Flags().StringVar(&dir, "lab", defaultLabDir(), labDirUsage)
	c.Flags().StringVar(&site, "site", "", "the `SITE` whose gateway (aws or onprem)")
	c.MarkFlagRequired("site")
	return c
}
