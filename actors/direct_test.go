package actors

import (
	"context"
	"time"
)

// callDirect calls a provider or a group below the admission chain (no
// tenant, schema, policy or audit step), as the lifecycle tests need: the
// provider's own answers, unchanged.
func (r *Runtime) callDirect(ctx context.Context, id, tool string, args []byte) (*CallReply, error) {
	t, err := r.find(id)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(r.callTimeout(t))
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if t.group != nil {
		return r.callGroup(ctx, t.group.route.Load(), invocation{Tool: tool, Args: args}, deadline, askFor{})
	}
	return r.callProvider(ctx, t.provider, invocation{Tool: tool, Args: args}, deadline, askFor{})
}
