package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/switchyard-mcp/switchyard/agents"
	"github.com/switchyard-mcp/switchyard/audit"
	callpkg "github.com/switchyard-mcp/switchyard/call"
	"github.com/switchyard-mcp/switchyard/transports"
)

// DefaultTenant owns what names no tenant of its own.
const DefaultTenant = "default"

// Surfaces a call can come from; they label audit records.
const (
	SurfaceAPI   = callpkg.SurfaceAPI
	SurfaceV1    = callpkg.SurfaceV1
	SurfaceMCP   = callpkg.SurfaceMCP
	SurfaceStdio = callpkg.SurfaceStdio
)

// CallRequest is one tool call (see call.Request); every surface's call
// enters Runtime.Call.
type CallRequest = callpkg.Request

// CallResult answers a CallRequest.
type CallResult = callpkg.Result

// PendingApproval is returned by Call when the tenant's policy wants a
// human to approve the call first.
type PendingApproval = callpkg.PendingApproval

// Tokens is what a call costs a session's budget (see call.Tokens).
func Tokens(args, result []byte) int64 { return callpkg.Tokens(args, result) }

// gatewayCallMetrics are the agent gateway's series the call pipeline and
// the providers keep, named as the Agent Gateway exposes them.
type gatewayCallMetrics struct {
	calls, denied *metrics.Counter
	latency       *metrics.PrometheusHistogram
	poisoning     *metrics.Counter
	hiddenTools   *metrics.Counter
}

func newGatewayCallMetrics(set *metrics.Set) gatewayCallMetrics {
	return gatewayCallMetrics{
		calls:       set.NewCounter("agent_gateway_tool_calls_total"),
		denied:      set.NewCounter("agent_gateway_tool_calls_denied"),
		latency:     set.NewPrometheusHistogram("agent_gateway_tool_latency_seconds"),
		poisoning:   set.NewCounter("agent_gateway_tool_poisoning_detected"),
		hiddenTools: set.NewCounter("switchyard_gateway_hidden_tools_total"),
	}
}

// target is a resolved call target: a provider, or a group.
type target struct {
	provider *providerRef
	group    *groupRef
}

// Owner returns the tenant a provider or a group belongs to, and whether
// id names a group; ErrServerNotFound when it names neither.
func (r *Runtime) Owner(id string) (tenant string, isGroup bool, err error) {
	t, err := r.find(id)
	if err != nil {
		return "", false, err
	}
	return t.tenant(), t.group != nil, nil
}

// Owns checks the one ownership rule: id names a provider or a group of
// the tenant. Another tenant's provider or group is ErrServerNotFound, as
// if it did not exist, so nothing about other tenants is revealed.
func (r *Runtime) Owns(tenant, id string) error {
	_, err := r.resolve(tenant, id)
	return err
}

func (r *Runtime) find(id string) (target, error) {
	r.mu.RLock()
	ref, gref := r.refs[id], r.groups[id]
	r.mu.RUnlock()
	switch {
	case ref != nil:
		return target{provider: ref}, nil
	case gref != nil:
		return target{group: gref}, nil
	}
	return target{}, fmt.Errorf("%w: %q", ErrServerNotFound, id)
}

func (t target) tenant() string {
	if t.provider != nil {
		return t.provider.info.Load().Spec.Tenant
	}
	return t.group.route.Load().spec.Tenant
}

// resolve finds a call's target and applies the ownership rule.
func (r *Runtime) resolve(tenant, id string) (target, error) {
	t, err := r.find(id)
	if err != nil {
		return t, err
	}
	if t.tenant() != tenant {
		return target{}, fmt.Errorf("%w: %q", ErrServerNotFound, id)
	}
	return t, nil
}

// callTimeout bounds a call to the target from its arrival, waiting for a
// start or a free slot included: the provider's call timeout, or for a
// group the longest of its members'.
func (r *Runtime) callTimeout(t target) time.Duration {
	if t.provider != nil {
		return t.provider.info.Load().Spec.CallTimeout
	}
	var d time.Duration
	for _, m := range t.group.route.Load().members {
		if ref, err := r.lookup(m.ID); err == nil {
			d = max(d, ref.info.Load().Spec.CallTimeout)
		}
	}
	if d <= 0 {
		d = 30 * time.Second
	}
	return d
}

