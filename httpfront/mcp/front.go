// Package mcp serves MCP to clients: the aggregated server at /mcp (every
// provider's tools and prompts named {provider}__{name}, its resources
// under switchyard://{provider}/), one transparent server per provider at
// /mcp/{provider_id}, and the aggregated tools over stdio.
//
// Clients of /mcp and of a provider's endpoint are served by the relay
// (relay.go, aggregate.go, stateless.go), in every revision. Groups and
// stdio are served by the official Go SDK's server, whose tool sets this
// package keeps in step with the runtime.
package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/httpfront/route"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
	"github.com/switchyard-mcp/switchyard/internal/jsonx"
	"github.com/switchyard-mcp/switchyard/internal/logx"
)

// Sep separates provider and tool in aggregated tool names.
const Sep = "__"

// Options configures the MCP front.
type Options struct {
	// Version is the server version announced to clients.
	Version string
	// Logger receives the SDK's logs.
	Logger *slog.Logger
	// MaxBodyBytes bounds one request body.
	MaxBodyBytes int64
	// SessionTimeout closes client sessions idle this long (default 30m).
	SessionTimeout time.Duration
	// DiscoveryTimeout bounds starting cold providers to learn their tools
	// when a client lists tools (default 15s).
	DiscoveryTimeout time.Duration
	// HITLWait bounds how long a call held for human approval waits for
	// the decision before it answers that the approval is pending
	// (default 60s).
	HITLWait time.Duration
	// MaxSessions bounds the client sessions of /mcp/{id} held at once
	// (default DefaultMaxSessions); one more is refused with 503.
	MaxSessions int
}

// DefaultHITLWait is how long an MCP call held for approval waits for it.
const DefaultHITLWait = 60 * time.Second

// view is one SDK server and the tool definitions it currently holds.
type view struct {
	srv   *sdk.Server
	mu    sync.Mutex
	tools map[string]string // exposed name -> raw definition
}

// Front keeps SDK servers in step with the runtime's providers.
type Front struct {
	rt   *actors.Runtime
	opts Options
	agg  *view
	// relay serves /mcp/{id} sessions (see relay.go).
	relay *relay

	mu  sync.Mutex
	per map[string]*view

	handler fasthttp.RequestHandler
	stop    chan struct{}
	wg      sync.WaitGroup
}

// toolEvents selects the events that change what the views expose.
func toolEvents(e *events.Event) bool {
	switch e.Kind {
	case "ToolsChanged", "ProviderRegistered", "ProviderRemoved", "GroupChanged":
		return true
	}
	return false
}

// New builds the front and starts following the runtime's tool changes.
func New(rt *actors.Runtime, opts Options) *Front {
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 30 * time.Minute
	}
	if opts.DiscoveryTimeout <= 0 {
		opts.DiscoveryTimeout = 15 * time.Second
	}
	if opts.HITLWait <= 0 {
		opts.HITLWait = DefaultHITLWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// The SDK logs some errors once per message: bound them, so one large
	// batch or a flood of bad requests cannot flood the log.
	opts.Logger = slog.New(logx.RateLimit(opts.Logger.Handler(), 0, 0))
	f := &Front{rt: rt, opts: opts, per: map[string]*view{}, stop: make(chan struct{})}
	f.relay = newRelay(f)
	rt.SetClientRelay(f.relay)
	f.agg = f.newView("switchyard", func(ctx context.Context, tool string) {
		if tool == "" {
			f.discover(ctx, "")
		} else if provider, _, ok := strings.Cut(tool, Sep); ok {
			f.discover(ctx, provider)
		}
	})
	h := sdk.NewStreamableHTTPHandler(f.serverFor, &sdk.StreamableHTTPOptions{
		JSONResponse:                 true,
		Logger:                       opts.Logger,
		SessionTimeout:               opts.SessionTimeout,
		MaxRequestBodyBytes:          opts.MaxBodyBytes,
		PropagateRequestCancellation: true,
	})
	f.handler = fasthttpadaptor.NewFastHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The adaptor passes the request's fasthttp context; the caller
		// goes to the SDK's handlers in headers only Serve sets, and the
		// request's cancellation (client gone, drain over) with it.
		if rc, ok := r.Context().(*fasthttp.RequestCtx); ok {
			principal, tenant := web.Who(rc)
			r.Header.Set(principalHeader, principal)
			r.Header.Set(tenantHeader, tenant)
			r = r.WithContext(web.Context(rc))
		} else {
			r.Header.Del(principalHeader)
			r.Header.Del(tenantHeader)
		}
		h.ServeHTTP(w, r)
	}))
	sub := rt.Hub().Subscribe(toolEvents, 1024)
	for _, id := range rt.IDs() {
		f.sync(id)
	}
	f.wg.Add(1)
	go f.follow(sub)
	return f
}

