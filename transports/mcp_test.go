package transports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

var testClient = ClientInfo{Name: "switchyard-test", Version: "1.2.3"}

// handshakeOut is the outcome of a Handshake run in the background.
type handshakeOut struct {
	s   *Session
	err error
}

// handshake runs Handshake against the fake peer in the background.
func handshake(t *testing.T, p *fakePeer, timeout time.Duration) <-chan handshakeOut {
	t.Helper()
	ch := make(chan handshakeOut, 1)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		defer cancel()
		s, err := Handshake(ctx, p.mux, testClient)
		ch <- handshakeOut{s, err}
	}()
	return ch
}

// handshakeResult waits for the outcome of handshake.
func handshakeResult(t *testing.T, ch <-chan handshakeOut) (*Session, error) {
	t.Helper()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(waitFor):
		t.Fatalf("Handshake did not return")
		return nil, nil
	}
}

// metaTriple checks the per-request _meta of the 2026-07-28 revision.
func metaTriple(t *testing.T, params json.RawMessage) {
	t.Helper()
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		t.Fatalf("params %s: %v", params, err)
	}
	if got := string(p.Meta["io.modelcontextprotocol/protocolVersion"]); got != `"2026-07-28"` {
		t.Fatalf("_meta protocolVersion %s in %s", got, params)
	}
	var ci ClientInfo
	if err := json.Unmarshal(p.Meta["io.modelcontextprotocol/clientInfo"], &ci); err != nil || ci != testClient {
		t.Fatalf("_meta clientInfo %s in %s", p.Meta["io.modelcontextprotocol/clientInfo"], params)
	}
	if caps := p.Meta["io.modelcontextprotocol/clientCapabilities"]; len(caps) == 0 || caps[0] != '{' {
		t.Fatalf("_meta clientCapabilities %s in %s", caps, params)
	}
}

