package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/internal/jsonx"
	"github.com/switchyard-mcp/switchyard/supervisor"
	"github.com/switchyard-mcp/switchyard/transports"
)

const (
	historySize       = 500
	healthHistorySize = 20
)

// Internal messages. Only calls count as activity for the idle timer
// (lastUsed); health checks, protocol noise and timers do not.
type (
	started struct {
		gen   int
		proc  transports.Backend
		sess  *transports.Session
		tools []transports.Tool
		err   error
	}
	exited struct {
		gen int
		err error
	}
	restartNow struct{ gen int }
	healthTick struct{ gen int }
	idleTick   struct{ gen int }
	healthDone struct {
		gen     int
		err     error
		latency time.Duration
	}
	protocolErr struct {
		gen int
		err error
	}
	toolsDirty struct{ gen int }
	// backendAsk is a server's request for input during a call.
	backendAsk struct {
		gen    int
		params json.RawMessage
		reply  transports.Reply
	}
	toolsRefreshed struct {
		gen   int
		tools []transports.Tool
		err   error
	}
	callDone struct {
		msg     *CallTool
		tool    string
		outcome string
		latency time.Duration
		err     error
		// at is when the call ended by rt.clock: it counts as activity
		// then, not when the actor gets to this message.
		at time.Time
	}
)

// inMailbox runs a function in a provider actor's mailbox. Only tests send
// it: to make the actor panic, or hold its mailbox as a slow handler would.
type inMailbox struct{ f func() }

// waiter is a request parked until the provider is ready.
type waiter struct {
	msg      any
	sender   *actor.PID
	deadline time.Time
}

// provider is the actor owning one provider: its lifecycle, its backend
// connection, its tool list and its history.
type provider struct {
	rt   *Runtime
	ref  *providerRef
	spec Spec
	self *actor.PID

	state   State
	gen     int
	proc    transports.Backend
	sess    *transports.Session
	tools   []transports.Tool
	served  []transports.Tool
	toolIdx map[string]*toolStats
	known   bool
	waiting []waiter
	// queue holds calls waiting for a free slot under MaxConcurrency.
	queue     []waiter
	restarter *supervisor.Restarter
	health    *supervisor.HealthTracker
	healthT   supervisor.Timer
	// restartT is set while a restart waits out its backoff (no start
	// attempt runs); restartAt is when it ends.
	restartT  supervisor.Timer
	restartAt time.Time
	idleT     supervisor.Timer

	lastErr   string
	restarts  int
	startedAt time.Time
	// lastUsed is when a call last began or ended, read from rt.clock
	// like every time the idle, health and restart timers depend on.
	lastUsed time.Time
	// hist is a ring of the last historySize invocations; histPos counts
	// every invocation, so hist[histPos%historySize] is the next slot.
	hist    []Invocation
	histPos int64
	checks  []HealthCheck
	server  *transports.ServerInfo
	// tools are the tools offered (those the pin lets through, see
	// pinTools), served all the server lists; fingerprint is that of
	// tools; quarantine is set (for good) when they break the pin.
	fingerprint string
	quarantine  string
	// active are the calls in flight, to find who a server's request for
	// input belongs to.
	active map[*CallTool]struct{}
	// subs counts the clients following each resource of a backend of the
	// stateless revision; listens stops the stream following it on the
	// running backend. Subscriptions outlive the backend: a new one
	// follows them again.
	subs    map[string]int
	listens map[string]func()
}

// newProvider makes the actor of a provider from the snapshot its ref
// holds: the first one from the spec it was created with, one restarted by
// its supervisor (after a panic) from what the instance before published,
// so updates, the pin, the tools and a quarantine carry over.
func newProvider(rt *Runtime, ref *providerRef) *provider {
	info := ref.info.Load()
	spec := info.Spec
	p := &provider{
		rt:          rt,
		ref:         ref,
		spec:        spec,
		state:       info.State,
		gen:         int(ref.gen.Load()),
		toolIdx:     map[string]*toolStats{},
		active:      map[*CallTool]struct{}{},
		subs:        map[string]int{},
		listens:     map[string]func(){},
		restarter:   supervisor.NewRestarter(spec.Restart, rt.clock, nil),
		health:      supervisor.NewHealthTracker(spec.DegradedAfter),
		tools:       info.Tools,
		known:       info.ToolsKnown,
		fingerprint: info.Fingerprint,
		quarantine:  info.Quarantine,
		restarts:    info.Restarts,
		lastErr:     info.LastError,
		checks:      info.Health,
	}
	for _, t := range p.tools {
		p.toolIdx[t.Name] = rt.metrics.tool(spec.ID, t.Name)
	}
	return p
}

