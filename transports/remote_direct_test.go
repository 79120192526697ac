package transports

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"
)

// scriptServer is a hand-written streamable HTTP MCP server for the fast
// path's tests: stateful (2025-11-25, with session ids) or stateless
// (2026-07-28, server/discover), answering tools/call through a handler
// the test picks per tool.
type scriptServer struct {
	t         testing.TB
	stateless bool
	tools     map[string]func(w http.ResponseWriter, r *http.Request, m wireMsg)

	mu       sync.Mutex
	sessions map[string]bool
	nextSID  int
	posts    []wireMsg
	headers  []http.Header // of the tools/call POSTs
}

func newScriptServer(t testing.TB, stateless bool) *scriptServer {
	s := &scriptServer{t: t, stateless: stateless, sessions: map[string]bool{},
		tools: map[string]func(http.ResponseWriter, *http.Request, wireMsg){}}
	s.tools["echo"] = func(w http.ResponseWriter, _ *http.Request, m wireMsg) {
		var p struct {
			Arguments struct {
				Text string `json:"text"`
			} `json:"arguments"`
		}
		_ = json.Unmarshal(m.Params, &p)
		writeRPC(w, m.ID, textResult(p.Arguments.Text))
	}
	return s
}

// textResult is a CallToolResult holding text.
func textResult(text string) string {
	b, _ := json.Marshal(text)
	return `{"content":[{"type":"text","text":` + string(b) + `}]}`
}

// writeRPC answers a request with a JSON body.
func writeRPC(w http.ResponseWriter, id json.RawMessage, result string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(id)+`,"result":`+result+`}`)
}

// expire forgets every session, as a restarted server would.
func (s *scriptServer) expire() {
	s.mu.Lock()
	clear(s.sessions)
	s.mu.Unlock()
}

// find returns the POSTed messages with the given JSON-RPC method.
func (s *scriptServer) find(method string) []wireMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wireMsg
	for _, m := range s.posts {
		if m.Method == method {
			out = append(out, m)
		}
	}
	return out
}

// waitPost waits for a POSTed message that matches.
func (s *scriptServer) waitPost(what string, match func(wireMsg) bool) wireMsg {
	s.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, m := range s.posts {
			if match(m) {
				s.mu.Unlock()
				return m
			}
		}
		s.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("no %s posted within %v", what, waitFor)
	return wireMsg{}
}

