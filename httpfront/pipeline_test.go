package httpfront

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/events"
	mcpfront "github.com/switchyard-mcp/switchyard/httpfront/mcp"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// decision is what a surface answered a tool call, in the pipeline's
// terms: ran, held for approval, or refused (with the HTTP status where
// the surface has one).
type decision struct {
	kind   string // "ok", "pending" or "refused"
	status int    // HTTP status of REST surfaces (0 over MCP)
	detail string
}

// callPath is one way a client can call a tool.
type callPath struct {
	name string
	// session reports whether the path names an agent session, so the
	// session rules apply to it.
	session bool
	call    func(t *testing.T, tenant, session, target, tool, args string) decision
}

// tenantHeader is an http.RoundTripper that sends x-tenant-id.
type tenantHeader struct{ tenant string }

func (h tenantHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("x-tenant-id", h.tenant)
	return http.DefaultTransport.RoundTrip(r)
}

// restDecision reads a REST answer.
func restDecision(r response) decision {
	switch {
	case r.status == http.StatusOK && strings.Contains(string(r.raw), `"isError":true`):
		return decision{kind: "refused", status: r.status, detail: string(r.raw)}
	case r.status == http.StatusOK:
		return decision{kind: "ok", status: r.status}
	case r.status == http.StatusAccepted && r.body["status"] == "pending_approval" && r.body["approval_id"] != nil:
		return decision{kind: "pending", status: r.status}
	}
	return decision{kind: "refused", status: r.status, detail: string(r.raw)}
}

// mcpDecision calls a tool over MCP at url for tenant and reads the answer.
func mcpDecision(t *testing.T, url, tenant, tool, args string) decision {
	t.Helper()
	c := sdk.NewClient(&sdk.Implementation{Name: "pipeline", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url,
		HTTPClient: &http.Client{Transport: tenantHeader{tenant}}}, nil)
	if err != nil {
		return decision{kind: "refused", detail: "connect: " + err.Error()}
	}
	defer func() { _ = cs.Close() }()
	var a map[string]any
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: a})
	if err != nil {
		return decision{kind: "refused", detail: err.Error()}
	}
	text := ""
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(*sdk.TextContent); ok {
			text = tc.Text
		}
	}
	switch {
	case res.IsError && strings.Contains(text, "waits for human approval"):
		return decision{kind: "pending", detail: text}
	case res.IsError:
		return decision{kind: "refused", detail: text}
	}
	return decision{kind: "ok", detail: text}
}

// pipelinePaths are the surfaces of the listener that call tools.
func pipelinePaths(g *gateway) []callPath {
	rest := func(t *testing.T, tenant, _, target, tool, args string) decision {
		return restDecision(g.do(t, "POST", "/api/providers/"+target+"/tools/"+tool+"/call",
			`{"arguments":`+args+`}`, "x-tenant-id", tenant, "Content-Type", "application/json"))
	}
	v1 := func(t *testing.T, tenant, session, target, tool, args string) decision {
		body := fmt.Sprintf(`{"server_id":%q,"tool_name":%q,"arguments":%s`, target, tool, args)
		if session != "" {
			body += fmt.Sprintf(`,"session_id":%q`, session)
		}
		return restDecision(g.do(t, "POST", "/v1/mcp/tools/call", body+"}", "x-tenant-id", tenant, "Content-Type", "application/json"))
	}
	return []callPath{
		{name: "/api", call: rest},
		{name: "/v1", session: true, call: v1},
		{name: "/v1/sessions/{id}/execute", session: true, call: func(t *testing.T, tenant, session, target, tool, args string) decision {
			if session == "" {
				return v1(t, tenant, "", target, tool, args)
			}
			body := fmt.Sprintf(`{"server_id":%q,"tool_name":%q,"arguments":%s}`, target, tool, args)
			return restDecision(g.do(t, "POST", "/v1/sessions/"+session+"/execute", body, "x-tenant-id", tenant, "Content-Type", "application/json"))
		}},
		{name: "/mcp", call: func(t *testing.T, tenant, _, target, tool, args string) decision {
			return mcpDecision(t, g.base+"/mcp", tenant, target+mcpfront.Sep+tool, args)
		}},
		{name: "/mcp/{id}", call: func(t *testing.T, tenant, _, target, tool, args string) decision {
			return mcpDecision(t, g.base+"/mcp/"+target, tenant, tool, args)
		}},
		{name: "group via /api", call: func(t *testing.T, tenant, session, target, tool, args string) decision {
			return rest(t, tenant, session, target+"-group", tool, args)
		}},
		{name: "group via /v1", session: true, call: func(t *testing.T, tenant, session, target, tool, args string) decision {
			return v1(t, tenant, session, target+"-group", tool, args)
		}},
	}
}

