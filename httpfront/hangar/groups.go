package hangar

import (
	"fmt"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
)

// groups serves /groups and /groups/{id}[/...] (seg starts after "groups").
// A group belongs to a tenant: another tenant's group is not found, as if
// it did not exist.
func (a *API) groups(ctx *fasthttp.RequestCtx, method string, seg []string) bool {
	if len(seg) > 0 {
		if tenant, isGroup, err := a.rt.Owner(seg[0]); err == nil && isGroup && tenant != web.Tenant(ctx) {
			web.Error(ctx, fmt.Errorf("%w: %q", actors.ErrGroupNotFound, seg[0]))
			return true
		}
	}
	switch {
	case len(seg) == 0 && method == http.MethodGet:
		out := make([]map[string]any, 0, 4)
		tenant := web.Tenant(ctx)
		for _, g := range a.rt.Groups() {
			if g.Spec.Tenant == tenant {
				out = append(out, groupBody(g))
			}
		}
		web.JSON(ctx, http.StatusOK, map[string]any{"groups": out})
	case len(seg) == 0 && method == http.MethodPost:
		a.createGroup(ctx)
	case len(seg) == 1:
		switch method {
		case http.MethodGet:
			g, err := a.rt.Group(seg[0])
			if err != nil {
				web.Error(ctx, err)
				return true
			}
			web.JSON(ctx, http.StatusOK, groupBody(g))
		case http.MethodPut:
			a.updateGroup(ctx, seg[0])
		case http.MethodDelete:
			if err := a.rt.DeleteGroup(seg[0]); err != nil {
				web.Error(ctx, err)
				return true
			}
			web.JSON(ctx, http.StatusOK, map[string]any{"group_id": seg[0], "deleted": true})
		default:
			notAllowed(ctx)
		}
	case len(seg) == 2 && seg[1] == "rebalance" && method == http.MethodPost:
		if err := a.rt.Rebalance(seg[0]); err != nil {
			web.Error(ctx, err)
			return true
		}
		web.JSON(ctx, http.StatusOK, map[string]any{"status": "rebalanced", "group_id": seg[0]})
	case len(seg) == 2 && seg[1] == "members" && method == http.MethodPost:
		a.addMember(ctx, seg[0])
	case len(seg) == 3 && seg[1] == "members" && method == http.MethodDelete:
		if err := a.rt.RemoveGroupMember(seg[0], seg[2]); err != nil {
			web.Error(ctx, err)
			return true
		}
		web.JSON(ctx, http.StatusOK, map[string]any{"group_id": seg[0], "provider_id": seg[2], "removed": true})
	default:
		return false
	}
	return true
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
