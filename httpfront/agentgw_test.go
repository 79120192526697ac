package httpfront

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/audit"
	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// v1 sends a /v1 request acting for tenant (through x-tenant-id).
func (g *gateway) v1(t testing.TB, method, path, body, tenant string, hdr ...string) response {
	t.Helper()
	if tenant != "" {
		hdr = append(hdr, "x-tenant-id", tenant)
	}
	return g.do(t, method, path, body, hdr...)
}

// want checks a /v1 answer's status and, for errors, its "error" code.
func want(t testing.TB, r response, status int, code, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.raw)
	}
	if code != "" && r.body["error"] != code {
		t.Fatalf("%s: error %v, want %q; body %s", what, r.body["error"], code, r.raw)
	}
}

// register registers a server for a tenant and returns its id.
func (g *gateway) register(t testing.TB, tenant, name, url, tools string) string {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"url":%q,"tenant_id":%q`, name, url, tenant)
	if tools != "" {
		body += `,"tools":` + tools
	}
	r := g.v1(t, "POST", "/v1/mcp/servers", body+"}", "")
	want(t, r, 201, "", "register "+name)
	id, _ := r.body["id"].(string)
	if id == "" {
		t.Fatalf("register %s: no id in %s", name, r.raw)
	}
	return id
}

// waitEvent waits for an event of the hub the predicate accepts.
func waitEvent(t testing.TB, sub *events.Subscription, what string, ok func(*events.Event) bool) *events.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-sub.C():
			if ok(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within 20s", what)
			return nil
		}
	}
}

func TestAgentGatewayRootHealthMetrics(t *testing.T) {
	g := startGateway(t, Options{AdminKey: "k"}, spec("p"))
	r := g.do(t, "GET", "/", "")
	want(t, r, 200, "", "root")
	if r.body["service"] != "agent-gateway" || !strings.Contains(string(r.raw), `"A2A"`) {
		t.Fatalf("root = %s", r.raw)
	}
	eps, _ := r.body["endpoints"].(map[string]any)
	for _, k := range []string{"/v1/mcp/servers", "/v1/mcp/tools", "/v1/mcp/tools/call", "/v1/a2a/agents", "/v1/a2a/send", "/v1/sessions", "/v1/policies/:tenant_id", "/v1/hitl/pending"} {
		if eps[k] == nil {
			t.Errorf("root endpoints lack %s", k)
		}
	}
	r = g.do(t, "GET", "/health", "")
	want(t, r, 200, "", "health")
	if r.body["status"] != "ok" || r.body["service"] != "agent-gateway" || r.body["mcp_servers"] != float64(1) {
		t.Fatalf("health = %s", r.raw)
	}
	r = g.do(t, "GET", "/metrics", "")
	want(t, r, 200, "", "metrics")
	for _, name := range []string{
		"agent_gateway_tool_calls_total", "agent_gateway_tool_calls_denied", "agent_gateway_tool_latency_seconds_bucket",
		"agent_gateway_sessions_total", "agent_gateway_sessions_active", "agent_gateway_a2a_hops_total",
		"agent_gateway_hitl_requests_total", "agent_gateway_hitl_approved", "agent_gateway_hitl_denied",
		"agent_gateway_tool_poisoning_detected",
	} {
		if !strings.Contains(string(r.raw), "\n"+name) && !strings.HasPrefix(string(r.raw), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	want(t, g.do(t, "GET", "/v1/mcp/servers", ""), 401, "", "v1 needs credentials")
	want(t, g.do(t, "GET", "/v1/nothing", "", "X-API-Key", "k"), 404, "", "unknown v1 route")
	want(t, g.do(t, "PATCH", "/v1/mcp/tools", "", "X-API-Key", "k"), 405, "method_not_allowed", "wrong method")
}

func TestV1ServerRegistry(t *testing.T) {
	g := startGateway(t, Options{})
	one := testbin.StartHTTP(t, "127.0.0.1:0", false)
	two := testbin.StartHTTP(t, "127.0.0.1:0", true)

	// Registering without tools connects and lists them.
	r := g.v1(t, "POST", "/v1/mcp/servers", fmt.Sprintf(`{"name":"files","url":%q,"tenant_id":"alpha"}`, one.URL()), "")
	want(t, r, 201, "", "register")
	id, _ := r.body["id"].(string)
	if !strings.HasPrefix(id, "srv-") || r.body["tools_registered"].(float64) < 5 {
		t.Fatalf("register = %s", r.raw)
	}
	list := g.v1(t, "GET", "/v1/mcp/servers", "", "alpha")
	want(t, list, 200, "", "list")
	servers, _ := list.body["servers"].([]any)
	if list.body["total"] != float64(1) || len(servers) != 1 {
		t.Fatalf("list = %s", list.raw)
	}
	s := servers[0].(map[string]any)
	if s["id"] != id || s["name"] != "files" || s["url"] != one.URL() || s["tenant_id"] != "alpha" || s["status"] != "active" ||
		!strings.HasPrefix(s["fingerprint"].(string), "sha256:") || s["registered_at"] == nil {
		t.Fatalf("server = %v", s)
	}
	if r := g.v1(t, "GET", "/v1/mcp/servers", "", "beta"); r.body["total"] != float64(0) {
		t.Fatalf("another tenant sees %s", r.raw)
	}
	want(t, g.v1(t, "GET", "/v1/mcp/servers/"+id, "", "alpha"), 200, "", "get")
	want(t, g.v1(t, "GET", "/v1/mcp/servers/"+id, "", "beta"), 404, "Server not found", "get from another tenant")
	want(t, g.v1(t, "GET", "/v1/mcp/servers/srv-nope", "", "alpha"), 404, "Server not found", "get unknown")
	tools := g.v1(t, "GET", "/v1/mcp/servers/"+id+"/tools", "", "alpha")
	want(t, tools, 200, "", "server tools")
	if !strings.Contains(string(tools.raw), `"name":"echo"`) || !strings.Contains(string(tools.raw), `"inputSchema"`) {
		t.Fatalf("server tools = %s", tools.raw)
	}
	want(t, g.v1(t, "GET", "/v1/mcp/servers/srv-nope/tools", "", "alpha"), 404, "Server not found", "tools of unknown")

	// The same tool names again in alpha collide; in beta they do not.
	r = g.v1(t, "POST", "/v1/mcp/servers", fmt.Sprintf(`{"name":"dup","url":%q,"tenant_id":"alpha"}`, two.URL()), "")
	want(t, r, 409, "tool_naming_collision", "collision")
	if c, _ := r.body["collisions"].([]any); len(c) == 0 || !strings.Contains(string(r.raw), `"echo"`) {
		t.Fatalf("collision body = %s", r.raw)
	}
	if len(g.rt.TenantServers("alpha")) != 1 {
		t.Fatal("a refused registration left a provider behind")
	}
	g.register(t, "beta", "dup", two.URL(), "")

	// Declared tools are accepted as given (the server is not contacted).
	r = g.v1(t, "POST", "/v1/mcp/servers", `{"name":"file-server","url":"http://127.0.0.1:1/mcp","tenant_id":"gamma",
		"tools":[{"name":"read_file","description":"Read file contents","inputSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}]}`, "")
	want(t, r, 201, "", "register with declared tools")
	if r.body["tools_registered"] != float64(1) {
		t.Fatalf("declared = %s", r.raw)
	}
	decl := r.body["id"].(string)
	if r := g.v1(t, "GET", "/v1/mcp/tools", "", "gamma"); !strings.Contains(string(r.raw), `"read_file"`) || r.body["total"] != float64(1) {
		t.Fatalf("gamma tools = %s", r.raw)
	}

	// Bad requests.
	want(t, g.v1(t, "POST", "/v1/mcp/servers", `{"name":`, ""), 400, "invalid_request", "malformed JSON")
	want(t, g.v1(t, "POST", "/v1/mcp/servers", `{"name":"x"}`, ""), 400, "invalid_request", "no url")
	want(t, g.v1(t, "POST", "/v1/mcp/servers", `{"name":"x","url":"ftp://h/x"}`, ""), 400, "invalid_request", "not http")
	want(t, g.v1(t, "POST", "/v1/mcp/servers", `{"name":"x","url":"http://h/x","colour":1}`, ""), 400, "invalid_request", "unknown field")
	want(t, g.v1(t, "POST", "/v1/mcp/servers", `{"name":"x","url":"http://h/x","tools":[{"name":"t","inputSchema":{"type":12}}]}`, ""), 400, "invalid_request", "schema that does not compile")
	want(t, g.v1(t, "POST", "/v1/mcp/servers", `{"name":"x","url":"http://127.0.0.1:1/mcp","tenant_id":"delta"}`, ""), 503, "server_unavailable", "unreachable without tools")
	if len(g.rt.TenantServers("delta")) != 0 {
		t.Fatal("an unreachable registration left a provider behind")
	}

	// allowed_network_hosts limits the servers a tenant may register.
	want(t, g.v1(t, "PUT", "/v1/policies/gamma", `{"allowed_network_hosts":["api.example.com"]}`, "gamma"), 200, "", "policy")
	r = g.v1(t, "POST", "/v1/mcp/servers", `{"name":"y","url":"http://127.0.0.1:9/mcp","tenant_id":"gamma","tools":[{"name":"y"}]}`, "")
	want(t, r, 403, "host_not_allowed", "host outside the policy")

	want(t, g.v1(t, "DELETE", "/v1/mcp/servers/"+decl, "", "alpha"), 404, "Server not found", "delete from another tenant")
	r = g.v1(t, "DELETE", "/v1/mcp/servers/"+decl, "", "gamma")
	want(t, r, 200, "", "delete")
	if r.body["removed"] != decl {
		t.Fatalf("delete = %s", r.raw)
	}
	want(t, g.v1(t, "DELETE", "/v1/mcp/servers/"+decl, "", "gamma"), 404, "Server not found", "delete twice")
}

func TestV1ToolCalls(t *testing.T) {
	g := startGateway(t, Options{})
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	id := g.register(t, "alpha", "tools", srv.URL(), "")

	list := g.v1(t, "GET", "/v1/mcp/tools", "", "alpha")
	want(t, list, 200, "", "discover")
	if !strings.Contains(string(list.raw), `"server_id":"`+id+`"`) || !strings.Contains(string(list.raw), `"server_name":"tools"`) {
		t.Fatalf("discover = %s", list.raw)
	}
	if r := g.v1(t, "GET", "/v1/mcp/tools", "", "beta"); r.body["total"] != float64(0) {
		t.Fatalf("beta discovers %s", r.raw)
	}

	call := func(tenant, server, tool, args string) response {
		return g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":%q,"arguments":%s,"tenant_id":%q}`, server, tool, args, tenant), "")
	}
	r := call("alpha", id, "echo", `{"text":"secret-hi"}`)
	want(t, r, 200, "", "call")
	if r.body["server_id"] != id || r.body["tool_name"] != "echo" || !strings.Contains(string(r.raw), "secret-hi") {
		t.Fatalf("call = %s", r.raw)
	}
	if _, ok := r.body["latency_ms"].(float64); !ok {
		t.Fatalf("latency_ms missing: %s", r.raw)
	}
	r = call("alpha", id, "echo", `{"text":5}`)
	want(t, r, 400, "validation_failed", "wrong type")
	if v, _ := r.body["violations"].([]any); len(v) == 0 || !strings.Contains(string(r.raw), "/text") {
		t.Fatalf("violations = %s", r.raw)
	}
	want(t, call("alpha", id, "echo", `{}`), 400, "validation_failed", "missing required")
	want(t, call("alpha", id, "echo", `[1]`), 400, "validation_failed", "arguments not an object")
	want(t, call("alpha", "srv-nope", "echo", `{}`), 404, "server_not_found", "unknown server")
	want(t, call("beta", id, "echo", `{"text":"x"}`), 404, "server_not_found", "another tenant's server")
	want(t, call("alpha", id, "nope", `{}`), 404, "tool_not_found", "unknown tool")
	want(t, g.v1(t, "POST", "/v1/mcp/tools/call", `{"server_id":`, ""), 400, "invalid_request", "malformed JSON")
	want(t, g.v1(t, "POST", "/v1/mcp/tools/call", `{"tool_name":"echo"}`, ""), 400, "invalid_request", "no server")
	r = call("alpha", id, "fail", `{"message":"boom"}`)
	want(t, r, 200, "", "tool error")
	if r.body["is_error"] != true {
		t.Fatalf("tool error not flagged: %s", r.raw)
	}

	// The audit log has hashes, never the values.
	recs := g.rt.Agents().Audit("alpha", audit.KindToolCall, 0)
	if len(recs) < 2 {
		t.Fatalf("audit = %+v", recs)
	}
	first := recs[0]
	sum := sha256.Sum256([]byte(`{"text":"secret-hi"}`))
	if first.Tool != "echo" || first.Server != id || first.Outcome != "ok" || first.InputSHA256 != hex.EncodeToString(sum[:]) ||
		len(first.OutputSHA256) != 64 || first.Principal == "" || first.Tenant != "alpha" {
		t.Fatalf("audit record = %+v", first)
	}
	b, _ := json.Marshal(recs)
	if strings.Contains(string(b), "secret-hi") {
		t.Fatal("the audit log holds a raw argument value")
	}
	// Beta's own refused attempts are beta's records; none of alpha's.
	for _, rec := range g.rt.Agents().Audit("beta", "", 0) {
		if rec.Tenant != "beta" || rec.Outcome != "denied" {
			t.Fatalf("beta sees a record that is not its own refusal: %+v", rec)
		}
	}
}

func TestV1Sessions(t *testing.T) {
	g := startGateway(t, Options{})
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	id := g.register(t, "alpha", "tools", srv.URL(), "")
	newSession := func(tenant, allow string, budget int) string {
		r := g.v1(t, "POST", "/v1/sessions", fmt.Sprintf(`{"tenant_id":%q,"agent_id":"agent-1","tool_allowlist":%s,"token_budget":%d,"metadata":{"purpose":"test"}}`, tenant, allow, budget), "")
		want(t, r, 201, "", "create session")
		if r.body["status"] != "active" || r.body["tokens_used"] != float64(0) || r.body["tool_calls"] != float64(0) || r.body["token_budget"] != float64(budget) {
			t.Fatalf("session = %s", r.raw)
		}
		return r.body["id"].(string)
	}
	want(t, g.v1(t, "POST", "/v1/sessions", `{"tenant_id":"alpha","agent_id":"a"}`, ""), 400, "invalid_request", "no allowlist")
	want(t, g.v1(t, "POST", "/v1/sessions", `{"tenant_id":"alpha","tool_allowlist":[],"token_budget":-1}`, ""), 400, "invalid_request", "negative budget")
	want(t, g.v1(t, "POST", "/v1/sessions", `nope`, ""), 400, "invalid_request", "malformed JSON")

	sess := newSession("alpha", `["echo"]`, 0)
	exec := func(session, tool, args string) response {
		return g.v1(t, "POST", "/v1/sessions/"+session+"/execute", fmt.Sprintf(`{"server_id":%q,"tool_name":%q,"arguments":%s,"tenant_id":"alpha"}`, id, tool, args), "")
	}
	r := exec(sess, "echo", `{"text":"hi"}`)
	want(t, r, 200, "", "execute")
	// The cost rule: ceil((len(arguments) + len(result)) / 4).
	var res struct {
		Result json.RawMessage `json:"result"`
		Tokens int64           `json:"tokens"`
	}
	if err := json.Unmarshal(r.raw, &res); err != nil {
		t.Fatal(err)
	}
	cost := (int64(len(`{"text":"hi"}`)+len(res.Result)) + 3) / 4
	if res.Tokens != cost {
		t.Fatalf("tokens %d, want %d", res.Tokens, cost)
	}
	got := g.v1(t, "GET", "/v1/sessions/"+sess, "", "alpha")
	want(t, got, 200, "", "get session")
	if got.body["tool_calls"] != float64(1) || got.body["tokens_used"] != float64(cost) || got.body["agent_id"] != "agent-1" {
		t.Fatalf("session after a call = %s", got.raw)
	}
	want(t, exec(sess, "add", `{"a":1,"b":2}`), 403, "tool_not_allowed", "tool outside the allowlist")
	want(t, g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":"add","arguments":{"a":1,"b":2},"tenant_id":"alpha","session_id":%q}`, id, sess), ""), 403, "tool_not_allowed", "tools/call in a session")
	want(t, g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":"echo","arguments":{"text":"x"},"tenant_id":"alpha","session_id":"sess-nope"}`, id), ""), 404, "session_not_found", "unknown session")
	want(t, exec("sess-nope", "echo", `{"text":"x"}`), 404, "session_not_found", "execute in unknown session")

	tools := g.v1(t, "GET", "/v1/sessions/"+sess+"/tools", "", "alpha")
	want(t, tools, 200, "", "session tools")
	if tools.body["total"] != float64(1) || !strings.Contains(string(tools.raw), `"name":"echo"`) {
		t.Fatalf("session tools = %s", tools.raw)
	}
	want(t, g.v1(t, "GET", "/v1/sessions/"+sess+"/tools", "", "beta"), 404, "Session not found", "session tools from beta")

	// A budget is refused once spent, before the call starts.
	small := newSession("alpha", `["echo"]`, 1)
	want(t, exec(small, "echo", `{"text":"a"}`), 200, "", "first call within budget")
	want(t, exec(small, "echo", `{"text":"a"}`), 429, "budget_exceeded", "budget spent")

	// The tenant's policy limits calls per session and concurrent sessions.
	want(t, g.v1(t, "PUT", "/v1/policies/alpha", `{"max_tool_calls_per_session":2,"max_concurrent_sessions":4}`, "alpha"), 200, "", "policy")
	limited := newSession("alpha", `["echo"]`, 0)
	want(t, exec(limited, "echo", `{"text":"1"}`), 200, "", "call 1")
	want(t, exec(limited, "echo", `{"text":"2"}`), 200, "", "call 2")
	want(t, exec(limited, "echo", `{"text":"3"}`), 429, "tool_call_limit_exceeded", "call 3")
	newSession("alpha", `[]`, 0)
	want(t, g.v1(t, "POST", "/v1/sessions", `{"tenant_id":"alpha","tool_allowlist":[]}`, ""), 429, "session_limit_exceeded", "fifth session")

	list := g.v1(t, "GET", "/v1/sessions", "", "alpha")
	if list.body["total"] != float64(4) {
		t.Fatalf("sessions = %s", list.raw)
	}
	if r := g.v1(t, "GET", "/v1/sessions", "", "beta"); r.body["total"] != float64(0) {
		t.Fatalf("beta sees %s", r.raw)
	}

	r = g.v1(t, "DELETE", "/v1/sessions/"+sess, "", "alpha")
	want(t, r, 200, "", "terminate")
	if r.body["status"] != "terminated" || r.body["tenant_id"] != "alpha" || r.body["id"] != sess {
		t.Fatalf("terminate = %s", r.raw)
	}
	want(t, exec(sess, "echo", `{"text":"x"}`), 409, "session_not_active", "call after terminate")
	want(t, g.v1(t, "DELETE", "/v1/sessions/sess-nope", "", "alpha"), 404, "Session not found", "terminate unknown")
	want(t, g.v1(t, "GET", "/v1/sessions/sess-nope", "", "alpha"), 404, "Session not found", "get unknown")
	// A terminated session frees its place under max_concurrent_sessions.
	newSession("alpha", `[]`, 0)
	if recs := g.rt.Agents().Audit("alpha", audit.KindSessionTerminate, 0); len(recs) != 1 || recs[0].Session != sess {
		t.Fatalf("terminate audit = %+v", recs)
	}
}

func TestV1SessionIdleExpiry(t *testing.T) {
	g := startGatewayWith(t, Options{}, actors.Options{Version: "test", Gateway: actors.GatewayOptions{SessionIdleTTL: 100 * time.Millisecond}})
	sub := g.rt.Hub().Subscribe(nil, 64)
	defer sub.Close()
	r := g.v1(t, "POST", "/v1/sessions", `{"tool_allowlist":["echo"]}`, "alpha")
	want(t, r, 201, "", "create")
	id := r.body["id"].(string)
	waitEvent(t, sub, "session expired", func(e *events.Event) bool {
		c, ok := e.Data.(events.SessionChanged)
		return ok && c.Session == id && c.Status == actors.SessionExpired
	})
	r = g.v1(t, "GET", "/v1/sessions/"+id, "", "alpha")
	if r.body["status"] != "expired" {
		t.Fatalf("after idle = %s", r.raw)
	}
}

func TestV1PoliciesAndApprovals(t *testing.T) {
	g := startGatewayWith(t, Options{}, actors.Options{Version: "test", Gateway: actors.GatewayOptions{ApprovalTTL: time.Hour}})
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	id := g.register(t, "alpha", "tools", srv.URL(), "")

	r := g.v1(t, "GET", "/v1/policies/alpha", "", "alpha")
	want(t, r, 200, "", "default policy")
	if r.body["tenant_id"] != "alpha" || r.body["max_concurrent_sessions"] != float64(0) {
		t.Fatalf("default policy = %s", r.raw)
	}
	r = g.v1(t, "PUT", "/v1/policies/alpha", `{"hitl_required_tools":["add"],"max_concurrent_sessions":10,"max_tool_calls_per_session":100,"allowed_network_hosts":["127.0.0.1"]}`, "alpha")
	want(t, r, 200, "", "set policy")
	if r.body["updated_at"] == nil || r.body["max_tool_calls_per_session"] != float64(100) {
		t.Fatalf("policy = %s", r.raw)
	}
	if r := g.v1(t, "GET", "/v1/policies/alpha", "", "alpha"); !strings.Contains(string(r.raw), `"hitl_required_tools":["add"]`) {
		t.Fatalf("policy read back = %s", r.raw)
	}
	want(t, g.v1(t, "PUT", "/v1/policies/alpha", `{"max_concurrent_sessions":-1}`, "alpha"), 400, "invalid_request", "negative limit")
	want(t, g.v1(t, "PUT", "/v1/policies/alpha", `{`, "alpha"), 400, "invalid_request", "malformed policy")
	want(t, g.v1(t, "PUT", "/v1/policies/alpha", `{"tenant_id":"beta"}`, "alpha"), 400, "invalid_request", "body names another tenant")

	sub := g.rt.Hub().Subscribe(nil, 256)
	defer sub.Close()
	call := fmt.Sprintf(`{"server_id":%q,"tool_name":"add","arguments":{"a":2,"b":3},"tenant_id":"alpha"}`, id)
	r = g.v1(t, "POST", "/v1/mcp/tools/call", call, "")
	want(t, r, 202, "pending_approval", "held call")
	approval, _ := r.body["approval_id"].(string)
	if r.body["status"] != "pending_approval" || !strings.HasPrefix(approval, "hitl-") {
		t.Fatalf("held = %s", r.raw)
	}
	pending := g.v1(t, "GET", "/v1/hitl/pending", "", "alpha")
	want(t, pending, 200, "", "pending")
	if pending.body["total"] != float64(1) || !strings.Contains(string(pending.raw), `"tool_name":"add"`) ||
		!strings.Contains(string(pending.raw), `"request_type":"tool_call"`) || !strings.Contains(string(pending.raw), `"a":2`) {
		t.Fatalf("pending = %s", pending.raw)
	}
	if r := g.v1(t, "GET", "/v1/hitl/pending", "", "beta"); r.body["total"] != float64(0) {
		t.Fatalf("beta sees %s", r.raw)
	}
	want(t, g.v1(t, "POST", "/v1/hitl/"+approval+"/approve", "", "beta"), 404, "Approval not found", "approve from beta")
	r = g.v1(t, "POST", "/v1/hitl/"+approval+"/approve", "", "alpha")
	want(t, r, 200, "", "approve")
	if r.body["status"] != "approved" || r.body["resolved_at"] == nil {
		t.Fatalf("approve = %s", r.raw)
	}
	waitEvent(t, sub, "approval completed", func(e *events.Event) bool {
		c, ok := e.Data.(events.ApprovalChanged)
		return ok && c.Approval == approval && c.Status == actors.ApprovalCompleted
	})
	r = g.v1(t, "GET", "/v1/hitl/"+approval, "", "alpha")
	if r.body["status"] != "completed" || !strings.Contains(string(r.raw), `5`) || r.body["result"] == nil {
		t.Fatalf("approved call = %s", r.raw)
	}
	want(t, g.v1(t, "POST", "/v1/hitl/"+approval+"/deny", "", "alpha"), 409, "not_pending", "deny a decided approval")

	r = g.v1(t, "POST", "/v1/mcp/tools/call", call, "")
	want(t, r, 202, "pending_approval", "second held call")
	second := r.body["approval_id"].(string)
	r = g.v1(t, "POST", "/v1/hitl/"+second+"/deny", "", "alpha")
	want(t, r, 200, "", "deny")
	if r.body["status"] != "denied" {
		t.Fatalf("deny = %s", r.raw)
	}
	if r := g.v1(t, "GET", "/v1/hitl/"+second, "", "alpha"); r.body["status"] != "denied" || r.body["result"] != nil {
		t.Fatalf("denied = %s", r.raw)
	}
	want(t, g.v1(t, "POST", "/v1/hitl/hitl-nope/approve", "", "alpha"), 404, "Approval not found", "approve unknown")
	want(t, g.v1(t, "POST", "/v1/hitl/hitl-nope/deny", "", "alpha"), 404, "Approval not found", "deny unknown")
	want(t, g.v1(t, "GET", "/v1/hitl/hitl-nope", "", "alpha"), 404, "Approval not found", "get unknown")

	// In a session the allowlist still comes first: a tool it lacks is
	// refused, not held.
	s := g.v1(t, "POST", "/v1/sessions", `{"tool_allowlist":["echo"]}`, "alpha")
	want(t, g.v1(t, "POST", "/v1/sessions/"+s.body["id"].(string)+"/execute", fmt.Sprintf(`{"server_id":%q,"tool_name":"add","arguments":{"a":1,"b":1}}`, id), "alpha"), 403, "tool_not_allowed", "held tool outside the allowlist")

	m := g.do(t, "GET", "/metrics", "")
	for _, line := range []string{"agent_gateway_hitl_requests_total 2", "agent_gateway_hitl_approved 1", "agent_gateway_hitl_denied 1"} {
		if !strings.Contains(string(m.raw), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

func TestV1ApprovalExpires(t *testing.T) {
	g := startGatewayWith(t, Options{}, actors.Options{Version: "test", Gateway: actors.GatewayOptions{ApprovalTTL: 50 * time.Millisecond}})
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	id := g.register(t, "alpha", "tools", srv.URL(), "")
	want(t, g.v1(t, "PUT", "/v1/policies/alpha", `{"hitl_required_tools":["echo"]}`, "alpha"), 200, "", "policy")
	r := g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":"echo","arguments":{"text":"x"}}`, id), "alpha")
	want(t, r, 202, "pending_approval", "held")
	approval := r.body["approval_id"].(string)
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	info, err := g.rt.Agents().WaitApproval(ctx, "alpha", approval)
	if err != nil || info.Status != actors.ApprovalExpired {
		t.Fatalf("approval = %+v, %v", info, err)
	}
	want(t, g.v1(t, "POST", "/v1/hitl/"+approval+"/approve", "", "alpha"), 409, "not_pending", "approve an expired approval")
}

func TestV1Elicitation(t *testing.T) {
	g := startGateway(t, Options{})
	s := g.v1(t, "POST", "/v1/sessions", `{"tool_allowlist":[]}`, "alpha")
	sess := s.body["id"].(string)
	body := fmt.Sprintf(`{"session_id":%q,"tenant_id":"alpha","tool_name":"configure_deployment","message":"Confirm the target.",
		"schema":{"type":"object","properties":{"environment":{"type":"string","enum":["staging","production"]},"confirm":{"type":"boolean"}},"required":["environment","confirm"]}}`, sess)
	r := g.v1(t, "POST", "/v1/elicit", body, "")
	want(t, r, 202, "", "elicit")
	id, _ := r.body["elicitation_id"].(string)
	if id == "" || r.body["status"] != "pending" || r.body["type"] != "elicitation" || r.body["message"] != "Waiting for user input" {
		t.Fatalf("elicit = %s", r.raw)
	}
	want(t, g.v1(t, "POST", "/v1/elicit", `{"tenant_id":"alpha"}`, ""), 400, "invalid_request", "missing fields")
	want(t, g.v1(t, "POST", "/v1/elicit", strings.Replace(body, sess, "sess-nope", 1), ""), 404, "session_not_found", "unknown session")
	want(t, g.v1(t, "POST", "/v1/elicit", strings.Replace(body, `"type":"object"`, `"type":7`, 1), ""), 400, "invalid_request", "bad schema")

	r = g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"environment":"moon","confirm":true}`, "alpha")
	want(t, r, 400, "validation_failed", "response outside the enum")
	want(t, g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"environment":"staging"}`, "alpha"), 400, "validation_failed", "response missing a field")
	want(t, g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"environment":`, "alpha"), 400, "invalid_request", "malformed response")
	want(t, g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"environment":"staging","confirm":true}`, "beta"), 404, "Elicitation not found", "respond from beta")
	r = g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"environment":"staging","confirm":true}`, "alpha")
	want(t, r, 200, "", "respond")
	if r.body["status"] != "responded" || !strings.Contains(string(r.raw), `"response":{"environment":"staging","confirm":true}`) {
		t.Fatalf("respond = %s", r.raw)
	}
	want(t, g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"environment":"staging","confirm":true}`, "alpha"), 409, "not_pending", "respond twice")
	want(t, g.v1(t, "POST", "/v1/elicit/nope/respond", `{}`, "alpha"), 404, "Elicitation not found", "unknown elicitation")
	if r := g.v1(t, "GET", "/v1/elicit/"+id, "", "alpha"); r.body["status"] != "responded" {
		t.Fatalf("elicitation = %s", r.raw)
	}
}

func TestV1RugPullQuarantines(t *testing.T) {
	g := startGateway(t, Options{})
	sub := g.rt.Hub().Subscribe(nil, 1024)
	defer sub.Close()
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	id := g.register(t, "alpha", "tools", srv.URL(), "")
	call := func(tool, args string) response {
		return g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":%q,"arguments":%s}`, id, tool, args), "alpha")
	}
	want(t, call("echo", `{"text":"before"}`), 200, "", "call before the change")
	// The server drops a pinned tool after registration.
	want(t, call("remove_tool", `{"name":"add"}`), 200, "", "tool removed at run time")
	waitEvent(t, sub, "tool poisoning", func(e *events.Event) bool {
		p, ok := e.Data.(events.ToolPoisoningDetected)
		return ok && e.ProviderID == id && p.Tenant == "alpha" && p.Registered != p.Served
	})
	want(t, call("echo", `{"text":"after"}`), 403, "server_quarantined", "call after the change")
	// Every surface refuses it.
	r0 := g.do(t, "POST", "/api/providers/"+id+"/tools/echo/call", `{"arguments":{"text":"after"}}`, "x-tenant-id", "alpha")
	expect(t, r0, 403, "/api call after the change")
	if r0.body["error"] != "ProviderQuarantinedError" {
		t.Fatalf("/api refusal = %s", r0.raw)
	}
	r := g.v1(t, "GET", "/v1/mcp/servers/"+id, "", "alpha")
	if r.body["status"] != "quarantined" || r.body["quarantine_reason"] == nil {
		t.Fatalf("server = %s", r.raw)
	}
	if strings.Contains(string(g.v1(t, "GET", "/v1/mcp/tools", "", "alpha").raw), id) {
		t.Fatal("a quarantined server's tools are still offered")
	}
	if m := g.do(t, "GET", "/metrics", ""); !strings.Contains(string(m.raw), "agent_gateway_tool_poisoning_detected 1") {
		t.Fatal("poisoning not counted")
	}

	// Tools declared at registration that the server does not serve are
	// caught at the first contact.
	other := testbin.StartHTTP(t, "127.0.0.1:0", false)
	decl := g.register(t, "beta", "liar", other.URL(), `[{"name":"echo","description":"Echo","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}}]`)
	r = g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":"echo","arguments":{"text":"x"}}`, decl), "beta")
	want(t, r, 403, "server_quarantined", "declared tools differ from the served ones")
}

func TestV1TwoTenantsIsolated(t *testing.T) {
	v := hs256(t, "two-tenants")
	g := startGateway(t, Options{JWT: v})
	alpha := "Bearer " + signed(t, "two-tenants", "alice", "alpha", "operator")
	beta := "Bearer " + signed(t, "two-tenants", "bob", "beta", "operator")
	as := func(tok, method, path, body string) response {
		return g.do(t, method, path, body, "Authorization", tok)
	}
	// Beta watches the event stream from the start.
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(g.base, "http")+"/api/ws/events?token="+strings.TrimPrefix(beta, "Bearer "), nil)
	if err != nil {
		t.Fatalf("beta's event stream: %v", err)
	}
	_ = resp.Body.Close()
	defer func() { _ = conn.Close() }()
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	r := as(alpha, "POST", "/v1/mcp/servers", fmt.Sprintf(`{"name":"a","url":%q}`, srv.URL()))
	want(t, r, 201, "", "alpha registers")
	server := r.body["id"].(string)
	r = as(alpha, "POST", "/v1/sessions", `{"tool_allowlist":["echo","add"]}`)
	want(t, r, 201, "", "alpha session")
	sess := r.body["id"].(string)
	want(t, as(alpha, "PUT", "/v1/policies/alpha", `{"hitl_required_tools":["add"]}`), 200, "", "alpha policy")
	r = as(alpha, "POST", "/v1/sessions/"+sess+"/execute", fmt.Sprintf(`{"server_id":%q,"tool_name":"add","arguments":{"a":1,"b":1}}`, server))
	want(t, r, 202, "pending_approval", "alpha held call")
	approval := r.body["approval_id"].(string)
	want(t, as(alpha, "POST", "/v1/a2a/agents", `{"id":"agent-a","url":"http://127.0.0.1:1/a2a"}`), 201, "", "alpha agent")
	r = as(alpha, "POST", "/v1/a2a/send", `{"from_agent":"x","to_agent":"agent-later","message":{"task":"echo"}}`)
	want(t, r, 202, "", "alpha task")
	task := r.body["task_id"].(string)

	// Beta sees none of it and can touch none of it.
	for _, p := range []string{"/v1/mcp/servers", "/v1/mcp/tools", "/v1/sessions", "/v1/hitl/pending", "/v1/a2a/agents"} {
		r := as(beta, "GET", p, "")
		want(t, r, 200, "", "beta lists "+p)
		if r.body["total"] != float64(0) {
			t.Fatalf("beta sees alpha's objects at %s: %s", p, r.raw)
		}
	}
	want(t, as(beta, "GET", "/v1/mcp/servers/"+server, ""), 404, "Server not found", "beta gets alpha's server")
	want(t, as(beta, "DELETE", "/v1/mcp/servers/"+server, ""), 404, "Server not found", "beta deletes alpha's server")
	want(t, as(beta, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":"echo","arguments":{"text":"x"}}`, server)), 404, "server_not_found", "beta calls alpha's server")
	want(t, as(beta, "GET", "/v1/sessions/"+sess, ""), 404, "Session not found", "beta gets alpha's session")
	want(t, as(beta, "DELETE", "/v1/sessions/"+sess, ""), 404, "Session not found", "beta ends alpha's session")
	want(t, as(beta, "POST", "/v1/sessions/"+sess+"/execute", fmt.Sprintf(`{"server_id":%q,"tool_name":"echo","arguments":{"text":"x"}}`, server)), 404, "session_not_found", "beta calls in alpha's session")
	want(t, as(beta, "POST", "/v1/hitl/"+approval+"/approve", ""), 404, "Approval not found", "beta approves alpha's call")
	want(t, as(beta, "GET", "/v1/hitl/"+approval, ""), 404, "Approval not found", "beta reads alpha's approval")
	want(t, as(beta, "GET", "/v1/a2a/tasks/"+task, ""), 404, "Task not found", "beta reads alpha's task")
	want(t, as(beta, "GET", "/v1/policies/alpha", ""), 404, "Policy not found", "beta reads alpha's policy")
	want(t, as(beta, "PUT", "/v1/policies/alpha", `{}`), 404, "Policy not found", "beta writes alpha's policy")
	// A body naming another tenant does not switch tenants.
	want(t, as(beta, "POST", "/v1/sessions", `{"tenant_id":"alpha","tool_allowlist":[]}`), 403, "tenant_mismatch", "beta creates in alpha")
	want(t, as(beta, "GET", "/v1/mcp/servers", ""), 200, "", "beta lists")
	if r := g.do(t, "GET", "/v1/mcp/servers", "", "Authorization", beta, "x-tenant-id", "alpha"); r.body["total"] != float64(0) {
		t.Fatalf("the x-tenant-id header overrode beta's token: %s", r.raw)
	}
	// The other surfaces hold the same line.
	expect(t, as(beta, "GET", "/api/providers/"+server, ""), 404, "beta gets alpha's provider over /api")
	expect(t, as(beta, "POST", "/api/providers/"+server+"/tools/echo/call", `{"arguments":{"text":"x"}}`), 404, "beta calls over /api")
	if r := as(beta, "GET", "/api/providers", ""); strings.Contains(string(r.raw), server) {
		t.Fatalf("beta lists alpha's provider over /api: %s", r.raw)
	}
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	mcpAs := func(tok, path string) response {
		return g.do(t, "POST", path, initialize, "Authorization", tok, "Content-Type", "application/json", "Accept", "application/json, text/event-stream")
	}
	expect(t, mcpAs(beta, "/mcp/"+server), 404, "beta opens alpha's server over /mcp")
	expect(t, mcpAs(beta, "/mcp"), 404, "a non-default tenant opens the aggregated /mcp")
	if r := mcpAs(alpha, "/mcp/"+server); r.status != 200 {
		t.Fatalf("alpha opens its server over /mcp: %d %s", r.status, r.raw)
	}
	// Alpha still has everything.
	if r := as(alpha, "GET", "/v1/hitl/pending", ""); r.body["total"] != float64(1) {
		t.Fatalf("alpha pending = %s", r.raw)
	}
	if r := as(alpha, "GET", "/v1/a2a/tasks/"+task, ""); r.body["status"] != "pending" {
		t.Fatalf("alpha task = %s", r.raw)
	}
	// Beta's stream carried none of alpha's events: the first event it
	// gets is that of its own session, created after all of alpha's.
	r = as(beta, "POST", "/v1/sessions", `{"tool_allowlist":[]}`)
	want(t, r, 201, "", "beta session")
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, frame, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("beta's stream: %v", err)
	}
	if !strings.Contains(string(frame), `"SessionChanged"`) || !strings.Contains(string(frame), r.body["id"].(string)) {
		t.Fatalf("beta's first event is not its own session: %s", frame)
	}
	// A viewer may read but not call or write.
	viewer := "Bearer " + signed(t, "two-tenants", "vic", "alpha", "viewer")
	want(t, as(viewer, "GET", "/v1/sessions", ""), 200, "", "viewer reads")
	expect(t, as(viewer, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":"echo","arguments":{"text":"x"}}`, server)), 403, "viewer calls")
	expect(t, as(viewer, "POST", "/v1/sessions", `{"tool_allowlist":[]}`), 403, "viewer creates a session")
}

// TestV1SessionCountersUnderConcurrency runs hundreds of calls in one
// session at once: the counters must come out exact, and the budget may be
// overspent only by calls that had started before it was reached.
func TestV1SessionCountersUnderConcurrency(t *testing.T) {
	g := startGateway(t, Options{})
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	id := g.register(t, "alpha", "tools", srv.URL(), "")
	const n = 300
	run := func(sess string) (ok, refused int, tokens int64) {
		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)
		body := fmt.Sprintf(`{"server_id":%q,"tool_name":"echo","arguments":{"text":"0123456789"}}`, id)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := g.send("POST", "/v1/sessions/"+sess+"/execute", body, "x-tenant-id", "alpha")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				switch r.status {
				case 200:
					ok++
					tokens += int64(r.body["tokens"].(float64))
				case 429:
					if r.body["error"] != "budget_exceeded" {
						t.Errorf("429 with %s", r.raw)
					}
					refused++
				default:
					t.Errorf("status %d: %s", r.status, r.raw)
				}
			}()
		}
		wg.Wait()
		return ok, refused, tokens
	}

	// Without a budget every call runs and is counted once.
	r := g.v1(t, "POST", "/v1/sessions", `{"tool_allowlist":["echo"]}`, "alpha")
	free := r.body["id"].(string)
	ok, refused, tokens := run(free)
	s := g.v1(t, "GET", "/v1/sessions/"+free, "", "alpha")
	if ok != n || refused != 0 || s.body["tool_calls"] != float64(n) || s.body["tokens_used"] != float64(tokens) {
		t.Fatalf("unbudgeted: ok %d refused %d tokens %d; session %s", ok, refused, tokens, s.raw)
	}
	cost := tokens / n

	// With a budget a third of the calls' arguments would spend, the calls
	// admitted are those that started while tokens_used < budget.
	upfront := int64(len(`{"text":"0123456789"}`)) / 4
	budget := upfront * n / 3
	r = g.v1(t, "POST", "/v1/sessions", fmt.Sprintf(`{"tool_allowlist":["echo"],"token_budget":%d}`, budget), "alpha")
	capped := r.body["id"].(string)
	ok, refused, tokens = run(capped)
	s = g.v1(t, "GET", "/v1/sessions/"+capped, "", "alpha")
	used := int64(s.body["tokens_used"].(float64))
	if ok+refused != n || s.body["tool_calls"] != float64(ok) || used != tokens || s.body["in_flight"] != float64(0) {
		t.Fatalf("budgeted: ok %d refused %d tokens %d; session %s", ok, refused, tokens, s.raw)
	}
	if used < budget || refused == 0 {
		t.Fatalf("%d calls refused with %d of %d tokens used", refused, used, budget)
	}
	// Admission charges the arguments' share at once and stops when
	// tokens_used reaches the budget, so at most budget/upfront calls start;
	// the overspend is the rest of the cost of the calls then in flight.
	if admitted := int64(ok); admitted > budget/upfront+1 {
		t.Fatalf("%d calls admitted on a budget of %d (%d tokens each up front)", admitted, budget, upfront)
	}
	if over := used - budget; over > int64(ok)*(cost-upfront) {
		t.Fatalf("overspent by %d tokens", over)
	}
	t.Logf("budget %d, used %d (overspent %d), %d calls admitted, %d refused", budget, used, used-budget, ok, refused)
	// Once spent, every further call is refused.
	want(t, g.v1(t, "POST", "/v1/sessions/"+capped+"/execute", fmt.Sprintf(`{"server_id":%q,"tool_name":"echo","arguments":{"text":"x"}}`, id), "alpha"), 429, "budget_exceeded", "after the burst")
}

