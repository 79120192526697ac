package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// browserReq is one request as a browser (or curl) sends it: hdr pairs,
// of which "Host" sets the Host the request names.
func browserReq(t *testing.T, gw *served, method, path, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, err := testbin.Request(method, gw.base+path, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// TestServeRefusesCrossSiteRequests runs the real binary open on loopback
// (no key) and sends it what any web page the user opens can make the
// browser send without a CORS preflight, and what DNS rebinding lets a
// page send: each is refused in its surface's error shape, and nothing is
// created, started or called. The gateway's own origin, a configured one,
// and clients sending no Origin keep working. The config's other listener
// setting, the header limit, is applied too.
func TestServeRefusesCrossSiteRequests(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	cfg := writeConfig(t, fmt.Sprintf(`providers:
  p:
    mode: subprocess
    command: [%q]
limits:
  max_header_bytes: 8192
mcp:
  allowed_hosts: [gw.test]
  allowed_origins: ["http://dash.test:3000"]
`, testServer))
	gw := startServe(t, cfg, t.TempDir())
	port := gw.addr[strings.LastIndexByte(gw.addr, ':')+1:]

	evilProvider := fmt.Sprintf(`{"provider_id":"evil","mode":"subprocess","command":["sh","-c","touch %s"]}`, marker)
	targets := []struct{ path, body string }{
		{"/api/providers", evilProvider},
		{"/api/providers/evil/start", `{}`},
		{"/api/providers/p/start", `{}`},
		{"/api/providers/p/tools/echo/call", `{"arguments":{"text":"x"}}`},
		{"/v1/mcp/servers", `{"name":"evil","url":"http://127.0.0.1:1/mcp","tenant_id":"default"}`},
		{"/v1/mcp/tools/call", `{"server_id":"p","tool_name":"echo","arguments":{"text":"x"}}`},
		{"/v1/sessions", `{"agent_id":"a","tool_allowlist":["echo"]}`},
		{"/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"p__echo","arguments":{"text":"x"}}}`},
		{"/mcp/p", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`},
	}
	evil := "http://evil.example"
	rebound := "rebind.attacker.example:" + port
	attacks := []struct {
		name   string
		status int
		hdr    []string
	}{
		{"simple text/plain POST", 403, []string{"Content-Type", "text/plain", "Origin", evil, "Sec-Fetch-Site", "cross-site"}},
		{"form post", 403, []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", evil}},
		{"multipart form post", 403, []string{"Content-Type", "multipart/form-data; boundary=b", "Origin", evil}},
		{"JSON from a foreign origin", 403, []string{"Content-Type", "application/json", "Origin", evil}},
		{"Sec-Fetch-Site: cross-site", 403, []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}},
		{"DNS rebinding", 403, []string{"Content-Type", "application/json", "Host", rebound, "Origin", "http://" + rebound}},
		{"text/plain without Origin", 415, []string{"Content-Type", "text/plain"}},
	}
	for _, tg := range targets {
		for _, a := range attacks {
			status, body := browserReq(t, gw, "POST", tg.path, tg.body, a.hdr...)
			shaped := body["error"] != nil
			if !strings.HasPrefix(tg.path, "/v1/") {
				shaped = shaped && body["status_code"] == float64(a.status)
			}
			if status != a.status || !shaped {
				t.Errorf("%s to %s: %d %v, want %d in the surface's error shape", a.name, tg.path, status, body, a.status)
			}
		}
	}
	if status, _ := browserReq(t, gw, "GET", "/api/providers", "", "Host", rebound); status != 403 {
		t.Errorf("reading through DNS rebinding: %d, want 403", status)
	}

	var list struct {
		Providers []struct {
			ID    string `json:"provider"`
			State string `json:"state"`
		} `json:"providers"`
	}
	getJSON(t, gw.base+"/api/providers", &list)
	if len(list.Providers) != 1 || list.Providers[0].ID != "p" || list.Providers[0].State != "cold" {
		t.Fatalf("providers after the attacks: %+v", list.Providers)
	}
	var servers struct {
		Servers []struct {
			ID string `json:"id"`
		} `json:"servers"`
	}
	getJSON(t, gw.base+"/v1/mcp/servers", &servers)
	if len(servers.Servers) != 1 || servers.Servers[0].ID != "p" {
		t.Fatalf("/v1 servers after the attacks: %+v", servers.Servers)
	}
	var sessions struct {
		Sessions []any `json:"sessions"`
	}
	getJSON(t, gw.base+"/v1/sessions", &sessions)
	if len(sessions.Sessions) != 0 {
		t.Fatalf("/v1 sessions after the attacks: %v", sessions.Sessions)
	}
	var detail struct {
		Pid int `json:"pid"`
	}
	getJSON(t, gw.base+"/api/providers/p", &detail)
	if detail.Pid != 0 {
		t.Fatalf("an attack started p (pid %d)", detail.Pid)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("an attack ran a command: %v", err)
	}

	// What the gateway's own pages, configured ones and curl send works.
	own := "http://" + gw.addr
	mine := fmt.Sprintf(`{"provider_id":"mine","mode":"subprocess","command":[%q]}`, testServer)
	if status, body := browserReq(t, gw, "POST", "/api/providers", mine,
		"Content-Type", "application/json", "Origin", own, "Sec-Fetch-Site", "same-origin"); status != 201 {
		t.Fatalf("same-origin create: %d %v", status, body)
	}
	if status, body := browserReq(t, gw, "POST", "/api/providers/mine/tools/echo/call", `{"arguments":{"text":"hi"}}`,
		"Content-Type", "application/json; charset=utf-8", "Origin", "http://localhost:"+port, "Host", "localhost:"+port); status != 200 {
		t.Fatalf("same-origin call through localhost: %d %v", status, body)
	}
	if status, body := browserReq(t, gw, "POST", "/v1/mcp/tools/call", `{"server_id":"mine","tool_name":"echo","arguments":{"text":"curl"}}`,
		"Content-Type", "application/json"); status != 200 {
		t.Fatalf("call without Origin: %d %v", status, body)
	}
	if status, body := browserReq(t, gw, "POST", "/api/providers/mine/stop", "",
		"Origin", "http://dash.test:3000", "Host", "gw.test:"+port); status != 200 {
		t.Fatalf("configured origin and host: %d %v", status, body)
	}
	// The config's header limit reaches the listener.
	if status, body := browserReq(t, gw, "GET", "/health", "", "X-Token", strings.Repeat("t", 6<<10)); status != 200 {
		t.Fatalf("6 KiB header under an 8 KiB limit: %d %v", status, body)
	}
	if status, body := browserReq(t, gw, "GET", "/health", "", "X-Token", strings.Repeat("t", 9<<10)); status != 431 || body["status_code"] != float64(431) {
		t.Fatalf("9 KiB header over an 8 KiB limit: %d %v", status, body)
	}
	gw.terminate(t, 30*time.Second)
}

// TestServeAnswersCallsCutByTheDrain: REST calls still running when the
// drain deadline passes are cancelled and answered 503 in their surface's
// error shape (not left without an answer); a call in a 2025 MCP session
// does not hold the exit up either. The gateway exits 0 and its child is
// gone.
func TestServeAnswersCallsCutByTheDrain(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf("providers:\n  p:\n    mode: subprocess\n    command: [%q]\n    call_timeout_s: 120\n", testServer))
	gw := startServeArgs(t, cfg, t.TempDir(), []string{"--drain-timeout", "300ms"})
	if status, body := browserReq(t, gw, "POST", "/api/providers/p/tools/echo/call", `{"arguments":{"text":"warm"}}`,
		"Content-Type", "application/json"); status != 200 {
		t.Fatalf("warm-up call: %d %v", status, body)
	}
	var detail struct {
		Pid      int `json:"pid"`
		InFlight int `json:"in_flight"`
	}
	getJSON(t, gw.base+"/api/providers/p", &detail)
	if detail.Pid == 0 {
		t.Fatal("provider p did not start")
	}

	type answer struct {
		path   string
		status int
		body   map[string]any
		err    error
	}
	calls := map[string]string{
		"/api/providers/p/tools/sleep/call": `{"arguments":{"ms":100000}}`,
		"/v1/mcp/tools/call":                `{"server_id":"p","tool_name":"sleep","arguments":{"ms":100000}}`,
	}
	answers := make(chan answer, len(calls))
	client := &http.Client{Timeout: 60 * time.Second}
	mcpDone := mcpCallInFlight(t, client, gw.base+"/mcp")
	for path, body := range calls {
		go func() {
			a := answer{path: path}
			resp, err := client.Post(gw.base+path, "application/json", strings.NewReader(body))
			if err != nil {
				a.err = err
				answers <- a
				return
			}
			defer func() { _ = resp.Body.Close() }()
			a.status = resp.StatusCode
			raw, err := io.ReadAll(resp.Body)
			a.err = err
			_ = json.Unmarshal(raw, &a.body)
			answers <- a
		}()
	}
	// Both calls are at the backend: the provider counts them (a
	// published counter, no event: polled against a deadline).
	deadline := time.Now().Add(20 * time.Second)
	for getJSON(t, gw.base+"/api/providers/p", &detail); detail.InFlight != len(calls)+1; getJSON(t, gw.base+"/api/providers/p", &detail) {
		if time.Now().After(deadline) {
			t.Fatalf("calls in flight: %d, want %d", detail.InFlight, len(calls)+1)
		}
		time.Sleep(10 * time.Millisecond) // polling a counter
	}

	gw.terminate(t, 30*time.Second)
	for range calls {
		a := <-answers
		if a.err != nil {
			t.Fatalf("%s: no answer: %v\n%s", a.path, a.err, gw.logs.String())
		}
		want := a.body["error"] != nil
		if strings.HasPrefix(a.path, "/api/") {
			want = want && a.body["status_code"] == float64(503)
		} else {
			want = want && a.body["error"] == "shutting_down"
		}
		if a.status != http.StatusServiceUnavailable || !want {
			t.Fatalf("%s: %d %v, want 503 in the surface's error shape", a.path, a.status, a.body)
		}
	}
	<-mcpDone
	if testbin.Alive(detail.Pid) {
		t.Fatalf("provider %d outlived the gateway", detail.Pid)
	}
}

// mcpCallInFlight opens a 2025-06-18 MCP session at url and starts a long
// sleep call in it; the channel is closed once the call's request ends,
// however it ends.
func mcpCallInFlight(t *testing.T, client *http.Client, url string) <-chan struct{} {
	t.Helper()
	post := func(body, session string) (*http.Response, error) {
		req, err := http.NewRequest("POST", url, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		return resp, err
	}
	resp, err := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, "")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("MCP initialize: %v %v", resp, err)
	}
	session := resp.Header.Get("Mcp-Session-Id")
	if resp, err := post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, session); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("MCP initialized: %v %v", resp, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"p__sleep","arguments":{"ms":100000}}}`, session)
	}()
	return done
}
