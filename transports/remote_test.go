package transports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// remoteUnderTest is a remote backend with everything it reported.
type remoteUnderTest struct {
	t         testing.TB
	r         *Remote
	sess      *Session
	progress  chan string
	notes     chan wireMsg
	protoErrs chan error
	exited    chan error
}

// startRemote starts a remote backend on spec (its hooks are the test's)
// and shakes hands unless told not to. It is stopped when the test ends.
func startRemote(t testing.TB, spec RemoteSpec, handshake bool) *remoteUnderTest {
	t.Helper()
	u := &remoteUnderTest{
		t:         t,
		progress:  make(chan string, 64),
		notes:     make(chan wireMsg, 64),
		protoErrs: make(chan error, 64),
		exited:    make(chan error, 2),
	}
	spec.Hooks.OnProgress = func(msg string) {
		select {
		case u.progress <- msg:
		default:
		}
	}
	spec.Hooks.OnExit = func(err error) { u.exited <- err }
	spec.Hooks.Mux.OnNotification = func(method string, params json.RawMessage) {
		select {
		case u.notes <- wireMsg{Method: method, Params: params}:
		default:
		}
	}
	spec.Hooks.Mux.OnProtocolError = func(err error) {
		select {
		case u.protoErrs <- err:
		default:
		}
	}
	r, err := StartRemote(t.Context(), spec)
	if err != nil {
		t.Fatalf("StartRemote: %v", err)
	}
	u.r = r
	t.Cleanup(u.stop)
	if handshake {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		sess, err := Handshake(ctx, r.Mux(), testClient)
		if err != nil {
			t.Fatalf("Handshake: %v", err)
		}
		u.sess = sess
	}
	return u
}

// stop stops the backend and waits until it is done.
func (u *remoteUnderTest) stop() {
	u.r.Stop()
	select {
	case <-u.r.Done():
	case <-time.After(waitFor):
		u.t.Fatalf("remote backend not done within %v", waitFor)
	}
}

// call makes a tools/call and returns its Response.
func (u *remoteUnderTest) call(tool, args string, timeout time.Duration) Response {
	u.t.Helper()
	return callTool(u.t, u.sess, tool, args, timeout)
}

// echo calls the echo tool of the test server and checks its answer.
func (u *remoteUnderTest) echo(s string) {
	u.t.Helper()
	got, err := text(u.t, u.call("echo", fmt.Sprintf(`{"text":%q}`, s), waitFor))
	if err != nil || got != s {
		u.t.Fatalf("echo(%q) = %q, %v", s, got, err)
	}
}

// echoConcurrently makes n echo calls at once and checks their answers.
func (u *remoteUnderTest) echoConcurrently(n int) {
	u.t.Helper()
	calls := make([]*call, n)
	for i := range calls {
		calls[i] = newCall(u.t)
		if _, err := u.sess.GoCall("echo", fmt.Appendf(nil, `{"text":"call %d"}`, i), waitFor, calls[i].cb); err != nil {
			u.t.Fatalf("GoCall %d: %v", i, err)
		}
	}
	for i, c := range calls {
		if got, err := text(u.t, c.wait()); err != nil || got != fmt.Sprintf("call %d", i) {
			u.t.Fatalf("call %d = %q, %v", i, got, err)
		}
	}
}

// waitProgress waits for a progress report containing want.
func (u *remoteUnderTest) waitProgress(want string) {
	u.t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case msg := <-u.progress:
			if strings.Contains(msg, want) {
				return
			}
		case <-deadline:
			u.t.Fatalf("no progress report %q within %v", want, waitFor)
		}
	}
}

// waitNote waits for a notification.
func (u *remoteUnderTest) waitNote(method string) {
	u.t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case n := <-u.notes:
			if n.Method == method {
				return
			}
		case <-deadline:
			u.t.Fatalf("no %s within %v", method, waitFor)
		}
	}
}

// rpcError returns the *RPCError of a failed call.
func rpcError(t testing.TB, r Response) *RPCError {
	t.Helper()
	var e *RPCError
	if !errors.As(r.Err, &e) {
		t.Fatalf("call answered %v (%s), want an RPC error", r.Err, r.Result)
	}
	return e
}

