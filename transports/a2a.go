package transports

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Metadata keys the gateway sets on every A2A message it sends. They travel
// in the message's metadata object, so an agent that delegates further (or
// the test agent) can read where a message came from and hand the same
// facts back to the gateway.
const (
	// A2AMetaTaskID is the gateway's task id of the delegation (a string).
	A2AMetaTaskID = "switchyard/task_id"
	// A2AMetaFrom is the id of the sending agent (a string).
	A2AMetaFrom = "switchyard/from_agent"
	// A2AMetaChain is the delegation chain so far, including the sender
	// (an array of agent ids, oldest first).
	A2AMetaChain = "switchyard/delegation_chain"
	// A2AMetaTenant is the tenant the delegation runs for (a string).
	A2AMetaTenant = "switchyard/tenant_id"
	// A2AMetaSession is the caller's session id (a string), when there is
	// one.
	A2AMetaSession = "switchyard/session_id"
)

// Sentinel errors of A2AClient.Send. Check them with errors.Is. A task the
// agent failed, rejected or canceled is not an error: Send returns it as an
// A2AResult with that State.
var (
	// ErrA2AUnreachable: no complete HTTP response came back (connection
	// refused, DNS failure, reset, or ctx ended before the agent answered).
	ErrA2AUnreachable = errors.New("a2a: agent unreachable")
	// ErrA2AStatus: the agent answered with a non-2xx HTTP status. The
	// error is an *A2AStatusError.
	ErrA2AStatus = errors.New("a2a: agent answered an HTTP error status")
	// ErrA2ARemote: the agent answered with a JSON-RPC error object. The
	// error also wraps an *RPCError holding its code, message and data.
	ErrA2ARemote = errors.New("a2a: agent returned a JSON-RPC error")
	// ErrA2AProtocol: the answer is not a valid A2A JSON-RPC response: not
	// JSON, not JSON-RPC 2.0, larger than MaxResponse, an id that is not the
	// request's, or a result that is neither a Message nor a Task.
	ErrA2AProtocol = errors.New("a2a: agent broke the protocol")
)

// A2AStatusError is a non-2xx HTTP answer of an agent. It matches
// ErrA2AStatus with errors.Is; errors.As gives the status code, so a caller
// can tell an authentication failure from a crash.
type A2AStatusError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Body is a bounded, sanitised excerpt of the response body.
	Body string
}

