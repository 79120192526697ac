// Package agents is the agent-gateway side of Switchyard: tenant
// policies, the A2A agent registry, and the actors of sessions, approvals
// and delegation chains with the elicitations they hold. It reaches the
// rest of the gateway only through the dependencies handed to New: the
// actor system, the event hub, the metric set, the audit sink, and the one
// call pipeline (a Caller) that approved approvals and resumed
// elicitations call back through.
package agents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-mcp/switchyard/audit"
	"github.com/switchyard-mcp/switchyard/call"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/schema"
	"github.com/switchyard-mcp/switchyard/transports"
)

// Errors of the agent gateway's objects. The *NotFound ones wrap
// call.ErrNotFound so generic code still sees a 404.
var (
	ErrSessionNotFound     = fmt.Errorf("session %w", call.ErrNotFound)
	ErrApprovalNotFound    = fmt.Errorf("approval %w", call.ErrNotFound)
	ErrTaskNotFound        = fmt.Errorf("task %w", call.ErrNotFound)
	ErrElicitationNotFound = fmt.Errorf("elicitation %w", call.ErrNotFound)
	// ErrToolNotAllowed: the tool is not in the session's allowlist.
	ErrToolNotAllowed = errors.New("tool not allowed")
	// ErrBudgetExceeded: the session's token budget is spent.
	ErrBudgetExceeded = errors.New("token budget exceeded")
	// ErrCallLimit: the session made the tenant's max_tool_calls_per_session.
	ErrCallLimit = errors.New("tool call limit reached")
	// ErrSessionLimit: the tenant has max_concurrent_sessions active.
	ErrSessionLimit = errors.New("concurrent session limit reached")
	// ErrSessionClosed: the session was terminated or expired.
	ErrSessionClosed = errors.New("session closed")
	// ErrNotPending: the approval or elicitation was already decided.
	ErrNotPending = errors.New("no longer pending")
	// ErrChainDepth: the delegation chain is longer than allowed.
	ErrChainDepth = errors.New("delegation chain too deep")
	// ErrCircular: the target agent is already in the delegation chain.
	ErrCircular = errors.New("circular delegation")
	// ErrHostNotAllowed: the URL's host is not in the tenant's
	// allowed_network_hosts.
	ErrHostNotAllowed = errors.New("host not allowed by policy")
	// ErrAgentFailed: the A2A agent answered with an error or a failed task.
	ErrAgentFailed = errors.New("agent failed")
	// ErrAgentUnreachable: the A2A agent could not be reached or spoke garbage.
	ErrAgentUnreachable = errors.New("agent unreachable")
)

// GatewayOptions tunes the agent gateway's sessions, approvals, chains and
// elicitations. Zero values take the defaults noted.
type GatewayOptions struct {
	// SessionIdleTTL ends a session unused this long (default 30m).
	SessionIdleTTL time.Duration
	// ApprovalTTL expires an undecided approval (default 15m).
	ApprovalTTL time.Duration
	// TaskTTL expires an A2A task still waiting for its agent (default 10m).
	TaskTTL time.Duration
	// ElicitationTTL expires an unanswered elicitation (default 15m).
	ElicitationTTL time.Duration
	// SendWait bounds how long /v1/a2a/send waits for the agent before it
	// answers 202 with the task still running (default 60s).
	SendWait time.Duration
	// MaxChainDepth bounds the delegation chain after the sender is
	// appended (default 5).
	MaxChainDepth int
	// MaxPending bounds each tenant's pending approvals, waiting tasks and
	// pending elicitations (default 1000).
	MaxPending int
	// KeepEnded bounds the ended sessions, approvals, tasks and
	// elicitations kept for reading (default 1000 of each).
	KeepEnded int
	// Audit receives the audit records (an in-memory ring if nil).
	Audit audit.Sink
	// A2A sends delegations (a default client if nil).
	A2A *transports.A2AClient
}

func (o GatewayOptions) withDefaults() GatewayOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.SessionIdleTTL, 30*time.Minute)
	def(&o.ApprovalTTL, 15*time.Minute)
	def(&o.TaskTTL, 10*time.Minute)
	def(&o.ElicitationTTL, 15*time.Minute)
	def(&o.SendWait, 60*time.Second)
	if o.MaxChainDepth <= 0 {
		o.MaxChainDepth = 5
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 1000
	}
	if o.KeepEnded <= 0 {
		o.KeepEnded = 1000
	}
	return o
}

// Caller runs one tool call through the runtime's call pipeline; the
// gateway calls back through it when an approved call runs and when a
// call that asked for input resumes.
type Caller interface {
	Call(ctx context.Context, r *call.Request) (*call.Result, error)
}