func hs256(t testing.TB, secret string) *auth.HS256 {
	t.Helper()
	v, err := auth.NewHS256(secret)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func signed(t testing.TB, secret, sub, tenant string, roles ...string) string {
	t.Helper()
	tok, err := auth.SignHS256(secret, map[string]any{"sub": sub, "tenant_id": tenant, "exp": time.Now().Add(time.Hour).Unix(), "roles": roles})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func TestV1A2A(t *testing.T) {
	g := startGatewayWith(t, Options{}, actors.Options{Version: "test", Gateway: actors.GatewayOptions{SendWait: 10 * time.Second}})
	a := testbin.StartA2A(t, "agent-a")
	b := testbin.StartA2A(t, "agent-b")
	v1 := testbin.StartA2A(t, "agent-v1", "--a2a-protocol", "1.0")

	if r := g.v1(t, "GET", "/v1/a2a/agents", "", "alpha"); r.body["total"] != float64(0) || r.body["note"] == nil {
		t.Fatalf("empty agents = %s", r.raw)
	}
	reg := func(id, url string) response {
		return g.v1(t, "POST", "/v1/a2a/agents", fmt.Sprintf(`{"id":%q,"name":"Agent %s","url":%q,"tenant_id":"alpha","capabilities":["echo"],"description":"test agent"}`, id, id, url), "")
	}
	r := reg("agent-a", a.A2AURL())
	want(t, r, 201, "", "register a")
	if r.body["id"] != "agent-a" || r.body["status"] != "registered" {
		t.Fatalf("register = %s", r.raw)
	}
	want(t, reg("agent-b", b.A2AURL()), 201, "", "register b")
	want(t, reg("agent-v1", v1.A2AURL()), 201, "", "register v1")
	want(t, reg("agent-b", b.A2AURL()), 200, "", "register b again")
	want(t, reg("", b.A2AURL()), 400, "invalid_request", "no id")
	want(t, reg("agent-x", "not a url"), 400, "invalid_request", "bad url")
	want(t, g.v1(t, "POST", "/v1/a2a/agents", `{"id":`, ""), 400, "invalid_request", "malformed JSON")
	list := g.v1(t, "GET", "/v1/a2a/agents", "", "alpha")
	if list.body["total"] != float64(3) || !strings.Contains(string(list.raw), `"capabilities":["echo"]`) {
		t.Fatalf("agents = %s", list.raw)
	}

	send := func(from, to, msg, chain string) response {
		return g.v1(t, "POST", "/v1/a2a/send", fmt.Sprintf(`{"from_agent":%q,"to_agent":%q,"message":%s,"tenant_id":"alpha","delegation_chain":%s}`, from, to, msg, chain), "")
	}
	r = send("orchestrator", "agent-b", `{"task":"echo","document_id":"doc-123"}`, `[]`)
	want(t, r, 200, "", "send")
	task, _ := r.body["task_id"].(string)
	if r.body["status"] != "completed" || r.body["from"] != "orchestrator" || r.body["to"] != "agent-b" ||
		!strings.Contains(string(r.raw), `"delegation_chain":["orchestrator"]`) ||
		!strings.Contains(string(r.raw), `"agent":"agent-b"`) || !strings.Contains(string(r.raw), `"document_id":"doc-123"`) {
		t.Fatalf("send = %s", r.raw)
	}
	got := g.v1(t, "GET", "/v1/a2a/tasks/"+task, "", "alpha")
	want(t, got, 200, "", "task")
	if got.body["status"] != "completed" || got.body["result"] == nil {
		t.Fatalf("task = %s", got.raw)
	}
	want(t, g.v1(t, "GET", "/v1/a2a/tasks/nope", "", "alpha"), 404, "Task not found", "unknown task")

	// A2A 1.0 agents get SendMessage.
	r = send("orchestrator", "agent-v1", `{"task":"echo"}`, `[]`)
	want(t, r, 200, "", "send to a 1.0 agent")
	if !strings.Contains(string(r.raw), `"agent":"agent-v1"`) {
		t.Fatalf("1.0 send = %s", r.raw)
	}

	// Depth: the chain after appending the sender holds at most 5.
	want(t, send("a5", "agent-b", `{"task":"echo"}`, `["a1","a2","a3","a4"]`), 200, "", "chain of 5")
	want(t, send("a6", "agent-b", `{"task":"echo"}`, `["a1","a2","a3","a4","a5"]`), 400, "chain_depth_exceeded", "chain of 6")
	want(t, send("a2", "agent-b", `{"task":"echo"}`, `["agent-b","a1"]`), 409, "circular_delegation", "target already in the chain")
	want(t, send("a1", "agent-b", `{"task":"echo"}`, `["a1"]`), 409, "circular_delegation", "sender twice")
	want(t, send("a1", "agent-b", `"text"`, `[]`), 400, "invalid_request", "message not an object")
	want(t, send("", "agent-b", `{}`, `[]`), 400, "invalid_request", "no sender")

	// The agent's failures are 502s.
	want(t, send("o", "agent-b", `{"task":"fail"}`, `[]`), 502, "agent_error", "failed task")
	want(t, send("o", "agent-b", `{"task":"error"}`, `[]`), 502, "agent_error", "JSON-RPC error")
	want(t, send("o", "agent-b", `{"task":"garbage"}`, `[]`), 502, "agent_unreachable", "garbage")
	want(t, reg("agent-down", "http://127.0.0.1:1/"), 201, "", "register an agent nobody serves")
	want(t, send("o", "agent-down", `{"task":"echo"}`, `[]`), 502, "agent_unreachable", "unreachable agent")
	r = send("o", "agent-b", `{"task":"async"}`, `[]`)
	want(t, r, 200, "", "async task polled to completion")
	if !strings.Contains(string(r.raw), `"done":true`) {
		t.Fatalf("async = %s", r.raw)
	}

	// An agent not registered yet: the task waits, and is delivered when
	// the agent registers.
	sub := g.rt.Hub().Subscribe(nil, 256)
	defer sub.Close()
	r = send("orchestrator", "agent-late", `{"task":"echo","n":1}`, `[]`)
	want(t, r, 202, "", "unregistered target")
	late := r.body["task_id"].(string)
	if r.body["status"] != "pending" || r.body["note"] == nil {
		t.Fatalf("pending = %s", r.raw)
	}
	if r := g.v1(t, "GET", "/v1/a2a/tasks/"+late, "", "alpha"); r.body["status"] != "pending" {
		t.Fatalf("late task = %s", r.raw)
	}
	lateAgent := testbin.StartA2A(t, "agent-late")
	want(t, reg("agent-late", lateAgent.A2AURL()), 201, "", "late registration")
	waitEvent(t, sub, "late task completed", func(e *events.Event) bool {
		c, ok := e.Data.(events.TaskChanged)
		return ok && c.Task == late && c.Status == actors.TaskCompleted
	})
	if r := g.v1(t, "GET", "/v1/a2a/tasks/"+late, "", "alpha"); r.body["status"] != "completed" || !strings.Contains(string(r.raw), `"n":1`) {
		t.Fatalf("delivered task = %s", r.raw)
	}
	// Another tenant's agent of the same id is not this tenant's.
	if r := g.v1(t, "GET", "/v1/a2a/agents", "", "beta"); r.body["total"] != float64(0) {
		t.Fatalf("beta sees %s", r.raw)
	}
	r = g.v1(t, "POST", "/v1/a2a/send", `{"from_agent":"x","to_agent":"agent-b","message":{"task":"echo"},"tenant_id":"beta"}`, "")
	want(t, r, 202, "", "beta sends to an id only alpha registered")

	// Real hops: agent-a delegates to agent-b through the gateway, which
	// delegates back to agent-a: the gateway sees the loop.
	inner := fmt.Sprintf(`{"task":"delegate","to":"agent-a","gateway":%q}`, g.base)
	r = send("orchestrator", "agent-a", fmt.Sprintf(`{"task":"delegate","to":"agent-b","gateway":%q,"message":%s}`, g.base, inner), `[]`)
	want(t, r, 200, "", "two real hops")
	res, _ := json.Marshal(r.body["result"])
	// agent-a's call to the gateway succeeded (agent-b answered) and
	// agent-b's call back to agent-a was refused as a loop.
	if !strings.Contains(string(res), `"gateway_status":200`) || !strings.Contains(string(res), `"gateway_status":409`) ||
		!strings.Contains(string(res), `circular_delegation`) {
		t.Fatalf("hops = %s", res)
	}
	m := g.do(t, "GET", "/metrics", "")
	if strings.Contains(string(m.raw), "agent_gateway_a2a_hops_total 0\n") {
		t.Fatal("hops not counted")
	}
}

// TestV1ServerAsksForInput: a tool that asks its client for input (an
// elicitation) during a call through /v1 holds the call in a pending
// elicitation; the answer resumes it.
func TestV1ServerAsksForInput(t *testing.T) {
	g := startGateway(t, Options{}, spec("p"))
	call := `{"server_id":"p","tool_name":"ask","arguments":{"question":"Which environment?"}}`
	r := g.v1(t, "POST", "/v1/mcp/tools/call", call, "")
	want(t, r, 202, "pending_elicitation", "a call that asks for input")
	id, _ := r.body["elicitation_id"].(string)
	if id == "" || r.body["message"] != "Which environment?" || r.body["schema"] == nil {
		t.Fatalf("pending = %s", r.raw)
	}
	got := g.v1(t, "GET", "/v1/elicit/"+id, "", "")
	if got.body["status"] != "pending" || got.body["server_id"] != "p" || got.body["tool_name"] != "ask" {
		t.Fatalf("elicitation = %s", got.raw)
	}
	want(t, g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"answer":7}`, ""), 400, "validation_failed", "answer of the wrong type")
	r = g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"answer":"staging"}`, "")
	want(t, r, 200, "", "answer")
	if r.body["status"] != "responded" || !strings.Contains(string(r.raw), "answer: staging") {
		t.Fatalf("resumed call = %s", r.raw)
	}
	if got := g.v1(t, "GET", "/v1/elicit/"+id, "", ""); !strings.Contains(string(got.raw), "answer: staging") {
		t.Fatalf("elicitation after the call = %s", got.raw)
	}
}

// TestMCPServerAsksForInput: over /mcp, a client that declared elicitation
// is asked itself; for one that did not, the question waits in the gateway
// and the call resumes once it is answered over REST.
func TestMCPServerAsksForInput(t *testing.T) {
	g := startGateway(t, Options{}, spec("p"))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, asked := g.elicitingClient(t, map[string]any{"answer": "from the client"})
	if got := callText(t, cs, "p__ask", map[string]any{"question": "Who?"}); got != "answer: from the client" {
		t.Fatalf("eliciting client got %q", got)
	}
	if q := <-asked; q != "Who?" {
		t.Fatalf("client was asked %q", q)
	}

	// A client without elicitation: the gateway holds the question.
	sub := g.rt.Hub().Subscribe(nil, 64)
	defer sub.Close()
	plain := mcpClient(t, g.base+"/mcp", nil)
	done := make(chan string, 1)
	go func() {
		res, err := plain.CallTool(ctx, &sdk.CallToolParams{Name: "p__ask", Arguments: map[string]any{"question": "Where?"}})
		if err != nil || len(res.Content) == 0 {
			done <- fmt.Sprintf("error %v", err)
			return
		}
		done <- res.Content[0].(*sdk.TextContent).Text
	}()
	e := waitEvent(t, sub, "pending elicitation", func(e *events.Event) bool {
		c, ok := e.Data.(events.ElicitationChanged)
		return ok && c.Status == actors.ElicitationPending
	})
	id := e.Data.(events.ElicitationChanged).Elicitation
	want(t, g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"answer":"from REST"}`, ""), 200, "", "answer over REST")
	select {
	case got := <-done:
		if got != "answer: from REST" {
			t.Fatalf("held call returned %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held call did not resume")
	}
}

// TestEverythingElicitationRelayed: server-everything asks its client for
// input with a server-to-client elicitation/create in the middle of a tool
// call (protocol 2025-11-25). An MCP client that declared elicitation is
// asked itself; a /v1 call's question waits in the gateway until answered.
func TestEverythingElicitationRelayed(t *testing.T) {
	node, js := testbin.NeedEverything(t)
	g := startGateway(t, Options{}, subprocess("everything", 30*time.Second, node, js))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, asked := g.elicitingClient(t, map[string]any{"name": "Ada Lovelace"})
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "everything__trigger-elicitation-request", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	b, _ := json.Marshal(res.Content)
	if !strings.Contains(string(b), "Ada Lovelace") {
		t.Fatalf("result does not carry the client's answer: %s", b)
	}
	select {
	case q := <-asked:
		if q == "" {
			t.Fatal("empty question")
		}
	default:
		t.Fatal("the client was not asked")
	}

	// Through /v1 the question waits as an elicitation of the tenant.
	sub := g.rt.Hub().Subscribe(nil, 64)
	defer sub.Close()
	type answer struct {
		r   response
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := g.send("POST", "/v1/mcp/tools/call", `{"server_id":"everything","tool_name":"trigger-elicitation-request","arguments":{}}`)
		done <- answer{r, err}
	}()
	e := waitEvent(t, sub, "pending elicitation", func(e *events.Event) bool {
		c, ok := e.Data.(events.ElicitationChanged)
		return ok && c.Status == actors.ElicitationPending && c.Tenant == "default"
	})
	id := e.Data.(events.ElicitationChanged).Elicitation
	if r := g.v1(t, "GET", "/v1/elicit/"+id, "", ""); r.body["tool_name"] != "trigger-elicitation-request" {
		t.Fatalf("held question = %s", r.raw)
	}
	want(t, g.v1(t, "POST", "/v1/elicit/"+id+"/respond", `{"name":"Grace Hopper"}`, ""), 200, "", "answer over REST")
	select {
	case a := <-done:
		if a.err != nil {
			t.Fatal(a.err)
		}
		want(t, a.r, 200, "", "held call")
		if !strings.Contains(string(a.r.raw), "Grace Hopper") {
			t.Fatalf("held call result = %s", a.r.raw)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held call did not resume")
	}
}

// elicitingClient connects an MCP client to /mcp that declares elicitation
// and accepts every question with answer; the questions arrive on asked.
func (g *gateway) elicitingClient(t *testing.T, answer map[string]any) (*sdk.ClientSession, chan string) {
	t.Helper()
	asked := make(chan string, 1)
	c := sdk.NewClient(&sdk.Implementation{Name: "asker", Version: "1"}, &sdk.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			asked <- req.Params.Message
			return &sdk.ElicitResult{Action: "accept", Content: answer}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: g.base + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs, asked
}