// Server returns the aggregated SDK server (for stdio).
func (f *Front) Server() *sdk.Server { return f.agg.srv }

// Drain ends the streams that carry no call (a session's GET stream,
// subscriptions/listen), so that a graceful shutdown waits only for
// calls; new ones are refused with 503.
func (f *Front) Drain() { f.relay.endStreams() }

// Close stops following the runtime and closes every client session.
func (f *Front) Close() {
	close(f.stop)
	f.wg.Wait()
	f.rt.SetClientRelay(nil)
	f.relay.close()
	views := []*view{f.agg}
	f.mu.Lock()
	for _, v := range f.per {
		views = append(views, v)
	}
	f.mu.Unlock()
	for _, v := range views {
		for ss := range v.srv.Sessions() {
			_ = ss.Close()
		}
	}
}

// newView builds an SDK server whose tools are filled in on demand: warm is
// called before tools/list (tool "") and before a call to a tool the view
// does not hold yet, so providers never started are discovered first.
func (f *Front) newView(name string, warm func(ctx context.Context, tool string)) *view {
	srv := sdk.NewServer(&sdk.Implementation{Name: name, Version: f.opts.Version}, &sdk.ServerOptions{
		Logger:       f.opts.Logger,
		Capabilities: &sdk.ServerCapabilities{Tools: &sdk.ToolCapabilities{ListChanged: true}},
	})
	v := &view{srv: srv, tools: map[string]string{}}
	srv.AddReceivingMiddleware(func(next sdk.MethodHandler) sdk.MethodHandler {
		return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
			switch method {
			case "tools/list":
				warm(ctx, "")
			case "tools/call":
				if r, ok := req.(*sdk.CallToolRequest); ok && r.Params != nil && !v.has(r.Params.Name) {
					warm(ctx, r.Params.Name)
				}
			}
			return next(ctx, method, req)
		}
	})
	return v
}

func (v *view) has(name string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.tools[name]
	return ok
}

func (f *Front) follow(sub *events.Subscription) {
	defer f.wg.Done()
	for {
		select {
		case <-f.stop:
			sub.Close()
			return
		case e := <-sub.C():
			f.sync(e.ProviderID)
			if e.Kind == "ToolsChanged" {
				f.relay.toolsChanged(e.ProviderID)
			}
		case <-sub.Done():
			// Dropped after a burst of changes: resubscribe, then
			// resynchronise everything so nothing missed stays stale.
			sub = f.rt.Hub().Subscribe(toolEvents, 1024)
			for _, id := range f.rt.IDs() {
				f.sync(id)
			}
		}
	}
}

// perView returns the transparent view of a provider, creating it on first
// use.
func (f *Front) perView(id string) *view {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.per[id]
	if v == nil {
		v = f.newView(id, func(ctx context.Context, _ string) { f.discover(ctx, id) })
		f.per[id] = v
	}
	return v
}

