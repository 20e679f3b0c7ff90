package docker

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drdrill/drdrill/harness/lab"
)

func TestDockerMissingImage(t *testing.T) {
	eng, err := connect(context.Background())
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	defer eng.close()
	err = checkImages(context.Background(), eng.cli, "drdrill/no-such-image:local")
	if err == nil || !strings.Contains(err.Error(), "make images") || !strings.Contains(err.Error(), "drdrill/no-such-image:local") {
		t.Errorf("error = %v, want it to name the image and `make images`", err)
	} else if _, ok := err.(*lab.EnvError); !ok {
		t.Errorf("error is a %T, want *lab.EnvError (exit 2)", err)
	}
	if err := New().(interface{ Preflight() error }).Preflight(); err != nil {
		t.Logf("Preflight with an engine: %v (images missing?)", err)
	}
}

// No engine: DOCKER_HOST names a socket that does not exist.
func TestDockerNoEngine(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "no-such-docker.sock"))
	info := testInfo(testID(t), filepath.Join(dir, "lab"))
	testRender(t, info)
	b := New()
	ctx := context.Background()
	want := "the docker backend needs a running Docker engine"
	if err := b.Provision(ctx, info, &testRecorder{info: info}); err == nil || err.Error() != want {
		t.Errorf("Provision error = %v, want exactly %q", err, want)
	}
	if p, ok := b.(interface{ Preflight() error }); !ok {
		t.Error("the docker backend has no Preflight")
	} else if err := p.Preflight(); err == nil || err.Error() != want {
		t.Errorf("Preflight error = %v, want exactly %q", err, want)
	} else if _, ok := err.(*lab.EnvError); !ok {
		t.Errorf("Preflight error is a %T, want *lab.EnvError (exit 2)", err)
	}
	if len(info.Resources.Containers)+len(info.Resources.Networks) != 0 {
		t.Errorf("Provision recorded resources without an engine: %+v", info.Resources)
	}
	if _, err := b.Exec(ctx, info, "aws-gw", "true"); err == nil || err.Error() != want {
		t.Errorf("Exec error = %v, want exactly %q", err, want)
	}
	if err := b.Teardown(ctx, info); err != nil {
		t.Errorf("Teardown of a lab that created nothing: %v, want nil", err)
	}
	info.Resources.Networks = []string{info.ID + "-wan"}
	if err := b.Teardown(ctx, info); err == nil || err.Error() != want {
		t.Errorf("Teardown with recorded resources: error = %v, want exactly %q", err, want)
	}
}

// Linking the package in registers the backend: lab.Backends and lab.BackendByName find it.
func TestDockerRegistered(t *testing.T) {
	b, err := lab.BackendByName("docker")
	if err != nil {
		t.Fatalf("BackendByName(docker): %v", err)
	}
	if _, ok := b.(backend); !ok || b.Name() != "docker" {
		t.Errorf("BackendByName(docker) = %T %q, want this package's backend", b, b.Name())
	}
	if _, ok := lab.Backends()["docker"]; !ok {
		t.Errorf("lab.Backends() = %v, want a docker entry", lab.BackendNames())
	}
	var envErr *lab.EnvError
	if !errors.As(ErrNoDockerEngine, &envErr) {
		t.Errorf("ErrNoDockerEngine is a %T, want *lab.EnvError (exit 2)", ErrNoDockerEngine)
	}
}
