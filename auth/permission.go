package auth

import (
	"fmt"
	"strings"
)

// Resource is what a permission is about (the "resource" of
// "resource:action").
type Resource string

// Resources, as the roles of the outside contract name them.
const (
	ResourceProviders Resource = "providers"
	ResourceGroups    Resource = "groups"
	ResourceTools     Resource = "tools"
	ResourceSessions  Resource = "sessions"
	ResourceAgents    Resource = "agents"
	ResourceApprovals Resource = "approvals"
	ResourcePolicies  Resource = "policies"
	ResourceDiscovery Resource = "discovery"
	ResourceCatalog   Resource = "catalog"
	ResourceConfig    Resource = "config"
	ResourceSystem    Resource = "system"
	ResourceAuth      Resource = "auth"
	ResourceAudit     Resource = "audit"
	ResourceSecrets   Resource = "secrets"
	ResourceWorkloads Resource = "workloads"
	ResourceClients   Resource = "clients"
	ResourceRegistry  Resource = "registry"
)

// Action is what a permission allows doing to its resource.
type Action string

// Actions, as the roles of the outside contract name them.
const (
	ActionRead   Action = "read"
	ActionWrite  Action = "write"
	ActionStart  Action = "start"
	ActionStop   Action = "stop"
	ActionDelete Action = "delete"
	ActionCall   Action = "call"
	ActionAdmin  Action = "admin"
)

// Any is the wildcard resource or action of a granted permission
// ("providers:*", "*:read", "*:*"): it matches every one.
const Any = "*"

var (
	resources = map[Resource]bool{
		ResourceProviders: true, ResourceGroups: true, ResourceTools: true, ResourceSessions: true,
		ResourceAgents: true, ResourceApprovals: true, ResourcePolicies: true, ResourceDiscovery: true,
		ResourceCatalog: true, ResourceConfig: true, ResourceSystem: true, ResourceAuth: true,
		ResourceAudit: true, ResourceSecrets: true, ResourceWorkloads: true, ResourceClients: true,
		ResourceRegistry: true,
	}
	actions = map[Action]bool{
		ActionRead: true, ActionWrite: true, ActionStart: true, ActionStop: true,
		ActionDelete: true, ActionCall: true, ActionAdmin: true,
	}
)

// Permission is one "resource:action" pair: what a route needs, and (with
// wildcards) what a role grants. The zero value is no permission. Build one
// with NewPermission or ParsePermission, or use the constants below.
type Permission string

// Permissions the routes of the HTTP surfaces need.
const (
	ProvidersRead   Permission = "providers:read"
	ProvidersWrite  Permission = "providers:write"
	ProvidersStart  Permission = "providers:start"
	ProvidersStop   Permission = "providers:stop"
	ProvidersDelete Permission = "providers:delete"
	ToolsRead       Permission = "tools:read"
	ToolsCall       Permission = "tools:call"
	GroupsRead      Permission = "groups:read"
	GroupsWrite     Permission = "groups:write"
	GroupsDelete    Permission = "groups:delete"
	SessionsRead    Permission = "sessions:read"
	SessionsWrite   Permission = "sessions:write"
	ApprovalsRead   Permission = "approvals:read"
	ApprovalsWrite  Permission = "approvals:write"
	PoliciesRead    Permission = "policies:read"
	PoliciesWrite   Permission = "policies:write"
	AgentsRead      Permission = "agents:read"
	AgentsWrite     Permission = "agents:write"
	SystemRead      Permission = "system:read"
)

// NewPermission joins a resource and an action.
func NewPermission(r Resource, a Action) Permission {
	return Permission(string(r) + ":" + string(a))
}

// ParsePermission reads "resource:action", where either part may be the
// wildcard "*". It refuses unknown resources and actions, so a typo in a
// role or a route cannot silently grant or need nothing.
func ParsePermission(s string) (Permission, error) {
	p := Permission(s)
	if err := p.Validate(); err != nil {
		return "", err
	}
	return p, nil
}

// Validate reports whether p is "resource:action" with a known resource
// and action (or wildcards).
func (p Permission) Validate() error {
	r, a, ok := strings.Cut(string(p), ":")
	switch {
	case !ok:
		return fmt.Errorf("permission %q is not resource:action", string(p))
	case r != Any && !resources[Resource(r)]:
		return fmt.Errorf("permission %q: unknown resource %q", string(p), r)
	case a != Any && !actions[Action(a)]:
		return fmt.Errorf("permission %q: unknown action %q", string(p), a)
	}
	return nil
}

// Resource is the permission's resource ("" for the zero permission).
func (p Permission) Resource() Resource {
	r, _, _ := strings.Cut(string(p), ":")
	return Resource(r)
}

// Action is the permission's action ("" for the zero permission).
func (p Permission) Action() Action {
	_, a, _ := strings.Cut(string(p), ":")
	return Action(a)
}

// String returns "resource:action".
func (p Permission) String() string { return string(p) }

// IsZero reports whether p is no permission at all.
func (p Permission) IsZero() bool { return p == "" }

// Concrete reports whether p names one resource and one action (no
// wildcard): what a route must need.
func (p Permission) Concrete() bool {
	return p.Validate() == nil && p.Resource() != Any && p.Action() != Any
}

// Grants reports whether p, as granted (possibly with wildcards), covers
// need, a concrete permission.
func (p Permission) Grants(need Permission) bool {
	r, a := p.Resource(), p.Action()
	return (r == Any || r == need.Resource()) && (a == Any || a == need.Action())
}

// Access maps the permission onto the coarse classes the built-in roles
// decide by: action read is Read, call is Call, anything else Write.
func (p Permission) Access() Access {
	switch p.Action() {
	case ActionRead:
		return Read
	case ActionCall:
		return Call
	}
	return Write
}
