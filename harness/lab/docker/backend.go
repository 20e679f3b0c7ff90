package docker

import (
	"context"

	"github.com/drdrill/drdrill/harness/lab"
)

func init() { lab.RegisterBackend("docker", New) }

// New returns the backend that runs the lab in Docker containers. It never pulls: the images
// drdrill/gateway:local and drdrill/db:local are built locally by `make images`.
func New() lab.Backend { return backend{} }

type backend struct{}

func (backend) Name() string { return "docker" }

// Preflight checks, before anything is created, that an engine answers and that both images are
// in its local store. Errors are *lab.EnvError.
func (backend) Preflight() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*pingTimeout)
	defer cancel()
	eng, err := connect(ctx)
	if err != nil {
		return err
	}
	defer eng.close()
	return checkImages(ctx, eng.cli, gatewayImage, dbImage)
}
