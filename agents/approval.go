package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-mcp/switchyard/audit"
	"github.com/switchyard-mcp/switchyard/call"
	"github.com/switchyard-mcp/switchyard/events"
)

// Approval statuses. An approved call runs at once and ends completed (its
// result kept) or failed.
const (
	ApprovalPending   = "pending"
	ApprovalApproved  = "approved"
	ApprovalCompleted = "completed"
	ApprovalFailed    = "failed"
	ApprovalDenied    = "denied"
	ApprovalExpired   = "expired"
)

// ApprovalInfo is a snapshot of a human-in-the-loop approval.
type ApprovalInfo struct {
	ID          string          `json:"id"`
	Session     string          `json:"session_id,omitempty"`
	Tenant      string          `json:"tenant_id"`
	Server      string          `json:"server_id"`
	Tool        string          `json:"tool_name"`
	Arguments   json.RawMessage `json:"arguments"`
	Status      string          `json:"status"`
	RequestType string          `json:"request_type"`
	RequestedBy string          `json:"requested_by,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	ResolvedAt  *time.Time      `json:"resolved_at,omitempty"`
	ResolvedBy  string          `json:"resolved_by,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	IsError     bool            `json:"is_error,omitempty"`
	Error       string          `json:"error,omitempty"`
	LatencyMs   float64         `json:"latency_ms,omitempty"`
}

// ended reports whether the approval reached a final status.
func (a *ApprovalInfo) ended() bool {
	switch a.Status {
	case ApprovalPending, ApprovalApproved:
		return false
	}
	return true
}

// approvalRef indexes an approval actor; its done closes when the approval
// reaches a final status.
type approvalRef = entityRef[ApprovalInfo]

// Messages of the approval actor.
type (
	approvalDecide struct {
		approve   bool
		principal string
	}
	approvalRan struct {
		res *call.Result
		err error
	}
	approvalExpire struct{}
)

// approval is the actor holding one deferred tool call until a human
// approves (it runs then), denies it, or it expires.
type approval struct {
	gw    *Gateway
	ref   *approvalRef
	call  call.Request
	info  ApprovalInfo
	timer *time.Timer
	self  *actor.PID
}

// Receive implements actor.Actor.
func (a *approval) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		self, root := a.self, a.gw.system.Root
		a.timer = time.AfterFunc(time.Until(a.info.ExpiresAt), func() { root.Send(self, &approvalExpire{}) })
	case *approvalDecide:
		ctx.Respond(a.decide(m))
	case *approvalRan:
		a.info.Status = ApprovalCompleted
		if m.res != nil {
			a.info.Result, a.info.IsError = m.res.Result, m.res.IsError
			a.info.LatencyMs = float64(m.res.Latency.Microseconds()) / 1000
		}
		if m.err != nil {
			a.info.Status = ApprovalFailed
			a.info.Error = m.err.Error()
		}
		a.finish()
	case *approvalExpire:
		if a.info.Status == ApprovalPending {
			now := time.Now().UTC()
			a.info.Status, a.info.ResolvedAt = ApprovalExpired, &now
			a.finish()
		}
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
		switch a.info.Status {
		case ApprovalPending:
			a.info.Status = ApprovalExpired
			a.finish()
		case ApprovalApproved:
			// Its call's outcome can no longer arrive; waiters are told.
			a.info.Status, a.info.Error = ApprovalFailed, "gateway shutting down"
			a.finish()
		}
	}
}

func (a *approval) decide(m *approvalDecide) any {
	if a.info.Status != ApprovalPending {
		return fmt.Errorf("%w: approval %s is %s", ErrNotPending, a.info.ID, a.info.Status)
	}
	a.timer.Stop()
	now := time.Now().UTC()
	a.info.ResolvedAt, a.info.ResolvedBy = &now, m.principal
	gw := a.gw
	outcome := ApprovalDenied
	if m.approve {
		outcome = ApprovalApproved
		gw.metrics.hitlApproved.Inc()
	} else {
		gw.metrics.hitlDenied.Inc()
	}
	gw.audit.Record(audit.Entry{Kind: audit.KindApproval, Tenant: a.info.Tenant, Principal: m.principal,
		Session: a.info.Session, Server: a.info.Server, Tool: a.info.Tool, Outcome: outcome,
		InputSHA256: audit.Hash(a.info.Arguments), Detail: "approval " + a.info.ID})
	if !m.approve {
		a.info.Status = ApprovalDenied
		snap := a.info
		a.finish()
		return &snap
	}
	a.info.Status = ApprovalApproved
	snap := a.info
	a.publish()
	// The call runs off the mailbox and reports back as approvalRan.
	gw, self, req := a.gw, a.self, a.call
	gw.track(func() {
		ctx, cancel := context.WithTimeout(gw.ctx, 10*time.Minute)
		defer cancel()
		res, err := gw.calls.Call(ctx, &req)
		gw.system.Root.Send(self, &approvalRan{res: res, err: err})
	})
	return &snap
}

