// Package hangar serves the native control plane under /api, shaped like
// the MCP Hangar REST API: providers, their tools, health, logs and history,
// the system summary, and tool calls.
package hangar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/httpfront/route"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
	"github.com/switchyard-mcp/switchyard/internal/jsonx"
)

// API serves the /api providers surface.
type API struct {
	rt     *actors.Runtime
	limits config.Limits
}

// New returns the /api surface over a runtime; limits supply the defaults
// of providers created through it.
func New(rt *actors.Runtime, limits config.Limits) *API {
	return &API{rt: rt, limits: limits}
}

// Routes are the /api providers, groups and system routes.
func (a *API) Routes() []route.Route {
	get, post, put, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	return []route.Route{
		{Method: get, Pattern: "/api/system", Permission: auth.SystemRead, Handler: plain(a.system)},
		{Method: get, Pattern: "/api/providers", Permission: auth.ProvidersRead, Handler: plain(a.list)},
		{Method: post, Pattern: "/api/providers", Permission: auth.ProvidersWrite, Handler: plain(a.create)},
		{Method: get, Pattern: "/api/providers/{id}", Permission: auth.ProvidersRead, Handler: a.provider(a.get)},
		{Method: put, Pattern: "/api/providers/{id}", Permission: auth.ProvidersWrite, Handler: a.provider(a.update)},
		{Method: del, Pattern: "/api/providers/{id}", Permission: auth.ProvidersDelete, Handler: a.provider(a.delete)},
		{Method: post, Pattern: "/api/providers/{id}/start", Permission: auth.ProvidersStart, Backend: true, Handler: a.provider(a.start)},
		{Method: post, Pattern: "/api/providers/{id}/stop", Permission: auth.ProvidersStop, Handler: a.provider(a.stop)},
		{Method: get, Pattern: "/api/providers/{id}/tools", Permission: auth.ToolsRead, Handler: a.provider(a.tools)},
		{Method: get, Pattern: "/api/providers/{id}/health", Permission: auth.ProvidersRead, Handler: a.provider(a.health)},
		{Method: get, Pattern: "/api/providers/{id}/logs", Permission: auth.ProvidersRead, Handler: a.provider(a.logs)},
		{Method: get, Pattern: "/api/providers/{id}/tools/history", Permission: auth.ToolsRead, Handler: a.provider(a.history)},
		{Method: post, Pattern: "/api/providers/{id}/tools/{tool}/call", Permission: auth.ToolsCall, Backend: true, Handler: a.toolCall},
		{Method: get, Pattern: "/api/groups", Permission: auth.GroupsRead, Handler: plain(a.listGroups)},
		{Method: post, Pattern: "/api/groups", Permission: auth.GroupsWrite, Handler: plain(a.createGroup)},
		{Method: get, Pattern: "/api/groups/{id}", Permission: auth.GroupsRead, Handler: a.group(a.getGroup)},
		{Method: put, Pattern: "/api/groups/{id}", Permission: auth.GroupsWrite, Handler: a.group(a.updateGroup)},
		{Method: del, Pattern: "/api/groups/{id}", Permission: auth.GroupsDelete, Handler: a.group(a.deleteGroup)},
		{Method: post, Pattern: "/api/groups/{id}/rebalance", Permission: auth.GroupsWrite, Handler: a.group(a.rebalance)},
		{Method: post, Pattern: "/api/groups/{id}/members", Permission: auth.GroupsWrite, Handler: a.group(a.addMember)},
		{Method: del, Pattern: "/api/groups/{id}/members/{member}", Permission: auth.GroupsWrite, Handler: a.removeMember},
	}
}

// plain adapts a handler of a path without parameters.
func plain(h func(*fasthttp.RequestCtx)) route.Handler {
	return func(ctx *fasthttp.RequestCtx, _ route.Params) { h(ctx) }
}

// provider adapts a handler of /api/providers/{id}[/...].
func (a *API) provider(h func(*fasthttp.RequestCtx, string)) route.Handler {
	return func(ctx *fasthttp.RequestCtx, p route.Params) {
		if id := p.Get("id"); a.visible(ctx, id) {
			h(ctx, id)
		}
	}
}