// Deps are what the gateway's actors need from the rest of the runtime,
// handed in at construction.
type Deps struct {
	// System runs the gateway's actors.
	System *actor.ActorSystem
	// Hub receives the sessions', approvals', tasks' and elicitations'
	// events.
	Hub *events.Hub
	// Metrics receives the agent gateway's series.
	Metrics *metrics.Set
	// Audit receives the audit records (GatewayOptions.Audit, else an
	// in-memory ring, if nil).
	Audit audit.Sink
	// Schemas compiles and caches the JSON Schemas the gateway validates
	// against (a new cache if nil).
	Schemas *schema.Cache
	// Calls is the call pipeline approved and resumed calls go through.
	Calls Caller
	// Track runs work the gateway starts on its own (approved calls, A2A
	// deliveries) on a goroutine the runtime's shutdown waits for.
	Track func(func())
	// Context ends at shutdown; the work Track runs is bounded by it, and
	// no actor is spawned once it has ended.
	Context context.Context
}

// Gateway is the agent-gateway state: tenant policies, the A2A agent
// registry, and the registries of the session, approval and chain actors
// (each actor owns its entity; the registries only index them).
type Gateway struct {
	opts    GatewayOptions
	schemas *schema.Cache
	audit   audit.Sink
	memory  *audit.Memory // the default sink, nil when another was given
	a2a     *transports.A2AClient
	ownA2A  bool
	metrics gwMetrics

	system *actor.ActorSystem
	hub    *events.Hub
	calls  Caller
	track  func(func())
	ctx    context.Context

	sessionsSup  *actor.PID
	approvalsSup *actor.PID
	chainsSup    *actor.PID

	mu           sync.RWMutex
	policies     map[string]*Policy
	agents       map[tenantKey]*Agent
	sessions     map[string]*sessionRef
	approvals    map[string]*approvalRef
	tasks        map[string]*chainRef
	elicitations map[string]*elicitation
}

// tenantKey names an object within a tenant.
type tenantKey struct{ tenant, id string }

// gwMetrics are the agent gateway's series, named as the Agent Gateway
// exposes them.
type gwMetrics struct {
	sessions                         *metrics.Counter
	active                           *metrics.Gauge
	hops                             *metrics.Counter
	hitl, hitlApproved, hitlDenied   *metrics.Counter
	budgetRefused, allowlistRefused  *metrics.Counter
	callLimitRefused, sessionRefused *metrics.Counter
}

// New builds the agent gateway and spawns its supervisors of sessions,
// approvals and chains in d.System.
func New(d Deps, o GatewayOptions) *Gateway {
	o = o.withDefaults()
	g := &Gateway{
		opts:         o,
		schemas:      d.Schemas,
		audit:        d.Audit,
		a2a:          o.A2A,
		system:       d.System,
		hub:          d.Hub,
		calls:        d.Calls,
		track:        d.Track,
		ctx:          d.Context,
		policies:     map[string]*Policy{},
		agents:       map[tenantKey]*Agent{},
		sessions:     map[string]*sessionRef{},
		approvals:    map[string]*approvalRef{},
		tasks:        map[string]*chainRef{},
		elicitations: map[string]*elicitation{},
	}
	if g.schemas == nil {
		g.schemas = schema.NewCache(4096)
	}
	if g.audit == nil {
		g.audit = o.Audit
	}
	if g.audit == nil {
		g.memory = audit.NewMemory(0)
		g.audit = g.memory
	}
	if g.a2a == nil {
		g.a2a = transports.NewA2AClient(transports.A2AOptions{})
		g.ownA2A = true
	}
	set := d.Metrics
	g.metrics = gwMetrics{
		sessions:         set.NewCounter("agent_gateway_sessions_total"),
		active:           set.NewGauge("agent_gateway_sessions_active", nil),
		hops:             set.NewCounter("agent_gateway_a2a_hops_total"),
		hitl:             set.NewCounter("agent_gateway_hitl_requests_total"),
		hitlApproved:     set.NewCounter("agent_gateway_hitl_approved"),
		hitlDenied:       set.NewCounter("agent_gateway_hitl_denied"),
		budgetRefused:    set.NewCounter(`switchyard_gateway_refusals_total{reason="budget_exceeded"}`),
		allowlistRefused: set.NewCounter(`switchyard_gateway_refusals_total{reason="tool_not_allowed"}`),
		callLimitRefused: set.NewCounter(`switchyard_gateway_refusals_total{reason="tool_call_limit"}`),
		sessionRefused:   set.NewCounter(`switchyard_gateway_refusals_total{reason="session_closed"}`),
	}
	sup := func(name string) *actor.PID {
		pid, err := g.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &childSupervisor{} }), name)
		if err != nil {
			panic(fmt.Sprintf("spawn %s: %v", name, err)) // names are fixed and unique per system
		}
		return pid
	}
	g.sessionsSup = sup("sessions")
	g.approvalsSup = sup("approvals")
	g.chainsSup = sup("chains")
	return g
}

