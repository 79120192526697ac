package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/switchyard-mcp/switchyard/events"
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
}

// elicitation is one pending question. It has no actor: its whole life is
// one answer, guarded by mu, with done closed when it is answered.
type elicitation struct {
	mu   sync.Mutex
	info ElicitationInfo
	done chan struct{}
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
func (r *Runtime) Elicit(spec ElicitationSpec) (*ElicitationInfo, error) {
	if _, err := r.tenantSession(spec.Tenant, spec.Session); err != nil {
		return nil, err
	}
	if len(spec.Schema) == 0 {
		return nil, fmt.Errorf("%w: schema is required", ErrInvalid)
	}
	if err := r.gw.schemas.Validate(spec.Schema, nil); errors.Is(err, schema.ErrSchema) {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	gw := r.gw
	now := time.Now().UTC()
	e := &elicitation{done: make(chan struct{}), info: ElicitationInfo{
		ID: newUUID(), Status: ElicitationPending, Type: "elicitation", Tenant: spec.Tenant,
		Session: spec.Session, Tool: spec.Tool, Message: spec.Message, Schema: spec.Schema,
		CreatedAt: now, ExpiresAt: now.Add(gw.opts.ElicitationTTL),
	}}
	gw.mu.Lock()
	pending := 0
	for _, x := range gw.elicitations {
		if x.info.Tenant == spec.Tenant && x.snapshot(now).Status == ElicitationPending {
			pending++
		}
	}
	if pending >= gw.opts.MaxPending {
		gw.mu.Unlock()
		return nil, fmt.Errorf("%w: tenant %s has %d elicitations pending", ErrLimit, spec.Tenant, pending)
	}
	gw.elicitations[e.info.ID] = e
	gw.pruneElicitations(now)
	gw.mu.Unlock()
	r.hub.Publish("", events.ElicitationChanged{Tenant: spec.Tenant, Elicitation: e.info.ID, Status: ElicitationPending})
	return e.snapshot(now), nil
}

// pruneElicitations forgets the oldest ended elicitations beyond KeepEnded
// (g.mu held).
func (g *gateway) pruneElicitations(now time.Time) {
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

func (r *Runtime) tenantElicitation(tenant, id string) (*elicitation, error) {
	r.gw.mu.RLock()
	e := r.gw.elicitations[id]
	r.gw.mu.RUnlock()
	if e == nil || e.info.Tenant != tenant {
		return nil, fmt.Errorf("%w: %q", ErrElicitationNotFound, id)
	}
	return e, nil
}

// Elicitation returns an elicitation of the tenant.
func (r *Runtime) Elicitation(tenant, id string) (*ElicitationInfo, error) {
	e, err := r.tenantElicitation(tenant, id)
	if err != nil {
		return nil, err
	}
	return e.snapshot(time.Now()), nil
}

// RespondElicitation answers a pending elicitation of the tenant. A
// response that does not conform to the schema is a *schema.ValidationError
// and leaves it pending; an answered or expired one is ErrNotPending.
func (r *Runtime) RespondElicitation(tenant, id string, response json.RawMessage) (*ElicitationInfo, error) {
	e, err := r.tenantElicitation(tenant, id)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if s := e.snapshot(now); s.Status != ElicitationPending {
		return nil, fmt.Errorf("%w: elicitation %s is %s", ErrNotPending, id, s.Status)
	}
	if err := r.gw.schemas.Validate(e.info.Schema, response); err != nil {
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
	close(e.done)
	c := e.info
	e.mu.Unlock()
	r.hub.Publish("", events.ElicitationChanged{Tenant: tenant, Elicitation: id, Status: ElicitationResponded})
	return &c, nil
}

// WaitElicitation waits (bounded by ctx and the elicitation's expiry) for
// an answer.
func (r *Runtime) WaitElicitation(ctx context.Context, tenant, id string) (*ElicitationInfo, error) {
	e, err := r.tenantElicitation(tenant, id)
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