// possiblyDelivered reads the data of an error the adapter made up.
func possiblyDelivered(t testing.TB, e *RPCError) bool {
	t.Helper()
	var d struct {
		PossiblyDelivered *bool `json:"possiblyDelivered"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil || d.PossiblyDelivered == nil {
		t.Fatalf("error data %s has no possiblyDelivered", e.Data)
	}
	return *d.PossiblyDelivered
}

func TestRemoteStreamable(t *testing.T) {
	tests := []struct {
		name      string
		stateless bool
		want      string
	}{
		{"stateless", true, Protocol20260728},
		{"stateful", false, Protocol20251125},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testbin.StartHTTP(t, "127.0.0.1:0", tt.stateless)
			u := startRemote(t, RemoteSpec{Endpoint: srv.URL()}, true)
			if got := u.sess.Info().ProtocolVersion; got != tt.want {
				t.Fatalf("protocol %q, want %q", got, tt.want)
			}
			if got := u.r.Describe(); got != (BackendInfo{Endpoint: srv.URL(), Transport: "streamable-http"}) {
				t.Fatalf("Describe() = %+v", got)
			}
			ctx, cancel := context.WithTimeout(t.Context(), waitFor)
			defer cancel()
			tools, err := u.sess.ListTools(ctx)
			if err != nil {
				t.Fatalf("ListTools: %v", err)
			}
			if !slices.ContainsFunc(tools, func(tl Tool) bool { return tl.Name == "echo" }) {
				t.Fatalf("no echo among %d tools", len(tools))
			}
			u.echo("over http")
			u.echoConcurrently(32)

			if got, err := text(t, u.call("add_tool", `{"name":"late"}`, waitFor)); err != nil || got != "added" {
				t.Fatalf("add_tool = %q, %v", got, err)
			}
			u.waitNote("notifications/tools/list_changed")
			if err := u.sess.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})
	}
}

// sdkEchoArgs are the arguments of the in-process servers' echo and big.
type sdkEchoArgs struct {
	Text  string `json:"text,omitempty"`
	Bytes int    `json:"bytes,omitempty"`
}

// newSDKServer is an in-process MCP server with the tools echo and big.
// versions, when given, restricts the protocol versions it speaks.
func newSDKServer(versions ...string) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "in-process", Version: "1"},
		&mcp.ServerOptions{SupportedProtocolVersions: versions})
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Returns its text."},
		func(_ context.Context, _ *mcp.CallToolRequest, in sdkEchoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "big", Description: "Returns bytes x characters."},
		func(_ context.Context, _ *mcp.CallToolRequest, in sdkEchoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", in.Bytes)}}}, nil, nil
		})
	return srv
}

// closeSessions ends every session of an in-process server, as a restart
// would.
func closeSessions(srv *mcp.Server) {
	for ss := range srv.Sessions() {
		_ = ss.Close()
	}
}

// loggedRequest is a request an HTTP test server received.
type loggedRequest struct {
	method string
	header http.Header
	rpc    string // the JSON-RPC method of a POST
}

// requestLog records the requests a handler receives.
type requestLog struct {
	mu   sync.Mutex
	reqs []loggedRequest
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr := loggedRequest{method: r.Method, header: r.Header.Clone()}
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			var m struct {
				Method string `json:"method"`
			}
			_ = json.Unmarshal(body, &m)
			lr.rpc = m.Method
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, lr)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) all() []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

// find returns the logged requests that match.
func (l *requestLog) find(match func(loggedRequest) bool) []loggedRequest {
	var out []loggedRequest
	for _, r := range l.all() {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

// quietServer starts an httptest server that does not log to stderr.
func quietServer(t testing.TB, h http.Handler, tlsOn bool) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsOn {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

// swappable serves through a handler that can be replaced, behind one
// listener: a server restart that keeps its address.
type swappable struct {
	srv atomic.Pointer[mcp.Server]
	h   atomic.Pointer[http.Handler]
}

func (s *swappable) swap(srv *mcp.Server, h http.Handler) {
	s.srv.Store(srv)
	s.h.Store(&h)
}

func (s *swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }

// statefulHandler is a stateful streamable HTTP handler for srv.
func statefulHandler(srv *mcp.Server) http.Handler {
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
}

// statelessHandler is a stateless streamable HTTP handler for srv.
func statelessHandler(srv *mcp.Server, jsonResponse bool) http.Handler {
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: jsonResponse})
}

func TestRemoteSessionLoss(t *testing.T) {
	var sw swappable
	first := newSDKServer(Protocol20251125)
	sw.swap(first, statefulHandler(first))
	var rl requestLog
	ts := quietServer(t, rl.wrap(&sw), false)
	t.Cleanup(func() { closeSessions(sw.srv.Load()) })

	u := startRemote(t, RemoteSpec{Endpoint: ts.URL}, true)
	if got := u.sess.Info().ProtocolVersion; got != Protocol20251125 {
		t.Fatalf("protocol %q, want %q", got, Protocol20251125)
	}
	u.echo("first session")

	// The server restarts: a new server behind the same address, which
	// knows nothing of the session.
	second := newSDKServer(Protocol20251125)
	sw.swap(second, statefulHandler(second))
	closeSessions(first)

	u.echo("second session")
	u.waitProgress("session re-established")

	inits := rl.find(func(r loggedRequest) bool { return r.rpc == "initialize" })
	if len(inits) != 2 {
		t.Fatalf("%d initialize requests, want 2 (the handshake and its replay)", len(inits))
	}
	for _, r := range inits {
		if sid := r.header.Get("Mcp-Session-Id"); sid != "" {
			t.Fatalf("initialize sent with session id %q", sid)
		}
	}
	calls := rl.find(func(r loggedRequest) bool { return r.rpc == "tools/call" })
	firstSID, lastSID := calls[0].header.Get("Mcp-Session-Id"), calls[len(calls)-1].header.Get("Mcp-Session-Id")
	if firstSID == "" || lastSID == "" || firstSID == lastSID {
		t.Fatalf("session ids %q then %q, want two different ones", firstSID, lastSID)
	}
	if got := calls[len(calls)-1].header.Get("Mcp-Protocol-Version"); got != Protocol20251125 {
		t.Fatalf("Mcp-Protocol-Version %q, want %q", got, Protocol20251125)
	}
	if len(rl.find(func(r loggedRequest) bool { return r.method == http.MethodGet })) == 0 {
		t.Fatalf("no GET stream was opened")
	}
	// The replayed initialize's answer went nowhere: no protocol error.
	select {
	case err := <-u.protoErrs:
		t.Fatalf("protocol error: %v", err)
	default:
	}
}

func TestRemoteResumesPostStream(t *testing.T) {
	srv := newSDKServer(Protocol20251125)
	mcp.AddTool(srv, &mcp.Tool{Name: "polled", Description: "Closes its stream, then answers."},
		func(_ context.Context, req *mcp.CallToolRequest, in sdkEchoArgs) (*mcp.CallToolResult, any, error) {
			req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	var rl requestLog
	ts := quietServer(t, rl.wrap(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})), false)
	t.Cleanup(func() { closeSessions(srv) })

	u := startRemote(t, RemoteSpec{Endpoint: ts.URL}, true)
	if got, err := text(t, u.call("polled", `{"text":"resumed"}`, waitFor)); err != nil || got != "resumed" {
		t.Fatalf("polled = %q, %v", got, err)
	}
	resumed := rl.find(func(r loggedRequest) bool {
		return r.method == http.MethodGet && r.header.Get("Last-Event-ID") != ""
	})
	if len(resumed) == 0 {
		t.Fatalf("the answer did not come through a resumed stream")
	}
}

func TestRemoteServerDown(t *testing.T) {
	for _, stateless := range []bool{true, false} {
		t.Run(fmt.Sprintf("stateless=%v", stateless), func(t *testing.T) {
			srv := testbin.StartHTTP(t, "127.0.0.1:0", stateless)
			u := startRemote(t, RemoteSpec{Endpoint: srv.URL()}, true)
			u.echo("up")
			srv.Stop()

			r := u.call("echo", `{"text":"down"}`, time.Hour)
			if e := rpcError(t, r); e.Code != codeRemoteFailure || !strings.Contains(e.Message, "unreachable") {
				t.Fatalf("call while down: %v, want an unreachable error", e)
			}

			testbin.StartHTTP(t, srv.Addr, stateless)
			u.echo("up again")
			if !stateless {
				u.waitProgress("session re-established")
			}
		})
	}
}

func TestRemoteUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	u := startRemote(t, RemoteSpec{Endpoint: "http://" + addr + "/mcp"}, false)
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	_, err = u.r.Mux().Call(ctx, "tools/list", nil)
	var e *RPCError
	if !errors.As(err, &e) || e.Code != codeRemoteFailure || !strings.Contains(e.Message, "connection refused") {
		t.Fatalf("call to a closed port: %v, want a connection refused RPC error", err)
	}
	if possiblyDelivered(t, e) {
		t.Fatalf("a refused connection counts as possibly delivered")
	}
	if _, err := Handshake(ctx, u.r.Mux(), testClient); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Handshake: %v, want an unreachable error", err)
	}
}

func TestRemoteLegacySSE(t *testing.T) {
	srv := newSDKServer()
	var rl requestLog
	ts := quietServer(t, rl.wrap(mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)), false)
	t.Cleanup(func() { closeSessions(srv) })

	u := startRemote(t, RemoteSpec{Endpoint: ts.URL, Headers: map[string]string{"X-Legacy": "yes"}}, true)
	if got := u.r.Describe(); got != (BackendInfo{Endpoint: ts.URL, Transport: "sse"}) {
		t.Fatalf("Describe() = %+v", got)
	}
	if got := u.sess.Info().ProtocolVersion; got != Protocol20251125 {
		t.Fatalf("protocol %q, want %q", got, Protocol20251125)
	}
	u.echo("legacy")
	u.echoConcurrently(32)

	// The server drops the stream (and with it the session): the backend
	// reconnects and initialises the new session by itself.
	closeSessions(srv)
	u.waitProgress("session re-established")
	u.echo("after reconnect")

	for _, r := range rl.all() {
		if r.header.Get("X-Legacy") != "yes" {
			t.Fatalf("%s request without the configured header", r.method)
		}
	}
	if n := len(rl.find(func(r loggedRequest) bool { return r.rpc == "initialize" })); n != 2 {
		t.Fatalf("%d initialize requests, want 2", n)
	}
}

// everythingServer is server-everything serving streamable HTTP.
type everythingServer struct {
	cmd      *exec.Cmd
	readDone chan struct{}
	once     sync.Once
}

// startEverything runs server-everything's streamable HTTP server on port
// and waits until it listens. It is killed, with its process group, when
// the test ends.
func startEverything(t testing.TB, node, js string, port int) *everythingServer {
	t.Helper()
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
	s := &everythingServer{cmd: cmd, readDone: make(chan struct{})}
	listening := make(chan struct{})
	go func() {
		defer close(s.readDone)
		sc := bufio.NewScanner(stderr)
		var once sync.Once
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on port") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	t.Cleanup(s.stop)
	select {
	case <-listening:
	case <-s.readDone:
		t.Fatalf("server-everything ended before listening")
	case <-time.After(waitFor):
		t.Fatalf("server-everything not listening within %v", waitFor)
	}
	return s
}

// stop kills the server's process group and waits for it.
func (s *everythingServer) stop() {
	s.once.Do(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.readDone
		_ = s.cmd.Wait()
	})
}

func TestRemoteEverything(t *testing.T) {
	node, js := testbin.NeedEverything(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	srv := startEverything(t, node, js, port)

	u := startRemote(t, RemoteSpec{Endpoint: fmt.Sprintf("http://127.0.0.1:%d/mcp", port)}, true)
	if got := u.sess.Info().ProtocolVersion; got != Protocol20251125 {
		t.Fatalf("protocol %q, want %q (initialize fallback)", got, Protocol20251125)
	}
	if got := u.r.Describe().Transport; got != "streamable-http" {
		t.Fatalf("transport %q, want streamable-http", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	tools, err := u.sess.ListTools(ctx)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	if !slices.ContainsFunc(tools, func(tl Tool) bool { return tl.Name == "echo" }) {
		t.Fatalf("no echo among %d tools", len(tools))
	}
	if got, err := text(t, u.call("echo", `{"message":"hi"}`, waitFor)); err != nil || got != "Echo: hi" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	if err := u.sess.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	// A restart loses the session; the next call re-establishes it.
	srv.stop()
	startEverything(t, node, js, port)
	if got, err := text(t, u.call("echo", `{"message":"again"}`, waitFor)); err != nil || got != "Echo: again" {
		t.Fatalf("echo after a restart = %q, %v", got, err)
	}
	u.waitProgress("session re-established")
}

func TestRemoteHeaders(t *testing.T) {
	srv := newSDKServer()
	srv.AddTool(&mcp.Tool{
		Name: "regional",
		InputSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"region": map[string]any{"type": "string", "x-mcp-header": "Region"},
			},
		},
	}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
	})
	var rl requestLog
	ts := quietServer(t, rl.wrap(statelessHandler(srv, false)), false)

	u := startRemote(t, RemoteSpec{
		Endpoint:    ts.URL,
		Headers:     map[string]string{"X-Tenant": "blue"},
		BearerToken: "s3cret",
	}, true)
	if got := u.sess.Info().ProtocolVersion; got != Protocol20260728 {
		t.Fatalf("protocol %q, want %q", got, Protocol20260728)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	if _, err := u.sess.ListTools(ctx); err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	u.echo("with headers")
	if got, err := text(t, u.call("regional", `{"region":"eu-west"}`, waitFor)); err != nil || got != "ok" {
		t.Fatalf("regional = %q, %v", got, err)
	}

	reqs := rl.all()
	if len(reqs) == 0 {
		t.Fatal("no request logged")
	}
	for _, r := range reqs {
		if r.header.Get("X-Tenant") != "blue" || r.header.Get("Authorization") != "Bearer s3cret" {
			t.Fatalf("%s %s without the configured headers: %v", r.method, r.rpc, r.header)
		}
	}
	call := rl.find(func(r loggedRequest) bool { return r.rpc == "tools/call" })
	if len(call) != 2 {
		t.Fatalf("%d tools/call requests, want 2", len(call))
	}
	for k, want := range map[string]string{"Mcp-Protocol-Version": Protocol20260728, "Mcp-Method": "tools/call", "Mcp-Name": "echo",
		"Content-Type": "application/json", "Accept": "application/json, text/event-stream"} {
		if got := call[0].header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if got := call[1].header.Get("Mcp-Param-Region"); got != "eu-west" {
		t.Errorf("Mcp-Param-Region: %q, want %q", got, "eu-west")
	}
}

func TestRemoteTLS(t *testing.T) {
	srv := newSDKServer()
	ts := quietServer(t, statelessHandler(srv, false), true)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	u := startRemote(t, RemoteSpec{Endpoint: ts.URL, CAFile: caFile}, true)
	u.echo("over tls")

	// Without the CA the server is not trusted.
	untrusted := startRemote(t, RemoteSpec{Endpoint: ts.URL}, false)
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	if _, err := Handshake(ctx, untrusted.r.Mux(), testClient); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Handshake with an untrusted server: %v, want a certificate error", err)
	}
}

func TestStartRemoteErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec RemoteSpec
		want string
	}{
		{"no endpoint", RemoteSpec{}, "http or https"},
		{"not http", RemoteSpec{Endpoint: "ftp://example.com/mcp"}, "http or https"},
		{"no host", RemoteSpec{Endpoint: "http:///mcp"}, "http or https"},
		{"bad url", RemoteSpec{Endpoint: "http://[::1"}, "remote endpoint"},
		{"missing CA file", RemoteSpec{Endpoint: "https://example.com", CAFile: filepath.Join(dir, "none.pem")}, "CA file"},
		{"bad CA file", RemoteSpec{Endpoint: "https://example.com", CAFile: garbage}, "no PEM certificate"},
		{"CA file and client", RemoteSpec{Endpoint: "https://example.com", CAFile: garbage, Client: http.DefaultClient}, "CAFile"},
		{"bad header name", RemoteSpec{Endpoint: "http://example.com", Headers: map[string]string{"Bad Name": "x"}}, "header"},
		{"bad header value", RemoteSpec{Endpoint: "http://example.com", Headers: map[string]string{"X-A": "a\r\nb"}}, "header"},
		{"bad token", RemoteSpec{Endpoint: "http://example.com", BearerToken: "a\nb"}, "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := StartRemote(t.Context(), tt.spec)
			if err == nil {
				r.Stop()
				<-r.Done()
				t.Fatalf("StartRemote succeeded, want an error about %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("StartRemote: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestRemoteOversized(t *testing.T) {
	tests := []struct {
		name    string
		handler func() http.Handler
	}{
		{"event stream", func() http.Handler { return statelessHandler(newSDKServer(), false) }},
		{"json body", func() http.Handler { return statelessHandler(newSDKServer(), true) }},
		{"stateful", func() http.Handler { return statefulHandler(newSDKServer(Protocol20251125)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := quietServer(t, tt.handler(), false)
			u := startRemote(t, RemoteSpec{Endpoint: ts.URL, Hooks: Hooks{Mux: MuxOptions{MaxMessage: 4096}}}, true)
			r := u.call("big", `{"bytes":10000}`, waitFor)
			if e := rpcError(t, r); !strings.Contains(e.Message, "size limit") {
				t.Fatalf("oversized answer: %v, want a size limit error", e)
			}
			select {
			case err := <-u.protoErrs:
				if !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("protocol error %v, want ErrMessageTooLarge", err)
				}
			case <-time.After(waitFor):
				t.Fatalf("no protocol error reported")
			}
			u.echo("still fine")
		})
	}
}

func TestRemoteStopDeletesSession(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	srv := newSDKServer(Protocol20251125)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	mcp.AddTool(srv, &mcp.Tool{Name: "block", Description: "Waits to be released."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ sdkEchoArgs) (*mcp.CallToolResult, any, error) {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return &mcp.CallToolResult{}, nil, nil
		})
	var rl requestLog
	ts := quietServer(t, rl.wrap(statefulHandler(srv)), false)
	var closeOnce sync.Once
	closeServer := func() {
		closeOnce.Do(func() {
			select {
			case <-release:
			default:
				close(release)
			}
			closeSessions(srv)
			ts.Close()
		})
	}
	t.Cleanup(closeServer)

	u := startRemote(t, RemoteSpec{Endpoint: ts.URL}, true)
	u.echo("before stop")
	// A call still running when Stop comes fails with ErrClosed.
	pending := newCall(t)
	if _, err := u.sess.GoCall("block", nil, 0, pending.cb); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(waitFor):
		t.Fatal("block never reached the server")
	}
	u.r.Stop()
	u.r.Stop() // idempotent
	if r := pending.wait(); !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("call pending at Stop: %v, want ErrClosed", r.Err)
	}
	// The server ends the session (DELETE) once its handler has returned.
	close(release)
	u.stop()
	select {
	case err := <-u.exited:
		if err != nil {
			t.Fatalf("OnExit(%v) after Stop, want nil", err)
		}
	case <-time.After(waitFor):
		t.Fatal("OnExit not called")
	}

	calls := rl.find(func(r loggedRequest) bool { return r.rpc == "tools/call" })
	dels := rl.find(func(r loggedRequest) bool { return r.method == http.MethodDelete })
	if len(calls) == 0 || len(dels) != 1 {
		t.Fatalf("%d calls and %d DELETEs, want 1 DELETE", len(calls), len(dels))
	}
	if sid := dels[0].header.Get("Mcp-Session-Id"); sid == "" || sid != calls[0].header.Get("Mcp-Session-Id") {
		t.Fatalf("DELETE for session %q, want %q", sid, calls[0].header.Get("Mcp-Session-Id"))
	}
	if _, err := u.r.Mux().Call(t.Context(), "tools/list", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Stop: %v, want ErrClosed", err)
	}
	closeServer()
	goleak.VerifyNone(t, ignore)
}

func TestRemoteMuxClosed(t *testing.T) {
	srv := testbin.StartHTTP(t, "127.0.0.1:0", true)
	u := startRemote(t, RemoteSpec{Endpoint: srv.URL()}, true)
	_ = u.r.Mux().Close()
	select {
	case <-u.r.Done():
	case <-time.After(waitFor):
		t.Fatal("not done after the Mux closed")
	}
	select {
	case err := <-u.exited:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("OnExit(%v), want ErrClosed", err)
		}
	case <-time.After(waitFor):
		t.Fatal("OnExit not called")
	}
}

func TestRemoteBackpressure(t *testing.T) {
	srv := newSDKServer()
	var inFlight, most atomic.Int32
	entered := make(chan struct{}, 64)
	release := make(chan struct{})
	mcp.AddTool(srv, &mcp.Tool{Name: "gate", Description: "Waits to be released."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ sdkEchoArgs) (*mcp.CallToolResult, any, error) {
			n := inFlight.Add(1)
			for m := most.Load(); n > m; m = most.Load() {
				if most.CompareAndSwap(m, n) {
					break
				}
			}
			entered <- struct{}{}
			defer inFlight.Add(-1)
			select {
			case <-release:
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "released"}}}, nil, nil
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		})
	ts := quietServer(t, statelessHandler(srv, false), false)
	u := startRemote(t, RemoteSpec{Endpoint: ts.URL, MaxConcurrent: 2}, true)

	const n = 6
	calls := make([]*call, n)
	for i := range calls {
		calls[i] = newCall(t)
		if _, err := u.sess.GoCall("gate", nil, waitFor, calls[i].cb); err != nil {
			t.Fatalf("GoCall %d: %v", i, err)
		}
	}
	for i := range n {
		select {
		case <-entered:
		case <-time.After(waitFor):
			t.Fatalf("call %d never reached the server", i)
		}
		release <- struct{}{}
	}
	for i, c := range calls {
		if got, err := text(t, c.wait()); err != nil || got != "released" {
			t.Fatalf("call %d = %q, %v", i, got, err)
		}
	}
	if m := most.Load(); m > 2 {
		t.Fatalf("%d calls ran at once, want at most MaxConcurrent=2", m)
	}
}

func TestRemoteCancelFreesSlot(t *testing.T) {
	srv := testbin.StartHTTP(t, "127.0.0.1:0", true)
	u := startRemote(t, RemoteSpec{Endpoint: srv.URL(), MaxConcurrent: 1}, true)
	// hang holds the only slot until the Mux gives up on it.
	if r := u.call("hang", "", 200*time.Millisecond); !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("hang: %v, want ErrTimeout", r.Err)
	}
	u.echo("slot free again")
}

// rawServer is a hand-written streamable HTTP server answering in the
// forms the SDK servers do not use: error statuses with a null id, JSON
// arrays, indented JSON, multi-line events with comments; it refuses the
// GET stream and never finishes a DELETE.
type rawServer struct {
	gets    atomic.Int32
	deletes chan string // the session ids of DELETEs
}

func (rs *rawServer) handler(t testing.TB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			rs.gets.Add(1)
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		case http.MethodDelete:
			rs.deletes <- r.Header.Get("Mcp-Session-Id")
			<-r.Context().Done()
			return
		}
		var m wireMsg
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch m.Method {
		case "server/discover":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: Server not initialized"},"id":null}`)
		case "initialize":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Mcp-Session-Id", "raw-1")
			out, _ := json.MarshalIndent([]any{
				map[string]any{"jsonrpc": "2.0", "method": "notifications/message", "params": map[string]any{"level": "info", "data": "hello"}},
				map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{
					"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "serverInfo": map[string]any{"name": "raw", "version": "0"}}},
			}, "", "  ")
			_, _ = w.Write(out)
		case "tools/list":
			w.Header().Set("Content-Type", "text/event-stream")
			res, _ := json.MarshalIndent(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{
				"tools": []any{map[string]any{"name": "t1", "inputSchema": map[string]any{"type": "object"}}}}}, "", " ")
			_, _ = io.WriteString(w, ": a comment\nevent: message\nid: 7\nretry: 100\ndata: "+strings.ReplaceAll(string(res), "\n", "\r\ndata: ")+"\r\n\r\n")
		case "tools/call":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "upstream overloaded\n")
		default:
			if len(m.ID) > 0 {
				t.Errorf("unexpected request %s", m.Method)
			}
			w.WriteHeader(http.StatusAccepted)
		}
	})
}

