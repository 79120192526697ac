package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/store"
)

// Events of a provider's stream (provider:{id}) in the store: what the
// API did to it. Providers of the config file have no stream: the file
// is their record.
const (
	// ProviderCreated's data is the provider as config.Provider (the same
	// field list the file and the API body have).
	evProviderCreated = "ProviderCreated"
	evProviderDeleted = "ProviderDeleted"
	// ProviderUpdated's data is providerUpdated: what PATCH changed.
	evProviderUpdated = "ProviderUpdated"
	// A group's stream (group:{id}) gets its whole spec after each change
	// (GroupDefined), and GroupDeleted at the end.
	evGroupDefined = "GroupDefined"
	evGroupDeleted = "GroupDeleted"
	// A tenant's policy stream (policy:{tenant}) gets the whole policy at
	// each change.
	evPolicySet = "PolicySet"
	// An agent's stream (agent:{tenant}/{id}) gets the agent at each
	// registration.
	evAgentRegistered = "AgentRegistered"
)

// providerStream is the stream of provider id.
func providerStream(id string) string { return "provider:" + id }

// groupStream is the stream of group id.
func groupStream(id string) string { return "group:" + id }

// policyStream is the stream of a tenant's policy.
func policyStream(tenant string) string { return "policy:" + tenant }

// storeTimeout bounds one write of the control plane to the store.
const storeTimeout = 10 * time.Second

// persist appends one event with data (marshalled to JSON) to a stream of
// the runtime's store, durably, before a mutation is answered. With
// onlyKept it appends only to a stream the store already holds (the
// change of an object the API created; a file's has no stream). Without
// a store it does nothing.
func (r *Runtime) persist(stream, typ string, data any, onlyKept bool) error {
	st := r.opts.Store
	if st == nil {
		return nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	expected := store.AnyVersion
	if onlyKept {
		v, err := st.Version(ctx, stream)
		if err != nil || v == 0 {
			return err
		}
		expected = v
	}
	_, err = st.Append(ctx, stream, expected, store.NewEvent{Type: typ, Data: raw})
	return err
}

// nothing is the data of an event that says all in its type.
var nothing = struct{}{}

// Register creates a provider the API was given and, with a store,
// records it there before answering: it is back after a restart. Without
// a store it is Create.
func (r *Runtime) Register(p *config.Provider, l config.Limits) error {
	spec := SpecFromConfig(p, l)
	if err := r.Create(spec); err != nil {
		return err
	}
	if err := r.persist(providerStream(p.ID), evProviderCreated, p, false); err != nil {
		// Not recorded, so not created: nothing is acknowledged that a
		// restart would lose.
		_ = r.Delete(spec.ID)
		return fmt.Errorf("%w: provider %s not recorded: %w", ErrUnavailable, spec.ID, err)
	}
	return nil
}

// Unregister deletes a provider and, when the store holds it, records the
// deletion before answering.
func (r *Runtime) Unregister(id string) error {
	if err := r.Delete(id); err != nil {
		return err
	}
	if err := r.persist(providerStream(id), evProviderDeleted, nothing, true); err != nil {
		return fmt.Errorf("%w: provider %s deleted but not recorded (it comes back after a restart): %w", ErrUnavailable, id, err)
	}
	return nil
}

// providerUpdated is an Update as the config file's fields name it.
type providerUpdated struct {
	Description                *string           `json:"description,omitempty"`
	Env                        map[string]string `json:"env,omitempty"`
	IdleTTLSeconds             *float64          `json:"idle_ttl_s,omitempty"`
	HealthCheckIntervalSeconds *float64          `json:"health_check_interval_s,omitempty"`
}

func seconds(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	s := d.Seconds()
	return &s
}

// apply changes p as the update changed the provider.
func (u *providerUpdated) apply(p *config.Provider) {
	if u.Description != nil {
		p.Description = *u.Description
	}
	if u.Env != nil {
		p.Env = u.Env
	}
	if u.IdleTTLSeconds != nil {
		p.IdleTTLSeconds = u.IdleTTLSeconds
	}
	if u.HealthCheckIntervalSeconds != nil {
		p.HealthCheckIntervalSeconds = u.HealthCheckIntervalSeconds
	}
}

// recordUpdate records an update of a provider the store holds (one the
// API created) before Update answers.
func (r *Runtime) recordUpdate(id string, u *Update) error {
	err := r.persist(providerStream(id), evProviderUpdated, providerUpdated{Description: u.Description, Env: u.Env,
		IdleTTLSeconds: seconds(u.IdleTTL), HealthCheckIntervalSeconds: seconds(u.HealthInterval)}, true)
	if err != nil {
		return fmt.Errorf("%w: provider %s updated but not recorded (a restart loses the change): %w", ErrUnavailable, id, err)
	}
	return nil
}

// Recover creates, cold, the providers the store holds that the API
// created and did not delete. A provider the config file has too
// (inFile) is the file's: the stored one is skipped. It returns the ids
// it restored and those it skipped.
func (r *Runtime) Recover(ctx context.Context, l config.Limits, inFile func(id string) bool) (restored, skipped []string, err error) {
	st := r.opts.Store
	if st == nil {
		return nil, nil, nil
	}
	names, err := st.Streams(ctx, "provider:")
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		evs, err := st.Read(ctx, name, 0, 0)
		if err != nil {
			return restored, skipped, err
		}
		var p *config.Provider
		for _, e := range evs {
			switch e.Type {
			case evProviderCreated:
				var q config.Provider
				if err := json.Unmarshal(e.Data, &q); err != nil {
					return restored, skipped, fmt.Errorf("%w: %s event %d: %w", store.ErrCorrupt, name, e.Version, err)
				}
				p = &q
			case evProviderUpdated:
				var u providerUpdated
				if err := json.Unmarshal(e.Data, &u); err != nil {
					return restored, skipped, fmt.Errorf("%w: %s event %d: %w", store.ErrCorrupt, name, e.Version, err)
				}
				if p != nil {
					u.apply(p)
				}
			case evProviderDeleted:
				p = nil
			}
		}
		if p == nil {
			continue
		}
		id := strings.TrimPrefix(name, "provider:")
		if p.ID != id {
			return restored, skipped, fmt.Errorf("%w: %s holds provider %q", store.ErrCorrupt, name, p.ID)
		}
		if inFile(id) {
			skipped = append(skipped, id)
			continue
		}
		if err := r.Create(SpecFromConfig(p, l)); err != nil && !errors.Is(err, ErrExists) {
			return restored, skipped, fmt.Errorf("restoring provider %s: %w", id, err)
		}
		restored = append(restored, id)
	}
	return restored, skipped, nil
}

