package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// allTools lists every tool the server registers at start.
var allTools = []string{
	"echo", "add", "sleep", "fail", "crash", "stderr", "big", "hang", "noise",
	"flood", "env", "pid", "ask", "add_tool", "remove_tool", "net_probe", "fs_probe",
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
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

// fixture is one in-memory client session to a test server.
type fixture struct {
	cs      *mcp.ClientSession
	out     *syncBuffer
	errOut  *syncBuffer
	changed chan struct{}
}

// connect starts a server on in-memory transports and returns a connected
// client session that is closed when the test ends.
func connect(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{out: &syncBuffer{}, errOut: &syncBuffer{}, changed: make(chan struct{}, 16)}
	srv := buildServer("testserver", f.out, f.errOut)
	ct, st := mcp.NewInMemoryTransports()

	ctx := t.Context()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "0"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case f.changed <- struct{}{}:
			default:
			}
		},
	})
	cs, err := client.Connect(ctx, ct, nil)
	if err != nil {
		_ = ss.Close()
		t.Fatalf("client connect: %v", err)
	}
	f.cs = cs
	t.Cleanup(func() {
		_ = cs.Close()
		_ = ss.Wait()
	})
	return f
}

// call calls tool name with args and fails the test on a protocol error.
func (f *fixture) call(t *testing.T, name string, args any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := f.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

// toolNames lists the tools the server currently offers.
func (f *fixture) toolNames(t *testing.T) []string {
	t.Helper()
	res, err := f.cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatalf("list tools: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// waitChanged waits for a tools/list_changed notification.
func (f *fixture) waitChanged(t *testing.T) {
	t.Helper()
	select {
	case <-f.changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no tools/list_changed notification within 5s")
	}
}

// textOf returns the text of a result's single text content.
func textOf(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("got %d contents, want 1", len(res.Content))
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content is %T, want *mcp.TextContent", res.Content[0])
	}
	return tc.Text
}

// wantText checks that res is a success holding exactly want.
func wantText(t *testing.T, res *mcp.CallToolResult, want string) {
	t.Helper()
	if res.IsError {
		t.Fatalf("unexpected tool error: %q", textOf(t, res))
	}
	if got := textOf(t, res); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestListTools(t *testing.T) {
	f := connect(t)
	names := f.toolNames(t)
	for _, want := range allTools {
		if !slices.Contains(names, want) {
			t.Errorf("tool %q missing from %v", want, names)
		}
	}
	res, err := f.cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		if tool.Description == "" {
			t.Errorf("tool %q has no description", tool.Name)
		}
	}
	if caps := f.cs.InitializeResult().Capabilities; caps.Tools == nil || !caps.Tools.ListChanged {
		t.Errorf("tools capability without listChanged: %+v", caps.Tools)
	}
}

func TestEcho(t *testing.T) {
	f := connect(t)
	wantText(t, f.call(t, "echo", map[string]any{"text": "hello, switchyard"}), "hello, switchyard")
}

func TestAdd(t *testing.T) {
	f := connect(t)
	wantText(t, f.call(t, "add", map[string]any{"a": 2, "b": 3.5}), "5.5")
	wantText(t, f.call(t, "add", map[string]any{"a": 1e20, "b": 1}), "100000000000000000000")
}

func TestFail(t *testing.T) {
	f := connect(t)
	res := f.call(t, "fail", map[string]any{"message": "boom"})
	if !res.IsError {
		t.Fatal("fail did not return a tool error")
	}
	if got := textOf(t, res); got != "boom" {
		t.Fatalf("got %q, want %q", got, "boom")
	}
}

func TestBig(t *testing.T) {
	f := connect(t)
	const n = 1 << 20
	got := textOf(t, f.call(t, "big", map[string]any{"bytes": n}))
	if len(got) != n || strings.Trim(got, "x") != "" {
		t.Fatalf("got %d bytes, want %d 'x'", len(got), n)
	}
	wantText(t, f.call(t, "big", map[string]any{"bytes": 0}), "")
}

func TestSleep(t *testing.T) {
	f := connect(t)
	wantText(t, f.call(t, "sleep", map[string]any{"ms": 1}), "slept")
}

func TestHangCancelled(t *testing.T) {
	f := connect(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := f.cs.CallTool(ctx, &mcp.CallToolParams{Name: "hang", Arguments: map[string]any{}})
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled hang call did not return")
	}
}

func TestStderr(t *testing.T) {
	f := connect(t)
	wantText(t, f.call(t, "stderr", map[string]any{"n": 3}), "wrote 3")
	wantText(t, f.call(t, "stderr", map[string]any{"n": 1, "text": "hi"}), "wrote 1")
	if got, want := f.errOut.String(), "log line 1\nlog line 2\nlog line 3\nhi 1\n"; got != want {
		t.Fatalf("stderr got %q, want %q", got, want)
	}
}

func TestNoiseAndFlood(t *testing.T) {
	f := connect(t)
	wantText(t, f.call(t, "noise", map[string]any{"lines": 2}), "noised")
	wantText(t, f.call(t, "flood", map[string]any{"bytes": 5}), "flooded")
	if got, want := f.out.String(), "garbage line 1\ngarbage line 2\nzzzzz\n"; got != want {
		t.Fatalf("stdout got %q, want %q", got, want)
	}
}

func TestEnvAndPid(t *testing.T) {
	t.Setenv("SY_TESTSERVER_PROBE_VALUE", "seen")
	f := connect(t)
	wantText(t, f.call(t, "env", map[string]any{"name": "SY_TESTSERVER_PROBE_VALUE"}), "seen")
	wantText(t, f.call(t, "pid", map[string]any{}), strconv.Itoa(os.Getpid()))
}

func TestAddAndRemoveTool(t *testing.T) {
	f := connect(t)
	wantText(t, f.call(t, "add_tool", map[string]any{"name": "dynamic"}), "added")
	f.waitChanged(t)
	if names := f.toolNames(t); !slices.Contains(names, "dynamic") {
		t.Fatalf("dynamic tool missing from %v", names)
	}
	wantText(t, f.call(t, "dynamic", map[string]any{"text": "again"}), "again")

	wantText(t, f.call(t, "remove_tool", map[string]any{"name": "dynamic"}), "removed")
	f.waitChanged(t)
	if names := f.toolNames(t); slices.Contains(names, "dynamic") {
		t.Fatalf("dynamic tool still in %v", names)
	}
}

func TestFSProbe(t *testing.T) {
	dir := t.TempDir()
	if got := fsProbe(filepath.Join(dir, "probe")); got != "fs: writable" {
		t.Fatalf("got %q", got)
	}
	if got := fsProbe(filepath.Join(dir, "missing", "probe")); !strings.HasPrefix(got, "fs: read-only: ") {
		t.Fatalf("got %q", got)
	}
}

func TestNetProbeLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	t.Setenv(probeAddrEnv, ln.Addr().String())
	t.Setenv(probeHostEnv, "localhost")
	if got := netProbe(t.Context()); got != "network: reachable" {
		t.Fatalf("got %q", got)
	}
}

func TestStartMode(t *testing.T) {
	for _, tc := range []struct {
		mode string
		code int
		done bool
	}{
		{"", 0, false},
		{"exit", 3, true},
		{"slowstart=1", 0, false},
		{"slowstart=x", 2, true},
		{"bogus", 2, true},
	} {
		code, done := startMode(t.Context(), tc.mode)
		if code != tc.code || done != tc.done {
			t.Errorf("startMode(%q) = %d, %v; want %d, %v", tc.mode, code, done, tc.code, tc.done)
		}
	}
}

func TestServeHTTP(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		t.Run("stateless="+strconv.FormatBool(stateless), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- serveHTTP(ctx, buildServer("http-test", &syncBuffer{}, &syncBuffer{}), ln, stateless) }()

			tr := &http.Transport{}
			client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "0"}, nil)
			cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{
				Endpoint:   "http://" + ln.Addr().String() + "/mcp",
				HTTPClient: &http.Client{Transport: tr},
			}, nil)
			if err != nil {
				cancel()
				t.Fatalf("connect: %v (serveHTTP: %v)", err, <-done)
			}
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "over http"}})
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			wantText(t, res, "over http")
			if got := cs.InitializeResult().ServerInfo.Name; got != "http-test" {
				t.Errorf("server name %q, want %q", got, "http-test")
			}
			_ = cs.Close()
			tr.CloseIdleConnections()

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serveHTTP: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("serveHTTP did not stop")
			}
		})
	}
}
