package transports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// a2aWait bounds every wait of the A2A tests.
const a2aWait = 10 * time.Second

// a2aSeen is a JSON-RPC request a fake agent received.
type a2aSeen struct {
	Method string
	ID     json.RawMessage
	Params json.RawMessage
	Header http.Header
}

// fakeA2A is an agent speaking JSON-RPC through reply, with optional cards.
type fakeA2A struct {
	card       string // body of /.well-known/agent-card.json; "" answers 404
	legacyCard string // body of /.well-known/agent.json; "" answers 404
	// reply answers request number n (from 0) with a status and a body.
	reply func(ctx context.Context, n int, req a2aSeen) (int, string)

	cardHits atomic.Int32
	mu       sync.Mutex
	seen     []a2aSeen
}

func (f *fakeA2A) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && (r.URL.Path == a2aCardPath || r.URL.Path == a2aLegacyCardPath):
		f.cardHits.Add(1)
		body := f.card
		if r.URL.Path == a2aLegacyCardPath {
			body = f.legacyCard
		}
		if body == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	case r.Method == http.MethodPost:
		var req struct {
			Method string          `json:"method"`
			ID     json.RawMessage `json:"id"`
			Params json.RawMessage `json:"params"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &req)
		seen := a2aSeen{Method: req.Method, ID: req.ID, Params: req.Params, Header: r.Header.Clone()}
		f.mu.Lock()
		n := len(f.seen)
		f.seen = append(f.seen, seen)
		f.mu.Unlock()
		status, body := f.reply(r.Context(), n, seen)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	default:
		http.NotFound(w, r)
	}
}

// requests returns the requests received so far.
func (f *fakeA2A) requests() []a2aSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// startFakeA2A serves f until the test ends and returns its URL.
func startFakeA2A(t *testing.T, f *fakeA2A) string {
	t.Helper()
	return quietServer(t, f, false).URL
}

// newTestA2AClient returns a client closed when the test ends.
func newTestA2AClient(t *testing.T, o A2AOptions) *A2AClient {
	t.Helper()
	if o.PollInterval == 0 {
		o.PollInterval = time.Millisecond
	}
	c := NewA2AClient(o)
	t.Cleanup(c.Close)
	return c
}

// rpcResult is a JSON-RPC response to req holding result.
func rpcResult(req a2aSeen, result string) (int, string) {
	return http.StatusOK, fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":%s}`, req.ID, result)
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// checkSendRequest checks a message/send or SendMessage request carrying m.
func checkSendRequest(t *testing.T, req a2aSeen, m A2AMessage, v1 bool) {
	t.Helper()
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if acc := req.Header.Get("Accept"); acc != "application/json" {
		t.Errorf("Accept %q", acc)
	}
	wantAuth := ""
	if m.Token != "" {
		wantAuth = "Bearer " + m.Token
	}
	if got := req.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization %q, want %q", got, wantAuth)
	}
	var p struct {
		Message struct {
			Kind      *string                      `json:"kind"`
			MessageID string                       `json:"messageId"`
			Role      string                       `json:"role"`
			Parts     []map[string]json.RawMessage `json:"parts"`
			Metadata  map[string]json.RawMessage   `json:"metadata"`
		} `json:"message"`
	}
	if err := json.Unmarshal(req.Params, &p); err != nil {
		t.Fatalf("params %s: %v", req.Params, err)
	}
	msg := p.Message
	if !uuidRE.MatchString(msg.MessageID) {
		t.Errorf("messageId %q is not a UUID", msg.MessageID)
	}
	if len(msg.Parts) != 1 {
		t.Fatalf("%d parts, want 1", len(msg.Parts))
	}
	part := msg.Parts[0]
	if v1 {
		if msg.Kind != nil || msg.Role != "ROLE_USER" || part["kind"] != nil || string(part["mediaType"]) != `"application/json"` {
			t.Errorf("not a 1.0 message: %s", req.Params)
		}
		if got := req.Header.Get(a2aVersionHeader); got != "1.0" {
			t.Errorf("%s header %q, want 1.0", a2aVersionHeader, got)
		}
	} else {
		if msg.Kind == nil || *msg.Kind != "message" || msg.Role != "user" || string(part["kind"]) != `"data"` {
			t.Errorf("not a 0.3 message: %s", req.Params)
		}
		if got := req.Header.Get(a2aVersionHeader); got != "" {
			t.Errorf("%s header %q on a 0.3 request", a2aVersionHeader, got)
		}
	}
	want := m.Data
	if len(want) == 0 {
		want = json.RawMessage("{}")
	}
	if !jsonEqual(t, part["data"], want) {
		t.Errorf("data part %s, want %s", part["data"], want)
	}
	wantMeta := map[string]any{A2AMetaChain: m.Chain}
	if m.Chain == nil {
		wantMeta[A2AMetaChain] = []string{}
	}
	for k, v := range map[string]string{A2AMetaTaskID: m.TaskID, A2AMetaFrom: m.From, A2AMetaTenant: m.Tenant, A2AMetaSession: m.Session} {
		if v != "" {
			wantMeta[k] = v
		}
	}
	gotMeta, _ := json.Marshal(msg.Metadata)
	wantMetaJSON, _ := json.Marshal(wantMeta)
	if !jsonEqual(t, gotMeta, wantMetaJSON) {
		t.Errorf("metadata %s, want %s", gotMeta, wantMetaJSON)
	}
}