// Receive implements actor.Actor.
func (p *provider) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.self = ctx.Self()
		p.publish()
	case *CallTool:
		p.onCall(m, ctx.Sender())
	case *ListTools:
		p.onListTools(m, ctx.Sender())
	case *Start:
		p.onStart(m, ctx.Sender())
	case *Stop:
		p.failWaiters(fmt.Errorf("%w: provider %s was stopped (%s)", ErrStopped, p.spec.ID, m.Reason))
		p.stop(StateStopped, m.Reason)
		ctx.Respond(&Result{State: p.state})
	case *Update:
		p.onUpdate(ctx, m)
	case *History:
		ctx.Respond(p.history(m))
	case *started:
		p.onStarted(m)
	case *exited:
		p.onExited(m)
	case *restartNow:
		if m.gen == p.gen && p.state == StateInitializing && p.proc == nil {
			p.launch()
		}
	case *healthTick:
		p.onHealthTick(m)
	case *healthDone:
		p.onHealthDone(m)
	case *protocolErr:
		if m.gen == p.gen {
			p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.ProtocolError{Error: m.err.Error()})
			p.lastErr = m.err.Error()
			p.failCheck(m.err)
		}
	case *toolsDirty:
		if m.gen == p.gen && p.sess != nil {
			p.refreshTools()
		}
	case *toolsRefreshed:
		if m.gen == p.gen && m.err == nil {
			p.setTools(m.tools)
		}
	case *callDone:
		p.onCallDone(m)
	case *backendAsk:
		if m.gen == p.gen {
			p.onAsk(m)
		} else {
			m.reply(json.RawMessage(`{"action":"cancel"}`), nil)
		}
	case *pinMsg:
		p.spec.Pinned = m.fp
		p.spec.Declared = m.tools
		if p.known {
			// A copy: setTools sorts in place, and served may be shared
			// with a published snapshot.
			p.setTools(append([]transports.Tool(nil), p.served...))
		} else {
			p.publish()
		}
		ctx.Respond(&Result{State: p.state})
	case *idleTick:
		if m.gen == p.gen {
			p.onIdle()
		}
	case *actor.Stopping:
		p.stop(StateStopped, "shutdown")
	case *actor.Restarting:
		// The backend goes with this instance; the next one starts it
		// lazily again, unless it was stopped or dead.
		to := StateCold
		if p.state == StateStopped || p.state == StateDead {
			to = p.state
		}
		p.stop(to, "actor restarting")
		// Timers and goroutines of this instance name their generation;
		// the next instance starts beyond it so their messages are stale.
		p.ref.gen.Store(int64(p.gen))
	case *subscribe:
		p.onSubscribe(m)
	case *subscribeFailed:
		if m.gen == p.gen {
			// The backend refused it: no one follows it any more.
			delete(p.subs, m.uri)
			delete(p.listens, m.uri)
		}
	case *inMailbox:
		m.f()
	case *actor.Stopped:
		p.failWaiters(ErrShutdown)
	}
}

// publish stores a fresh snapshot for readers outside the actor.
func (p *provider) publish() {
	info := &Info{
		Spec:           p.spec,
		State:          p.state,
		Alive:          p.proc != nil && (p.state == StateReady || p.state == StateDegraded),
		Tools:          p.tools,
		ToolsKnown:     p.known,
		Server:         p.server,
		LastError:      p.lastErr,
		Restarts:       p.restarts,
		HealthFailures: p.health.Failures(),
		Health:         append([]HealthCheck(nil), p.checks...),
		StartedAt:      p.startedAt,
		Fingerprint:    p.fingerprint,
		Quarantine:     p.quarantine,
	}
	if p.proc != nil {
		bi := p.proc.Describe()
		info.Backend = &bi
		info.Pid = bi.Pid
	}
	if n := len(p.checks); n > 0 {
		info.LastHealthCheck = &info.Health[n-1]
	}
	p.ref.info.Store(info)
}

func (p *provider) setState(s State, reason string) {
	if p.state == s {
		p.publish()
		return
	}
	from := p.state
	p.state = s
	p.rt.metrics.setState(p.spec.ID, s)
	p.armIdle()
	// The snapshot first: who hears of the change reads it.
	p.publish()
	p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.ProviderStateChanged{From: string(from), To: string(s), Reason: reason})
}

// armIdle (re)starts the idle timer while the provider runs. The timer
// checks lastUsed when it fires instead of being reset by every call.
func (p *provider) armIdle() {
	if p.idleT != nil {
		p.idleT.Stop()
		p.idleT = nil
	}
	if (p.state != StateReady && p.state != StateDegraded) || p.spec.IdleTTL <= 0 {
		return
	}
	wait := p.spec.IdleTTL
	if !p.lastUsed.IsZero() {
		if left := p.spec.IdleTTL - p.rt.clock.Now().Sub(p.lastUsed); left > 0 && left < wait {
			wait = left
		}
	}
	gen, self, root := p.gen, p.self, p.rt.system.Root
	p.idleT = p.rt.clock.AfterFunc(wait, func() { root.Send(self, &idleTick{gen: gen}) })
}

// ---- calls ----

