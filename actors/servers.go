package actors

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-mcp/switchyard/agents"
	"github.com/switchyard-mcp/switchyard/schema"
	"github.com/switchyard-mcp/switchyard/transports"
)

// ErrServerNotFound is the ErrNotFound of servers seen from the agent
// gateway (providers of a tenant).
var ErrServerNotFound = fmt.Errorf("server %w", ErrNotFound)

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

// serverRegistry holds the /v1 server registrations in progress.
type serverRegistry struct {
	// regMu guards pending, the registrations in progress by server id.
	// It is held only to check collisions and reserve or claim tool names,
	// never across a registration's network I/O.
	regMu   sync.Mutex
	pending map[string]*pendingServer
}

// pendingServer reserves a server id while its registration runs, with
// the tool names it claims in its tenant (declared ones from the start,
// listed ones once checked).
type pendingServer struct {
	tenant string
	names  []string
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
	if err := r.gw.Policy(reg.Tenant).HostAllowed(reg.URL); err != nil {
		return nil, err
	}
	if reg.ID == "" {
		reg.ID = agents.NewID("srv-")
	}
	if reg.Name == "" {
		reg.Name = reg.ID
	}
	for i, t := range reg.Tools {
		if t.Name == "" {
			return nil, fmt.Errorf("%w: tools[%d] has no name", ErrInvalid, i)
		}
		if err := r.schemas.Validate(t.InputSchema, nil); errors.Is(err, schema.ErrSchema) {
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
	g := &r.servers
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
		if info.Spec.Tenant != tenant || info.Spec.ID == self || r.servers.pending[info.Spec.ID] != nil {
			continue
		}
		for _, t := range info.ServerTools() {
			taken[t.Name] = true
		}
	}
	for id, c := range r.servers.pending {
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
