package httpfront

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
	"github.com/switchyard-mcp/switchyard/supervisor"
)

func TestMain(m *testing.M) { testbin.Main(m, testbin.FasthttpIgnores...) }

// gateway is a runtime and front end serving on a loopback port.
type gateway struct {
	rt   *actors.Runtime
	srv  *Server
	base string
	http *http.Client
}

func startGateway(t testing.TB, opts Options, providers ...actors.Spec) *gateway {
	t.Helper()
	return startGatewayWith(t, opts, actors.Options{Version: "test"}, providers...)
}

// startGatewayWith is startGateway over a runtime made with ro.
func startGatewayWith(t testing.TB, opts Options, ro actors.Options, providers ...actors.Spec) *gateway {
	t.Helper()
	rt := actors.NewRuntime(ro)
	for _, p := range providers {
		if err := rt.Create(p); err != nil {
			t.Fatal(err)
		}
	}
	srv := New(rt, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	g := &gateway{rt: rt, srv: srv, base: "http://" + ln.Addr().String(), http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(func() {
		g.http.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("front shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("runtime shutdown: %v", err)
		}
	})
	return g
}

func spec(id string) actors.Spec {
	return subprocess(id, 5*time.Second, testbin.Path())
}

// subprocess is a subprocess provider spec at the defaults but for its
// call timeout.
func subprocess(id string, callTimeout time.Duration, command ...string) actors.Spec {
	s := actors.DefaultSpec(id, config.ModeSubprocess)
	s.Command, s.CallTimeout = command, callTimeout
	return s
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// do sends a request with the given header pairs, failing the test when
// it cannot be sent.
func (g *gateway) do(t testing.TB, method, path, body string, hdr ...string) response {
	t.Helper()
	r, err := g.send(method, path, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is do for goroutines other than the test's, which may not stop the
// test: it returns the error instead.
func (g *gateway) send(method, path, body string, hdr ...string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.base+path, rd)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r, nil
}

// oversized posts a body over the limit. The server answers 413 and
// closes the connection without reading the body, so a client still
// writing it may see the connection reset first: either way the body was
// refused, and nothing else is accepted.
func (g *gateway) oversized(t testing.TB, path, body string) {
	t.Helper()
	req, err := http.NewRequest("POST", g.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			return
		}
		t.Fatalf("oversized POST %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("oversized POST %s: status %d, want 413: %s", path, resp.StatusCode, raw)
	}
}

func expect(t testing.TB, r response, status int, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.raw)
	}
	if status >= 400 {
		if r.body["status_code"] != float64(status) || r.body["error"] == nil || r.body["message"] == nil {
			t.Fatalf("%s: error body %s lacks error/message/status_code", what, r.raw)
		}
	}
}

func TestProvidersAPI(t *testing.T) {
	g := startGateway(t, Options{Limits: config.Limits{MaxBodyBytes: 64 << 10}})

	create := fmt.Sprintf(`{"provider_id":"math","mode":"subprocess","command":[%q],"description":"Math","idle_ttl_s":60}`, testbin.Path())
	expect(t, g.do(t, "POST", "/api/providers", create), 201, "create")
	r := g.do(t, "POST", "/api/providers", create)
	expect(t, r, 409, "duplicate create")
	expect(t, g.do(t, "POST", "/api/providers", `{"provider_id":"x","mode":"subprocess"}`), 400, "missing command")
	expect(t, g.do(t, "POST", "/api/providers", `{"provider_id":"x","mode":"subprocess","command":["a"],"bogus":1}`), 400, "unknown field")
	expect(t, g.do(t, "POST", "/api/providers", `{"provider_id":`), 400, "malformed JSON")

	r = g.do(t, "GET", "/api/providers", "")
	expect(t, r, 200, "list")
	list := r.body["providers"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["state"] != "cold" || list[0].(map[string]any)["description"] != "Math" {
		t.Fatalf("list: %s", r.raw)
	}
	expect(t, g.do(t, "GET", "/api/providers?state=bogus", ""), 400, "bad state filter")
	if r = g.do(t, "GET", "/api/providers?state=ready", ""); len(r.body["providers"].([]any)) != 0 {
		t.Fatalf("ready filter before start: %s", r.raw)
	}

	// Tools start the provider lazily.
	r = g.do(t, "GET", "/api/providers/math/tools", "")
	expect(t, r, 200, "tools")
	if !strings.Contains(string(r.raw), `"name":"add"`) {
		t.Fatalf("tools: %s", r.raw)
	}
	r = g.do(t, "POST", "/api/providers/math/tools/add/call", `{"arguments":{"a":2,"b":3}}`)
	expect(t, r, 200, "call")
	if r.body["provider_id"] != "math" || r.body["tool_name"] != "add" || r.body["latency_ms"] == nil {
		t.Fatalf("call body: %s", r.raw)
	}
	if !strings.Contains(string(r.raw), `"text":"5"`) {
		t.Fatalf("call result: %s", r.raw)
	}
	expect(t, g.do(t, "POST", "/api/providers/math/tools/add/call", `{"arguments":`), 400, "malformed call body")
	expect(t, g.do(t, "POST", "/api/providers/math/tools/add/call", `{"arguments":[1]}`), 400, "arguments not an object")
	expect(t, g.do(t, "POST", "/api/providers/math/tools/nope/call", `{}`), 404, "unknown tool")
	expect(t, g.do(t, "POST", "/api/providers/ghost/tools/add/call", `{}`), 404, "unknown provider")
	big := `{"arguments":{"text":"` + strings.Repeat("x", 70<<10) + `"}}`
	g.oversized(t, "/api/providers/math/tools/echo/call", big)
	g.oversized(t, "/v1/mcp/tools/call", big)
	r = g.do(t, "POST", "/api/providers/math/tools/fail/call", `{"arguments":{"message":"boom"}}`)
	expect(t, r, 200, "tool error")
	if !strings.Contains(string(r.raw), `"isError":true`) {
		t.Fatalf("tool error result: %s", r.raw)
	}

	r = g.do(t, "GET", "/api/providers/math", "")
	expect(t, r, 200, "get")
	if r.body["state"] != "ready" || r.body["alive"] != true || r.body["tools_count"].(float64) < 8 {
		t.Fatalf("get: %s", r.raw)
	}
	expect(t, g.do(t, "GET", "/api/providers/ghost", ""), 404, "get unknown")

	expect(t, g.do(t, "PUT", "/api/providers/math", `{"description":"Sums","idle_ttl_s":120}`), 200, "update")
	if r = g.do(t, "GET", "/api/providers/math", ""); r.body["description"] != "Sums" {
		t.Fatalf("update not applied: %s", r.raw)
	}
	expect(t, g.do(t, "PUT", "/api/providers/math", `{"idle_ttl_s":-1}`), 400, "negative ttl")

	r = g.do(t, "GET", "/api/providers/math/health", "")
	expect(t, r, 200, "health")
	if r.body["health_status"] != "healthy" {
		t.Fatalf("health: %s", r.raw)
	}
	expect(t, g.do(t, "POST", "/api/providers/math/tools/stderr/call", `{"arguments":{"n":2,"text":"line"}}`), 200, "stderr")
	r = g.do(t, "GET", "/api/providers/math/tools/history?limit=2", "")
	expect(t, r, 200, "history")
	if r.body["total"].(float64) < 3 || len(r.body["history"].([]any)) != 2 {
		t.Fatalf("history: %s", r.raw)
	}
	expect(t, g.do(t, "GET", "/api/providers/math/tools/history?limit=501", ""), 400, "history limit")
	expect(t, g.do(t, "GET", "/api/providers/math/logs?lines=0", ""), 400, "logs range")
	r = g.do(t, "GET", "/api/providers/math/logs?lines=1000", "")
	expect(t, r, 200, "logs")
	if r.body["provider_id"] != "math" || r.body["count"] == nil {
		t.Fatalf("logs: %s", r.raw)
	}

	r = g.do(t, "GET", "/api/system", "")
	expect(t, r, 200, "system")
	sys := r.body["system"].(map[string]any)
	if sys["total_providers"] != float64(1) || sys["total_tool_calls"].(float64) < 3 || sys["version"] != "test" {
		t.Fatalf("system: %s", r.raw)
	}

	r = g.do(t, "POST", "/api/providers/math/stop", `{"reason":"maintenance"}`)
	expect(t, r, 200, "stop")
	if r.body["state"] != "stopped" {
		t.Fatalf("stop: %s", r.raw)
	}
	expect(t, g.do(t, "POST", "/api/providers/math/tools/add/call", `{"arguments":{"a":1,"b":1}}`), 503, "call while stopped")
	r = g.do(t, "POST", "/api/providers/math/start", "")
	expect(t, r, 200, "start")
	if r.body["state"] != "ready" {
		t.Fatalf("start: %s", r.raw)
	}

	expect(t, g.do(t, "GET", "/api/nothing", ""), 404, "unknown route")
	expect(t, g.do(t, "PATCH", "/api/providers/math", ""), 405, "bad method")
	expect(t, g.do(t, "DELETE", "/api/providers/math", ""), 200, "delete")
	expect(t, g.do(t, "DELETE", "/api/providers/math", ""), 404, "delete twice")

	r = g.do(t, "GET", "/metrics", "")
	if r.status != 200 || !strings.Contains(string(r.raw), "process_resident_memory_bytes") || strings.Contains(string(r.raw), `provider="math"`) {
		t.Fatalf("metrics after delete:\n%s", r.raw)
	}
}

func TestAuth(t *testing.T) {
	g := startGateway(t, Options{AdminKey: "s3cret"}, spec("p"))
	for _, open := range []string{"/", "/health", "/metrics"} {
		if r := g.do(t, "GET", open, ""); r.status != 200 {
			t.Fatalf("%s without credentials: %d", open, r.status)
		}
	}
	expect(t, g.do(t, "GET", "/api/providers", ""), 401, "no credentials")
	expect(t, g.do(t, "GET", "/api/providers", "", "Authorization", "Bearer wrong"), 401, "wrong key")
	expect(t, g.do(t, "GET", "/api/providers", "", "Authorization", "Bearer s3cret"), 200, "bearer")
	expect(t, g.do(t, "GET", "/api/providers", "", "X-API-Key", "s3cret"), 200, "x-api-key")
	expect(t, g.do(t, "POST", "/mcp", `{}`), 401, "mcp without credentials")

	closed := startGateway(t, Options{AdminKey: "k", MetricsRequireAuth: true})
	expect(t, closed.do(t, "GET", "/metrics", ""), 401, "closed metrics")
}

func TestOpenServerRefusesNonLoopback(t *testing.T) {
	rt := actors.NewRuntime(actors.Options{})
	defer func() { _ = rt.Shutdown(context.Background()) }()
	srv := New(rt, Options{})
	defer func() { _ = srv.Shutdown(context.Background()) }()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, ErrInsecure) {
		t.Fatalf("open server on 0.0.0.0: %v", err)
	}
}

// mcpClient connects the official SDK client to a gateway MCP endpoint.
func mcpClient(t *testing.T, url string, onToolsChanged func()) *sdk.ClientSession {
	t.Helper()
	opts := &sdk.ClientOptions{}
	if onToolsChanged != nil {
		opts.ToolListChangedHandler = func(context.Context, *sdk.ToolListChangedRequest) { onToolsChanged() }
	}
	c := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *sdk.ClientSession) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tl := range res.Tools {
		names[tl.Name] = true
	}
	return names
}

func callText(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	if res.IsError || len(res.Content) == 0 {
		var text string
		if len(res.Content) > 0 {
			if tc, ok := res.Content[0].(*sdk.TextContent); ok {
				text = tc.Text
			}
		}
		t.Fatalf("call %s: error result %q (%+v)", name, text, res)
	}
	return res.Content[0].(*sdk.TextContent).Text
}

func TestMCPAggregatedAndPerProvider(t *testing.T) {
	g := startGateway(t, Options{}, spec("alpha"), spec("beta"))
	changed := make(chan struct{}, 16)
	cs := mcpClient(t, g.base+"/mcp", func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	names := toolNames(t, cs)
	for _, want := range []string{"alpha__echo", "beta__echo", "alpha__add"} {
		if !names[want] {
			t.Fatalf("aggregated tools lack %s: %v", want, names)
		}
	}
	if got := callText(t, cs, "beta__echo", map[string]any{"text": "via mcp"}); got != "via mcp" {
		t.Fatalf("beta__echo = %q", got)
	}
	// A provider's tool list change reaches the connected client.
	for len(changed) > 0 {
		<-changed
	}
	callText(t, cs, "alpha__add_tool", map[string]any{"name": "extra"})
	deadline := time.After(10 * time.Second)
	select {
	case <-changed:
	case <-deadline:
		t.Fatal("no notifications/tools/list_changed after a provider added a tool")
	}
	// A notification of an earlier change may come first: the new tool
	// must be listed after the notification of its own change.
	for !toolNames(t, cs)["alpha__extra"] {
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("the new tool is not listed")
		}
	}

	one := mcpClient(t, g.base+"/mcp/beta", nil)
	names = toolNames(t, one)
	if !names["echo"] || names["beta__echo"] || names["alpha__echo"] {
		t.Fatalf("per-provider tools: %v", names)
	}
	if got := callText(t, one, "echo", map[string]any{"text": "direct"}); got != "direct" {
		t.Fatalf("echo = %q", got)
	}
	expect(t, g.do(t, "POST", "/mcp/ghost", `{}`), 404, "unknown provider endpoint")

	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	r := g.do(t, "POST", "/mcp", init, "Origin", "https://evil.example", "Content-Type", "application/json", "Accept", "application/json, text/event-stream")
	expect(t, r, 403, "foreign origin")
	r = g.do(t, "POST", "/mcp", init, "Content-Type", "application/json", "Accept", "application/json, text/event-stream")
	if r.status != 200 || !strings.Contains(string(r.raw), `"protocolVersion":"2025-03-26"`) || r.header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("2025-03-26 initialize: %d %s", r.status, r.raw)
	}
}