// sync brings the aggregated view and the entry's own view in line with
// the current tools of a provider or group, and of the groups a provider
// belongs to.
func (f *Front) sync(id string) {
	tools, ok := f.toolsOf(id)
	if !ok {
		f.mu.Lock()
		delete(f.per, id)
		f.mu.Unlock()
	}
	if f.tenantOf(id) == auth.DefaultTenant {
		f.apply(f.agg, id+Sep, tools, id)
	} else {
		f.apply(f.agg, id+Sep, nil, id)
	}
	f.mu.Lock()
	v := f.per[id]
	f.mu.Unlock()
	if v != nil {
		f.apply(v, "", tools, id)
	}
	if !f.rt.IsGroup(id) {
		for _, g := range f.rt.Groups() {
			for _, m := range g.Members {
				if m.ID == id {
					f.sync(g.Spec.ID)
					break
				}
			}
		}
	}
}

// toolsOf returns what a provider lists, or for a group what its first
// member with known tools lists (members of a group serve the same tools);
// ok is false when id names neither.
func (f *Front) toolsOf(id string) ([]toolDef, bool) {
	ids := []string{id}
	if g, err := f.rt.Group(id); err == nil {
		ids = ids[:0]
		for _, m := range g.Members {
			ids = append(ids, m.ID)
		}
	} else if _, err := f.rt.Get(id); err != nil {
		return nil, false
	}
	for _, pid := range ids {
		info, err := f.rt.Get(pid)
		if err != nil || !info.ToolsKnown {
			continue
		}
		tools := make([]toolDef, 0, len(info.Tools))
		for _, t := range info.Tools {
			tools = append(tools, toolDef{name: t.Name, raw: t.Raw})
		}
		return tools, true
	}
	return nil, true
}

// owner returns the tenant of a provider or a group (the runtime's one
// ownership rule); ok is false when id names neither.
func (f *Front) owner(id string) (tenant string, ok bool) {
	tenant, _, err := f.rt.Owner(id)
	if err != nil {
		return auth.DefaultTenant, false
	}
	return tenant, true
}

// tenantOf is the tenant of a provider or group (the default tenant for
// ids naming nothing).
func (f *Front) tenantOf(id string) string {
	tenant, _ := f.owner(id)
	return tenant
}

type toolDef struct {
	name string
	raw  json.RawMessage
}

// apply makes the tools of a view that start with prefix equal to tools.
func (f *Front) apply(v *view, prefix string, tools []toolDef, provider string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	want := make(map[string]toolDef, len(tools))
	for _, t := range tools {
		want[prefix+t.name] = t
	}
	var gone []string
	for name := range v.tools {
		if strings.HasPrefix(name, prefix) {
			if _, ok := want[name]; !ok {
				gone = append(gone, name)
			}
		}
	}
	if len(gone) > 0 {
		v.srv.RemoveTools(gone...)
		for _, n := range gone {
			delete(v.tools, n)
		}
	}
	for name, t := range want {
		if v.tools[name] == string(t.raw) {
			continue
		}
		var def sdk.Tool
		if err := json.Unmarshal(t.raw, &def); err != nil {
			f.opts.Logger.Warn("skipping a tool whose definition does not parse", "provider", provider, "tool", t.name, "err", err)
			continue
		}
		def.Name = name
		if def.InputSchema == nil {
			def.InputSchema = json.RawMessage(`{"type":"object"}`)
		}
		v.srv.AddTool(&def, f.callHandler(provider, t.name))
		v.tools[name] = string(t.raw)
	}
}

// Headers through which the front hands the caller to the SDK's handlers:
// set by Serve on every request, overwriting whatever the client sent.
const (
	principalHeader = "X-Switchyard-Principal"
	tenantHeader    = "X-Switchyard-Tenant"
)

// caller returns who makes an MCP request: from the headers Serve set, or
// for stdio (no HTTP request) the local user in the default tenant.
func caller(req *sdk.CallToolRequest) (principal, tenant, surface string) {
	if req.Extra != nil && req.Extra.Header != nil {
		if t := req.Extra.Header.Get(tenantHeader); t != "" {
			return req.Extra.Header.Get(principalHeader), t, actors.SurfaceMCP
		}
	}
	return "stdio", auth.DefaultTenant, actors.SurfaceStdio
}