// Stop ends the gateway's actors (sessions, approvals, chains); the
// runtime calls it as it shuts down.
func (g *Gateway) Stop() {
	for _, pid := range []*actor.PID{g.chainsSup, g.approvalsSup, g.sessionsSup} {
		_ = g.system.Root.StopFuture(pid).Wait()
	}
	if g.ownA2A {
		g.a2a.Close()
	}
}

// childSupervisor owns the actors of one kind (sessions, approvals,
// chains). It spawns them on request and runs the caller's admit and
// register steps in its own mailbox, so a limit over all children (the
// tenant's concurrent sessions) is checked and taken in one step.
type childSupervisor struct{}

type spawnChild struct {
	name     string
	producer actor.Producer
	admit    func() error
	register func(*actor.PID)
}

// Receive implements actor.Actor.
func (s *childSupervisor) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*spawnChild)
	if !ok {
		return
	}
	if m.admit != nil {
		if err := m.admit(); err != nil {
			ctx.Respond(err)
			return
		}
	}
	pid, err := ctx.SpawnNamed(actor.PropsFromProducer(m.producer), m.name)
	if err != nil {
		ctx.Respond(fmt.Errorf("spawn %s: %w", m.name, err))
		return
	}
	if m.register != nil {
		m.register(pid)
	}
	ctx.Respond(pid)
}

// entityRef indexes one of the gateway's actors (a session, an approval, a
// task): what may be read without messaging it (its tenant and the
// snapshot it last published), and done, which closes once when it ends.
type entityRef[I any] struct {
	id     string
	tenant string
	pid    *actor.PID
	info   atomic.Pointer[I]
	done   chan struct{}
}

func newEntityRef[I any](id, tenant string, info *I) *entityRef[I] {
	ref := &entityRef[I]{id: id, tenant: tenant, done: make(chan struct{})}
	ref.info.Store(info)
	return ref
}

// closeDone lets the waiters go; closing twice is harmless.
func (ref *entityRef[I]) closeDone() {
	select {
	case <-ref.done:
	default:
		close(ref.done)
	}
}

// indexIn is a spawnChild register step: it records the actor and indexes
// ref in m, one of the gateway's registries.
func (ref *entityRef[I]) indexIn(g *Gateway, m map[string]*entityRef[I]) func(*actor.PID) {
	return func(pid *actor.PID) {
		ref.pid = pid
		g.mu.Lock()
		m[ref.id] = ref
		g.mu.Unlock()
	}
}

func (ref *entityRef[I]) owner() string { return ref.tenant }

// tenantEntry returns entry id of one of the gateway's registries when it
// belongs to the tenant; another tenant's entry is notFound, as if it did
// not exist.
func tenantEntry[R interface{ owner() string }](g *Gateway, m map[string]R, tenant, id string, notFound error) (R, error) {
	g.mu.RLock()
	x, ok := m[id]
	g.mu.RUnlock()
	if !ok || x.owner() != tenant {
		var zero R
		return zero, fmt.Errorf("%w: %q", notFound, id)
	}
	return x, nil
}

// tenantEntries returns the snapshots of a tenant's entries of one of the
// gateway's registries that keep accepts, oldest first: by key's time,
// then its id.
func tenantEntries[I any](g *Gateway, m map[string]*entityRef[I], tenant string, keep func(*I) bool, key func(*I) (time.Time, string)) []*I {
	out := []*I{}
	g.mu.RLock()
	for _, ref := range m {
		if ref.tenant != tenant {
			continue
		}
		if info := ref.info.Load(); keep(info) {
			out = append(out, info)
		}
	}
	g.mu.RUnlock()
	slices.SortFunc(out, func(a, b *I) int {
		at, aid := key(a)
		bt, bid := key(b)
		if c := at.Compare(bt); c != 0 {
			return c
		}
		return strings.Compare(aid, bid)
	})
	return out
}

// count counts the entries of one of the gateway's registries that ok
// accepts.
func count[R any](g *Gateway, m map[string]R, ok func(R) bool) int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := 0
	for _, x := range m {
		if ok(x) {
			n++
		}
	}
	return n
}

