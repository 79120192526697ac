package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/switchyard-mcp/switchyard/config"
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
		cfg, err := config.Parse("generated.yaml", []byte(gatewayConfig("/opt/it's here/testserver", withGroup)))
		if err != nil {
			t.Fatalf("withGroup=%v: %v", withGroup, err)
		}
		if len(cfg.Providers) != 4 {
			t.Errorf("providers = %d, want 4", len(cfg.Providers))
		}
		if got := cfg.Providers["m2"].Command; len(got) != 3 || got[0] != "/opt/it's here/testserver" || got[2] != "m2" {
			t.Errorf("m2 command = %q", got)
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