// noMeta checks that params carry no _meta.
func noMeta(t *testing.T, params json.RawMessage) {
	t.Helper()
	if len(params) == 0 {
		return
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil {
		t.Fatalf("params %s: %v", params, err)
	}
	if _, ok := p["_meta"]; ok {
		t.Fatalf("legacy request carries _meta: %s", params)
	}
}

func TestHandshakeFallback(t *testing.T) {
	tests := []struct {
		name     string
		discover func(p *fakePeer, id json.RawMessage)
	}{
		{name: "method not found", discover: func(p *fakePeer, id json.RawMessage) {
			p.replyError(id, -32601, "Method not found")
		}},
		{name: "invalid during initialization", discover: func(p *fakePeer, id json.RawMessage) {
			p.replyError(id, -32600, `method "server/discover" is invalid during session initialization`)
		}},
		{name: "new revision not supported", discover: func(p *fakePeer, id json.RawMessage) {
			p.reply(id, `{"supportedVersions":["2025-11-25","2025-06-18"],"capabilities":{}}`)
		}},
		{name: "malformed result", discover: func(p *fakePeer, id json.RawMessage) {
			p.reply(id, `"what"`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			res := handshake(t, p, waitFor)

			disc := p.nextRequest("server/discover")
			metaTriple(t, disc.Params)
			tt.discover(p, disc.ID)

			ini := p.nextRequest("initialize")
			var ip struct {
				ProtocolVersion string          `json:"protocolVersion"`
				ClientInfo      ClientInfo      `json:"clientInfo"`
				Capabilities    json.RawMessage `json:"capabilities"`
			}
			if err := json.Unmarshal(ini.Params, &ip); err != nil {
				t.Fatalf("initialize params %s: %v", ini.Params, err)
			}
			if ip.ProtocolVersion != Protocol20251125 || ip.ClientInfo != testClient || len(ip.Capabilities) == 0 {
				t.Fatalf("initialize params %s", ini.Params)
			}
			noMeta(t, ini.Params)
			p.reply(ini.ID, `{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},`+
				`"serverInfo":{"name":"legacy","version":"9"},"instructions":"be nice"}`)

			if m := p.next(); m.Method != "notifications/initialized" || len(m.ID) != 0 {
				t.Fatalf("after initialize got %+v, want notifications/initialized", m)
			}
			s, err := handshakeResult(t, res)
			if err != nil {
				t.Fatalf("Handshake: %v", err)
			}
			want := ServerInfo{ProtocolVersion: "2025-06-18", Name: "legacy", Version: "9", Instructions: "be nice",
				Capabilities: json.RawMessage(`{"tools":{"listChanged":true}}`)}
			if got := s.Info(); got.ProtocolVersion != want.ProtocolVersion || got.Name != want.Name ||
				got.Version != want.Version || got.Instructions != want.Instructions || string(got.Capabilities) != string(want.Capabilities) {
				t.Fatalf("Info = %+v, want %+v", got, want)
			}
			if s.Mux() != p.mux {
				t.Fatalf("Session.Mux is not the handshake's Mux")
			}

			// Requests carry no _meta, and ping is a plain ping.
			c := newCall(t)
			if _, err := s.GoCall("echo", []byte(`{"text":"x"}`), 0, c.cb); err != nil {
				t.Fatalf("GoCall: %v", err)
			}
			call := p.nextRequest("tools/call")
			if string(call.Params) != `{"name":"echo","arguments":{"text":"x"}}` {
				t.Fatalf("tools/call params %s", call.Params)
			}
			p.reply(call.ID, `{"content":[]}`)
			c.wait()
			pingDone := make(chan error, 1)
			go func() { pingDone <- s.Ping(t.Context()) }()
			ping := p.nextRequest("ping")
			noMeta(t, ping.Params)
			p.reply(ping.ID, `{}`)
			if err := <-pingDone; err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})
	}
}

func TestHandshakeInitializeFails(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(p *fakePeer, id json.RawMessage)
		wantErr string
	}{
		{name: "unsupported version", answer: func(p *fakePeer, id json.RawMessage) {
			p.reply(id, `{"protocolVersion":"2023-01-01","capabilities":{},"serverInfo":{"name":"old","version":"1"}}`)
		}, wantErr: "unsupported protocol version"},
		{name: "error", answer: func(p *fakePeer, id json.RawMessage) {
			p.replyError(id, -32603, "boom")
		}, wantErr: "boom"},
		{name: "malformed result", answer: func(p *fakePeer, id json.RawMessage) {
			p.reply(id, `[1]`)
		}, wantErr: "initialize result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			res := handshake(t, p, waitFor)
			p.replyError(p.nextRequest("server/discover").ID, -32601, "Method not found")
			tt.answer(p, p.nextRequest("initialize").ID)
			if _, err := handshakeResult(t, res); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Handshake = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

func TestHandshakeGivesUp(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		act     func(p *fakePeer)
		want    error
	}{
		{name: "peer closes", timeout: waitFor, act: func(p *fakePeer) { _ = p.toMux.Close() }, want: ErrClosed},
		{name: "no answer", timeout: 500 * time.Millisecond, act: func(*fakePeer) {}, want: ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			res := handshake(t, p, tt.timeout)
			p.nextRequest("server/discover")
			tt.act(p)
			if _, err := handshakeResult(t, res); !errors.Is(err, tt.want) {
				t.Fatalf("Handshake = %v, want %v", err, tt.want)
			}
			// It did not go on to initialize.
			select {
			case m := <-p.recv:
				if m.Method == "initialize" {
					t.Fatalf("Handshake tried initialize after %v", tt.want)
				}
			default:
			}
		})
	}
}

func TestHandshakeDiscover(t *testing.T) {
	tests := []struct {
		name   string
		caps   string
		listen bool // a subscriptions/listen stream is opened
	}{
		{name: "tool list changes", caps: `{"tools":{"listChanged":true}}`, listen: true},
		{name: "static tools", caps: `{"tools":{}}`},
		{name: "no capabilities", caps: `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			res := handshake(t, p, waitFor)
			disc := p.nextRequest("server/discover")
			metaTriple(t, disc.Params)
			p.reply(disc.ID, `{"supportedVersions":["2026-07-28","2025-11-25"],"capabilities":`+tt.caps+
				`,"instructions":"hi","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"modern","version":"2"}}}`)
			s, err := handshakeResult(t, res)
			if err != nil {
				t.Fatalf("Handshake: %v", err)
			}
			info := s.Info()
			if info.ProtocolVersion != Protocol20260728 || info.Name != "modern" || info.Version != "2" || info.Instructions != "hi" {
				t.Fatalf("Info = %+v", info)
			}

			if tt.listen {
				l := p.nextRequest("subscriptions/listen")
				metaTriple(t, l.Params)
				var lp struct {
					Notifications struct {
						ToolsListChanged bool `json:"toolsListChanged"`
					} `json:"notifications"`
				}
				if err := json.Unmarshal(l.Params, &lp); err != nil || !lp.Notifications.ToolsListChanged {
					t.Fatalf("subscriptions/listen params %s", l.Params)
				}
			}

			// No notifications/initialized: the next message is the call.
			c := newCall(t)
			if _, err := s.GoCall("echo", []byte(`{"text":"x"}`), 0, c.cb); err != nil {
				t.Fatalf("GoCall: %v", err)
			}
			call := p.nextRequest("tools/call")
			metaTriple(t, call.Params)
			var cp struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			}
			if err := json.Unmarshal(call.Params, &cp); err != nil || cp.Name != "echo" || string(cp.Arguments) != `{"text":"x"}` {
				t.Fatalf("tools/call params %s", call.Params)
			}
			p.reply(call.ID, `{"content":[]}`)
			c.wait()

			// Ping probes with server/discover: the revision has no ping.
			pingDone := make(chan error, 1)
			go func() { pingDone <- s.Ping(t.Context()) }()
			probe := p.nextRequest("server/discover")
			metaTriple(t, probe.Params)
			p.reply(probe.ID, `{"supportedVersions":["2026-07-28"],"capabilities":{}}`)
			if err := <-pingDone; err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})
	}
}

func TestCallParams(t *testing.T) {
	legacy := &Session{}
	modern := &Session{meta: []byte(`"_meta":{"k":1}`)}
	tests := []struct {
		name string
		s    *Session
		tool string
		args string
		want string
	}{
		{"legacy with arguments", legacy, "echo", `{"text":"x"}`, `{"name":"echo","arguments":{"text":"x"}}`},
		{"legacy without arguments", legacy, "pid", ``, `{"name":"pid"}`},
		{"name needing escapes", legacy, "a\"b\\c\n", ``, `{"name":"a\"b\\c\n"}`},
		{"modern with arguments", modern, "echo", `{"text":"x"}`, `{"name":"echo","arguments":{"text":"x"},"_meta":{"k":1}}`},
		{"modern without arguments", modern, "pid", ``, `{"name":"pid","_meta":{"k":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.CallParams(tt.tool, []byte(tt.args))
			if string(got) != tt.want {
				t.Fatalf("CallParams = %s, want %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("CallParams = %s: invalid JSON", got)
			}
		})
	}
}

func TestListToolsPagination(t *testing.T) {
	pages := []struct {
		cursor string // the cursor the request must carry
		reply  string
	}{
		{"", `{"tools":[{"name":"a","inputSchema":{"type":"object"}},{"name":"b","description":"B"}],"nextCursor":"p2"}`},
		{"p2", `{"tools":[],"nextCursor":"p\"3"}`},
		{`p"3`, `{"tools":[{"name":"c","annotations":{"readOnlyHint":true}}]}`},
	}
	for _, modern := range []bool{false, true} {
		t.Run(fmt.Sprintf("modern=%v", modern), func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			s := &Session{mux: p.mux}
			if modern {
				s.meta = []byte(`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`)
			}
			type result struct {
				tools []Tool
				err   error
			}
			done := make(chan result, 1)
			go func() {
				tools, err := s.ListTools(t.Context())
				done <- result{tools, err}
			}()
			for _, pg := range pages {
				req := p.nextRequest("tools/list")
				var params struct {
					Cursor string          `json:"cursor"`
					Meta   json.RawMessage `json:"_meta"`
				}
				if len(req.Params) > 0 {
					if err := json.Unmarshal(req.Params, &params); err != nil {
						t.Fatalf("params %s: %v", req.Params, err)
					}
				}
				if params.Cursor != pg.cursor {
					t.Fatalf("cursor %q, want %q", params.Cursor, pg.cursor)
				}
				if modern != (params.Meta != nil) {
					t.Fatalf("params %s: _meta present is %v, want %v", req.Params, params.Meta != nil, modern)
				}
				p.reply(req.ID, pg.reply)
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(waitFor):
				t.Fatalf("ListTools did not return")
			}
			if r.err != nil {
				t.Fatalf("ListTools: %v", r.err)
			}
			var names []string
			for _, tl := range r.tools {
				names = append(names, tl.Name)
			}
			if !slices.Equal(names, []string{"a", "b", "c"}) {
				t.Fatalf("tools %v", names)
			}
			if string(r.tools[0].InputSchema) != `{"type":"object"}` || r.tools[1].Description != "B" ||
				string(r.tools[2].Raw) != `{"name":"c","annotations":{"readOnlyHint":true}}` {
				t.Fatalf("tools %+v", r.tools)
			}
		})
	}
}

func TestListToolsErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply func(p *fakePeer, id json.RawMessage)
		want  string
	}{
		{"rpc error", func(p *fakePeer, id json.RawMessage) { p.replyError(id, -32603, "down") }, "down"},
		{"tool without a name", func(p *fakePeer, id json.RawMessage) { p.reply(id, `{"tools":[{"description":"x"}]}`) }, "bad tool definition"},
		{"tool not an object", func(p *fakePeer, id json.RawMessage) { p.reply(id, `{"tools":[7]}`) }, "bad tool definition"},
		{"malformed result", func(p *fakePeer, id json.RawMessage) { p.reply(id, `{"tools":{}}`) }, "tools/list result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			s := &Session{mux: p.mux}
			done := make(chan error, 1)
			go func() {
				_, err := s.ListTools(t.Context())
				done <- err
			}()
			tt.reply(p, p.nextRequest("tools/list").ID)
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("ListTools = %v, want an error about %q", err, tt.want)
				}
			case <-time.After(waitFor):
				t.Fatalf("ListTools did not return")
			}
		})
	}
}