func (f *Front) callHandler(provider, tool string) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		var args []byte
		if req.Params != nil && len(req.Params.Arguments) > 0 && string(req.Params.Arguments) != "null" {
			args = req.Params.Arguments
		}
		// A retry after the server asked for input carries the answers
		// and the server's state through to the backend.
		var extra []byte
		if req.Params != nil && (len(req.Params.InputResponses) > 0 || req.Params.RequestState != "") {
			extra = inputExtra(req.Params.InputResponses, req.Params.RequestState)
		}
		if ask := clientAsker(req); ask != nil {
			ctx = actors.WithAsker(ctx, ask)
		}
		principal, tenant, surface := caller(req)
		for round := 0; ; round++ {
			rep, err := f.rt.Call(ctx, &actors.CallRequest{Tenant: tenant, Principal: principal, Target: provider,
				Tool: tool, Args: args, Extra: extra, Surface: surface})
			var pending *actors.PendingApproval
			if errors.As(err, &pending) {
				rep, err = f.awaitApproval(ctx, tenant, pending.ID)
			}
			if err != nil {
				if errors.Is(err, actors.ErrNotFound) || errors.Is(err, actors.ErrToolNotFound) {
					return nil, err
				}
				return toolError(err.Error()), nil
			}
			var res sdk.CallToolResult
			if err := json.Unmarshal(rep.Result, &res); err != nil {
				return toolError("backend returned an unreadable result: " + err.Error()), nil
			}
			// A client that can answer elicitations gets the server's
			// input requests (the SDK asks it, in either protocol
			// generation); for one that cannot, the question waits in the
			// gateway (/v1/elicit) and the call resumes when it is answered.
			if len(res.InputRequests) == 0 || clientElicits(req) {
				return &res, nil
			}
			if round == maxInputRounds {
				return toolError("the server kept asking for input"), nil
			}
			if extra, err = f.askInGateway(ctx, tenant, tool, &res); err != nil {
				return toolError(err.Error()), nil
			}
		}
	}
}

// awaitApproval waits, up to the HITL wait, for a held call's approval and
// answers with the approved call's result; a denial, an expiry or a
// decision still pending is an error naming the approval.
func (f *Front) awaitApproval(ctx context.Context, tenant, id string) (*actors.CallResult, error) {
	wctx, cancel := context.WithTimeout(ctx, f.opts.HITLWait)
	defer cancel()
	info, err := f.rt.Agents().WaitApproval(wctx, tenant, id)
	if err != nil && info == nil {
		return nil, err
	}
	switch info.Status {
	case actors.ApprovalCompleted:
		return &actors.CallResult{Result: info.Result, IsError: info.IsError}, nil
	case actors.ApprovalDenied:
		return nil, fmt.Errorf("the call was denied by a human reviewer (approval %s)", id)
	case actors.ApprovalFailed:
		return nil, fmt.Errorf("the approved call failed (approval %s): %s", id, info.Error)
	case actors.ApprovalExpired:
		return nil, fmt.Errorf("the approval %s expired undecided", id)
	}
	return nil, fmt.Errorf("the call waits for human approval %s; once approved its result is at /v1/hitl/%s", id, id)
}

// clientAsker relays a backend's elicitation/create during a call to the
// MCP client when it declared elicitation and speaks a protocol that lets
// a server ask mid-request. It returns nil otherwise: the provider then
// holds the question as an elicitation of its tenant, as for any caller
// without an asker.
func clientAsker(req *sdk.CallToolRequest) actors.Asker {
	if !clientElicits(req) || req.Session.InitializeParams().ProtocolVersion >= "2026-07-28" {
		return nil
	}
	return func(ctx context.Context, message string, schema json.RawMessage) (json.RawMessage, error) {
		res, err := req.Session.Elicit(ctx, &sdk.ElicitParams{Message: message, RequestedSchema: schema})
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	}
}

// maxInputRounds bounds the questions one call may ask through the gateway.
const maxInputRounds = 8

func toolError(msg string) *sdk.CallToolResult {
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: msg}}}
}

// clientElicits reports whether the MCP client declared elicitation.
func clientElicits(req *sdk.CallToolRequest) bool {
	if req.Session == nil {
		return false
	}
	ip := req.Session.InitializeParams()
	return ip != nil && ip.Capabilities != nil && ip.Capabilities.Elicitation != nil
}

