package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-mcp/switchyard/transports"
)

// Bounds of the A2A agent.
const (
	// a2aMaxBody bounds a JSON-RPC request body and a gateway answer.
	a2aMaxBody = 4 << 20
	// a2aMaxTasks bounds the tasks remembered for tasks/get.
	a2aMaxTasks = 1024
	// a2aDelegateTimeout bounds one call to the gateway.
	a2aDelegateTimeout = 30 * time.Second
	// a2aMaxSlow bounds the wait of the slow behaviour.
	a2aMaxSlow = 10 * time.Minute
)

// JSON-RPC error codes the agent answers with.
const (
	a2aCodeParse          = -32700
	a2aCodeInvalidRequest = -32600
	a2aCodeNoMethod       = -32601
	a2aCodeInvalidParams  = -32602
	a2aCodeFailure        = -32000 // the "error" behaviour
	a2aCodeTaskNotFound   = -32001 // A2A's TaskNotFoundError
)

// a2aSkills are the behaviours the first data part's "task" field selects,
// advertised as the agent card's skills.
var a2aSkills = []struct{ id, description string }{
	{"echo", `reply with a message holding {"agent", "received", "metadata"}; any unknown task does the same`},
	{"fail", "answer with a task in state failed"},
	{"error", "answer with JSON-RPC error -32000"},
	{"http500", "answer HTTP 500"},
	{"garbage", "answer 200 with a body that is not JSON"},
	{"slow", `wait "ms" milliseconds, then echo`},
	{"async", `answer with a working task that a later task lookup finds completed (after "polls" working answers)`},
	{"delegate", `send "message" to agent "to" through the gateway at "gateway" and reply with the gateway's answer`},
}

// runA2AMode serves the A2A agent for --a2a and returns the exit code. It
// stops on ctx (SIGTERM, SIGINT) or when stdin, if it is a pipe, closes, so
// an agent does not outlive the process that started it.
func runA2AMode(ctx context.Context, addr, id, protocol string) int {
	if protocol != "0.3" && protocol != "1.0" {
		fmt.Fprintf(os.Stderr, "testserver: --a2a-protocol must be 0.3 or 1.0, not %q\n", protocol)
		return 2
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchStdin(cancel)
	if err := runA2A(ctx, addr, id, protocol == "1.0", os.Stdout, os.Stderr); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
		return 1
	}
	return 0
}

// watchStdin calls stop when stdin reaches its end, if stdin is a pipe or
// a socket. A terminal or /dev/null is not watched: the agent then serves
// until it is signalled.
func watchStdin(stop context.CancelFunc) {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
}

// runA2A listens at addr, announces the agent's base URL on stdout as the
// single line "A2A_LISTENING http://HOST:PORT" (and, like --http, the
// address on stderr as "listening on HOST:PORT"), then serves until ctx is
// done.
func runA2A(ctx context.Context, addr, id string, v1 bool, stdout, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	agent := newA2AAgent(id, v1)
	_, _ = fmt.Fprintf(stderr, "listening on %s\n", ln.Addr().String())
	if _, err := fmt.Fprintf(stdout, "A2A_LISTENING http://%s\n", ln.Addr().String()); err != nil {
		_ = ln.Close()
		return fmt.Errorf("announce: %w", err)
	}
	return serveA2A(ctx, agent, ln)
}

// serveA2A serves agent on ln until ctx is done, then shuts the server
// down and waits for every request handler to return.
func serveA2A(ctx context.Context, agent *a2aAgent, ln net.Listener) error {
	hs := &http.Server{
		Handler:           agent,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests end with the server: a slow or delegating request
		// stops waiting at shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	err := serveUntil(ctx, hs, ln)
	agent.close()
	return err
}

// a2aAgent is an A2A agent speaking the JSON-RPC binding of protocol 0.3
// (message/send, tasks/get) or, when v1 is set, 1.0 (SendMessage,
// GetTask). It accepts only its own version's methods and shapes, so a
// client that speaks the wrong one fails.
type a2aAgent struct {
	id     string
	v1     bool
	mux    *http.ServeMux
	client *http.Client // calls to the gateway

	mu      sync.Mutex
	tasks   map[string]*a2aTask
	order   []string // task ids, oldest first
	closing bool
	active  sync.WaitGroup // requests being handled
}

// a2aTask is a task the agent created.
type a2aTask struct {
	id, contextID string
	state         string // 0.3 spelling
	polls         int    // working answers left before completion
	text          string // the status message, when there is one
}

// newA2AAgent returns an agent named id.
func newA2AAgent(id string, v1 bool) *a2aAgent {
	a := &a2aAgent{
		id: id,
		v1: v1,
		client: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		}},
		tasks: make(map[string]*a2aTask),
	}
	a.mux = http.NewServeMux()
	a.mux.HandleFunc("GET /.well-known/agent-card.json", a.serveCard)
	a.mux.HandleFunc("POST /{$}", a.serveRPC)
	a.mux.HandleFunc("POST /a2a", a.serveRPC)
	return a
}

