package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-mcp/switchyard/audit"
	"github.com/switchyard-mcp/switchyard/call"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/transports"
)

// Agent is a registered A2A agent of a tenant.
type Agent struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	URL          string    `json:"url"`
	Tenant       string    `json:"tenant_id"`
	Capabilities []string  `json:"capabilities"`
	Description  string    `json:"description,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
}

// RegisterAgent adds or replaces an agent of its tenant (created reports
// which) and delivers the tasks that were waiting for it.
func (g *Gateway) RegisterAgent(a Agent) (created bool, err error) {
	u, err := url.Parse(a.URL)
	if a.ID == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false, fmt.Errorf("%w: an agent needs an id and an absolute http(s) url", call.ErrInvalid)
	}
	if err := g.Policy(a.Tenant).HostAllowed(a.URL); err != nil {
		return false, err
	}
	if a.Capabilities == nil {
		a.Capabilities = []string{}
	}
	if a.Name == "" {
		a.Name = a.ID
	}
	a.RegisteredAt = time.Now().UTC()
	g.mu.Lock()
	_, existed := g.agents[tenantKey{a.Tenant, a.ID}]
	g.agents[tenantKey{a.Tenant, a.ID}] = &a
	var waiting []*chainRef
	for _, t := range g.tasks {
		if info := t.info.Load(); t.tenant == a.Tenant && info.To == a.ID && info.Status == TaskPending {
			waiting = append(waiting, t)
		}
	}
	g.mu.Unlock()
	for _, t := range waiting {
		g.system.Root.Send(t.pid, &chainDeliver{agent: a})
	}
	return !existed, nil
}

// LookupAgent returns a tenant's agent, or nil.
func (g *Gateway) LookupAgent(tenant, id string) *Agent {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.agents[tenantKey{tenant, id}]
}

// RestoreAgent puts an agent back as it was recorded (at start, or when
// a change could not be recorded); a nil agent forgets it.
func (g *Gateway) RestoreAgent(tenant, id string, a *Agent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a == nil {
		delete(g.agents, tenantKey{tenant, id})
		return
	}
	g.agents[tenantKey{tenant, id}] = a
}

// Agents lists a tenant's agents by id.
func (g *Gateway) Agents(tenant string) []*Agent {
	g.mu.RLock()
	var out []*Agent
	for k, a := range g.agents {
		if k.tenant == tenant {
			out = append(out, a)
		}
	}
	g.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (g *Gateway) agent(tenant, id string) *Agent {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if a := g.agents[tenantKey{tenant, id}]; a != nil {
		c := *a
		return &c
	}
	return nil
}

// Task statuses. A task for an agent not (yet) registered is pending until
// the agent registers or the task expires.
const (
	TaskPending   = "pending"
	TaskWorking   = "working"
	TaskCompleted = "completed"
	TaskFailed    = "failed"
	TaskExpired   = "expired"
	// TaskInputRequired: the agent paused the task for more input.
	TaskInputRequired = "input-required"
)

// Delegation is one A2A message from an agent to another.
type Delegation struct {
	Tenant, Principal, Session string
	From, To                   string
	Message                    json.RawMessage
	// Chain lists the agents the message already passed through.
	Chain []string
}

// TaskInfo is a snapshot of an A2A delegation task.
type TaskInfo struct {
	ID        string          `json:"task_id"`
	Status    string          `json:"status"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Tenant    string          `json:"tenant_id"`
	Session   string          `json:"session_id,omitempty"`
	Chain     []string        `json:"delegation_chain"`
	Result    json.RawMessage `json:"result,omitempty"`
	A2AState  string          `json:"a2a_state,omitempty"`
	Error     string          `json:"error,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// unreachable marks a failure to reach the agent (as opposed to the
	// agent answering with an error).
	unreachable bool
}

// Err is the error a failed task stands for (nil otherwise): ErrAgentFailed
// or ErrAgentUnreachable.
func (t *TaskInfo) Err() error {
	if t.Status != TaskFailed {
		return nil
	}
	if t.unreachable {
		return fmt.Errorf("%w: %s", ErrAgentUnreachable, t.Error)
	}
	return fmt.Errorf("%w: %s", ErrAgentFailed, t.Error)
}

func (t *TaskInfo) ended() bool {
	switch t.Status {
	case TaskCompleted, TaskFailed, TaskExpired, TaskInputRequired:
		return true
	}
	return false
}

// chainRef indexes a chain actor; its done closes when the task ends.
type chainRef = entityRef[TaskInfo]

// Messages of the chain actor.
type (
	chainDeliver struct{ agent Agent }
	chainResult  struct {
		res *transports.A2AResult
		err error
	}
	chainExpire struct{}
)

// chain is the actor of one delegation task: it forwards the message to
// the agent (once it is registered), keeps the task's status and result,
// and expires the task if the agent never comes.
type chain struct {
	gw    *Gateway
	ref   *chainRef
	req   Delegation
	info  TaskInfo
	agent *Agent
	timer *time.Timer
	self  *actor.PID
}

// Receive implements actor.Actor.
func (c *chain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.self = ctx.Self()
		if c.agent != nil {
			c.deliver(*c.agent)
			return
		}
		self, root := c.self, c.gw.system.Root
		c.timer = time.AfterFunc(c.gw.opts.TaskTTL, func() { root.Send(self, &chainExpire{}) })
	case *chainDeliver:
		if c.info.Status == TaskPending {
			if c.timer != nil {
				c.timer.Stop()
			}
			c.deliver(m.agent)
		}
	case *chainResult:
		c.onResult(m)
	case *chainExpire:
		if c.info.Status == TaskPending {
			c.info.Status, c.info.Error = TaskExpired, "the target agent did not register before the task expired"
			c.finish()
		}
	case *actor.Stopping:
		if c.timer != nil {
			c.timer.Stop()
		}
		if !c.info.ended() {
			c.info.Status, c.info.Error = TaskExpired, "gateway shutting down"
			c.finish()
		}
	}
}

func (c *chain) deliver(a Agent) {
	c.info.Status = TaskWorking
	c.publish()
	gw := c.gw
	gw.metrics.hops.Inc()
	gw.audit.Record(audit.Entry{Kind: audit.KindDelegation, Tenant: c.req.Tenant, Principal: c.req.Principal,
		Session: c.req.Session, Outcome: "sent", InputSHA256: audit.Hash(c.req.Message),
		Detail: fmt.Sprintf("task %s: %s -> %s", c.info.ID, c.req.From, c.req.To)})
	self := c.self
	msg := transports.A2AMessage{TaskID: c.info.ID, From: c.req.From, Chain: c.info.Chain,
		Tenant: c.req.Tenant, Session: c.req.Session, Data: c.req.Message}
	gw.track(func() {
		ctx, cancel := context.WithTimeout(gw.ctx, gw.opts.TaskTTL)
		defer cancel()
		res, err := gw.a2a.Send(ctx, a.URL, msg)
		gw.system.Root.Send(self, &chainResult{res: res, err: err})
	})
}

func (c *chain) onResult(m *chainResult) {
	switch {
	case m.err != nil:
		c.info.Status, c.info.Error = TaskFailed, m.err.Error()
		c.info.unreachable = errors.Is(m.err, transports.ErrA2AUnreachable) || errors.Is(m.err, transports.ErrA2AProtocol)
	case m.res.State == "completed":
		c.info.Status, c.info.A2AState, c.info.Result = TaskCompleted, m.res.State, m.res.Result
	case m.res.State == "input-required" || m.res.State == "auth-required":
		c.info.Status, c.info.A2AState, c.info.Result = TaskInputRequired, m.res.State, m.res.Result
	default:
		c.info.Status, c.info.A2AState, c.info.Result = TaskFailed, m.res.State, m.res.Result
		c.info.Error = "agent ended the task " + m.res.State
	}
	c.finish()
}

func (c *chain) publish() {
	c.info.UpdatedAt = time.Now().UTC()
	s := c.info
	c.ref.info.Store(&s)
	c.gw.hub.Publish("", events.TaskChanged{Tenant: c.info.Tenant, Task: c.info.ID, From: c.info.From, To: c.info.To, Status: c.info.Status})
}

func (c *chain) finish() {
	c.publish()
	c.ref.closeDone()
	c.gw.pruneTasks()
}

// Send delegates a message to an agent of the tenant. The chain after
// appending the sender may hold at most MaxChainDepth agents, and must not
// already hold the target (a loop). A registered agent gets the message at
// once and Send waits (bounded by ctx and SendWait) for its answer; for an
// agent not registered the task waits, pending, until it registers.
func (g *Gateway) Send(ctx context.Context, d Delegation) (*TaskInfo, error) {
	if d.From == "" || d.To == "" {
		return nil, fmt.Errorf("%w: from_agent and to_agent are required", call.ErrInvalid)
	}
	chainAfter := append(slices.Clone(d.Chain), d.From)
	if len(chainAfter) > g.opts.MaxChainDepth {
		return nil, fmt.Errorf("%w: the chain would hold %d agents, the limit is %d", ErrChainDepth, len(chainAfter), g.opts.MaxChainDepth)
	}
	if slices.Contains(chainAfter, d.To) {
		return nil, fmt.Errorf("%w: %s is already in the delegation chain %v", ErrCircular, d.To, chainAfter)
	}
	seen := map[string]bool{}
	for _, a := range chainAfter {
		if seen[a] {
			return nil, fmt.Errorf("%w: %s appears twice in the delegation chain %v", ErrCircular, a, chainAfter)
		}
		seen[a] = true
	}
	agent := g.agent(d.Tenant, d.To)
	now := time.Now().UTC()
	info := TaskInfo{ID: newUUID(), Status: TaskPending, From: d.From, To: d.To, Tenant: d.Tenant,
		Session: d.Session, Chain: chainAfter, CreatedAt: now, UpdatedAt: now}
	ref := newEntityRef(info.ID, d.Tenant, &info)
	_, err := g.spawn(g.chainsSup, &spawnChild{
		name:     "task-" + ref.id,
		producer: func() actor.Actor { return &chain{gw: g, ref: ref, req: d, info: info, agent: agent} },
		admit: func() error {
			if n := g.openTasks(d.Tenant); n >= g.opts.MaxPending {
				return fmt.Errorf("%w: tenant %s has %d tasks open", call.ErrLimit, d.Tenant, n)
			}
			return nil
		},
		register: ref.indexIn(g, g.tasks),
	})
	if err != nil {
		return nil, err
	}
	if agent == nil {
		return ref.info.Load(), nil
	}
	wait := time.NewTimer(g.opts.SendWait)
	defer wait.Stop()
	select {
	case <-ref.done:
	case <-wait.C:
	case <-ctx.Done():
	}
	return ref.info.Load(), nil
}

func (g *Gateway) openTasks(tenant string) int {
	return count(g, g.tasks, func(t *chainRef) bool {
		return t.tenant == tenant && !t.info.Load().ended()
	})
}

// pruneTasks stops and forgets the oldest ended tasks beyond KeepEnded.
func (g *Gateway) pruneTasks() {
	pruneEnded(g, g.tasks, func(info *TaskInfo) (bool, time.Time) {
		return info.ended(), info.UpdatedAt
	})
}

// Task returns a task of the tenant.
func (g *Gateway) Task(tenant, id string) (*TaskInfo, error) {
	ref, err := tenantEntry(g, g.tasks, tenant, id, ErrTaskNotFound)
	if err != nil {
		return nil, err
	}
	return ref.info.Load(), nil
}