// Error reports the status and the body excerpt.
func (e *A2AStatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("a2a: agent answered HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("a2a: agent answered HTTP %d: %s", e.StatusCode, e.Body)
}

// Is makes the error match ErrA2AStatus.
func (e *A2AStatusError) Is(target error) bool { return target == ErrA2AStatus }

// A2A wire details.
const (
	a2aMethodSend   = "message/send" // protocol 0.3
	a2aMethodGet    = "tasks/get"    // protocol 0.3
	a2aMethodSendV1 = "SendMessage"  // protocol 1.0
	a2aMethodGetV1  = "GetTask"      // protocol 1.0

	// a2aVersionHeader carries the protocol version a 1.0 request speaks.
	a2aVersionHeader = "A2A-Version"
	a2aVersionV1     = "1.0"

	a2aCardPath       = "/.well-known/agent-card.json"
	a2aLegacyCardPath = "/.well-known/agent.json"
	a2aBindingJSONRPC = "JSONRPC"
)

// Bounds of the A2A client.
const (
	a2aDefaultMaxResponse = 16 << 20
	// a2aMaxMaxResponse caps MaxResponse, so that the one byte read past
	// the limit to detect an overflow cannot overflow itself.
	a2aMaxMaxResponse = 1 << 40
	a2aDefaultPoll    = 50 * time.Millisecond
	// a2aCardTTL is how long an agent card (or its absence) is trusted.
	a2aCardTTL = 5 * time.Minute
	// a2aCardCacheSize bounds the cached agent cards (one per origin).
	a2aCardCacheSize = 1024
	// a2aMaxCard bounds the body of an agent card.
	a2aMaxCard = 1 << 20
	// a2aCardTimeout bounds one agent card fetch.
	a2aCardTimeout = 10 * time.Second
	// a2aMaxInterfaces bounds the card interfaces looked at.
	a2aMaxInterfaces = 32
	// a2aErrorExcerpt bounds the body excerpt of an HTTP error status.
	a2aErrorExcerpt = 512
	// a2aMaxState bounds a plausible task state name.
	a2aMaxState = 64
)

// A2AOptions configure an A2AClient.
type A2AOptions struct {
	// MaxResponse bounds the body of one JSON-RPC response (default 16 MiB).
	// A larger answer fails with ErrA2AProtocol.
	MaxResponse int64
	// HTTPClient, when set, is used as is (its Transport, timeouts and
	// redirect policy). When nil the client builds one with dial, TLS and
	// header size limits that follows no redirects.
	HTTPClient *http.Client
	// PollInterval is the wait between two task lookups while a task the
	// agent returned is still submitted or working (default 50ms).
	PollInterval time.Duration
}

// A2AMessage is one delegation sent to an agent.
type A2AMessage struct {
	// TaskID is the gateway's task id. It is sent as metadata
	// (A2AMetaTaskID) only: the A2A contextId and taskId stay the agent's
	// to assign, as a message that names an unknown context or task may be
	// refused.
	TaskID string
	// From is the id of the sending agent (A2AMetaFrom).
	From string
	// Chain is the delegation chain so far, including From
	// (A2AMetaChain).
	Chain []string
	// Tenant is the tenant the delegation runs for (A2AMetaTenant).
	Tenant string
	// Session is the caller's session id (A2AMetaSession); optional.
	Session string
	// Data is the caller's message object, sent as the message's single
	// data part. Empty means {}.
	Data json.RawMessage
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
}

// A2AResult is the outcome of a delegation.
type A2AResult struct {
	// State is the A2A task state reached, in the 0.3 spelling whatever the
	// protocol version: "completed", "failed", "rejected", "canceled",
	// "input-required", "auth-required", or "submitted"/"working" when ctx
	// ended first. A direct Message reply is "completed".
	State string
	// Result is the answer, simplified: when the reply's parts (a Message's
	// parts; for a Task its artifacts' parts, or else its status message's
	// parts) are a single data part, its data; when they are only text
	// parts, {"text": "<the texts joined by newlines>"}; otherwise the A2A
	// Message or Task object itself.
	Result json.RawMessage
	// Raw is the raw JSON-RPC result of the last call made (the final
	// task lookup when the task was polled).
	Raw json.RawMessage
}

// A2AClient sends A2A messages over the JSON-RPC binding. Safe for
// concurrent use.
//
// It speaks protocol 0.3 (message/send, tasks/get) unless the agent's card
// declares protocol version 1.0 or a later major version, when it speaks
// 1.0 (SendMessage, GetTask). The card is fetched once per origin from
// /.well-known/agent-card.json (or /.well-known/agent.json) and cached.
type A2AClient struct {
	client  *http.Client
	maxResp int64
	poll    time.Duration
	ids     atomic.Int64
	cards   a2aCardCache
}

// NewA2AClient returns a client configured by o.
func NewA2AClient(o A2AOptions) *A2AClient {
	c := &A2AClient{client: o.HTTPClient, maxResp: o.MaxResponse, poll: o.PollInterval}
	if c.maxResp <= 0 {
		c.maxResp = a2aDefaultMaxResponse
	}
	c.maxResp = min(c.maxResp, a2aMaxMaxResponse)
	if c.poll <= 0 {
		c.poll = a2aDefaultPoll
	}
	if c.client == nil {
		c.client = &http.Client{
			Transport: newA2ATransport(),
			// A JSON-RPC endpoint has no business redirecting a POST; a
			// redirect is reported as the status it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c.cards.m = make(map[string]*a2aCardEntry)
	return c
}

// newA2ATransport is the HTTP transport of a client built by NewA2AClient.
// It sets no overall or header timeout: an agent answering message/send may
// work for as long as the caller's ctx allows.
func newA2ATransport() *http.Transport {
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:    10 * time.Second,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           128,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// Close closes the client's idle connections. The client stays usable.
func (c *A2AClient) Close() { c.client.CloseIdleConnections() }

// Send delivers m to the agent whose JSON-RPC endpoint is agentURL and
// waits for the outcome: a Message reply, or a Task, looked up every
// PollInterval while it is submitted or working. ctx bounds the whole
// exchange, card lookup and polling included. When ctx ends while the task
// is still running, Send returns the last result seen together with an
// error wrapping ctx.Err().
func (c *A2AClient) Send(ctx context.Context, agentURL string, m A2AMessage) (*A2AResult, error) {
	target, err := url.Parse(agentURL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("a2a: agent URL %q is not an http(s) URL", agentURL)
	}
	data := m.Data
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage("{}")
	} else if !json.Valid(data) {
		return nil, errors.New("a2a: message data is not valid JSON")
	}
	card, err := c.cards.get(ctx, target.Scheme+"://"+target.Host, c.fetchCard)
	if err != nil {
		return nil, err
	}
	v1 := card.major(agentURL) >= 1
	sendMethod, getMethod := a2aMethodSend, a2aMethodGet
	if v1 {
		sendMethod, getMethod = a2aMethodSendV1, a2aMethodGetV1
	}

	raw, err := c.call(ctx, agentURL, sendMethod, a2aSendParams{Message: newA2AOutMessage(m, data, v1)}, m.Token, v1)
	if err != nil {
		return nil, err
	}
	out, err := parseA2AResult(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s result: %w", ErrA2AProtocol, sendMethod, err)
	}
	res := &A2AResult{State: out.state, Result: out.result, Raw: raw}
	if !out.pending() {
		return res, nil
	}
	if out.taskID == "" {
		return nil, fmt.Errorf("%w: %s returned a %s task without an id", ErrA2AProtocol, sendMethod, out.state)
	}

	taskID := out.taskID
	timer := time.NewTimer(c.poll)
	defer timer.Stop()
	for out.pending() {
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("a2a: task %q still %s: %w", truncate([]byte(taskID), 80), out.state, ctx.Err())
		case <-timer.C:
		}
		raw, err = c.call(ctx, agentURL, getMethod, a2aGetParams{ID: taskID}, m.Token, v1)
		if err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			return nil, err
		}
		out, err = parseA2AResult(raw)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: %s result: %w", ErrA2AProtocol, getMethod, err)
		case !out.isTask:
			return nil, fmt.Errorf("%w: %s returned no task", ErrA2AProtocol, getMethod)
		case out.taskID != "" && out.taskID != taskID:
			return nil, fmt.Errorf("%w: %s for task %q returned task %q", ErrA2AProtocol, getMethod, taskID, out.taskID)
		}
		res = &A2AResult{State: out.state, Result: out.result, Raw: raw}
		timer.Reset(c.poll)
	}
	return res, nil
}

