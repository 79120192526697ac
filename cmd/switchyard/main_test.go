package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/moby/moby/api/types/container"
	docker "github.com/moby/moby/client"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
	"github.com/switchyard-mcp/switchyard/transports"
)

var (
	testServer string
	gatewayBin string
)

func TestMain(m *testing.M) {
	path, cleanup, err := testbin.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the test server:", err)
		os.Exit(1)
	}
	testServer = path
	dir, err := os.MkdirTemp("", "switchyard-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBin = filepath.Join(dir, "switchyard")
	build := exec.Command("go", "build", "-o", gatewayBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building switchyard:", err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "switchyard.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestValidateCommand(t *testing.T) {
	good := writeConfig(t, fmt.Sprintf("providers:\n  p:\n    mode: subprocess\n    command: [%q]\n", testServer))
	var out, errOut bytes.Buffer
	if code := run([]string{"config", "validate", good}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "ok (1 providers") {
		t.Fatalf("valid file: exit %d, %q %q", code, out.String(), errOut.String())
	}
	bad := writeConfig(t, "providers:\n  p:\n    mode: subprocess\n    comand: [x]\n")
	out.Reset()
	errOut.Reset()
	if code := run([]string{"config", "validate", bad}, &out, &errOut); code != 1 {
		t.Fatalf("bad file: exit %d", code)
	}
	if msg := errOut.String(); !strings.Contains(msg, "switchyard.yaml:4:") || !strings.Contains(msg, "comand") {
		t.Fatalf("bad file message lacks file:line and field: %q", msg)
	}
	if code := run([]string{"bogus"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}

// served is a gateway binary running `serve` for a test.
type served struct {
	cmd  *exec.Cmd
	addr string
	base string
	logs *bytes.Buffer
	done chan struct{} // closed once the gateway has exited and been reaped
	err  error         // Wait's answer, set before done is closed
}

// startServe runs `switchyard serve` on a free port with the config and
// data dir given, and waits until it is healthy. It is killed when the test
// ends if it is still running.
func startServe(t *testing.T, cfg, dataDir string, env ...string) *served {
	t.Helper()
	return startServeArgs(t, cfg, dataDir, nil, env...)
}

// startServeArgs is startServe with more arguments for `serve`.
func startServeArgs(t *testing.T, cfg, dataDir string, args []string, env ...string) *served {
	t.Helper()
	s := &served{addr: freePort(t), logs: &bytes.Buffer{}, done: make(chan struct{})}
	s.base = "http://" + s.addr
	s.cmd = exec.Command(gatewayBin, append([]string{"serve", "--config", cfg, "--listen", s.addr, "--data-dir", dataDir}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
			t.Logf("gateway killed at cleanup: %v", s.err)
		}
	})
	waitHealthy(t, s)
	return s
}

// terminate sends SIGTERM and waits for a clean exit.
func (s *served) terminate(t *testing.T, within time.Duration) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Fatalf("gateway exit: %v\n%s", s.err, s.logs.String())
		}
	case <-time.After(within):
		t.Fatalf("gateway did not exit after SIGTERM\n%s", s.logs.String())
	}
}

