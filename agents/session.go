package agents

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-mcp/switchyard/audit"
	"github.com/switchyard-mcp/switchyard/call"
	"github.com/switchyard-mcp/switchyard/events"
)

// Session statuses.
const (
	SessionActive     = "active"
	SessionTerminated = "terminated"
	SessionExpired    = "expired"
)

// SessionSpec creates an agent session.
type SessionSpec struct {
	Tenant    string
	Agent     string
	Allowlist []string
	// TokenBudget bounds the tokens the session's calls may use (0 = no
	// budget).
	TokenBudget int64
	Metadata    json.RawMessage
}

// SessionInfo is a consistent snapshot of a session, published by its
// actor on every change.
type SessionInfo struct {
	ID          string          `json:"id"`
	Tenant      string          `json:"tenant_id"`
	Agent       string          `json:"agent_id"`
	Allowlist   []string        `json:"tool_allowlist"`
	TokenBudget int64           `json:"token_budget"`
	TokensUsed  int64           `json:"tokens_used"`
	ToolCalls   int64           `json:"tool_calls"`
	InFlight    int             `json:"in_flight"`
	Status      string          `json:"status"`
	CreatedAt   time.Time       `json:"created_at"`
	EndedAt     *time.Time      `json:"ended_at,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// sessionRef indexes a session actor; its done closes when the actor has
// stopped.
type sessionRef = entityRef[SessionInfo]

// SessionRef is the handle on a session actor the call pipeline holds
// while a call runs in the session (see TenantSession, Admit and Done).
type SessionRef = sessionRef

// Messages of the session actor.
type (
	// sessionAdmit asks to start a call (or with peek only to check that
	// it could start); the answer goes to reply.
	sessionAdmit struct {
		tool     string
		maxCalls int
		peek     bool
		// upfront is charged at admission: the part of the call's cost its
		// arguments make, known before it runs.
		upfront int64
		reply   chan error
	}
	// sessionDone accounts a finished call: the rest of its cost.
	sessionDone struct{ tokens int64 }
	// sessionEnd terminates the session.
	sessionEnd struct{}
	// sessionGet asks for the session's snapshot.
	sessionGet struct{}
	// sessionIdle is the idle timer firing.
	sessionIdle struct{}
)

// session is the actor owning one agent session: its allowlist, budget and
// counters. Every admission and every accounting passes through its mailbox,
// so the counters are exact under any concurrency.
type session struct {
	gw       *Gateway
	ref      *sessionRef
	info     SessionInfo
	allow    map[string]struct{}
	inflight int
	last     time.Time
	idleT    *time.Timer
	self     *actor.PID
}

// Receive implements actor.Actor.
func (s *session) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.self = ctx.Self()
		s.last = time.Now()
		s.armIdle()
	case *sessionAdmit:
		m.reply <- s.admit(m)
	case *sessionDone:
		s.info.TokensUsed += m.tokens
		s.inflight--
		s.last = time.Now()
		s.publish()
	case *sessionEnd:
		if s.info.Status == SessionActive {
			s.end(SessionTerminated)
		}
		ctx.Respond(s.snapshot())
	case *sessionGet:
		ctx.Respond(s.snapshot())
	case *sessionIdle:
		s.idleT = nil
		if s.info.Status != SessionActive {
			return
		}
		ttl := s.gw.opts.SessionIdleTTL
		if s.inflight == 0 && time.Since(s.last) >= ttl {
			s.end(SessionExpired)
			return
		}
		s.armIdle()
	case *actor.Stopping:
		if s.idleT != nil {
			s.idleT.Stop()
		}
		if s.info.Status == SessionActive {
			s.end(SessionExpired)
		}
	case *actor.Stopped:
		s.ref.closeDone()
	}
}

func (s *session) admit(m *sessionAdmit) error {
	switch {
	case s.info.Status != SessionActive:
		s.gw.metrics.sessionRefused.Inc()
		return fmt.Errorf("%w: session %s is %s", ErrSessionClosed, s.info.ID, s.info.Status)
	case !s.allowed(m.tool):
		s.gw.metrics.allowlistRefused.Inc()
		return fmt.Errorf("%w: %q is not in session %s's allowlist", ErrToolNotAllowed, m.tool, s.info.ID)
	case s.info.TokenBudget > 0 && s.info.TokensUsed >= s.info.TokenBudget:
		s.gw.metrics.budgetRefused.Inc()
		return fmt.Errorf("%w: session %s used %d of %d tokens", ErrBudgetExceeded, s.info.ID, s.info.TokensUsed, s.info.TokenBudget)
	case m.maxCalls > 0 && s.info.ToolCalls >= int64(m.maxCalls):
		s.gw.metrics.callLimitRefused.Inc()
		return fmt.Errorf("%w: session %s made %d tool calls, the tenant's limit", ErrCallLimit, s.info.ID, s.info.ToolCalls)
	}
	if m.peek {
		return nil
	}
	s.info.ToolCalls++
	s.info.TokensUsed += m.upfront
	s.inflight++
	s.last = time.Now()
	s.publish()
	return nil
}

func (s *session) allowed(tool string) bool {
	_, ok := s.allow[tool]
	return ok
}

func (s *session) snapshot() *SessionInfo {
	c := s.info
	c.InFlight = s.inflight
	return &c
}

func (s *session) publish() { s.ref.info.Store(s.snapshot()) }

func (s *session) armIdle() {
	ttl := s.gw.opts.SessionIdleTTL
	wait := ttl - time.Since(s.last)
	if wait <= 0 {
		wait = ttl
	}
	self, root := s.self, s.gw.system.Root
	s.idleT = time.AfterFunc(wait, func() { root.Send(self, &sessionIdle{}) })
}

// end moves the session out of active, for good.
func (s *session) end(status string) {
	now := time.Now().UTC()
	s.info.Status = status
	s.info.EndedAt = &now
	if s.idleT != nil {
		s.idleT.Stop()
		s.idleT = nil
	}
	s.gw.metrics.active.Dec()
	s.publish()
	s.gw.hub.Publish("", events.SessionChanged{Tenant: s.info.Tenant, Session: s.info.ID, Status: status})
	s.gw.pruneSessions()
}

// CreateSession starts a session actor for the tenant. The tenant's
// max_concurrent_sessions is checked and taken in the sessions
// supervisor's mailbox, so concurrent creations never exceed it.
func (g *Gateway) CreateSession(spec SessionSpec) (*SessionInfo, error) {
	if spec.Allowlist == nil {
		spec.Allowlist = []string{}
	}
	if spec.TokenBudget < 0 {
		return nil, fmt.Errorf("%w: token_budget must not be negative", call.ErrInvalid)
	}
	info := SessionInfo{
		ID: NewID("sess-"), Tenant: spec.Tenant, Agent: spec.Agent,
		Allowlist: slices.Clone(spec.Allowlist), TokenBudget: spec.TokenBudget,
		Status: SessionActive, CreatedAt: time.Now().UTC(), Metadata: spec.Metadata,
	}
	ref := newEntityRef(info.ID, spec.Tenant, &info)
	allow := make(map[string]struct{}, len(spec.Allowlist))
	for _, t := range spec.Allowlist {
		allow[t] = struct{}{}
	}
	limit := g.Policy(spec.Tenant).MaxConcurrentSessions
	_, err := g.spawn(g.sessionsSup, &spawnChild{
		name:     ref.id,
		producer: func() actor.Actor { return &session{gw: g, ref: ref, info: info, allow: allow} },
		admit: func() error {
			if limit > 0 && g.activeSessions(spec.Tenant) >= limit {
				return fmt.Errorf("%w: tenant %s has %d active sessions", ErrSessionLimit, spec.Tenant, limit)
			}
			return nil
		},
		register: func(pid *actor.PID) {
			ref.indexIn(g, g.sessions)(pid)
			g.metrics.sessions.Inc()
			g.metrics.active.Inc()
		},
	})
	if err != nil {
		return nil, err
	}
	g.hub.Publish("", events.SessionChanged{Tenant: spec.Tenant, Session: ref.id, Status: SessionActive})
	return ref.info.Load(), nil
}

// activeSessions counts a tenant's active sessions.
func (g *Gateway) activeSessions(tenant string) int {
	return count(g, g.sessions, func(s *sessionRef) bool {
		return s.tenant == tenant && s.info.Load().Status == SessionActive
	})
}

// pruneSessions stops and forgets the oldest ended sessions beyond
// KeepEnded.
func (g *Gateway) pruneSessions() {
	pruneEnded(g, g.sessions, func(info *SessionInfo) (bool, time.Time) {
		if info.EndedAt == nil {
			return false, time.Time{}
		}
		return true, *info.EndedAt
	})
}

// TenantSession finds a session of the tenant, for a call that runs in
// it; another tenant's session is ErrSessionNotFound.
func (g *Gateway) TenantSession(tenant, id string) (*sessionRef, error) {
	return tenantEntry(g, g.sessions, tenant, id, ErrSessionNotFound)
}

// Session returns a session of the tenant. It asks the session actor
// rather than reading its last snapshot: a call's result tokens reach the
// actor as a message sent before the call's reply, so the answer counts
// every call already answered (the snapshot may not yet).
func (g *Gateway) Session(tenant, id string) (*SessionInfo, error) {
	ref, err := g.TenantSession(tenant, id)
	if err != nil {
		return nil, err
	}
	if res, err := g.system.Root.RequestFuture(ref.pid, &sessionGet{}, 5*time.Second).Result(); err == nil {
		if info, ok := res.(*SessionInfo); ok {
			return info, nil
		}
	}
	return ref.info.Load(), nil // the actor has stopped: its last snapshot is final
}

// Sessions lists a tenant's sessions, oldest first (empty, not nil, for none).
func (g *Gateway) Sessions(tenant string) []*SessionInfo {
	return tenantEntries(g, g.sessions, tenant,
		func(*SessionInfo) bool { return true },
		func(s *SessionInfo) (time.Time, string) { return s.CreatedAt, s.ID })
}

// TerminateSession ends a session of the tenant; every later call in it is
// refused. Terminating an ended session returns it unchanged.
func (g *Gateway) TerminateSession(tenant, principal, id string) (*SessionInfo, error) {
	ref, err := g.TenantSession(tenant, id)
	if err != nil {
		return nil, err
	}
	res, err := g.system.Root.RequestFuture(ref.pid, &sessionEnd{}, 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: session %s: %w", call.ErrUnavailable, id, err)
	}
	info, _ := res.(*SessionInfo)
	if info == nil {
		return nil, fmt.Errorf("%w: session %s gave no answer", call.ErrUnavailable, id)
	}
	g.audit.Record(audit.Entry{Kind: audit.KindSessionTerminate, Tenant: tenant, Principal: principal, Session: id, Outcome: info.Status})
	return info, nil
}

// Admit asks the session actor whether a call may start (and with peek
// false, counts it as started, charging upfront tokens). It does not give
// up on a context: the actor answers at once (its mailbox never waits on
// I/O), and an admission the caller stopped waiting for would never be
// accounted as done.
func (g *Gateway) Admit(ref *sessionRef, tool string, maxCalls int, peek bool, upfront int64) error {
	m := &sessionAdmit{tool: tool, maxCalls: maxCalls, peek: peek, upfront: upfront, reply: make(chan error, 1)}
	g.system.Root.Send(ref.pid, m)
	select {
	case err := <-m.reply:
		return err
	case <-ref.done:
		return fmt.Errorf("%w: session %s has ended", ErrSessionClosed, ref.id)
	}
}

// Done accounts a call Admit started as finished, with the rest of its
// cost in tokens. It only sends: the session actor counts it in order.
func (g *Gateway) Done(ref *SessionRef, tokens int64) {
	g.system.Root.Send(ref.pid, &sessionDone{tokens: tokens})
}