// a2aRPCRequest is a JSON-RPC request.
type a2aRPCRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int64  `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// a2aSendParams are the params of message/send and SendMessage.
type a2aSendParams struct {
	Message a2aOutMessage `json:"message"`
}

// a2aGetParams are the params of tasks/get and GetTask.
type a2aGetParams struct {
	ID string `json:"id"`
}

// a2aOutMessage is a message the client sends, in either protocol's shape.
type a2aOutMessage struct {
	Kind      string         `json:"kind,omitempty"` // "message" in 0.3, absent in 1.0
	MessageID string         `json:"messageId"`
	Role      string         `json:"role"`
	Parts     []a2aOutPart   `json:"parts"`
	Metadata  map[string]any `json:"metadata"`
}

// a2aOutPart is a data part the client sends.
type a2aOutPart struct {
	Kind      string          `json:"kind,omitempty"` // "data" in 0.3, absent in 1.0
	Data      json.RawMessage `json:"data"`
	MediaType string          `json:"mediaType,omitempty"` // 1.0 only
}

// newA2AOutMessage builds the message of m holding data, in 1.0's shape
// when v1 is set.
func newA2AOutMessage(m A2AMessage, data json.RawMessage, v1 bool) a2aOutMessage {
	chain := m.Chain
	if chain == nil {
		chain = []string{}
	}
	meta := map[string]any{A2AMetaChain: chain}
	for k, v := range map[string]string{
		A2AMetaTaskID: m.TaskID, A2AMetaFrom: m.From, A2AMetaTenant: m.Tenant, A2AMetaSession: m.Session,
	} {
		if v != "" {
			meta[k] = v
		}
	}
	msg := a2aOutMessage{MessageID: newA2AID(), Metadata: meta}
	if v1 {
		msg.Role = "ROLE_USER"
		msg.Parts = []a2aOutPart{{Data: data, MediaType: "application/json"}}
	} else {
		msg.Kind, msg.Role = "message", "user"
		msg.Parts = []a2aOutPart{{Kind: "data", Data: data}}
	}
	return msg
}

// newA2AID returns a random UUID (version 4) for a message id.
func newA2AID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// call makes one JSON-RPC call and returns its result.
func (c *A2AClient) call(ctx context.Context, agentURL, method string, params any, token string, v1 bool) (json.RawMessage, error) {
	id := c.ids.Add(1)
	body, err := json.Marshal(a2aRPCRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("a2a: encode %s: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, agentURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("a2a: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if v1 {
		req.Header.Set(a2aVersionHeader, a2aVersionV1)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrA2AUnreachable, method, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, a2aErrorExcerpt))
		return nil, fmt.Errorf("%s: %w", method, &A2AStatusError{
			StatusCode: resp.StatusCode,
			Body:       string(truncate(bytes.TrimSpace(excerpt), a2aErrorExcerpt)),
		})
	}
	data, err := readBody(resp.Body, c.maxResp)
	switch {
	case errors.Is(err, ErrMessageTooLarge):
		return nil, fmt.Errorf("%w: %s: response larger than %d bytes", ErrA2AProtocol, method, c.maxResp)
	case err != nil:
		return nil, fmt.Errorf("%w: %s: reading the response: %w", ErrA2AUnreachable, method, err)
	}
	result, err := decodeA2AResponse(data, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return result, nil
}

// decodeA2AResponse checks that data is the JSON-RPC 2.0 response to
// request id and returns its result, or its error as ErrA2ARemote wrapping
// an *RPCError.
func decodeA2AResponse(data []byte, id int64) (json.RawMessage, error) {
	var r struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result"`
		Error   json.RawMessage `json:"error"`
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON-RPC response: %s", ErrA2AProtocol, truncate(trimmed, 120))
	}
	if err := json.Unmarshal(trimmed, &r); err != nil {
		return nil, fmt.Errorf("%w: not a JSON-RPC response (%w): %s", ErrA2AProtocol, err, truncate(trimmed, 120))
	}
	if r.JSONRPC != "2.0" {
		return nil, fmt.Errorf("%w: jsonrpc is %q, not \"2.0\"", ErrA2AProtocol, truncate([]byte(r.JSONRPC), 20))
	}
	want := strconv.FormatInt(id, 10)
	idOK := string(r.ID) == want
	if present(r.Error) {
		var e RPCError
		if err := json.Unmarshal(r.Error, &e); err != nil || e.Message == "" && e.Code == 0 {
			return nil, fmt.Errorf("%w: malformed error object: %s", ErrA2AProtocol, truncate(r.Error, 120))
		}
		// A request the agent could not read is answered with a null id.
		if !idOK && present(r.ID) {
			return nil, fmt.Errorf("%w: response id %s, want %s", ErrA2AProtocol, truncate(r.ID, 40), want)
		}
		return nil, fmt.Errorf("%w: %w", ErrA2ARemote, &e)
	}
	if !present(r.Result) {
		return nil, fmt.Errorf("%w: response has neither result nor error", ErrA2AProtocol)
	}
	if !idOK {
		return nil, fmt.Errorf("%w: response id %s, want %s", ErrA2AProtocol, truncate(r.ID, 40), want)
	}
	return r.Result, nil
}

