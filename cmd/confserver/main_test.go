package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connect starts the conformance server and a Go SDK client over in-memory
// transports and returns the client session; both sides are torn down when the
// test ends.
func connect(t *testing.T) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)

	serverT, clientT := mcp.NewInMemoryTransports()
	ss, err := newServer().Connect(ctx, serverT, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "confserver-test", Version: "v0"}, nil)
	cs, err := client.Connect(ctx, clientT, nil)
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() {
		if err := cs.Close(); err != nil {
			t.Errorf("client close: %v", err)
		}
		_ = ss.Wait()
	})
	return cs
}

func TestInMemory(t *testing.T) {
	cs := connect(t)
	ctx := context.Background()

	if got := cs.InitializeResult().ServerInfo; got.Name != implementationName || got.Version != version {
		t.Errorf("serverInfo = %s %s, want %s %s", got.Name, got.Version, implementationName, version)
	}

	t.Run("tools/list", func(t *testing.T) {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
			if tool.Description == "" || tool.InputSchema == nil {
				t.Errorf("tool %s: missing description or inputSchema", tool.Name)
			}
		}
		slices.Sort(names)
		want := slices.Sorted(slices.Values(toolNames))
		if !slices.Equal(names, want) {
			t.Errorf("tools = %v, want %v", names, want)
		}
	})

	t.Run("tools/call", func(t *testing.T) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Content) != 1 || res.IsError {
			t.Fatalf("unexpected result %+v", res)
		}
		if tc, ok := res.Content[0].(*mcp.TextContent); !ok || tc.Text != "This is a simple text response for testing." {
			t.Errorf("content = %#v", res.Content[0])
		}
	})

	t.Run("resources/read", func(t *testing.T) {
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: staticTextURI})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Contents) != 1 {
			t.Fatalf("got %d contents, want 1", len(res.Contents))
		}
		c := res.Contents[0]
		if c.URI != staticTextURI || c.MIMEType != "text/plain" || c.Text != staticText {
			t.Errorf("contents = %+v", c)
		}
	})

	t.Run("prompts/get", func(t *testing.T) {
		res, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{
			Name:      "test_prompt_with_arguments",
			Arguments: map[string]string{"arg1": "hello", "arg2": "world"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) != 1 {
			t.Fatalf("got %d messages, want 1", len(res.Messages))
		}
		want := "Prompt with arguments: arg1='hello', arg2='world'"
		if tc, ok := res.Messages[0].Content.(*mcp.TextContent); !ok || tc.Text != want {
			t.Errorf("content = %#v, want text %q", res.Messages[0].Content, want)
		}
	})

	t.Run("completion/complete", func(t *testing.T) {
		res, err := cs.Complete(ctx, &mcp.CompleteParams{
			Ref:      &mcp.CompleteReference{Type: "ref/prompt", Name: "test_prompt_with_arguments"},
			Argument: mcp.CompleteParamsArgument{Name: "arg1", Value: "par"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"paris", "park", "party"}; !slices.Equal(res.Completion.Values, want) {
			t.Errorf("values = %v, want %v", res.Completion.Values, want)
		}
	})
}

func TestOriginGuard(t *testing.T) {
	h := originGuard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	loopback := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}
	public := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234}
	for _, tc := range []struct {
		local  net.Addr
		origin string
		want   int
	}{
		{loopback, "", http.StatusNoContent},
		{loopback, "http://localhost:1234", http.StatusNoContent},
		{loopback, "http://127.0.0.1:1234", http.StatusNoContent},
		{loopback, "http://[::1]:1234", http.StatusNoContent},
		{loopback, "http://evil.example.com", http.StatusForbidden},
		{loopback, "null", http.StatusForbidden},
		{public, "http://evil.example.com", http.StatusNoContent},
	} {
		req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tc.local))
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("local %v, Origin %q: status %d, want %d", tc.local, tc.origin, rec.Code, tc.want)
		}
	}
}
