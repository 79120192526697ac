package hangar

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/httpfront/route"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
)

// group adapts a handler of /api/groups/{id}[/...]. Another tenant's
// group is not found, as if it did not exist (the runtime's one ownership
// rule).
func (a *API) group(h func(*fasthttp.RequestCtx, string)) route.Handler {
	return func(ctx *fasthttp.RequestCtx, p route.Params) {
		if id := p.Get("id"); a.groupVisible(ctx, id) {
			h(ctx, id)
		}
	}
}

// groupVisible answers 404 for an id that is not a group of the request's
// tenant and reports whether the request may go on.
func (a *API) groupVisible(ctx *fasthttp.RequestCtx, id string) bool {
	if err := a.rt.Owns(web.Tenant(ctx), id); err != nil || !a.rt.IsGroup(id) {
		web.Error(ctx, fmt.Errorf("%w: %q", actors.ErrGroupNotFound, id))
		return false
	}
	return true
}

func (a *API) getGroup(ctx *fasthttp.RequestCtx, id string) {
	g, err := a.rt.Group(id)
	if err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, groupBody(g))
}

func (a *API) deleteGroup(ctx *fasthttp.RequestCtx, id string) {
	if err := a.rt.DeleteGroup(id); err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"group_id": id, "deleted": true})
}

func (a *API) rebalance(ctx *fasthttp.RequestCtx, id string) {
	if err := a.rt.Rebalance(id); err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"status": "rebalanced", "group_id": id})
}

// removeMember serves DELETE /api/groups/{id}/members/{member}.
func (a *API) removeMember(ctx *fasthttp.RequestCtx, p route.Params) {
	id, member := p.Get("id"), p.Get("member")
	if !a.groupVisible(ctx, id) {
		return
	}
	if err := a.rt.RemoveGroupMember(id, member); err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"group_id": id, "provider_id": member, "removed": true})
}

// listGroups answers GET /api/groups, a page at a time.
func (a *API) listGroups(ctx *fasthttp.RequestCtx) {
	tenant := web.Tenant(ctx)
	groups := slices.DeleteFunc(a.rt.Groups(), func(g *actors.GroupInfo) bool { return g.Spec.Tenant != tenant })
	page, next, err := web.Page(ctx, groups, func(g *actors.GroupInfo) string { return g.Spec.ID })
	if err != nil {
		web.Error(ctx, err)
		return
	}
	out := make([]map[string]any, len(page))
	for i, g := range page {
		out[i] = groupBody(g)
	}
	listJSON(ctx, map[string]any{"groups": out}, next)
}

func groupBody(g *actors.GroupInfo) map[string]any {
	return map[string]any{
		"group_id":              g.Spec.ID,
		"state":                 g.State,
		"strategy":              g.Spec.Strategy,
		"min_healthy":           g.Spec.MinHealthy,
		"description":           g.Spec.Description,
		"tenant":                g.Spec.Tenant,
		"healthy_members":       g.Healthy,
		"members":               g.Members,
		"circuit_breaker_state": g.BreakerState,
	}
}

func (a *API) createGroup(ctx *fasthttp.RequestCtx) {
	var req struct {
		GroupID     string `json:"group_id"`
		Strategy    string `json:"strategy"`
		MinHealthy  *int   `json:"min_healthy"`
		Description string `json:"description"`
	}
	if err := web.Decode(ctx, &req, false); err != nil {
		web.Error(ctx, err)
		return
	}
	if !config.ValidID(req.GroupID) {
		web.Error(ctx, web.Errorf(http.StatusBadRequest, "ValidationError", "group_id must match %s and not contain \"__\" (got %q)", config.IDPattern, req.GroupID))
		return
	}
	spec := actors.GroupSpec{ID: req.GroupID, Strategy: req.Strategy, Description: req.Description, MinHealthy: config.DefaultMinHealthy,
		Tenant: web.Tenant(ctx)}
	if req.MinHealthy != nil {
		spec.MinHealthy = *req.MinHealthy
	}
	if err := a.rt.CreateGroup(spec); err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusCreated, map[string]any{"group_id": req.GroupID, "created": true})
}

func (a *API) updateGroup(ctx *fasthttp.RequestCtx, id string) {
	var req struct {
		Strategy    *string `json:"strategy"`
		MinHealthy  *int    `json:"min_healthy"`
		Description *string `json:"description"`
	}
	if err := web.Decode(ctx, &req, false); err != nil {
		web.Error(ctx, err)
		return
	}
	if err := a.rt.UpdateGroup(id, req.Strategy, req.MinHealthy, req.Description); err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusOK, map[string]any{"group_id": id, "updated": true})
}

func (a *API) addMember(ctx *fasthttp.RequestCtx, id string) {
	var req struct {
		MemberID string `json:"member_id"`
		Weight   int    `json:"weight"`
		Priority int    `json:"priority"`
	}
	if err := web.Decode(ctx, &req, false); err != nil {
		web.Error(ctx, err)
		return
	}
	if req.MemberID == "" || req.Weight < 0 || req.Priority < 0 {
		web.Error(ctx, web.Errorf(http.StatusBadRequest, "ValidationError", "member_id is required; weight and priority must not be negative"))
		return
	}
	if err := a.rt.AddGroupMember(id, actors.GroupMember{ID: req.MemberID, Weight: req.Weight, Priority: req.Priority}); err != nil {
		web.Error(ctx, err)
		return
	}
	web.JSON(ctx, http.StatusCreated, map[string]any{"group_id": id, "provider_id": req.MemberID, "added": true})
}
