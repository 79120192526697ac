package actors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-mcp/switchyard/agents"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/schema"
	"github.com/switchyard-mcp/switchyard/store"
	"github.com/switchyard-mcp/switchyard/supervisor"
	"github.com/switchyard-mcp/switchyard/transports"
)

// LogLines is how many stderr lines each provider keeps.
const LogLines = 1000

// LogEntry is one captured stderr line.
type LogEntry struct {
	Timestamp  time.Time `json:"timestamp"`
	Line       string    `json:"line"`
	ProviderID string    `json:"provider_id"`
	Stream     string    `json:"stream"`
}

// logRing is a provider's bounded stderr buffer; it outlives restarts.
type logRing struct {
	mu    sync.Mutex
	lines []LogEntry
	next  int
	full  bool
}

func (r *logRing) add(e LogEntry) {
	r.mu.Lock()
	if r.lines == nil {
		r.lines = make([]LogEntry, LogLines)
	}
	r.lines[r.next] = e
	r.next = (r.next + 1) % LogLines
	if r.next == 0 {
		r.full = true
	}
	r.mu.Unlock()
}

// last returns up to n most recent lines, oldest first.
func (r *logRing) last(n int) []LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.next
	if r.full {
		size = LogLines
	}
	if n > size {
		n = size
	}
	out := make([]LogEntry, 0, n)
	for i := n; i > 0; i-- {
		out = append(out, r.lines[(r.next-i+LogLines)%LogLines])
	}
	return out
}

// providerRef is the registry entry of a provider: its actor and what may be
// read without messaging it (the snapshot its actor publishes, its logs).
// It outlives the actor's instances: one restarted after a panic resumes
// from info (the current spec, pin, tools and quarantine) and gen.
type providerRef struct {
	id       string
	pid      *actor.PID
	info     atomic.Pointer[Info]
	gen      atomic.Int64 // the last generation of an instance restarted
	logs     logRing
	inflight atomic.Int64
	queued   atomic.Int64
	calls    atomic.Int64
	errs     atomic.Int64
	lastUsed atomic.Int64 // unix nanoseconds of the last finished call
}

// snapshot returns the published Info with the live in-flight count.
func (ref *providerRef) snapshot() *Info {
	info := *ref.info.Load()
	info.InFlight = int(ref.inflight.Load())
	info.Queued = int(ref.queued.Load())
	info.Calls = ref.calls.Load()
	info.Errors = ref.errs.Load()
	if ns := ref.lastUsed.Load(); ns != 0 {
		info.LastUsed = time.Unix(0, ns)
	}
	return &info
}

// Options configures a Runtime.
type Options struct {
	// Version is reported to backends and by the system endpoint.
	Version string
	// Logger receives the runtime's and the actor system's logs.
	Logger *slog.Logger
	// Hub receives domain events (a new one if nil).
	Hub *events.Hub
	// Instance identifies this run of the gateway; containers carry it.
	Instance string
	// Owner identifies the gateway across restarts (its data dir);
	// containers of an earlier run of the same owner are leftovers.
	Owner string
	// Gateway tunes the agent gateway's sessions, approvals and chains.
	Gateway GatewayOptions
	// Clock times the providers' idle stops, health checks and restart
	// backoffs and the groups' breaker timeouts (real time if nil); tests
	// drive it with a FakeClock.
	Clock supervisor.TimerClock
	// Store, when set, keeps what the API changes across restarts
	// (Register, Unregister, Recover).
	Store store.Store
}

// Runtime is the actor system with its providers supervisor, and the API
// the HTTP front and the CLI use. It is safe for concurrent use.
type Runtime struct {
	system  *actor.ActorSystem
	hub     *events.Hub
	metrics *runtimeMetrics
	log     *slog.Logger
	version string
	started time.Time
	opts    Options
	clock   supervisor.TimerClock
	sup     *actor.PID

	mu         sync.RWMutex
	refs       map[string]*providerRef
	order      []string
	groups     map[string]*groupRef
	groupOrder []string

	procMu  sync.Mutex
	procs   map[transports.Backend]struct{}
	closing atomic.Bool
	// relay takes what backends send their client outside an answer.
	relay atomic.Pointer[ClientRelay]
	wg    sync.WaitGroup

	docker  docker
	gw      *agents.Gateway
	gwm     gatewayCallMetrics
	servers serverRegistry
	schemas *schema.Cache

	// ctx ends at Shutdown; work the runtime starts on its own (A2A
	// deliveries, approved calls) runs under it.
	ctx    context.Context
	cancel context.CancelFunc
}