// recordGroup records a group's spec after a change (or its deletion)
// when the runtime has a store; a change it cannot record is reported as
// applied but not durable.
func (r *Runtime) recordGroup(id string, deleted bool) error {
	var err error
	if deleted {
		// Only a group the store holds has a deletion to record.
		err = r.persist(groupStream(id), evGroupDeleted, nothing, true)
	} else if g, ok := r.lookupGroup(id); ok && !g.route.Load().spec.fromFile {
		// (One deleted meanwhile has its deletion recorded by its own call.)
		err = r.persist(groupStream(id), evGroupDefined, g.route.Load().spec, false)
	}
	if err != nil {
		return fmt.Errorf("%w: group %s changed but not recorded (a restart loses the change): %w", ErrUnavailable, id, err)
	}
	return nil
}

// RecoverGroups creates the groups the store holds and did not see
// deleted, after the providers are back. A group the config file has
// (inFile) is the file's; one whose members are gone is skipped with the
// reason.
func (r *Runtime) RecoverGroups(ctx context.Context, inFile func(id string) bool) (restored []string, skipped map[string]string, err error) {
	st := r.opts.Store
	if st == nil {
		return nil, nil, nil
	}
	names, err := st.Streams(ctx, "group:")
	if err != nil {
		return nil, nil, err
	}
	skipped = map[string]string{}
	for _, name := range names {
		evs, err := st.Read(ctx, name, 0, 0)
		if err != nil {
			return restored, skipped, err
		}
		var spec *GroupSpec
		for _, e := range evs {
			switch e.Type {
			case evGroupDefined:
				var g GroupSpec
				if err := json.Unmarshal(e.Data, &g); err != nil {
					return restored, skipped, fmt.Errorf("%w: %s event %d: %w", store.ErrCorrupt, name, e.Version, err)
				}
				spec = &g
			case evGroupDeleted:
				spec = nil
			}
		}
		id := strings.TrimPrefix(name, "group:")
		switch {
		case spec == nil:
			continue
		case spec.ID != id:
			return restored, skipped, fmt.Errorf("%w: %s holds group %q", store.ErrCorrupt, name, spec.ID)
		case inFile(id):
			skipped[id] = "the config file has it"
			continue
		}
		if err := r.createGroup(*spec); err != nil && !errors.Is(err, ErrExists) {
			skipped[id] = err.Error()
			continue
		}
		restored = append(restored, id)
	}
	return restored, skipped, nil
}