// TestOnePipelineOnEverySurface calls one tool through every surface for
// each rule of the admission chain and checks that every path decides the
// same: a rule enforced on one surface only would show here.
func TestOnePipelineOnEverySurface(t *testing.T) {
	g := startGateway(t, Options{MCP: mcpfront.Options{HITLWait: 300 * time.Millisecond}},
		spec("p"), spec("p-member"))
	if err := g.rt.CreateGroup(actors.GroupSpec{ID: "p-group", Members: []actors.GroupMember{{ID: "p-member"}}}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	// A server registered through /v1 is pinned; removing one of its tools
	// quarantines it (a rug pull). Its group has it as the only member.
	far := testbin.StartHTTP(t, "127.0.0.1:0", false)
	r := g.do(t, "POST", "/v1/mcp/servers", fmt.Sprintf(`{"name":"far","url":%q,"tenant_id":"default"}`, far.URL()), "Content-Type", "application/json")
	want(t, r, 201, "", "register far")
	q, _ := r.body["id"].(string)
	if err := g.rt.CreateGroup(actors.GroupSpec{ID: q + "-group", Members: []actors.GroupMember{{ID: q}}}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	sub := g.rt.Hub().Subscribe(func(e *events.Event) bool { return e.Kind == "ToolPoisoningDetected" }, 8)
	defer sub.Close()
	r = g.do(t, "POST", "/api/providers/"+q+"/tools/remove_tool/call", `{"arguments":{"name":"add"}}`, "Content-Type", "application/json")
	expect(t, r, 200, "remove a pinned tool")
	waitEvent(t, sub, "ToolPoisoningDetected", func(*events.Event) bool { return true })

	session := func(allow string, budget int) string {
		r := g.do(t, "POST", "/v1/sessions", fmt.Sprintf(`{"agent_id":"a","tool_allowlist":%s,"token_budget":%d}`, allow, budget),
			"Content-Type", "application/json")
		want(t, r, 201, "", "create session")
		id, _ := r.body["id"].(string)
		return id
	}
	paths := pipelinePaths(g)
	type rule struct {
		name    string
		tenant  string
		target  string
		args    string
		session func() string // nil: no session
		setup   func()
		undo    func()
		want    decision
		// sessionOnly rules are about sessions: checked on the paths
		// that name one.
		sessionOnly bool
	}
	policy := func(tools string) func() {
		return func() {
			r := g.do(t, "PUT", "/v1/policies/default", `{"hitl_required_tools":`+tools+`}`, "Content-Type", "application/json")
			want(t, r, 200, "", "set policy")
		}
	}
	rules := []rule{
		{name: "allowed", tenant: "default", target: "p", args: `{"text":"hi"}`, want: decision{kind: "ok", status: 200}},
		{name: "schema", tenant: "default", target: "p", args: `{"text":5}`, want: decision{kind: "refused", status: 400}},
		{name: "tenant ownership", tenant: "other", target: "p", args: `{"text":"hi"}`, want: decision{kind: "refused", status: 404}},
		{name: "quarantine", tenant: "default", target: q, args: `{"text":"hi"}`, want: decision{kind: "refused", status: 403}},
		{name: "hitl", tenant: "default", target: "p", args: `{"text":"hi"}`, setup: policy(`["echo"]`), undo: policy(`[]`),
			want: decision{kind: "pending", status: 202}},
		{name: "hitl in a session", tenant: "default", target: "p", args: `{"text":"hi"}`, setup: policy(`["echo"]`), undo: policy(`[]`),
			session: func() string { return session(`["echo"]`, 0) }, want: decision{kind: "pending", status: 202}, sessionOnly: true},
		{name: "session allowlist", tenant: "default", target: "p", args: `{"text":"hi"}`, sessionOnly: true,
			session: func() string { return session(`["add"]`, 0) }, want: decision{kind: "refused", status: 403}},
		{name: "session budget", tenant: "default", target: "p", args: `{"text":"hi"}`, sessionOnly: true,
			session: func() string {
				id := session(`["echo"]`, 1)
				body := fmt.Sprintf(`{"server_id":"p","tool_name":"echo","arguments":{"text":"spend"},"session_id":%q}`, id)
				want(t, g.do(t, "POST", "/v1/mcp/tools/call", body, "Content-Type", "application/json"), 200, "", "spend the budget")
				return id
			}, want: decision{kind: "refused", status: 429}},
	}
	for _, rl := range rules {
		t.Run(rl.name, func(t *testing.T) {
			if rl.setup != nil {
				rl.setup()
			}
			if rl.undo != nil {
				defer rl.undo()
			}
			for _, p := range paths {
				if rl.sessionOnly && !p.session {
					continue
				}
				sess := ""
				if rl.session != nil {
					sess = rl.session()
				}
				got := p.call(t, rl.tenant, sess, rl.target, "echo", rl.args)
				if got.kind != rl.want.kind || (got.status != 0 && got.status != rl.want.status) {
					t.Errorf("%s: %s answered %s (status %d: %s), want %s (status %d)",
						rl.name, p.name, got.kind, got.status, got.detail, rl.want.kind, rl.want.status)
				}
			}
		})
	}
}
