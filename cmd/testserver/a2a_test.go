package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
	"github.com/switchyard-mcp/switchyard/transports"
)

// a2aWait bounds every wait of the A2A tests.
const a2aWait = 10 * time.Second

// listeningLine is the exact line --a2a prints on stdout.
var listeningLine = regexp.MustCompile(`^A2A_LISTENING http://127\.0\.0\.1:[1-9][0-9]*$`)

// a2aProcess is the test server binary running as an A2A agent.
type a2aProcess struct {
	URL   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when stdout ends
	mu    sync.Mutex
	lines []string // stdout
	once  sync.Once
	exit  error
}

// startA2AProcess runs bin with --a2a on a free port and extra args and
// waits for its A2A_LISTENING line. It is stopped when the test ends.
func startA2AProcess(t *testing.T, bin string, args ...string) *a2aProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--a2a", "127.0.0.1:0"}, args...)...) // #nosec G204 -- the test server
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &a2aProcess{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			if u, ok := strings.CutPrefix(sc.Text(), "A2A_LISTENING "); ok {
				select {
				case listening <- u:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case p.URL = <-listening:
	case <-p.done:
		t.Fatal("agent ended before listening")
	case <-time.After(a2aWait):
		t.Fatal("agent not listening in time")
	}
	return p
}

// stop closes the agent's stdin, which ends it, and reaps it. It fails the
// test if the agent does not end in time or ends with an error.
func (p *a2aProcess) stop(t *testing.T) {
	p.once.Do(func() {
		_ = p.stdin.Close()
		p.wait(t)
		if p.exit != nil {
			t.Errorf("agent exit: %v", p.exit)
		}
	})
}

// wait reaps the agent, killing it if it has not ended in time.
func (p *a2aProcess) wait(t *testing.T) {
	select {
	case <-p.done:
	case <-time.After(a2aWait):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("agent did not end within %s", a2aWait)
	}
	p.exit = p.cmd.Wait()
}

// stdout returns the lines the agent printed.
func (p *a2aProcess) stdout() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// sendA2A sends data to the agent at url with the standard test metadata.
func sendA2A(t *testing.T, c *transports.A2AClient, url, data string) (*transports.A2AResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), a2aWait)
	defer cancel()
	return c.Send(ctx, url, transports.A2AMessage{
		TaskID: "task-1",
		From:   "agent-a",
		Chain:  []string{"agent-a"},
		Tenant: "tenant-1",
		Data:   json.RawMessage(data),
	})
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t *testing.T, a, b []byte) bool {
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

// newA2AClient returns a client closed when the test ends.
func newA2AClient(t *testing.T) *transports.A2AClient {
	t.Helper()
	c := transports.NewA2AClient(transports.A2AOptions{PollInterval: 2 * time.Millisecond})
	t.Cleanup(c.Close)
	return c
}

// gatewayStub stands in for the gateway's POST /v1/a2a/send. It records
// what it receives and, when next is set, forwards the message to the
// agent at next like the gateway would, answering with the outcome.
type gatewayStub struct {
	t      *testing.T
	status int
	next   string
	client *transports.A2AClient

	mu     sync.Mutex
	bodies []map[string]json.RawMessage
	auth   []string
}

func (g *gatewayStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/a2a/send" {
		http.NotFound(w, r)
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.bodies = append(g.bodies, body)
	g.auth = append(g.auth, r.Header.Get("Authorization"))
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if g.next == "" {
		w.WriteHeader(g.status)
		_, _ = io.WriteString(w, `{"accepted":true}`)
		return
	}
	var from, tenant string
	var chain []string
	_ = json.Unmarshal(body["from_agent"], &from)
	_ = json.Unmarshal(body["tenant_id"], &tenant)
	_ = json.Unmarshal(body["delegation_chain"], &chain)
	res, err := g.client.Send(r.Context(), g.next, transports.A2AMessage{
		TaskID: "task-2", From: from, Chain: append(chain, from), Tenant: tenant, Data: body["message"],
	})
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"state": res.State, "result": res.Result})
}

// received returns the bodies and Authorization headers received.
func (g *gatewayStub) received() ([]map[string]json.RawMessage, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]json.RawMessage(nil), g.bodies...), append([]string(nil), g.auth...)
}