func (s *scriptServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
	case http.MethodDelete:
		return
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var m wireMsg
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.posts = append(s.posts, m)
	if m.Method == "tools/call" {
		s.headers = append(s.headers, r.Header.Clone())
	}
	s.mu.Unlock()
	switch m.Method {
	case "server/discover":
		if !s.stateless {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"no discover"}}`)
			return
		}
		writeRPC(w, m.ID, `{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"script","version":"1"}}}`)
		return
	case "initialize":
		s.mu.Lock()
		s.nextSID++
		sid := "script-" + strconv.Itoa(s.nextSID)
		s.sessions[sid] = true
		s.mu.Unlock()
		w.Header().Set("Mcp-Session-Id", sid)
		writeRPC(w, m.ID, `{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"script","version":"1"}}`)
		return
	}
	if !s.stateless {
		s.mu.Lock()
		known := s.sessions[r.Header.Get("Mcp-Session-Id")]
		s.mu.Unlock()
		if !known {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
	}
	if len(m.ID) == 0 || m.Method == "" { // a notification or a reply
		w.WriteHeader(http.StatusAccepted)
		return
	}
	switch m.Method {
	case "ping":
		writeRPC(w, m.ID, `{}`)
	case "tools/list":
		writeRPC(w, m.ID, `{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`)
	case "tools/call":
		var p struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(m.Params, &p)
		h := s.tools[p.Name]
		if h == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"error":{"code":-32602,"message":"no such tool"}}`)
			return
		}
		h(w, r, m)
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"error":{"code":-32601,"message":"method not found"}}`)
	}
}

// startDirect starts a remote backend on srv, shakes hands and checks that
// requests now take the fast path.
func startDirect(t testing.TB, url string, spec RemoteSpec) *remoteUnderTest {
	t.Helper()
	spec.Endpoint = url
	u := startRemote(t, spec, true)
	if u.r.dp == nil {
		t.Fatal("no fast path")
	}
	// Under 2025-11-25 it opens once notifications/initialized went out,
	// which the handshake only queues.
	for deadline := time.Now().Add(waitFor); !u.r.dp.takesDirect("tools/call"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the fast path is not open after the handshake")
		}
	}
	return u
}

// usedDirect fails the test unless a worker of the fast path ran.
func usedDirect(t testing.TB, u *remoteUnderTest) {
	t.Helper()
	if u.r.dp.workers.Load() == 0 {
		t.Fatalf("no request took the fast path")
	}
}

func TestRemoteDirectJSON(t *testing.T) {
	for _, stateless := range []bool{true, false} {
		t.Run(fmt.Sprintf("stateless=%v", stateless), func(t *testing.T) {
			s := newScriptServer(t, stateless)
			ts := quietServer(t, s, false)
			u := startDirect(t, ts.URL, RemoteSpec{Headers: map[string]string{"X-Tenant": "blue"}, BearerToken: "tok"})
			u.echo("direct")
			u.echoConcurrently(32)
			usedDirect(t, u)
			ctx, cancel := context.WithTimeout(t.Context(), waitFor)
			defer cancel()
			if tools, err := u.sess.ListTools(ctx); err != nil || len(tools) != 1 {
				t.Fatalf("ListTools = %v, %v", tools, err)
			}
			if err := u.sess.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			e := rpcError(t, u.call("nope", `{}`, waitFor))
			if e.Code != -32602 {
				t.Fatalf("unknown tool: %v", e)
			}

			s.mu.Lock()
			h := s.headers[0]
			s.mu.Unlock()
			want := map[string]string{"X-Tenant": "blue", "Authorization": "Bearer tok", "Content-Type": "application/json",
				"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": Protocol20251125}
			if stateless {
				want["Mcp-Protocol-Version"] = Protocol20260728
				want["Mcp-Method"] = "tools/call"
				want["Mcp-Name"] = "echo"
			} else {
				want["Mcp-Session-Id"] = "script-1"
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestRemoteDirectFastHTTP drives the fast path against a fasthttp server,
// as the routing benchmark does.
func TestRemoteDirectFastHTTP(t *testing.T) {
	addr := startFastBackend(t, 0)
	u := startDirect(t, "http://"+addr+"/", RemoteSpec{})
	if got := u.sess.Info().ProtocolVersion; got != Protocol20260728 {
		t.Fatalf("protocol %q", got)
	}
	got, err := text(t, u.call("echo", `{"message":"hi"}`, waitFor))
	if err != nil || got != "Echo: hi" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	calls := make([]*call, 16)
	for i := range calls {
		calls[i] = newCall(t)
		if _, err := u.sess.GoCall("echo", fmt.Appendf(nil, `{"message":"%d"}`, i), waitFor, calls[i].cb); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range calls {
		if got, err := text(t, c.wait()); err != nil || got != fmt.Sprintf("Echo: %d", i) {
			t.Fatalf("call %d = %q, %v", i, got, err)
		}
	}
	usedDirect(t, u)
}

func TestRemoteDirectEventStream(t *testing.T) {
	s := newScriptServer(t, false)
	s.tools["chatty"] = func(w http.ResponseWriter, _ *http.Request, m wireMsg) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		_, _ = io.WriteString(w, "retry: 50\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"working\"}}\n\n")
		fl.Flush()
		// A request to the client: roots/list, which the gateway answers.
		_, _ = io.WriteString(w, "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"method\":\"roots/list\"}\n\n")
		fl.Flush()
		_, _ = io.WriteString(w, "id: 3\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":"+string(m.ID)+",\n"+
			"data: \"result\":"+textResult("done")+"}\n\n")
	}
	ts := quietServer(t, s, false)
	u := startDirect(t, ts.URL, RemoteSpec{})
	if got, err := text(t, u.call("chatty", `{}`, waitFor)); err != nil || got != "done" {
		t.Fatalf("chatty = %q, %v", got, err)
	}
	u.waitNote("notifications/message")
	reply := s.waitPost("the answer to roots/list", func(m wireMsg) bool { return string(m.ID) == `"srv-1"` && m.Method == "" })
	if string(reply.Result) != `{"roots":[]}` {
		t.Fatalf("roots/list answered %s", reply.Result)
	}
	usedDirect(t, u)
	u.echo("after a stream")
}

func TestRemoteDirectJSONBatch(t *testing.T) {
	s := newScriptServer(t, true)
	s.tools["batch"] = func(w http.ResponseWriter, _ *http.Request, m wireMsg) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}},\n {\"jsonrpc\":\"2.0\",\"id\":"+
			string(m.ID)+",\n \"result\":"+textResult("batched")+"}]")
	}
	ts := quietServer(t, s, false)
	u := startDirect(t, ts.URL, RemoteSpec{})
	if got, err := text(t, u.call("batch", `{}`, waitFor)); err != nil || got != "batched" {
		t.Fatalf("batch = %q, %v", got, err)
	}
	u.waitNote("notifications/message")
}

// hangTool blocks until its request's connection ends, and reports that.
func hangTool(entered, ended chan<- struct{}) func(http.ResponseWriter, *http.Request, wireMsg) {
	return func(_ http.ResponseWriter, r *http.Request, _ wireMsg) {
		entered <- struct{}{}
		<-r.Context().Done()
		ended <- struct{}{}
	}
}

func TestRemoteDirectTimeout(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := newScriptServer(t, false)
	entered, ended := make(chan struct{}, 4), make(chan struct{}, 4)
	s.tools["hang"] = hangTool(entered, ended)
	ts := quietServer(t, s, false)
	u := startDirect(t, ts.URL, RemoteSpec{MaxConcurrent: 1})

	c := newCall(t)
	id, err := u.sess.GoCall("hang", nil, 200*time.Millisecond, c.cb)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.wait(); !errors.Is(r.Err, ErrTimeout) || !r.Written {
		t.Fatalf("hang: %+v, want ErrTimeout, written", r)
	}
	waitSignal(t, ended, "the hung request's end")
	s.waitPost("notifications/cancelled", func(m wireMsg) bool {
		return m.Method == "notifications/cancelled" && strings.Contains(string(m.Params), fmt.Sprintf(`"requestId":%d`, id))
	})
	// The only slot is free again.
	u.echo("after the timeout")
	usedDirect(t, u)

	u.stop()
	ts.Close()
	goleak.VerifyNone(t, ignore)
}

func TestRemoteDirectCancel(t *testing.T) {
	s := newScriptServer(t, true)
	entered, ended := make(chan struct{}, 4), make(chan struct{}, 4)
	s.tools["hang"] = hangTool(entered, ended)
	ts := quietServer(t, s, false)
	u := startDirect(t, ts.URL, RemoteSpec{})

	c := newCall(t)
	id, err := u.sess.GoCall("hang", nil, time.Hour, c.cb)
	if err != nil {
		t.Fatal(err)
	}
	waitSignal(t, entered, "the request")
	u.r.Mux().Cancel(id, "changed my mind")
	if r := c.wait(); !errors.Is(r.Err, ErrCancelled) {
		t.Fatalf("cancelled call: %v, want ErrCancelled", r.Err)
	}
	waitSignal(t, ended, "the cancelled request's end")
	n := s.waitPost("notifications/cancelled", func(m wireMsg) bool { return m.Method == "notifications/cancelled" })
	if !strings.Contains(string(n.Params), fmt.Sprintf(`"requestId":%d`, id)) || !strings.Contains(string(n.Params), "changed my mind") {
		t.Fatalf("notifications/cancelled %s", n.Params)
	}
	u.echo("after the cancellation")
}

func TestRemoteDirectStop(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := newScriptServer(t, false)
	entered, ended := make(chan struct{}, 4), make(chan struct{}, 4)
	s.tools["hang"] = hangTool(entered, ended)
	ts := quietServer(t, s, false)
	u := startDirect(t, ts.URL, RemoteSpec{})
	u.echo("before stop")
	c := newCall(t)
	if _, err := u.sess.GoCall("hang", nil, 0, c.cb); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, entered, "the request")
	u.stop()
	if r := c.wait(); !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("call pending at Stop: %v, want ErrClosed", r.Err)
	}
	waitSignal(t, ended, "the request's end")
	if _, err := u.sess.GoCall("echo", nil, time.Second, func(Response) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Stop: %v, want ErrClosed", err)
	}
	ts.Close()
	goleak.VerifyNone(t, ignore)
}

func TestRemoteDirectSessionExpiry(t *testing.T) {
	s := newScriptServer(t, false)
	ts := quietServer(t, s, false)
	u := startDirect(t, ts.URL, RemoteSpec{})
	u.echo("first session")
	s.expire()
	// Calls in flight as the session goes: one re-establishment for all.
	u.echoConcurrently(16)
	u.waitProgress("session re-established")
	if n := len(s.find("initialize")); n != 2 {
		t.Fatalf("%d initialize requests, want 2", n)
	}
	if n := len(s.find("notifications/initialized")); n != 2 {
		t.Fatalf("%d notifications/initialized, want 2", n)
	}
	s.mu.Lock()
	last := s.headers[len(s.headers)-1].Get("Mcp-Session-Id")
	s.mu.Unlock()
	if last != "script-2" {
		t.Fatalf("last call in session %q, want script-2", last)
	}
	usedDirect(t, u)
}

func TestRemoteDirectOversized(t *testing.T) {
	big := strings.Repeat("x", 10000)
	tests := []struct {
		name string
		tool func(w http.ResponseWriter, r *http.Request, m wireMsg)
	}{
		{"content length", func(w http.ResponseWriter, _ *http.Request, m wireMsg) {
			body := `{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":` + textResult(big) + `}`
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = io.WriteString(w, body)
		}},
		{"chunked", func(w http.ResponseWriter, _ *http.Request, m wireMsg) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":`)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, textResult(big)+`}`)
		}},
		{"event stream", func(w http.ResponseWriter, _ *http.Request, m wireMsg) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, `data: {"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":`+textResult(big)+"}\n\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptServer(t, true)
			s.tools["big"] = tt.tool
			ts := quietServer(t, s, false)
			u := startDirect(t, ts.URL, RemoteSpec{Hooks: Hooks{Mux: MuxOptions{MaxMessage: 4096}}})
			if e := rpcError(t, u.call("big", `{}`, waitFor)); !strings.Contains(e.Message, "size limit") {
				t.Fatalf("oversized answer: %v, want a size limit error", e)
			}
			select {
			case err := <-u.protoErrs:
				if !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("protocol error %v, want ErrMessageTooLarge", err)
				}
			case <-time.After(waitFor):
				t.Fatal("no protocol error reported")
			}
			u.echo("still fine")
		})
	}
}

