// Package agentgw serves the Agent Gateway surface under /v1: the MCP
// server registry, tool discovery and calls with schema validation, agent
// sessions, tenant policies with human approvals, elicitations, and A2A
// delegation. Every object is tenant-scoped: another tenant's object
// answers 404 as if it did not exist.
package agentgw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/httpfront/route"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
	"github.com/switchyard-mcp/switchyard/internal/jsonx"
	"github.com/switchyard-mcp/switchyard/schema"
	"github.com/switchyard-mcp/switchyard/transports"
)

// API serves /v1.
type API struct {
	rt     *actors.Runtime
	limits config.Limits
}

// New returns the /v1 surface over a runtime; limits supply the defaults of
// servers registered through it.
func New(rt *actors.Runtime, limits config.Limits) *API {
	return &API{rt: rt, limits: limits}
}

// handler serves one route; id is the object the path names ("" when it
// names none).
type handler func(a *API, ctx *fasthttp.RequestCtx, id string)

// Routes are the /v1 routes. A path requested with a method none of its
// routes take answers 405 in the /v1 error shape.
func (a *API) Routes() []route.Route {
	get, post, put, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	return []route.Route{
		a.entry(get, "/v1/mcp/servers", auth.ProvidersRead, (*API).listServers),
		a.entry(post, "/v1/mcp/servers", auth.ProvidersWrite, (*API).register),
		a.entry(get, "/v1/mcp/servers/{id}", auth.ProvidersRead, (*API).server),
		a.entry(del, "/v1/mcp/servers/{id}", auth.ProvidersDelete, (*API).deleteServer),
		a.entry(get, "/v1/mcp/servers/{id}/tools", auth.ToolsRead, (*API).serverTools),
		a.entry(get, "/v1/mcp/tools", auth.ToolsRead, (*API).tools),
		backend(a.entry(post, "/v1/mcp/tools/call", auth.ToolsCall, (*API).call)),
		a.entry(get, "/v1/a2a/agents", auth.AgentsRead, (*API).agents),
		a.entry(post, "/v1/a2a/agents", auth.AgentsWrite, (*API).registerAgent),
		a.entry(post, "/v1/a2a/send", auth.AgentsWrite, (*API).send),
		a.entry(get, "/v1/a2a/tasks/{id}", auth.AgentsRead, (*API).task),
		a.entry(get, "/v1/sessions", auth.SessionsRead, (*API).listSessions),
		a.entry(post, "/v1/sessions", auth.SessionsWrite, (*API).createSession),
		a.entry(get, "/v1/sessions/{id}", auth.SessionsRead, (*API).session),
		a.entry(del, "/v1/sessions/{id}", auth.SessionsWrite, (*API).terminateSession),
		a.entry(get, "/v1/sessions/{id}/tools", auth.SessionsRead, (*API).sessionTools),
		backend(a.entry(post, "/v1/sessions/{id}/execute", auth.ToolsCall, (*API).call)),
		a.entry(get, "/v1/policies/{tenant_id}", auth.PoliciesRead, (*API).policy),
		a.entry(put, "/v1/policies/{tenant_id}", auth.PoliciesWrite, (*API).setPolicy),
		a.entry(get, "/v1/hitl/pending", auth.ApprovalsRead, (*API).pending),
		a.entry(get, "/v1/hitl/{id}", auth.ApprovalsRead, (*API).approval),
		backend(a.entry(post, "/v1/hitl/{id}/approve", auth.ApprovalsWrite, (*API).approve)),
		a.entry(post, "/v1/hitl/{id}/deny", auth.ApprovalsWrite, (*API).deny),
		a.entry(post, "/v1/elicit", auth.SessionsWrite, (*API).elicit),
		a.entry(get, "/v1/elicit/{id}", auth.SessionsRead, (*API).elicitation),
		a.entry(post, "/v1/elicit/{id}/respond", auth.SessionsWrite, (*API).respond),
	}
}

