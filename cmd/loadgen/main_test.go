package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

func TestSSEData(t *testing.T) {
	body := "event: message\r\nid: 1\r\ndata: {\"a\":1}\r\n\r\n: comment\ndata: {\"b\":\ndata:2}\n\ndata: last"
	got := sseData([]byte(body))
	want := []string{`{"a":1}`, "{\"b\":\n2}", "last"}
	if len(got) != len(want) {
		t.Fatalf("got %d events %q, want %q", len(got), got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("event %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestRPCResult(t *testing.T) {
	ok := `{"content":[{"type":"text","text":"hello"}]}`
	tests := []struct {
		name, ct, body, err string
	}{
		{"json", "application/json", `{"jsonrpc":"2.0","id":7,"result":` + ok + `}`, ""},
		{"sse after a notification", "text/event-stream",
			"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n" +
				"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":" + ok + "}\n\n", ""},
		{"other id", "application/json", `{"jsonrpc":"2.0","id":8,"result":` + ok + `}`, "no answer to request 7"},
		{"rpc error", "application/json", `{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"unknown tool"}}`, "JSON-RPC error -32602: unknown tool"},
		{"tool error", "application/json", `{"jsonrpc":"2.0","id":7,"result":{"isError":true,"content":[{"type":"text","text":"hello"}]}}`, "tool error"},
		{"wrong text", "application/json", `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"bye"}]}}`, "does not contain"},
		{"garbage", "application/json", `not json`, "decode answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := rpcResult([]byte(tt.ct), []byte(tt.body), []byte("7"))
			if err == nil {
				err = checkToolResult(raw)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0.001, 1}} {
		if got := percentile(s, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

func TestGatewayConfigIsValid(t *testing.T) {
	for _, withGroup := range []bool{false, true} {
		for _, fast := range []string{"", "http://127.0.0.1:4567/mcp"} {
			cfg, err := config.Parse("generated.yaml", []byte(gatewayConfig("/opt/it's here/testserver", withGroup, fast)))
			if err != nil {
				t.Fatalf("withGroup=%v fast=%q: %v", withGroup, fast, err)
			}
			want := 4
			if fast != "" {
				want = 5
			}
			if len(cfg.Providers) != want {
				t.Errorf("providers = %d, want %d", len(cfg.Providers), want)
			}
			if got := cfg.Providers["m2"].Command; len(got) != 3 || got[0] != "/opt/it's here/testserver" || got[2] != "m2" {
				t.Errorf("m2 command = %q", got)
			}
			if fp := cfg.Providers[fastID]; fast != "" && (fp == nil || fp.Mode != config.ModeRemote || fp.Endpoint != fast || fp.IdleTTL() != 0) {
				t.Errorf("provider %s = %+v", fastID, fp)
			}
			g := cfg.Groups[groupID]
			if withGroup && (g == nil || g.Strategy != config.StrategyRoundRobin || len(g.Members) != 3) {
				t.Errorf("group = %+v", g)
			}
			if !withGroup && g != nil {
				t.Errorf("unexpected group %+v", g)
			}
		}
	}
}

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range [][]string{
		{"-bin", dir},
		{"-c", "1,x"},
		{"-c", "0"},
		{"-modes", "a,e"},
		{"-d", "0s"},
		{"-direct-protocol", "2024-11-05"},
		{"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}

	// Modes run, and are reported, in the order of allModes.
	for _, name := range []string{"testserver", "switchyard"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o, err := parseFlags([]string{"-bin", dir, "-modes", "s, f,a,r,s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.modes, ","); got != "a,f,r,s" {
		t.Errorf("modes = %s, want a,f,r,s", got)
	}
	o, err = parseFlags([]string{"-bin", dir}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.modes, ","); got != "a,f,b,r,c,i,s,d" {
		t.Errorf("default modes = %s, want a,f,b,r,c,i,s,d", got)
	}
}

func TestAddRatios(t *testing.T) {
	cell := func(mode string, conc int, perSec, p50 float64) cellResult {
		return cellResult{Mode: mode, ModeName: modeByKey(mode).name, Concurrency: conc, CallsPerSec: perSec, P50Ms: p50}
	}
	cells := []cellResult{
		cell("a", 1, 1000, 1), cell("f", 1, 4000, 0.25),
		cell("b", 1, 500, 2), cell("r", 1, 1000, 1), cell("i", 1, 2000, 0.5),
		cell("s", 32, 100, 3), // a did not run at c=32
	}
	addRatios(cells)
	for _, c := range []struct {
		i            int
		base         string
		ratio, added float64 // ratio 0: none
	}{{0, "", 0, 0}, {1, "", 0, 0}, {2, "a", 0.5, 1}, {3, "f", 0.25, 0.75}, {4, "f", 0.5, 0.25}, {5, "a", 0, 0}} {
		got := cells[c.i]
		if got.Baseline != c.base {
			t.Errorf("%s: baseline %q, want %q", got.Mode, got.Baseline, c.base)
		}
		switch {
		case c.ratio == 0 && got.RatioToDirect != nil:
			t.Errorf("%s c=%d: unexpected ratio %v", got.Mode, got.Concurrency, *got.RatioToDirect)
		case c.ratio != 0 && (got.RatioToDirect == nil || *got.RatioToDirect != c.ratio || *got.P50AddedMs != c.added):
			t.Errorf("%s: ratio %v, p50 added %v; want %v, %v", got.Mode, got.RatioToDirect, got.P50AddedMs, c.ratio, c.added)
		}
	}

	var out strings.Builder
	printTable(&out, &report{Cells: cells})
	lines := strings.Split(out.String(), "\n")
	if f := strings.Fields(lines[0]); !slices.Contains(f, "vs") {
		t.Errorf("table header without a vs column: %q", lines[0])
	}
	if f := strings.Fields(lines[4]); len(f) < 10 || f[0] != "r" || f[7] != "f" || f[8] != "0.25x" {
		t.Errorf("row of mode r = %q, want it compared with f", lines[4])
	}
	if got, want := baselineNote([]string{"a", "f", "b", "r", "i", "s"}), "b,s vs a (direct); r,i vs f (fast-direct)"; got != want {
		t.Errorf("baselineNote = %q, want %q", got, want)
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"/tmp/go-build123/b001/exe/loadgen", "-c", "1,32", "-json", "a b.json"})
	want := "go run ./cmd/loadgen -c 1,32 -json 'a b.json'"
	if got != want {
		t.Errorf("commandLine = %q, want %q", got, want)
	}
}

// TestMCPCaller runs the MCP caller against the SDK's handler: stateful,
// answering with SSE (as the test server does) and with JSON (as the
// gateway does), and stateless for the 2026-07-28 revision.
func TestMCPCaller(t *testing.T) {
	for _, c := range []struct{ jsonResponse, stateless bool }{{false, false}, {true, false}, {false, true}} {
		jsonResponse := c.jsonResponse
		srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
			Text string `json:"text"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
			&mcp.StreamableHTTPOptions{JSONResponse: jsonResponse, Stateless: c.stateless})
		ts := httptest.NewServer(h)
		tg := target{kind: kindMCP, addr: strings.TrimPrefix(ts.URL, "http://"), path: "/mcp", tool: "echo", stateless: c.stateless}

		if err := probe(tg); err != nil {
			t.Errorf("jsonResponse=%v: probe: %v", jsonResponse, err)
		}
		var stop atomic.Bool
		res, err := runCell(&stop, tg, 4, 20*time.Millisecond, 100*time.Millisecond)
		if err != nil {
			t.Errorf("jsonResponse=%v: runCell: %v", jsonResponse, err)
		}
		if res.Calls == 0 || res.Errors != 0 || res.WarmupErrors != 0 || res.CloseErrors != 0 {
			t.Errorf("jsonResponse=%v: %+v", jsonResponse, res)
		}

		bad := tg
		bad.tool = "nope"
		if err := probe(bad); err == nil {
			t.Errorf("jsonResponse=%v: calling an unknown tool succeeded", jsonResponse)
		}
		ts.Close()
	}
}

// binDir returns a directory holding testserver and switchyard, as -bin
// wants it: the test server found or built by testbin (SWITCHYARD_TESTSERVER
// names a prebuilt one), linked in, and a gateway built from this module.
func binDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the gateway and the test server")
	}
	ts, cleanup, err := testbin.Build()
	t.Cleanup(cleanup)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(ts, filepath.Join(dir, "testserver")); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "switchyard"), "github.com/switchyard-mcp/switchyard/cmd/switchyard")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/switchyard: %v\n%s", err, out)
	}
	return dir
}

// TestRunFastAndGatewayModes runs modes f, r, i and s for a moment with
// the real binaries: every call must succeed (loadgen checks each answer),
// and the gateway modes must be compared with the right direct mode.
func TestRunFastAndGatewayModes(t *testing.T) {
	bin := binDir(t)
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-bin", bin, "-c", "1,2", "-d", "200ms", "-warmup", "50ms", "-modes", "f,r,i,s", "-json", jsonPath}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("run = %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("decode report: %v\n%s", err, b)
	}
	if len(rep.Failures) > 0 {
		t.Fatalf("failures: %+v", rep.Failures)
	}
	want := []struct{ mode, baseline, target string }{
		{"f", "", "MCP tools/call echo at http://"},
		{"r", "f", "/api/providers/fast/tools/echo/call"},
		{"i", "f", "MCP tools/call echo at http://"},
		{"s", "a", "MCP tools/call p__echo at http://"},
	}
	if len(rep.Cells) != 2*len(want) {
		t.Fatalf("%d cells, want %d:\n%s", len(rep.Cells), 2*len(want), &stdout)
	}
	for i, c := range rep.Cells {
		w := want[i/2]
		if c.Mode != w.mode || c.Baseline != w.baseline || !strings.Contains(c.Target, w.target) {
			t.Errorf("cell %d: mode %s, baseline %q, target %s; want %s, %q, %s", i, c.Mode, c.Baseline, c.Target, w.mode, w.baseline, w.target)
		}
		if c.Calls == 0 || c.Errors != 0 || c.WarmupErrors != 0 || c.CloseErrors != 0 {
			t.Errorf("mode %s c=%d: %d calls, %d errors, %d warm-up errors, %d close errors; first: %s %s",
				c.Mode, c.Concurrency, c.Calls, c.Errors, c.WarmupErrors, c.CloseErrors, c.FirstError, c.FirstCloseError)
		}
		// r and i have their baseline f; s's baseline a did not run.
		if hasRatio := c.RatioToDirect != nil; hasRatio != (c.Baseline == "f") {
			t.Errorf("mode %s c=%d: ratio %v", c.Mode, c.Concurrency, c.RatioToDirect)
		}
	}
	if !strings.Contains(rep.Cells[4].Target, "/mcp/"+fastID+" ") {
		t.Errorf("mode i target %s, want /mcp/%s", rep.Cells[4].Target, fastID)
	}
	if !strings.Contains(rep.Cells[6].Target, "stateless") || strings.Contains(rep.Cells[0].Target, "stateless") {
		t.Errorf("targets of modes f and s: %s, %s", rep.Cells[0].Target, rep.Cells[6].Target)
	}
	if !strings.Contains(stdout.String(), "r,i vs f (fast-direct)") {
		t.Errorf("header does not name the baselines:\n%s", &stdout)
	}
}
