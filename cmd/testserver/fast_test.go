package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// fastClient posts to a fast backend started by startFast.
type fastClient struct {
	t   *testing.T
	url string
	hc  *http.Client
}

// startFast serves a fast backend named name on a loopback port until the
// test ends, then shuts it down and checks that it stopped cleanly.
func startFast(t *testing.T, name string) *fastClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveFast(ctx, newFastServer(name), ln) }()

	tr := &http.Transport{}
	c := &fastClient{t: t, url: "http://" + ln.Addr().String() + "/mcp", hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serveFast: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("serveFast did not stop")
		}
	})
	return c
}

// do sends an HTTP request and returns the status, the Content-Type and
// the body of the answer.
func (c *fastClient) do(method, body string) (int, string, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, clipTest(body), err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read answer: %v", method, clipTest(body), err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// rpcAnswer is a JSON-RPC answer as the tests read it.
type rpcAnswer struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// rpc posts body and decodes the JSON-RPC answer, checking the HTTP status
// and the Content-Type.
func (c *fastClient) rpc(body string, wantStatus int) rpcAnswer {
	c.t.Helper()
	status, ct, b := c.do(http.MethodPost, body)
	if status != wantStatus {
		c.t.Fatalf("POST %s: HTTP %d, want %d: %s", clipTest(body), status, wantStatus, b)
	}
	if ct != "application/json" {
		c.t.Fatalf("POST %s: Content-Type %q, want application/json", clipTest(body), ct)
	}
	var a rpcAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		c.t.Fatalf("POST %s: decode answer %s: %v", clipTest(body), b, err)
	}
	if a.JSONRPC != "2.0" {
		c.t.Fatalf("POST %s: jsonrpc %q in %s", clipTest(body), a.JSONRPC, b)
	}
	return a
}

// result posts a request and returns its result, failing on an error.
func (c *fastClient) result(body string, into any) {
	c.t.Helper()
	a := c.rpc(body, http.StatusOK)
	if a.Error != nil {
		c.t.Fatalf("POST %s: error %d %s", clipTest(body), a.Error.Code, a.Error.Message)
	}
	if err := json.Unmarshal(a.Result, into); err != nil {
		c.t.Fatalf("POST %s: decode result %s: %v", clipTest(body), a.Result, err)
	}
}

// wantRPCError posts body and checks the HTTP status and error code.
func (c *fastClient) wantRPCError(body string, status, code int) rpcAnswer {
	c.t.Helper()
	a := c.rpc(body, status)
	if a.Error == nil || a.Error.Code != code {
		c.t.Fatalf("POST %s: got %+v, want error %d", clipTest(body), a, code)
	}
	return a
}

