package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	ErrLimit = errors.New("limit reached")
)

// CollisionError refuses a registration whose tool names are already
// served by another server of the same tenant.
type CollisionError struct{ Names []string }

func (e *CollisionError) Error() string {
	return "tool naming collision: " + strings.Join(e.Names, ", ")
}

// PendingApproval is returned by GatewayCall when the tenant's policy wants
// a human to approve the call first; the call waits in approval ID.
type PendingApproval struct{ ID string }

func (e *PendingApproval) Error() string { return "tool call requires human approval: " + e.ID }

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

	// regMu serialises server registrations so the collision check and
	// the create are one step.
	regMu sync.Mutex

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
	calls, denied                    *metrics.Counter
	latency                          *metrics.PrometheusHistogram
	sessions                         *metrics.Counter
	active                           *metrics.Gauge
	hops                             *metrics.Counter
	hitl, hitlApproved, hitlDenied   *metrics.Counter
	poisoning                        *metrics.Counter
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

// RegisterServer creates a remote provider for the tenant, pinned to the
// fingerprint of its tools. It refuses a tool name already served by
// another server of the same tenant (only that tenant's servers are
// compared, so nothing about other tenants is revealed).
func (r *Runtime) RegisterServer(ctx context.Context, reg ServerRegistration) (*Info, error) {
	u, err := url.Parse(reg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: url must be an absolute http(s) URL", ErrInvalid)
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

	r.gw.regMu.Lock()
	defer r.gw.regMu.Unlock()
	tools := reg.Tools
	fetched := false
	if tools == nil {
		// Learn the tools first: create the provider, list, and pin.
		if err := r.Create(spec); err != nil {
			return nil, err
		}
		tools, err = r.Tools(ctx, spec.ID, true)
		if err != nil {
			_ = r.Delete(spec.ID)
			return nil, fmt.Errorf("%w: listing the server's tools: %w", ErrUnavailable, err)
		}
		fetched = true
	}
	if names := r.collisions(reg.Tenant, spec.ID, tools); len(names) > 0 {
		if fetched {
			_ = r.Delete(spec.ID)
		}
		return nil, &CollisionError{Names: names}
	}
	fp := Fingerprint(tools)
	if fetched {
		// The provider was created unpinned to learn its tools; pin it now.
		if err := r.pin(spec.ID, fp, tools); err != nil {
			_ = r.Delete(spec.ID)
			return nil, err
		}
		return r.Get(spec.ID)
	}
	spec.Pinned, spec.Declared = fp, tools
	if err := r.Create(spec); err != nil {
		return nil, err
	}
	return r.Get(spec.ID)
}

// collisions lists the tool names of tools already served by another
// provider of the tenant.
func (r *Runtime) collisions(tenant, self string, tools []transports.Tool) []string {
	taken := map[string]bool{}
	for _, info := range r.List() {
		if info.Spec.Tenant != tenant || info.Spec.ID == self {
			continue
		}
		for _, t := range info.ServerTools() {
			taken[t.Name] = true
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

// ServerTools returns the tools a server offers: its live tools when known,
// else those declared at registration.
func (i *Info) ServerTools() []transports.Tool {
	if i.ToolsKnown {
		return i.Tools
	}
	return i.Spec.Declared
}

// ServerFingerprint is the pinned fingerprint, else that of the known tools.
// (Declared tools always come pinned: they are fingerprinted once, at
// registration.)
func (i *Info) ServerFingerprint() string {
	if i.Spec.Pinned != "" {
		return i.Spec.Pinned
	}
	return i.Fingerprint
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
	ref, err := r.lookup(id)
	if err != nil || ref.info.Load().Spec.Tenant != tenant {
		return nil, fmt.Errorf("%w: %q", ErrServerNotFound, id)
	}
	return ref, nil
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

// ---- tool calls through the gateway ----

// GatewayCall is one tool call through the agent gateway.
type GatewayCall struct {
	Tenant    string
	Principal string
	Session   string // "" for none
	Server    string // a provider of the tenant, or a group
	Tool      string
	Args      json.RawMessage
	// approved is set when an approved call runs, so it is not held again.
	approved string
	// extra are further tools/call params (the answer to an input request).
	extra []byte
}

// GatewayResult answers a GatewayCall.
type GatewayResult struct {
	Result  json.RawMessage
	IsError bool
	Latency time.Duration
	// Tokens is what the call cost its session (0 outside a session).
	Tokens int64
}

// Tokens is what a call costs a session's budget: one token per four bytes
// of the arguments JSON plus the result JSON, rounded up. The arguments'
// share (rounded down) is charged when the call is admitted, the rest when
// it ends, so a burst of calls cannot all start on an unspent budget.
func Tokens(args, result []byte) int64 {
	return (int64(len(args)) + int64(len(result)) + 3) / 4
}

// findTool returns the definition of a tool a server (or a group's first
// member with known tools) offers, learning the tools if need be. It reads
// the snapshots the providers published, without copying them.
func (r *Runtime) findTool(ctx context.Context, tenant, server, tool string) (*transports.Tool, error) {
	var tools []transports.Tool
	if gref, ok := r.lookupGroup(server); ok {
		if tenant != gref.route.Load().spec.Tenant {
			return nil, fmt.Errorf("%w: %q", ErrServerNotFound, server)
		}
		for _, m := range gref.route.Load().members {
			if ref, err := r.lookup(m.ID); err == nil {
				if info := ref.info.Load(); info.ToolsKnown {
					tools = info.Tools
					break
				}
			}
		}
		if tools == nil {
			return nil, nil // no member reached yet: the group validates at the member
		}
	} else {
		ref, err := r.tenantServer(tenant, server)
		if err != nil {
			return nil, err
		}
		info := ref.info.Load()
		if info.Quarantine != "" {
			return nil, fmt.Errorf("%w: server %s: %s", ErrQuarantined, server, info.Quarantine)
		}
		tools = info.ServerTools()
		if !info.ToolsKnown && len(tools) == 0 {
			if tools, err = r.Tools(ctx, server, true); err != nil {
				return nil, err
			}
		}
	}
	i, ok := slices.BinarySearchFunc(tools, tool, func(t transports.Tool, name string) int { return strings.Compare(t.Name, name) })
	if !ok {
		// Declared tools keep the order they were given in.
		i = slices.IndexFunc(tools, func(t transports.Tool) bool { return t.Name == tool })
		if i < 0 {
			return nil, fmt.Errorf("%w: server %s has no tool %q", ErrToolNotFound, server, tool)
		}
	}
	return &tools[i], nil
}

// GatewayCall validates and runs one tool call for a tenant: the arguments
// against the tool's input schema, the session's allowlist, budget and the
// tenant's call limit, the tenant's human-approval rule; then the call, the
// session's accounting and the audit record. A call that needs approval
// returns a *PendingApproval error holding its approval id.
func (r *Runtime) GatewayCall(ctx context.Context, c *GatewayCall) (*GatewayResult, error) {
	if r.closing.Load() {
		return nil, ErrShutdown
	}
	gw := r.gw
	var (
		sref *sessionRef
		err  error
	)
	if c.Session != "" {
		if sref, err = r.tenantSession(c.Tenant, c.Session); err != nil {
			return nil, err
		}
	}
	def, err := r.findTool(ctx, c.Tenant, c.Server, c.Tool)
	if err != nil {
		if errors.Is(err, ErrQuarantined) {
			gw.metrics.denied.Inc()
		}
		return nil, err
	}
	if len(c.Args) == 0 {
		c.Args = json.RawMessage("{}")
	}
	if def != nil {
		if err := gw.schemas.Validate(def.InputSchema, c.Args); err != nil {
			return nil, err
		}
	}
	pol := gw.policy(c.Tenant)
	if c.approved == "" && pol.needsApproval(c.Tool) {
		if sref != nil {
			// Refuse now what the session would refuse after approval.
			if err := r.admit(sref, c.Tool, pol.maxCalls(), true, 0); err != nil {
				gw.metrics.denied.Inc()
				return nil, err
			}
		}
		id, err := r.requestApproval(c)
		if err != nil {
			return nil, err
		}
		return nil, &PendingApproval{ID: id}
	}
	upfront := int64(len(c.Args)) / 4
	if sref != nil {
		if err := r.admit(sref, c.Tool, pol.maxCalls(), false, upfront); err != nil {
			gw.metrics.denied.Inc()
			r.record(c, "denied", 0, nil, err)
			return nil, err
		}
	}
	gw.metrics.calls.Inc()
	rep, err := r.route(ctx, c.Server, c.Tool, c.Args, c.extra, askFor{tenant: c.Tenant, session: c.Session, set: true})
	res := &GatewayResult{}
	var out []byte
	if rep != nil {
		res.Result, res.IsError, res.Latency = rep.Result, rep.IsError, rep.Latency
		out = rep.Result
		gw.metrics.latency.Update(rep.Latency.Seconds())
	}
	if sref != nil {
		res.Tokens = Tokens(c.Args, out)
		r.system.Root.Send(sref.pid, &sessionDone{tokens: res.Tokens - upfront})
	}
	if err == nil {
		err = r.askedForInput(c, out)
	}
	var pending *PendingElicitation
	outcome := "ok"
	switch {
	case errors.As(err, &pending):
		outcome = "input_required"
	case err != nil:
		outcome = "error"
	case res.IsError:
		outcome = "tool_error"
	}
	r.record(c, outcome, res.Latency, out, err)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// record writes a tool call's audit entry.
func (r *Runtime) record(c *GatewayCall, outcome string, lat time.Duration, out []byte, err error) {
	e := audit.Entry{
		Kind: audit.KindToolCall, Tenant: c.Tenant, Principal: c.Principal, Session: c.Session,
		Server: c.Server, Tool: c.Tool, Outcome: outcome, LatencyMs: float64(lat.Microseconds()) / 1000,
		InputSHA256: audit.Hash(c.Args), OutputSHA256: audit.Hash(out),
	}
	if err != nil {
		e.Detail = err.Error()
	}
	if c.approved != "" {
		e.Detail = strings.TrimSpace("approval " + c.approved + " " + e.Detail)
	}
	r.gw.audit.Record(e)
}