// NewRuntime starts an actor system with an empty providers supervisor.
func NewRuntime(o Options) *Runtime {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Hub == nil {
		o.Hub = events.NewHub()
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Clock == nil {
		o.Clock = supervisor.RealClock{}
	}
	// protoactor logs routine events (dead letters of late replies after a
	// stop) at info level; only its warnings and errors are worth keeping.
	actorLog := slog.New(minLevel{o.Logger.Handler(), slog.LevelWarn}).With("component", "actors")
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog }),
		actor.WithDeadLetterThrottleInterval(50*time.Millisecond),
	)
	rt := &Runtime{
		system:  system,
		hub:     o.Hub,
		metrics: newRuntimeMetrics(),
		log:     o.Logger,
		version: o.Version,
		started: time.Now(),
		opts:    o,
		clock:   o.Clock,
		refs:    map[string]*providerRef{},
		groups:  map[string]*groupRef{},
		procs:   map[transports.Backend]struct{}{},
	}
	rt.ctx, rt.cancel = context.WithCancel(context.Background())
	rt.schemas = schema.NewCache(4096)
	rt.servers.pending = map[string]*pendingServer{}
	rt.gwm = newGatewayCallMetrics(rt.metrics.set)
	rt.gw = agents.New(agents.Deps{
		System:  system,
		Hub:     o.Hub,
		Metrics: rt.metrics.set,
		Audit:   o.Gateway.Audit,
		Schemas: rt.schemas,
		Calls:   rt,
		Track:   rt.goTracked,
		Context: rt.ctx,
	}, o.Gateway)
	rt.sup = system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &providersSupervisor{rt: rt} }))
	return rt
}

// minLevel drops records below a level before they reach a handler.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(a), m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.min}
}

// Agents returns the runtime's agent gateway: tenant policies, A2A
// agents and tasks, sessions, approvals and elicitations.
func (r *Runtime) Agents() *agents.Gateway { return r.gw }

// Hub returns the runtime's event hub.
func (r *Runtime) Hub() *events.Hub { return r.hub }

// Version returns the version reported by the runtime.
func (r *Runtime) Version() string { return r.version }

// Uptime returns how long the runtime has run.
func (r *Runtime) Uptime() time.Duration { return time.Since(r.started) }

// WriteMetrics writes the runtime's series in Prometheus text format.
func (r *Runtime) WriteMetrics(w io.Writer) { r.metrics.set.WritePrometheus(w) }