func TestRemoteDirectBadReplies(t *testing.T) {
	tests := []struct {
		name      string
		tool      func(w http.ResponseWriter, r *http.Request, m wireMsg)
		want      string // in the error message
		delivered bool
		protoErr  bool
	}{
		{"garbage json", func(w http.ResponseWriter, _ *http.Request, _ wireMsg) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "this is not JSON{")
		}, "without answering", true, true},
		{"another id", func(w http.ResponseWriter, _ *http.Request, _ wireMsg) {
			writeRPC(w, json.RawMessage(`999999`), `{}`)
		}, "without answering", true, false},
		{"no body", func(w http.ResponseWriter, _ *http.Request, _ wireMsg) {
			w.WriteHeader(http.StatusAccepted)
		}, "without answering", true, false},
		{"plain text", func(w http.ResponseWriter, _ *http.Request, _ wireMsg) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "hello")
		}, "without answering", true, false},
		{"server error", func(w http.ResponseWriter, _ *http.Request, _ wireMsg) {
			http.Error(w, "exploded", http.StatusInternalServerError)
		}, "HTTP 500 Internal Server Error: exploded", true, false},
		{"refused", func(w http.ResponseWriter, _ *http.Request, _ wireMsg) {
			http.Error(w, "no", http.StatusForbidden)
		}, "HTTP 403 Forbidden: no", false, false},
		{"cut short", func(w http.ResponseWriter, _ *http.Request, m wireMsg) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(m.ID))
		}, "reading the remote response", true, false},
		{"hang up", func(w http.ResponseWriter, _ *http.Request, _ wireMsg) {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = c.Close()
			}
		}, "unreachable", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptServer(t, true)
			s.tools["bad"] = tt.tool
			ts := quietServer(t, s, false)
			u := startDirect(t, ts.URL, RemoteSpec{})
			u.echo("warm")
			e := rpcError(t, u.call("bad", `{}`, waitFor))
			if e.Code != codeRemoteFailure || !strings.Contains(e.Message, tt.want) {
				t.Fatalf("answer %v, want %q", e, tt.want)
			}
			if got := possiblyDelivered(t, e); got != tt.delivered {
				t.Fatalf("possiblyDelivered %v, want %v", got, tt.delivered)
			}
			if tt.protoErr {
				select {
				case err := <-u.protoErrs:
					if !strings.Contains(err.Error(), "not JSON-RPC") {
						t.Fatalf("protocol error %v", err)
					}
				case <-time.After(waitFor):
					t.Fatal("no protocol error reported")
				}
			}
			u.echo("still fine")
		})
	}
}