func TestA2AAgentBinary(t *testing.T) {
	bin, cleanup, err := testbin.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)

	for _, protocol := range []string{"0.3", "1.0"} {
		t.Run(protocol, func(t *testing.T) {
			agent := startA2AProcess(t, bin, "--a2a-id", "agent-b", "--a2a-protocol", protocol)
			c := newA2AClient(t)
			tests := []struct {
				name       string
				data       string
				wantState  string
				wantResult string
				wantErr    error
			}{
				{name: "echo", data: `{"task":"echo","x":[1]}`, wantState: "completed", wantResult: `{"agent":"agent-b","received":{"task":"echo","x":[1]},
					"metadata":{"` + transports.A2AMetaTaskID + `":"task-1","` + transports.A2AMetaFrom + `":"agent-a",
					"` + transports.A2AMetaChain + `":["agent-a"],"` + transports.A2AMetaTenant + `":"tenant-1"}}`},
				{name: "fail", data: `{"task":"fail"}`, wantState: "failed", wantResult: `{"text":"agent failure requested"}`},
				{name: "error", data: `{"task":"error"}`, wantErr: transports.ErrA2ARemote},
				{name: "async", data: `{"task":"async","polls":1}`, wantState: "completed", wantResult: `{"agent":"agent-b","done":true}`},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res, err := sendA2A(t, c, agent.URL, tt.data)
					if tt.wantErr != nil {
						var re *transports.RPCError
						if !errors.Is(err, tt.wantErr) || !errors.As(err, &re) || re.Code != -32000 || re.Message != "agent failure requested" {
							t.Fatalf("Send = %v, %v; want %v -32000", res, err, tt.wantErr)
						}
						return
					}
					if err != nil {
						t.Fatalf("Send: %v", err)
					}
					if res.State != tt.wantState || !sameJSON(t, res.Result, []byte(tt.wantResult)) {
						t.Fatalf("got %s %s, want %s %s", res.State, res.Result, tt.wantState, tt.wantResult)
					}
				})
			}

			t.Run("card", func(t *testing.T) {
				card := getCard(t, agent.URL)
				want := map[string]string{"0.3": `"0.3.0"`, "1.0": `"1.0"`}[protocol]
				if string(card["protocolVersion"]) != want || string(card["name"]) != `"agent-b"` {
					t.Fatalf("card %v", card)
				}
				if _, ok := card["supportedInterfaces"]; ok != (protocol == "1.0") {
					t.Fatalf("supportedInterfaces present: %v, protocol %s", ok, protocol)
				}
			})

			t.Run("delegate", func(t *testing.T) {
				g := &gatewayStub{t: t, status: http.StatusForbidden}
				gw := httptest.NewServer(g)
				t.Cleanup(gw.Close)
				res, err := sendA2A(t, c, agent.URL, fmt.Sprintf(
					`{"task":"delegate","to":"agent-c","gateway":%q,"token":"tok","message":{"task":"echo","k":1}}`, gw.URL))
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if !sameJSON(t, res.Result, []byte(`{"agent":"agent-b","gateway_status":403,"gateway_body":{"accepted":true}}`)) {
					t.Fatalf("result %s", res.Result)
				}
				bodies, auth := g.received()
				if len(bodies) != 1 || auth[0] != "Bearer tok" {
					t.Fatalf("gateway got %d bodies, Authorization %q", len(bodies), auth)
				}
				got, _ := json.Marshal(bodies[0])
				want := `{"from_agent":"agent-b","to_agent":"agent-c","message":{"task":"echo","k":1},
					"tenant_id":"tenant-1","delegation_chain":["agent-a"]}`
				if !sameJSON(t, got, []byte(want)) {
					t.Fatalf("gateway body %s, want %s", got, want)
				}
			})
		})
	}

	t.Run("two hops through the gateway", func(t *testing.T) {
		agentB := startA2AProcess(t, bin, "--a2a-id", "agent-b")
		agentC := startA2AProcess(t, bin, "--a2a-id", "agent-c", "--a2a-protocol", "1.0")
		c := newA2AClient(t)
		g := &gatewayStub{t: t, next: agentC.URL, client: newA2AClient(t)}
		gw := httptest.NewServer(g)
		t.Cleanup(gw.Close)

		res, err := sendA2A(t, c, agentB.URL, fmt.Sprintf(`{"task":"delegate","to":"agent-c","gateway":%q}`, gw.URL))
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		want := `{"agent":"agent-b","gateway_status":200,"gateway_body":{"state":"completed","result":{
			"agent":"agent-c","received":{"task":"echo"},"metadata":{
			"` + transports.A2AMetaTaskID + `":"task-2","` + transports.A2AMetaFrom + `":"agent-b",
			"` + transports.A2AMetaChain + `":["agent-a","agent-b"],"` + transports.A2AMetaTenant + `":"tenant-1"}}}}`
		if !sameJSON(t, res.Result, []byte(want)) {
			t.Fatalf("result %s\nwant %s", res.Result, want)
		}
		if _, auth := g.received(); len(auth) != 1 || auth[0] != "" {
			t.Fatalf("Authorization %q, want none", auth)
		}
	})

	t.Run("announces one line and ends", func(t *testing.T) {
		tests := []struct {
			name string
			end  func(p *a2aProcess) error
		}{
			{"stdin closed", func(p *a2aProcess) error { return p.stdin.Close() }},
			{"SIGTERM", func(p *a2aProcess) error { return p.cmd.Process.Signal(syscall.SIGTERM) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := startA2AProcess(t, bin)
				if err := tt.end(p); err != nil {
					t.Fatal(err)
				}
				p.once.Do(func() { p.wait(t) })
				if p.exit != nil {
					t.Fatalf("agent exit: %v", p.exit)
				}
				lines := p.stdout()
				if len(lines) != 1 || !listeningLine.MatchString(lines[0]) {
					t.Fatalf("stdout %q, want one A2A_LISTENING line", lines)
				}
			})
		}
	})

	t.Run("bad protocol flag", func(t *testing.T) {
		out, err := exec.Command(bin, "--a2a", "127.0.0.1:0", "--a2a-protocol", "2.0").CombinedOutput() // #nosec G204 -- the test server
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--a2a-protocol") {
			t.Fatalf("exit %v, output %q; want status 2", err, out)
		}
	})
}