// TestServeSIGTERMLeavesNoChild runs the real binary, starts a provider
// through it, sends SIGTERM and checks the gateway exits 0 with its child
// gone; along the way it drives the CLI client and the websocket log tail.
func TestServeSIGTERMLeavesNoChild(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf("providers:\n  p:\n    mode: subprocess\n    command: [%q]\n", testServer))
	gw := startServe(t, cfg, t.TempDir(), "SWITCHYARD_ADMIN_KEY=k")
	addr, base := gw.addr, gw.base

	// State changes arrive over the websocket as the first call starts the
	// provider (cold -> initializing -> ready).
	stateWS, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/api/ws/state", http.Header{"Authorization": {"Bearer k"}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("state websocket: %v", err)
	}
	defer func() { _ = stateWS.Close() }()

	// The CLI client against the running server.
	var out, errOut bytes.Buffer
	if code := run([]string{"call", "p", "echo", "text=hello", "--server", base, "--token", "k"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `"text": "hello"`) {
		t.Fatalf("cli call: exit %d out %q err %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"providers", "ls", "--server", base, "--token", "k"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "ready") {
		t.Fatalf("cli ls: exit %d out %q err %q", code, out.String(), errOut.String())
	}
	if code := run([]string{"providers", "ls", "--server", base, "--token", "wrong"}, &out, &errOut); code != 1 {
		t.Fatalf("cli with a wrong token: exit %d", code)
	}
	_ = stateWS.SetReadDeadline(time.Now().Add(10 * time.Second))
	var states []string
	for len(states) < 2 {
		var ev struct {
			Type string `json:"type"`
			Data struct {
				To string `json:"to"`
			} `json:"data"`
		}
		if err := stateWS.ReadJSON(&ev); err != nil {
			t.Fatalf("reading states (got %v): %v", states, err)
		}
		if ev.Type != "ProviderStateChanged" {
			t.Fatalf("state stream carried %s", ev.Type)
		}
		states = append(states, ev.Data.To)
	}
	if states[0] != "initializing" || states[1] != "ready" {
		t.Fatalf("states over websocket: %v", states)
	}

	// Logs arrive over the websocket: replay first, then live lines.
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/api/ws/providers/p/logs?token=k", nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer func() { _ = conn.Close() }()
	out.Reset()
	if code := run([]string{"call", "p", "stderr", "n=2", "text=tail", "--server", base, "--token", "k"}, &out, &errOut); code != 0 {
		t.Fatalf("cli stderr: %q", errOut.String())
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for seen := 0; seen < 2; {
		var ev struct {
			Data struct {
				Line string `json:"line"`
			} `json:"data"`
		}
		if err := conn.ReadJSON(&ev); err != nil {
			t.Fatalf("reading logs: %v", err)
		}
		if strings.HasPrefix(ev.Data.Line, "tail ") {
			seen++
		}
	}

	var detail struct {
		Pid int `json:"pid"`
	}
	getJSON(t, base+"/api/providers/p", &detail)
	if detail.Pid == 0 || !testbin.Alive(detail.Pid) {
		t.Fatalf("provider pid %d not running", detail.Pid)
	}
	gw.terminate(t, 30*time.Second)
	if testbin.Alive(detail.Pid) {
		t.Fatalf("provider %d outlived the gateway", detail.Pid)
	}
}

// waitHealthy polls the gateway's /health until it answers 200.
func waitHealthy(t *testing.T, s *served) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.base + "/health")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.done:
			t.Fatalf("gateway exited before it was ready: %v\n%s", s.err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway never became healthy")
		}
		time.Sleep(20 * time.Millisecond) // polling a server that starts in another process
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-API-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestStdioCommand drives `switchyard stdio` with the official SDK client,
// the way an MCP client that launches a command would.
func TestStdioCommand(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf("providers:\n  p:\n    mode: subprocess\n    command: [%q]\n", testServer))
	c := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &sdk.CommandTransport{Command: exec.Command(gatewayBin, "stdio", "--config", cfg)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tl := range res.Tools {
		found = found || tl.Name == "p__echo"
	}
	if !found {
		t.Fatalf("stdio tools lack p__echo")
	}
	r, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "p__add", Arguments: map[string]any{"a": 1, "b": 2}})
	if err != nil || r.IsError || r.Content[0].(*sdk.TextContent).Text != "3" {
		t.Fatalf("p__add: %+v %v", r, err)
	}
	r, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "p__pid", Arguments: map[string]any{}})
	if err != nil || r.IsError {
		t.Fatalf("p__pid: %+v %v", r, err)
	}
	var pid int
	if _, err := fmt.Sscan(r.Content[0].(*sdk.TextContent).Text, &pid); err != nil || !testbin.Alive(pid) {
		t.Fatalf("provider pid %v: %v", r.Content[0], err)
	}
	// Closing stdin ends the gateway, and the gateway ends its children.
	if err := cs.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if testbin.Alive(pid) {
		t.Fatalf("provider %d outlived switchyard stdio", pid)
	}
}