// testA2AMessage is the message most tests send.
var testA2AMessage = A2AMessage{
	TaskID:  "task-1",
	From:    "agent-a",
	Chain:   []string{"agent-a"},
	Tenant:  "tenant-1",
	Session: "session-1",
	Data:    json.RawMessage(`{"task":"echo","n":1}`),
	Token:   "secret-token",
}

const (
	card03 = `{"name":"a","protocolVersion":"0.3.0","url":"http://example.invalid/","capabilities":{}}`
	card10 = `{"name":"a","supportedInterfaces":[{"url":"http://example.invalid/","protocolBinding":"JSONRPC","protocolVersion":"1.0"}]}`
)

func TestA2AClientSend(t *testing.T) {
	tests := []struct {
		name        string
		card        string
		legacyCard  string
		opts        A2AOptions
		msg         A2AMessage
		reply       func(ctx context.Context, n int, req a2aSeen) (int, string)
		wantState   string
		wantResult  string
		wantErr     error
		wantErrText string
		wantMethods []string
		v1          bool
	}{
		{
			name: "message reply",
			card: card03,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"data","data":{"answer":42}}]}`)
			},
			wantState:   "completed",
			wantResult:  `{"answer":42}`,
			wantMethods: []string{"message/send"},
		},
		{
			name: "no card means 0.3 and a text reply",
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"hello"},{"kind":"text","text":"world"}]}`)
			},
			wantState:   "completed",
			wantResult:  `{"text":"hello\nworld"}`,
			wantMethods: []string{"message/send"},
		},
		{
			name: "task completed with artifacts",
			card: card03,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"kind":"task","id":"t1","contextId":"c","status":{"state":"completed"},
					"artifacts":[{"artifactId":"a1","parts":[{"kind":"data","data":{"rows":[1,2]}}]}]}`)
			},
			wantState:   "completed",
			wantResult:  `{"rows":[1,2]}`,
			wantMethods: []string{"message/send"},
		},
		{
			name: "async task polled to completion",
			card: card03,
			reply: func(_ context.Context, n int, req a2aSeen) (int, string) {
				switch {
				case n == 0:
					return rpcResult(req, `{"kind":"task","id":"t9","status":{"state":"submitted"}}`)
				case string(req.Params) != `{"id":"t9"}`:
					return rpcResult(req, `"bad tasks/get params"`)
				case n < 3:
					return rpcResult(req, `{"kind":"task","id":"t9","status":{"state":"working"}}`)
				}
				return rpcResult(req, `{"kind":"task","id":"t9","status":{"state":"completed"},
					"artifacts":[{"artifactId":"a","parts":[{"kind":"text","text":"done"}]}]}`)
			},
			wantState:   "completed",
			wantResult:  `{"text":"done"}`,
			wantMethods: []string{"message/send", "tasks/get", "tasks/get", "tasks/get"},
		},
		{
			name: "failed task is a result, not an error",
			card: card03,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"kind":"task","id":"t2","status":{"state":"failed",
					"message":{"kind":"message","messageId":"s","role":"agent","parts":[{"kind":"text","text":"boom"}]}}}`)
			},
			wantState:   "failed",
			wantResult:  `{"text":"boom"}`,
			wantMethods: []string{"message/send"},
		},
		{
			name: "input-required ends the wait",
			card: card03,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"kind":"task","id":"t3","status":{"state":"input-required"}}`)
			},
			wantState:   "input-required",
			wantResult:  `{"kind":"task","id":"t3","status":{"state":"input-required"}}`,
			wantMethods: []string{"message/send"},
		},
		{
			name: "mixed parts give the raw object",
			card: card03,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"a"},{"kind":"data","data":{}}]}`)
			},
			wantState:   "completed",
			wantResult:  `{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"a"},{"kind":"data","data":{}}]}`,
			wantMethods: []string{"message/send"},
		},
		{
			name: "JSON-RPC error",
			card: card03,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return http.StatusOK, fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"agent failure requested"}}`, req.ID)
			},
			wantErr:     ErrA2ARemote,
			wantErrText: "-32000: agent failure requested",
			wantMethods: []string{"message/send"},
		},
		{
			name: "JSON-RPC error with a null id",
			card: card03,
			reply: func(context.Context, int, a2aSeen) (int, string) {
				return http.StatusOK, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`
			},
			wantErr:     ErrA2ARemote,
			wantErrText: "-32700: parse error",
			wantMethods: []string{"message/send"},
		},
		{
			name: "HTTP 500",
			card: card03,
			reply: func(context.Context, int, a2aSeen) (int, string) {
				return http.StatusInternalServerError, "the agent fell over\n" + strings.Repeat("x", 4096)
			},
			wantErr:     ErrA2AStatus,
			wantErrText: "HTTP 500: the agent fell over",
			wantMethods: []string{"message/send"},
		},
		{
			name: "garbage body",
			card: card03,
			reply: func(context.Context, int, a2aSeen) (int, string) {
				return http.StatusOK, "this is not JSON"
			},
			wantErr:     ErrA2AProtocol,
			wantErrText: "not a JSON-RPC response",
			wantMethods: []string{"message/send"},
		},
		{
			name: "not JSON-RPC 2.0",
			card: card03,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return http.StatusOK, fmt.Sprintf(`{"id":%s,"result":{}}`, req.ID)
			},
			wantErr:     ErrA2AProtocol,
			wantErrText: `jsonrpc is ""`,
			wantMethods: []string{"message/send"},
		},
		{
			name: "result neither message nor task",
			card: card03,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"kind":"status-update"}`)
			},
			wantErr:     ErrA2AProtocol,
			wantErrText: "neither a message nor a task",
			wantMethods: []string{"message/send"},
		},
		{
			name: "oversized body",
			card: card03,
			opts: A2AOptions{MaxResponse: 1024},
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, fmt.Sprintf(`{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":%q}]}`, strings.Repeat("y", 2048)))
			},
			wantErr:     ErrA2AProtocol,
			wantErrText: "larger than 1024 bytes",
			wantMethods: []string{"message/send"},
		},
		{
			name: "id mismatch",
			card: card03,
			reply: func(context.Context, int, a2aSeen) (int, string) {
				return http.StatusOK, `{"jsonrpc":"2.0","id":999999,"result":{"kind":"message","parts":[]}}`
			},
			wantErr:     ErrA2AProtocol,
			wantErrText: "response id 999999",
			wantMethods: []string{"message/send"},
		},
		{
			name: "1.0 card: SendMessage",
			card: card10,
			v1:   true,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"task":{"id":"t1","contextId":"c","status":{"state":"TASK_STATE_COMPLETED"},
					"artifacts":[{"artifactId":"a","parts":[{"data":{"v":1},"mediaType":"application/json"}]}]}}`)
			},
			wantState:   "completed",
			wantResult:  `{"v":1}`,
			wantMethods: []string{"SendMessage"},
		},
		{
			name: "1.0 card: async task polled with GetTask",
			card: strings.Replace(card10, `"1.0"`, `"1.2"`, 1),
			v1:   true,
			reply: func(_ context.Context, n int, req a2aSeen) (int, string) {
				if n == 0 {
					return rpcResult(req, `{"task":{"id":"t5","status":{"state":"TASK_STATE_WORKING"}}}`)
				}
				return rpcResult(req, `{"id":"t5","status":{"state":"TASK_STATE_REJECTED",
					"message":{"messageId":"s","role":"ROLE_AGENT","parts":[{"text":"no"}]}}}`)
			},
			wantState:   "rejected",
			wantResult:  `{"text":"no"}`,
			wantMethods: []string{"SendMessage", "GetTask"},
		},
		{
			name:       "1.0 message reply, legacy card path",
			legacyCard: `{"name":"a","protocolVersion":"1.0"}`,
			v1:         true,
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"data":[1,2,3]}]}}`)
			},
			wantState:   "completed",
			wantResult:  `[1,2,3]`,
			wantMethods: []string{"SendMessage"},
		},
		{
			name: "empty data, no token, no chain",
			card: card03,
			msg:  A2AMessage{TaskID: "t", From: "a", Tenant: "x"},
			reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
				return rpcResult(req, `{"kind":"message","messageId":"m","role":"agent","parts":[]}`)
			},
			wantState:   "completed",
			wantResult:  `{"kind":"message","messageId":"m","role":"agent","parts":[]}`,
			wantMethods: []string{"message/send"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeA2A{card: tt.card, legacyCard: tt.legacyCard, reply: tt.reply}
			u := startFakeA2A(t, f)
			c := newTestA2AClient(t, tt.opts)
			msg := tt.msg
			if msg.TaskID == "" {
				msg = testA2AMessage
			}
			ctx, cancel := context.WithTimeout(t.Context(), a2aWait)
			defer cancel()
			res, err := c.Send(ctx, u, msg)

			reqs := f.requests()
			var methods []string
			for _, r := range reqs {
				methods = append(methods, r.Method)
			}
			if !slices.Equal(methods, tt.wantMethods) {
				t.Errorf("methods %v, want %v", methods, tt.wantMethods)
			}
			if len(reqs) > 0 {
				checkSendRequest(t, reqs[0], msg, tt.v1)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("Send = %v, %v; want %v containing %q", res, err, tt.wantErr, tt.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res.State != tt.wantState {
				t.Errorf("State %q, want %q", res.State, tt.wantState)
			}
			if !jsonEqual(t, res.Result, []byte(tt.wantResult)) {
				t.Errorf("Result %s, want %s", res.Result, tt.wantResult)
			}
			if !json.Valid(res.Raw) {
				t.Errorf("Raw is not JSON: %s", res.Raw)
			}
		})
	}
}