// entry is one /v1 route; its handler gets the path's one parameter ("" for
// a path without one).
// backend marks a route whose handler waits on a backend.
func backend(r route.Route) route.Route {
	r.Backend = true
	return r
}

func (a *API) entry(method, pattern string, perm auth.Permission, h handler) route.Route {
	return route.Route{
		Method: method, Pattern: pattern, Permission: perm, NotAllowed: notAllowed,
		Handler: func(ctx *fasthttp.RequestCtx, p route.Params) { h(a, ctx, p.At(0)) },
	}
}

// ---- errors ----

// apiError is a /v1 error: the status and the body's "error" code.
type apiError struct {
	status int
	code   string
	msg    string
	extra  map[string]any
}

func (e *apiError) Error() string { return e.msg }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// notFoundText is what a lookup endpoint answers for each kind of object
// (the seed's {"error": "Server not found"}), by the kind's /v1 code.
var notFoundText = map[string]string{
	"server_not_found":      "Server not found",
	"session_not_found":     "Session not found",
	"approval_not_found":    "Approval not found",
	"task_not_found":        "Task not found",
	"elicitation_not_found": "Elicitation not found",
	"tool_not_found":        "Tool not found",
}

// classify maps a runtime error to the /v1 status and body: the status and
// code come from the one error table (web.Kind); this surface adds only its
// body's extra members. With lookup set, a missing object answers the
// seed's {"error": "<Kind> not found"}.
func classify(err error, lookup bool) *apiError {
	var (
		ae   *apiError
		ve   *schema.ValidationError
		ce   *actors.CollisionError
		pend *actors.PendingApproval
		pel  *actors.PendingElicitation
	)
	if errors.As(err, &ae) {
		return ae
	}
	k := web.Kind(err)
	e := &apiError{status: k.Status, code: k.Code, msg: err.Error()}
	switch {
	case errors.As(err, &pend):
		return &apiError{status: http.StatusAccepted, code: "pending_approval", msg: "Tool call requires human approval",
			extra: map[string]any{"status": "pending_approval", "approval_id": pend.ID}}
	case errors.As(err, &pel):
		return &apiError{status: http.StatusAccepted, code: "pending_elicitation", msg: pel.Message,
			extra: map[string]any{"status": "pending_elicitation", "elicitation_id": pel.ID, "schema": pel.Schema}}
	case errors.As(err, &ve):
		e.msg = "arguments do not match the tool's input schema"
		e.extra = map[string]any{"violations": ve.Violations}
	case errors.As(err, &ce):
		e.extra = map[string]any{"collisions": ce.Names}
	case lookup && k.Status == http.StatusNotFound:
		if text, ok := notFoundText[k.Code]; ok {
			e.code = text
		}
	}
	return e
}

// fail writes err as a /v1 error body.
func fail(ctx *fasthttp.RequestCtx, err error, lookup bool) {
	e := classify(err, lookup)
	body := map[string]any{"error": e.code}
	if e.msg != "" && e.msg != e.code {
		body["message"] = e.msg
	}
	for k, v := range e.extra {
		body[k] = v
	}
	web.RetryAfter(ctx, e.status, err)
	web.JSON(ctx, e.status, body)
}

func notAllowed(ctx *fasthttp.RequestCtx) {
	fail(ctx, newError(http.StatusMethodNotAllowed, "method_not_allowed", "method %s not allowed here", ctx.Method()), false)
}

// ---- identity and tenancy ----

// who returns the request's principal id and tenant. The tenant is the
// credentials' tenant when they carry one (then a body naming another
// tenant is refused), else the body's tenant_id, else web.Tenant's.
func who(ctx *fasthttp.RequestCtx, bodyTenant string) (principal, tenant string, err error) {
	principal, tenant = web.Who(ctx)
	p, _ := ctx.UserValue(web.PrincipalKey).(*auth.Principal)
	switch {
	case bodyTenant == "" || bodyTenant == tenant:
	case p != nil && p.Tenant != "":
		return "", "", newError(http.StatusForbidden, "tenant_mismatch",
			"the credentials act for tenant %q, not %q", p.Tenant, bodyTenant)
	default:
		tenant = bodyTenant
	}
	return principal, tenant, nil
}

