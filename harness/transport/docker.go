package transport

import (
	"context"
	"fmt"
	"net"
	"regexp"
)

// Docker is a container on this machine's Docker engine (as the docker
// lab's hosts are): unix sockets are reached through a bind mount at the
// same path, commands run with `docker exec` (-i with a stdin). TCP is refused for the same
// reason as Netns.
type Docker struct{ Container string }

var containerRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// NewDocker checks the container name.
func NewDocker(name string) (Docker, error) {
	if !containerRE.MatchString(name) {
		return Docker{}, fmt.Errorf("docker %q: not a container name", name)
	}
	return Docker{Container: name}, nil
}

func (d Docker) Name() string { return "docker://" + d.Container }

func (d Docker) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "unix" {
		return nil, fmt.Errorf("%s: dial %s %s: only unix sockets (bind-mounted) can be reached in a container from here", d.Name(), network, addr)
	}
	return Local{}.Dial(ctx, network, addr)
}

func (d Docker) Exec(ctx context.Context, argv []string, sudo bool) ([]byte, error) {
	return d.ExecInput(ctx, argv, sudo, nil)
}

func (d Docker) ExecInput(ctx context.Context, argv []string, sudo bool, stdin []byte) ([]byte, error) {
	full := []string{"docker", "exec"}
	if stdin != nil {
		full = append(full, "-i")
	}
	full = append(append(full, d.Container), argv...)
	out, err := Local{}.ExecInput(ctx, full, sudo, stdin)
	if ee, ok := err.(*ExecError); ok {
		ee.Host, ee.Argv = d.Name(), argv
	}
	return out, err
}

func (Docker) Close() error { return nil }