func TestA2AClientErrorDetails(t *testing.T) {
	f := &fakeA2A{reply: func(_ context.Context, n int, req a2aSeen) (int, string) {
		if n == 0 {
			return http.StatusForbidden, "tenant \x00not allowed"
		}
		return http.StatusOK, fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32001,"message":"task not found","data":{"id":"x"}}}`, req.ID)
	}}
	u := startFakeA2A(t, f)
	c := newTestA2AClient(t, A2AOptions{})

	_, err := c.Send(t.Context(), u, testA2AMessage)
	var se *A2AStatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden || se.Body != "tenant ?not allowed" {
		t.Fatalf("Send = %v; want an A2AStatusError 403 with a sanitised body", err)
	}
	_, err = c.Send(t.Context(), u, testA2AMessage)
	var re *RPCError
	if !errors.Is(err, ErrA2ARemote) || !errors.As(err, &re) || re.Code != -32001 || string(re.Data) != `{"id":"x"}` {
		t.Fatalf("Send = %v; want ErrA2ARemote with RPCError -32001", err)
	}
}

func TestA2AClientBadInput(t *testing.T) {
	c := newTestA2AClient(t, A2AOptions{})
	tests := []struct {
		name, url string
		data      string
		want      string
	}{
		{"not a URL", "::nope", `{}`, "not an http(s) URL"},
		{"wrong scheme", "ftp://example.invalid/", `{}`, "not an http(s) URL"},
		{"no host", "http:///x", `{}`, "not an http(s) URL"},
		{"data not JSON", "http://127.0.0.1:1/", `{"a":`, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Send(t.Context(), tt.url, A2AMessage{Data: json.RawMessage(tt.data)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Send = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestA2AClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := newTestA2AClient(t, A2AOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), a2aWait)
	defer cancel()
	res, err := c.Send(ctx, "http://"+addr+"/", testA2AMessage)
	if !errors.Is(err, ErrA2AUnreachable) || res != nil {
		t.Fatalf("Send to a closed port = %v, %v; want ErrA2AUnreachable", res, err)
	}
}

func TestA2AClientHangingAgent(t *testing.T) {
	tests := []struct {
		name     string
		hangCard bool
	}{
		{"hanging send", false},
		{"hanging card", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hang := func(ctx context.Context, _ int, _ a2aSeen) (int, string) {
				<-ctx.Done()
				return http.StatusServiceUnavailable, ""
			}
			f := &fakeA2A{reply: hang}
			var h http.Handler = f
			if tt.hangCard {
				h = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
			}
			ts := httptest.NewServer(h)
			t.Cleanup(ts.Close)
			c := newTestA2AClient(t, A2AOptions{})

			const budget = 200 * time.Millisecond
			ctx, cancel := context.WithTimeout(t.Context(), budget)
			defer cancel()
			start := time.Now()
			_, err := c.Send(ctx, ts.URL, testA2AMessage)
			if !errors.Is(err, ErrA2AUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send = %v; want ErrA2AUnreachable and context.DeadlineExceeded", err)
			}
			if took := time.Since(start); took > budget+2*time.Second {
				t.Fatalf("Send returned after %s with a %s deadline", took, budget)
			}
		})
	}
}

func TestA2AClientPollUntilDeadline(t *testing.T) {
	f := &fakeA2A{card: card03, reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
		return rpcResult(req, `{"kind":"task","id":"slow","status":{"state":"working"}}`)
	}}
	u := startFakeA2A(t, f)
	c := newTestA2AClient(t, A2AOptions{PollInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	res, err := c.Send(ctx, u, testA2AMessage)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v; want context.DeadlineExceeded", err)
	}
	if res == nil || res.State != "working" {
		t.Fatalf("result %+v; want the last state seen, working", res)
	}
	if n := len(f.requests()); n < 2 {
		t.Fatalf("%d requests; want the task polled", n)
	}
}

func TestA2AClientCardCached(t *testing.T) {
	f := &fakeA2A{card: card10, reply: func(_ context.Context, _ int, req a2aSeen) (int, string) {
		return rpcResult(req, `{"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"data":{}}]}}`)
	}}
	u := startFakeA2A(t, f)
	c := newTestA2AClient(t, A2AOptions{})

	const senders, each = 8, 4
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for range senders {
		wg.Go(func() {
			for range each {
				if _, err := c.Send(t.Context(), u+"/", testA2AMessage); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.cardHits.Load(); got != 1 {
		t.Errorf("card fetched %d times, want once", got)
	}
	for _, r := range f.requests() {
		if r.Method != a2aMethodSendV1 {
			t.Fatalf("method %q, want %q", r.Method, a2aMethodSendV1)
		}
	}
}

func TestA2ACardMajor(t *testing.T) {
	const target = "http://agent.example/a2a"
	tests := []struct {
		name, card string
		want       int
	}{
		{"not JSON", `nope`, 0},
		{"empty", `{}`, 0},
		{"0.3", `{"protocolVersion":"0.3.0"}`, 0},
		{"1.0 top level", `{"protocolVersion":"1.0"}`, 1},
		{"2.1 top level", `{"protocolVersion":"2.1"}`, 2},
		{"v-prefixed", `{"protocolVersion":"v1"}`, 1},
		{"garbage version", `{"protocolVersion":"x.y"}`, 0},
		{"first JSON-RPC interface", `{"supportedInterfaces":[
			{"url":"grpc://x","protocolBinding":"GRPC","protocolVersion":"0.3"},
			{"url":"http://other/","protocolBinding":"JSONRPC","protocolVersion":"1.0"}]}`, 1},
		{"interface at the target URL wins", `{"protocolVersion":"1.0","supportedInterfaces":[
			{"url":"http://agent.example/v1","protocolBinding":"JSONRPC","protocolVersion":"1.0"},
			{"url":"http://agent.example/a2a/","protocolBinding":"jsonrpc","protocolVersion":"0.3"}]}`, 0},
		{"top level before other interfaces", `{"protocolVersion":"0.3.0","supportedInterfaces":[
			{"url":"http://agent.example/v1","protocolBinding":"JSONRPC","protocolVersion":"1.0"}]}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseA2ACard([]byte(tt.card)).major(target); got != tt.want {
				t.Fatalf("major = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestA2ACardCacheBounded(t *testing.T) {
	var cc a2aCardCache
	cc.m = make(map[string]*a2aCardEntry)
	var fetches atomic.Int32
	fetch := func(context.Context, string) (*a2aCard, error) {
		fetches.Add(1)
		return &a2aCard{}, nil
	}
	for i := range a2aCardCacheSize + 10 {
		if _, err := cc.get(t.Context(), fmt.Sprintf("http://h%d", i), fetch); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(cc.m); n > a2aCardCacheSize {
		t.Fatalf("cache holds %d cards, more than %d", n, a2aCardCacheSize)
	}
	failing := func(context.Context, string) (*a2aCard, error) { return nil, errors.New("down") }
	if _, err := cc.get(t.Context(), "http://down", failing); err == nil {
		t.Fatal("a failed fetch succeeded")
	}
	if _, ok := cc.m["http://down"]; ok {
		t.Fatal("a failed fetch was cached")
	}
}

func TestParseA2AResult(t *testing.T) {
	tests := []struct {
		name, raw  string
		wantTask   bool
		wantID     string
		wantState  string
		wantResult string // "" means the raw object
		wantErr    string
	}{
		{name: "0.3 message, data", raw: `{"kind":"message","parts":[{"kind":"data","data":{"a":1}}]}`, wantState: "completed", wantResult: `{"a":1}`},
		{name: "1.0 message, text", raw: `{"message":{"parts":[{"text":"x"},{"text":"y"}]}}`, wantState: "completed", wantResult: `{"text":"x\ny"}`},
		{name: "bare 1.0 message", raw: `{"messageId":"m","role":"ROLE_AGENT","parts":[{"data":null}]}`, wantState: "completed", wantResult: `{"messageId":"m","role":"ROLE_AGENT","parts":[{"data":null}]}`},
		{name: "file part", raw: `{"kind":"message","parts":[{"kind":"file","file":{"uri":"u"}}]}`, wantState: "completed"},
		{name: "text part not a string", raw: `{"kind":"message","parts":[{"kind":"text","text":7}]}`, wantState: "completed"},
		{name: "no parts", raw: `{"kind":"message"}`, wantState: "completed"},
		{name: "0.3 task", raw: `{"kind":"task","id":"t","status":{"state":"working"}}`, wantTask: true, wantID: "t", wantState: "working"},
		{name: "1.0 task", raw: `{"task":{"id":"t","status":{"state":"TASK_STATE_AUTH_REQUIRED"}}}`, wantTask: true, wantID: "t", wantState: "auth-required", wantResult: `{"id":"t","status":{"state":"TASK_STATE_AUTH_REQUIRED"}}`},
		{name: "bare 1.0 task", raw: `{"id":"t","status":{"state":"TASK_STATE_CANCELED"}}`, wantTask: true, wantID: "t", wantState: "canceled"},
		{name: "artifacts joined", raw: `{"kind":"task","id":"t","status":{"state":"completed"},"artifacts":[{"parts":[{"kind":"text","text":"a"}]},{"parts":[{"kind":"text","text":"b"}]}]}`, wantTask: true, wantID: "t", wantState: "completed", wantResult: `{"text":"a\nb"}`},
		{name: "artifacts before status message", raw: `{"kind":"task","id":"t","status":{"state":"completed","message":{"parts":[{"kind":"text","text":"s"}]}},"artifacts":[{"parts":[{"kind":"data","data":1}]}]}`, wantTask: true, wantID: "t", wantState: "completed", wantResult: `1`},
		{name: "not an object", raw: `[1]`, wantErr: "not a JSON object"},
		{name: "unknown kind", raw: `{"kind":"artifact-update"}`, wantErr: "neither"},
		{name: "empty object", raw: `{}`, wantErr: "neither"},
		{name: "task without status", raw: `{"kind":"task","id":"t"}`, wantErr: "task status"},
		{name: "state not a string", raw: `{"kind":"task","status":{"state":3}}`, wantErr: "not a state name"},
		{name: "id not a string", raw: `{"kind":"task","id":1,"status":{"state":"completed"}}`, wantErr: "id is not a string"},
		{name: "artifacts not an array", raw: `{"kind":"task","status":{"state":"completed"},"artifacts":{}}`, wantErr: "not an array"},
		{name: "parts not an array", raw: `{"kind":"message","parts":"x"}`, wantErr: "not an array"},
		{name: "part not an object", raw: `{"kind":"message","parts":[1]}`, wantErr: "part 0"},
		{name: "wrapped task not an object", raw: `{"task":"t"}`, wantErr: "task: not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := parseA2AResult([]byte(tt.raw))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse = %+v, %v; want an error containing %q", out, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if out.isTask != tt.wantTask || out.taskID != tt.wantID || out.state != tt.wantState {
				t.Errorf("got task=%v id=%q state=%q, want task=%v id=%q state=%q",
					out.isTask, out.taskID, out.state, tt.wantTask, tt.wantID, tt.wantState)
			}
			want := tt.wantResult
			if want == "" {
				want = tt.raw
			}
			if !jsonEqual(t, out.result, []byte(want)) {
				t.Errorf("result %s, want %s", out.result, want)
			}
		})
	}
}

// FuzzA2AResult feeds arbitrary JSON-RPC results to the result parser:
// it must not panic, and what it accepts must be a usable outcome.
func FuzzA2AResult(f *testing.F) {
	for _, s := range []string{
		`{"kind":"message","parts":[{"kind":"data","data":{"a":1}}]}`,
		`{"task":{"id":"t","status":{"state":"TASK_STATE_WORKING"}}}`,
		`{"kind":"task","id":"t","status":{"state":"completed"},"artifacts":[{"parts":[{"kind":"text","text":"a"}]}]}`,
		`{"message":{"parts":[{"text":"x"},{"url":"u"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := parseA2AResult(raw)
		if err != nil {
			return
		}
		if out.state == "" || len(out.state) > a2aMaxState {
			t.Fatalf("accepted state %q", out.state)
		}
		if !json.Valid(out.result) {
			t.Fatalf("result is not JSON: %q", out.result)
		}
		if !out.isTask && out.state != "completed" {
			t.Fatalf("a message in state %q", out.state)
		}
	})
}

func TestA2AClientTestAgent(t *testing.T) {
	for _, protocol := range []string{"0.3", "1.0"} {
		t.Run(protocol, func(t *testing.T) {
			agent := testbin.StartA2A(t, "agent-b", "--a2a-protocol", protocol)
			c := newTestA2AClient(t, A2AOptions{PollInterval: 5 * time.Millisecond})
			tests := []struct {
				name       string
				data       string
				wantState  string
				wantResult func(t *testing.T, result json.RawMessage)
				wantErr    error
			}{
				{name: "echo", data: `{"task":"echo","n":7}`, wantState: "completed", wantResult: func(t *testing.T, r json.RawMessage) {
					var got struct {
						Agent    string                     `json:"agent"`
						Received json.RawMessage            `json:"received"`
						Metadata map[string]json.RawMessage `json:"metadata"`
					}
					if err := json.Unmarshal(r, &got); err != nil {
						t.Fatalf("echo %s: %v", r, err)
					}
					if got.Agent != "agent-b" || !jsonEqual(t, got.Received, []byte(`{"task":"echo","n":7}`)) {
						t.Errorf("echo %s", r)
					}
					for k, want := range map[string]string{
						A2AMetaTaskID: `"task-1"`, A2AMetaFrom: `"agent-a"`, A2AMetaChain: `["agent-a"]`,
						A2AMetaTenant: `"tenant-1"`, A2AMetaSession: `"session-1"`,
					} {
						if !jsonEqual(t, got.Metadata[k], []byte(want)) {
							t.Errorf("metadata %s = %s, want %s", k, got.Metadata[k], want)
						}
					}
				}},
				{name: "unknown task echoes", data: `{"task":"whatever"}`, wantState: "completed"},
				{name: "fail", data: `{"task":"fail"}`, wantState: "failed", wantResult: func(t *testing.T, r json.RawMessage) {
					if !jsonEqual(t, r, []byte(`{"text":"agent failure requested"}`)) {
						t.Errorf("fail result %s", r)
					}
				}},
				{name: "error", data: `{"task":"error"}`, wantErr: ErrA2ARemote},
				{name: "http500", data: `{"task":"http500"}`, wantErr: ErrA2AStatus},
				{name: "garbage", data: `{"task":"garbage"}`, wantErr: ErrA2AProtocol},
				{name: "slow", data: `{"task":"slow","ms":1}`, wantState: "completed"},
				{name: "async", data: `{"task":"async","polls":2}`, wantState: "completed", wantResult: func(t *testing.T, r json.RawMessage) {
					if !jsonEqual(t, r, []byte(`{"agent":"agent-b","done":true}`)) {
						t.Errorf("async result %s", r)
					}
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					m := testA2AMessage
					m.Data = json.RawMessage(tt.data)
					ctx, cancel := context.WithTimeout(t.Context(), a2aWait)
					defer cancel()
					res, err := c.Send(ctx, agent.A2AURL(), m)
					if tt.wantErr != nil {
						if !errors.Is(err, tt.wantErr) {
							t.Fatalf("Send = %v, %v; want %v", res, err, tt.wantErr)
						}
						return
					}
					if err != nil {
						t.Fatalf("Send: %v", err)
					}
					if res.State != tt.wantState {
						t.Fatalf("State %q, want %q (raw %s)", res.State, tt.wantState, res.Raw)
					}
					if tt.wantResult != nil {
						tt.wantResult(t, res.Result)
					}
				})
			}

			t.Run("slow beyond the deadline", func(t *testing.T) {
				m := testA2AMessage
				m.Data = json.RawMessage(`{"task":"slow","ms":60000}`)
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				defer cancel()
				start := time.Now()
				_, err := c.Send(ctx, agent.A2AURL(), m)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Send = %v; want context.DeadlineExceeded", err)
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Fatalf("Send took %s", took)
				}
			})
		})
	}
}