// TestRemoteDirectStaleConnection: a server closing its kept-alive
// connections costs the next call nothing.
func TestRemoteDirectStaleConnection(t *testing.T) {
	s := newScriptServer(t, true)
	ts := quietServer(t, s, false)
	u := startDirect(t, ts.URL, RemoteSpec{})
	for i := range 5 {
		u.echo("before")
		ts.CloseClientConnections()
		if i%2 == 0 {
			time.Sleep(10 * time.Millisecond) // let the close arrive first
		}
		u.echo("after")
	}
}

func TestRemoteDirectServerDown(t *testing.T) {
	s := newScriptServer(t, true)
	ts := quietServer(t, s, false)
	u := startDirect(t, ts.URL, RemoteSpec{})
	u.echo("up")
	ts.Close()
	e := rpcError(t, u.call("echo", `{"text":"down"}`, waitFor))
	if e.Code != codeRemoteFailure || !strings.Contains(e.Message, "unreachable") {
		t.Fatalf("call while down: %v", e)
	}
	if possiblyDelivered(t, e) {
		t.Fatalf("a refused connection counts as possibly delivered")
	}
}

func TestRemoteDirectTLS(t *testing.T) {
	s := newScriptServer(t, true)
	ts := quietServer(t, s, true)
	caFile := writeCA(t, ts.Certificate().Raw)
	u := startDirect(t, ts.URL, RemoteSpec{CAFile: caFile})
	u.echo("over tls")
	u.echoConcurrently(8)
	usedDirect(t, u)
}

