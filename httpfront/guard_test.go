package httpfront

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// raw sends a request exactly as given: no Content-Type added, and a
// "Host" pair sets the Host the request names.
func (g *gateway) raw(t testing.TB, method, path, body string, hdr ...string) response {
	t.Helper()
	req, err := testbin.Request(method, g.base+path, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: b}
	_ = json.Unmarshal(b, &r.body)
	return r
}

// refused checks a refusal's status and its surface's error body: /v1's
// {"error": code}, else the /api body.
func refused(t testing.TB, r response, status int, path, what string) {
	t.Helper()
	if !strings.HasPrefix(path, "/v1/") {
		expect(t, r, status, what)
		return
	}
	if r.status != status || r.body["error"] == nil || r.body["status_code"] != nil {
		t.Fatalf("%s: %d %s, want %d in the /v1 error shape", what, r.status, r.raw, status)
	}
}

// TestCrossSiteRequestsRefused: what a web page can make a browser send
// without a CORS preflight (form posts, text/plain, a foreign Origin,
// Sec-Fetch-Site: cross-site) is refused on every surface of an open
// loopback gateway, and nothing is created or started; the gateway's own
// origin and clients sending no Origin still work.
func TestCrossSiteRequestsRefused(t *testing.T) {
	g := startGateway(t, Options{}, spec("p"))
	own := g.base // http://127.0.0.1:PORT
	create := `{"provider_id":"evil","mode":"subprocess","command":["sh","-c","exit 0"]}`
	paths := []struct{ path, body string }{
		{"/api/providers", create},
		{"/api/providers/p/start", ""},
		{"/api/providers/p/tools/echo/call", `{"arguments":{"text":"x"}}`},
		{"/v1/mcp/servers", `{"name":"evil","url":"http://127.0.0.1:1/mcp","tenant_id":"default"}`},
		{"/v1/mcp/tools/call", `{"server_id":"p","tool_name":"echo","arguments":{"text":"x"}}`},
		{"/v1/sessions", `{"agent_id":"a","tool_allowlist":["echo"]}`},
		{"/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"p__echo","arguments":{"text":"x"}}}`},
		{"/mcp/p", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`},
	}
	attacks := []struct {
		name   string
		status int
		hdr    []string
	}{
		{"text/plain from a foreign page", 403, []string{"Content-Type", "text/plain", "Origin", "http://evil.example"}},
		{"form post", 403, []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", "http://evil.example"}},
		{"multipart form post", 403, []string{"Content-Type", "multipart/form-data; boundary=x", "Origin", "http://evil.example"}},
		{"JSON from a foreign origin", 403, []string{"Content-Type", "application/json", "Origin", "http://evil.example"}},
		{"JSON from a loopback page on another port", 403, []string{"Content-Type", "application/json", "Origin", "http://127.0.0.1:1"}},
		{"JSON from the same host over https", 403, []string{"Content-Type", "application/json", "Origin", strings.Replace(own, "http:", "https:", 1)}},
		{"opaque origin", 403, []string{"Content-Type", "application/json", "Origin", "null"}},
		{"Sec-Fetch-Site: cross-site", 403, []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}},
		{"text/plain without Origin", 415, []string{"Content-Type", "text/plain"}},
		{"form post without Origin", 415, []string{"Content-Type", "application/x-www-form-urlencoded"}},
	}
	for _, p := range paths {
		for _, a := range attacks {
			body := p.body
			if body == "" {
				body = "x=1"
			}
			r := g.raw(t, "POST", p.path, body, a.hdr...)
			refused(t, r, a.status, p.path, a.name+" POST "+p.path)
		}
	}
	// A form with no fields posts an empty body; it is refused all the same.
	refused(t, g.raw(t, "POST", "/api/providers/p/start", "", "Content-Type", "application/x-www-form-urlencoded"), 415,
		"/api/providers/p/start", "empty form post")

	if _, err := g.rt.Get("evil"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("a refused request created a provider: %v", err)
	}
	if info, err := g.rt.Get("p"); err != nil || info.State != actors.StateCold || info.Pid != 0 {
		t.Fatalf("a refused request started p: %+v %v", info, err)
	}
	if ids := g.rt.IDs(); len(ids) != 1 {
		t.Fatalf("providers after the refusals: %v", ids)
	}

	// The gateway's own origin, and a client sending none, get through.
	r := g.raw(t, "POST", "/api/providers/p/tools/echo/call", `{"arguments":{"text":"mine"}}`,
		"Content-Type", "application/json; charset=utf-8", "Origin", own, "Sec-Fetch-Site", "same-origin")
	expect(t, r, 200, "same-origin call")
	r = g.raw(t, "POST", "/v1/mcp/tools/call", `{"server_id":"p","tool_name":"echo","arguments":{"text":"curl"}}`,
		"Content-Type", "application/json")
	expect(t, r, 200, "call without Origin")
	expect(t, g.raw(t, "POST", "/api/providers/p/stop", ""), 200, "body-less POST without Content-Type")
	// One rule for every method: a foreign page's read is refused too (a
	// browser sends Origin on a cross-origin fetch; a plain navigation
	// sends none and is served).
	expect(t, g.raw(t, "GET", "/api/providers", "", "Origin", "http://evil.example"), 403, "cross-site GET")
	expect(t, g.raw(t, "GET", "/api/providers", ""), 200, "GET without Origin")
}

// TestAllowedOriginsAndWebsockets: a configured origin gets through, also
// to a websocket; a foreign one cannot open a websocket (cross-site
// websocket hijacking).
func TestAllowedOriginsAndWebsockets(t *testing.T) {
	g := startGateway(t, Options{AllowedOrigins: []string{"https://dashboard.example:8443"}}, spec("p"))
	r := g.raw(t, "POST", "/api/providers/p/stop", "", "Origin", "https://DASHBOARD.example:8443")
	expect(t, r, 200, "allowed origin")
	refused(t, g.raw(t, "POST", "/api/providers/p/stop", "", "Origin", "https://dashboard.example"), 403, "/api", "allowed host on another port")

	wsURL := "ws" + strings.TrimPrefix(g.base, "http") + "/api/ws/events"
	dial := func(origin string) (int, error) {
		c, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {origin}})
		status := 0
		if resp != nil {
			status = resp.StatusCode
			_ = resp.Body.Close()
		}
		if c != nil {
			_ = c.Close()
		}
		return status, err
	}
	if status, err := dial("http://evil.example"); err == nil || status != 403 {
		t.Fatalf("websocket from a foreign origin: status %d, err %v", status, err)
	}
	if _, err := dial("https://dashboard.example:8443"); err != nil {
		t.Fatalf("websocket from an allowed origin: %v", err)
	}
	if _, err := dial(g.base); err != nil {
		t.Fatalf("websocket from the gateway's origin: %v", err)
	}
}

// TestHostNamesOfALoopbackListener: DNS rebinding (a page on
// attacker.example whose name now points to 127.0.0.1) names the
// attacker's host and is refused, on reads too; loopback names, and names
// the config adds, are served.
func TestHostNamesOfALoopbackListener(t *testing.T) {
	g := startGateway(t, Options{AllowedHosts: []string{"gw.internal", "proxy.example:9000"}})
	port := g.base[strings.LastIndexByte(g.base, ':')+1:]
	for _, host := range []string{"rebind.attacker.example:" + port, "rebind.attacker.example", "localhost:1", "127.0.0.1:1",
		"localhost.:" + port, "[::ffff:127.0.0.1]:" + port, "proxy.example:9001", "proxy.example"} {
		r := g.raw(t, "GET", "/api/providers", "", "Host", host)
		expect(t, r, 403, "Host "+host)
		r = g.raw(t, "POST", "/mcp", `{}`, "Host", host, "Origin", "http://"+host, "Content-Type", "application/json")
		expect(t, r, 403, "rebinding Host and Origin "+host)
		refused(t, g.raw(t, "GET", "/v1/mcp/servers", "", "Host", host), 403, "/v1/mcp/servers", "/v1 with Host "+host)
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST", "127.0.0.1", "127.0.0.1:" + port, "127.9.8.7:" + port,
		"[::1]:" + port, "[::1]", "gw.internal:1234", "GW.internal", "proxy.example:9000"} {
		expect(t, g.raw(t, "GET", "/api/providers", "", "Host", host), 200, "Host "+host)
	}
}

// TestHostNamesOfAnOpenListener: a listener on every address serves any
// Host, unless allowed_hosts names them.
func TestHostNamesOfAnOpenListener(t *testing.T) {
	for _, allowed := range [][]string{nil, {"gw.example"}} {
		rt := actors.NewRuntime(actors.Options{})
		srv := New(rt, Options{Insecure: true, AllowedHosts: allowed})
		ln, err := net.Listen("tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		g := &gateway{base: "http://127.0.0.1:" + strings.TrimPrefix(ln.Addr().String()[strings.LastIndexByte(ln.Addr().String(), ':'):], ":"),
			http: &http.Client{Timeout: 10 * time.Second}}
		want := 200
		if allowed != nil {
			want = 403
		}
		expect(t, g.raw(t, "GET", "/api/providers", "", "Host", "anything.example"), want, "Host anything.example")
		expect(t, g.raw(t, "GET", "/api/providers", "", "Host", "gw.example"), 200, "Host gw.example")
		expect(t, g.raw(t, "GET", "/api/providers", "", "Host", "localhost"), 200, "Host localhost")
		g.http.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Error(err)
		}
		_ = rt.Shutdown(ctx)
		cancel()
	}
}

// TestOriginRule: one origin rule, comparing scheme, host and port.
func TestOriginRule(t *testing.T) {
	g := newGuard(nil, []string{"http://app.example", "https://[fd00::1]:8443"})
	for _, c := range []struct {
		host, origin, fetchSite string
		ok                      bool
	}{
		{"127.0.0.1:8000", "", "", true},
		{"127.0.0.1:8000", "http://127.0.0.1:8000", "same-origin", true},
		{"localhost:8000", "HTTP://LocalHost:8000", "", true},
		{"localhost", "http://localhost:80", "", true},
		{"localhost:80", "http://localhost", "", true},
		{"[::1]:8000", "http://[::1]:8000", "", true},
		{"127.0.0.1:8000", "http://app.example:80", "", true},
		{"127.0.0.1:8000", "https://[FD00::1]:8443", "", true},
		{"127.0.0.1:8000", "", "cross-site", false},
		{"127.0.0.1:8000", "http://127.0.0.1:8000", "cross-site", false},
		{"127.0.0.1:8000", "http://localhost:8000", "", false}, // another host name is another origin
		{"127.0.0.1:8000", "http://127.0.0.1:3000", "", false},
		{"127.0.0.1:8000", "https://127.0.0.1:8000", "", false},
		{"localhost", "http://localhost:8080", "", false},
		{"127.0.0.1:8000", "http://app.example:8080", "", false},
		{"127.0.0.1:8000", "https://app.example", "", false},
		{"127.0.0.1:8000", "null", "", false},
		{"127.0.0.1:8000", "file://", "", false},
		{"127.0.0.1:8000", "http://127.0.0.1:8000/path", "", false},
		{"127.0.0.1:8000", "garbage", "", false},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetHost(c.host)
		if c.origin != "" {
			ctx.Request.Header.Set("Origin", c.origin)
		}
		if c.fetchSite != "" {
			ctx.Request.Header.Set("Sec-Fetch-Site", c.fetchSite)
		}
		if got := g.originAllowed(&ctx); got != c.ok {
			t.Errorf("Host %q Origin %q Sec-Fetch-Site %q: allowed %v, want %v", c.host, c.origin, c.fetchSite, got, c.ok)
		}
	}
}

// TestSilentConnectionIsClosedQuietly: a connection that sends nothing is
// closed at the read timeout without a byte written (an unsolicited 400
// would be taken for the answer to the next request sent on it); one that
// sends half a request is closed quietly too.
func TestSilentConnectionIsClosedQuietly(t *testing.T) {
	g := startGateway(t, Options{ReadTimeout: 200 * time.Millisecond})
	addr := strings.TrimPrefix(g.base, "http://")
	for _, sent := range []string{"", "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if sent != "" {
			if _, err := io.WriteString(c, sent); err != nil {
				t.Fatal(err)
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		_ = c.Close()
		if len(b) != 0 {
			t.Fatalf("after sending %q: the server wrote %q", sent, b)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("after sending %q: the connection was not closed at the read timeout", sent)
		}
	}
	// A request sent in time is answered.
	expect(t, g.do(t, "GET", "/health", ""), 200, "health")
}

// TestRequestHeaderLimit: headers well over 4 KiB (a large identity
// provider's JWT) are accepted by default; over the configured limit the
// answer is 431, not 400.
func TestRequestHeaderLimit(t *testing.T) {
	big := strings.Repeat("a", 20<<10)
	g := startGateway(t, Options{})
	expect(t, g.do(t, "GET", "/health", "", "X-Big", big), 200, "20 KiB header, default limit")
	// Several headers adding up to 24 KiB.
	hdr := []string{}
	for _, n := range []string{"A", "B", "C"} {
		hdr = append(hdr, "X-"+n, strings.Repeat(n, 8<<10))
	}
	expect(t, g.do(t, "GET", "/health", "", hdr...), 200, "24 KiB of headers, default limit")

	small := startGateway(t, Options{Limits: config.Limits{MaxHeaderBytes: 4 << 10}})
	expect(t, small.do(t, "GET", "/health", "", "X-Fits", strings.Repeat("a", 3<<10)), 200, "3 KiB header, 4 KiB limit")
	c, err := net.Dial("tcp", strings.TrimPrefix(small.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "+strings.Repeat("a", 5<<10)+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to a 5 KiB header: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	r := response{status: resp.StatusCode, raw: b}
	_ = json.Unmarshal(b, &r.body)
	expect(t, r, http.StatusRequestHeaderFieldsTooLarge, "5 KiB header, 4 KiB limit")
}

// TestClientHangUpCancelsCall: a client that disconnects in the middle of
// a call cancels it (the backend is sent notifications/cancelled) instead
// of leaving it to run to its timeout.
func TestClientHangUpCancelsCall(t *testing.T) {
	sp := spec("p")
	sp.CallTimeout = time.Minute
	g := startGateway(t, Options{}, sp)
	sub := g.rt.Hub().Subscribe(func(e *events.Event) bool { return e.Kind == "ToolInvoked" }, 16)
	defer sub.Close()
	expect(t, g.do(t, "POST", "/api/providers/p/tools/echo/call", `{"arguments":{"text":"warm"}}`), 200, "warm-up")
	waitEvent(t, sub, "the warm-up call", func(*events.Event) bool { return true })

	// The test server says on stderr when a call of hang is cancelled:
	// the backend got notifications/cancelled.
	logs := g.rt.Hub().Subscribe(func(e *events.Event) bool {
		l, ok := e.Data.(events.ProviderLog)
		return ok && strings.Contains(l.Line, "hang: cancelled")
	}, 16)
	defer logs.Close()
	for _, path := range []string{"/api/providers/p/tools/hang/call", "/v1/mcp/tools/call"} {
		body := `{"arguments":{}}`
		if strings.HasPrefix(path, "/v1/") {
			body = `{"server_id":"p","tool_name":"hang","arguments":{}}`
		}
		c, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		req := "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		waitInFlight(t, g.rt, "p", 1)
		_ = c.Close()
		e := waitEvent(t, sub, "the abandoned call to end", func(e *events.Event) bool {
			inv, ok := e.Data.(events.ToolInvoked)
			return ok && inv.Tool == "hang"
		})
		if inv := e.Data.(events.ToolInvoked); inv.Outcome == "success" {
			t.Fatalf("%s: the abandoned call ended %+v", path, inv)
		}
		waitEvent(t, logs, path+": the backend hearing of the cancellation", func(*events.Event) bool { return true })
		waitInFlight(t, g.rt, "p", 0)
	}
}

// waitInFlight waits until provider id has n calls in flight. The count
// lives in the provider's published snapshot, with no event for it, so
// it is polled against a deadline.
func waitInFlight(t testing.TB, rt *actors.Runtime, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if info, err := rt.Get(id); err == nil && info.InFlight == n {
			return
		}
		if time.Now().After(deadline) {
			info, _ := rt.Get(id)
			t.Fatalf("provider %s: %d calls in flight, want %d", id, info.InFlight, n)
		}
		time.Sleep(5 * time.Millisecond) // polling a snapshot, see above
	}
}
