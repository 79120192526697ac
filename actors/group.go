package actors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/routing"
	"github.com/switchyard-mcp/switchyard/supervisor"
)

// GroupMember is one provider of a group.
type GroupMember struct {
	ID       string `json:"member_id"`
	Weight   int    `json:"weight"`
	Priority int    `json:"priority"`
}

// GroupSpec is a group's configuration.
type GroupSpec struct {
	ID          string        `json:"group_id"`
	Strategy    string        `json:"strategy"`
	MinHealthy  int           `json:"min_healthy"`
	Description string        `json:"description,omitempty"`
	Members     []GroupMember `json:"members"`
	// Tenant owns the group (default "default"); its members are
	// providers of the same tenant, and other tenants do not see it.
	Tenant string `json:"tenant"`
	// Breaker configures the per-member and the group circuit breakers.
	Breaker supervisor.BreakerConfig `json:"-"`
	// RetryBudget bounds the members one call may be tried on (default 3).
	RetryBudget int `json:"-"`
	// fromFile marks a group of the config file: the file is its record,
	// not the store.
	fromFile bool
}

// WithDefaults fills the zero fields.
func (g GroupSpec) WithDefaults() GroupSpec {
	if g.Strategy == "" {
		g.Strategy = "round_robin"
	}
	if g.Tenant == "" {
		g.Tenant = "default"
	}
	if g.RetryBudget <= 0 {
		g.RetryBudget = 3
	}
	for i := range g.Members {
		if g.Members[i].Weight <= 0 {
			g.Members[i].Weight = 1
		}
		if g.Members[i].Priority <= 0 {
			g.Members[i].Priority = 1
		}
	}
	return g
}

// Group states, from min_healthy and the healthy members.
const (
	GroupHealthy     = "healthy"
	GroupDegraded    = "degraded"
	GroupUnavailable = "unavailable"
)

// routeMember is a member in a routing table; its breaker and in-flight
// count survive table rebuilds: calls in flight when the table is rebuilt
// finish on the counter the new table reads.
type routeMember struct {
	GroupMember
	breaker  *supervisor.Breaker
	inflight *atomic.Int64
}

// groupRoute is the immutable routing table a group actor publishes; calls
// route on it without messaging the actor.
type groupRoute struct {
	spec    GroupSpec
	picker  routing.Picker
	members []*routeMember
	breaker *supervisor.Breaker
}

// groupRef is a group's registry entry.
type groupRef struct {
	id    string
	pid   *actor.PID
	route atomic.Pointer[groupRoute]
}

// Group actor messages.
type (
	groupUpdate struct {
		strategy    *string
		minHealthy  *int
		description *string
	}
	groupAddMember    struct{ m GroupMember }
	groupRemoveMember struct{ id string }
	groupRebalance    struct{}
)

// group is the actor owning one group's configuration and breakers.
type group struct {
	rt  *Runtime
	ref *groupRef
}

// Receive implements actor.Actor.
func (g *group) Receive(ctx actor.Context) {
	cur := g.ref.route.Load()
	switch m := ctx.Message().(type) {
	case *groupUpdate:
		spec := cur.spec
		if m.strategy != nil {
			spec.Strategy = *m.strategy
		}
		if m.minHealthy != nil {
			spec.MinHealthy = *m.minHealthy
		}
		if m.description != nil {
			spec.Description = *m.description
		}
		ctx.Respond(g.publish(spec, cur))
	case *groupAddMember:
		if slices.ContainsFunc(cur.spec.Members, func(x GroupMember) bool { return x.ID == m.m.ID }) {
			ctx.Respond(fmt.Errorf("%w: %s is already a member of %s", ErrGroupExists, m.m.ID, cur.spec.ID))
			return
		}
		spec := cur.spec
		spec.Members = append(slices.Clone(spec.Members), m.m)
		ctx.Respond(g.publish(spec.WithDefaults(), cur))
	case *groupRemoveMember:
		i := slices.IndexFunc(cur.spec.Members, func(x GroupMember) bool { return x.ID == m.id })
		if i < 0 {
			ctx.Respond(fmt.Errorf("%w: %s is not a member of %s", ErrNotFound, m.id, cur.spec.ID))
			return
		}
		spec := cur.spec
		spec.Members = slices.Delete(slices.Clone(spec.Members), i, i+1)
		ctx.Respond(g.publish(spec, cur))
	case *groupRebalance:
		// Breakers of members that are healthy again are reset, and the
		// group's own breaker with them.
		for _, rm := range cur.members {
			if info, err := g.rt.Get(rm.ID); err == nil && memberUsable(info) {
				rm.breaker.Reset()
			}
		}
		cur.breaker.Reset()
		g.rt.hub.PublishFor(cur.spec.Tenant, cur.spec.ID, events.GroupChanged{Reason: "rebalanced"})
		ctx.Respond(nil)
	}
}