// Call runs one tool call through the admission chain every surface shares,
// in this order:
//
//  1. resolve: the target is a provider or group of the call's tenant (the
//     one ownership rule), and so is the session, if any;
//  2. quarantine: a provider whose tools changed since they were pinned is
//     refused (ErrQuarantined);
//  3. schema: the arguments must validate against the tool's input schema;
//  4. tenant policy: a tool in hitl_required_tools is held for a human's
//     approval (a *PendingApproval error) unless this is the approved call;
//  5. session admission: the session's allowlist, token budget and the
//     tenant's max_tool_calls_per_session;
//  6. route: a group picks a member and fails over;
//  7. call: the provider actor and its backend, bounded by the provider's
//     call timeout from the call's arrival and by ctx, whose cancellation
//     reaches the backend as notifications/cancelled;
//  8. accounting: the session's tokens, metrics and the audit record.
//
// Refusals are audited and counted too.
func (r *Runtime) Call(ctx context.Context, c *CallRequest) (*CallResult, error) {
	if r.closing.Load() {
		return nil, ErrShutdown
	}
	gw := r.gw
	arrival := time.Now()
	var (
		sref *agents.SessionRef
		err  error
	)
	if c.Session != "" {
		if sref, err = gw.TenantSession(c.Tenant, c.Session); err != nil {
			return nil, r.refuse(c, err)
		}
	}
	t, err := r.resolve(c.Tenant, c.Target)
	if err != nil {
		return nil, r.refuse(c, err)
	}
	deadline := arrival.Add(r.callTimeout(t))
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if len(c.Args) == 0 || string(c.Args) == "null" {
		c.Args = json.RawMessage("{}")
	}
	def, err := r.toolDef(ctx, t, c.Target, c.Tool, deadline)
	if err != nil {
		return nil, r.refuse(c, err)
	}
	if def != nil {
		if err := r.schemas.ValidateIn(def.Schema, def.InputSchema, c.Args); err != nil {
			return nil, r.refuse(c, err)
		}
	}
	pol := gw.LookupPolicy(c.Tenant)
	if c.Approval == "" && pol.NeedsApproval(c.Tool) {
		if sref != nil {
			// Refuse now what the session would refuse after approval.
			if err := gw.Admit(sref, c.Tool, pol.MaxCalls(), true, 0); err != nil {
				return nil, r.refuse(c, err)
			}
		}
		id, err := gw.RequestApproval(c)
		if err != nil {
			return nil, r.refuse(c, err)
		}
		r.record(c, "pending_approval", 0, nil, nil)
		return nil, &PendingApproval{ID: id}
	}
	upfront := int64(len(c.Args)) / 4
	if sref != nil {
		if err := gw.Admit(sref, c.Tool, pol.MaxCalls(), false, upfront); err != nil {
			return nil, r.refuse(c, err)
		}
	}
	r.gwm.calls.Inc()
	af := askFor{tenant: c.Tenant, session: c.Session, set: true}
	var rep *CallReply
	inv := invocation{Tool: c.Tool, Args: c.Args, Extra: c.Extra, Meta: c.Meta}
	if t.group != nil {
		rep, err = r.callGroup(ctx, t.group.route.Load(), inv, deadline, af)
	} else {
		rep, err = r.callProvider(ctx, t.provider, inv, deadline, af)
	}
	res := &CallResult{}
	var out []byte
	if rep != nil {
		res.Result, res.IsError, res.Latency = rep.Result, rep.IsError, rep.Latency
		out = rep.Result
		r.gwm.latency.Update(rep.Latency.Seconds())
	}
	if sref != nil {
		res.Tokens = Tokens(c.Args, out)
		gw.Done(sref, res.Tokens-upfront)
	}
	if err == nil && c.HoldInput {
		err = gw.HoldInput(c, out)
	}
	var pending *PendingElicitation
	outcome := "ok"
	switch {
	case errors.As(err, &pending):
		outcome = "input_required"
	case err != nil:
		outcome = "error"
	case res.IsError:
		outcome = "tool_error"
	}
	r.record(c, outcome, res.Latency, out, err)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// refuse counts and audits a call the admission chain refused, and
// returns err.
func (r *Runtime) refuse(c *CallRequest, err error) error {
	r.gwm.denied.Inc()
	r.record(c, "denied", 0, nil, err)
	return err
}

// toolDef returns the definition of the tool a target offers, learning
// the tools of a provider never reached (bounded by deadline); nil when a
// provider that cannot run (stopped, dead) was never reached, so it has
// no tools to check against and refuses the call itself. A group's
// members serve the same tools: the first member whose tools are known
// answers, else the first usable member is asked.
func (r *Runtime) toolDef(ctx context.Context, t target, id, tool string, deadline time.Time) (*transports.Tool, error) {
	var tools []transports.Tool
	if t.group != nil {
		members := t.group.route.Load().members
		for _, m := range members {
			if ref, err := r.lookup(m.ID); err == nil {
				if info := ref.info.Load(); info.ToolsKnown {
					if info.Quarantine != "" {
						continue
					}
					tools = info.ServerTools()
					break
				}
			}
		}
		if tools == nil {
			for _, m := range members {
				if !r.usable(m.ID) {
					continue
				}
				var err error
				if tools, err = r.toolsBy(ctx, m.ID, deadline); err == nil {
					break
				}
			}
		}
		if tools == nil {
			return nil, fmt.Errorf("%w: group %s has no member able to take calls", ErrUnavailable, id)
		}
	} else {
		info := t.provider.info.Load()
		if info.Quarantine != "" {
			return nil, fmt.Errorf("%w: server %s: %s", ErrQuarantined, id, info.Quarantine)
		}
		tools = info.ServerTools()
		if !info.ToolsKnown && len(tools) == 0 {
			var err error
			if tools, err = r.toolsBy(ctx, id, deadline); err != nil {
				return nil, err
			}
			info = t.provider.info.Load()
			// The first contact may have quarantined it.
			if info.Quarantine != "" {
				return nil, fmt.Errorf("%w: server %s: %s", ErrQuarantined, id, info.Quarantine)
			}
			if !info.ToolsKnown {
				// Stopped or dead before it was ever reached: nothing to
				// validate against, and the provider refuses the call.
				return nil, nil
			}
		}
	}
	i, ok := slices.BinarySearchFunc(tools, tool, func(t transports.Tool, name string) int { return strings.Compare(t.Name, name) })
	if !ok {
		// Declared tools keep the order they were given in.
		i = slices.IndexFunc(tools, func(t transports.Tool) bool { return t.Name == tool })
		if i < 0 {
			return nil, fmt.Errorf("%w: server %s has no tool %q", ErrToolNotFound, id, tool)
		}
	}
	return &tools[i], nil
}

// toolsBy learns a provider's tools, starting it if need be, by deadline.
func (r *Runtime) toolsBy(ctx context.Context, id string, deadline time.Time) ([]transports.Tool, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tools, err := r.Tools(ctx, id, true)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrTimeout) {
		return nil, fmt.Errorf("%w: learning the tools of %s: %w", ErrTimeout, id, err)
	}
	return tools, err
}