func (p *provider) onCall(m *CallTool, sender *actor.PID) {
	switch p.state {
	case StateReady, StateDegraded:
		if p.inFlight() < p.spec.MaxConcurrency {
			p.dispatch(m, sender)
			return
		}
		if len(p.queue) >= p.spec.MaxQueue {
			p.rt.metrics.busy(p.spec.ID)
			m.respond(p.rt, sender, &CallReply{Retryable: true, Err: fmt.Errorf(
				"%w: provider %s has %d calls in flight and %d waiting", ErrBusy, p.spec.ID, p.inFlight(), len(p.queue))})
			return
		}
		p.queue = append(p.queue, waiter{msg: m, sender: sender, deadline: m.Deadline})
		p.ref.queued.Store(int64(len(p.queue)))
	case StateCold:
		p.park(m, sender, m.Deadline)
		p.begin("first use")
	case StateInitializing:
		if p.restartT != nil {
			m.respond(p.rt, sender, &CallReply{Retryable: true, Err: p.backoffErr()})
			return
		}
		p.park(m, sender, m.Deadline)
	case StateStopped:
		m.respond(p.rt, sender, &CallReply{Retryable: true, Err: fmt.Errorf("%w: provider %s is stopped; start it first", ErrStopped, p.spec.ID)})
	case StateDead:
		m.respond(p.rt, sender, &CallReply{Retryable: true, Err: fmt.Errorf("%w: provider %s is dead (%s); start it to retry", ErrDead, p.spec.ID, p.lastErr)})
	}
}

func (p *provider) reply(to *actor.PID, msg any) {
	if to != nil {
		p.rt.system.Root.Send(to, msg)
	}
}

func (p *provider) dispatch(m *CallTool, sender *actor.PID) {
	if p.quarantine != "" {
		m.respond(p.rt, sender, &CallReply{Retryable: true, Err: fmt.Errorf("%w: provider %s: %s", ErrQuarantined, p.spec.ID, p.quarantine)})
		return
	}
	ts := p.toolIdx[m.Tool]
	if m.Method != "" {
		// A forwarded request is counted under its method's name.
		ts = p.rt.metrics.tool(p.spec.ID, m.Method)
	} else if p.known && ts == nil {
		m.respond(p.rt, sender, &CallReply{Err: fmt.Errorf("%w: provider %s has no tool %q", ErrToolNotFound, p.spec.ID, m.Tool)})
		return
	}
	if m.cancelled.Load() {
		m.respond(p.rt, sender, &CallReply{Err: ErrCancelled})
		return
	}
	if ts == nil {
		ts = p.rt.metrics.tool(p.spec.ID, "_unknown")
	}
	begin, used := time.Now(), p.rt.clock.Now() // before the call can end
	timeout := p.spec.CallTimeout
	if !m.Deadline.IsZero() {
		if left := m.Deadline.Sub(begin); left < timeout {
			timeout = left
		}
		if timeout <= 0 {
			m.respond(p.rt, sender, &CallReply{Err: fmt.Errorf("%w: deadline passed before the call started", ErrTimeout)})
			return
		}
	}
	rt, self, tool, clock := p.rt, p.self, m.Tool, p.rt.clock
	if m.Method != "" {
		tool = m.Method
	}
	ts.inflight.Inc()
	done := func(r transports.Response) {
		lat := time.Since(begin)
		ts.inflight.Dec()
		rep := &CallReply{Result: r.Result, Latency: lat}
		outcome := "ok"
		if r.Err != nil {
			rep.Err = classify(r.Err)
			rep.Retryable = retryable(r)
			outcome = outcomeOf(rep.Err)
		} else if m.Method == "" && isErrorResult(r.Result) {
			rep.IsError = true
			outcome = "tool_error"
		}
		ts.observe(outcome, lat)
		// The actor hears first, so anything the caller asks after its
		// reply (history, counters) already includes this call.
		rt.system.Root.Send(self, &callDone{msg: m, tool: tool, outcome: outcome, latency: lat, err: rep.Err, at: clock.Now()})
		m.respond(rt, sender, rep)
	}
	var id int64
	var err error
	if m.Method != "" {
		id, err = p.sess.GoRequest(m.Method, m.Args, m.Meta, timeout, done)
	} else {
		id, err = p.sess.GoCallWith(tool, m.Args, m.Extra, m.Meta, timeout, done)
	}
	if err != nil {
		ts.inflight.Dec()
		ts.observe("busy", 0)
		m.respond(p.rt, sender, &CallReply{Retryable: true, Err: classify(err)})
		return
	}
	m.started(p.sess.Mux(), id)
	p.active[m] = struct{}{}
	p.ref.inflight.Add(1)
	p.lastUsed = used
}

func (p *provider) onCallDone(m *callDone) {
	delete(p.active, m.msg)
	p.ref.inflight.Add(-1)
	p.drainQueue()
	now := time.Now()
	if m.at.After(p.lastUsed) {
		p.lastUsed = m.at
	}
	// Counters are read live by snapshot(); no new snapshot per call.
	p.ref.calls.Add(1)
	p.ref.lastUsed.Store(now.UnixNano())
	inv := Invocation{Position: p.histPos, At: now.UTC(), Tool: m.tool, Outcome: m.outcome, LatencyMs: ms(m.latency)}
	if m.err != nil {
		p.ref.errs.Add(1)
		inv.Error = m.err.Error()
	}
	if p.hist == nil {
		p.hist = make([]Invocation, historySize)
	}
	p.hist[p.histPos%historySize] = inv
	p.histPos++
	p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.ToolInvoked{Tool: m.tool, Outcome: m.outcome, LatencyMs: inv.LatencyMs, Error: inv.Error})
}