// a2aOutcome is what a message/send, SendMessage, tasks/get or GetTask
// result says.
type a2aOutcome struct {
	isTask bool
	taskID string
	state  string          // 0.3 spelling
	result json.RawMessage // simplified answer
}

// pending reports whether the task is still to be waited for.
func (o a2aOutcome) pending() bool { return o.state == "submitted" || o.state == "working" }

// parseA2AResult reads a JSON-RPC result of either protocol version: a 0.3
// Message or Task (told apart by "kind"), a 1.0 SendMessage result
// ({"task": ...} or {"message": ...}) or a bare 1.0 Task or Message.
func parseA2AResult(raw []byte) (a2aOutcome, error) {
	obj, err := a2aObject(raw)
	if err != nil {
		return a2aOutcome{}, err
	}
	kind, _ := a2aString(obj["kind"])
	switch {
	case kind == "message":
		return parseA2AMessage(raw, obj)
	case kind == "task":
		return parseA2ATask(raw, obj)
	case kind != "":
		return a2aOutcome{}, fmt.Errorf("result of kind %q is neither a message nor a task", truncate([]byte(kind), 40))
	case present(obj["task"]):
		inner, err := a2aObject(obj["task"])
		if err != nil {
			return a2aOutcome{}, fmt.Errorf("task: %w", err)
		}
		return parseA2ATask(obj["task"], inner)
	case present(obj["message"]):
		inner, err := a2aObject(obj["message"])
		if err != nil {
			return a2aOutcome{}, fmt.Errorf("message: %w", err)
		}
		return parseA2AMessage(obj["message"], inner)
	case present(obj["status"]):
		return parseA2ATask(raw, obj)
	case present(obj["parts"]):
		return parseA2AMessage(raw, obj)
	}
	return a2aOutcome{}, errors.New("result is neither a message nor a task")
}

