package httpfront

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	mcpfront "github.com/switchyard-mcp/switchyard/httpfront/mcp"
)

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mcpPost posts a raw JSON-RPC body to an MCP endpoint with header pairs.
func (g *gateway) mcpPost(t *testing.T, path, body string, hdr ...string) response {
	t.Helper()
	return g.do(t, "POST", path, body, append([]string{"Content-Type", "application/json",
		"Accept", "application/json, text/event-stream"}, hdr...)...)
}

// initSession initialises an MCP session at path on a protocol revision
// and returns its id.
func (g *gateway) initSession(t *testing.T, path, version string) string {
	t.Helper()
	r := g.mcpPost(t, path, fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, version))
	sid := r.header.Get("Mcp-Session-Id")
	if r.status != 200 || sid == "" || !strings.Contains(string(r.raw), version) {
		t.Fatalf("initialize %s at %s: %d %s", version, path, r.status, r.raw)
	}
	g.mcpPost(t, path, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", version)
	return sid
}

// batch is a JSON-RPC batch of n requests of method with params.
func batch(n int, method, params string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, i+100, method, params)
	}
	return b.String() + "]"
}

// wantBatchRefused checks the JSON-RPC Invalid Request answer to a batch.
func wantBatchRefused(t *testing.T, r response, what string) {
	t.Helper()
	e, _ := r.body["error"].(map[string]any)
	if r.status != 400 || r.body["jsonrpc"] != "2.0" || r.body["id"] != nil || e == nil ||
		e["code"] != float64(-32600) || !strings.Contains(fmt.Sprint(e["message"]), "batches are not supported") {
		t.Fatalf("%s: %d %s, want 400 with a JSON-RPC -32600 error and id null", what, r.status, r.raw)
	}
	if _, ok := r.body["id"]; !ok {
		t.Fatalf("%s: no id member in %s", what, r.raw)
	}
}

// TestMCPBatchesByRevision checks that /mcp and /mcp/{id} refuse JSON-RPC
// batches on the revisions that removed them (2025-06-18 and later),
// whether the request's header or its session names the revision, and
// still serve them to 2025-03-26 sessions.
func TestMCPBatchesByRevision(t *testing.T) {
	g := startGateway(t, Options{}, spec("p"))
	pings := batch(2, "ping", "{}")
	for _, path := range []string{"/mcp", "/mcp/p"} {
		for _, v := range []string{"2025-06-18", "2025-11-25"} {
			sid := g.initSession(t, path, v)
			wantBatchRefused(t, g.mcpPost(t, path, pings, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", v), path+" "+v+" with the header")
			wantBatchRefused(t, g.mcpPost(t, path, " \n"+pings, "Mcp-Session-Id", sid), path+" "+v+" by its session")
			// One request at a time still works.
			if r := g.mcpPost(t, path, `{"jsonrpc":"2.0","id":7,"method":"ping"}`, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", v); r.status != 200 {
				t.Fatalf("%s %s ping: %d %s", path, v, r.status, r.raw)
			}
		}
		wantBatchRefused(t, g.mcpPost(t, path, pings, "Mcp-Protocol-Version", "2026-07-28"), path+" 2026-07-28")

		sid := g.initSession(t, path, "2025-03-26")
		r := g.mcpPost(t, path, pings, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-03-26")
		if r.status != 200 || !bytes.HasPrefix(bytes.TrimSpace(r.raw), []byte("[")) {
			t.Fatalf("%s 2025-03-26 batch: %d %s, want 200 with an array", path, r.status, r.raw)
		}
	}
}

// TestMCPBatchLogsBounded sends a 1,000-element batch whose every element
// makes the SDK log an error and checks that the log gets a bounded number
// of lines rather than one per element. A group's endpoint is the SDK's
// server (the relay, which serves /mcp and a provider's endpoint, logs
// nothing per message).
func TestMCPBatchLogsBounded(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	g := startGateway(t, Options{Logger: log, MCP: mcpfront.Options{Logger: log}}, spec("p"))
	expect(t, g.do(t, "POST", "/api/groups", `{"group_id":"pool"}`), 201, "create group")
	expect(t, g.do(t, "POST", "/api/groups/pool/members", `{"member_id":"p"}`), 201, "add p")
	sid := g.initSession(t, "/mcp/pool", "2025-03-26")
	before := strings.Count(buf.String(), "\n")

	// Every element is a second initialize of the session: an error each.
	body := batch(1000, "initialize", `{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}`)
	r := g.mcpPost(t, "/mcp/pool", body, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-03-26")
	var answers []any
	if r.status != 200 || json.Unmarshal(r.raw, &answers) != nil || len(answers) != 1000 {
		t.Fatalf("batch: %d %.300s", r.status, r.raw)
	}
	logged := buf.String()
	if n := strings.Count(logged, "\n") - before; n > 20 {
		t.Fatalf("%d log lines for one batch, want at most 20:\n%.2000s", n, logged)
	}
	if !strings.Contains(logged, "duplicate initialize request") {
		t.Fatalf("the error is not logged at all:\n%s", logged)
	}
}

// TestRelayBadMessages: a body that is not JSON is a parse error (-32700),
// JSON that is no message object an invalid request (-32600), both 400
// with the session still usable after them.
func TestRelayBadMessages(t *testing.T) {
	g := startGateway(t, Options{}, spec("p"))
	sid := g.initSession(t, "/mcp/p", "2025-11-25")
	for _, c := range []struct {
		body string
		code float64
	}{
		{`{"jsonrpc":"2.0","id":1,"method":`, -32700},
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}}`, -32700},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\x01\"}", -32700},
		{`null`, -32600},
		{`"ping"`, -32600},
		{`{"jsonrpc":"2.0","id":1,"method":5}`, -32600},
		{`{"jsonrpc":"1.0","id":1,"method":"ping"}`, -32600},
	} {
		r := g.mcpPost(t, "/mcp/p", c.body, "Mcp-Session-Id", sid)
		e, _ := r.body["error"].(map[string]any)
		if r.status != 400 || e == nil || e["code"] != c.code {
			t.Fatalf("%q: %d %s, want 400 with code %v", c.body, r.status, r.raw, c.code)
		}
	}
	if r := g.mcpPost(t, "/mcp/p", `{"jsonrpc":"2.0","id":2,"method":"ping"}`, "Mcp-Session-Id", sid); r.status != 200 {
		t.Fatalf("ping after the bad messages: %d %s", r.status, r.raw)
	}
}
