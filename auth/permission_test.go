package auth

import "testing"

func TestParsePermission(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ok       bool
		resource Resource
		action   Action
		concrete bool
	}{
		{"providers:read", true, ResourceProviders, ActionRead, true},
		{"tools:call", true, ResourceTools, ActionCall, true},
		{"registry:admin", true, ResourceRegistry, ActionAdmin, true},
		{"providers:*", true, ResourceProviders, Any, false},
		{"*:read", true, Any, ActionRead, false},
		{"*:*", true, Any, Any, false},
		{"", false, "", "", false},
		{"providers", false, "", "", false},
		{"providers:", false, "", "", false},
		{":read", false, "", "", false},
		{"provider:read", false, "", "", false},
		{"providers:execute", false, "", "", false},
		{"providers:read:x", false, "", "", false},
		{"Providers:read", false, "", "", false},
	} {
		p, err := ParsePermission(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePermission(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if !tc.ok {
			if !p.IsZero() {
				t.Errorf("ParsePermission(%q) = %q on error", tc.in, p)
			}
			continue
		}
		if p.String() != tc.in || p.Resource() != tc.resource || p.Action() != tc.action || p.Concrete() != tc.concrete {
			t.Errorf("ParsePermission(%q) = %q (%q, %q, concrete %v)", tc.in, p, p.Resource(), p.Action(), p.Concrete())
		}
	}
	if NewPermission(ResourceGroups, ActionDelete) != GroupsDelete {
		t.Errorf("NewPermission(groups, delete) = %q", NewPermission(ResourceGroups, ActionDelete))
	}
}

// Every permission constant a route can name is valid and concrete.
func TestPermissionConstants(t *testing.T) {
	for _, p := range []Permission{
		ProvidersRead, ProvidersWrite, ProvidersStart, ProvidersStop, ProvidersDelete,
		ToolsRead, ToolsCall, GroupsRead, GroupsWrite, GroupsDelete, SessionsRead, SessionsWrite,
		ApprovalsRead, ApprovalsWrite, PoliciesRead, PoliciesWrite, AgentsRead, AgentsWrite, SystemRead,
	} {
		if !p.Concrete() {
			t.Errorf("%q is not a concrete permission: %v", p, p.Validate())
		}
	}
}

// The coarse classes keep the built-in roles deciding as before: reads for
// viewers, calls for developers, everything else for operators.
func TestPermissionAccess(t *testing.T) {
	for _, tc := range []struct {
		p    Permission
		want Access
	}{
		{ProvidersRead, Read}, {SystemRead, Read}, {ToolsCall, Call},
		{ProvidersWrite, Write}, {ProvidersStart, Write}, {ProvidersStop, Write},
		{ProvidersDelete, Write}, {NewPermission(ResourceAuth, ActionAdmin), Write},
		{"", Write}, {"providers:*", Write},
	} {
		if got := tc.p.Access(); got != tc.want {
			t.Errorf("%q.Access() = %v, want %v", tc.p, got, tc.want)
		}
	}
	viewer := &Principal{Roles: []string{RoleViewer}}
	developer := &Principal{Roles: []string{RoleDeveloper}}
	if !viewer.Allows(ProvidersRead.Access()) || viewer.Allows(ToolsCall.Access()) {
		t.Error("viewer: reads, does not call")
	}
	if !developer.Allows(ToolsCall.Access()) || developer.Allows(ProvidersStart.Access()) {
		t.Error("developer: calls, does not start providers")
	}
}

func TestPermissionGrants(t *testing.T) {
	for _, tc := range []struct {
		granted, need Permission
		want          bool
	}{
		{"*:*", ProvidersDelete, true},
		{"providers:*", ProvidersDelete, true},
		{"providers:*", GroupsDelete, false},
		{"*:read", SessionsRead, true},
		{"*:read", SessionsWrite, false},
		{ToolsCall, ToolsCall, true},
		{ToolsCall, ToolsRead, false},
	} {
		if got := tc.granted.Grants(tc.need); got != tc.want {
			t.Errorf("%q.Grants(%q) = %v, want %v", tc.granted, tc.need, got, tc.want)
		}
	}
}