// parseA2AMessage reads a Message: a direct, completed answer.
func parseA2AMessage(raw []byte, obj map[string]json.RawMessage) (a2aOutcome, error) {
	parts, err := a2aParts(obj["parts"])
	if err != nil {
		return a2aOutcome{}, fmt.Errorf("message parts: %w", err)
	}
	return a2aOutcome{state: "completed", result: simplifyA2AParts(parts, raw)}, nil
}

// parseA2ATask reads a Task: its id, state and answer.
func parseA2ATask(raw []byte, obj map[string]json.RawMessage) (a2aOutcome, error) {
	out := a2aOutcome{isTask: true}
	if present(obj["id"]) {
		id, ok := a2aString(obj["id"])
		if !ok {
			return a2aOutcome{}, errors.New("task id is not a string")
		}
		out.taskID = id
	}
	status, err := a2aObject(obj["status"])
	if err != nil {
		return a2aOutcome{}, fmt.Errorf("task status: %w", err)
	}
	state, ok := a2aString(status["state"])
	if ok {
		state = normalizeA2AState(state)
	}
	if !ok || state == "" || len(state) > a2aMaxState {
		return a2aOutcome{}, fmt.Errorf("task state %s is not a state name", truncate(status["state"], 80))
	}
	out.state = state

	var parts []a2aPart
	if present(obj["artifacts"]) {
		var artifacts []json.RawMessage
		if err := json.Unmarshal(obj["artifacts"], &artifacts); err != nil {
			return a2aOutcome{}, errors.New("task artifacts are not an array")
		}
		for i, a := range artifacts {
			art, err := a2aObject(a)
			if err != nil {
				return a2aOutcome{}, fmt.Errorf("artifact %d: %w", i, err)
			}
			p, err := a2aParts(art["parts"])
			if err != nil {
				return a2aOutcome{}, fmt.Errorf("artifact %d parts: %w", i, err)
			}
			parts = append(parts, p...)
		}
	}
	if len(parts) == 0 && present(status["message"]) {
		msg, err := a2aObject(status["message"])
		if err != nil {
			return a2aOutcome{}, fmt.Errorf("task status message: %w", err)
		}
		if parts, err = a2aParts(msg["parts"]); err != nil {
			return a2aOutcome{}, fmt.Errorf("task status message parts: %w", err)
		}
	}
	out.result = simplifyA2AParts(parts, raw)
	return out, nil
}

