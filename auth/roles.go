package auth

// Built-in roles (immutable).
const (
	RoleAdmin     = "admin"
	RoleOperator  = "operator"
	RoleDeveloper = "developer"
	RoleViewer    = "viewer"
	RoleAuditor   = "auditor"
)

// Access is what a request needs, by the coarse classes the current
// surfaces have.
type Access int

// Access classes.
const (
	// Read: reading state (GET).
	Read Access = iota + 1
	// Call: calling tools (the REST call endpoint, MCP).
	Call
	// Write: changing providers and groups.
	Write
)

// Allows reports whether the principal's built-in roles grant access:
// admin and operator everything, developer reads and calls tools, viewer
// and auditor read. A principal with no known role is denied.
func (p *Principal) Allows(a Access) bool {
	for _, r := range p.Roles {
		switch r {
		case RoleAdmin, RoleOperator:
			return true
		case RoleDeveloper:
			if a == Read || a == Call {
				return true
			}
		case RoleViewer, RoleAuditor:
			if a == Read {
				return true
			}
		}
	}
	return false
}

// IsAdmin reports whether the principal holds the admin role. Of the
// built-in roles only admin grants system:read, the permission of the
// gateway-wide views (such as /metrics when it requires authentication)
// whose labels name every tenant's servers and tools.
func (p *Principal) IsAdmin() bool {
	for _, r := range p.Roles {
		if r == RoleAdmin {
			return true
		}
	}
	return false
}