// tenantBody is a request body that may name the tenant it acts for.
type tenantBody interface{ bodyTenant() string }

// read decodes the request body into req and resolves the principal and
// tenant it acts for; when it fails it has answered the request.
func read(ctx *fasthttp.RequestCtx, req tenantBody) (principal, tenant string, ok bool) {
	if err := web.Decode(ctx, req, false); err != nil {
		fail(ctx, err, false)
		return "", "", false
	}
	principal, tenant, err := who(ctx, req.bodyTenant())
	if err != nil {
		fail(ctx, err, false)
		return "", "", false
	}
	return principal, tenant, true
}

// reply answers v, or err as a lookup's /v1 error.
func reply(ctx *fasthttp.RequestCtx, v any, err error) {
	if err != nil {
		fail(ctx, err, true)
		return
	}
	web.JSON(ctx, http.StatusOK, v)
}

// tenantOf is who for requests without a body tenant.
func tenantOf(ctx *fasthttp.RequestCtx) (principal, tenant string) {
	principal, tenant, _ = who(ctx, "")
	return principal, tenant
}

// ---- MCP servers ----

type toolView struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

// toolJSON is a tool's definition as the backend gave it, or rebuilt.
func toolJSON(t transports.Tool) json.RawMessage {
	if len(t.Raw) > 0 {
		return t.Raw
	}
	v := toolView{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema}
	if len(v.InputSchema) == 0 {
		v.InputSchema = json.RawMessage(`{}`)
	}
	b, _ := json.Marshal(v)
	return b
}

func toolsJSON(tools []transports.Tool) []json.RawMessage {
	out := make([]json.RawMessage, len(tools))
	for i, t := range tools {
		out[i] = toolJSON(t)
	}
	return out
}

func serverStatus(i *actors.Info) string {
	switch {
	case i.Quarantine != "":
		return "quarantined"
	case i.State == actors.StateDead:
		return "unavailable"
	case i.State == actors.StateStopped:
		return "stopped"
	}
	return "active"
}

// serverURL is where a server is reached: its endpoint, or for a local
// provider its launch target.
func serverURL(s actors.Spec) string {
	switch s.Mode {
	case "remote":
		return s.Endpoint
	case "docker":
		return "docker:" + s.Image
	default:
		return "stdio:" + strings.Join(s.Command, " ")
	}
}

func serverJSON(i *actors.Info) map[string]any {
	name := i.Spec.Name
	if name == "" {
		name = i.Spec.ID
	}
	m := map[string]any{
		"id":          i.Spec.ID,
		"name":        name,
		"url":         serverURL(i.Spec),
		"tenant_id":   i.Spec.Tenant,
		"tools":       toolsJSON(i.ServerTools()),
		"status":      serverStatus(i),
		"state":       i.State,
		"fingerprint": i.ServerFingerprint(),
	}
	if !i.Spec.RegisteredAt.IsZero() {
		m["registered_at"] = i.Spec.RegisteredAt
	}
	if i.Quarantine != "" {
		m["quarantine_reason"] = i.Quarantine
	}
	return m
}

func (a *API) listServers(ctx *fasthttp.RequestCtx, _ string) {
	_, tenant := tenantOf(ctx)
	list := a.rt.TenantServers(tenant)
	page, next, err := web.Page(ctx, list, func(i *actors.Info) string { return i.Spec.ID })
	if err != nil {
		fail(ctx, err, false)
		return
	}
	out := make([]map[string]any, len(page))
	for i, s := range page {
		out[i] = serverJSON(s)
	}
	listJSON(ctx, map[string]any{"servers": out, "total": len(list)}, next)
}

// listJSON answers a page of a list, with next_cursor when more follow.
func listJSON(ctx *fasthttp.RequestCtx, body map[string]any, next string) {
	if next != "" {
		body["next_cursor"] = next
	}
	web.JSON(ctx, http.StatusOK, body)
}