// ServeHTTP serves the agent card and JSON-RPC, counting the requests in
// progress so close can wait for them.
func (a *a2aAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		http.Error(w, "agent stopping", http.StatusServiceUnavailable)
		return
	}
	a.active.Add(1)
	a.mu.Unlock()
	defer a.active.Done()
	a.mux.ServeHTTP(w, r)
}

// close waits for the requests in progress and closes the connections to
// the gateway.
func (a *a2aAgent) close() {
	a.mu.Lock()
	a.closing = true
	a.mu.Unlock()
	a.active.Wait()
	a.client.CloseIdleConnections()
}

// serveCard serves the agent card. Its url is the JSON-RPC endpoint at
// /a2a on the host the client asked for.
func (a *a2aAgent) serveCard(w http.ResponseWriter, r *http.Request) {
	endpoint := "http://" + r.Host + "/a2a"
	protocol := "0.3.0"
	if a.v1 {
		protocol = "1.0"
	}
	skills := make([]map[string]any, 0, len(a2aSkills))
	for _, s := range a2aSkills {
		skills = append(skills, map[string]any{
			"id": s.id, "name": s.id, "description": s.description, "tags": []string{"test"},
		})
	}
	card := map[string]any{
		"name":               a.id,
		"description":        "Switchyard's A2A test agent: it echoes, fails, stalls and delegates on request.",
		"url":                endpoint,
		"version":            version,
		"protocolVersion":    protocol,
		"preferredTransport": "JSONRPC",
		"capabilities":       map[string]any{"streaming": false, "pushNotifications": false},
		"defaultInputModes":  []string{"application/json"},
		"defaultOutputModes": []string{"application/json", "text/plain"},
		"skills":             skills,
	}
	if a.v1 {
		card["supportedInterfaces"] = []map[string]string{
			{"url": endpoint, "protocolBinding": "JSONRPC", "protocolVersion": protocol},
		}
	}
	writeJSON(w, http.StatusOK, card)
}

// a2aRequest is a JSON-RPC request.
type a2aRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// serveRPC answers one JSON-RPC request.
func (a *a2aAgent) serveRPC(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a2aMaxBody))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", mbe.Limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading request: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req a2aRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeRPCError(w, nil, a2aCodeParse, "parse error: "+err.Error())
		return
	}
	if req.JSONRPC != "2.0" || req.Method == "" {
		writeRPCError(w, req.ID, a2aCodeInvalidRequest, "invalid request: not JSON-RPC 2.0")
		return
	}
	if len(req.ID) == 0 {
		w.WriteHeader(http.StatusNoContent) // a notification has no answer
		return
	}
	send, get := "message/send", "tasks/get"
	if a.v1 {
		send, get = "SendMessage", "GetTask"
	}
	switch req.Method {
	case send:
		a.send(w, r, req)
	case get:
		a.get(w, req)
	default:
		writeRPCError(w, req.ID, a2aCodeNoMethod, "method not found: "+req.Method)
	}
}

// a2aCommand is the first data part of a message: what to do.
type a2aCommand struct {
	Task    string          `json:"task"`
	MS      int             `json:"ms"`
	Polls   int             `json:"polls"`
	To      string          `json:"to"`
	Gateway string          `json:"gateway"`
	Token   string          `json:"token"`
	Message json.RawMessage `json:"message"`
}

