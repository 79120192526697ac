package actors

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
	callpkg "github.com/switchyard-mcp/switchyard/call"
	"github.com/switchyard-mcp/switchyard/schema"
	"github.com/switchyard-mcp/switchyard/transports"
)

// Errors of the agent gateway's objects. The *NotFound ones wrap
// ErrNotFound so generic code still sees a 404.
var (
	ErrServerNotFound      = fmt.Errorf("server %w", ErrNotFound)
	ErrSessionNotFound     = fmt.Errorf("session %w", ErrNotFound)
	ErrApprovalNotFound    = fmt.Errorf("approval %w", ErrNotFound)
	ErrTaskNotFound        = fmt.Errorf("task %w", ErrNotFound)
	ErrElicitationNotFound = fmt.Errorf("elicitation %w", ErrNotFound)

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
	// ErrLimit: a bounded registry (pending approvals, tasks, ...) is full.
	ErrLimit = callpkg.ErrLimit
)

// CollisionError refuses a registration whose tool names are already
// served by another server of the same tenant.
type CollisionError struct{ Names []string }

// ErrCollision matches every *CollisionError with errors.Is.
var ErrCollision = errors.New("tool naming collision")

// Is reports whether target is ErrCollision.
func (e *CollisionError) Is(target error) bool { return target == ErrCollision }

func (e *CollisionError) Error() string {
	return "tool naming collision: " + strings.Join(e.Names, ", ")
}

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

// gateway is the runtime's agent-gateway state: tenant policies, the A2A
// agent registry, and the registries of the session, approval and chain
// actors (each actor owns its entity; the registries only index them).
type gateway struct {
	opts    GatewayOptions
	schemas *schema.Cache
	audit   audit.Sink
	memory  *audit.Memory // the default sink, nil when another was given
	a2a     *transports.A2AClient
	ownA2A  bool
	metrics gwMetrics

	sessionsSup  *actor.PID
	approvalsSup *actor.PID
	chainsSup    *actor.PID

	// regMu guards pending, the registrations in progress by server id.
	// It is held only to check collisions and reserve or claim tool names,
	// never across a registration's network I/O.
	regMu   sync.Mutex
	pending map[string]*pendingServer

	mu           sync.RWMutex
	policies     map[string]*Policy
	agents       map[tenantKey]*Agent
	sessions     map[string]*sessionRef
	approvals    map[string]*approvalRef
	tasks        map[string]*chainRef
	elicitations map[string]*elicitation
}

// pendingServer reserves a server id while its registration runs, with
// the tool names it claims in its tenant (declared ones from the start,
// listed ones once checked).
type pendingServer struct {
	tenant string
	names  []string
}

// tenantKey names an object within a tenant.
type tenantKey struct{ tenant, id string }

// gwMetrics are the agent gateway's series, named as the Agent Gateway
// exposes them.
type gwMetrics struct {
	calls, denied                    *metrics.Counter
	latency                          *metrics.PrometheusHistogram
	sessions                         *metrics.Counter
	active                           *metrics.Gauge
	hops                             *metrics.Counter
	hitl, hitlApproved, hitlDenied   *metrics.Counter
	poisoning                        *metrics.Counter
	hiddenTools                      *metrics.Counter
	budgetRefused, allowlistRefused  *metrics.Counter
	callLimitRefused, sessionRefused *metrics.Counter
}