func (p *provider) history(m *History) *HistoryReply {
	out := &HistoryReply{Total: p.histPos}
	first := max(p.histPos-historySize, m.FromPosition, 0)
	for pos := first; pos < p.histPos && len(out.Records) < m.Limit; pos++ {
		out.Records = append(out.Records, p.hist[pos%historySize])
	}
	return out
}

// inFlight is the number of calls dispatched and not yet done; the actor
// is its only writer, readers elsewhere see it through snapshot().
func (p *provider) inFlight() int { return int(p.ref.inflight.Load()) }

// drainQueue dispatches queued calls while slots are free, dropping those
// whose caller gave up or whose deadline passed.
func (p *provider) drainQueue() {
	if len(p.queue) == 0 {
		return // the common case: nothing waits for a slot
	}
	for len(p.queue) > 0 && p.inFlight() < p.spec.MaxConcurrency && (p.state == StateReady || p.state == StateDegraded) {
		w := p.queue[0]
		p.queue[0] = waiter{}
		p.queue = p.queue[1:]
		m := w.msg.(*CallTool)
		if !w.deadline.IsZero() && time.Now().After(w.deadline) {
			m.respond(p.rt, w.sender, &CallReply{Retryable: true, Err: fmt.Errorf("%w: waited for a free slot until the deadline", ErrTimeout)})
			continue
		}
		p.dispatch(m, w.sender)
	}
	if len(p.queue) == 0 {
		p.queue = nil // let the backing array go
	}
	p.ref.queued.Store(int64(len(p.queue)))
}

// retryable reports whether a failed call never reached the tool: not
// written, or a connection that failed before the request could be sent.
func retryable(r transports.Response) bool {
	if !r.Written || errors.Is(r.Err, transports.ErrBusy) {
		return true
	}
	// A connection that closed (the process died) lost the call; the
	// caller may try elsewhere.
	return errors.Is(r.Err, transports.ErrClosed) || errors.Is(r.Err, transports.ErrEOF) || notDelivered(r.Err)
}

// notDelivered recognises the remote adapter's answer for a request the
// HTTP layer could not deliver.
func notDelivered(err error) bool {
	var rpc *transports.RPCError
	if !errors.As(err, &rpc) || rpc.Code != -32000 || len(rpc.Data) == 0 {
		return false
	}
	var d struct {
		Delivered *bool `json:"possiblyDelivered"`
	}
	return json.Unmarshal(rpc.Data, &d) == nil && d.Delivered != nil && !*d.Delivered
}

// classify maps transport errors to runtime sentinels, keeping the detail.
func classify(err error) error {
	var rpc *transports.RPCError
	switch {
	case errors.As(err, &rpc):
		return fmt.Errorf("%w: %w", ErrBackend, err)
	case errors.Is(err, transports.ErrTimeout):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, transports.ErrBusy):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	default:
		return fmt.Errorf("%w: %w", ErrBackend, err)
	}
}

func outcomeOf(err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, transports.ErrClosed):
		return "transport_error"
	default:
		return "error"
	}
}

// isErrorResult reads the top-level isError flag of a CallToolResult.
func isErrorResult(raw json.RawMessage) bool {
	isError := false
	_ = jsonx.Members(raw, func(k, v []byte) bool {
		if string(k) == "isError" {
			isError = string(v) == "true"
			return false
		}
		return true
	})
	return isError
}

// ---- tools ----

func (p *provider) onListTools(m *ListTools, sender *actor.PID) {
	if p.known || !m.Discover {
		p.reply(sender, &ToolsReply{Tools: p.tools})
		return
	}
	switch p.state {
	case StateCold:
		p.park(m, sender, m.Deadline)
		p.begin("tool discovery")
	case StateInitializing:
		if p.restartT != nil {
			p.reply(sender, &ToolsReply{Err: p.backoffErr()})
			return
		}
		p.park(m, sender, m.Deadline)
	default:
		p.reply(sender, &ToolsReply{Tools: p.tools})
	}
}

func (p *provider) setTools(tools []transports.Tool) {
	sort.Slice(tools, func(i, j int) bool { return tools[i].Name < tools[j].Name })
	var added []string
	visible, fp, broken := pinTools(&p.spec, tools)
	if p.known {
		added = hiddenAdded(&p.spec, p.served, tools, visible)
	}
	changed := !p.known || !sameTools(p.tools, visible)
	p.tools, p.served, p.fingerprint = visible, tools, fp
	p.known = true
	idx := make(map[string]*toolStats, len(visible))
	for _, t := range visible {
		if ts := p.toolIdx[t.Name]; ts != nil {
			idx[t.Name] = ts
		} else {
			idx[t.Name] = p.rt.metrics.tool(p.spec.ID, t.Name)
		}
	}
	p.toolIdx = idx
	p.checkPinned(broken)
	p.publish()
	if changed {
		p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.ToolsChanged{Tools: len(visible)})
	}
	for _, name := range added {
		p.rt.gwm.hiddenTools.Inc()
		p.rt.log.Warn("pinned server serves a new tool: hidden", "provider", p.spec.ID, "tenant", p.spec.Tenant, "tool", name)
		p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.ToolAdded{Tenant: p.spec.Tenant, Tool: name})
	}
}