// record writes a tool call's audit entry.
func (r *Runtime) record(c *CallRequest, outcome string, lat time.Duration, out []byte, err error) {
	e := audit.Entry{
		Kind: audit.KindToolCall, Tenant: c.Tenant, Principal: c.Principal, Session: c.Session,
		Server: c.Target, Tool: c.Tool, Outcome: outcome, LatencyMs: float64(lat.Microseconds()) / 1000,
		InputSHA256: audit.Hash(c.Args), OutputSHA256: audit.Hash(out), Surface: c.Surface,
	}
	if err != nil {
		e.Detail = err.Error()
	}
	if c.Approval != "" {
		e.Detail = strings.TrimSpace("approval " + c.Approval + " " + e.Detail)
	}
	r.gw.Record(e)
}

// ForwardRequest is an MCP request other than tools/call (resources,
// prompts, completion, logging) relayed to one provider as it is.
type ForwardRequest struct {
	Tenant, Principal string
	// Target is a provider (groups are not targets: their members may
	// hold different resources and prompts).
	Target string
	Method string
	// Params are the raw members of the request's params object, without
	// the braces; Meta those of its _meta object.
	Params, Meta []byte
}

// Forward relays one request other than tools/call to a provider through
// the steps of the admission chain that are not about a tool: resolve
// (the one ownership rule) and quarantine. The provider starts if it is
// cold, bounded by its call timeout from now and by ctx, whose
// cancellation reaches the backend as notifications/cancelled. The answer
// is the backend's raw result; a JSON-RPC error from it is a
// *transports.RPCError inside the error.
func (r *Runtime) Forward(ctx context.Context, f *ForwardRequest) (json.RawMessage, error) {
	if r.closing.Load() {
		return nil, ErrShutdown
	}
	arrival := time.Now()
	t, err := r.resolve(f.Tenant, f.Target)
	if err != nil {
		return nil, err
	}
	if t.provider == nil {
		return nil, fmt.Errorf("%w: %s is a group: %s goes to one provider", ErrInvalid, f.Target, f.Method)
	}
	if q := t.provider.info.Load().Quarantine; q != "" {
		return nil, fmt.Errorf("%w: server %s: %s", ErrQuarantined, f.Target, q)
	}
	deadline := arrival.Add(r.callTimeout(t))
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	rep, err := r.callProvider(ctx, t.provider, invocation{Method: f.Method, Args: f.Params, Meta: f.Meta}, deadline,
		askFor{tenant: f.Tenant, set: true})
	if err != nil {
		return nil, err
	}
	return rep.Result, nil
}

