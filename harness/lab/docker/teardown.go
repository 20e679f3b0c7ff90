package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/drdrill/drdrill/harness/lab"
)

// Teardown removes every container and network the lab recorded or labelled with info.ID,
// the host-firewall helper first (its SIGTERM removes its rules). Idempotent.
func (b backend) Teardown(ctx context.Context, info *lab.Info) error {
	if info == nil || info.ID == "" {
		return errors.New("docker lab: teardown needs the lab id")
	}
	eng, err := connect(ctx)
	if err != nil {
		if len(info.Resources.Containers) == 0 && len(info.Resources.Networks) == 0 {
			return nil // nothing was ever created: nothing to do, engine or not
		}
		return err
	}
	defer eng.close()
	ctx = context.WithoutCancel(ctx) // cleanup runs to its end, also after an interrupt
	cli := eng.cli
	label := make(client.Filters).Add("label", labelLab+"="+info.ID)

	// Containers: recorded names plus whatever carries the label (a crashed run's leftovers).
	targets := map[string]string{} // name or id -> role
	for _, c := range info.Resources.Containers {
		targets[c] = ""
	}
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: label})
	if err != nil {
		return fmt.Errorf("docker lab: list containers of lab %s: %w", info.ID, err)
	}
	for _, c := range res.Items {
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		delete(targets, name)
		delete(targets, c.ID)
		targets[name] = c.Labels[labelRole]
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	// The hostfw helper removes its firewall rules on SIGTERM: stop it gracefully, then remove it,
	// in parallel with the forced removal of the lab hosts.
	for name, role := range targets {
		wg.Add(1)
		go func(name, role string) {
			defer wg.Done()
			if role == "hostfw" || strings.HasSuffix(name, "-hostfw") {
				timeout := 5
				if _, err := cli.ContainerStop(ctx, name, client.ContainerStopOptions{Timeout: &timeout}); err != nil && !cerrdefs.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("docker lab: stop %s: %w", name, err))
					mu.Unlock()
				}
			}
			if _, err := cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("docker lab: remove container %s: %w", name, err))
				mu.Unlock()
			}
		}(name, role)
	}
	wg.Wait()

	nets := map[string]bool{}
	for _, n := range info.Resources.Networks {
		nets[n] = true
	}
	nres, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: label})
	if err != nil {
		errs = append(errs, fmt.Errorf("docker lab: list networks of lab %s: %w", info.ID, err))
	} else {
		for _, n := range nres.Items {
			delete(nets, n.ID)
			nets[n.Name] = true
		}
	}
	for n := range nets {
		wg.Add(1)
		go func(n string) {
			defer wg.Done()
			if _, err := cli.NetworkRemove(ctx, n, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("docker lab: remove network %s: %w", n, err))
				mu.Unlock()
			}
		}(n)
	}
	wg.Wait()
	return errors.Join(errs...)
}