// goTracked runs f on a goroutine that Shutdown waits for.
func (r *Runtime) goTracked(f func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// trackProcess records a live backend so Shutdown can stop it (and reap or
// remove what it runs) even if its actor is already gone.
func (r *Runtime) trackProcess(p transports.Backend) {
	r.procMu.Lock()
	r.procs[p] = struct{}{}
	r.procMu.Unlock()
	if r.closing.Load() {
		p.Stop()
	}
	r.goTracked(func() {
		<-p.Done()
		r.procMu.Lock()
		delete(r.procs, p)
		r.procMu.Unlock()
	})
}

func (r *Runtime) logLine(ref *providerRef, line string) {
	e := LogEntry{Timestamp: time.Now().UTC(), Line: line, ProviderID: ref.id, Stream: "stderr"}
	ref.logs.add(e)
	r.hub.PublishFor(ref.info.Load().Spec.Tenant, ref.id, events.ProviderLog{Stream: "stderr", Line: line, At: e.Timestamp})
}

func (r *Runtime) lookup(id string) (*providerRef, error) {
	r.mu.RLock()
	ref := r.refs[id]
	r.mu.RUnlock()
	if ref == nil {
		return nil, fmt.Errorf("%w: provider %q", ErrNotFound, id)
	}
	return ref, nil
}

// request sends a message to a provider and waits for its typed reply.
func request[T any](r *Runtime, id string, msg any, timeout time.Duration) (T, error) {
	var zero T
	if r.closing.Load() {
		return zero, ErrShutdown
	}
	ref, err := r.lookup(id)
	if err != nil {
		return zero, err
	}
	res, err := r.system.Root.RequestFuture(ref.pid, msg, timeout).Result()
	if err != nil {
		if errors.Is(err, actor.ErrTimeout) {
			return zero, fmt.Errorf("%w: provider %s did not answer within %s", ErrTimeout, id, timeout)
		}
		return zero, fmt.Errorf("%w: provider %s: %w", ErrUnavailable, id, err)
	}
	v, ok := res.(T)
	if !ok {
		return zero, fmt.Errorf("%w: provider %s gave an unexpected reply %T", ErrUnavailable, id, res)
	}
	return v, nil
}

// Create registers a provider; it starts cold.
func (r *Runtime) Create(spec Spec) error {
	if r.closing.Load() {
		return ErrShutdown
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	res, err := r.system.Root.RequestFuture(r.sup, &createProvider{spec: spec}, 10*time.Second).Result()
	if err != nil {
		return fmt.Errorf("create provider: %w", err)
	}
	if e, _ := res.(error); e != nil {
		return e
	}
	return nil
}

// Delete stops a provider and removes it with its metric series. When it
// returns the provider's actor is gone (its backend told to stop) and its
// id refuses calls.
func (r *Runtime) Delete(id string) error {
	res, err := r.system.Root.RequestFuture(r.sup, &deleteProvider{id: id}, 30*time.Second).Result()
	if err != nil {
		return fmt.Errorf("delete provider: %w", err)
	}
	if d, _ := res.(*deleted); d != nil {
		return d.err
	}
	return nil
}

// IDs lists the provider ids in registration order.
func (r *Runtime) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]string(nil), r.order...)
}

// Get returns a provider's current snapshot.
func (r *Runtime) Get(id string) (*Info, error) {
	ref, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	return ref.snapshot(), nil
}

// List returns every provider's snapshot in registration order.
func (r *Runtime) List() []*Info {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Info, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.refs[id].snapshot())
	}
	return out
}

// callBudget is how long a start and a first request may take: used when
// learning a provider's tools or starting it on request.
func callBudget(info *Info) time.Duration {
	if info == nil {
		return 60 * time.Second
	}
	return info.Spec.StartupTimeout + info.Spec.CallTimeout
}

// callProvider hands one tool call to a provider actor, which starts the
// provider first if it is cold. The call ends by deadline, waiting for the
// start or a free slot included; cancelling ctx abandons it and tells the
// backend (notifications/cancelled). Calls enter through Call; this is its
// last step.
func (r *Runtime) callProvider(ctx context.Context, ref *providerRef, inv invocation, deadline time.Time, af askFor) (*CallReply, error) {
	if r.closing.Load() {
		return nil, ErrShutdown
	}
	msg := &CallTool{Tool: inv.Tool, Args: inv.Args, Extra: inv.Extra, Meta: inv.Meta, Method: inv.Method, Deadline: deadline,
		reply: make(chan *CallReply, 1), asker: askerOf(ctx), askFor: af}
	r.system.Root.Send(ref.pid, msg)
	// The transport answers a call in flight by the deadline; the timer
	// answers one still waiting for a start or a slot, and one whose
	// provider was deleted or stopped meanwhile.
	backstop := time.NewTimer(time.Until(deadline))
	defer backstop.Stop()
	select {
	case rep := <-msg.reply:
		return rep, rep.Err
	case <-ctx.Done():
		msg.cancel()
		if cause := context.Cause(ctx); errors.Is(cause, ErrShutdown) {
			return nil, fmt.Errorf("%w: call abandoned at the end of the drain", ErrShutdown)
		}
		return nil, fmt.Errorf("%w: %w", ErrCancelled, context.Cause(ctx))
	case <-backstop.C:
		select {
		case rep := <-msg.reply: // the transport's own answer came at the same time
			return rep, rep.Err
		default:
		}
		msg.cancel()
		return nil, fmt.Errorf("%w: provider %s did not answer within the call timeout", ErrTimeout, ref.id)
	}
}