func TestParseArgs(t *testing.T) {
	got, err := parseArgs([]string{"a=1", "b=true", "c=hello", `d={"x":1}`, "e="})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": float64(1), "b": true, "c": "hello", "d": map[string]any{"x": float64(1)}, "e": ""}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("parseArgs = %s, want %s", gb, wb)
	}
	if _, err := parseArgs([]string{"novalue"}); err == nil {
		t.Fatal("a word without = must be refused")
	}
}

func TestDataDirIsExclusive(t *testing.T) {
	dir := t.TempDir()
	first, err := openDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openDataDir(dir); err == nil || !strings.Contains(err.Error(), "in use by another switchyard") {
		t.Fatalf("second open: %v", err)
	}
	owner := first.owner
	first.close()
	again, err := openDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if again.owner != owner || owner == "" {
		t.Fatalf("owner id not kept: %q then %q", owner, again.owner)
	}
}

// TestServeDockerLeavesNoContainer runs the real binary with a docker
// provider: a container an earlier (crashed) run of the same data dir left
// is removed at start, and SIGTERM leaves no container behind.
func TestServeDockerLeavesNoContainer(t *testing.T) {
	cli := testbin.Docker(t)
	image := testbin.DockerImage(t)
	dataDir := t.TempDir()
	owner := "test-owner-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := os.WriteFile(filepath.Join(dataDir, "owner-id"), []byte(owner+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stale, err := cli.ContainerCreate(ctx, docker.ContainerCreateOptions{
		Config: &container.Config{Image: image, Labels: map[string]string{
			transports.LabelManaged: "true", transports.LabelInstance: "crashed", actors.OwnerLabel: owner,
		}},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cli.ContainerRemove(context.Background(), stale.ID, docker.ContainerRemoveOptions{Force: true})
	})
	owned := func() []string {
		list, err := cli.ContainerList(ctx, docker.ContainerListOptions{All: true,
			Filters: make(docker.Filters).Add("label", actors.OwnerLabel+"="+owner)})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range list.Items {
			ids = append(ids, c.ID)
		}
		return ids
	}

	cfg := writeConfig(t, fmt.Sprintf("providers:\n  box:\n    mode: docker\n    image: %q\n", image))
	gw := startServe(t, cfg, dataDir)
	base, logs := gw.base, gw.logs
	if ids := owned(); len(ids) != 0 {
		t.Fatalf("the leftover container survived the start: %v\n%s", ids, logs.String())
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"call", "box", "echo", "text=boxed", "--server", base}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "boxed") {
		t.Fatalf("call through docker: exit %d %q %q\n%s", code, out.String(), errOut.String(), logs.String())
	}
	if ids := owned(); len(ids) != 1 {
		t.Fatalf("running provider: owned containers %v", ids)
	}
	gw.terminate(t, 60*time.Second)
	if ids := owned(); len(ids) != 0 {
		t.Fatalf("containers outlived the gateway: %v", ids)
	}
}

// TestClientCommandsQuiet runs the real binary's client commands against a
// served gateway: they print their answer and nothing on stderr (no
// start-up line of the server's metrics library), and providers ls lists
// every provider, however many pages the server answers them in.
func TestClientCommandsQuiet(t *testing.T) {
	var cfg strings.Builder
	cfg.WriteString("providers:\n")
	for i := range 120 {
		fmt.Fprintf(&cfg, "  p%03d:\n    mode: subprocess\n    command: [%q]\n", i, testServer)
	}
	gw := startServe(t, writeConfig(t, cfg.String()), t.TempDir())
	client := func(args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := exec.Command(gatewayBin, append(args, "--server", gw.base)...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\nstdout %s\nstderr %s", args, err, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	out, errOut := client("providers", "ls")
	if errOut != "" {
		t.Fatalf("providers ls wrote to stderr: %q", errOut)
	}
	if n := strings.Count(out, "\n"); n != 121 || !strings.Contains(out, "p119") {
		t.Fatalf("providers ls printed %d lines, want a header and 120 providers:\n%s", n, out)
	}
	out, errOut = client("call", "p000", "echo", "text=quiet")
	if errOut != "" || !strings.Contains(out, `"text": "quiet"`) {
		t.Fatalf("call: stdout %q stderr %q", out, errOut)
	}
	gw.terminate(t, 30*time.Second)
}