// clipTest shortens a request body for failure messages.
func clipTest(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func TestFastServer(t *testing.T) {
	c := startFast(t, "fast-test")

	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
		Capabilities    struct {
			Tools *struct{} `json:"tools"`
		} `json:"capabilities"`
		ServerInfo struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"serverInfo"`
	}
	for _, tc := range []struct{ asked, want string }{
		{"2025-11-25", "2025-11-25"},
		{"2025-06-18", "2025-06-18"},
		{"2025-03-26", "2025-03-26"},
		{"2024-11-05", "2025-11-25"},
	} {
		c.result(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+tc.asked+
			`","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, &init)
		if init.ProtocolVersion != tc.want {
			t.Errorf("initialize asking %s: protocolVersion %q, want %q", tc.asked, init.ProtocolVersion, tc.want)
		}
	}
	if init.Capabilities.Tools == nil || init.ServerInfo.Name != "fast-test" || init.ServerInfo.Version != version {
		t.Errorf("initialize result %+v", init)
	}

	// A notification, and a response a client posts, are accepted without
	// a body.
	for _, body := range []string{
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
		`{"jsonrpc":"2.0","id":"s1","result":{}}`,
	} {
		if status, _, b := c.do(http.MethodPost, body); status != http.StatusAccepted || len(b) != 0 {
			t.Errorf("POST %s: HTTP %d %q, want 202 without a body", body, status, b)
		}
	}

	var ping map[string]any
	c.result(`{"jsonrpc":"2.0","id":1,"method":"ping"}`, &ping)
	if len(ping) != 0 {
		t.Errorf("ping result %v, want {}", ping)
	}

	var list struct {
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
		} `json:"tools"`
	}
	c.result(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, &list)
	if len(list.Tools) != 1 || list.Tools[0].Name != "echo" {
		t.Fatalf("tools/list result %+v", list)
	}
	var schema struct {
		Type       string `json:"type"`
		Properties map[string]struct {
			Type string `json:"type"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(list.Tools[0].InputSchema, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Type != "object" || schema.Properties["text"].Type != "string" || len(schema.Required) != 1 || schema.Required[0] != "text" {
		t.Errorf("echo inputSchema %s", list.Tools[0].InputSchema)
	}

	// tools/call echo answers as the SDK server does; the id comes back
	// as written.
	for _, text := range []string{"hello", `quote " and \ backslash`, "caf\u00e9 \u2603", ""} {
		args, _ := json.Marshal(map[string]string{"text": text})
		a := c.rpc(`{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"name":"echo","arguments":`+string(args)+`}}`, http.StatusOK)
		if string(a.ID) != `"call-7"` || a.Error != nil {
			t.Fatalf("echo %q: id %s, error %+v", text, a.ID, a.Error)
		}
		var res struct {
			IsError bool `json:"isError"`
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
		}
		if err := json.Unmarshal(a.Result, &res); err != nil {
			t.Fatal(err)
		}
		if res.IsError || len(res.Content) != 1 || res.Content[0].Type != "text" || res.Content[0].Text != text {
			t.Errorf("echo %q: result %s", text, a.Result)
		}
	}
	c.wantRPCError(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope","arguments":{}}}`, http.StatusOK, codeInvalidParams)
	c.wantRPCError(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":1}}}`, http.StatusOK, codeInvalidParams)

	// Unknown methods, server/discover among them, are not found.
	for _, m := range []string{"server/discover", "resources/list", "no/such"} {
		a := c.wantRPCError(`{"jsonrpc":"2.0","id":42,"method":"`+m+`"}`, http.StatusOK, codeMethodNotFound)
		if string(a.ID) != "42" {
			t.Errorf("%s: id %s, want 42", m, a.ID)
		}
	}

	// Malformed messages.
	c.wantRPCError(`{"jsonrpc":"2.0","id":1,"method":`, http.StatusBadRequest, codeParseError)
	c.wantRPCError(`not json`, http.StatusBadRequest, codeParseError)
	c.wantRPCError(`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, http.StatusBadRequest, codeInvalidRequest)
	c.wantRPCError(`{"jsonrpc":"2.0","id":1,"method":7}`, http.StatusBadRequest, codeInvalidRequest)
	c.wantRPCError(`{"jsonrpc":"2.0","id":{},"method":"ping"}`, http.StatusBadRequest, codeInvalidRequest)

	// No event streams, no sessions to delete, nothing but /mcp and /.
	if status, _, _ := c.do(http.MethodGet, ""); status != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d, want 405", status)
	}
	if status, _, _ := c.do(http.MethodDelete, ""); status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: HTTP %d, want 405", status)
	}
	root := *c
	root.url = strings.TrimSuffix(c.url, "/mcp") + "/"
	root.result(`{"jsonrpc":"2.0","id":1,"method":"ping"}`, &ping)
	other := *c
	other.url = strings.TrimSuffix(c.url, "/mcp") + "/other"
	if status, _, _ := other.do(http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"ping"}`); status != http.StatusNotFound {
		t.Errorf("POST /other: HTTP %d, want 404", status)
	}
}

func TestFastServerBodyLimit(t *testing.T) {
	c := startFast(t, "fast-test")
	// Just under the limit is read (and is valid JSON padded with spaces).
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	var res map[string]any
	c.result(ping+strings.Repeat(" ", fastMaxBody-len(ping)), &res)

	// One byte more is refused. Asked with "Expect: 100-continue" the
	// server refuses it from the Content-Length before the body is sent;
	// without, it answers as soon and closes the connection with the body
	// unread, which may reset it before the client reads the answer.
	tr := c.hc.Transport.(*http.Transport)
	tr.ExpectContinueTimeout = 10 * time.Second
	req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader(ping+strings.Repeat(" ", fastMaxBody+1-len(ping))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("oversized body: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: HTTP %d, want 413", resp.StatusCode)
	}
}

// BenchmarkFastEcho measures the fast backend's handler for one tools/call
// echo, without the network.
func BenchmarkFastEcho(b *testing.B) {
	fs := newFastServer("bench")
	body := []byte(`{"jsonrpc":"2.0","id":12345,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.SetRequestURI("/mcp")
	ctx.Request.SetBody(body)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.ResetBody()
		fs.handle(&ctx)
	}
	if !bytes.Contains(ctx.Response.Body(), []byte(`"text":"hello"`)) {
		b.Fatalf("answer %s", ctx.Response.Body())
	}
}