// checkPinned quarantines the provider when the tools it serves break its
// pin (a "rug pull", or declared tools it does not serve as declared):
// broken says how. Quarantine lasts until the server is registered again.
func (p *provider) checkPinned(broken string) {
	if broken != "" && p.quarantine == "" {
		registered := p.spec.Pinned
		if registered == "" {
			registered = Fingerprint(p.spec.Declared)
		}
		p.quarantine = fmt.Sprintf("%s (fingerprint %s, registered %s)", broken, p.fingerprint, registered)
		p.rt.gwm.poisoning.Inc()
		p.rt.log.Warn("tool poisoning detected: provider quarantined", "provider", p.spec.ID, "tenant", p.spec.Tenant,
			"reason", broken, "registered", registered, "served", p.fingerprint)
		p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.ToolPoisoningDetected{Tenant: p.spec.Tenant, Registered: registered, Served: p.fingerprint})
		p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.Alert{Level: "critical", Message: "provider " + p.spec.ID + " quarantined: " + p.quarantine})
	}
}

func sameTools(a, b []transports.Tool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || string(a[i].Raw) != string(b[i].Raw) {
			return false
		}
	}
	return true
}

func (p *provider) refreshTools() {
	sess, gen, self, root, timeout := p.sess, p.gen, p.self, p.rt.system.Root, p.spec.CallTimeout
	p.rt.goTracked(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		tools, err := sess.ListTools(ctx)
		root.Send(self, &toolsRefreshed{gen: gen, tools: tools, err: err})
	})
}

// ---- lifecycle ----

func (p *provider) park(msg any, sender *actor.PID, deadline time.Time) {
	if len(p.waiting) >= p.spec.MaxPending {
		p.answer(sender, msg, fmt.Errorf("%w: %d requests already wait for provider %s to start", ErrBusy, len(p.waiting), p.spec.ID))
		return
	}
	p.waiting = append(p.waiting, waiter{msg: msg, sender: sender, deadline: deadline})
}

// answer replies to a parked request with an error of the right type.
func (p *provider) answer(to *actor.PID, msg any, err error) {
	switch m := msg.(type) {
	case *CallTool:
		// A parked call never reached the backend.
		m.respond(p.rt, to, &CallReply{Err: err, Retryable: true})
	case *ListTools:
		p.reply(to, &ToolsReply{Err: err})
	default:
		p.reply(to, &Result{State: p.state, Err: err})
	}
}

func (p *provider) failWaiters(err error) {
	w := append(p.waiting, p.queue...)
	p.waiting, p.queue = nil, nil
	p.ref.queued.Store(0)
	for _, x := range w {
		p.answer(x.sender, x.msg, err)
	}
}

func (p *provider) flushWaiters() {
	w := p.waiting
	p.waiting = nil
	now := time.Now()
	for _, x := range w {
		if !x.deadline.IsZero() && now.After(x.deadline) {
			p.answer(x.sender, x.msg, fmt.Errorf("%w: provider %s did not become ready in time", ErrTimeout, p.spec.ID))
			continue
		}
		switch m := x.msg.(type) {
		case *CallTool:
			p.dispatch(m, x.sender)
		case *ListTools:
			p.reply(x.sender, &ToolsReply{Tools: p.tools})
		default:
			p.reply(x.sender, &Result{State: p.state})
		}
	}
}

func (p *provider) onStart(m *Start, sender *actor.PID) {
	switch p.state {
	case StateReady, StateDegraded:
		p.reply(sender, &Result{State: p.state})
	case StateInitializing:
		p.park(m, sender, m.Deadline)
		if p.restartT != nil {
			p.launch() // a start asked for does not wait out the backoff
		}
	default:
		if p.state == StateDead {
			p.restarter.Reset()
		}
		p.park(m, sender, m.Deadline)
		p.begin("start requested")
	}
}

// begin moves to initializing and launches the backend.
func (p *provider) begin(reason string) {
	p.setState(StateInitializing, reason)
	p.launch()
}

