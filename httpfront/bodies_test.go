package httpfront

import (
	"testing"
)

// TestObjectBodiesRefuseOtherJSON checks that every route reading a JSON
// object body answers 400 for null and for any other JSON value, instead
// of treating it as an empty object (a PUT of null used to answer 200
// having updated nothing), while an absent optional body stays fine.
func TestObjectBodiesRefuseOtherJSON(t *testing.T) {
	g := startGateway(t, Options{}, spec("p"))
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"g","strategy":"round_robin"}`), 201, "create group")

	api := []struct{ method, path string }{
		{"POST", "/api/providers"},
		{"PUT", "/api/providers/p"},
		{"POST", "/api/providers/p/stop"},
		{"POST", "/api/groups"},
		{"PUT", "/api/groups/g"},
		{"POST", "/api/groups/g/members"},
	}
	v1 := []struct{ method, path string }{
		{"POST", "/v1/mcp/servers"},
		{"POST", "/v1/mcp/tools/call"},
		{"POST", "/v1/sessions"},
		{"POST", "/v1/sessions/s1/execute"},
		{"PUT", "/v1/policies/default"},
		{"POST", "/v1/elicit"},
		{"POST", "/v1/a2a/agents"},
		{"POST", "/v1/a2a/send"},
	}
	for _, body := range []string{`null`, " \n\tnull ", `[]`, `[{}]`, `"x"`, `7`, `true`} {
		for _, r := range api {
			resp := g.do(t, r.method, r.path, body)
			expect(t, resp, 400, r.method+" "+r.path+" "+body)
			if resp.body["error"] != "ValidationError" {
				t.Errorf("%s %s %s: error %v, want ValidationError", r.method, r.path, body, resp.body["error"])
			}
		}
		for _, r := range v1 {
			want(t, g.v1(t, r.method, r.path, body, "default"), 400, "invalid_request", r.method+" "+r.path+" "+body)
		}
	}
	// An absent optional body is still fine, and so is an object.
	expect(t, g.do(t, "POST", "/api/providers/p/stop", ""), 200, "stop without a body")
	expect(t, g.do(t, "POST", "/api/providers/p/stop", ` {"reason":"test"}`), 200, "stop with a reason")
	expect(t, g.do(t, "PUT", "/api/providers/p", `{"description":"d"}`), 200, "update")
}
