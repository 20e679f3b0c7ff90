package docker

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/drdrill/drdrill/harness/lab"
)

// KillGateway kills -9 the site's charon inside its container, which keeps running with its
// network state; it returns when no charon is left.
func (b backend) KillGateway(ctx context.Context, info *lab.Info, site string) error {
	if _, ok := defaults[site]; !ok {
		return fmt.Errorf("docker lab: unknown site %q", site)
	}
	_, err := b.Exec(ctx, info, site+"-gw", gatewayCmd, "kill")
	return err
}

// StartGateway starts the site's charon again (or the gateway container, if it is not running)
// and returns when its VICI socket accepts connections.
func (b backend) StartGateway(ctx context.Context, info *lab.Info, rec lab.Recorder, site string) error {
	p, err := makePlan(info)
	if err != nil {
		return err
	}
	sp, ok := p.sites[site]
	if !ok {
		return fmt.Errorf("docker lab: unknown site %q", site)
	}
	host := site + "-gw"
	cname := resourceName(info.ID, host)
	eng, err := connect(ctx)
	if err != nil {
		return err
	}
	defer eng.close()
	st, err := eng.cli.ContainerInspect(ctx, cname, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("docker lab: inspect %s: %w", host, err)
	}
	if st.Container.State != nil && st.Container.State.Running {
		if _, err := execIn(ctx, eng.cli, cname, host, nil, gatewayCmd, "start"); err != nil {
			return err
		}
	} else if _, err := eng.cli.ContainerStart(ctx, cname, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("docker lab: start %s: %w", host, err)
	}
	return waitSocket(ctx, eng.cli, st.Container.ID, host, sp.vici, "charon's VICI socket", daemonLog(sp.dir, true))
}