// toolCall serves POST /api/providers/{id}/tools/{tool}/call.
func (a *API) toolCall(ctx *fasthttp.RequestCtx, p route.Params) {
	// The call pipeline applies the ownership rule itself.
	a.call(ctx, p.Get("id"), p.Get("tool"))
}

// visible answers 404 for an id that is not a provider or group of the
// request's tenant (the runtime's one ownership rule), whatever the route,
// and reports whether the request may go on.
func (a *API) visible(ctx *fasthttp.RequestCtx, id string) bool {
	if err := a.rt.Owns(web.Tenant(ctx), id); err != nil {
		web.Error(ctx, err)
		return false
	}
	return true
}

// summary is one provider in the list.
type summary struct {
	Provider        string `json:"provider"`
	State           string `json:"state"`
	Mode            string `json:"mode"`
	Alive           bool   `json:"alive"`
	ToolsCount      int    `json:"tools_count"`
	HealthStatus    string `json:"health_status"`
	ToolsPredefined bool   `json:"tools_predefined"`
	Description     string `json:"description,omitempty"`
}

func summarize(i *actors.Info) summary {
	return summary{
		Provider: i.Spec.ID, State: string(i.State), Mode: i.Spec.Mode, Alive: i.Alive,
		ToolsCount: len(i.Tools), HealthStatus: i.HealthStatus(), Description: i.Spec.Description,
	}
}

var validStates = map[string]bool{
	"cold": true, "initializing": true, "ready": true, "degraded": true, "dead": true, "stopped": true,
}

func (a *API) list(ctx *fasthttp.RequestCtx) {
	state := string(ctx.QueryArgs().Peek("state"))
	if state != "" && !validStates[state] {
		web.Error(ctx, web.Errorf(http.StatusBadRequest, "ValidationError",
			"state must be one of cold, initializing, ready, degraded, dead, stopped (got %q)", state))
		return
	}
	list := a.rt.TenantServers(web.Tenant(ctx))
	if state != "" {
		list = slices.DeleteFunc(list, func(i *actors.Info) bool { return string(i.State) != state })
	}
	page, next, err := web.Page(ctx, list, func(i *actors.Info) string { return i.Spec.ID })
	if err != nil {
		web.Error(ctx, err)
		return
	}
	out := make([]summary, len(page))
	for i, info := range page {
		out[i] = summarize(info)
	}
	listJSON(ctx, map[string]any{"providers": out}, next)
}

// listJSON answers a page of a list, with next_cursor when more follow.
func listJSON(ctx *fasthttp.RequestCtx, body map[string]any, next string) {
	if next != "" {
		body["next_cursor"] = next
	}
	web.JSON(ctx, http.StatusOK, body)
}

// create registers a provider from a body with the fields of a provider
// of the configuration file (plus provider_id), decoded by the same strict
// parser: one field list, one set of rules.
func (a *API) create(ctx *fasthttp.RequestCtx) {
	p, err := config.ParseProvider("request body", ctx.PostBody(), "provider_id")
	if err != nil {
		web.Error(ctx, web.WithCode(err, http.StatusBadRequest, "ValidationError"))
		return
	}
	// A provider belongs to the request's tenant; naming another one is
	// refused rather than silently creating it where the caller cannot see it.
	if tenant := web.Tenant(ctx); p.Tenant == "" {
		p.Tenant = tenant
	} else if p.Tenant != tenant {
		web.Error(ctx, web.Errorf(http.StatusForbidden, "Forbidden", "tenant %q is not the request's tenant %q", p.Tenant, tenant))
		return
	}
	if err := a.rt.Register(p, a.limits); err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusCreated, map[string]any{"provider_id": p.ID, "created": true})
}

func (a *API) get(ctx *fasthttp.RequestCtx, id string) {
	i, err := a.rt.Get(id)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, detail(i))
}