func newGateway(rt *Runtime, o GatewayOptions) *gateway {
	o = o.withDefaults()
	g := &gateway{
		opts:         o,
		schemas:      schema.NewCache(4096),
		audit:        o.Audit,
		a2a:          o.A2A,
		policies:     map[string]*Policy{},
		agents:       map[tenantKey]*Agent{},
		sessions:     map[string]*sessionRef{},
		approvals:    map[string]*approvalRef{},
		tasks:        map[string]*chainRef{},
		elicitations: map[string]*elicitation{},
		pending:      map[string]*pendingServer{},
	}
	if g.audit == nil {
		g.memory = audit.NewMemory(0)
		g.audit = g.memory
	}
	if g.a2a == nil {
		g.a2a = transports.NewA2AClient(transports.A2AOptions{})
		g.ownA2A = true
	}
	set := rt.metrics.set
	g.metrics = gwMetrics{
		calls:            set.NewCounter("agent_gateway_tool_calls_total"),
		denied:           set.NewCounter("agent_gateway_tool_calls_denied"),
		latency:          set.NewPrometheusHistogram("agent_gateway_tool_latency_seconds"),
		sessions:         set.NewCounter("agent_gateway_sessions_total"),
		active:           set.NewGauge("agent_gateway_sessions_active", nil),
		hops:             set.NewCounter("agent_gateway_a2a_hops_total"),
		hitl:             set.NewCounter("agent_gateway_hitl_requests_total"),
		hitlApproved:     set.NewCounter("agent_gateway_hitl_approved"),
		hitlDenied:       set.NewCounter("agent_gateway_hitl_denied"),
		poisoning:        set.NewCounter("agent_gateway_tool_poisoning_detected"),
		hiddenTools:      set.NewCounter("switchyard_gateway_hidden_tools_total"),
		budgetRefused:    set.NewCounter(`switchyard_gateway_refusals_total{reason="budget_exceeded"}`),
		allowlistRefused: set.NewCounter(`switchyard_gateway_refusals_total{reason="tool_not_allowed"}`),
		callLimitRefused: set.NewCounter(`switchyard_gateway_refusals_total{reason="tool_call_limit"}`),
		sessionRefused:   set.NewCounter(`switchyard_gateway_refusals_total{reason="session_closed"}`),
	}
	sup := func(name string) *actor.PID {
		pid, err := rt.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &childSupervisor{} }), name)
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