func (a *API) server(ctx *fasthttp.RequestCtx, id string) {
	_, tenant := tenantOf(ctx)
	info, err := a.rt.TenantServer(tenant, id)
	if err != nil {
		fail(ctx, err, true)
		return
	}
	web.JSON(ctx, http.StatusOK, serverJSON(info))
}

func (a *API) deleteServer(ctx *fasthttp.RequestCtx, id string) {
	_, tenant := tenantOf(ctx)
	if err := a.rt.DeleteServer(tenant, id); err != nil {
		fail(ctx, err, true)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"removed": id})
}

func (a *API) serverTools(ctx *fasthttp.RequestCtx, id string) {
	_, tenant := tenantOf(ctx)
	info, err := a.rt.TenantServer(tenant, id)
	if err != nil {
		fail(ctx, err, true)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"tools": toolsJSON(info.ServerTools())})
}

type registerRequest struct {
	ID     string           `json:"id"`
	Name   string           `json:"name"`
	URL    string           `json:"url"`
	Tenant string           `json:"tenant_id"`
	Tools  []registeredTool `json:"tools"`
	// Header is sent with every request to the server (for its own
	// authentication); it is never shown.
	Header map[string]string `json:"headers"`
}

func (r *registerRequest) bodyTenant() string { return r.Tenant }

type registeredTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

func (a *API) register(ctx *fasthttp.RequestCtx, _ string) {
	var req registerRequest
	_, tenant, ok := read(ctx, &req)
	if !ok {
		return
	}
	if req.Name == "" || req.URL == "" {
		fail(ctx, newError(http.StatusBadRequest, "invalid_request", "name and url are required"), false)
		return
	}
	var tools []transports.Tool
	if req.Tools != nil {
		tools = make([]transports.Tool, len(req.Tools))
		for i, t := range req.Tools {
			tools[i] = transports.Tool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema}
			raw, _ := json.Marshal(toolView{Name: t.Name, Description: t.Description, InputSchema: orEmpty(t.InputSchema)})
			tools[i].Raw = raw
		}
	}
	defaults := actors.SpecFromConfig(&config.Provider{ID: "x", Mode: config.Mode("remote"), Endpoint: req.URL}, a.limits)
	defaults.Headers = req.Header
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := a.rt.RegisterServer(c, actors.ServerRegistration{
		ID: req.ID, Name: req.Name, URL: req.URL, Tenant: tenant, Tools: tools, Defaults: defaults,
	})
	if err != nil {
		fail(ctx, err, false)
		return
	}
	web.JSON(ctx, http.StatusCreated, map[string]any{
		"id": info.Spec.ID, "tools_registered": len(info.ServerTools()), "fingerprint": info.ServerFingerprint(),
	})
}

func orEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage(`{}`)
	}
	return raw
}

// toolEntry is one tool in a discovery listing.
type toolEntry struct {
	Tool       json.RawMessage `json:"tool"`
	ServerID   string          `json:"server_id"`
	ServerName string          `json:"server_name"`
	name       string          // the tool's name, its key within the server
}

// discover lists the tenant's callable tools (quarantined servers are
// left out), keeping those keep accepts.
func (a *API) discover(tenant string, keep func(name string) bool) []toolEntry {
	out := []toolEntry{}
	for _, s := range a.rt.TenantServers(tenant) {
		if s.Quarantine != "" {
			continue
		}
		name := s.Spec.Name
		if name == "" {
			name = s.Spec.ID
		}
		for _, t := range s.ServerTools() {
			if keep == nil || keep(t.Name) {
				out = append(out, toolEntry{Tool: toolJSON(t), ServerID: s.Spec.ID, ServerName: name, name: t.Name})
			}
		}
	}
	return out
}