// publish validates spec, builds and stores its routing table (keeping the
// breakers and counters of members that stay) and announces the change.
func (g *group) publish(spec GroupSpec, prev *groupRoute) error {
	route, err := g.rt.buildRoute(spec, prev)
	if err != nil {
		return err
	}
	g.ref.route.Store(route)
	g.rt.hub.PublishFor(spec.Tenant, spec.ID, events.GroupChanged{Reason: "updated"})
	return nil
}

func (r *Runtime) buildRoute(spec GroupSpec, prev *groupRoute) (*groupRoute, error) {
	spec = spec.WithDefaults()
	if spec.MinHealthy < 0 {
		return nil, fmt.Errorf("%w: min_healthy must not be negative", ErrInvalid)
	}
	ms := make([]routing.Member, len(spec.Members))
	members := make([]*routeMember, len(spec.Members))
	for i, m := range spec.Members {
		ms[i] = routing.Member{ID: m.ID, Weight: m.Weight, Priority: m.Priority}
		var kept *routeMember
		if prev != nil {
			for _, pm := range prev.members {
				if pm.ID == m.ID {
					kept = pm
				}
			}
		}
		if kept != nil {
			members[i] = &routeMember{GroupMember: m, breaker: kept.breaker, inflight: kept.inflight}
			continue
		}
		members[i] = &routeMember{GroupMember: m, breaker: r.newBreaker(spec, m.ID), inflight: new(atomic.Int64)}
	}
	picker, err := routing.New(spec.Strategy, ms, rand.Uint64)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	route := &groupRoute{spec: spec, picker: picker, members: members}
	if prev != nil {
		route.breaker = prev.breaker
	} else {
		route.breaker = r.newBreaker(spec, "")
	}
	return route, nil
}

// newBreaker makes a member's (or, with member "", the group's) breaker
// whose transitions become events.
func (r *Runtime) newBreaker(spec GroupSpec, member string) *supervisor.Breaker {
	cfg := spec.Breaker
	gid, tenant, hub := spec.ID, spec.Tenant, r.hub
	cfg.OnChange = func(from, to supervisor.BreakerState) {
		hub.PublishFor(tenant, gid, events.BreakerChanged{Member: member, From: from.String(), To: to.String()})
	}
	return supervisor.NewBreaker(cfg, r.clock)
}

// usable reads a provider's published state without copying its snapshot.
func (r *Runtime) usable(id string) bool {
	ref, err := r.lookup(id)
	if err != nil {
		return false
	}
	return memberUsable(ref.info.Load())
}

// memberUsable reports whether a member provider can take calls (a cold
// one starts on demand).
func memberUsable(i *Info) bool {
	return i.State != StateDead && i.State != StateStopped
}

// GroupMemberInfo describes one member for status output.
type GroupMemberInfo struct {
	GroupMember
	State        State  `json:"state"`
	Healthy      bool   `json:"healthy"`
	BreakerState string `json:"circuit_breaker_state"`
	InFlight     int64  `json:"in_flight"`
}

// GroupInfo is a group's status.
type GroupInfo struct {
	Spec         GroupSpec         `json:"-"`
	State        string            `json:"state"`
	Healthy      int               `json:"healthy_members"`
	Members      []GroupMemberInfo `json:"members"`
	BreakerState string            `json:"circuit_breaker_state"`
}

func (r *Runtime) groupInfo(route *groupRoute) *GroupInfo {
	gi := &GroupInfo{Spec: route.spec, BreakerState: route.breaker.State().String(), Members: make([]GroupMemberInfo, 0, len(route.members))}
	for _, rm := range route.members {
		mi := GroupMemberInfo{GroupMember: rm.GroupMember, State: StateDead, BreakerState: rm.breaker.State().String(), InFlight: rm.inflight.Load()}
		if info, err := r.Get(rm.ID); err == nil {
			mi.State = info.State
			mi.Healthy = memberUsable(info) && rm.breaker.State() != supervisor.BreakerOpen
		}
		if mi.Healthy {
			gi.Healthy++
		}
		gi.Members = append(gi.Members, mi)
	}
	switch {
	case gi.Healthy == 0:
		gi.State = GroupUnavailable
	case gi.Healthy < route.spec.MinHealthy:
		gi.State = GroupDegraded
	default:
		gi.State = GroupHealthy
	}
	return gi
}

func (r *Runtime) lookupGroup(id string) (*groupRef, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	g, ok := r.groups[id]
	return g, ok
}

// IsGroup reports whether id names a group.
func (r *Runtime) IsGroup(id string) bool {
	_, ok := r.lookupGroup(id)
	return ok
}

