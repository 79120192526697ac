package httpfront

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// relayClient connects the official Go SDK client to url, speaking
// protocol revision version (a 2025 session, or 2026-07-28 stateless
// requests), with handlers for what a server may ask or tell it during a
// call.
type relayClient struct {
	cs *sdk.ClientSession

	mu       sync.Mutex
	progress chan float64
	logs     []string
	logged   chan string // each log message's data, as it arrives
	sampled  []string
}

func newRelayClient(t *testing.T, url, version string) *relayClient {
	t.Helper()
	rc := &relayClient{progress: make(chan float64, 64), logged: make(chan string, 64)}
	opts := &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
			rc.progress <- r.Params.Progress
		},
		LoggingMessageHandler: func(_ context.Context, r *sdk.LoggingMessageRequest) {
			rc.mu.Lock()
			rc.logs = append(rc.logs, string(r.Params.Level))
			rc.mu.Unlock()
			select {
			case rc.logged <- fmt.Sprint(r.Params.Data):
			default:
			}
		},
		CreateMessageHandler: func(_ context.Context, r *sdk.CreateMessageRequest) (*sdk.CreateMessageResult, error) {
			var text string
			if len(r.Params.Messages) > 0 {
				if tc, ok := r.Params.Messages[0].Content.(*sdk.TextContent); ok {
					text = tc.Text
				}
			}
			rc.mu.Lock()
			rc.sampled = append(rc.sampled, text)
			rc.mu.Unlock()
			return &sdk.CreateMessageResult{Model: "relay-test-model", Role: "assistant",
				Content: &sdk.TextContent{Text: "sampled answer"}}, nil
		},
		ElicitationHandler: func(_ context.Context, r *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada Lovelace"}}, nil
		},
	}
	c := sdk.NewClient(&sdk.Implementation{Name: "relay-test", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		t.Fatalf("negotiated %s, want %s", got, version)
	}
	rc.cs = cs
	return rc
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func resultText(t *testing.T, res *sdk.CallToolResult, err error, what string) string {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.IsError {
		t.Fatalf("%s: tool error %q", what, b.String())
	}
	return b.String()
}

// TestRelayEverything drives a third-party server (server-everything)
// through /mcp/{id} and the aggregate /mcp with the official Go SDK client,
// in a 2025-11-25 session and with 2026-07-28 stateless requests (where
// the server's questions become input_required rounds): the backend's serverInfo (at /mcp/{id}) and
// capabilities, resources, templates, prompts and completion are relayed,
// and what the server sends during a call (progress, sampling and
// elicitation requests) reaches this client and its answers reach the
// server.
func TestRelayEverything(t *testing.T) {
	node, js := testbin.NeedEverything(t)
	g := startGateway(t, Options{}, subprocess("everything", 30*time.Second, node, js))
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version+" one provider", func(t *testing.T) { relayEverything(t, g, "/mcp/everything", "", version) })
		t.Run(version+" aggregate", func(t *testing.T) { relayEverything(t, g, "/mcp", "everything", version) })
	}
}