// stop ends the gateway's actors (sessions, approvals, chains).
func (g *gateway) stop(rt *Runtime) {
	for _, pid := range []*actor.PID{g.chainsSup, g.approvalsSup, g.sessionsSup} {
		_ = rt.system.Root.StopFuture(pid).Wait()
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
func (ref *entityRef[I]) indexIn(g *gateway, m map[string]*entityRef[I]) func(*actor.PID) {
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
func tenantEntry[R interface{ owner() string }](g *gateway, m map[string]R, tenant, id string, notFound error) (R, error) {
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
func tenantEntries[I any](g *gateway, m map[string]*entityRef[I], tenant string, keep func(*I) bool, key func(*I) (time.Time, string)) []*I {
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
func count[R any](g *gateway, m map[string]R, ok func(R) bool) int {
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
func pruneEnded[I any](r *Runtime, m map[string]*entityRef[I], state func(*I) (bool, time.Time)) {
	g := r.gw
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
		r.system.Root.Stop(e.ref.pid)
	}
}

// spawn asks a child supervisor for a new child.
func (r *Runtime) spawn(sup *actor.PID, m *spawnChild) (*actor.PID, error) {
	if r.closing.Load() {
		return nil, ErrShutdown
	}
	res, err := r.system.Root.RequestFuture(sup, m, 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	switch v := res.(type) {
	case *actor.PID:
		return v, nil
	case error:
		return nil, v
	}
	return nil, fmt.Errorf("%w: unexpected reply %T", ErrUnavailable, res)
}

// newID returns prefix followed by 12 random hex digits.
func newID(prefix string) string {
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

// Fingerprint is the sha256 fingerprint of a tool list over its canonical
// form ("" for a list that cannot be encoded).
func Fingerprint(tools []transports.Tool) string {
	defs := make([]schema.ToolDef, len(tools))
	for i, t := range tools {
		defs[i] = schema.ToolDef{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema}
	}
	fp, err := schema.Fingerprint(defs)
	if err != nil {
		return ""
	}
	return fp
}

// Audit returns the audit records of a tenant kept in memory (nil when
// records go to another sink).
func (r *Runtime) Audit(tenant, kind string, limit int) []audit.Entry {
	if r.gw.memory == nil {
		return nil
	}
	return r.gw.memory.Query(tenant, kind, limit)
}

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

func (p *Policy) needsApproval(tool string) bool {
	return p != nil && slices.Contains(p.HITLRequiredTools, tool)
}

// maxCalls is max_tool_calls_per_session (0, no limit, without a policy).
func (p *Policy) maxCalls() int {
	if p == nil {
		return 0
	}
	return p.MaxToolCallsPerSession
}

// policy returns a tenant's policy, nil when none was set; unlike
// Runtime.Policy it makes nothing, so a call pays one map lookup.
func (g *gateway) policy(tenant string) *Policy {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.policies[tenant]
}

// hostAllowed checks rawURL's host against allowed_network_hosts (an empty
// list allows every host). Entries match the host exactly, or with a
// leading "*." any subdomain.
func (p *Policy) hostAllowed(rawURL string) error {
	if p == nil || len(p.AllowedNetworkHosts) == 0 {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
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
func (r *Runtime) Policy(tenant string) *Policy {
	p := r.gw.policy(tenant)
	if p == nil {
		return &Policy{Tenant: tenant, HITLRequiredTools: []string{}, AllowedNetworkHosts: []string{}}
	}
	return p
}

// SetPolicy replaces a tenant's policy. Limits apply to sessions created and
// calls made from now on.
func (r *Runtime) SetPolicy(p Policy) (*Policy, error) {
	if p.MaxConcurrentSessions < 0 || p.MaxToolCallsPerSession < 0 {
		return nil, fmt.Errorf("%w: limits must not be negative", ErrInvalid)
	}
	if p.HITLRequiredTools == nil {
		p.HITLRequiredTools = []string{}
	}
	if p.AllowedNetworkHosts == nil {
		p.AllowedNetworkHosts = []string{}
	}
	p.UpdatedAt = time.Now().UTC()
	r.gw.mu.Lock()
	r.gw.policies[p.Tenant] = &p
	r.gw.mu.Unlock()
	return &p, nil
}

// ---- servers (providers seen from the agent gateway) ----

// ServerRegistration registers an MCP server reached over HTTP for a
// tenant through the agent gateway.
type ServerRegistration struct {
	ID, Name, URL, Tenant string
	// Tools, when given, are the tools the server declares; otherwise the
	// gateway connects and lists them.
	Tools []transports.Tool
	// Defaults supplies timings and limits (its mode, endpoint, tenant and
	// name are overwritten).
	Defaults Spec
}

// RegisterServer creates a remote provider for the tenant. Without
// declared tools it connects, lists the server's tools and pins them all;
// with them, the declaration is the server's allowlist, checked and pinned
// at the first contact (see pinTools). It refuses a tool name already
// served by another server of the same tenant (only that tenant's servers
// are compared, so nothing about other tenants is revealed).
func (r *Runtime) RegisterServer(ctx context.Context, reg ServerRegistration) (*Info, error) {
	u, err := url.Parse(reg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: url must be an absolute http(s) URL", ErrInvalid)
	}
	if reg.Tenant == "" {
		reg.Tenant = "default"
	}
	if err := r.Policy(reg.Tenant).hostAllowed(reg.URL); err != nil {
		return nil, err
	}
	if reg.ID == "" {
		reg.ID = newID("srv-")
	}
	if reg.Name == "" {
		reg.Name = reg.ID
	}
	for i, t := range reg.Tools {
		if t.Name == "" {
			return nil, fmt.Errorf("%w: tools[%d] has no name", ErrInvalid, i)
		}
		if err := r.gw.schemas.Validate(t.InputSchema, nil); errors.Is(err, schema.ErrSchema) {
			return nil, fmt.Errorf("%w: tool %s: %w", ErrInvalid, t.Name, err)
		}
	}
	spec := reg.Defaults
	spec.ID, spec.Mode, spec.Endpoint, spec.Tenant, spec.Name = reg.ID, "remote", reg.URL, reg.Tenant, reg.Name
	spec.Command, spec.Image = nil, ""
	spec.RegisteredAt = time.Now().UTC()

	// Reserve the id, and the declared names, in one short step; the
	// connect and tool listing below run without the lock, so a slow
	// server delays only its own registration.
	g := r.gw
	claim := &pendingServer{tenant: reg.Tenant, names: toolNames(reg.Tools)}
	g.regMu.Lock()
	if _, busy := g.pending[spec.ID]; busy {
		g.regMu.Unlock()
		return nil, fmt.Errorf("%w: server %q is being registered", ErrExists, spec.ID)
	}
	if names := r.collisions(reg.Tenant, spec.ID, reg.Tools); len(names) > 0 {
		g.regMu.Unlock()
		return nil, &CollisionError{Names: names}
	}
	g.pending[spec.ID] = claim
	g.regMu.Unlock()
	defer func() {
		g.regMu.Lock()
		delete(g.pending, spec.ID)
		g.regMu.Unlock()
	}()

	if reg.Tools != nil {
		// Declared tools are the server's allowlist; the provider checks
		// and pins them at its first contact (see pinTools).
		spec.Pinned, spec.Declared = "", reg.Tools
		if err := r.Create(spec); err != nil {
			return nil, err
		}
		return r.Get(spec.ID)
	}
	// Learn the tools first: create the provider, list, and pin them all.
	if err := r.Create(spec); err != nil {
		return nil, err
	}
	tools, err := r.Tools(ctx, spec.ID, true)
	if err != nil {
		_ = r.Delete(spec.ID)
		return nil, fmt.Errorf("%w: listing the server's tools: %w", ErrUnavailable, err)
	}
	// Commit: the listed names must still be free, counting the
	// registrations that ran meanwhile; they are claimed until the pin
	// makes them the provider's own.
	g.regMu.Lock()
	names := r.collisions(reg.Tenant, spec.ID, tools)
	if len(names) == 0 {
		claim.names = toolNames(tools)
	}
	g.regMu.Unlock()
	if len(names) > 0 {
		_ = r.Delete(spec.ID)
		return nil, &CollisionError{Names: names}
	}
	if err := r.pin(spec.ID, Fingerprint(tools), tools); err != nil {
		_ = r.Delete(spec.ID)
		return nil, err
	}
	return r.Get(spec.ID)
}

func toolNames(tools []transports.Tool) []string {
	out := make([]string, len(tools))
	for i, t := range tools {
		out[i] = t.Name
	}
	return out
}

// collisions lists the tool names of tools already offered by another
// server of the tenant, or claimed by a registration in progress (whose
// provider's own tools do not count until it is committed). The caller
// holds regMu.
func (r *Runtime) collisions(tenant, self string, tools []transports.Tool) []string {
	if len(tools) == 0 {
		return nil
	}
	taken := map[string]bool{}
	for _, info := range r.List() {
		if info.Spec.Tenant != tenant || info.Spec.ID == self || r.gw.pending[info.Spec.ID] != nil {
			continue
		}
		for _, t := range info.ServerTools() {
			taken[t.Name] = true
		}
	}
	for id, c := range r.gw.pending {
		if id != self && c.tenant == tenant {
			for _, n := range c.names {
				taken[n] = true
			}
		}
	}
	var out []string
	for _, t := range tools {
		if taken[t.Name] && !slices.Contains(out, t.Name) {
			out = append(out, t.Name)
		}
	}
	sort.Strings(out)
	return out
}

// ServerTools returns the tools a server offers: its live tools (those its
// pin lets through) when known, else those declared at registration.
func (i *Info) ServerTools() []transports.Tool {
	if i.ToolsKnown {
		return i.Tools
	}
	return i.Spec.Declared
}

// ServerFingerprint is the pinned fingerprint, else that of the known tools,
// else (a declared server not reached yet) that of its declaration.
func (i *Info) ServerFingerprint() string {
	switch {
	case i.Spec.Pinned != "":
		return i.Spec.Pinned
	case i.ToolsKnown || i.Spec.Declared == nil:
		return i.Fingerprint
	}
	return Fingerprint(i.Spec.Declared)
}

// pinTools applies a server's pin to the tools it serves (sorted by name)
// and returns those it offers, their fingerprint, and why they break the
// pin ("" when they do not).
//
//   - A provider without pin or declaration offers everything it serves.
//   - A declared server (Declared set, Pinned not yet) is checked at its
//     first contact: each declared tool must be served with the same name
//     and description. When they are, the served definitions of the
//     declared tools become the pin (spec.Declared and spec.Pinned are
//     updated); tools served beyond the declaration stay hidden.
//   - A pinned server offers only its pinned tools; one that disappeared or
//     whose description or input schema changed breaks the pin.
func pinTools(spec *Spec, served []transports.Tool) (visible []transports.Tool, fp, broken string) {
	if spec.Pinned == "" && spec.Declared == nil {
		return served, Fingerprint(served), ""
	}
	byName := make(map[string]*transports.Tool, len(served))
	for i := range served {
		byName[served[i].Name] = &served[i]
	}
	if spec.Pinned == "" {
		var bad []string
		for _, d := range spec.Declared {
			switch s := byName[d.Name]; {
			case s == nil:
				bad = append(bad, fmt.Sprintf("declared tool %q is not served", d.Name))
			case s.Description != d.Description:
				bad = append(bad, fmt.Sprintf("declared tool %q is served with another description", d.Name))
			}
		}
		if len(bad) > 0 {
			visible = onlyNamed(served, spec.Declared)
			return visible, Fingerprint(visible), strings.Join(bad, "; ")
		}
		spec.Declared = onlyNamed(served, spec.Declared)
		spec.Pinned = Fingerprint(spec.Declared)
	}
	visible = onlyNamed(served, spec.Declared)
	if fp = Fingerprint(visible); fp == spec.Pinned {
		return visible, fp, ""
	}
	var drift []string
	for _, pt := range spec.Declared {
		switch s := byName[pt.Name]; {
		case s == nil:
			drift = append(drift, fmt.Sprintf("pinned tool %q is no longer served", pt.Name))
		case s.Description != pt.Description:
			drift = append(drift, fmt.Sprintf("pinned tool %q changed its description", pt.Name))
		case Fingerprint([]transports.Tool{*s}) != Fingerprint([]transports.Tool{pt}):
			drift = append(drift, fmt.Sprintf("pinned tool %q changed its input schema", pt.Name))
		}
	}
	if len(drift) == 0 {
		drift = append(drift, "tools changed since registration")
	}
	return visible, fp, strings.Join(drift, "; ")
}

// onlyNamed returns the tools of served whose names are among those of
// allow, in the order of served (never nil, so an empty pin stays a pin).
func onlyNamed(served, allow []transports.Tool) []transports.Tool {
	out := make([]transports.Tool, 0, len(allow))
	for _, t := range served {
		if slices.ContainsFunc(allow, func(a transports.Tool) bool { return a.Name == t.Name }) {
			out = append(out, t)
		}
	}
	return out
}

// hiddenAdded lists the tools of served that a pinned server did not serve
// before (prev) and does not offer: new tools, a security event each.
func hiddenAdded(spec *Spec, prev, served, visible []transports.Tool) []string {
	if spec.Pinned == "" {
		return nil
	}
	has := func(list []transports.Tool, name string) bool {
		return slices.ContainsFunc(list, func(t transports.Tool) bool { return t.Name == name })
	}
	var out []string
	for _, t := range served {
		if !has(prev, t.Name) && !has(visible, t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}

// pinMsg pins a provider created to learn its tools.
type pinMsg struct {
	fp    string
	tools []transports.Tool
}

func (r *Runtime) pin(id, fp string, tools []transports.Tool) error {
	res, err := request[*Result](r, id, &pinMsg{fp: fp, tools: tools}, 10*time.Second)
	if err != nil {
		return err
	}
	return res.Err
}

// tenantServer finds a provider of the tenant; another tenant's provider
// is ErrServerNotFound, as if it did not exist.
func (r *Runtime) tenantServer(tenant, id string) (*providerRef, error) {
	t, err := r.resolve(tenant, id)
	if err != nil || t.provider == nil {
		return nil, fmt.Errorf("%w: %q", ErrServerNotFound, id)
	}
	return t.provider, nil
}

// TenantServer returns a provider of the tenant; another tenant's provider
// is ErrServerNotFound, as if it did not exist.
func (r *Runtime) TenantServer(tenant, id string) (*Info, error) {
	ref, err := r.tenantServer(tenant, id)
	if err != nil {
		return nil, err
	}
	return ref.snapshot(), nil
}

// TenantServers lists the providers of a tenant in registration order.
func (r *Runtime) TenantServers(tenant string) []*Info {
	all := r.List()
	out := all[:0]
	for _, i := range all {
		if i.Spec.Tenant == tenant {
			out = append(out, i)
		}
	}
	return out
}

// DeleteServer removes a provider of the tenant.
func (r *Runtime) DeleteServer(tenant, id string) error {
	if _, err := r.tenantServer(tenant, id); err != nil {
		return err
	}
	return r.Delete(id)
}