// pruneEnded stops and forgets the oldest ended entries of one of the
// gateway's registries beyond KeepEnded, so ended sessions, approvals and
// tasks stay readable for a while without growing without bound. state
// reports whether an entry has ended, and when (for ordering).
func pruneEnded[I any](g *Gateway, m map[string]*entityRef[I], state func(*I) (bool, time.Time)) {
	type entry struct {
		ref *entityRef[I]
		at  time.Time
	}
	g.mu.Lock()
	var ended []entry
	for _, ref := range m {
		if done, at := state(ref.info.Load()); done {
			ended = append(ended, entry{ref, at})
		}
	}
	if len(ended) <= g.opts.KeepEnded {
		g.mu.Unlock()
		return
	}
	sort.Slice(ended, func(i, j int) bool { return ended[i].at.Before(ended[j].at) })
	drop := ended[:len(ended)-g.opts.KeepEnded]
	for _, e := range drop {
		delete(m, e.ref.id)
	}
	g.mu.Unlock()
	for _, e := range drop {
		g.system.Root.Stop(e.ref.pid)
	}
}

// spawn asks a child supervisor for a new child.
func (g *Gateway) spawn(sup *actor.PID, m *spawnChild) (*actor.PID, error) {
	if g.ctx.Err() != nil {
		return nil, call.ErrShutdown
	}
	res, err := g.system.Root.RequestFuture(sup, m, 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", call.ErrUnavailable, err)
	}
	switch v := res.(type) {
	case *actor.PID:
		return v, nil
	case error:
		return nil, v
	}
	return nil, fmt.Errorf("%w: unexpected reply %T", call.ErrUnavailable, res)
}

// NewID returns prefix followed by 12 random hex digits: the ids of
// sessions, approvals, tasks and servers.
func NewID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Audit returns the audit records of a tenant kept in memory (nil when
// records go to another sink).
func (g *Gateway) Audit(tenant, kind string, limit int) []audit.Entry {
	if g.memory == nil {
		return nil
	}
	return g.memory.Query(tenant, kind, limit)
}

// Record writes an audit record to the gateway's sink; the call pipeline
// records every tool call through it.
func (g *Gateway) Record(e audit.Entry) { g.audit.Record(e) }

// ---- policies ----

// Policy is a tenant's security policy. Zero limits mean no limit.
type Policy struct {
	Tenant                 string    `json:"tenant_id"`
	HITLRequiredTools      []string  `json:"hitl_required_tools"`
	MaxConcurrentSessions  int       `json:"max_concurrent_sessions"`
	MaxToolCallsPerSession int       `json:"max_tool_calls_per_session"`
	AllowedNetworkHosts    []string  `json:"allowed_network_hosts"`
	UpdatedAt              time.Time `json:"updated_at"`
}

// NeedsApproval reports whether the policy holds calls of tool for a
// human's approval (false without a policy).
func (p *Policy) NeedsApproval(tool string) bool {
	return p != nil && slices.Contains(p.HITLRequiredTools, tool)
}

// MaxCalls is max_tool_calls_per_session (0, no limit, without a policy).
func (p *Policy) MaxCalls() int {
	if p == nil {
		return 0
	}
	return p.MaxToolCallsPerSession
}

// LookupPolicy returns a tenant's policy, nil when none was set; unlike
// Policy it makes nothing, so a call pays one map lookup.
func (g *Gateway) LookupPolicy(tenant string) *Policy {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.policies[tenant]
}

// HostAllowed checks rawURL's host against allowed_network_hosts (an empty
// list allows every host). Entries match the host exactly, or with a
// leading "*." any subdomain.
func (p *Policy) HostAllowed(rawURL string) error {
	if p == nil || len(p.AllowedNetworkHosts) == 0 {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: %v", call.ErrInvalid, err)
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range p.AllowedNetworkHosts {
		h = strings.ToLower(h)
		if h == host || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:])) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not in the tenant's allowed_network_hosts", ErrHostNotAllowed, host)
}

// Policy returns a tenant's policy (an empty one, without UpdatedAt, when
// none was set).
func (g *Gateway) Policy(tenant string) *Policy {
	p := g.LookupPolicy(tenant)
	if p == nil {
		return &Policy{Tenant: tenant, HITLRequiredTools: []string{}, AllowedNetworkHosts: []string{}}
	}
	return p
}

// SetPolicy replaces a tenant's policy. Limits apply to sessions created and
// calls made from now on.
func (g *Gateway) SetPolicy(p Policy) (*Policy, error) {
	if p.MaxConcurrentSessions < 0 || p.MaxToolCallsPerSession < 0 {
		return nil, fmt.Errorf("%w: limits must not be negative", call.ErrInvalid)
	}
	if p.HITLRequiredTools == nil {
		p.HITLRequiredTools = []string{}
	}
	if p.AllowedNetworkHosts == nil {
		p.AllowedNetworkHosts = []string{}
	}
	p.UpdatedAt = time.Now().UTC()
	g.RestorePolicy(p)
	return &p, nil
}

// RestorePolicy puts back a policy as it was recorded (its UpdatedAt
// kept), at start.
func (g *Gateway) RestorePolicy(p Policy) {
	g.mu.Lock()
	g.policies[p.Tenant] = &p
	g.mu.Unlock()
}