func TestMCPOlderProtocolClient(t *testing.T) {
	g := startGateway(t, Options{}, spec("p"))
	c := sdk.NewClient(&sdk.Implementation{Name: "old", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, v := range []string{"2025-06-18", "2025-11-25"} {
		cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: g.base + "/mcp"}, &sdk.ClientSessionOptions{ProtocolVersion: v})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got := cs.InitializeResult().ProtocolVersion; got != v {
			t.Fatalf("negotiated %s, want %s", got, v)
		}
		if got := callText(t, cs, "p__echo", map[string]any{"text": v}); got != v {
			t.Fatalf("echo = %q", got)
		}
		_ = cs.Close()
	}
}

func TestEverythingThroughMCP(t *testing.T) {
	node, js := testbin.NeedEverything(t)
	g := startGateway(t, Options{}, subprocess("everything", 30*time.Second, node, js))
	cs := mcpClient(t, g.base+"/mcp", nil)
	names := toolNames(t, cs)
	if !names["everything__echo"] {
		t.Fatalf("server-everything tools: %v", names)
	}
	if got := callText(t, cs, "everything__echo", map[string]any{"message": "hello"}); !strings.Contains(got, "hello") {
		t.Fatalf("everything__echo = %q", got)
	}
	r := g.do(t, "POST", "/api/providers/everything/tools/get-sum/call", `{"arguments":{"a":2,"b":40}}`)
	expect(t, r, 200, "REST call to server-everything")
	if !bytes.Contains(r.raw, []byte("42")) {
		t.Fatalf("get-sum: %s", r.raw)
	}
	info, _ := g.rt.Get("everything")
	if info.Server == nil || info.Server.ProtocolVersion != "2025-11-25" {
		t.Fatalf("server-everything negotiated %+v", info.Server)
	}
}