// relayEverything runs TestRelayEverything at path in protocol revision
// version, where names carry the prefix of provider ("" for none).
func relayEverything(t *testing.T, g *gateway, path, provider, version string) {
	rc := newRelayClient(t, g.base+path, version)
	cs := rc.cs
	ctx := callCtx(t)
	name := func(n string) string {
		if provider == "" {
			return n
		}
		return provider + "__" + n
	}

	init := cs.InitializeResult()
	if want := "everything"; provider != "" {
		want = "switchyard"
		if init.ServerInfo == nil || init.ServerInfo.Name != want {
			t.Fatalf("serverInfo %+v, want the gateway's", init.ServerInfo)
		}
	} else if init.ServerInfo == nil || !strings.Contains(init.ServerInfo.Name, want) {
		t.Fatalf("serverInfo %+v, want the backend's", init.ServerInfo)
	}
	if c := init.Capabilities; c == nil || c.Resources == nil || c.Prompts == nil || c.Completions == nil || c.Tools == nil || c.Logging == nil {
		t.Fatalf("capabilities %+v, want the backend's resources, prompts and completions", init.Capabilities)
	}

	resources, err := cs.ListResources(ctx, nil)
	if err != nil || len(resources.Resources) == 0 {
		t.Fatalf("resources/list: %v %+v", err, resources)
	}
	read, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: resources.Resources[0].URI})
	if err != nil || len(read.Contents) == 0 || read.Contents[0].URI != resources.Resources[0].URI {
		t.Fatalf("resources/read %s: %v %+v", resources.Resources[0].URI, err, read)
	}
	templates, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil || len(templates.ResourceTemplates) == 0 {
		t.Fatalf("resources/templates/list: %v %+v", err, templates)
	}
	if provider != "" && !strings.HasPrefix(resources.Resources[0].URI, "switchyard://"+provider+"/") {
		t.Fatalf("aggregate resource URI %q, want it prefixed", resources.Resources[0].URI)
	}
	if _, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "demo://no/such/resource"}); err == nil {
		t.Fatal("reading an unknown resource: no error")
	}

	prompts, err := cs.ListPrompts(ctx, nil)
	if err != nil || len(prompts.Prompts) == 0 {
		t.Fatalf("prompts/list: %v %+v", err, prompts)
	}
	p, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: name("simple-prompt")})
	if err != nil || len(p.Messages) == 0 {
		t.Fatalf("prompts/get: %v %+v", err, p)
	}
	comp, err := cs.Complete(ctx, &sdk.CompleteParams{
		Ref:      &sdk.CompleteReference{Type: "ref/prompt", Name: name("completable-prompt")},
		Argument: sdk.CompleteParamsArgument{Name: "department", Value: "Eng"},
	})
	if err != nil || len(comp.Completion.Values) != 1 || comp.Completion.Values[0] != "Engineering" {
		t.Fatalf("completion/complete: %v %+v", err, comp)
	}

	// Progress: the client's token comes back on its notifications.
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name("trigger-long-running-operation"),
		Arguments: map[string]any{"duration": 0.3, "steps": 3}, Meta: sdk.Meta{"progressToken": "tok-1"}})
	resultText(t, res, err, "trigger-long-running-operation")
	// The client may run its handlers after the answer: wait for them.
	for i := range 3 {
		select {
		case <-rc.progress:
		case <-ctx.Done():
			t.Fatalf("%d progress notifications, want 3", i)
		}
	}

	// Sampling: the server's request reaches this client, its answer the
	// server.
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: name("trigger-sampling-request"),
		Arguments: map[string]any{"prompt": "relay me"}})
	text := resultText(t, res, err, "trigger-sampling-request")
	rc.mu.Lock()
	sampled := strings.Join(rc.sampled, "|")
	rc.mu.Unlock()
	if !strings.Contains(sampled, "relay me") || !strings.Contains(text, "sampled answer") {
		t.Fatalf("sampling: the client saw %q, the tool answered %q", sampled, text)
	}

	// Elicitation likewise.
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: name("trigger-elicitation-request")})
	text = resultText(t, res, err, "trigger-elicitation-request")
	if !strings.Contains(text, "Ada Lovelace") {
		t.Fatalf("elicitation: the tool answered %q", text)
	}

	// Logging: the level a session sets is the backend's; the stateless
	// revision has no logging/setLevel (each request names its level).
	err = cs.SetLoggingLevel(ctx, &sdk.SetLoggingLevelParams{Level: "debug"})
	if version < "2026-07-28" && err != nil {
		t.Fatalf("logging/setLevel: %v", err)
	}
	if version >= "2026-07-28" && (err == nil || !strings.Contains(err.Error(), "Method not found")) {
		t.Fatalf("logging/setLevel in the stateless revision: %v, want method not found", err)
	}
}