// getCard fetches the agent card of the agent at base.
func getCard(t *testing.T, base string) map[string]json.RawMessage {
	t.Helper()
	_, body := fetch(t, http.MethodGet, base+"/.well-known/agent-card.json", "")
	var card map[string]json.RawMessage
	if err := json.Unmarshal(body, &card); err != nil {
		t.Fatalf("card %q: %v", body, err)
	}
	return card
}

// fetch makes one request with a client of its own and returns the status
// and the response body.
func fetch(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), a2aWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// inProcessAgent serves an agent from the test process until the test
// ends.
func inProcessAgent(t *testing.T, id string, v1 bool) (*a2aAgent, string) {
	t.Helper()
	agent := newA2AAgent(id, v1)
	ts := httptest.NewServer(agent)
	t.Cleanup(func() {
		ts.Close()
		agent.close()
	})
	return agent, ts.URL
}

func TestA2AAgentRequests(t *testing.T) {
	_, url03 := inProcessAgent(t, "a03", false)
	_, url10 := inProcessAgent(t, "a10", true)
	msg03 := `{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"data","data":{"task":"echo"}}]}`
	msg10 := `{"messageId":"m","role":"ROLE_USER","parts":[{"data":{"task":"echo"}}]}`
	rpc := func(id, method, params string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q,"params":%s}`, id, method, params)
	}
	tests := []struct {
		name, url, body string
		wantStatus      int
		wantBody        string // a substring
	}{
		{"0.3 echo at /a2a", url03 + "/a2a", rpc("1", "message/send", `{"message":`+msg03+`}`), 200, `"agent":"a03"`},
		{"0.3 echo with a string id", url03, rpc(`"x"`, "message/send", `{"message":`+msg03+`}`), 200, `"id":"x"`},
		{"0.3 agent refuses SendMessage", url03, rpc("1", "SendMessage", `{"message":`+msg10+`}`), 200, `"code":-32601`},
		{"1.0 agent refuses message/send", url10, rpc("1", "message/send", `{"message":`+msg03+`}`), 200, `"code":-32601`},
		{"1.0 agent refuses a 0.3 message", url10, rpc("1", "SendMessage", `{"message":`+msg03+`}`), 200, `"code":-32602`},
		{"0.3 agent refuses a 1.0 message", url03, rpc("1", "message/send", `{"message":`+msg10+`}`), 200, `"code":-32602`},
		{"1.0 echo wrapped in message", url10, rpc("1", "SendMessage", `{"message":`+msg10+`}`), 200, `"result":{"message":{`},
		{"no message", url03, rpc("1", "message/send", `{}`), 200, `"code":-32602`},
		{"message without data echoes {}", url03, rpc("1", "message/send",
			`{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"text","text":"hi"}]}}`), 200, `"received":{}`},
		{"parse error", url03, `{"jsonrpc":`, 200, `"code":-32700`},
		{"not JSON-RPC 2.0", url03, `{"id":1,"method":"message/send"}`, 200, `"code":-32600`},
		{"notification", url03, `{"jsonrpc":"2.0","method":"message/send","params":{}}`, 204, ``},
		{"unknown task", url03, rpc("1", "tasks/get", `{"id":"nope"}`), 200, `"code":-32001`},
		{"task lookup without id", url10, rpc("1", "GetTask", `{}`), 200, `"code":-32602`},
		{"http500", url03, rpc("1", "message/send", `{"message":`+strings.Replace(msg03, `"echo"`, `"http500"`, 1)+`}`), 500, "agent failure requested"},
		{"garbage", url03, rpc("1", "message/send", `{"message":`+strings.Replace(msg03, `"echo"`, `"garbage"`, 1)+`}`), 200, "this is not JSON"},
		{"delegate to a bad gateway URL", url03, rpc("1", "message/send", `{"message":`+strings.Replace(msg03, `{"task":"echo"}`, `{"task":"delegate","gateway":"nope"}`, 1)+`}`), 200, `"code":-32602`},
		{"body too large", url03, rpc("1", "message/send", `{"pad":"`+strings.Repeat("x", a2aMaxBody)+`"}`), 413, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := fetch(t, http.MethodPost, tt.url, tt.body)
			if status != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("got %d %q, want %d containing %q", status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestA2AAgentDelegateUnreachableGateway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, u := inProcessAgent(t, "a", false)
	res, err := sendA2A(t, newA2AClient(t), u, fmt.Sprintf(`{"task":"delegate","to":"b","gateway":"http://%s"}`, addr))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	var got struct {
		Status int    `json:"gateway_status"`
		Error  string `json:"gateway_error"`
	}
	if err := json.Unmarshal(res.Result, &got); err != nil || got.Status != 0 || !strings.Contains(got.Error, "refused") {
		t.Fatalf("result %s (%v), want gateway_status 0 and a connection error", res.Result, err)
	}
}

func TestServeA2AShutdown(t *testing.T) {
	// A gateway that never answers keeps a delegate request in flight. It
	// reads the body first: the server notices a client going away only
	// once the request body is consumed.
	reached := make(chan struct{}, 1)
	gw := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		reached <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(gw.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- serveA2A(ctx, newA2AAgent("a", false), ln) }()

	c := newA2AClient(t)
	sent := make(chan error, 1)
	go func() {
		_, err := sendA2A(t, c, "http://"+ln.Addr().String(), fmt.Sprintf(`{"task":"delegate","to":"b","gateway":%q}`, gw.URL))
		sent <- err
	}()
	select {
	case <-reached:
	case err := <-sent:
		t.Fatalf("Send returned before the delegation reached the gateway: %v", err)
	case <-time.After(a2aWait):
		t.Fatal("the delegation did not reach the gateway")
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serveA2A: %v", err)
		}
	case <-time.After(a2aWait):
		t.Fatal("serveA2A did not stop with a request in flight")
	}
	select {
	case err := <-sent:
		t.Logf("the request in flight ended with %v", err)
	case <-time.After(a2aWait):
		t.Fatal("the request in flight did not end")
	}
}

// signalBuffer is a syncBuffer that signals each write.
type signalBuffer struct {
	syncBuffer
	wrote chan struct{}
}

func (b *signalBuffer) Write(p []byte) (int, error) {
	n, err := b.syncBuffer.Write(p)
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return n, err
}

func TestRunA2A(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr := &signalBuffer{wrote: make(chan struct{}, 1)}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runA2A(ctx, "127.0.0.1:0", "a", true, stdout, stderr) }()

	select {
	case <-stdout.wrote:
	case err := <-done:
		t.Fatalf("runA2A ended early: %v", err)
	case <-time.After(a2aWait):
		t.Fatal("no A2A_LISTENING line")
	}
	line := strings.TrimSuffix(stdout.String(), "\n")
	if !listeningLine.MatchString(line) || !strings.HasSuffix(stdout.String(), "\n") {
		t.Fatalf("stdout %q", stdout.String())
	}
	addr := strings.TrimPrefix(line, "A2A_LISTENING http://")
	if got := stderr.String(); got != "listening on "+addr+"\n" {
		t.Fatalf("stderr %q", got)
	}
	if card := getCard(t, "http://"+addr); !bytes.Contains(card["url"], []byte(addr+"/a2a")) {
		t.Fatalf("card url %s", card["url"])
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runA2A: %v", err)
		}
	case <-time.After(a2aWait):
		t.Fatal("runA2A did not stop")
	}

	if err := runA2A(t.Context(), "256.0.0.1:0", "a", false, io.Discard, io.Discard); err == nil {
		t.Fatal("runA2A on a bad address succeeded")
	}
	if code := runA2AMode(t.Context(), "127.0.0.1:0", "a", "0.4"); code != 2 {
		t.Fatalf("runA2AMode with protocol 0.4 = %d, want 2", code)
	}
}
