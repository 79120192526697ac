package actors

import (
	"fmt"

	"github.com/switchyard-mcp/switchyard/transports"
)

// startBackend starts the backend of a provider's mode. It may block (a
// process start, an image pull, a connection); callers run it off the
// mailbox.
func (r *Runtime) startBackend(spec Spec, h transports.Hooks) (transports.Backend, error) {
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
	default:
		return nil, fmt.Errorf("%w: mode %q is not supported", ErrInvalid, spec.Mode)
	}
}