// Tools returns a provider's tools; with discover a provider never started
// is started to learn them.
func (r *Runtime) Tools(ctx context.Context, id string, discover bool) ([]transports.Tool, error) {
	ref, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	if info := ref.info.Load(); info != nil && (info.ToolsKnown || !discover) {
		return info.Tools, nil
	}
	deadline := time.Now().Add(callBudget(ref.info.Load()))
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	rep, err := request[*ToolsReply](r, id, &ListTools{Discover: discover, Deadline: deadline}, time.Until(deadline)+time.Second)
	if err != nil {
		return nil, err
	}
	return rep.Tools, rep.Err
}

// Start starts a provider (a dead one gets a fresh restart budget) and
// waits until it is ready or has failed.
func (r *Runtime) Start(ctx context.Context, id string) (State, error) {
	ref, err := r.lookup(id)
	if err != nil {
		return "", err
	}
	deadline := time.Now().Add(ref.info.Load().Spec.StartupTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	rep, err := request[*Result](r, id, &Start{Deadline: deadline}, time.Until(deadline)+time.Second)
	if err != nil {
		return "", err
	}
	return rep.State, rep.Err
}

// Stop stops a provider; it stays stopped until started.
func (r *Runtime) Stop(id, reason string) (State, error) {
	rep, err := request[*Result](r, id, &Stop{Reason: reason}, 10*time.Second)
	if err != nil {
		return "", err
	}
	return rep.State, rep.Err
}

// Update changes a provider's mutable settings; one the API created is
// recorded so before Update returns.
func (r *Runtime) Update(id string, u *Update) error {
	rep, err := request[*Result](r, id, u, 10*time.Second)
	if err != nil {
		return err
	}
	if rep.Err != nil {
		return rep.Err
	}
	return r.recordUpdate(id, u)
}

// History returns a page of a provider's tool invocation history.
func (r *Runtime) History(id string, limit int, from int64) (*HistoryReply, error) {
	return request[*HistoryReply](r, id, &History{Limit: limit, FromPosition: from}, 10*time.Second)
}

// Logs returns up to n recent stderr lines of a provider, oldest first.
func (r *Runtime) Logs(id string, n int) ([]LogEntry, error) {
	ref, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	return ref.logs.last(n), nil
}

// Shutdown stops every provider, waits (bounded by ctx) for every child
// process to be reaped, kills any left, and stops the actor system.
func (r *Runtime) Shutdown(ctx context.Context) error {
	if !r.closing.CompareAndSwap(false, true) {
		return nil
	}
	r.cancel()
	r.gw.Stop()
	_ = r.system.Root.StopFuture(r.sup).Wait()
	r.procMu.Lock()
	live := make([]transports.Backend, 0, len(r.procs))
	for p := range r.procs {
		live = append(live, p)
	}
	r.procMu.Unlock()
	for _, p := range live {
		p.Stop()
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("shutdown: %d processes still exiting: %w", len(live), ctx.Err())
		<-done // Stop escalates to SIGKILL after the grace period, so this ends
	}
	r.docker.once.Do(func() {}) // no client may be made from here on
	r.closeDocker()
	r.system.Shutdown()
	return err
}

// ---- the providers supervisor ----

type createProvider struct{ spec Spec }
type deleteProvider struct{ id string }

// deleted answers deleteProvider and deleteGroup.
type deleted struct{ err error }

// providersSupervisor owns the provider actors: it spawns, stops and
// registers them. A provider actor that panics is restarted by protoactor's
// default strategy; its backend is stopped as the old instance goes.
type providersSupervisor struct {
	rt *Runtime
	// stopping are the children a delete stopped, by PID id, until their
	// Terminated arrives. The supervisor never waits for a child's stop in
	// its mailbox: one slow stop must not hold up every create and delete.
	stopping map[string]*stoppingChild
}

// stoppingChild is a deleted provider or group on its way out.
type stoppingChild struct {
	id     string
	tenant string
	group  bool
	// reply is the delete request answered once the child is gone.
	reply *actor.PID
}

// Receive implements actor.Actor.
func (s *providersSupervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *createProvider:
		ctx.Respond(s.create(ctx, m.spec))
	case *deleteProvider:
		s.delete(ctx, m.id)
	case *createGroup:
		ctx.Respond(s.createGroup(ctx, m.route))
	case *deleteGroup:
		s.deleteGroup(ctx, m.id)
	case *actor.Terminated:
		s.terminated(ctx, m.Who)
	}
}