// SetPolicy replaces a tenant's policy and, with a store, records it
// before answering; one it cannot record is not set.
func (r *Runtime) SetPolicy(p Policy) (*Policy, error) {
	prev := r.gw.LookupPolicy(p.Tenant)
	out, err := r.gw.SetPolicy(p)
	if err != nil {
		return nil, err
	}
	if err := r.persist(policyStream(out.Tenant), evPolicySet, out, false); err != nil {
		if prev != nil {
			r.gw.RestorePolicy(*prev)
		} else {
			r.gw.RestorePolicy(Policy{Tenant: p.Tenant, HITLRequiredTools: []string{}, AllowedNetworkHosts: []string{}})
		}
		return nil, fmt.Errorf("%w: the policy of %s was not recorded: %w", ErrUnavailable, p.Tenant, err)
	}
	return out, nil
}

// RecoverPolicies puts back every tenant's last recorded policy and
// returns the tenants.
func (r *Runtime) RecoverPolicies(ctx context.Context) ([]string, error) {
	var tenants []string
	err := r.eachLast(ctx, "policy:", evPolicySet, func(name string, e store.Event) error {
		var p Policy
		if err := json.Unmarshal(e.Data, &p); err != nil || policyStream(p.Tenant) != name {
			return fmt.Errorf("%w: %s event %d holds no policy of its tenant", store.ErrCorrupt, name, e.Version)
		}
		r.gw.RestorePolicy(p)
		tenants = append(tenants, p.Tenant)
		return nil
	})
	return tenants, err
}

// eachLast calls f with the last event of type typ of each stream whose
// name starts with prefix (for state recorded whole at each change).
func (r *Runtime) eachLast(ctx context.Context, prefix, typ string, f func(name string, e store.Event) error) error {
	st := r.opts.Store
	if st == nil {
		return nil
	}
	names, err := st.Streams(ctx, prefix)
	if err != nil {
		return err
	}
	for _, name := range names {
		evs, err := st.Read(ctx, name, 0, 0)
		if err != nil {
			return err
		}
		for i := len(evs) - 1; i >= 0; i-- {
			if evs[i].Type == typ {
				if err := f(name, evs[i]); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// agentStream is the stream of a tenant's agent.
func agentStream(tenant, id string) string { return "agent:" + tenant + "/" + id }

// RegisterAgent adds or replaces a tenant's A2A agent and, with a store,
// records it before answering; one it cannot record is undone.
func (r *Runtime) RegisterAgent(a Agent) (created bool, err error) {
	prev := r.gw.LookupAgent(a.Tenant, a.ID)
	created, err = r.gw.RegisterAgent(a)
	if err != nil {
		return created, err
	}
	if err := r.persist(agentStream(a.Tenant, a.ID), evAgentRegistered, r.gw.LookupAgent(a.Tenant, a.ID), false); err != nil {
		r.gw.RestoreAgent(a.Tenant, a.ID, prev)
		return false, fmt.Errorf("%w: agent %s was not recorded: %w", ErrUnavailable, a.ID, err)
	}
	return created, nil
}

// RecoverAgents puts back every recorded agent and returns how many.
func (r *Runtime) RecoverAgents(ctx context.Context) (int, error) {
	n := 0
	err := r.eachLast(ctx, "agent:", evAgentRegistered, func(name string, e store.Event) error {
		var a Agent
		if err := json.Unmarshal(e.Data, &a); err != nil || agentStream(a.Tenant, a.ID) != name {
			return fmt.Errorf("%w: %s event %d holds no agent of its own", store.ErrCorrupt, name, e.Version)
		}
		r.gw.RestoreAgent(a.Tenant, a.ID, &a)
		n++
		return nil
	})
	return n, err
}
