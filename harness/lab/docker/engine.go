package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/drdrill/drdrill/harness/lab"
)

// ErrNoDockerEngine is returned, with exactly this text, when no Docker engine answers. It is a
// *lab.EnvError (exit 2).
var ErrNoDockerEngine error = &lab.EnvError{Msg: "the docker backend needs a running Docker engine"}

// pingTimeout bounds the ping that tells whether an engine answers.
const pingTimeout = 5 * time.Second

// engine is one connection: a client that honours DOCKER_HOST strictly and a testcontainers
// provider that uses that same client.
type engine struct {
	cli  *client.Client
	prov *testcontainers.DockerProvider
}

var quietOnce sync.Once

// connect pings the engine named by the environment (DOCKER_HOST or the default socket).
// Any failure to reach it is ErrNoDockerEngine, with nothing else in the text.
func connect(ctx context.Context) (*engine, error) {
	quietOnce.Do(func() {
		// testcontainers prints a multi-line banner on its first engine contact; the CLI's
		// stderr is for one-line reasons. DRDRILL_DOCKER_VERBOSE=1 keeps testcontainers' log.
		if os.Getenv("DRDRILL_DOCKER_VERBOSE") == "" {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
	})
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		// The reaper would have to be pulled; the backend removes what it made itself.
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, ErrNoDockerEngine
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, ErrNoDockerEngine
	}
	return &engine{cli: cli}, nil
}

// provider returns the testcontainers provider, made on first use (only Provision and
// StartGateway need it) and pointed at e.cli.
func (e *engine) provider() (*testcontainers.DockerProvider, error) {
	if e.prov != nil {
		return e.prov, nil
	}
	prov, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tclog.NewNoopLogger()))
	if err != nil {
		return nil, fmt.Errorf("docker lab: testcontainers provider: %w", err)
	}
	if !prov.Config().Config.RyukDisabled {
		prov.Close()
		return nil, errors.New("docker lab: testcontainers' reaper (Ryuk) is enabled but its image cannot be pulled here: set TESTCONTAINERS_RYUK_DISABLED=true (the backend cleans up itself)")
	}
	prov.Close() // its own client: every call goes through e.cli, the engine that answered the ping
	prov.SetClient(e.cli)
	e.prov = prov
	return prov, nil
}

func (e *engine) close() {
	if e.prov != nil {
		e.prov.Close()
	}
	e.cli.Close()
}

// checkImages fails, before anything is created, when an image is not in the local store.
func checkImages(ctx context.Context, cli *client.Client, images ...string) error {
	var missing []string
	for _, img := range images {
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			if cerrdefs.IsNotFound(err) {
				missing = append(missing, img)
				continue
			}
			return fmt.Errorf("docker lab: inspect image %s: %w", img, err)
		}
	}
	if len(missing) > 0 {
		return &lab.EnvError{Msg: fmt.Sprintf("docker lab: image %s not found locally (the docker backend never pulls): run `make images` first", strings.Join(missing, ", "))}
	}
	return nil
}