func TestRemoteRawForms(t *testing.T) {
	rs := &rawServer{deletes: make(chan string, 1)}
	ts := quietServer(t, rs.handler(t), false)
	u := startRemote(t, RemoteSpec{Endpoint: ts.URL}, true)
	if got := u.sess.Info(); got.ProtocolVersion != "2025-06-18" || got.Name != "raw" {
		t.Fatalf("server info %+v", got)
	}
	u.waitNote("notifications/message")
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	tools, err := u.sess.ListTools(ctx)
	if err != nil || len(tools) != 1 || tools[0].Name != "t1" {
		t.Fatalf("ListTools = %+v, %v", tools, err)
	}
	e := rpcError(t, u.call("anything", `{}`, waitFor))
	if e.Code != codeRemoteFailure || !strings.Contains(e.Message, "503") || !strings.Contains(e.Message, "upstream overloaded") {
		t.Fatalf("503 answer: %v", e)
	}
	if !possiblyDelivered(t, e) {
		t.Fatalf("a 503 counts as not delivered")
	}
	if got := u.r.Describe().Transport; got != "streamable-http" {
		t.Fatalf("transport %q", got)
	}

	// Stop ends even though the server never finishes the DELETE.
	u.stop()
	select {
	case sid := <-rs.deletes:
		if sid != "raw-1" {
			t.Fatalf("DELETE for session %q, want raw-1", sid)
		}
	default:
		t.Fatal("no DELETE at Stop")
	}
	if n := rs.gets.Load(); n > 1 {
		t.Fatalf("%d GET streams tried after a 405, want at most 1", n)
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		want  []sseEvent
	}{
		{"one event", "data: {}\n\n", 100, []sseEvent{{data: []byte("{}")}}},
		{"multi-line data", "data: a\ndata:b\r\ndata:  c\n\n", 100, []sseEvent{{data: []byte("a\nb\n c")}}},
		{"comments and fields", ": hi\nevent: message\nid: 3\nretry: 5\nfoo: bar\ndata: x\n\n", 100,
			[]sseEvent{{event: "message", id: "3", hasID: true, data: []byte("x")}}},
		{"blank lines between", "\n\n\ndata: 1\n\n\n\ndata: 2\n\n", 100, []sseEvent{{data: []byte("1")}, {data: []byte("2")}}},
		{"id only", "id: 9\n\n", 100, []sseEvent{{id: "9", hasID: true}}},
		{"field without colon", "data\n\n", 100, []sseEvent{{data: []byte{}}}},
		{"cut off at the end", "data: 1\n\ndata: 2\n", 100, []sseEvent{{data: []byte("1")}}},
		{"too large", "data: " + strings.Repeat("y", 50) + "\ndata: " + strings.Repeat("z", 60) + "\n\ndata: ok\n\n", 100,
			[]sseEvent{{tooLarge: true, prefix: []byte(strings.Repeat("y", 50) + strings.Repeat("z", 60))}, {data: []byte("ok")}}},
		{"one long line", "data: " + strings.Repeat("w", 300) + "\n\ndata: ok\n\n", 100,
			[]sseEvent{{tooLarge: true, prefix: []byte(strings.Repeat("w", maxPrefix))}, {data: []byte("ok")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sr := newSSEReader(strings.NewReader(tt.in), tt.limit)
			var got []sseEvent
			for {
				ev, err := sr.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("next: %v", err)
				}
				got = append(got, ev)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.event != w.event || g.id != w.id || g.hasID != w.hasID || g.tooLarge != w.tooLarge ||
					!bytes.Equal(g.data, w.data) || !bytes.Equal(g.prefix, w.prefix) {
					t.Fatalf("event %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestRemoteParamHeaders(t *testing.T) {
	b := toolHeaderBindings(json.RawMessage(`{"tools":[
		{"name":"a","inputSchema":{"type":"object","properties":{
			"region":{"type":"string","x-mcp-header":"Region"},
			"opts":{"type":"object","properties":{"dry":{"type":"boolean","x-mcp-header":"Dry"}}},
			"n":{"type":"integer","x-mcp-header":"N"},
			"plain":{"type":"string"}}}},
		{"name":"b","inputSchema":{"type":"object"}},
		{"name":"c","inputSchema":{"type":"object","properties":{"x":{"x-mcp-header":42}}}}]}`))
	if len(b["a"]) != 3 || len(b["b"]) != 0 || len(b["c"]) != 0 {
		t.Fatalf("bindings %+v", b)
	}
	m, err := parseRemoteMsg([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":` +
		`{"region":"  spaced ","opts":{"dry":true},"n":7,"plain":"p"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.version != Protocol20260728 || m.name != "a" {
		t.Fatalf("parsed %+v", m)
	}
	h := http.Header{}
	setStandardHeaders(h, m, b["a"])
	want := map[string]string{
		"Mcp-Method":       "tools/call",
		"Mcp-Name":         "a",
		"Mcp-Param-Region": "=?base64?ICBzcGFjZWQg?=",
		"Mcp-Param-Dry":    "true",
		"Mcp-Param-N":      "7",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("headers %v, want only %v", h, want)
	}
	for in, want := range map[string]string{"eu-west": "eu-west", "": "", "é": "=?base64?w6k=?=", "=?base64?eA==?=": "=?base64?PT9iYXNlNjQ/ZUE9PT89?="} {
		if got := mcpHeaderValue(in); got != want {
			t.Errorf("mcpHeaderValue(%q) = %q, want %q", in, got, want)
		}
	}
}
