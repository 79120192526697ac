// Package events holds Switchyard's typed domain events and the hub that fans
// them out to subscribers (websockets, metrics, a store) through bounded
// per-subscriber queues.
package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// Payload is the typed body of an event; its Type names the event kind on
// the wire ("ProviderStateChanged", "ToolInvoked", ...).
type Payload interface {
	Type() string
}

// Event is one domain event as it is published and serialised.
type Event struct {
	// Kind is the payload's Type, copied so filters need no type switch.
	Kind string `json:"type"`
	// Seq increases by one per published event of this hub.
	Seq uint64 `json:"seq"`
	// Time is when the event was published.
	Time time.Time `json:"timestamp"`
	// ProviderID names the provider the event concerns, if any.
	ProviderID string `json:"provider_id,omitempty"`
	// Tenant names the tenant the event belongs to: that of the provider
	// or group it concerns, or of the object a tenant-scoped payload
	// describes; "" for a runtime-wide event. Subscribers filter on it,
	// so a tenant's stream never carries another tenant's events, even
	// those of a provider already removed.
	Tenant string `json:"tenant_id,omitempty"`
	// Data is the typed payload.
	Data Payload `json:"data"`
}

// ProviderStateChanged records a provider lifecycle transition.
type ProviderStateChanged struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// Type implements Payload.
func (ProviderStateChanged) Type() string { return "ProviderStateChanged" }

// ToolInvoked records one finished tool call.
type ToolInvoked struct {
	Tool      string  `json:"tool_name"`
	Outcome   string  `json:"outcome"`
	LatencyMs float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// Type implements Payload.
func (ToolInvoked) Type() string { return "ToolInvoked" }

// ProviderLog is one line a provider wrote to its stderr.
type ProviderLog struct {
	Stream string    `json:"stream"`
	Line   string    `json:"line"`
	At     time.Time `json:"at"`
}

// Type implements Payload.
func (ProviderLog) Type() string { return "ProviderLog" }

// ProviderRestarting records a supervisor decision to restart a provider.
type ProviderRestarting struct {
	Attempt int     `json:"attempt"`
	DelayMs float64 `json:"delay_ms"`
	Reason  string  `json:"reason"`
}

// Type implements Payload.
func (ProviderRestarting) Type() string { return "ProviderRestarting" }

// Alert is raised when the runtime needs an operator, for example when a
// provider exceeded its restart intensity and was marked dead.
type Alert struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

// Type implements Payload.
func (Alert) Type() string { return "Alert" }

// ToolsChanged records that a provider's tool list changed.
type ToolsChanged struct {
	Tools int `json:"tools_count"`
}

// Type implements Payload.
func (ToolsChanged) Type() string { return "ToolsChanged" }

// ProviderRegistered records a provider added to the registry.
type ProviderRegistered struct {
	Mode string `json:"mode"`
}

// Type implements Payload.
func (ProviderRegistered) Type() string { return "ProviderRegistered" }

// ProviderRemoved records a provider deleted from the registry.
type ProviderRemoved struct{}

// Type implements Payload.
func (ProviderRemoved) Type() string { return "ProviderRemoved" }

// HealthChecked records a failed health check (successes are not events, to
// keep the stream quiet).
type HealthChecked struct {
	OK       bool   `json:"ok"`
	Failures int    `json:"consecutive_failures"`
	Error    string `json:"error,omitempty"`
}

// Type implements Payload.
func (HealthChecked) Type() string { return "HealthChecked" }

// ProtocolError records garbage or an oversized message from a backend.
type ProtocolError struct {
	Error string `json:"error"`
}

// Type implements Payload.
func (ProtocolError) Type() string { return "ProtocolError" }

// Filter selects the events a subscriber wants; nil selects all.
type Filter func(*Event) bool

// Subscription is one subscriber's bounded queue. When the queue is full the
// subscriber is dropped: Done is closed and no more events arrive.
type Subscription struct {
	hub    *Hub
	filter Filter
	ch     chan *Event
	done   chan struct{}
	once   sync.Once
	// Dropped reports whether the hub dropped this subscriber as too slow.
	dropped atomic.Bool
}

// C delivers the events.
func (s *Subscription) C() <-chan *Event { return s.ch }

// Done is closed when the subscription ends, by Close or by being dropped.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Dropped reports whether the hub ended this subscription because its queue
// overflowed.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

// Close ends the subscription; it is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.remove(s)
	s.once.Do(func() { close(s.done) })
}

// Hub fans events out to subscribers. Publish never blocks.
type Hub struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	seq  atomic.Uint64 // the last Seq given, which is also the number published
	now  func() time.Time
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[*Subscription]struct{}), now: time.Now}
}