// stopChild stops a child that was unregistered; the delete is answered
// when the child's Terminated arrives (see terminated).
func (s *providersSupervisor) stopChild(ctx actor.Context, pid *actor.PID, id, tenant string, group bool) {
	if s.stopping == nil {
		s.stopping = map[string]*stoppingChild{}
	}
	s.stopping[pid.Id] = &stoppingChild{id: id, tenant: tenant, group: group, reply: ctx.Sender()}
	ctx.Stop(pid)
}

// terminated completes the delete of a child that has stopped: what it
// leaves (metric series, the removal event) goes, and the delete is
// answered.
func (s *providersSupervisor) terminated(ctx actor.Context, who *actor.PID) {
	c := s.stopping[who.Id]
	if c == nil {
		return // stopped with the supervisor itself
	}
	delete(s.stopping, who.Id)
	if c.group {
		s.rt.hub.PublishFor(c.tenant, c.id, events.GroupChanged{Reason: "deleted"})
	} else {
		s.rt.metrics.remove(c.id)
		s.rt.hub.PublishFor(c.tenant, c.id, events.ProviderRemoved{})
	}
	if c.reply != nil {
		ctx.Send(c.reply, &deleted{})
	}
}

// beingDeleted refuses an id whose deleted actor has not stopped yet: its
// actor name is still taken.
func (s *providersSupervisor) beingDeleted(id string) error {
	for _, c := range s.stopping {
		if c.id == id {
			return fmt.Errorf("%w: %q is still being deleted", ErrExists, id)
		}
	}
	return nil
}

func (s *providersSupervisor) create(ctx actor.Context, spec Spec) error {
	rt := s.rt
	rt.mu.RLock()
	_, exists := rt.refs[spec.ID]
	_, isGroup := rt.groups[spec.ID]
	rt.mu.RUnlock()
	if exists {
		return fmt.Errorf("%w: provider %q", ErrExists, spec.ID)
	}
	if isGroup {
		return fmt.Errorf("%w: %q is a group id", ErrExists, spec.ID)
	}
	if err := s.beingDeleted(spec.ID); err != nil {
		return err
	}
	ref := &providerRef{id: spec.ID}
	// Publish a first snapshot before anyone can look the provider up.
	ref.info.Store(&Info{Spec: spec, State: StateCold})
	pid, err := ctx.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return newProvider(rt, ref) }), "provider-"+spec.ID)
	if err != nil {
		return fmt.Errorf("spawn provider %s: %w", spec.ID, err)
	}
	ref.pid = pid
	rt.mu.Lock()
	rt.refs[spec.ID] = ref
	rt.order = append(rt.order, spec.ID)
	rt.mu.Unlock()
	rt.metrics.setState(spec.ID, StateCold)
	rt.hub.PublishFor(spec.Tenant, spec.ID, events.ProviderRegistered{Mode: spec.Mode})
	return nil
}

// delete unregisters a provider, so its id refuses calls at once, and
// stops its actor; the answer comes when the actor is gone.
func (s *providersSupervisor) delete(ctx actor.Context, id string) {
	rt := s.rt
	rt.mu.Lock()
	ref := rt.refs[id]
	if ref != nil {
		delete(rt.refs, id)
		for i, x := range rt.order {
			if x == id {
				rt.order = append(rt.order[:i], rt.order[i+1:]...)
				break
			}
		}
	}
	rt.mu.Unlock()
	if ref == nil {
		ctx.Respond(&deleted{err: fmt.Errorf("%w: provider %q", ErrNotFound, id)})
		return
	}
	s.stopChild(ctx, ref.pid, id, ref.info.Load().Spec.Tenant, false)
}