// normalizeA2AState spells a state as protocol 0.3 does: 1.0's
// "TASK_STATE_INPUT_REQUIRED" becomes "input-required".
func normalizeA2AState(s string) string {
	s = strings.ToLower(s)
	s = strings.TrimPrefix(s, "task_state_")
	return strings.ReplaceAll(s, "_", "-")
}

// a2aPartKind is what a part holds.
type a2aPartKind int

const (
	a2aPartOther a2aPartKind = iota // a file, or something unknown
	a2aPartText
	a2aPartData
)

// a2aPart is one part of a message or artifact, in either protocol's shape.
type a2aPart struct {
	kind a2aPartKind
	text string
	data json.RawMessage
}

// a2aParts reads a parts array (absent or null means none).
func a2aParts(raw json.RawMessage) ([]a2aPart, error) {
	if !present(raw) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("not an array")
	}
	parts := make([]a2aPart, 0, len(items))
	for i, item := range items {
		obj, err := a2aObject(item)
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", i, err)
		}
		parts = append(parts, classifyA2APart(obj))
	}
	return parts, nil
}

// classifyA2APart tells a part's content: by "kind" in 0.3, by which member
// is present in 1.0.
func classifyA2APart(obj map[string]json.RawMessage) a2aPart {
	kind, _ := a2aString(obj["kind"])
	switch {
	case kind == "text" || kind == "" && present(obj["text"]):
		if t, ok := a2aString(obj["text"]); ok {
			return a2aPart{kind: a2aPartText, text: t}
		}
	case kind == "data" && len(obj["data"]) > 0 || kind == "" && present(obj["data"]):
		return a2aPart{kind: a2aPartData, data: obj["data"]}
	}
	return a2aPart{kind: a2aPartOther}
}

// simplifyA2AParts is the simplified answer of parts: a single data part's
// data, {"text": ...} for text parts only, or else raw, the whole object.
func simplifyA2AParts(parts []a2aPart, raw []byte) json.RawMessage {
	if len(parts) == 1 && parts[0].kind == a2aPartData {
		return parts[0].data
	}
	if len(parts) > 0 {
		texts := make([]string, 0, len(parts))
		for _, p := range parts {
			if p.kind != a2aPartText {
				return raw
			}
			texts = append(texts, p.text)
		}
		b, err := json.Marshal(map[string]string{"text": strings.Join(texts, "\n")})
		if err == nil {
			return b
		}
	}
	return raw
}