// Subscribe registers a subscriber with a queue of the given size (at least 1).
func (h *Hub) Subscribe(filter Filter, queue int) *Subscription {
	if queue < 1 {
		queue = 1
	}
	s := &Subscription{hub: h, filter: filter, ch: make(chan *Event, queue), done: make(chan struct{})}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// Subscribers reports the number of live subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// Published reports how many events the hub has published.
func (h *Hub) Published() uint64 { return h.seq.Load() }

// TenantScoped is implemented by the payloads of events that belong to a
// tenant by themselves (sessions, approvals, tasks, security events).
type TenantScoped interface{ TenantID() string }

// Publish stamps and delivers an event of no tenant, or of the tenant its
// payload names (see TenantScoped). Events about a provider or a group go
// through PublishFor with the owner's tenant.
func (h *Hub) Publish(providerID string, p Payload) {
	h.PublishFor("", providerID, p)
}

// PublishFor stamps and delivers an event of a tenant to every matching
// subscriber; an empty tenant is taken from a TenantScoped payload. A
// subscriber whose queue is full is dropped rather than waited for.
func (h *Hub) PublishFor(tenant, providerID string, p Payload) {
	if tenant == "" {
		if ts, ok := p.(TenantScoped); ok {
			tenant = ts.TenantID()
		}
	}
	ev := &Event{Kind: p.Type(), Seq: h.seq.Add(1), Time: h.now().UTC(), ProviderID: providerID, Tenant: tenant, Data: p}
	var slow []*Subscription
	h.mu.RLock()
	for s := range h.subs {
		if s.filter != nil && !s.filter(ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		s.dropped.Store(true)
		s.Close()
	}
}

// BackendProgress reports progress of a backend starting or recovering,
// such as an image pull or a reconnect.
type BackendProgress struct {
	Message string `json:"message"`
}

// Type implements Payload.
func (BackendProgress) Type() string { return "BackendProgress" }

// GroupChanged records a group created, updated, rebalanced or deleted.
type GroupChanged struct {
	Reason string `json:"reason"`
}

// Type implements Payload.
func (GroupChanged) Type() string { return "GroupChanged" }

// BreakerChanged records a circuit breaker transition of a group member
// (Member set) or of the group itself.
type BreakerChanged struct {
	Member string `json:"member_id,omitempty"`
	From   string `json:"from"`
	To     string `json:"to"`
}

// Type implements Payload.
func (BreakerChanged) Type() string { return "BreakerChanged" }

// ToolPoisoningDetected is a security event: a provider's tools changed
// from the fingerprint it was registered with, and it was quarantined.
type ToolPoisoningDetected struct {
	Tenant     string `json:"tenant_id"`
	Registered string `json:"registered_fingerprint"`
	Served     string `json:"served_fingerprint"`
}

// Type implements Payload.
func (ToolPoisoningDetected) Type() string { return "ToolPoisoningDetected" }

// TenantID names the tenant the event belongs to.
func (e ToolPoisoningDetected) TenantID() string { return e.Tenant }

// ToolAdded is a security event: a server pinned at registration started
// serving a tool it was not registered with. The tool stays hidden (not
// listed, not callable) until the server is registered again.
type ToolAdded struct {
	Tenant string `json:"tenant_id"`
	Tool   string `json:"tool_name"`
}

// Type implements Payload.
func (ToolAdded) Type() string { return "ToolAdded" }

// TenantID names the tenant the event belongs to.
func (e ToolAdded) TenantID() string { return e.Tenant }

// SessionChanged records an agent session created, ended or expired.
type SessionChanged struct {
	Tenant  string `json:"tenant_id"`
	Session string `json:"session_id"`
	Status  string `json:"status"`
}

// Type implements Payload.
func (SessionChanged) Type() string { return "SessionChanged" }

// TenantID names the tenant the event belongs to.
func (e SessionChanged) TenantID() string { return e.Tenant }

// ApprovalChanged records a human-in-the-loop approval requested, decided,
// run or expired, so a UI can follow the queue.
type ApprovalChanged struct {
	Tenant   string `json:"tenant_id"`
	Approval string `json:"approval_id"`
	Session  string `json:"session_id,omitempty"`
	Tool     string `json:"tool_name"`
	Status   string `json:"status"`
}

// Type implements Payload.
func (ApprovalChanged) Type() string { return "ApprovalChanged" }

// TenantID names the tenant the event belongs to.
func (e ApprovalChanged) TenantID() string { return e.Tenant }

// TaskChanged records an A2A delegation task changing state.
type TaskChanged struct {
	Tenant string `json:"tenant_id"`
	Task   string `json:"task_id"`
	From   string `json:"from"`
	To     string `json:"to"`
	Status string `json:"status"`
}

// Type implements Payload.
func (TaskChanged) Type() string { return "TaskChanged" }

// TenantID names the tenant the event belongs to.
func (e TaskChanged) TenantID() string { return e.Tenant }

// ElicitationChanged records an elicitation requested or answered.
type ElicitationChanged struct {
	Tenant      string `json:"tenant_id"`
	Elicitation string `json:"elicitation_id"`
	Status      string `json:"status"`
}

// Type implements Payload.
func (ElicitationChanged) Type() string { return "ElicitationChanged" }

// TenantID names the tenant the event belongs to.
func (e ElicitationChanged) TenantID() string { return e.Tenant }