// launch starts the backend off the mailbox; the outcome arrives as started.
func (p *provider) launch() {
	p.cancelRestart()
	p.gen++
	gen, spec, self, rt, ref := p.gen, p.spec, p.self, p.rt, p.ref
	root := rt.system.Root
	rt.goTracked(func() {
		hctx, cancel := context.WithTimeout(context.Background(), spec.StartupTimeout)
		defer cancel()
		proc, err := rt.startBackend(hctx, spec, transports.Hooks{
			Mux: transports.MuxOptions{
				MaxMessage: spec.MaxMessage,
				OnNotification: func(method string, params json.RawMessage) {
					if method == "notifications/tools/list_changed" {
						root.Send(self, &toolsDirty{gen: gen})
					}
					if cr := rt.clientRelay(); cr != nil {
						cr.Notify(spec.ID, method, params)
					}
				},
				OnProtocolError: func(err error) { root.Send(self, &protocolErr{gen: gen, err: err}) },
				OnRequest: func(method string, params json.RawMessage, reply transports.Reply) bool {
					if cr := rt.clientRelay(); cr != nil && cr.Request(spec.ID, method, params, reply) {
						return true
					}
					if method != "elicitation/create" {
						return false
					}
					root.Send(self, &backendAsk{gen: gen, params: params, reply: reply})
					return true
				},
			},
			OnStderr:   func(line string) { rt.logLine(ref, line) },
			OnProgress: func(msg string) { rt.hub.PublishFor(spec.Tenant, ref.id, events.BackendProgress{Message: msg}) },
			OnExit:     func(err error) { root.Send(self, &exited{gen: gen, err: err}) },
		})
		if err != nil {
			root.Send(self, &started{gen: gen, err: err})
			return
		}
		rt.trackProcess(proc)
		sess, err := transports.Handshake(hctx, proc.Mux(), transports.ClientInfo{Name: "switchyard", Version: rt.version})
		var tools []transports.Tool
		if err == nil {
			tools, err = sess.ListTools(hctx)
		}
		if err != nil {
			proc.Stop()
			root.Send(self, &started{gen: gen, proc: proc, err: fmt.Errorf("handshake: %w", err)})
			return
		}
		root.Send(self, &started{gen: gen, proc: proc, sess: sess, tools: tools})
	})
}

func (p *provider) onStarted(m *started) {
	if m.gen != p.gen || p.state != StateInitializing {
		if m.proc != nil {
			m.proc.Stop() // a start that lost a race with stop or delete
		}
		return
	}
	if m.err != nil {
		p.lastErr = m.err.Error()
		if errors.Is(m.err, transports.ErrImageUnavailable) {
			// Restarting cannot bring an image that could not be pulled.
			p.giveUp(m.err.Error())
			return
		}
		// What waits for this start fails now, not after the exit.
		p.failStart(m.err)
		if m.proc == nil {
			// It never ran, so no exit will follow: decide now.
			p.crashed(m.err)
		} else {
			p.proc = m.proc // the exit that follows decides
		}
		return
	}
	p.proc, p.sess = m.proc, m.sess
	info := m.sess.Info()
	p.server = &info
	p.startedAt = time.Now()
	p.lastUsed = p.rt.clock.Now()
	p.lastErr = ""
	p.restarter.Healthy()
	p.health = supervisor.NewHealthTracker(p.spec.DegradedAfter)
	p.rt.log.Info("provider started", "provider", p.spec.ID, "mode", p.spec.Mode, "pid", m.proc.Describe().Pid,
		"protocol", info.ProtocolVersion, "tools", len(m.tools))
	p.setTools(m.tools)
	p.listens = map[string]func(){}
	for uri := range p.subs {
		p.follow(uri, nil)
	}
	p.setState(StateReady, "started")
	p.scheduleHealth()
	p.flushWaiters()
}

// onSubscribe counts a client in or out of a resource's followers, and
// has the running backend follow the resource or let it go. The first
// follower gets the backend's answer; the others share its subscription.
func (p *provider) onSubscribe(m *subscribe) {
	if !m.on {
		if p.subs[m.uri] > 1 {
			p.subs[m.uri]--
		} else if p.subs[m.uri] == 1 {
			delete(p.subs, m.uri)
			if stop := p.listens[m.uri]; stop != nil {
				stop()
				delete(p.listens, m.uri)
			}
		}
		m.reply <- nil
		return
	}
	if p.subs[m.uri] == 0 && len(p.subs) >= maxResourceSubs {
		m.reply <- fmt.Errorf("%w: provider %s follows %d resources already", ErrBusy, p.spec.ID, len(p.subs))
		return
	}
	p.subs[m.uri]++
	if p.subs[m.uri] > 1 || p.sess == nil {
		m.reply <- nil
		return
	}
	p.follow(m.uri, m.reply)
}

// maxResourceSubs bounds the resources one provider follows for clients.
const maxResourceSubs = 1000

// follow has the running backend follow one resource: under the 2025
// revisions with resources/subscribe (and resources/unsubscribe to let it
// go), under the stateless one with a subscriptions/listen stream. reply,
// if not nil, gets the outcome; a backend that refuses drops the
// resource.
func (p *provider) follow(uri string, reply chan<- error) {
	answer := func(err error) {
		if reply != nil {
			reply <- err
		}
	}
	sess := p.sess
	gen, self, root := p.gen, p.self, p.rt.system.Root
	if sess.Stateless() {
		stop, err := sess.ListenResource(uri, func(err error) {
			if err != nil {
				root.Send(self, &subscribeFailed{uri: uri, gen: gen})
			}
			answer(err)
		})
		if err != nil {
			delete(p.subs, uri)
			answer(fmt.Errorf("%w: provider %s: %w", ErrUnavailable, p.spec.ID, err))
			return
		}
		p.listens[uri] = stop
		return
	}
	params := jsonx.AppendString([]byte(`"uri":`), uri)
	timeout := p.spec.CallTimeout
	_, err := sess.GoRequest("resources/subscribe", params, nil, timeout, func(r transports.Response) {
		if r.Err != nil {
			root.Send(self, &subscribeFailed{uri: uri, gen: gen})
		}
		answer(r.Err)
	})
	if err != nil {
		delete(p.subs, uri)
		answer(fmt.Errorf("%w: provider %s: %w", ErrUnavailable, p.spec.ID, err))
		return
	}
	p.listens[uri] = func() {
		_, _ = sess.GoRequest("resources/unsubscribe", params, nil, timeout, func(transports.Response) {})
	}
}