func (a *API) tools(ctx *fasthttp.RequestCtx, _ string) {
	_, tenant := tenantOf(ctx)
	list := a.discover(tenant, nil)
	page, next, err := web.Page(ctx, list, func(t toolEntry) string { return t.ServerID + "/" + t.name })
	if err != nil {
		fail(ctx, err, false)
		return
	}
	listJSON(ctx, map[string]any{"tools": page, "total": len(list)}, next)
}

// ---- tool calls ----

type callRequest struct {
	ServerID  string          `json:"server_id"`
	ToolName  string          `json:"tool_name"`
	Arguments json.RawMessage `json:"arguments"`
	TenantID  string          `json:"tenant_id"`
	SessionID string          `json:"session_id"`
}

// call runs POST /v1/mcp/tools/call, and /v1/sessions/{id}/execute with
// session set.
func (a *API) call(ctx *fasthttp.RequestCtx, session string) {
	var req callRequest
	if err := web.Decode(ctx, &req, false); err != nil {
		fail(ctx, err, false)
		return
	}
	if session != "" {
		if req.SessionID != "" && req.SessionID != session {
			fail(ctx, newError(http.StatusBadRequest, "invalid_request", "session_id %q does not match the path's session %q", req.SessionID, session), false)
			return
		}
		req.SessionID = session
	}
	principal, tenant, err := who(ctx, req.TenantID)
	if err != nil {
		fail(ctx, err, false)
		return
	}
	if req.ServerID == "" || req.ToolName == "" {
		fail(ctx, newError(http.StatusBadRequest, "invalid_request", "server_id and tool_name are required"), false)
		return
	}
	if bytes.Equal(bytes.TrimSpace(req.Arguments), []byte("null")) {
		req.Arguments = nil
	}
	res, err := a.rt.Call(web.Context(ctx), &actors.CallRequest{
		Tenant: tenant, Principal: principal, Session: req.SessionID, Target: req.ServerID,
		Tool: req.ToolName, Args: req.Arguments, Surface: actors.SurfaceV1, HoldInput: true,
	})
	if err != nil {
		fail(ctx, err, false)
		return
	}
	b := make([]byte, 0, len(res.Result)+160)
	b = append(b, `{"result":`...)
	if len(res.Result) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, res.Result...)
	}
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendInt(b, int64(math.Round(float64(res.Latency.Microseconds())/1000)), 10)
	b = append(b, `,"server_id":`...)
	b = jsonx.AppendString(b, req.ServerID)
	b = append(b, `,"tool_name":`...)
	b = jsonx.AppendString(b, req.ToolName)
	if res.IsError {
		b = append(b, `,"is_error":true`...)
	}
	if req.SessionID != "" {
		b = append(b, `,"session_id":`...)
		b = jsonx.AppendString(b, req.SessionID)
		b = append(b, `,"tokens":`...)
		b = strconv.AppendInt(b, res.Tokens, 10)
	}
	b = append(b, '}')
	web.Raw(ctx, http.StatusOK, b)
}

// ---- sessions ----

type sessionRequest struct {
	TenantID    string          `json:"tenant_id"`
	AgentID     string          `json:"agent_id"`
	Allowlist   *[]string       `json:"tool_allowlist"`
	TokenBudget int64           `json:"token_budget"`
	Metadata    json.RawMessage `json:"metadata"`
}

func (r *sessionRequest) bodyTenant() string { return r.TenantID }

func (a *API) listSessions(ctx *fasthttp.RequestCtx, _ string) {
	_, tenant := tenantOf(ctx)
	list := a.rt.Agents().Sessions(tenant)
	page, next, err := web.Page(ctx, list, func(s *actors.SessionInfo) string { return s.ID })
	if err != nil {
		fail(ctx, err, false)
		return
	}
	listJSON(ctx, map[string]any{"sessions": page, "total": len(list)}, next)
}

func (a *API) session(ctx *fasthttp.RequestCtx, id string) {
	_, tenant := tenantOf(ctx)
	info, err := a.rt.Agents().Session(tenant, id)
	reply(ctx, info, err)
}

