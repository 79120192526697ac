package actors

import (
	"context"
	"fmt"
	"sync"

	"github.com/moby/moby/client"

	"github.com/switchyard-mcp/switchyard/transports"
)

// OwnerLabel labels a container with the gateway (data dir) that owns it,
// across restarts of that gateway.
const OwnerLabel = "io.switchyard.owner"

// docker holds the runtime's shared engine client, made on first use.
type docker struct {
	once sync.Once
	cli  *client.Client
	err  error
}

func (r *Runtime) dockerClient() (*client.Client, error) {
	r.docker.once.Do(func() {
		r.docker.cli, r.docker.err = transports.NewDockerClient()
	})
	return r.docker.cli, r.docker.err
}

// startBackend starts the backend of a provider's mode. It may block (a
// process start, an image pull, a connection); callers run it off the
// mailbox, bounded by ctx.
func (r *Runtime) startBackend(ctx context.Context, spec Spec, h transports.Hooks) (transports.Backend, error) {
	switch spec.Mode {
	case "subprocess":
		return transports.StartProcess(transports.ProcessSpec{
			Command:   spec.Command,
			Env:       childEnv(spec),
			Dir:       spec.Workdir,
			StopGrace: spec.StopGrace,
			Mux:       h.Mux,
			OnStderr:  h.OnStderr,
			OnExit:    h.OnExit,
		})
	case "docker":
		cli, err := r.dockerClient()
		if err != nil {
			return nil, fmt.Errorf("docker engine: %w", err)
		}
		labels := map[string]string{}
		if r.opts.Owner != "" {
			labels[OwnerLabel] = r.opts.Owner
		}
		return transports.StartContainer(ctx, transports.ContainerSpec{
			Client:    cli,
			Image:     spec.Image,
			Command:   spec.Command,
			Env:       spec.Env,
			Volumes:   spec.Volumes,
			Network:   spec.Network,
			ReadOnly:  spec.ReadOnly,
			MemoryMB:  spec.MemoryMB,
			CPUs:      spec.CPUs,
			PidsLimit: spec.PidsLimit,
			Labels:    labels,
			Instance:  r.opts.Instance,
			Provider:  spec.ID,
			StopGrace: spec.StopGrace,
			Hooks:     h,
		})
	case "remote":
		return transports.StartRemote(ctx, transports.RemoteSpec{
			Endpoint:    spec.Endpoint,
			Headers:     spec.Headers,
			BearerToken: spec.BearerToken,
			CAFile:      spec.CAFile,
			Hooks:       h,
		})
	default:
		return nil, fmt.Errorf("%w: mode %q is not supported", ErrInvalid, spec.Mode)
	}
}

// RemoveLeftovers removes the containers an earlier run of this gateway
// (same owner, another instance) left behind, for example after a crash.
// It returns their ids. Without an owner, or without a reachable engine, it
// does nothing and reports why.
func (r *Runtime) RemoveLeftovers(ctx context.Context) ([]string, error) {
	if r.opts.Owner == "" {
		return nil, nil
	}
	cli, err := r.dockerClient()
	if err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	return transports.RemoveStale(ctx, cli, map[string]string{OwnerLabel: r.opts.Owner}, r.opts.Instance)
}

func (r *Runtime) closeDocker() {
	if r.docker.cli != nil {
		_ = r.docker.cli.Close()
	}
}
