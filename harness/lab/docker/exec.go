package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/drdrill/drdrill/harness/lab"
)

// containerName maps a lab host ("aws-gw", or the container name itself) to its container.
func containerName(info *lab.Info, host string) (string, error) {
	if info == nil || info.ID == "" {
		return "", errors.New("docker lab: no lab id")
	}
	if host == "" {
		return "", errors.New("docker lab: empty host name")
	}
	if strings.HasPrefix(host, info.ID+"-") {
		return host, nil
	}
	return resourceName(info.ID, host), nil
}

// Exec runs argv in a lab host's container and returns its combined output. A non-zero exit
// status is an error that carries the output's last lines.
func (b backend) Exec(ctx context.Context, info *lab.Info, host string, argv ...string) ([]byte, error) {
	return b.ExecInput(ctx, info, host, nil, argv...)
}

// ExecInput is Exec with stdin on the command's standard input (nil: none).
func (b backend) ExecInput(ctx context.Context, info *lab.Info, host string, stdin []byte, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("docker lab: exec: empty command")
	}
	cname, err := containerName(info, host)
	if err != nil {
		return nil, err
	}
	eng, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	defer eng.close()
	return execIn(ctx, eng.cli, cname, host, stdin, argv...)
}

// execIn runs argv in container cname (host names it in errors), stdin (if not nil) on its
// standard input, and returns its combined output.
func execIn(ctx context.Context, cli *client.Client, cname, host string, stdin []byte, argv ...string) ([]byte, error) {
	ex, err := cli.ExecCreate(ctx, cname, client.ExecCreateOptions{Cmd: argv, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil, fmt.Errorf("docker lab: exec %s in %s: %w", argv[0], host, err)
	}
	att, err := cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker lab: exec %s in %s: %w", argv[0], host, err)
	}
	defer att.Close()
	if stdin != nil {
		go func() {
			att.Conn.Write(stdin) // a command that exits without reading it has still run
			att.CloseWrite()
		}()
	}
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &out, att.Reader)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		att.Close()
		<-done
		return out.Bytes(), fmt.Errorf("docker lab: exec %s in %s: %w", argv[0], host, ctx.Err())
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("docker lab: exec %s in %s: read output: %w", argv[0], host, err)
	}
	st, err := cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
	if err != nil {
		return out.Bytes(), fmt.Errorf("docker lab: exec %s in %s: %w", argv[0], host, err)
	}
	if st.ExitCode != 0 {
		return out.Bytes(), fmt.Errorf("docker lab: %s in %s exited with status %d: %s", argv[0], host, st.ExitCode, lastLines(out.String(), 5))
	}
	return out.Bytes(), nil
}
