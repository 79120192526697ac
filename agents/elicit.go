package agents

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/switchyard-mcp/switchyard/call"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/internal/jsonx"
	"github.com/switchyard-mcp/switchyard/schema"
)

// Elicitation statuses.
const (
	ElicitationPending   = "pending"
	ElicitationResponded = "responded"
	ElicitationExpired   = "expired"
)

// ElicitationSpec asks a human for structured input on behalf of a
// session.
type ElicitationSpec struct {
	Tenant, Session, Tool, Message string
	// Schema is the JSON Schema the response must conform to.
	Schema json.RawMessage
}

// ElicitationInfo is a snapshot of an elicitation.
type ElicitationInfo struct {
	ID          string          `json:"elicitation_id"`
	Status      string          `json:"status"`
	Type        string          `json:"type"`
	Tenant      string          `json:"tenant_id"`
	Session     string          `json:"session_id"`
	Tool        string          `json:"tool_name"`
	Message     string          `json:"message"`
	Schema      json.RawMessage `json:"schema"`
	Response    json.RawMessage `json:"response,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	RespondedAt *time.Time      `json:"responded_at,omitempty"`
	// Server is set when a server asked for the input during a tool call;
	// the call resumes with the response, and its outcome is kept here.
	Server     string          `json:"server_id,omitempty"`
	CallResult json.RawMessage `json:"call_result,omitempty"`
	CallError  string          `json:"call_error,omitempty"`
	// Next names the elicitation the resumed call asked for next, if any.
	Next string `json:"next_elicitation_id,omitempty"`
}

// resumeCall is a tool call waiting for a human's input: it is retried with
// the response under the server's input request key and request state.
type resumeCall struct {
	call  call.Request
	key   string
	state string
}

// elicitation is one pending question. It has no actor: its whole life is
// one answer, guarded by mu, with done closed when it is answered.
type elicitation struct {
	mu     sync.Mutex
	info   ElicitationInfo
	done   chan struct{}
	resume *resumeCall
}

func (e *elicitation) snapshot(now time.Time) *ElicitationInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.info.Status == ElicitationPending && now.After(e.info.ExpiresAt) {
		e.info.Status = ElicitationExpired
	}
	c := e.info
	return &c
}

// Elicit records a question for the session's human. The schema must
// compile; the session must be one of the tenant's.
func (g *Gateway) Elicit(spec ElicitationSpec) (*ElicitationInfo, error) {
	if _, err := g.TenantSession(spec.Tenant, spec.Session); err != nil {
		return nil, err
	}
	if len(spec.Schema) == 0 {
		return nil, fmt.Errorf("%w: schema is required", call.ErrInvalid)
	}
	if err := g.schemas.Validate(spec.Schema, nil); errors.Is(err, schema.ErrSchema) {
		return nil, fmt.Errorf("%w: %w", call.ErrInvalid, err)
	}
	return g.newElicitation(spec, nil)
}

// newElicitation records a pending question, with the call to resume when
// it is answered (nil for a question asked over REST).
func (g *Gateway) newElicitation(spec ElicitationSpec, resume *resumeCall) (*ElicitationInfo, error) {
	now := time.Now().UTC()
	e := &elicitation{done: make(chan struct{}), resume: resume, info: ElicitationInfo{
		ID: newUUID(), Status: ElicitationPending, Type: "elicitation", Tenant: spec.Tenant,
		Session: spec.Session, Tool: spec.Tool, Message: spec.Message, Schema: spec.Schema,
		CreatedAt: now, ExpiresAt: now.Add(g.opts.ElicitationTTL),
	}}
	if resume != nil {
		e.info.Server = resume.call.Target
	}
	g.mu.Lock()
	pending := 0
	for _, x := range g.elicitations {
		if x.info.Tenant == spec.Tenant && x.snapshot(now).Status == ElicitationPending {
			pending++
		}
	}
	if pending >= g.opts.MaxPending {
		g.mu.Unlock()
		return nil, fmt.Errorf("%w: tenant %s has %d elicitations pending", call.ErrLimit, spec.Tenant, pending)
	}
	g.elicitations[e.info.ID] = e
	g.pruneElicitations(now)
	g.mu.Unlock()
	g.hub.Publish("", events.ElicitationChanged{Tenant: spec.Tenant, Elicitation: e.info.ID, Status: ElicitationPending})
	return e.snapshot(now), nil
}

// pruneElicitations forgets the oldest ended elicitations beyond KeepEnded
// (g.mu held).
func (g *Gateway) pruneElicitations(now time.Time) {
	var ended []*elicitation
	for _, e := range g.elicitations {
		if e.snapshot(now).Status != ElicitationPending {
			ended = append(ended, e)
		}
	}
	if len(ended) <= g.opts.KeepEnded {
		return
	}
	sort.Slice(ended, func(i, j int) bool { return ended[i].info.CreatedAt.Before(ended[j].info.CreatedAt) })
	for _, e := range ended[:len(ended)-g.opts.KeepEnded] {
		delete(g.elicitations, e.info.ID)
	}
}

// owner is the elicitation's tenant (set when it is made, never changed).
func (e *elicitation) owner() string { return e.info.Tenant }

func (g *Gateway) tenantElicitation(tenant, id string) (*elicitation, error) {
	return tenantEntry(g, g.elicitations, tenant, id, ErrElicitationNotFound)
}

// Elicitation returns an elicitation of the tenant.
func (g *Gateway) Elicitation(tenant, id string) (*ElicitationInfo, error) {
	e, err := g.tenantElicitation(tenant, id)
	if err != nil {
		return nil, err
	}
	return e.snapshot(time.Now()), nil
}

// RespondElicitation answers a pending elicitation of the tenant. A
// response that does not conform to the schema is a *schema.ValidationError
// and leaves it pending; an answered or expired one is ErrNotPending.
func (g *Gateway) RespondElicitation(tenant, id string, response json.RawMessage) (*ElicitationInfo, error) {
	e, err := g.tenantElicitation(tenant, id)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if s := e.snapshot(now); s.Status != ElicitationPending {
		return nil, fmt.Errorf("%w: elicitation %s is %s", ErrNotPending, id, s.Status)
	}
	if err := g.schemas.Validate(e.info.Schema, response); err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.info.Status != ElicitationPending {
		st := e.info.Status
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: elicitation %s is %s", ErrNotPending, id, st)
	}
	at := now.UTC()
	e.info.Status, e.info.Response, e.info.RespondedAt = ElicitationResponded, response, &at
	resume := e.resume
	e.mu.Unlock()
	if resume != nil {
		g.resume(e, resume, response)
	}
	close(e.done)
	g.hub.Publish("", events.ElicitationChanged{Tenant: tenant, Elicitation: id, Status: ElicitationResponded})
	return e.snapshot(time.Now()), nil
}

// resume retries the call that asked for the input, with the response as
// the accepted answer, and keeps its outcome on the elicitation.
func (g *Gateway) resume(e *elicitation, rc *resumeCall, response json.RawMessage) {
	req := rc.call
	b := append([]byte(`"inputResponses":{`), jsonx.AppendString(nil, rc.key)...)
	b = append(b, `:{"action":"accept","content":`...)
	b = append(b, response...)
	b = append(b, `}},"requestState":`...)
	req.Extra = jsonx.AppendString(b, rc.state)
	ctx, cancel := context.WithTimeout(g.ctx, 5*time.Minute)
	defer cancel()
	res, err := g.calls.Call(ctx, &req)
	e.mu.Lock()
	defer e.mu.Unlock()
	var next *call.PendingElicitation
	switch {
	case errors.As(err, &next):
		e.info.Next = next.ID
	case err != nil:
		e.info.CallError = err.Error()
	default:
		e.info.CallResult = res.Result
	}
}

// inputRequired is a result by which a server asks the client for input
// before it completes a call (multi round-trip requests).
type inputRequired struct {
	ResultType    string `json:"resultType"`
	InputRequests map[string]struct {
		Method string `json:"method"`
		Params struct {
			Message         string          `json:"message"`
			RequestedSchema json.RawMessage `json:"requestedSchema"`
		} `json:"params"`
	} `json:"inputRequests"`
	RequestState string `json:"requestState"`
}

// HoldInput turns a call result that asks for input into a pending
// elicitation holding the call, returned as a *call.PendingElicitation
// (it returns nil for any other result); the call resumes through the
// Caller when the elicitation is answered. The gateway answers one
// elicitation per round; other kinds of input (sampling, roots) are
// refused.
func (g *Gateway) HoldInput(c *call.Request, result []byte) error {
	if !bytes.Contains(result, []byte(`"input_required"`)) {
		return nil
	}
	var ir inputRequired
	if err := json.Unmarshal(result, &ir); err != nil || ir.ResultType != "input_required" {
		return nil
	}
	if len(ir.InputRequests) != 1 {
		return fmt.Errorf("%w: server %s asks for %d inputs at once; the gateway answers one per round", call.ErrBackend, c.Target, len(ir.InputRequests))
	}
	for key, req := range ir.InputRequests {
		if req.Method != "elicitation/create" {
			return fmt.Errorf("%w: server %s asks for %s, which the gateway cannot answer", call.ErrBackend, c.Target, req.Method)
		}
		schemaJSON := req.Params.RequestedSchema
		if len(schemaJSON) == 0 {
			schemaJSON = json.RawMessage(`{"type":"object"}`)
		}
		held := *c
		held.Extra = nil
		info, err := g.newElicitation(ElicitationSpec{Tenant: c.Tenant, Session: c.Session, Tool: c.Tool,
			Message: req.Params.Message, Schema: schemaJSON}, &resumeCall{call: held, key: key, state: ir.RequestState})
		if err != nil {
			return err
		}
		return &call.PendingElicitation{ID: info.ID, Message: info.Message, Schema: info.Schema}
	}
	return nil
}

// WaitElicitation waits (bounded by ctx and the elicitation's expiry) for
// an answer.
func (g *Gateway) WaitElicitation(ctx context.Context, tenant, id string) (*ElicitationInfo, error) {
	e, err := g.tenantElicitation(tenant, id)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Until(e.snapshot(time.Now()).ExpiresAt))
	defer t.Stop()
	select {
	case <-e.done:
	case <-t.C:
	case <-ctx.Done():
		return e.snapshot(time.Now()), ctx.Err()
	}
	return e.snapshot(time.Now()), nil
}

// AwaitInput asks a human for input on behalf of a server (for an MCP
// client that cannot answer elicitations itself): it records a pending
// elicitation of the tenant and waits, bounded by ctx and the
// elicitation's expiry, for the response.
func (g *Gateway) AwaitInput(ctx context.Context, spec ElicitationSpec) (json.RawMessage, error) {
	info, err := g.newElicitation(spec, nil)
	if err != nil {
		return nil, err
	}
	got, err := g.WaitElicitation(ctx, spec.Tenant, info.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: elicitation %s unanswered: %w", call.ErrCancelled, info.ID, err)
	}
	if got.Status != ElicitationResponded {
		return nil, fmt.Errorf("%w: elicitation %s is %s", call.ErrTimeout, info.ID, got.Status)
	}
	return got.Response, nil
}

// GatewayAsker is an asker (an actors.Asker) that holds a server's question as an
// elicitation of the tenant (and session) until a human answers it over
// /v1/elicit.
func (g *Gateway) GatewayAsker(tenant, session, tool string) func(ctx context.Context, message string, schemaJSON json.RawMessage) (json.RawMessage, error) {
	return func(ctx context.Context, message string, schemaJSON json.RawMessage) (json.RawMessage, error) {
		content, err := g.AwaitInput(ctx, ElicitationSpec{Tenant: tenant, Session: session, Tool: tool, Message: message, Schema: schemaJSON})
		if err != nil {
			return nil, err
		}
		b := append([]byte(`{"action":"accept","content":`), content...)
		return append(b, '}'), nil
	}
}