func detail(i *actors.Info) map[string]any {
	s := i.Spec
	cfg := map[string]any{
		"mode":                    s.Mode,
		"idle_ttl_s":              s.IdleTTL.Seconds(),
		"health_check_interval_s": s.HealthInterval.Seconds(),
		"call_timeout_s":          s.CallTimeout.Seconds(),
		"tenant":                  s.Tenant,
		"env_keys":                envKeys(s.Env),
	}
	if len(s.Command) > 0 {
		cfg["command"] = s.Command
	}
	return map[string]any{
		"provider":         s.ID,
		"state":            i.State,
		"mode":             s.Mode,
		"alive":            i.Alive,
		"description":      s.Description,
		"tools_count":      len(i.Tools),
		"tools_predefined": false,
		"health_status":    i.HealthStatus(),
		"tools":            toolList(i),
		"health":           healthBody(i),
		"config":           cfg,
		"restarts":         i.Restarts,
		"last_error":       i.LastError,
		"pid":              i.Pid,
		"backend":          i.Backend,
		"server":           i.Server,
		"total_calls":      i.Calls,
		"total_errors":     i.Errors,
		"in_flight":        i.InFlight,
		"queued":           i.Queued,
	}
}

// envKeys lists env names only: values may hold secrets.
func envKeys(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k := range env {
		out = append(out, k)
	}
	return out
}

type toolEntry struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

func toolList(i *actors.Info) []toolEntry {
	out := make([]toolEntry, 0, len(i.Tools))
	for _, t := range i.Tools {
		out = append(out, toolEntry{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
	}
	return out
}

func healthBody(i *actors.Info) map[string]any {
	return map[string]any{
		"provider_id":          i.Spec.ID,
		"state":                i.State,
		"health_status":        i.HealthStatus(),
		"alive":                i.Alive,
		"consecutive_failures": i.HealthFailures,
		"last_check":           i.LastHealthCheck,
		"history":              i.Health,
		"restarts":             i.Restarts,
		"last_error":           i.LastError,
	}
}

// updateRequest is the body of PUT /api/providers/{id}.
type updateRequest struct {
	Description         *string           `json:"description"`
	Env                 map[string]string `json:"env"`
	IdleTTL             *float64          `json:"idle_ttl_s"`
	HealthCheckInterval *float64          `json:"health_check_interval_s"`
}

func seconds(p *float64, field string) (*time.Duration, error) {
	if p == nil {
		return nil, nil
	}
	if *p < 0 || *p > 1e9 {
		return nil, web.Errorf(http.StatusBadRequest, "ValidationError", "%s must be between 0 and 1e9 seconds", field)
	}
	d := time.Duration(*p * float64(time.Second))
	return &d, nil
}

func (a *API) update(ctx *fasthttp.RequestCtx, id string) {
	var req updateRequest
	if err := web.Decode(ctx, &req, false); err != nil {
		web.Error(ctx, err)
		return
	}
	u := &actors.Update{Description: req.Description, Env: req.Env}
	var err error
	if u.IdleTTL, err = seconds(req.IdleTTL, "idle_ttl_s"); err != nil {
		web.Error(ctx, err)
		return
	}
	if u.HealthInterval, err = seconds(req.HealthCheckInterval, "health_check_interval_s"); err != nil {
		web.Error(ctx, err)
		return
	}
	if err := a.rt.Update(id, u); err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"provider_id": id, "updated": true})
}

func (a *API) delete(ctx *fasthttp.RequestCtx, id string) {
	if err := a.rt.Unregister(id); err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"provider_id": id, "deleted": true})
}

func (a *API) start(ctx *fasthttp.RequestCtx, id string) {
	state, err := a.rt.Start(web.Context(ctx), id)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	i, _ := a.rt.Get(id)
	tools := 0
	if i != nil {
		tools = len(i.Tools)
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"provider_id": id, "state": state, "started": true, "tools_count": tools})
}

func (a *API) stop(ctx *fasthttp.RequestCtx, id string) {
	req := struct {
		Reason string `json:"reason"`
	}{Reason: "user_request"}
	if err := web.Decode(ctx, &req, true); err != nil {
		web.Error(ctx, err)
		return
	}
	state, err := a.rt.Stop(id, req.Reason)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"provider_id": id, "state": state, "stopped": true, "reason": req.Reason})
}

func (a *API) tools(ctx *fasthttp.RequestCtx, id string) {
	if _, err := a.rt.Tools(context.Background(), id, true); err != nil {
		web.Error(ctx, err)
		return
	}
	i, err := a.rt.Get(id)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"provider_id": id, "tools": toolList(i)})
}