// send answers message/send (SendMessage): the behaviour the message's
// first data part selects.
func (a *a2aAgent) send(w http.ResponseWriter, r *http.Request, req a2aRequest) {
	var p struct {
		Message *struct {
			Kind      string                       `json:"kind"`
			MessageID string                       `json:"messageId"`
			ContextID string                       `json:"contextId"`
			Role      string                       `json:"role"`
			Parts     []map[string]json.RawMessage `json:"parts"`
			Metadata  json.RawMessage              `json:"metadata"`
		} `json:"message"`
	}
	if err := json.Unmarshal(req.Params, &p); err != nil || p.Message == nil {
		writeRPCError(w, req.ID, a2aCodeInvalidParams, "invalid params: no message")
		return
	}
	m := p.Message
	data, problem := a.firstData(m.Kind, m.Role, m.MessageID, m.Parts)
	if problem != "" {
		writeRPCError(w, req.ID, a2aCodeInvalidParams, "invalid params: "+problem)
		return
	}
	meta := m.Metadata
	if len(meta) == 0 {
		meta = json.RawMessage("null")
	}
	contextID := m.ContextID
	if contextID == "" {
		contextID = newID()
	}
	var cmd a2aCommand
	_ = json.Unmarshal(data, &cmd) // data that is not an object is echoed

	echo := func() {
		a.writeResult(w, req.ID, a.sendResult("message", a.message(contextID, a.dataPart(map[string]any{
			"agent": a.id, "received": data, "metadata": meta,
		}))))
	}
	switch cmd.Task {
	case "fail":
		t := a.addTask(&a2aTask{contextID: contextID, state: "failed", text: "agent failure requested"})
		a.writeResult(w, req.ID, a.sendResult("task", a.task(t)))
	case "error":
		writeRPCError(w, req.ID, a2aCodeFailure, "agent failure requested")
	case "http500":
		http.Error(w, "agent failure requested (http500)", http.StatusInternalServerError)
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "this is not JSON {{{\n")
	case "slow":
		t := time.NewTimer(min(max(time.Duration(cmd.MS)*time.Millisecond, 0), a2aMaxSlow))
		defer t.Stop()
		select {
		case <-t.C:
			echo()
		case <-r.Context().Done():
		}
	case "async":
		t := a.addTask(&a2aTask{contextID: contextID, state: "working", polls: max(cmd.Polls, 0)})
		a.writeResult(w, req.ID, a.sendResult("task", a.task(t)))
	case "delegate":
		a.delegate(w, r, req.ID, contextID, cmd, meta)
	default:
		echo()
	}
}

// firstData checks a message's shape against the agent's protocol version
// and returns its first data part's data ({} when it has none), or what is
// wrong with it.
func (a *a2aAgent) firstData(kind, role, messageID string, parts []map[string]json.RawMessage) (json.RawMessage, string) {
	wantRole := "user"
	if a.v1 {
		wantRole = "ROLE_USER"
	}
	switch {
	case messageID == "":
		return nil, "message has no messageId"
	case role != wantRole:
		return nil, fmt.Sprintf("message role %q, want %q", role, wantRole)
	case !a.v1 && kind != "message":
		return nil, fmt.Sprintf("message kind %q, want \"message\"", kind)
	case a.v1 && kind != "":
		return nil, "a 1.0 message has no kind"
	case len(parts) == 0:
		return nil, "message has no parts"
	}
	for i, part := range parts {
		var partKind string
		if k, ok := part["kind"]; ok {
			if a.v1 {
				return nil, fmt.Sprintf("part %d: a 1.0 part has no kind", i)
			}
			_ = json.Unmarshal(k, &partKind)
		}
		if d, ok := part["data"]; ok && (a.v1 || partKind == "data") {
			return d, ""
		}
	}
	return json.RawMessage("{}"), ""
}

// get answers tasks/get (GetTask). A working task answers working polls
// times, then completed with an artifact.
func (a *a2aAgent) get(w http.ResponseWriter, req a2aRequest) {
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(req.Params, &p); err != nil || p.ID == "" {
		writeRPCError(w, req.ID, a2aCodeInvalidParams, "invalid params: no task id")
		return
	}
	a.mu.Lock()
	t, ok := a.tasks[p.ID]
	var snap a2aTask
	if ok {
		if t.state == "working" {
			if t.polls > 0 {
				t.polls--
			} else {
				t.state = "completed"
			}
		}
		snap = *t
	}
	a.mu.Unlock()
	if !ok {
		writeRPCError(w, req.ID, a2aCodeTaskNotFound, "task not found: "+p.ID)
		return
	}
	a.writeResult(w, req.ID, a.task(&snap))
}

// addTask gives t an id and remembers it, forgetting the oldest task when
// a2aMaxTasks are kept. It returns a copy of t.
func (a *a2aAgent) addTask(t *a2aTask) *a2aTask {
	t.id = newID()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.order) >= a2aMaxTasks {
		delete(a.tasks, a.order[0])
		a.order = a.order[1:]
	}
	a.tasks[t.id] = t
	a.order = append(a.order, t.id)
	snap := *t
	return &snap
}

