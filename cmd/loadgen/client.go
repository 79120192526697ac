package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// mcpProtocolVersion is the protocol revision the MCP callers negotiate:
// the last one with a stateful initialize handshake, which every streamable
// HTTP server Switchyard meets (the go-sdk's stateful handler included)
// accepts.
const mcpProtocolVersion = "2025-11-25"

// protocolStateless is the revision without sessions: every request
// carries the _meta triple and the Mcp-Method and Mcp-Name headers.
const protocolStateless = "2026-07-28"

// callTimeout bounds one HTTP exchange.
const callTimeout = 30 * time.Second

// echoText is the text sent to the echo tool and expected back.
const echoText = "hello"

// kind is the protocol a target is reached with.
type kind int

const (
	// kindREST is the gateway's POST /api/providers/{id}/tools/{tool}/call.
	kindREST kind = iota
	// kindMCP is MCP streamable HTTP.
	kindMCP
)

// target is one way of reaching the test server's echo tool.
type target struct {
	kind kind
	addr string // host:port
	path string // URL path
	tool string // MCP tool name (kindMCP only)
	// stateless speaks 2026-07-28 without a session (kindMCP only).
	stateless bool
}

// String describes the target for reports.
func (t target) String() string {
	if t.kind == kindMCP && t.stateless {
		return fmt.Sprintf("MCP tools/call %s at http://%s%s (%s, stateless)", t.tool, t.addr, t.path, protocolStateless)
	}
	if t.kind == kindMCP {
		return fmt.Sprintf("MCP tools/call %s at http://%s%s (%s session)", t.tool, t.addr, t.path, mcpProtocolVersion)
	}
	return fmt.Sprintf("POST http://%s%s", t.addr, t.path)
}

// newClient returns a keep-alive client with room for conc connections.
func (t target) newClient(conc int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                     t.addr,
		MaxConns:                 conc + 8,
		MaxConnWaitTimeout:       callTimeout,
		MaxIdleConnDuration:      time.Minute,
		ReadTimeout:              callTimeout,
		WriteTimeout:             callTimeout,
		NoDefaultUserAgentHeader: true,
	}
}

// caller makes echo calls over one client. A caller belongs to one worker.
type caller interface {
	// call makes one call and checks its answer.
	call() error
	// close releases what the caller holds on the server.
	close() error
}

// newCaller returns a caller for t, doing whatever handshake t needs.
func (t target) newCaller(hc *fasthttp.HostClient) (caller, error) {
	if t.kind == kindMCP {
		return newMCPCaller(hc, t)
	}
	return newRESTCaller(hc, t), nil
}

// restCaller calls the gateway's REST call endpoint.
type restCaller struct {
	hc   *fasthttp.HostClient
	req  *fasthttp.Request
	resp *fasthttp.Response
}

func newRESTCaller(hc *fasthttp.HostClient, t target) *restCaller {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://" + t.addr + t.path)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyString(`{"arguments":{"text":"` + echoText + `"}}`)
	return &restCaller{hc: hc, req: req, resp: fasthttp.AcquireResponse()}
}

// call implements caller.
func (r *restCaller) call() error {
	if err := r.hc.Do(r.req, r.resp); err != nil {
		return err
	}
	body := r.resp.Body()
	if sc := r.resp.StatusCode(); sc != fasthttp.StatusOK {
		return fmt.Errorf("HTTP %d: %s", sc, clip(body))
	}
	var out struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("decode answer: %w: %s", err, clip(body))
	}
	return checkToolResult(out.Result)
}

// close implements caller.
func (r *restCaller) close() error {
	fasthttp.ReleaseRequest(r.req)
	fasthttp.ReleaseResponse(r.resp)
	return nil
}

// mcpCaller holds one MCP session over streamable HTTP, opened with plain
// HTTP requests: initialize, notifications/initialized, then tools/call
// with the session id and protocol version headers.
type mcpCaller struct {
	hc      *fasthttp.HostClient
	url     string
	session string
	version string
	id      int64
	prefix  []byte // request body up to the id
	suffix  []byte // request body after the id
	body    []byte
	req     *fasthttp.Request
	resp    *fasthttp.Response
}