func TestGroupsAPI(t *testing.T) {
	g := startGateway(t, Options{}, spec("m1"), spec("m2"))
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"pool","strategy":"round_robin","min_healthy":2}`), 201, "create group")
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"pool"}`), 409, "duplicate group")
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"m1"}`), 409, "group named like a provider")
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"x","strategy":"fastest"}`), 400, "unknown strategy")
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"a__b"}`), 400, "bad id")
	expect(t, g.do(t, "POST", "/api/groups/pool/members", `{"member_id":"m1","weight":1}`), 201, "add m1")
	expect(t, g.do(t, "POST", "/api/groups/pool/members", `{"member_id":"m2","weight":3,"priority":2}`), 201, "add m2")
	expect(t, g.do(t, "POST", "/api/groups/pool/members", `{"member_id":"m2"}`), 409, "add twice")
	r := g.do(t, "POST", "/api/groups/pool/members", `{"member_id":"ghost"}`)
	expect(t, r, 404, "add an unknown provider")
	if r.body["error"] != "ProviderNotFoundError" {
		t.Fatalf("unknown member error: %s", r.raw)
	}
	r = g.do(t, "GET", "/api/groups/nope", "")
	expect(t, r, 404, "unknown group")
	if r.body["error"] != "GroupNotFoundError" {
		t.Fatalf("unknown group error: %s", r.raw)
	}

	r = g.do(t, "GET", "/api/groups", "")
	expect(t, r, 200, "list groups")
	list := r.body["groups"].([]any)
	pool := list[0].(map[string]any)
	if len(list) != 1 || pool["group_id"] != "pool" || pool["state"] != "healthy" || pool["circuit_breaker_state"] != "closed" || len(pool["members"].([]any)) != 2 {
		t.Fatalf("groups: %s", r.raw)
	}
	// A call through the group id on the REST call endpoint.
	r = g.do(t, "POST", "/api/providers/pool/tools/echo/call", `{"arguments":{"text":"via group"}}`)
	expect(t, r, 200, "call through the group")
	if !strings.Contains(string(r.raw), "via group") {
		t.Fatalf("group call: %s", r.raw)
	}
	expect(t, g.do(t, "PUT", "/api/groups/pool", `{"strategy":"weighted","description":"two"}`), 200, "update")
	expect(t, g.do(t, "PUT", "/api/groups/pool", `{"strategy":"nope"}`), 400, "update to an unknown strategy")
	if r = g.do(t, "GET", "/api/groups/pool", ""); r.body["strategy"] != "weighted" || r.body["description"] != "two" {
		t.Fatalf("after update: %s", r.raw)
	}
	r = g.do(t, "POST", "/api/groups/pool/rebalance", "")
	expect(t, r, 200, "rebalance")
	if r.body["status"] != "rebalanced" || r.body["group_id"] != "pool" {
		t.Fatalf("rebalance: %s", r.raw)
	}

	// The group's tools appear in /mcp as pool__{tool}.
	cs := mcpClient(t, g.base+"/mcp", nil)
	if got := callText(t, cs, "pool__echo", map[string]any{"text": "mcp group"}); got != "mcp group" {
		t.Fatalf("pool__echo = %q", got)
	}

	expect(t, g.do(t, "DELETE", "/api/groups/pool/members/m2", ""), 200, "remove member")
	expect(t, g.do(t, "DELETE", "/api/groups/pool/members/m2", ""), 404, "remove twice")
	expect(t, g.do(t, "DELETE", "/api/groups/pool", ""), 200, "delete group")
	expect(t, g.do(t, "DELETE", "/api/groups/pool", ""), 404, "delete twice")
}

// TestGroupsBelongToATenant: a group created by tenant beta is beta's: it
// takes beta's providers only, alpha does not see it on any surface, and
// beta calls through it.
func TestGroupsBelongToATenant(t *testing.T) {
	b1, a1 := spec("b1"), spec("a1")
	b1.Tenant, a1.Tenant = "beta", "alpha"
	g := startGateway(t, Options{}, b1, a1)
	beta, alpha := []string{"x-tenant-id", "beta"}, []string{"x-tenant-id", "alpha"}
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"bpool"}`, beta...), 201, "beta creates a group")
	expect(t, g.do(t, "POST", "/api/groups/bpool/members", `{"member_id":"b1"}`, beta...), 201, "add beta's provider")
	expect(t, g.do(t, "POST", "/api/groups/bpool/members", `{"member_id":"a1"}`, beta...), 400, "add alpha's provider")
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"bpool"}`, alpha...), 409, "the id is taken all the same")

	if r := g.do(t, "GET", "/api/groups", "", alpha...); len(r.body["groups"].([]any)) != 0 {
		t.Fatalf("alpha lists beta's group: %s", r.raw)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/groups/bpool", ""},
		{"PUT", "/api/groups/bpool", `{"description":"mine now"}`},
		{"POST", "/api/groups/bpool/rebalance", ""},
		{"POST", "/api/groups/bpool/members", `{"member_id":"a1"}`},
		{"DELETE", "/api/groups/bpool/members/b1", ""},
		{"DELETE", "/api/groups/bpool", ""},
		{"POST", "/api/providers/bpool/tools/echo/call", `{"arguments":{"text":"x"}}`},
	} {
		expect(t, g.do(t, c.method, c.path, c.body, alpha...), 404, "alpha: "+c.method+" "+c.path)
	}
	expect(t, g.do(t, "POST", "/mcp/bpool", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, alpha...), 404, "alpha: /mcp/bpool")
	want(t, g.v1(t, "POST", "/v1/mcp/tools/call", `{"server_id":"bpool","tool_name":"echo","arguments":{"text":"x"},"tenant_id":"alpha"}`, ""),
		404, "server_not_found", "alpha: /v1 call through beta's group")

	r := g.do(t, "GET", "/api/groups", "", beta...)
	if list := r.body["groups"].([]any); len(list) != 1 || list[0].(map[string]any)["tenant"] != "beta" {
		t.Fatalf("beta's groups: %s", r.raw)
	}
	r = g.do(t, "POST", "/api/providers/bpool/tools/echo/call", `{"arguments":{"text":"via beta's group"}}`, beta...)
	expect(t, r, 200, "beta calls through its group")
	if !strings.Contains(string(r.raw), "via beta's group") {
		t.Fatalf("beta's group call: %s", r.raw)
	}
	want(t, g.v1(t, "POST", "/v1/mcp/tools/call", `{"server_id":"bpool","tool_name":"echo","arguments":{"text":"v1"},"tenant_id":"beta"}`, ""),
		200, "", "beta: /v1 call through its group")
	expect(t, g.do(t, "DELETE", "/api/groups/bpool", "", beta...), 200, "beta deletes its group")
}

func TestSaturatedProviderAnswers429WithRetryAfter(t *testing.T) {
	s := spec("slow")
	s.MaxConcurrency = 1
	s.MaxQueue = 1
	g := startGateway(t, Options{}, s)
	expect(t, g.do(t, "POST", "/api/providers/slow/tools/echo/call", `{"arguments":{"text":"warm"}}`), 200, "warm")
	done := make(chan error, 2)
	for i := 0; i < 2; i++ { // one runs, one waits
		go func() {
			r, err := g.send("POST", "/api/providers/slow/tools/sleep/call", `{"arguments":{"ms":1500}}`)
			if err == nil && r.status != 200 {
				err = fmt.Errorf("status %d: %s", r.status, r.raw)
			}
			done <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := g.rt.Get("slow")
		if info.InFlight == 1 && info.Queued == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saturated: %d in flight, %d queued", info.InFlight, info.Queued)
		}
		time.Sleep(2 * time.Millisecond) // polling published counters
	}
	r := g.do(t, "POST", "/api/providers/slow/tools/echo/call", `{"arguments":{"text":"x"}}`)
	expect(t, r, 429, "saturated provider")
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %v", r.header)
	}
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Fatalf("running or queued call: %v", err)
		}
	}
}

// TestRetryAfterOnlyWhereWaitingHelps: a refusal that may pass later (a
// full start queue, a group without a usable member) carries Retry-After;
// a dead or stopped provider, which only a start revives, does not.
func TestRetryAfterOnlyWhereWaitingHelps(t *testing.T) {
	dead := spec("dead")
	dead.Env = map[string]string{"SY_TESTSERVER_MODE": "exit"}
	dead.Restart = supervisor.RestartPolicy{MaxRestarts: 1}
	full := spec("full")
	full.Env = map[string]string{"SY_TESTSERVER_MODE": "slowstart=1000"}
	full.MaxPending = 1
	g := startGateway(t, Options{}, dead, full, spec("off"))
	retryAfter := func(path string, status int, want bool) {
		t.Helper()
		r := g.do(t, "POST", path, `{"arguments":{"text":"x"}}`)
		expect(t, r, status, path)
		if got := r.header.Get("Retry-After") != ""; got != want {
			t.Fatalf("%s: Retry-After %q, want one: %v (%s)", path, r.header.Get("Retry-After"), want, r.raw)
		}
	}
	waitState := func(id string, s actors.State) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for info, _ := g.rt.Get(id); info.State != s; info, _ = g.rt.Get(id) {
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s, want %s", id, info.State, s)
			}
			time.Sleep(2 * time.Millisecond) // polling the published state
		}
	}

	// Its first start fails (worth retrying), its restart too: dead.
	retryAfter("/api/providers/dead/tools/echo/call", 503, true)
	waitState("dead", actors.StateDead)
	retryAfter("/api/providers/dead/tools/echo/call", 503, false)

	expect(t, g.do(t, "POST", "/api/providers/off/stop", `{"reason":"test"}`), 200, "stop")
	retryAfter("/api/providers/off/tools/echo/call", 503, false)

	// A group whose members are dead or stopped has nobody to take calls
	// now, but may have soon.
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"none"}`), 201, "create group")
	for _, m := range []string{"dead", "off"} {
		expect(t, g.do(t, "POST", "/api/groups/none/members", fmt.Sprintf(`{"member_id":%q}`, m)), 201, "add "+m)
	}
	retryAfter("/api/providers/none/tools/echo/call", 503, true)

	// A start queue that is full: busy.
	first := make(chan error, 1)
	go func() {
		r, err := g.send("POST", "/api/providers/full/tools/echo/call", `{"arguments":{"text":"first"}}`)
		if err == nil && r.status != 200 {
			err = fmt.Errorf("status %d: %s", r.status, r.raw)
		}
		first <- err
	}()
	waitState("full", actors.StateInitializing) // the first call waits in the queue
	retryAfter("/api/providers/full/tools/echo/call", 429, true)
	if err := <-first; err != nil {
		t.Fatalf("the call that waited for the start: %v", err)
	}
}

