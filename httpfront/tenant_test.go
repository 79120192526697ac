package httpfront

import (
	"strings"
	"testing"

	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/events"
)

// TestMetricsRequireSystemRead: with metrics.require_auth, /metrics (whose
// labels name every tenant's servers and tools) is an admin's view; a
// tenant's developer or viewer is refused.
func TestMetricsRequireSystemRead(t *testing.T) {
	const secret = "metrics-secret"
	p := spec("p")
	p.Tenant = "acme"
	g := startGateway(t, Options{JWT: hs256(t, secret), AdminKey: "k", MetricsRequireAuth: true}, p)
	bearer := func(roles ...string) string { return "Bearer " + signed(t, secret, "u", "acme", roles...) }

	expect(t, g.do(t, "GET", "/metrics", ""), 401, "no credentials")
	for _, role := range []string{auth.RoleDeveloper, auth.RoleViewer, auth.RoleAuditor, auth.RoleOperator} {
		expect(t, g.do(t, "GET", "/metrics", "", "Authorization", bearer(role)), 403, role+" scrapes /metrics")
	}
	for what, hdr := range map[string][]string{
		"admin JWT":     {"Authorization", bearer(auth.RoleAdmin)},
		"bootstrap key": {"X-API-Key", "k"},
	} {
		r := g.do(t, "GET", "/metrics", "", hdr...)
		if r.status != 200 || !strings.Contains(string(r.raw), "agent_gateway_tool_calls_total") {
			t.Fatalf("%s scrapes /metrics: %d %.200s", what, r.status, r.raw)
		}
	}
}

// TestSystemScopedToTenant: /api/system counts only the request's tenant's
// providers, tools and calls.
func TestSystemScopedToTenant(t *testing.T) {
	a, b := spec("a"), spec("b")
	a.Tenant, b.Tenant = "alpha", "beta"
	g := startGateway(t, Options{}, a, b)
	sub := g.rt.Hub().Subscribe(func(e *events.Event) bool { return e.Kind == "ToolInvoked" }, 64)
	defer sub.Close()
	for range 2 {
		expect(t, g.do(t, "POST", "/api/providers/b/tools/echo/call", `{"arguments":{"text":"hi"}}`, "x-tenant-id", "beta"), 200, "beta calls")
	}
	// The counters are those of the finished calls, which the events follow.
	for range 2 {
		waitEvent(t, sub, "beta's call", func(e *events.Event) bool { return e.ProviderID == "b" })
	}
	system := func(tenant string) map[string]any {
		r := g.do(t, "GET", "/api/system", "", "x-tenant-id", tenant)
		expect(t, r, 200, tenant+"'s system")
		s, _ := r.body["system"].(map[string]any)
		return s
	}
	if s := system("alpha"); s["total_tool_calls"] != float64(0) || s["total_providers"] != float64(1) || s["total_tools"] != float64(0) {
		t.Fatalf("alpha's system counts beta's: %v", s)
	}
	if s := system("beta"); s["total_tool_calls"] != float64(2) || s["total_providers"] != float64(1) {
		t.Fatalf("beta's system: %v", s)
	}
}
