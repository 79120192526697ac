package httpfront

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// offered lists the tool names a server offers on every surface that
// lists them: /v1 (the server's tools and discovery), /api and /mcp/{id};
// it fails the test when the surfaces disagree. The server belongs to the
// default tenant, so /mcp/{id} needs no tenant header.
func offered(t *testing.T, g *gateway, id string) map[string]bool {
	t.Helper()
	names := func(what string, raw []byte, list []any, pick func(map[string]any) string) map[string]bool {
		out := map[string]bool{}
		for _, x := range list {
			m, _ := x.(map[string]any)
			out[pick(m)] = true
		}
		if len(out) == 0 {
			t.Fatalf("%s lists nothing: %s", what, raw)
		}
		return out
	}
	r := g.v1(t, "GET", "/v1/mcp/servers/"+id+"/tools", "", "default")
	want(t, r, 200, "", "server tools")
	v1 := names("/v1 server tools", r.raw, r.body["tools"].([]any), func(m map[string]any) string { return m["name"].(string) })
	r = g.v1(t, "GET", "/v1/mcp/tools", "", "default")
	want(t, r, 200, "", "discovery")
	var mine []any
	for _, e := range r.body["tools"].([]any) {
		if e.(map[string]any)["server_id"] == id {
			mine = append(mine, e)
		}
	}
	disc := names("/v1 discovery", r.raw, mine, func(m map[string]any) string { return m["tool"].(map[string]any)["name"].(string) })
	r = g.do(t, "GET", "/api/providers/"+id+"/tools", "")
	expect(t, r, 200, "/api tools")
	api := names("/api tools", r.raw, r.body["tools"].([]any), func(m map[string]any) string { return m["name"].(string) })
	mcp := toolNames(t, mcpClient(t, g.base+"/mcp/"+id, nil))
	for what, set := range map[string]map[string]bool{"/v1 discovery": disc, "/api": api, "/mcp": mcp} {
		if fmt.Sprint(set) != fmt.Sprint(v1) {
			t.Fatalf("%s offers %v, /v1 %v", what, set, v1)
		}
	}
	return v1
}

// TestV1PinnedServerHidesNewTools: a server registered without a
// declaration has every served tool pinned. A tool it adds later is a
// security event and stays hidden everywhere; a pinned tool it drops
// quarantines it.
func TestV1PinnedServerHidesNewTools(t *testing.T) {
	g := startGateway(t, Options{})
	sub := g.rt.Hub().Subscribe(func(e *events.Event) bool {
		return e.Kind == "ToolAdded" || e.Kind == "ToolPoisoningDetected"
	}, 64)
	defer sub.Close()
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	id := g.register(t, "default", "tools", srv.URL(), "")
	call := func(tool, args string) response {
		return g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":%q,"arguments":%s}`, id, tool, args), "default")
	}
	if got := offered(t, g, id); !got["echo"] || !got["add_tool"] || !got["remove_tool"] {
		t.Fatalf("offered before the change: %v", got)
	}

	want(t, call("add_tool", `{"name":"exfiltrate"}`), 200, "", "tool added at run time")
	e := waitEvent(t, sub, "ToolAdded", func(e *events.Event) bool { return e.ProviderID == id })
	if p, ok := e.Data.(events.ToolAdded); !ok || p.Tool != "exfiltrate" || p.Tenant != "default" || e.Tenant != "default" {
		t.Fatalf("security event = %+v", e)
	}
	if got := offered(t, g, id); got["exfiltrate"] || !got["echo"] {
		t.Fatalf("offered after a tool was added: %v", got)
	}
	want(t, call("exfiltrate", `{"text":"x"}`), 404, "tool_not_found", "the new tool over /v1")
	expect(t, g.do(t, "POST", "/api/providers/"+id+"/tools/exfiltrate/call", `{"arguments":{"text":"x"}}`), 404, "the new tool over /api")
	want(t, call("echo", `{"text":"still"}`), 200, "", "a pinned tool after a tool was added")
	if r := g.v1(t, "GET", "/v1/mcp/servers/"+id, "", "default"); r.body["status"] != "active" {
		t.Fatalf("server after a tool was added = %s", r.raw)
	}
	if m := g.do(t, "GET", "/metrics", ""); !strings.Contains(string(m.raw), "switchyard_gateway_hidden_tools_total 1") ||
		!strings.Contains(string(m.raw), "agent_gateway_tool_poisoning_detected 0") {
		t.Fatal("the hidden tool is not counted, or counted as poisoning")
	}

	want(t, call("remove_tool", `{"name":"add"}`), 200, "", "a pinned tool removed")
	waitEvent(t, sub, "ToolPoisoningDetected", func(e *events.Event) bool { return e.ProviderID == id })
	want(t, call("echo", `{"text":"after"}`), 403, "server_quarantined", "call after a pinned tool went")
	r := g.v1(t, "GET", "/v1/mcp/servers/"+id, "", "default")
	if reason, _ := r.body["quarantine_reason"].(string); r.body["status"] != "quarantined" || !strings.Contains(reason, `"add"`) {
		t.Fatalf("server after a pinned tool went = %s", r.raw)
	}
}