func (a *approval) publish() {
	c := a.info
	a.ref.info.Store(&c)
	a.gw.hub.Publish("", events.ApprovalChanged{Tenant: a.info.Tenant, Approval: a.info.ID,
		Session: a.info.Session, Tool: a.info.Tool, Status: a.info.Status})
}

// finish publishes a final status and lets waiters go.
func (a *approval) finish() {
	a.publish()
	a.ref.closeDone()
	a.gw.pruneApprovals()
}

// RequestApproval holds a call in a new approval actor until a human
// decides it, and returns the approval's id; approved, the call runs
// through the Caller with Approval set.
func (g *Gateway) RequestApproval(c *call.Request) (string, error) {
	now := time.Now().UTC()
	info := ApprovalInfo{
		ID: NewID("hitl-"), Session: c.Session, Tenant: c.Tenant, Server: c.Target, Tool: c.Tool,
		Arguments: c.Args, Status: ApprovalPending, RequestType: "tool_call", RequestedBy: c.Principal,
		CreatedAt: now, ExpiresAt: now.Add(g.opts.ApprovalTTL),
	}
	ref := newEntityRef(info.ID, c.Tenant, &info)
	req := *c
	req.Approval = ref.id
	_, err := g.spawn(g.approvalsSup, &spawnChild{
		name:     ref.id,
		producer: func() actor.Actor { return &approval{gw: g, ref: ref, call: req, info: info} },
		admit: func() error {
			if n := g.pendingApprovals(c.Tenant); n >= g.opts.MaxPending {
				return fmt.Errorf("%w: tenant %s has %d approvals pending", call.ErrLimit, c.Tenant, n)
			}
			return nil
		},
		register: ref.indexIn(g, g.approvals),
	})
	if err != nil {
		return "", err
	}
	g.metrics.hitl.Inc()
	g.hub.Publish("", events.ApprovalChanged{Tenant: c.Tenant, Approval: ref.id, Session: c.Session, Tool: c.Tool, Status: ApprovalPending})
	return ref.id, nil
}

func (g *Gateway) pendingApprovals(tenant string) int {
	return count(g, g.approvals, func(a *approvalRef) bool {
		return a.tenant == tenant && a.info.Load().Status == ApprovalPending
	})
}

// pruneApprovals stops and forgets the oldest ended approvals beyond
// KeepEnded.
func (g *Gateway) pruneApprovals() {
	pruneEnded(g, g.approvals, func(info *ApprovalInfo) (bool, time.Time) {
		return info.ended(), info.CreatedAt
	})
}

func (g *Gateway) tenantApproval(tenant, id string) (*approvalRef, error) {
	return tenantEntry(g, g.approvals, tenant, id, ErrApprovalNotFound)
}

// Approval returns an approval of the tenant.
func (g *Gateway) Approval(tenant, id string) (*ApprovalInfo, error) {
	ref, err := g.tenantApproval(tenant, id)
	if err != nil {
		return nil, err
	}
	return ref.info.Load(), nil
}

// WaitApproval waits (bounded by ctx) until an approval of the tenant has
// reached a final status, and returns it.
func (g *Gateway) WaitApproval(ctx context.Context, tenant, id string) (*ApprovalInfo, error) {
	ref, err := g.tenantApproval(tenant, id)
	if err != nil {
		return nil, err
	}
	select {
	case <-ref.done:
		return ref.info.Load(), nil
	case <-ctx.Done():
		return ref.info.Load(), ctx.Err()
	}
}

// Approvals lists a tenant's approvals with the given status ("" for all),
// oldest first (empty, not nil, for none).
func (g *Gateway) Approvals(tenant, status string) []*ApprovalInfo {
	return tenantEntries(g, g.approvals, tenant,
		func(a *ApprovalInfo) bool { return status == "" || a.Status == status },
		func(a *ApprovalInfo) (time.Time, string) { return a.CreatedAt, a.ID })
}

// DecideApproval approves (the call runs now) or denies a pending approval
// of the tenant. A decided approval is ErrNotPending.
func (g *Gateway) DecideApproval(tenant, principal, id string, approve bool) (*ApprovalInfo, error) {
	ref, err := g.tenantApproval(tenant, id)
	if err != nil {
		return nil, err
	}
	res, err := g.system.Root.RequestFuture(ref.pid, &approvalDecide{approve: approve, principal: principal}, 10*time.Second).Result()
	if err != nil {
		if errors.Is(err, actor.ErrDeadLetter) {
			return nil, fmt.Errorf("%w: %q", ErrApprovalNotFound, id)
		}
		return nil, fmt.Errorf("%w: approval %s: %w", call.ErrUnavailable, id, err)
	}
	switch v := res.(type) {
	case *ApprovalInfo:
		return v, nil
	case error:
		return nil, v
	}
	return nil, fmt.Errorf("%w: approval %s gave no answer", call.ErrUnavailable, id)
}