func (p *provider) onExited(m *exited) {
	if m.gen != p.gen {
		return
	}
	p.proc, p.sess = nil, nil
	p.stopHealth()
	switch p.state {
	case StateStopped, StateCold, StateDead:
		p.publish()
		return
	}
	reason := "process exited"
	if m.err != nil {
		reason = m.err.Error()
	}
	if p.lastErr == "" || p.state != StateInitializing {
		p.lastErr = reason
	}
	p.crashed(errors.New(p.lastErr))
}

// crashed applies the restart policy after a crash or a failed start.
func (p *provider) crashed(cause error) {
	d := p.restarter.Failed()
	if d.Action == supervisor.GiveUp {
		p.giveUp(fmt.Sprintf("%v; last error: %v", p.restarter.Err(), cause))
		return
	}
	p.failStart(cause)
	p.rt.log.Warn("provider failed: restarting", "provider", p.spec.ID, "attempt", d.Attempt, "delay", d.Delay, "reason", cause.Error())
	p.restarts++
	p.rt.metrics.restart(p.spec.ID)
	p.publish() // who hears of the decision reads the count with it
	p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.ProviderRestarting{Attempt: d.Attempt, DelayMs: ms(d.Delay), Reason: cause.Error()})
	p.setState(StateInitializing, "restarting: "+cause.Error())
	if d.Delay <= 0 {
		p.launch()
		return
	}
	p.gen++ // a late exit of the old process must not count twice
	gen, self, root := p.gen, p.self, p.rt.system.Root
	p.restartAt = p.rt.clock.Now().Add(d.Delay)
	p.restartT = p.rt.clock.AfterFunc(d.Delay, func() { root.Send(self, &restartNow{gen: gen}) })
}

// failStart refuses the requests waiting for a start that failed or a
// provider that crashed: they never reached the backend, so they may be
// retried elsewhere at once instead of waiting out a backoff and the
// next attempt, which may fail too.
func (p *provider) failStart(cause error) {
	if len(p.waiting) == 0 && len(p.queue) == 0 {
		return
	}
	what := "crashed"
	if p.state == StateInitializing {
		what = "failed to start"
	}
	p.failWaiters(fmt.Errorf("%w: provider %s %s: %w", ErrUnavailable, p.spec.ID, what, cause))
}

// backoffErr refuses a request that arrives while a restart waits out its
// backoff; it is retryable, later or elsewhere.
func (p *provider) backoffErr() error {
	left := max(p.restartAt.Sub(p.rt.clock.Now()), 0).Round(time.Millisecond)
	return fmt.Errorf("%w: provider %s is restarting after a failure (%s); next attempt in %s", ErrUnavailable, p.spec.ID, p.lastErr, left)
}

func (p *provider) cancelRestart() {
	if p.restartT != nil {
		p.restartT.Stop()
		p.restartT = nil
	}
}

// giveUp marks the provider dead, raises a critical alert and refuses the
// requests waiting for it.
func (p *provider) giveUp(reason string) {
	msg := fmt.Sprintf("provider %s: %s", p.spec.ID, reason)
	p.rt.log.Error("provider dead: giving up", "provider", p.spec.ID, "reason", reason)
	p.lastErr = msg
	p.setState(StateDead, msg)
	p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.Alert{Level: "critical", Message: msg})
	p.failWaiters(fmt.Errorf("%w: %s", ErrDead, msg))
}

// stop ends the backend and parks the provider in the given state.
func (p *provider) stop(to State, reason string) {
	p.stopHealth()
	p.cancelRestart()
	if p.proc != nil {
		p.proc.Stop()
	}
	p.proc, p.sess = nil, nil
	p.gen++
	p.failWaiters(fmt.Errorf("%w: provider %s stopped (%s)", ErrUnavailable, p.spec.ID, reason))
	p.setState(to, reason)
}

func (p *provider) onIdle() {
	p.idleT = nil
	if p.state != StateReady && p.state != StateDegraded {
		return
	}
	if p.inFlight() > 0 || len(p.waiting) > 0 || p.rt.clock.Now().Sub(p.lastUsed) < p.spec.IdleTTL {
		p.armIdle() // busy or recently used: not idle yet
		return
	}
	p.stop(StateCold, "idle")
}