// TestV1DeclaredToolsAreTheAllowlist: declared tools served with their
// declared names and descriptions are pinned at the first contact (the
// served schemas, not the declared ones) and are all the server offers; a
// description that differs quarantines it with the tool named.
func TestV1DeclaredToolsAreTheAllowlist(t *testing.T) {
	g := startGateway(t, Options{})
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	// The declared schema is looser than the served one.
	id := g.register(t, "default", "declared", srv.URL(),
		`[{"name":"echo","description":"Returns its text argument.","inputSchema":{"type":"object"}},
		  {"name":"add","description":"Returns the sum of a and b."}]`)
	call := func(server, tool, args string) response {
		return g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":%q,"arguments":%s}`, server, tool, args), "default")
	}
	r := call(id, "echo", `{"text":"declared"}`)
	want(t, r, 200, "", "a declared tool")
	if !strings.Contains(string(r.raw), "declared") {
		t.Fatalf("echo = %s", r.raw)
	}
	if got := offered(t, g, id); len(got) != 2 || !got["echo"] || !got["add"] {
		t.Fatalf("a declared server offers %v", got)
	}
	want(t, call(id, "pid", `{}`), 404, "tool_not_found", "a served tool not declared, over /v1")
	expect(t, g.do(t, "POST", "/api/providers/"+id+"/tools/pid/call", `{"arguments":{}}`), 404, "a served tool not declared, over /api")
	// The served schema was pinned: it requires text.
	want(t, call(id, "echo", `{}`), 400, "validation_failed", "the served schema applies")
	info, err := g.rt.Get(id)
	if err != nil || !strings.HasPrefix(info.Spec.Pinned, "sha256:") || !strings.Contains(string(info.Spec.Declared[1].InputSchema), `"text"`) {
		t.Fatalf("pin after the first contact: %+v, %v", info.Spec, err)
	}

	other := testbin.StartHTTP(t, "127.0.0.1:0", false)
	liar := g.register(t, "beta", "liar", other.URL(), `[{"name":"echo","description":"Echo"},{"name":"add","description":"Returns the sum of a and b."}]`)
	r = g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":"add","arguments":{"a":1,"b":2}}`, liar), "beta")
	want(t, r, 403, "server_quarantined", "a declared description differs")
	r = g.v1(t, "GET", "/v1/mcp/servers/"+liar, "", "beta")
	if reason, _ := r.body["quarantine_reason"].(string); !strings.Contains(reason, `"echo"`) || strings.Contains(reason, `"add"`) {
		t.Fatalf("quarantine reason = %s", r.raw)
	}
}

// TestV1DeclaredEverything: server-everything declared with two of its
// tools, with their real descriptions, serves them and hides the rest.
func TestV1DeclaredEverything(t *testing.T) {
	node, js := testbin.NeedEverything(t)
	url := startEverythingHTTP(t, node, js)
	g := startGateway(t, Options{})
	id := g.register(t, "default", "everything", url, `[
		{"name":"echo","description":"Echoes back the input string","inputSchema":{"type":"object","properties":{"message":{"type":"string"}}}},
		{"name":"get-sum","description":"Returns the sum of two numbers","inputSchema":{"type":"object"}}]`)
	call := func(tool, args string) response {
		return g.v1(t, "POST", "/v1/mcp/tools/call", fmt.Sprintf(`{"server_id":%q,"tool_name":%q,"arguments":%s}`, id, tool, args), "default")
	}
	r := call("echo", `{"message":"hi"}`)
	want(t, r, 200, "", "echo")
	if !strings.Contains(string(r.raw), "Echo: hi") {
		t.Fatalf("echo = %s", r.raw)
	}
	r = call("get-sum", `{"a":2,"b":3}`)
	want(t, r, 200, "", "get-sum")
	if !strings.Contains(string(r.raw), "5") {
		t.Fatalf("get-sum = %s", r.raw)
	}
	if got := offered(t, g, id); len(got) != 2 || !got["echo"] || !got["get-sum"] {
		t.Fatalf("server-everything offers %v", got)
	}
	want(t, call("get-env", `{}`), 404, "tool_not_found", "an undeclared tool")
}

// startEverythingHTTP runs server-everything's streamable HTTP server on a
// free loopback port and returns its MCP endpoint; its process group is
// killed when the test ends.
func startEverythingHTTP(t *testing.T, node, js string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(node, js, "streamableHttp") // #nosec G204 -- the test's own server
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("PORT=%d", port)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server-everything: %v", err)
	}
	readDone, listening := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		var once sync.Once
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on port") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-readDone
		_ = cmd.Wait()
	})
	select {
	case <-listening:
	case <-readDone:
		t.Fatal("server-everything ended before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("server-everything not listening within 30s")
	}
	return fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
}