// TestRelaySessionOwnAndGuarded: a /mcp/{id} session belongs to the
// principal that opened it (another one gets 404 on every method with its
// id), a call that streams nothing is answered with plain JSON, and a
// request naming a foreign Host, or a foreign Origin, is refused.
func TestRelaySessionOwnAndGuarded(t *testing.T) {
	v := hs256(t, "relay-own")
	g := startGateway(t, Options{JWT: v}, spec("p"))
	alice := "Bearer " + signed(t, "relay-own", "alice", "default", "operator")
	carol := "Bearer " + signed(t, "relay-own", "carol", "default", "operator")
	r := g.mcpPost(t, "/mcp/p", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`,
		"Authorization", alice)
	sid := r.header.Get("Mcp-Session-Id")
	if r.status != 200 || sid == "" {
		t.Fatalf("initialize: %d %s", r.status, r.raw)
	}
	call := `{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"echo","arguments":{"text":"mine"}}}`
	r = g.mcpPost(t, "/mcp/p", call, "Authorization", alice, "Mcp-Session-Id", sid)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.body["id"] != "c1" ||
		!strings.Contains(string(r.raw), "mine") {
		t.Fatalf("alice's call: %d %s %s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	for _, m := range []string{"POST", "GET", "DELETE"} {
		body := ""
		if m == "POST" {
			body = call
		}
		r := g.do(t, m, "/mcp/p", body, "Authorization", carol, "Mcp-Session-Id", sid, "Content-Type", "application/json",
			"Accept", "application/json, text/event-stream")
		if r.status != 404 || strings.Contains(string(r.raw), "mine") {
			t.Fatalf("carol %s with alice's session: %d %s, want 404", m, r.status, r.raw)
		}
	}
	// Still alice's, and alive.
	if r := g.mcpPost(t, "/mcp/p", `{"jsonrpc":"2.0","id":2,"method":"ping"}`, "Authorization", alice, "Mcp-Session-Id", sid); r.status != 200 {
		t.Fatalf("alice's ping after carol's attempts: %d %s", r.status, r.raw)
	}
	for _, h := range [][]string{{"Host", "evil.example.com"}, {"Host", "evil.example.com", "Origin", "http://evil.example.com"},
		{"Origin", "http://evil.example.com"}} {
		r := g.raw(t, "POST", "/mcp/p", call, append([]string{"Authorization", alice, "Mcp-Session-Id", sid,
			"Content-Type", "application/json", "Accept", "application/json, text/event-stream"}, h...)...)
		if r.status != 403 {
			t.Fatalf("%v: %d %s, want 403", h, r.status, r.raw)
		}
	}
	// DELETE ends the session.
	if r := g.do(t, "DELETE", "/mcp/p", "", "Authorization", alice, "Mcp-Session-Id", sid); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	if r := g.mcpPost(t, "/mcp/p", call, "Authorization", alice, "Mcp-Session-Id", sid); r.status != 404 {
		t.Fatalf("a call in the ended session: %d %s, want 404", r.status, r.raw)
	}
}

// TestRelayTypeScriptClient runs the official TypeScript SDK client (a
// 2025-11-25 session) against server-everything through /mcp/{id} and the
// aggregate /mcp: test/npm/relay-client.mjs checks resources, prompts,
// completion, progress, sampling and elicitation.
// And test/npm/relay-logging.mjs checks, against the conformance fixture
// server, that log messages and progress sent during a call arrive before
// its answer.
func TestRelayTypeScriptClient(t *testing.T) {
	node, script := testbin.NPMScript(t, "relay-client.mjs")
	_, logging := testbin.NPMScript(t, "relay-logging.mjs")
	evNode, js := testbin.NeedEverything(t)
	g := startGateway(t, Options{}, subprocess("everything", 30*time.Second, evNode, js),
		subprocess("conf", 30*time.Second, testbin.ConfServer(t)))
	for _, c := range []struct{ script, path, prefix string }{
		{script, "/mcp/everything", ""}, {script, "/mcp", "everything"},
		{logging, "/mcp/conf", ""}, {logging, "/mcp", "conf"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, node, c.script, g.base+c.path, c.prefix)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "ok") {
			t.Fatalf("TypeScript client (%s) at %s: %v\n%s", filepath.Base(c.script), c.path, err, out)
		}
	}
}

// TestRelayLoggingDuringCall: the official Go SDK client, in a 2025-11-25
// session and with 2026-07-28 stateless requests, gets the log messages
// and progress notifications a tool of the conformance fixture sends
// while it runs, before the answer, through /mcp/{id} and the aggregate.
func TestRelayLoggingDuringCall(t *testing.T) {
	g := startGateway(t, Options{}, subprocess("conf", 30*time.Second, testbin.ConfServer(t)))
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		for _, c := range []struct{ path, prefix string }{{"/mcp/conf", ""}, {"/mcp", "conf__"}} {
			t.Run(version+" "+c.path, func(t *testing.T) {
				rc := newRelayClient(t, g.base+c.path, version)
				ctx := callCtx(t)
				// A session sets its level once; a stateless request names
				// it in its own _meta.
				var meta sdk.Meta
				if version == "2026-07-28" {
					meta = sdk.Meta{"io.modelcontextprotocol/logLevel": "info"}
				} else if err := rc.cs.SetLoggingLevel(ctx, &sdk.SetLoggingLevelParams{Level: "info"}); err != nil {
					t.Fatalf("logging/setLevel: %v", err)
				}
				res, err := rc.cs.CallTool(ctx, &sdk.CallToolParams{Name: c.prefix + "test_tool_with_logging", Meta: meta})
				resultText(t, res, err, "test_tool_with_logging")
				// The client may run its handlers after the answer, in any
				// order: wait for all three.
				receiveAll(t, ctx, rc.logged, "log message", "Tool execution started", "Tool processing data", "Tool execution completed")
				res, err = rc.cs.CallTool(ctx, &sdk.CallToolParams{Name: c.prefix + "test_tool_with_progress",
					Meta: sdk.Meta{"progressToken": "p-1"}})
				resultText(t, res, err, "test_tool_with_progress")
				receiveAll(t, ctx, rc.progress, "progress", 0, 50, 100)
			})
		}
	}
}

// receiveAll waits, until ctx is done, for every one of want on ch, in any
// order, and fails on anything else.
func receiveAll[T comparable](t *testing.T, ctx context.Context, ch <-chan T, what string, want ...T) {
	t.Helper()
	left := map[T]bool{}
	for _, w := range want {
		left[w] = true
	}
	for len(left) > 0 {
		select {
		case got := <-ch:
			if !left[got] {
				t.Fatalf("%s %v, want one of %v", what, got, left)
			}
			delete(left, got)
		case <-ctx.Done():
			t.Fatalf("%s %v never came", what, left)
		}
	}
}