func (a *API) terminateSession(ctx *fasthttp.RequestCtx, id string) {
	principal, tenant := tenantOf(ctx)
	info, err := a.rt.Agents().TerminateSession(tenant, principal, id)
	if err != nil {
		fail(ctx, err, true)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"id": info.ID, "status": info.Status, "tenant_id": info.Tenant,
		"tool_calls": info.ToolCalls, "tokens_used": info.TokensUsed})
}

// sessionTools lists the tenant's tools a session's allowlist holds.
func (a *API) sessionTools(ctx *fasthttp.RequestCtx, id string) {
	_, tenant := tenantOf(ctx)
	info, err := a.rt.Agents().Session(tenant, id)
	if err != nil {
		fail(ctx, err, true)
		return
	}
	allow := make(map[string]bool, len(info.Allowlist))
	for _, t := range info.Allowlist {
		allow[t] = true
	}
	list := a.discover(tenant, func(name string) bool { return allow[name] })
	web.JSON(ctx, http.StatusOK, map[string]any{"tools": list, "total": len(list)})
}

func (a *API) createSession(ctx *fasthttp.RequestCtx, _ string) {
	var req sessionRequest
	_, tenant, ok := read(ctx, &req)
	if !ok {
		return
	}
	if req.Allowlist == nil {
		fail(ctx, newError(http.StatusBadRequest, "invalid_request",
			"tool_allowlist is required: a session may call only the tools it lists"), false)
		return
	}
	info, err := a.rt.Agents().CreateSession(actors.SessionSpec{
		Tenant: tenant, Agent: req.AgentID, Allowlist: *req.Allowlist,
		TokenBudget: req.TokenBudget, Metadata: req.Metadata,
	})
	if err != nil {
		fail(ctx, err, false)
		return
	}
	web.JSON(ctx, http.StatusCreated, info)
}

// ---- policies ----

type policyRequest struct {
	TenantID               string    `json:"tenant_id"`
	HITLRequiredTools      *[]string `json:"hitl_required_tools"`
	MaxConcurrentSessions  *int      `json:"max_concurrent_sessions"`
	MaxToolCallsPerSession *int      `json:"max_tool_calls_per_session"`
	AllowedNetworkHosts    *[]string `json:"allowed_network_hosts"`
}

// policyTenant checks that the request may act for the path's tenant:
// credentials bound to another tenant see 404.
func policyTenant(ctx *fasthttp.RequestCtx, tenant string) error {
	if _, _, err := who(ctx, tenant); err != nil {
		return newError(http.StatusNotFound, "Policy not found", "no policy for tenant %q", tenant)
	}
	return nil
}

func (a *API) policy(ctx *fasthttp.RequestCtx, tenant string) {
	if err := policyTenant(ctx, tenant); err != nil {
		fail(ctx, err, true)
		return
	}
	web.JSON(ctx, http.StatusOK, a.rt.Agents().Policy(tenant))
}

func (a *API) setPolicy(ctx *fasthttp.RequestCtx, tenant string) {
	if err := policyTenant(ctx, tenant); err != nil {
		fail(ctx, err, true)
		return
	}
	var req policyRequest
	if err := web.Decode(ctx, &req, false); err != nil {
		fail(ctx, err, false)
		return
	}
	if req.TenantID != "" && req.TenantID != tenant {
		fail(ctx, newError(http.StatusBadRequest, "invalid_request", "tenant_id %q does not match the path's tenant %q", req.TenantID, tenant), false)
		return
	}
	// A PUT replaces the policy; fields left out keep their current value.
	p := *a.rt.Agents().Policy(tenant)
	if req.HITLRequiredTools != nil {
		p.HITLRequiredTools = *req.HITLRequiredTools
	}
	if req.MaxConcurrentSessions != nil {
		p.MaxConcurrentSessions = *req.MaxConcurrentSessions
	}
	if req.MaxToolCallsPerSession != nil {
		p.MaxToolCallsPerSession = *req.MaxToolCallsPerSession
	}
	if req.AllowedNetworkHosts != nil {
		p.AllowedNetworkHosts = *req.AllowedNetworkHosts
	}
	out, err := a.rt.SetPolicy(p)
	if err != nil {
		fail(ctx, err, false)
		return
	}
	web.JSON(ctx, http.StatusOK, out)
}