func (a *API) health(ctx *fasthttp.RequestCtx, id string) {
	i, err := a.rt.Get(id)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, healthBody(i))
}

// intParam reads an integer query parameter within [lo, hi].
func intParam(ctx *fasthttp.RequestCtx, name string, def, lo, hi int64) (int64, error) {
	raw := ctx.QueryArgs().Peek(name)
	if len(raw) == 0 {
		return def, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, web.Errorf(http.StatusBadRequest, "ValidationError", "%s must be an integer from %d to %d (got %q)", name, lo, hi, raw)
	}
	return n, nil
}

func (a *API) logs(ctx *fasthttp.RequestCtx, id string) {
	n, err := intParam(ctx, "lines", 100, 1, 1000)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	lines, err := a.rt.Logs(id, int(n))
	if err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"logs": lines, "provider_id": id, "count": len(lines)})
}

func (a *API) history(ctx *fasthttp.RequestCtx, id string) {
	limit, err := intParam(ctx, "limit", 100, 1, 500)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	from, err := intParam(ctx, "from_position", 0, 0, 1<<62)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	h, err := a.rt.History(id, int(limit), from)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	records := h.Records
	if records == nil {
		records = []actors.Invocation{}
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"provider_id": id, "history": records, "total": h.Total})
}

// system answers GET /api/system with the request's tenant's numbers
// only: its providers, their tools and the calls they finished.
func (a *API) system(ctx *fasthttp.RequestCtx) {
	byState := map[string]int{}
	total, tools := 0, 0
	var calls int64
	for _, i := range a.rt.TenantServers(web.Tenant(ctx)) {
		total++
		byState[string(i.State)]++
		tools += len(i.Tools)
		calls += i.Calls
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"system": map[string]any{
		"total_providers":    total,
		"providers_by_state": byState,
		"total_tools":        tools,
		"total_tool_calls":   calls,
		"uptime_seconds":     a.rt.Uptime().Seconds(),
		"version":            a.rt.Version(),
	}})
}

// callRequest is the body of POST /api/providers/{id}/tools/{tool}/call.
// ParseArguments checks a call body and returns the raw arguments object
// (nil when absent or null). The result is a copy, so it outlives the
// request's body. One pass over the body: it is on every call's path.
func ParseArguments(body []byte) (json.RawMessage, error) {
	if len(body) == 0 || string(bytes.TrimSpace(body)) == "null" {
		return nil, nil
	}
	var args []byte
	err := jsonx.Members(body, func(k, v []byte) bool {
		if bytes.EqualFold(k, []byte("arguments")) { // as encoding/json matches names
			args = v
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", web.ErrBadJSON, err)
	}
	if len(args) == 0 || string(args) == "null" {
		return nil, nil
	}
	if args[0] != '{' {
		return nil, fmt.Errorf("%w: arguments must be a JSON object", web.ErrBadJSON)
	}
	return bytes.Clone(args), nil
}

func (a *API) call(ctx *fasthttp.RequestCtx, id, tool string) {
	args, err := ParseArguments(ctx.PostBody())
	if err != nil {
		web.Error(ctx, err)
		return
	}
	principal, tenant := web.Who(ctx)
	rep, err := a.rt.Call(web.Context(ctx), &actors.CallRequest{
		Tenant: tenant, Principal: principal, Target: id, Tool: tool, Args: args, Surface: actors.SurfaceAPI,
	})
	var pending *actors.PendingApproval
	if errors.As(err, &pending) {
		web.JSON(ctx, http.StatusAccepted, map[string]any{"status": "pending_approval", "approval_id": pending.ID,
			"provider_id": id, "tool_name": tool})
		return
	}
	if err != nil {
		web.Error(ctx, err)
		return
	}
	b := make([]byte, 0, len(rep.Result)+len(id)+len(tool)+80)
	b = append(b, `{"provider_id":`...)
	b = jsonx.AppendString(b, id)
	b = append(b, `,"tool_name":`...)
	b = jsonx.AppendString(b, tool)
	b = append(b, `,"result":`...)
	b = append(b, rep.Result...)
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendFloat(b, float64(rep.Latency.Microseconds())/1000, 'f', 3, 64)
	b = append(b, '}')
	web.Raw(ctx, http.StatusOK, b)
}