// TestRemoteDirectBusy: a full queue refuses the call at once.
func TestRemoteDirectBusy(t *testing.T) {
	s := newScriptServer(t, true)
	entered, ended := make(chan struct{}, 8), make(chan struct{}, 8)
	s.tools["hang"] = hangTool(entered, ended)
	ts := quietServer(t, s, false)
	u := startDirect(t, ts.URL, RemoteSpec{MaxConcurrent: 1, Hooks: Hooks{Mux: MuxOptions{QueueSize: 2}}})
	var calls []*call
	busy := false
	for range 4 {
		c := newCall(t)
		if _, err := u.sess.GoCall("hang", nil, waitFor, c.cb); err != nil {
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("GoCall: %v, want ErrBusy", err)
			}
			busy = true
			break
		}
		calls = append(calls, c)
		if len(calls) == 1 {
			waitSignal(t, entered, "the first request")
		}
	}
	if !busy {
		t.Fatal("no call refused with ErrBusy")
	}
	u.stop()
	for _, c := range calls {
		if r := c.wait(); !errors.Is(r.Err, ErrClosed) {
			t.Fatalf("queued call at Stop: %v, want ErrClosed", r.Err)
		}
	}
}

func waitSignal(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatalf("no %s within %v", what, waitFor)
	}
}