func (p *provider) onUpdate(ctx actor.Context, m *Update) {
	if m.Description != nil {
		p.spec.Description = *m.Description
	}
	if m.Env != nil {
		p.spec.Env = m.Env
	}
	if m.IdleTTL != nil {
		p.spec.IdleTTL = *m.IdleTTL
		p.armIdle()
	}
	if m.HealthInterval != nil {
		p.spec.HealthInterval = *m.HealthInterval
		if p.proc != nil {
			p.scheduleHealth()
		}
	}
	p.publish()
	ctx.Respond(&Result{State: p.state})
}

// ---- health ----

func (p *provider) scheduleHealth() {
	p.stopHealth()
	if p.spec.HealthInterval <= 0 {
		return
	}
	gen, self, root := p.gen, p.self, p.rt.system.Root
	p.healthT = p.rt.clock.AfterFunc(p.spec.HealthInterval, func() { root.Send(self, &healthTick{gen: gen}) })
}

func (p *provider) stopHealth() {
	if p.healthT != nil {
		p.healthT.Stop()
		p.healthT = nil
	}
}

func (p *provider) onHealthTick(m *healthTick) {
	if m.gen != p.gen || p.sess == nil {
		return
	}
	timeout := p.spec.HealthInterval
	if timeout > 5*time.Second {
		timeout = 5 * time.Second
	}
	gen, self, root := p.gen, p.self, p.rt.system.Root
	begin := time.Now()
	_, err := p.sess.GoPing(timeout, func(r transports.Response) {
		root.Send(self, &healthDone{gen: gen, err: r.Err, latency: time.Since(begin)})
	})
	if err != nil {
		root.Send(self, &healthDone{gen: gen, err: err})
	}
}

func (p *provider) onHealthDone(m *healthDone) {
	if m.gen != p.gen {
		return
	}
	hc := HealthCheck{At: time.Now().UTC(), OK: m.err == nil, LatencyMs: ms(m.latency)}
	if m.err != nil {
		hc.Error = m.err.Error()
	}
	if len(p.checks) == healthHistorySize {
		copy(p.checks, p.checks[1:])
		p.checks = p.checks[:healthHistorySize-1]
	}
	p.checks = append(p.checks, hc)
	if m.err != nil {
		p.failCheck(m.err)
	} else if p.health.OK() && p.state == StateDegraded {
		p.setState(StateReady, "health check passed")
	} else {
		p.publish()
	}
	p.scheduleHealth()
}

func (p *provider) failCheck(err error) {
	degraded := p.health.Fail()
	p.rt.hub.PublishFor(p.spec.Tenant, p.spec.ID, events.HealthChecked{OK: false, Failures: p.health.Failures(), Error: err.Error()})
	if degraded && p.state == StateReady {
		p.setState(StateDegraded, fmt.Sprintf("%d consecutive failures: %v", p.health.Failures(), err))
		return
	}
	p.publish()
}

// childEnv builds a child's environment: the inherited names, then the
// configured values.
func childEnv(s Spec) []string {
	names := s.InheritEnv
	if names == nil {
		names = config.DefaultInheritEnv
	}
	env := make([]string, 0, len(names)+len(s.Env))
	for _, n := range names {
		if v, ok := os.LookupEnv(n); ok {
			if _, over := s.Env[n]; !over {
				env = append(env, n+"="+v)
			}
		}
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+s.Env[k])
	}
	return env
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// onAsk relays a server's request for input. Over stdio a request carries
// no link to the call it serves, so it goes to the asker of the call in
// flight when there is exactly one; otherwise (or when that call has no
// asker) it waits as an elicitation of the provider's tenant. The answer
// is written off the mailbox; a failure or timeout answers "cancel".
func (p *provider) onAsk(m *backendAsk) {
	var req struct {
		Message         string          `json:"message"`
		RequestedSchema json.RawMessage `json:"requestedSchema"`
	}
	if err := json.Unmarshal(m.params, &req); err != nil {
		m.reply(nil, &transports.RPCError{Code: -32602, Message: "invalid elicitation params: " + err.Error()})
		return
	}
	if len(req.RequestedSchema) == 0 {
		req.RequestedSchema = json.RawMessage(`{"type":"object"}`)
	}
	deadline := time.Now().Add(p.spec.CallTimeout)
	tenant, session, tool := p.spec.Tenant, "", ""
	var ask Asker
	if len(p.active) == 1 {
		for c := range p.active {
			tool, ask = c.Tool, c.asker
			if c.askFor.set {
				tenant, session = c.askFor.tenant, c.askFor.session
			}
			if !c.Deadline.IsZero() {
				deadline = c.Deadline
			}
		}
	}
	if ask == nil {
		ask = p.rt.gw.GatewayAsker(tenant, session, tool)
	}
	rt := p.rt
	rt.goTracked(func() {
		ctx, cancel := context.WithDeadline(rt.ctx, deadline)
		defer cancel()
		res, err := ask(ctx, req.Message, req.RequestedSchema)
		if err != nil || len(res) == 0 {
			res = json.RawMessage(`{"action":"cancel"}`)
		}
		m.reply(res, nil)
	})
}