// a2aObject decodes a JSON object into its members.
func a2aObject(raw []byte) (map[string]json.RawMessage, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(t, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return obj, nil
}

// a2aString decodes a JSON string; ok is false when v is not one.
func a2aString(v json.RawMessage) (s string, ok bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// a2aCard is what the client needs of an agent card: the protocol versions
// it declares. The zero card (no card, or an unreadable one) means 0.3.
type a2aCard struct {
	version string     // the top-level protocolVersion (0.3 cards)
	ifaces  []a2aIface // the JSON-RPC interfaces (1.0 supportedInterfaces)
}

// a2aIface is a JSON-RPC interface of an agent card.
type a2aIface struct {
	url     string
	version string
}

// parseA2ACard reads the versions an agent card declares.
func parseA2ACard(data []byte) *a2aCard {
	var raw struct {
		ProtocolVersion     string `json:"protocolVersion"`
		SupportedInterfaces []struct {
			URL             string `json:"url"`
			ProtocolBinding string `json:"protocolBinding"`
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"supportedInterfaces"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return &a2aCard{}
	}
	card := &a2aCard{version: raw.ProtocolVersion}
	for _, i := range raw.SupportedInterfaces[:min(len(raw.SupportedInterfaces), a2aMaxInterfaces)] {
		if strings.EqualFold(i.ProtocolBinding, a2aBindingJSONRPC) {
			card.ifaces = append(card.ifaces, a2aIface{url: i.URL, version: i.ProtocolVersion})
		}
	}
	return card
}

// major is the major protocol version to speak to agentURL: that of the
// JSON-RPC interface at that URL, else the card's top-level
// protocolVersion, else that of its first JSON-RPC interface, else 0.
func (c *a2aCard) major(agentURL string) int {
	want := strings.TrimRight(agentURL, "/")
	for _, i := range c.ifaces {
		if strings.TrimRight(i.url, "/") == want {
			return a2aMajor(i.version)
		}
	}
	if c.version != "" {
		return a2aMajor(c.version)
	}
	if len(c.ifaces) > 0 {
		return a2aMajor(c.ifaces[0].version)
	}
	return 0
}

// a2aMajor is the major number of a version such as "1.0" or "0.3.0"; 0
// when it is not one.
func a2aMajor(v string) int {
	head, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".")
	n, err := strconv.Atoi(head)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// fetchCard reads the agent card of origin (scheme://host). An agent
// without a readable card gets the zero card. It fails only when the agent
// does not answer at all. The request carries no token: a card is public,
// and one cached card serves every caller.
func (c *A2AClient) fetchCard(ctx context.Context, origin string) (*a2aCard, error) {
	ctx, cancel := context.WithTimeout(ctx, a2aCardTimeout)
	defer cancel()
	for _, path := range []string{a2aCardPath, a2aLegacyCardPath} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, origin+path, nil)
		if err != nil {
			return nil, fmt.Errorf("a2a: agent card: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%w: agent card: %w", ErrA2AUnreachable, err)
		}
		data, rerr := readBody(resp.Body, a2aMaxCard)
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 || rerr != nil || !json.Valid(data) {
			continue
		}
		return parseA2ACard(data), nil
	}
	return &a2aCard{}, nil
}

// a2aCardCache holds agent cards by origin for a2aCardTTL, at most
// a2aCardCacheSize of them. Concurrent lookups of one origin share a
// single fetch.
type a2aCardCache struct {
	mu sync.Mutex
	m  map[string]*a2aCardEntry
}

// a2aCardEntry is a cached card, or a fetch in progress while ready is
// open.
type a2aCardEntry struct {
	ready   chan struct{}
	card    *a2aCard  // set before ready is closed; nil when the fetch failed
	expires time.Time // likewise
}

// get returns the card of origin, fetching it when it is not cached or
// has expired. A failed fetch is not cached.
func (cc *a2aCardCache) get(ctx context.Context, origin string, fetch func(context.Context, string) (*a2aCard, error)) (*a2aCard, error) {
	for {
		cc.mu.Lock()
		e := cc.m[origin]
		if e != nil {
			select {
			case <-e.ready:
				if e.card != nil && time.Now().Before(e.expires) {
					cc.mu.Unlock()
					return e.card, nil
				}
				delete(cc.m, origin)
				e = nil
			default:
			}
		}
		if e != nil {
			cc.mu.Unlock()
			select {
			case <-e.ready:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: agent card: %w", ErrA2AUnreachable, ctx.Err())
			}
		}
		cc.evictLocked()
		e = &a2aCardEntry{ready: make(chan struct{})}
		cc.m[origin] = e
		cc.mu.Unlock()

		card, err := fetch(ctx, origin)
		cc.mu.Lock()
		if err != nil {
			if cc.m[origin] == e {
				delete(cc.m, origin)
			}
		} else {
			e.card, e.expires = card, time.Now().Add(a2aCardTTL)
		}
		close(e.ready)
		cc.mu.Unlock()
		return card, err
	}
}

// evictLocked makes room for one more entry: it drops expired cards, then
// if need be arbitrary settled ones. Fetches in progress are kept.
func (cc *a2aCardCache) evictLocked() {
	if len(cc.m) < a2aCardCacheSize {
		return
	}
	now := time.Now()
	for k, e := range cc.m {
		select {
		case <-e.ready:
			if !now.Before(e.expires) {
				delete(cc.m, k)
			}
		default:
		}
	}
	for k, e := range cc.m {
		if len(cc.m) < a2aCardCacheSize {
			return
		}
		select {
		case <-e.ready:
			delete(cc.m, k)
		default:
		}
	}
}