func newMCPCaller(hc *fasthttp.HostClient, t target) (*mcpCaller, error) {
	p := map[string]any{
		"name":      t.tool,
		"arguments": map[string]string{"text": echoText},
	}
	if t.stateless {
		p["_meta"] = map[string]any{
			"io.modelcontextprotocol/protocolVersion":    protocolStateless,
			"io.modelcontextprotocol/clientInfo":         map[string]string{"name": "loadgen", "version": "1"},
			"io.modelcontextprotocol/clientCapabilities": map[string]any{},
		}
	}
	params, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	m := &mcpCaller{
		hc:     hc,
		url:    "http://" + t.addr + t.path,
		prefix: []byte(`{"jsonrpc":"2.0","id":`),
		suffix: []byte(`,"method":"tools/call","params":` + string(params) + `}`),
		req:    fasthttp.AcquireRequest(),
		resp:   fasthttp.AcquireResponse(),
	}
	if t.stateless {
		// No session to open: the revision travels with every request.
		m.version = protocolStateless
		m.setHeaders()
		m.req.Header.Set("Mcp-Method", "tools/call")
		m.req.Header.Set("Mcp-Name", t.tool)
		return m, nil
	}
	if err := m.handshake(); err != nil {
		_ = m.close()
		return nil, err
	}
	return m, nil
}

// setHeaders prepares m.req for a POST of a JSON-RPC message.
func (m *mcpCaller) setHeaders() {
	m.req.Reset()
	m.req.SetRequestURI(m.url)
	m.req.Header.SetMethod(fasthttp.MethodPost)
	m.req.Header.SetContentType("application/json")
	m.req.Header.Set("Accept", "application/json, text/event-stream")
	if m.session != "" {
		m.req.Header.Set("Mcp-Session-Id", m.session)
	}
	if m.version != "" {
		m.req.Header.Set("Mcp-Protocol-Version", m.version)
	}
}