// inputExtra encodes answers to input requests as tools/call params.
func inputExtra(responses sdk.InputResponseMap, state string) []byte {
	b := []byte(`"inputResponses":`)
	raw, err := json.Marshal(responses)
	if err != nil || responses == nil {
		raw = []byte(`{}`)
	}
	b = append(b, raw...)
	if state != "" {
		b = append(b, `,"requestState":`...)
		b = jsonx.AppendString(b, state)
	}
	return b
}

// askInGateway turns a server's elicitation request into a pending
// elicitation of the provider's tenant, waits for its answer, and returns
// the params to retry the call with.
func (f *Front) askInGateway(ctx context.Context, tenant, tool string, res *sdk.CallToolResult) ([]byte, error) {
	if len(res.InputRequests) != 1 {
		return nil, fmt.Errorf("the server asks for %d inputs at once; the gateway answers one per round", len(res.InputRequests))
	}
	for key, ir := range res.InputRequests {
		p, ok := ir.(*sdk.ElicitParams)
		if !ok {
			return nil, fmt.Errorf("the server asks for %T, which the gateway cannot answer", ir)
		}
		schemaJSON, err := json.Marshal(p.RequestedSchema)
		if err != nil || string(schemaJSON) == "null" {
			schemaJSON = []byte(`{"type":"object"}`)
		}
		content, err := f.rt.Agents().AwaitInput(ctx, actors.ElicitationSpec{Tenant: tenant, Tool: tool,
			Message: p.Message, Schema: schemaJSON})
		if err != nil {
			return nil, err
		}
		b := append([]byte(`"inputResponses":{`), jsonx.AppendString(nil, key)...)
		b = append(b, `:{"action":"accept","content":`...)
		b = append(b, content...)
		b = append(b, `}},"requestState":`...)
		return jsonx.AppendString(b, res.RequestState), nil
	}
	return nil, errors.New("no input request")
}

// discover starts providers whose tools are unknown (all, or one) so a
// tools/list answer is complete, bounded by DiscoveryTimeout.
func (f *Front) discover(ctx context.Context, only string) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.DiscoveryTimeout)
	defer cancel()
	ids := []string{only}
	if only == "" {
		ids = f.rt.IDs()
	} else if g, err := f.rt.Group(only); err == nil {
		ids = ids[:0]
		for _, m := range g.Members {
			ids = append(ids, m.ID)
		}
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		info, err := f.rt.Get(id)
		if err != nil || info.ToolsKnown || info.State == actors.StateDead || info.State == actors.StateStopped ||
			(only == "" && info.Spec.Tenant != auth.DefaultTenant) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.rt.Tools(ctx, id, true); err == nil {
				f.sync(id)
				if only != "" && only != id {
					f.sync(only)
				}
			}
		}()
	}
	wg.Wait()
}

// serverFor picks the SDK server for a request path.
func (f *Front) serverFor(r *http.Request) *sdk.Server {
	id := strings.Trim(strings.TrimPrefix(r.URL.Path, "/mcp"), "/")
	if id == "" {
		return f.agg.srv
	}
	if _, ok := f.owner(id); !ok {
		return nil
	}
	v := f.perView(id)
	f.sync(id)
	return v.srv
}

// Routes are the MCP endpoints /mcp and /mcp/{id}, with every method the
// streamable HTTP transport takes (POST messages, GET the stream, DELETE
// the session); all of them call tools.
func (f *Front) Routes() []route.Route {
	agg := func(ctx *fasthttp.RequestCtx, _ route.Params) { f.Serve(ctx, "") }
	one := func(ctx *fasthttp.RequestCtx, p route.Params) { f.Serve(ctx, p.Get("id")) }
	var rs []route.Route
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		// A POST carries the calls; a GET is the session's stream, which
		// outlives the handler and ends with the session, not the request.
		post := m == http.MethodPost
		rs = append(rs,
			route.Route{Method: m, Pattern: "/mcp", Permission: auth.ToolsCall, Backend: post, Handler: agg},
			route.Route{Method: m, Pattern: "/mcp/{id}", Permission: auth.ToolsCall, Backend: post, Handler: one})
	}
	return rs
}