// startFastBackend serves a minimal stateless MCP server with fasthttp (as
// the routing benchmark's backend does) until the test ends. delay, when
// set, is spent in every tools/call.
func startFastBackend(t testing.TB, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Arguments struct {
				Message string `json:"message"`
			} `json:"arguments"`
		} `json:"params"`
	}
	srv := &fasthttp.Server{MaxIdleWorkerDuration: 10 * time.Millisecond, Handler: func(c *fasthttp.RequestCtx) {
		var r req
		if err := json.Unmarshal(c.PostBody(), &r); err != nil {
			c.SetStatusCode(400)
			return
		}
		if len(r.ID) == 0 {
			c.SetStatusCode(202)
			return
		}
		var result string
		switch r.Method {
		case "server/discover":
			result = `{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}}}`
		case "tools/call":
			if delay > 0 {
				time.Sleep(delay)
			}
			result = textResult("Echo: " + r.Params.Arguments.Message)
		default:
			result = `{}`
		}
		c.SetContentType("application/json")
		c.SetBodyString(`{"jsonrpc":"2.0","id":` + string(r.ID) + `,"result":` + result + `}`)
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return ln.Addr().String()
}

// benchRemote is a remote backend on an in-process fasthttp server, over
// the fast path or (slow) the queued one.
func benchRemote(b *testing.B, slow bool) *remoteUnderTest {
	addr := startFastBackend(b, 0)
	spec := RemoteSpec{Endpoint: "http://" + addr + "/"}
	if slow {
		spec.Client = &http.Client{Transport: newRemoteTransport(nil, defaultMaxConcurrent)}
	}
	u := startRemote(b, spec, true)
	if (u.r.dp != nil) == slow {
		b.Fatalf("fast path present: %v", u.r.dp != nil)
	}
	return u
}

// benchCall makes one tools/call and waits for it.
func benchCall(b *testing.B, sess *Session, args []byte, ch chan Response) {
	if _, err := sess.GoCall("echo", args, 10*time.Second, func(r Response) { ch <- r }); err != nil {
		b.Error(err)
		return
	}
	if r := <-ch; r.Err != nil {
		b.Error(r.Err)
	}
}

// writeCA writes a PEM file holding the DER certificate der.
func writeCA(t testing.TB, der []byte) string {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile
}

func BenchmarkRemoteCall(b *testing.B) {
	for _, slow := range []bool{false, true} {
		name := "direct"
		if slow {
			name = "queued"
		}
		b.Run(name, func(b *testing.B) {
			u := benchRemote(b, slow)
			args := []byte(`{"message":"hi"}`)
			ch := make(chan Response, 1)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				benchCall(b, u.sess, args, ch)
			}
		})
	}
}

func BenchmarkRemoteCallParallel(b *testing.B) {
	for _, slow := range []bool{false, true} {
		name := "direct"
		if slow {
			name = "queued"
		}
		b.Run(name, func(b *testing.B) {
			u := benchRemote(b, slow)
			args := []byte(`{"message":"hi"}`)
			b.ReportAllocs()
			b.SetParallelism(16) // 16 x GOMAXPROCS callers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ch := make(chan Response, 1)
				for pb.Next() {
					benchCall(b, u.sess, args, ch)
				}
			})
		})
	}
}
