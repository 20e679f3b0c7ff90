package docker

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// hostfwReady is the line the helper logs once its rules are in place.
const hostfwReady = "drdrill-hostfw: ready"

// runHostfw starts the helper that lets routed traffic cross the lab's internal LAN bridges
// (see the package doc and fixtures/docker/hostfw.sh) and waits until its rules are in place.
func runHostfw(ctx context.Context, eng *engine, prov *testcontainers.DockerProvider, id, cname string, bridges ...string) error {
	withInit := true
	req := testcontainers.ContainerRequest{
		Image:      gatewayImage,
		Name:       cname,
		Entrypoint: []string{hostfwCmd},
		Cmd:        append([]string{"hold", id}, bridges...),
		Labels:     map[string]string{labelLab: id, labelHost: "hostfw", labelRole: "hostfw"},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			hc.Init = &withInit
			hc.CapAdd = []string{"NET_ADMIN", "NET_RAW"}
		},
	}
	ctr, err := prov.CreateContainer(ctx, req)
	if err != nil {
		return fmt.Errorf("docker lab: create hostfw helper: %w", err)
	}
	cid := ctr.GetContainerID()
	if err := ctr.Start(ctx); err != nil {
		return fmt.Errorf("docker lab: start hostfw helper: %w%s", err, logTail(ctx, eng.cli, cid, "hostfw"))
	}
	return wait(ctx, "the hostfw helper to install its rules (its log says ready)", func(ctx context.Context) (bool, string, error) {
		logs := containerLogs(ctx, eng.cli, cid, "all")
		if strings.Contains(logs, hostfwReady) {
			return true, "", nil
		}
		seen := "no ready line in its log yet"
		if l := lastLines(logs, 1); l != "" {
			seen += "; last line: " + l
		}
		if st, err := eng.cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{}); err == nil && st.Container.State != nil {
			if !st.Container.State.Running {
				return false, seen, fmt.Errorf("docker lab: hostfw helper exited with %d:\n%s", st.Container.State.ExitCode, lastLines(logs, logLines))
			}
			seen += "; container " + string(st.Container.State.Status)
		}
		return false, seen, nil
	}, func() string { return logTail(ctx, eng.cli, cid, "hostfw") })
}
