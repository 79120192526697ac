package httpfront

import (
	"strings"
	"testing"

	"github.com/switchyard-mcp/switchyard/auth"
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