// CreateGroup registers a group. Its id may not be a provider's; its
// members must be providers of its tenant. With a store it is recorded
// before CreateGroup returns (and not created when it cannot be).
func (r *Runtime) CreateGroup(spec GroupSpec) error {
	if err := r.createGroup(spec); err != nil {
		return err
	}
	if err := r.recordGroup(spec.ID, false); err != nil {
		_ = r.deleteGroup(spec.ID)
		return err
	}
	return nil
}

// CreateFileGroup registers a group of the config file (not recorded:
// the file is its record, and a change made over the API lasts until the
// next start).
func (r *Runtime) CreateFileGroup(spec GroupSpec) error {
	spec.fromFile = true
	return r.createGroup(spec)
}

func (r *Runtime) createGroup(spec GroupSpec) error {
	if r.closing.Load() {
		return ErrShutdown
	}
	spec = spec.WithDefaults()
	for _, m := range spec.Members {
		if err := r.memberOf(spec.Tenant, m.ID); err != nil {
			return err
		}
	}
	route, err := r.buildRoute(spec, nil)
	if err != nil {
		return err
	}
	res, err := r.system.Root.RequestFuture(r.sup, &createGroup{route: route}, 10*time.Second).Result()
	if err != nil {
		return fmt.Errorf("create group: %w", err)
	}
	if e, _ := res.(error); e != nil {
		return e
	}
	return nil
}

// DeleteGroup removes a group; its members are not touched.
func (r *Runtime) DeleteGroup(id string) error {
	if err := r.deleteGroup(id); err != nil {
		return err
	}
	return r.recordGroup(id, true)
}

func (r *Runtime) deleteGroup(id string) error {
	res, err := r.system.Root.RequestFuture(r.sup, &deleteGroup{id: id}, 10*time.Second).Result()
	if err != nil {
		return fmt.Errorf("delete group: %w", err)
	}
	if d, _ := res.(*deleted); d != nil {
		return d.err
	}
	return nil
}

func (r *Runtime) askGroup(id string, msg any) error {
	ref, ok := r.lookupGroup(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrGroupNotFound, id)
	}
	res, err := r.system.Root.RequestFuture(ref.pid, msg, 10*time.Second).Result()
	if err != nil {
		return fmt.Errorf("%w: group %s: %w", ErrUnavailable, id, err)
	}
	if e, _ := res.(error); e != nil {
		return e
	}
	return nil
}

// UpdateGroup changes a group's strategy, min_healthy or description.
func (r *Runtime) UpdateGroup(id string, strategy *string, minHealthy *int, description *string) error {
	if err := r.askGroup(id, &groupUpdate{strategy: strategy, minHealthy: minHealthy, description: description}); err != nil {
		return err
	}
	return r.recordGroup(id, false)
}

// AddGroupMember adds a provider of the group's tenant to a group.
func (r *Runtime) AddGroupMember(id string, m GroupMember) error {
	g, ok := r.lookupGroup(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrGroupNotFound, id)
	}
	if _, err := r.lookup(m.ID); err != nil {
		return err
	}
	if err := r.memberOf(g.route.Load().spec.Tenant, m.ID); err != nil {
		return err
	}
	if err := r.askGroup(id, &groupAddMember{m: m}); err != nil {
		return err
	}
	return r.recordGroup(id, false)
}

// memberOf checks that id may be a member of a group of tenant.
func (r *Runtime) memberOf(tenant, id string) error {
	ref, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("%w: member %q is not a provider", ErrInvalid, id)
	}
	if ref.info.Load().Spec.Tenant != tenant {
		return fmt.Errorf("%w: member %q is not a provider of the group's tenant %q", ErrInvalid, id, tenant)
	}
	return nil
}

// RemoveGroupMember removes a provider from a group.
func (r *Runtime) RemoveGroupMember(id, member string) error {
	if err := r.askGroup(id, &groupRemoveMember{id: member}); err != nil {
		return err
	}
	return r.recordGroup(id, false)
}

// Rebalance re-checks member health and resets the breakers of members
// that can take calls again.
func (r *Runtime) Rebalance(id string) error { return r.askGroup(id, &groupRebalance{}) }

// Group returns a group's status.
func (r *Runtime) Group(id string) (*GroupInfo, error) {
	ref, ok := r.lookupGroup(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrGroupNotFound, id)
	}
	return r.groupInfo(ref.route.Load()), nil
}

// Groups returns every group's status in registration order.
func (r *Runtime) Groups() []*GroupInfo {
	r.mu.RLock()
	refs := make([]*groupRef, 0, len(r.groupOrder))
	for _, id := range r.groupOrder {
		refs = append(refs, r.groups[id])
	}
	r.mu.RUnlock()
	out := make([]*GroupInfo, 0, len(refs))
	for _, ref := range refs {
		out = append(out, r.groupInfo(ref.route.Load()))
	}
	return out
}