func TestJWTRoles(t *testing.T) {
	v, err := auth.NewHS256("jwt-secret")
	if err != nil {
		t.Fatal(err)
	}
	p := spec("p")
	p.Tenant = "acme"
	g := startGateway(t, Options{JWT: v}, p)
	token := func(roles ...string) string {
		tok, err := auth.SignHS256("jwt-secret", map[string]any{"sub": "u", "tenant_id": "acme", "exp": time.Now().Add(time.Hour).Unix(), "roles": roles})
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	create := fmt.Sprintf(`{"provider_id":"q","mode":"subprocess","command":[%q]}`, testbin.Path())
	call := `{"arguments":{"text":"hi"}}`
	viewer, developer, admin, nobody := token(auth.RoleViewer), token(auth.RoleDeveloper), token(auth.RoleAdmin), token()

	expect(t, g.do(t, "GET", "/api/providers", ""), 401, "no token")
	expect(t, g.do(t, "GET", "/api/providers", "", "Authorization", nobody), 403, "no role")
	expect(t, g.do(t, "GET", "/api/providers", "", "Authorization", viewer), 200, "viewer reads")
	expect(t, g.do(t, "POST", "/api/providers/p/tools/echo/call", call, "Authorization", viewer), 403, "viewer calls")
	expect(t, g.do(t, "POST", "/api/providers/p/tools/echo/call", call, "Authorization", developer), 200, "developer calls")
	expect(t, g.do(t, "POST", "/api/providers", create, "Authorization", developer), 403, "developer creates")
	expect(t, g.do(t, "POST", "/api/providers", create, "Authorization", admin), 201, "admin creates")
	expired, _ := auth.SignHS256("jwt-secret", map[string]any{"sub": "u", "exp": time.Now().Add(-time.Hour).Unix(), "roles": []string{"admin"}})
	expect(t, g.do(t, "GET", "/api/providers", "", "Authorization", "Bearer "+expired), 401, "expired token")
	forged, _ := auth.SignHS256("other-secret", map[string]any{"sub": "u", "exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"admin"}})
	expect(t, g.do(t, "GET", "/api/providers", "", "Authorization", "Bearer "+forged), 401, "token signed with another key")
	if r := g.do(t, "GET", "/health", ""); r.status != 200 {
		t.Fatalf("health must stay open: %d", r.status)
	}
}