// Serve handles /mcp (id "") and /mcp/{id}. The listener has checked the
// request's Host and Origin before it gets here (httpfront's guard: one
// rule for every surface).
func (f *Front) Serve(ctx *fasthttp.RequestCtx, id string) {
	tenant := web.Tenant(ctx)
	if id != "" {
		// Another tenant's provider does not exist for this request.
		if f.rt.Owns(tenant, id) != nil {
			web.Error(ctx, web.Errorf(http.StatusNotFound, "ProviderNotFoundError", "no provider or group %q", id))
			return
		}
	} else if tenant != auth.DefaultTenant {
		// The aggregated server holds the default tenant's providers;
		// other tenants reach theirs at /mcp/{id}.
		web.Error(ctx, web.Errorf(http.StatusNotFound, "NotFound",
			"the aggregated /mcp serves tenant %q only; tenant %q reaches its servers at /mcp/{id}", auth.DefaultTenant, tenant))
		return
	}
	if (id == "" || !f.rt.IsGroup(id)) && f.relay.handles(ctx) {
		f.relay.serve(ctx, id)
		return
	}
	if f.refuseBatch(ctx) {
		return
	}
	f.handler(ctx)
}

// batchesRemoved is the protocol revision that dropped JSON-RPC batching.
const batchesRemoved = "2025-06-18"

// refuseBatch answers 400 with a JSON-RPC Invalid Request error to a batch
// (a POST body that is a JSON array) whose protocol revision has no
// batching: the one its MCP-Protocol-Version header names, else the one
// its session negotiated. A batch that names neither (an initialize, or a
// 2025-03-26 client) goes on. It reports whether it answered.
func (f *Front) refuseBatch(ctx *fasthttp.RequestCtx) bool {
	if !ctx.IsPost() {
		return false
	}
	body := ctx.PostBody()
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
		i++
	}
	if i == len(body) || body[i] != '[' {
		return false
	}
	version := string(ctx.Request.Header.Peek("Mcp-Protocol-Version"))
	if version == "" {
		version = f.sessionVersion(ctx)
	}
	if version == "" || version < batchesRemoved {
		return false
	}
	web.Raw(ctx, http.StatusBadRequest, batchRefusal(version))
	return true
}

// batchRefusal is the JSON-RPC error answering a batch of a revision
// without batching.
func batchRefusal(version string) []byte {
	b := append([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":`), jsonx.AppendString(nil,
		"Invalid Request: JSON-RPC batches are not supported in protocol revision "+batchesRemoved+" and later (this request: "+version+")")...)
	return append(b, "}}"...)
}

// sessionVersion is the protocol revision negotiated by the session the
// request names (Mcp-Session-Id) on the server of its path, "" when it
// names none or an unknown one.
func (f *Front) sessionVersion(ctx *fasthttp.RequestCtx) string {
	id := string(ctx.Request.Header.Peek("Mcp-Session-Id"))
	if id == "" {
		return ""
	}
	v := f.agg
	if p := strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/mcp"), "/"); p != "" {
		f.mu.Lock()
		v = f.per[p]
		f.mu.Unlock()
		if v == nil {
			return ""
		}
	}
	for ss := range v.srv.Sessions() {
		if ss.ID() != id {
			continue
		}
		if ip := ss.InitializeParams(); ip != nil {
			return negotiated(ip.ProtocolVersion)
		}
		return ""
	}
	return ""
}

// negotiated is the revision the SDK's initialize answers for the one a
// client asks: the same when supported (and older than the stateless
// 2026-07-28, which has no initialize), else its newest older one.
func negotiated(asked string) string {
	supported := sdk.SupportedProtocolVersions()
	if slices.Contains(supported, asked) && asked < "2026-07-28" {
		return asked
	}
	for _, v := range supported {
		if v < "2026-07-28" {
			return v
		}
	}
	return asked
}
