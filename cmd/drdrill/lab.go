package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/drdrill/drdrill/harness/lab"
)

// backends by name, for lab up/down and run --backend (registered by the
// backend packages linked in: see backends.go).
func backends() map[string]lab.Backend { return lab.Backends() }

func backendByName(name string) (lab.Backend, error) { return lab.BackendByName(name) }

func defaultLabDir() string {
	if d := os.Getenv("DRDRILL_LAB"); d != "" {
		return d
	}
	return lab.DefaultDir
}

func cmdLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErrorf("lab: want up, down or status")
	}
	fs := flag.NewFlagSet("lab "+args[0], flag.ContinueOnError)
	dir := fs.String("lab", defaultLabDir(), "lab directory")
	backend := fs.String("backend", "netns", "netns or docker (lab up)")
	asJSON := fs.Bool("json", false, "JSON output (lab status)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("lab %s: unexpected argument %q", args[0], pos[0])
	}
	switch args[0] {
	case "up":
		b, err := backendByName(*backend)
		if err != nil {
			return err
		}
		start := time.Now()
		info, err := lab.Up(ctx, lab.Options{Dir: *dir, Backend: b, Log: newLogger(stderr)})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lab %s up at %s in %.2fs (%s backend)\n", info.ID, info.Dir, time.Since(start).Seconds(), info.Backend)
		for _, s := range lab.Sites {
			site := info.Sites[s]
			fmt.Fprintf(stdout, "  %-6s vici %s  mysql %s (%s)\n", s, site.Gateway.VICI, site.DB.Socket, site.DB.Role)
		}
		return nil
	case "down":
		// Teardown must finish even when the user presses ^C again.
		start := time.Now()
		if err := lab.Down(context.WithoutCancel(ctx), *dir, backends()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lab at %s down in %.2fs\n", *dir, time.Since(start).Seconds())
		return nil
	case "status":
		st, err := lab.Status(ctx, *dir)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		st.Print(stdout)
		return nil
	}
	return usageErrorf("lab: unknown subcommand %q (want up, down or status)", args[0])
}