// GroupIDs lists the group ids in registration order.
func (r *Runtime) GroupIDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.groupOrder)
}

// callGroup picks a member by the group's strategy among those that can
// take calls and whose breaker is not open, and fails over to another
// member when a call did not reach its tool, within the retry budget. A
// tool's own error, or a failure after the request reached the backend, is
// returned as it is.
func (r *Runtime) callGroup(ctx context.Context, route *groupRoute, inv invocation, deadline time.Time, af askFor) (*CallReply, error) {
	if !route.breaker.Allow() {
		return nil, fmt.Errorf("%w: group %s: circuit open after repeated failures", ErrUnavailable, route.spec.ID)
	}
	var tried uint64 // members tried, by index (groups beyond 64 members are not tried twice)
	eligible := func(i int) bool {
		if i < 64 && tried&(1<<uint(i)) != 0 {
			return false
		}
		rm := route.members[i]
		if rm.breaker.State() == supervisor.BreakerOpen {
			return false
		}
		return r.usable(rm.ID)
	}
	inflight := func(i int) int { return int(route.members[i].inflight.Load()) }
	var lastErr error
	var lastRep *CallReply
	for attempt := 0; attempt < route.spec.RetryBudget; attempt++ {
		i, ok := route.picker.Pick(eligible, inflight)
		if !ok {
			break
		}
		if i < 64 {
			tried |= 1 << uint(i)
		}
		rm := route.members[i]
		if !rm.breaker.Allow() {
			continue
		}
		ref, err := r.lookup(rm.ID)
		if err != nil {
			continue // deleted since the pick
		}
		rm.inflight.Add(1)
		rep, err := r.callProvider(ctx, ref, inv, deadline, af)
		rm.inflight.Add(-1)
		switch {
		case err == nil:
			rm.breaker.Success()
			route.breaker.Success()
			return rep, nil
		case rep != nil && rep.Retryable:
			rm.breaker.Failure()
			lastErr, lastRep = err, rep
			continue
		case errors.Is(err, ErrToolNotFound), errors.Is(err, ErrCancelled), errors.Is(err, ErrInvalid):
			rm.breaker.Cancel()
			route.breaker.Cancel()
			return rep, err
		default:
			rm.breaker.Failure()
			route.breaker.Failure()
			return rep, err
		}
	}
	route.breaker.Failure()
	if lastErr == nil {
		return nil, fmt.Errorf("%w: group %s has no member able to take calls", ErrUnavailable, route.spec.ID)
	}
	return lastRep, fmt.Errorf("group %s: every member tried failed: %w", route.spec.ID, lastErr)
}

// ---- supervisor messages for groups ----

type createGroup struct{ route *groupRoute }
type deleteGroup struct{ id string }

func (s *providersSupervisor) createGroup(ctx actor.Context, route *groupRoute) error {
	rt := s.rt
	id := route.spec.ID
	rt.mu.RLock()
	_, isGroup := rt.groups[id]
	_, isProvider := rt.refs[id]
	rt.mu.RUnlock()
	if isGroup || isProvider {
		return fmt.Errorf("%w: %q is already a provider or group id", ErrGroupExists, id)
	}
	if err := s.beingDeleted(id); err != nil {
		return err
	}
	ref := &groupRef{id: id}
	ref.route.Store(route)
	pid, err := ctx.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &group{rt: rt, ref: ref} }), "group-"+id)
	if err != nil {
		return fmt.Errorf("spawn group %s: %w", id, err)
	}
	ref.pid = pid
	rt.mu.Lock()
	rt.groups[id] = ref
	rt.groupOrder = append(rt.groupOrder, id)
	rt.mu.Unlock()
	rt.hub.PublishFor(route.spec.Tenant, id, events.GroupChanged{Reason: "created"})
	return nil
}

// deleteGroup unregisters a group and stops its actor; the answer comes
// when the actor is gone.
func (s *providersSupervisor) deleteGroup(ctx actor.Context, id string) {
	rt := s.rt
	rt.mu.Lock()
	ref := rt.groups[id]
	if ref != nil {
		delete(rt.groups, id)
		rt.groupOrder = slices.DeleteFunc(rt.groupOrder, func(x string) bool { return x == id })
	}
	rt.mu.Unlock()
	if ref == nil {
		ctx.Respond(&deleted{err: fmt.Errorf("%w: %q", ErrGroupNotFound, id)})
		return
	}
	s.stopChild(ctx, ref.pid, id, ref.route.Load().spec.Tenant, true)
}