// ---- human approvals ----

func (a *API) pending(ctx *fasthttp.RequestCtx, _ string) {
	_, tenant := tenantOf(ctx)
	list := a.rt.Agents().Approvals(tenant, actors.ApprovalPending)
	page, next, err := web.Page(ctx, list, func(a *actors.ApprovalInfo) string { return a.ID })
	if err != nil {
		fail(ctx, err, false)
		return
	}
	listJSON(ctx, map[string]any{"pending": page, "total": len(list)}, next)
}

func (a *API) approval(ctx *fasthttp.RequestCtx, id string) {
	_, tenant := tenantOf(ctx)
	info, err := a.rt.Agents().Approval(tenant, id)
	reply(ctx, info, err)
}

func (a *API) approve(ctx *fasthttp.RequestCtx, id string) { a.decide(ctx, id, true) }

func (a *API) deny(ctx *fasthttp.RequestCtx, id string) { a.decide(ctx, id, false) }

func (a *API) decide(ctx *fasthttp.RequestCtx, id string, approve bool) {
	principal, tenant := tenantOf(ctx)
	info, err := a.rt.Agents().DecideApproval(tenant, principal, id, approve)
	if err != nil {
		fail(ctx, err, true)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"id": info.ID, "status": info.Status, "resolved_at": info.ResolvedAt})
}

// ---- elicitation ----

type elicitRequest struct {
	SessionID string          `json:"session_id"`
	TenantID  string          `json:"tenant_id"`
	ToolName  string          `json:"tool_name"`
	Message   string          `json:"message"`
	Schema    json.RawMessage `json:"schema"`
}

func (r *elicitRequest) bodyTenant() string { return r.TenantID }

func (a *API) elicit(ctx *fasthttp.RequestCtx, _ string) {
	var req elicitRequest
	_, tenant, ok := read(ctx, &req)
	if !ok {
		return
	}
	if req.SessionID == "" || req.ToolName == "" || req.Message == "" || len(req.Schema) == 0 {
		fail(ctx, newError(http.StatusBadRequest, "invalid_request", "session_id, tool_name, message and schema are required"), false)
		return
	}
	info, err := a.rt.Agents().Elicit(actors.ElicitationSpec{Tenant: tenant, Session: req.SessionID, Tool: req.ToolName,
		Message: req.Message, Schema: req.Schema})
	if err != nil {
		fail(ctx, err, false)
		return
	}
	web.JSON(ctx, http.StatusAccepted, map[string]any{"elicitation_id": info.ID, "status": info.Status,
		"type": info.Type, "message": "Waiting for user input", "expires_at": info.ExpiresAt})
}

func (a *API) elicitation(ctx *fasthttp.RequestCtx, id string) {
	_, tenant := tenantOf(ctx)
	info, err := a.rt.Agents().Elicitation(tenant, id)
	reply(ctx, info, err)
}

// respond answers an elicitation; the body is the answer itself.
func (a *API) respond(ctx *fasthttp.RequestCtx, id string) {
	_, tenant := tenantOf(ctx)
	body := ctx.PostBody()
	if len(body) == 0 || !json.Valid(body) {
		fail(ctx, newError(http.StatusBadRequest, "invalid_request", "the response must be a JSON value"), false)
		return
	}
	info, err := a.rt.Agents().RespondElicitation(tenant, id, append(json.RawMessage(nil), body...))
	if err != nil {
		fail(ctx, err, true)
		return
	}
	out := map[string]any{"elicitation_id": info.ID, "status": info.Status, "response": info.Response}
	// A server's question answered: the call it held has resumed.
	if info.Server != "" {
		out["server_id"], out["tool_name"] = info.Server, info.Tool
		switch {
		case info.Next != "":
			out["next_elicitation_id"] = info.Next
		case info.CallError != "":
			out["call_error"] = info.CallError
		default:
			out["result"] = info.CallResult
		}
	}
	web.JSON(ctx, http.StatusOK, out)
}