// Subscribe follows (on) or stops following the updates of a provider's
// resource for one client; each call with on must be matched by one
// without. The provider counts the clients following each resource and
// has its backend follow those with any (resources/subscribe under the
// 2025 revisions, a subscriptions/listen stream under the stateless one),
// on every backend it runs, so that one client letting go never ends
// another's updates; notifications/resources/updated reach the
// ClientRelay. The first follower gets the backend's answer. Resolve and
// quarantine apply as for Forward.
func (r *Runtime) Subscribe(tenant, target, uri string, on bool) error {
	if r.closing.Load() && on {
		return ErrShutdown
	}
	t, err := r.resolve(tenant, target)
	if err != nil {
		return err
	}
	if t.provider == nil {
		return fmt.Errorf("%w: %s is a group: a resource belongs to one provider", ErrInvalid, target)
	}
	info := t.provider.info.Load()
	if q := info.Quarantine; on && q != "" {
		return fmt.Errorf("%w: server %s: %s", ErrQuarantined, target, q)
	}
	m := &subscribe{uri: uri, on: on, reply: make(chan error, 1)}
	r.system.Root.Send(t.provider.pid, m)
	wait := time.NewTimer(r.callTimeout(t))
	defer wait.Stop()
	select {
	case err := <-m.reply:
		return err
	case <-wait.C:
		return fmt.Errorf("%w: provider %s did not answer the subscription within the call timeout", ErrTimeout, target)
	}
}

// ClientRelay carries what a provider's backend sends to its client
// outside a call's answer (notifications, and requests such as sampling)
// to the MCP client sessions whose calls it serves. Both methods run on
// the connection's reader goroutine, in the order the backend wrote, and
// must not block.
type ClientRelay interface {
	// Notify gets every notification of a provider's backend.
	Notify(provider, method string, params json.RawMessage)
	// Request is offered a request of a provider's backend to its client;
	// returning true takes it, and reply must then be called once.
	Request(provider, method string, params json.RawMessage, reply transports.Reply) bool
}

// SetClientRelay installs the relay backends' notifications and requests
// go to (nil removes it). Backends started before see it too.
func (r *Runtime) SetClientRelay(cr ClientRelay) {
	if cr == nil {
		r.relay.Store(nil)
		return
	}
	r.relay.Store(&cr)
}

func (r *Runtime) clientRelay() ClientRelay {
	if p := r.relay.Load(); p != nil {
		return *p
	}
	return nil
}