// handshake opens the session.
func (m *mcpCaller) handshake() error {
	m.setHeaders()
	m.req.SetBodyString(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` +
		mcpProtocolVersion + `","capabilities":{},"clientInfo":{"name":"loadgen","version":"1"}}}`)
	if err := m.hc.Do(m.req, m.resp); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	if sc := m.resp.StatusCode(); sc != fasthttp.StatusOK {
		return fmt.Errorf("initialize: HTTP %d: %s", sc, clip(m.resp.Body()))
	}
	m.session = string(m.resp.Header.Peek("Mcp-Session-Id"))
	raw, err := rpcResult(m.resp.Header.ContentType(), m.resp.Body(), []byte("0"))
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.ProtocolVersion == "" {
		return fmt.Errorf("initialize: no protocolVersion in %s", clip(raw))
	}
	m.version = res.ProtocolVersion

	m.setHeaders()
	m.req.SetBodyString(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if err := m.hc.Do(m.req, m.resp); err != nil {
		return fmt.Errorf("notifications/initialized: %w", err)
	}
	if sc := m.resp.StatusCode(); sc != fasthttp.StatusAccepted && sc != fasthttp.StatusOK && sc != fasthttp.StatusNoContent {
		return fmt.Errorf("notifications/initialized: HTTP %d: %s", sc, clip(m.resp.Body()))
	}

	// From here on every request is a tools/call: the headers stay, only
	// the body changes.
	m.setHeaders()
	return nil
}

// call implements caller.
func (m *mcpCaller) call() error {
	m.id++
	m.body = append(m.body[:0], m.prefix...)
	idStart := len(m.body)
	m.body = strconv.AppendInt(m.body, m.id, 10)
	idEnd := len(m.body)
	m.body = append(m.body, m.suffix...)
	m.req.SetBodyRaw(m.body)
	if err := m.hc.Do(m.req, m.resp); err != nil {
		return err
	}
	body := m.resp.Body()
	if sc := m.resp.StatusCode(); sc != fasthttp.StatusOK {
		return fmt.Errorf("HTTP %d: %s", sc, clip(body))
	}
	raw, err := rpcResult(m.resp.Header.ContentType(), body, m.body[idStart:idEnd])
	if err != nil {
		return err
	}
	return checkToolResult(raw)
}

// close implements caller: it ends the session on the server.
func (m *mcpCaller) close() error {
	var err error
	if m.session != "" {
		m.req.Reset()
		m.req.SetRequestURI(m.url)
		m.req.Header.SetMethod(fasthttp.MethodDelete)
		m.req.Header.Set("Mcp-Session-Id", m.session)
		if m.version != "" {
			m.req.Header.Set("Mcp-Protocol-Version", m.version)
		}
		if err = m.hc.Do(m.req, m.resp); err == nil {
			if sc := m.resp.StatusCode(); sc >= 300 && sc != fasthttp.StatusMethodNotAllowed {
				err = fmt.Errorf("DELETE session: HTTP %d", sc)
			}
		}
		m.session = ""
	}
	fasthttp.ReleaseRequest(m.req)
	fasthttp.ReleaseResponse(m.resp)
	return err
}

// rpcMessage is the part of a JSON-RPC message the callers read.
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// rpcResult finds the answer to the request with the given id in an HTTP
// response body, either a JSON message or an SSE stream of them, and
// returns its result. A JSON-RPC error is returned as an error.
func rpcResult(contentType, body, id []byte) (json.RawMessage, error) {
	var payloads [][]byte
	if bytes.HasPrefix(bytes.TrimSpace(contentType), []byte("text/event-stream")) {
		payloads = sseData(body)
	} else {
		payloads = [][]byte{body}
	}
	for _, p := range payloads {
		var msg rpcMessage
		if err := json.Unmarshal(p, &msg); err != nil {
			return nil, fmt.Errorf("decode answer: %w: %s", err, clip(p))
		}
		if msg.Method != "" || !bytes.Equal(bytes.TrimSpace(msg.ID), id) {
			continue // a notification or a request from the server
		}
		if msg.Error != nil {
			return nil, fmt.Errorf("JSON-RPC error %d: %s", msg.Error.Code, msg.Error.Message)
		}
		if len(msg.Result) == 0 {
			return nil, fmt.Errorf("answer without result: %s", clip(p))
		}
		return msg.Result, nil
	}
	return nil, fmt.Errorf("no answer to request %s in %q body: %s", id, contentType, clip(body))
}

// sseData returns the data of each event of an SSE stream, the data lines
// of one event joined with newlines.
func sseData(body []byte) [][]byte {
	var events [][]byte
	var cur []byte
	have := false
	flush := func() {
		if have {
			events = append(events, cur)
		}
		cur, have = nil, false
	}
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(line) == 0:
			flush()
		case bytes.HasPrefix(line, []byte("data:")):
			v := bytes.TrimPrefix(line[len("data:"):], []byte(" "))
			if have {
				cur = append(cur, '\n')
			}
			cur = append(cur, v...)
			have = true
		}
	}
	flush()
	return events
}

// checkToolResult checks that raw is a tools/call result without isError
// whose text content contains echoText.
func checkToolResult(raw json.RawMessage) error {
	if len(raw) == 0 {
		return errors.New("answer without result")
	}
	var res struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("decode tool result: %w: %s", err, clip(raw))
	}
	if res.IsError {
		return fmt.Errorf("tool error: %s", clip(raw))
	}
	for _, c := range res.Content {
		if c.Type == "text" && strings.Contains(c.Text, echoText) {
			return nil
		}
	}
	return fmt.Errorf("result does not contain %q: %s", echoText, clip(raw))
}

// clip shortens b for error messages.
func clip(b []byte) string {
	const limit = 300
	s := string(bytes.TrimSpace(b))
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