// delegate sends cmd.Message (or an echo request) to agent cmd.To through
// the gateway's POST /v1/a2a/send and answers with the gateway's status
// and body.
func (a *a2aAgent) delegate(w http.ResponseWriter, r *http.Request, id json.RawMessage, contextID string, cmd a2aCommand, meta json.RawMessage) {
	gw, err := url.Parse(cmd.Gateway)
	if err != nil || (gw.Scheme != "http" && gw.Scheme != "https") || gw.Host == "" {
		writeRPCError(w, id, a2aCodeInvalidParams, fmt.Sprintf("invalid params: gateway %q is not an http(s) URL", cmd.Gateway))
		return
	}
	inner := cmd.Message
	if len(bytes.TrimSpace(inner)) == 0 || string(inner) == "null" {
		inner = json.RawMessage(`{"task":"echo"}`)
	}
	var md map[string]json.RawMessage
	_ = json.Unmarshal(meta, &md)
	var tenant string
	_ = json.Unmarshal(md[transports.A2AMetaTenant], &tenant)
	body, err := json.Marshal(struct {
		From    string          `json:"from_agent"`
		To      string          `json:"to_agent"`
		Message json.RawMessage `json:"message"`
		Tenant  string          `json:"tenant_id,omitempty"`
		Chain   json.RawMessage `json:"delegation_chain,omitempty"`
	}{a.id, cmd.To, inner, tenant, md[transports.A2AMetaChain]})
	if err != nil {
		writeRPCError(w, id, a2aCodeInvalidParams, "invalid params: "+err.Error())
		return
	}

	reply := map[string]any{"agent": a.id}
	status, gwBody, err := a.callGateway(r.Context(), strings.TrimRight(cmd.Gateway, "/")+"/v1/a2a/send", cmd.Token, body)
	reply["gateway_status"] = status
	if err != nil {
		reply["gateway_error"] = err.Error()
	} else {
		reply["gateway_body"] = gwBody
	}
	a.writeResult(w, id, a.sendResult("message", a.message(contextID, a.dataPart(reply))))
}

// callGateway POSTs body to endpoint and returns the answer's status and
// body (as JSON, or as a JSON string when it is not JSON).
func (a *a2aAgent) callGateway(ctx context.Context, endpoint, token string, body []byte) (int, json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, a2aDelegateTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, a2aMaxBody+1))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if len(data) > a2aMaxBody {
		return resp.StatusCode, nil, fmt.Errorf("the gateway's answer is larger than %d bytes", a2aMaxBody)
	}
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0:
		return resp.StatusCode, json.RawMessage("null"), nil
	case json.Valid(data):
		return resp.StatusCode, data, nil
	}
	s, _ := json.Marshal(string(data))
	return resp.StatusCode, s, nil
}

// message is an agent message holding parts, in the agent's protocol
// shape.
func (a *a2aAgent) message(contextID string, parts ...map[string]any) map[string]any {
	m := map[string]any{"messageId": newID(), "contextId": contextID, "parts": parts}
	if a.v1 {
		m["role"] = "ROLE_AGENT"
	} else {
		m["kind"], m["role"] = "message", "agent"
	}
	return m
}

// dataPart is a data part holding v.
func (a *a2aAgent) dataPart(v any) map[string]any {
	if a.v1 {
		return map[string]any{"data": v, "mediaType": "application/json"}
	}
	return map[string]any{"kind": "data", "data": v}
}

// textPart is a text part holding s.
func (a *a2aAgent) textPart(s string) map[string]any {
	if a.v1 {
		return map[string]any{"text": s, "mediaType": "text/plain"}
	}
	return map[string]any{"kind": "text", "text": s}
}

// task is t in the agent's protocol shape. A completed task holds the
// artifact {"agent": id, "done": true}.
func (a *a2aAgent) task(t *a2aTask) map[string]any {
	state := t.state
	if a.v1 {
		state = "TASK_STATE_" + strings.ToUpper(strings.ReplaceAll(state, "-", "_"))
	}
	status := map[string]any{"state": state, "timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z")}
	if t.text != "" {
		status["message"] = a.message(t.contextID, a.textPart(t.text))
	}
	out := map[string]any{"id": t.id, "contextId": t.contextID, "status": status}
	if !a.v1 {
		out["kind"] = "task"
	}
	if t.state == "completed" {
		out["artifacts"] = []map[string]any{{
			"artifactId": t.id + "-result",
			"name":       "result",
			"parts":      []map[string]any{a.dataPart(map[string]any{"agent": a.id, "done": true})},
		}}
	}
	return out
}

// sendResult is the result of message/send (the object itself) or of
// SendMessage (the object under "message" or "task").
func (a *a2aAgent) sendResult(member string, obj map[string]any) any {
	if a.v1 {
		return map[string]any{member: obj}
	}
	return obj
}

// writeResult answers request id with result.
func (a *a2aAgent) writeResult(w http.ResponseWriter, id json.RawMessage, result any) {
	writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
}

// writeRPCError answers request id (null when nil) with a JSON-RPC error.
func writeRPCError(w http.ResponseWriter, id json.RawMessage, code int, msg string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg},
	})
}

// writeJSON writes v as a JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// newID returns a random identifier for tasks, contexts and messages.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
