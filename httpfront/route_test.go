package httpfront

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/httpfront/route"
)

// openRoutes are the routes the contract serves without credentials.
var openRoutes = map[string]bool{
	"GET /": true, "GET /health": true, "GET /metrics": true, "GET /api/openapi.json": true,
}

// builtInAccess is how the built-in roles classify a request: reads, tool
// calls (the REST call endpoints and every MCP request), and everything
// else. The table's permissions must keep it.
func builtInAccess(method, pattern string) auth.Access {
	switch {
	case pattern == "/mcp" || strings.HasPrefix(pattern, "/mcp/"):
		return auth.Call
	case method == http.MethodPost && (pattern == "/api/providers/{id}/tools/{tool}/call" ||
		pattern == "/v1/mcp/tools/call" || pattern == "/v1/sessions/{id}/execute"):
		return auth.Call
	case method == http.MethodGet:
		return auth.Read
	}
	return auth.Write
}

// routesOf returns the route table of a server built with opts (it does
// not listen).
func routesOf(t *testing.T, opts Options) []route.Route {
	t.Helper()
	rt := actors.NewRuntime(actors.Options{})
	srv := New(rt, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("front shutdown: %v", err)
		}
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("runtime shutdown: %v", err)
		}
	})
	return srv.Routes()
}

// Every route of the listener is in the one table, with a permission
// unless the contract lists it as open, and that permission keeps the
// built-in roles deciding as they always have.
func TestRouteTablePermissions(t *testing.T) {
	routes := routesOf(t, Options{AdminKey: "k"})
	seen := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Pattern
		seen[key] = true
		switch {
		case r.Open && !openRoutes[key]:
			t.Errorf("%s is open, but the contract does not list it among the routes served without credentials", key)
		case r.Open:
		case r.Permission.IsZero():
			t.Errorf("%s has no permission and is not open", key)
		case !r.Permission.Concrete():
			t.Errorf("%s needs %q, not one resource:action", key, r.Permission)
		case r.Permission.Access() != builtInAccess(r.Method, r.Pattern):
			t.Errorf("%s needs %s, which the built-in roles treat as access %d, not %d", key, r.Permission,
				r.Permission.Access(), builtInAccess(r.Method, r.Pattern))
		}
		if r.Handler == nil {
			t.Errorf("%s has no handler", key)
		}
	}
	// Every surface is in the table.
	for _, key := range []string{
		"GET /", "GET /health", "GET /metrics",
		"GET /api/system", "POST /api/providers/{id}/tools/{tool}/call", "DELETE /api/groups/{id}/members/{member}",
		"GET /v1/mcp/servers", "POST /v1/sessions/{id}/execute", "PUT /v1/policies/{tenant_id}",
		"GET /api/ws/events", "GET /api/ws/state", "GET /api/ws/providers/{id}/logs",
		"POST /mcp", "GET /mcp", "DELETE /mcp", "POST /mcp/{id}", "GET /mcp/{id}", "DELETE /mcp/{id}",
	} {
		if !seen[key] {
			t.Errorf("the table lacks %s", key)
		}
	}

	// Closing /metrics takes it out of the open routes.
	for _, r := range routesOf(t, Options{AdminKey: "k", MetricsRequireAuth: true}) {
		if r.Method == http.MethodGet && r.Pattern == "/metrics" && (r.Open || r.Permission != auth.SystemRead) {
			t.Errorf("GET /metrics with require_auth: open %v, permission %q", r.Open, r.Permission)
		}
	}
}

// A request the table does not take answers before authentication: 404 for
// an unknown path, 405 with Allow for a method its path does not take, in
// the surface's error shape.
func TestRouteMisses(t *testing.T) {
	v, err := auth.NewHS256("jwt-secret")
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, Options{AdminKey: "k", JWT: v}, spec("p"))
	key := []string{"X-API-Key", "k"}
	for _, tc := range []struct {
		method, path string
		status       int
		allow, code  string
	}{
		{"GET", "/nothing", 404, "", "NotFound"},
		{"GET", "/api/nothing", 404, "", "NotFound"},
		{"GET", "/v1/nothing", 404, "", "NotFound"},
		{"GET", "/mcp/p/extra", 404, "", "NotFound"},
		{"PATCH", "/api/providers/p", 405, "GET, HEAD, PUT, DELETE", "MethodNotAllowed"},
		{"GET", "/api/providers/p/start", 405, "POST", "MethodNotAllowed"},
		{"POST", "/health", 405, "GET, HEAD", "MethodNotAllowed"},
		{"PUT", "/mcp", 405, "GET, HEAD, POST, DELETE", "MethodNotAllowed"},
		{"PATCH", "/v1/mcp/tools", 405, "GET, HEAD", "method_not_allowed"},
		{"DELETE", "/v1/hitl/pending", 405, "GET, HEAD", "method_not_allowed"},
	} {
		what := tc.method + " " + tc.path
		for _, hdr := range [][]string{key, nil} {
			r := g.do(t, tc.method, tc.path, "", hdr...)
			if r.status != tc.status || r.body["error"] != tc.code || r.header.Get("Allow") != tc.allow {
				t.Errorf("%s (credentials %v): %d Allow %q %s; want %d Allow %q error %q", what, hdr != nil,
					r.status, r.header.Get("Allow"), r.raw, tc.status, tc.allow, tc.code)
			}
			if strings.HasPrefix(tc.path, "/api/") && r.body["status_code"] != float64(tc.status) {
				t.Errorf("%s: /api error body status_code is not %d: %s", what, tc.status, r.raw)
			}
		}
	}

	// Existing routes keep answering with a trailing slash, and HEAD is
	// served as GET.
	expect(t, g.do(t, "GET", "/api/providers/", "", key...), 200, "list with a trailing slash")
	expect(t, g.do(t, "GET", "/api/providers/p/", "", key...), 200, "detail with a trailing slash")
	want(t, g.do(t, "GET", "/v1/sessions/", "", key...), 200, "", "v1 sessions with a trailing slash")
	if r := g.do(t, "HEAD", "/health", ""); r.status != 200 {
		t.Errorf("HEAD /health without credentials: %d", r.status)
	}
	if r := g.do(t, "HEAD", "/api/providers", ""); r.status != 401 {
		t.Errorf("HEAD of a closed route without credentials: %d", r.status)
	}

	// ?token= is credentials on the websocket routes only.
	expect(t, g.do(t, "GET", "/api/providers?token=k", ""), 401, "query token on a REST route")
	r := g.do(t, "GET", "/api/ws/events?token=k", "")
	if r.status == http.StatusUnauthorized || r.body["message"] != "websocket upgrade required" {
		t.Errorf("query token on a websocket route: %d %s", r.status, r.raw)
	}

	// A refused principal is told which permission the route needs.
	tok, err := auth.SignHS256("jwt-secret", map[string]any{"sub": "v", "exp": time.Now().Add(time.Hour).Unix(), "roles": []string{auth.RoleViewer}})
	if err != nil {
		t.Fatal(err)
	}
	r = g.do(t, "POST", "/api/providers/p/stop", "", "Authorization", "Bearer "+tok)
	expect(t, r, 403, "viewer stops a provider")
	if msg := fmt.Sprint(r.body["message"]); !strings.Contains(msg, string(auth.ProvidersStop)) {
		t.Errorf("403 message does not name the permission: %s", msg)
	}
}