// TestEverything runs the reference TypeScript server, which speaks the
// initialize handshake only.
func TestEverything(t *testing.T) {
	node, js := testbin.NeedEverything(t)
	b := startBackend(t, backendOpts{command: []string{node, js, "stdio"}, env: []string{"PATH=" + os.Getenv("PATH")}})
	info := b.sess.Info()
	if info.ProtocolVersion != Protocol20251125 {
		t.Fatalf("protocol %q, want %q (initialize fallback)", info.ProtocolVersion, Protocol20251125)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	tools, err := b.sess.ListTools(ctx)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	if !slices.ContainsFunc(tools, func(tl Tool) bool { return tl.Name == "echo" }) {
		t.Fatalf("no echo among %d tools", len(tools))
	}
	if got := b.tool("echo", `{"message":"hi there"}`); got != "Echo: hi there" {
		t.Fatalf("echo = %q", got)
	}
	if err := b.sess.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// discovered runs the stateless handshake against p with capabilities caps
// and returns the session.
func discovered(t *testing.T, p *fakePeer, caps string) *Session {
	t.Helper()
	res := handshake(t, p, waitFor)
	disc := p.nextRequest("server/discover")
	p.reply(disc.ID, `{"supportedVersions":["2026-07-28"],"capabilities":`+caps+`}`)
	s, err := handshakeResult(t, res)
	if err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	return s
}

// TestListenResource: a stateless backend's subscription to one resource
// is ready once the backend acknowledges its listen stream, refused with
// the backend's error when it answers instead, and stop cancels it.
func TestListenResource(t *testing.T) {
	p := newPeer(t, MuxOptions{}, true)
	s := discovered(t, p, `{"resources":{"subscribe":true}}`)
	if _, err := (&Session{}).ListenResource("x://a", func(error) {}); err == nil {
		t.Fatal("ListenResource on a 2025 session: no error")
	}

	ready := make(chan error, 2)
	stop, err := s.ListenResource("x://a", func(err error) { ready <- err })
	if err != nil {
		t.Fatal(err)
	}
	l := p.nextRequest("subscriptions/listen")
	metaTriple(t, l.Params)
	var lp struct {
		Notifications struct {
			URIs []string `json:"resourceSubscriptions"`
		} `json:"notifications"`
	}
	if err := json.Unmarshal(l.Params, &lp); err != nil || !slices.Equal(lp.Notifications.URIs, []string{"x://a"}) {
		t.Fatalf("subscriptions/listen params %s", l.Params)
	}
	// An acknowledgement of another stream is not this one's.
	p.send(`{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"` + MetaSubscriptionID + `":999}}}`)
	p.send(`{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"` + MetaSubscriptionID + `":` + string(l.ID) + `},"notifications":{"resourceSubscriptions":["x://a"]}}}`)
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("ready: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("ready was not called after the acknowledgement")
	}
	stop()
	c := p.next()
	if c.Method != "notifications/cancelled" || !strings.Contains(string(c.Params), string(l.ID)) {
		t.Fatalf("notifications/cancelled %s does not name request %s", c.Params, l.ID)
	}
	// The stream's end after its acknowledgement is no second answer.
	p.reply(l.ID, `{}`)

	_, err = s.ListenResource("x://missing", func(err error) { ready <- err })
	if err != nil {
		t.Fatal(err)
	}
	l = p.nextRequest("subscriptions/listen")
	p.replyError(l.ID, -32002, "Resource not found")
	select {
	case err := <-ready:
		var rpc *RPCError
		if !errors.As(err, &rpc) || rpc.Code != -32002 {
			t.Fatalf("ready(%v), want the backend's -32002", err)
		}
	case <-time.After(waitFor):
		t.Fatal("ready was not called after the refusal")
	}
	if len(ready) != 0 {
		t.Fatalf("ready called again: %v", <-ready)
	}
}

// TestRelayedCapabilities: a request relayed for a client that names its
// own capabilities in _meta carries those instead of the gateway's empty
// set, and the rest of the gateway's triple.
func TestRelayedCapabilities(t *testing.T) {
	p := newPeer(t, MuxOptions{}, true)
	s := discovered(t, p, `{"prompts":{}}`)
	meta := []byte(`"io.modelcontextprotocol/clientCapabilities":{"sampling":{}},"progressToken":7`)
	if _, err := s.GoRequest("prompts/list", nil, meta, 0, func(Response) {}); err != nil {
		t.Fatal(err)
	}
	req := p.nextRequest("prompts/list")
	var got struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(req.Params, &got); err != nil {
		t.Fatalf("params %s: %v", req.Params, err)
	}
	if caps := string(got.Meta["io.modelcontextprotocol/clientCapabilities"]); caps != `{"sampling":{}}` {
		t.Fatalf("clientCapabilities %s in %s, want the client's", caps, req.Params)
	}
	if strings.Count(string(req.Params), "clientCapabilities") != 1 || string(got.Meta["progressToken"]) != "7" {
		t.Fatalf("params %s: want one clientCapabilities and the progress token", req.Params)
	}
	if string(got.Meta["io.modelcontextprotocol/protocolVersion"]) != `"2026-07-28"` {
		t.Fatalf("params %s lost the protocol version", req.Params)
	}
	p.reply(req.ID, `{"prompts":[]}`)
}