// ---- A2A ----

type agentRequest struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	URL          string   `json:"url"`
	TenantID     string   `json:"tenant_id"`
	Capabilities []string `json:"capabilities"`
	Description  string   `json:"description"`
}

func (r *agentRequest) bodyTenant() string { return r.TenantID }

func (a *API) agents(ctx *fasthttp.RequestCtx, _ string) {
	_, tenant := tenantOf(ctx)
	list := a.rt.Agents().Agents(tenant)
	page, next, err := web.Page(ctx, list, func(a *actors.Agent) string { return a.ID })
	if err != nil {
		fail(ctx, err, false)
		return
	}
	body := map[string]any{"agents": page, "total": len(list)}
	if len(list) == 0 {
		body["note"] = "Register agents via POST /v1/a2a/agents"
	}
	listJSON(ctx, body, next)
}

func (a *API) registerAgent(ctx *fasthttp.RequestCtx, _ string) {
	var req agentRequest
	_, tenant, ok := read(ctx, &req)
	if !ok {
		return
	}
	created, err := a.rt.RegisterAgent(actors.Agent{ID: req.ID, Name: req.Name, URL: req.URL, Tenant: tenant,
		Capabilities: req.Capabilities, Description: req.Description})
	if err != nil {
		fail(ctx, err, false)
		return
	}
	if created {
		web.JSON(ctx, http.StatusCreated, map[string]any{"id": req.ID, "status": "registered"})
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"id": req.ID, "status": "updated"})
}

type sendRequest struct {
	From      string          `json:"from_agent"`
	To        string          `json:"to_agent"`
	Message   json.RawMessage `json:"message"`
	TenantID  string          `json:"tenant_id"`
	SessionID string          `json:"session_id"`
	Chain     []string        `json:"delegation_chain"`
}

func (r *sendRequest) bodyTenant() string { return r.TenantID }

func (a *API) send(ctx *fasthttp.RequestCtx, _ string) {
	var req sendRequest
	principal, tenant, ok := read(ctx, &req)
	if !ok {
		return
	}
	if m := bytes.TrimSpace(req.Message); len(m) == 0 || m[0] != '{' {
		fail(ctx, newError(http.StatusBadRequest, "invalid_request", "message must be a JSON object"), false)
		return
	}
	if req.SessionID != "" {
		if _, err := a.rt.Agents().Session(tenant, req.SessionID); err != nil {
			fail(ctx, err, false)
			return
		}
	}
	task, err := a.rt.Agents().Send(context.Background(), actors.Delegation{Tenant: tenant, Principal: principal, Session: req.SessionID,
		From: req.From, To: req.To, Message: req.Message, Chain: req.Chain})
	if err != nil {
		fail(ctx, err, false)
		return
	}
	body := map[string]any{"task_id": task.ID, "status": task.Status, "from": task.From, "to": task.To,
		"delegation_chain": task.Chain}
	switch task.Status {
	case actors.TaskCompleted:
		body["result"] = task.Result
		web.JSON(ctx, http.StatusOK, body)
	case actors.TaskPending:
		body["note"] = "Target agent not registered — task queued"
		web.JSON(ctx, http.StatusAccepted, body)
	case actors.TaskFailed:
		e := classify(task.Err(), false)
		body["error"], body["message"] = e.code, e.msg
		if task.Result != nil {
			body["result"] = task.Result
		}
		web.JSON(ctx, e.status, body)
	default: // still working, or waiting for input
		if task.Result != nil {
			body["result"] = task.Result
		}
		web.JSON(ctx, http.StatusAccepted, body)
	}
}

func (a *API) task(ctx *fasthttp.RequestCtx, id string) {
	_, tenant := tenantOf(ctx)
	t, err := a.rt.Agents().Task(tenant, id)
	reply(ctx, t, err)
}
