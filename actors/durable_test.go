package actors

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
	"github.com/switchyard-mcp/switchyard/store"
)

// storeAt opens the SQLite store at path until the test ends.
func storeAt(t *testing.T, path string) store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// apiProvider is a provider as the API's body gives it.
func apiProvider(id string) *config.Provider {
	return &config.Provider{ID: id, Mode: config.ModeSubprocess, Command: []string{testbin.Path()}, Description: "from the API " + id}
}

// TestRecoverAPIProviders: providers the API registered come back, cold
// and as they were, in a runtime over the same store; a deleted one does
// not; a provider the config file also has is the file's.
func TestRecoverAPIProviders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchyard.db")
	open := func() store.Store { return storeAt(t, path) }
	st := open()
	rt := newRTWith(t, Options{Version: "test", Store: st})
	for _, id := range []string{"a", "b", "c"} {
		if err := rt.Register(apiProvider(id), config.Limits{}); err != nil {
			t.Fatalf("Register %s: %v", id, err)
		}
	}
	if err := rt.Register(apiProvider("a"), config.Limits{}); !errors.Is(err, ErrExists) {
		t.Fatalf("registering a twice: %v, want ErrExists", err)
	}
	if err := rt.Unregister("b"); err != nil {
		t.Fatal(err)
	}
	desc, ttl := "changed over the API", 90*time.Second
	if err := rt.Update("a", &Update{Description: &desc, IdleTTL: &ttl, Env: map[string]string{"K": "v"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	st = open()
	rt2 := newRTWith(t, Options{Version: "test", Store: st})
	// c is in the file now: the file's definition stands.
	fileC := apiProvider("c")
	fileC.Description = "from the file"
	if err := rt2.Create(SpecFromConfig(fileC, config.Limits{})); err != nil {
		t.Fatal(err)
	}
	restored, skipped, err := rt2.Recover(ctx, config.Limits{}, func(id string) bool { return id == "c" })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(restored, []string{"a"}) || !slices.Equal(skipped, []string{"c"}) {
		t.Fatalf("restored %v, skipped %v; want [a] and [c]", restored, skipped)
	}
	a, err := rt2.Get("a")
	if err != nil || a.State != StateCold || a.Spec.Description != "changed over the API" || a.Spec.IdleTTL != 90*time.Second || a.Spec.Env["K"] != "v" {
		t.Fatalf("a after recovery: %+v %v", a, err)
	}
	if _, err := rt2.Get("b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("b after recovery: %v, want not found", err)
	}
	if c, _ := rt2.Get("c"); c == nil || c.Spec.Description != "from the file" {
		t.Fatalf("c after recovery: %+v, want the file's", c)
	}
	// a works as before.
	if _, err := rt2.Start(ctx, "a"); err != nil {
		t.Fatalf("starting a restored provider: %v", err)
	}
}

// TestRegisterNotRecorded: a provider the store cannot record is not
// created at all.
func TestRegisterNotRecorded(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "switchyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	rt := newRTWith(t, Options{Version: "test", Store: st})
	if err := rt.Register(apiProvider("a"), config.Limits{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Register with a closed store: %v, want ErrUnavailable", err)
	}
	if _, err := rt.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a provider not recorded exists: %v", err)
	}
}

// TestRecoverGroups: a group's last recorded spec (members added and
// removed, its strategy changed) comes back over the same store; a
// deleted group does not; one whose member is gone is skipped with the
// reason.
func TestRecoverGroups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchyard.db")
	open := func() store.Store { return storeAt(t, path) }
	st := open()
	rt := newRTWith(t, Options{Version: "test", Store: st})
	for _, id := range []string{"m1", "m2", "m3"} {
		if err := rt.Register(apiProvider(id), config.Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rt.CreateGroup(GroupSpec{ID: "pool", Members: []GroupMember{{ID: "m1"}, {ID: "m2"}}}))
	must(rt.AddGroupMember("pool", GroupMember{ID: "m3", Weight: 5}))
	must(rt.RemoveGroupMember("pool", "m1"))
	strategy := "weighted"
	must(rt.UpdateGroup("pool", &strategy, nil, nil))
	must(rt.CreateGroup(GroupSpec{ID: "old", Members: []GroupMember{{ID: "m1"}}}))
	must(rt.DeleteGroup("old"))
	must(rt.CreateGroup(GroupSpec{ID: "orphan", Members: []GroupMember{{ID: "m2"}}}))
	must(rt.RemoveGroupMember("pool", "m2"))
	// A group of the config file is the file's: nothing of it is recorded.
	must(rt.CreateFileGroup(GroupSpec{ID: "filegrp", Members: []GroupMember{{ID: "m3"}}}))
	must(rt.AddGroupMember("filegrp", GroupMember{ID: "m1"}))
	must(rt.DeleteGroup("filegrp"))
	if v, err := st.Version(context.Background(), "group:filegrp"); err != nil || v != 0 {
		t.Fatalf("a file group was recorded: version %d %v", v, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	must(rt.Shutdown(ctx))
	_ = st.Close()

	// m2 is gone by the next start (it was deleted in the store).
	st = open()
	if v, err := st.Version(ctx, "provider:m2"); err != nil || v == 0 {
		t.Fatalf("provider:m2 at version %d: %v", v, err)
	}
	if _, err := st.Append(ctx, "provider:m2", store.AnyVersion, store.NewEvent{Type: evProviderDeleted, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	rt2 := newRTWith(t, Options{Version: "test", Store: st})
	if _, _, err := rt2.Recover(ctx, config.Limits{}, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	restored, skipped, err := rt2.RecoverGroups(ctx, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(restored, []string{"pool"}) || len(skipped) != 1 || skipped["orphan"] == "" {
		t.Fatalf("restored %v, skipped %v; want [pool] and orphan with a reason", restored, skipped)
	}
	g, err := rt2.Group("pool")
	if err != nil {
		t.Fatal(err)
	}
	if g.Spec.Strategy != "weighted" || len(g.Spec.Members) != 1 || g.Spec.Members[0].ID != "m3" || g.Spec.Members[0].Weight != 5 {
		t.Fatalf("pool after recovery: %+v", g.Spec)
	}
	if _, err := rt2.Group("old"); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("old after recovery: %v, want not found", err)
	}
}

// TestRecoverPolicies: a tenant's last policy comes back as it was
// recorded; one that cannot be recorded is not set and the previous one
// stands.
func TestRecoverPolicies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchyard.db")
	st := storeAt(t, path)
	rt := newRTWith(t, Options{Version: "test", Store: st})
	if _, err := rt.SetPolicy(Policy{Tenant: "acme", HITLRequiredTools: []string{"deploy"}}); err != nil {
		t.Fatal(err)
	}
	last, err := rt.SetPolicy(Policy{Tenant: "acme", HITLRequiredTools: []string{"echo"}, MaxToolCallsPerSession: 7})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if _, err := rt.SetPolicy(Policy{Tenant: "acme", HITLRequiredTools: []string{"nothing"}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SetPolicy with a closed store: %v, want ErrUnavailable", err)
	}
	if p := rt.Agents().LookupPolicy("acme"); p == nil || !slices.Equal(p.HITLRequiredTools, []string{"echo"}) {
		t.Fatalf("the policy after a refused change: %+v, want the last recorded", p)
	}

	rt2 := newRTWith(t, Options{Version: "test", Store: storeAt(t, path)})
	tenants, err := rt2.RecoverPolicies(context.Background())
	if err != nil || !slices.Equal(tenants, []string{"acme"}) {
		t.Fatalf("RecoverPolicies: %v %v", tenants, err)
	}
	p := rt2.Agents().LookupPolicy("acme")
	if p == nil || !slices.Equal(p.HITLRequiredTools, []string{"echo"}) || p.MaxToolCallsPerSession != 7 || !p.UpdatedAt.Equal(last.UpdatedAt) {
		t.Fatalf("recovered policy %+v, want %+v", p, last)
	}
}

// TestRecoverAgents: a registered A2A agent (its last registration) comes
// back as it was; one that cannot be recorded is undone.
func TestRecoverAgents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchyard.db")
	st := storeAt(t, path)
	rt := newRTWith(t, Options{Version: "test", Store: st})
	if created, err := rt.RegisterAgent(Agent{ID: "planner", URL: "http://127.0.0.1:9/a2a", Tenant: "acme"}); err != nil || !created {
		t.Fatalf("RegisterAgent: %v %v", created, err)
	}
	if created, err := rt.RegisterAgent(Agent{ID: "planner", URL: "http://127.0.0.1:10/a2a", Tenant: "acme", Description: "v2"}); err != nil || created {
		t.Fatalf("re-registering: %v %v", created, err)
	}
	want := *rt.Agents().LookupAgent("acme", "planner")
	_ = st.Close()
	if _, err := rt.RegisterAgent(Agent{ID: "other", URL: "http://127.0.0.1:11/a2a", Tenant: "acme"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("RegisterAgent with a closed store: %v, want ErrUnavailable", err)
	}
	if a := rt.Agents().LookupAgent("acme", "other"); a != nil {
		t.Fatalf("an agent not recorded is registered: %+v", a)
	}

	rt2 := newRTWith(t, Options{Version: "test", Store: storeAt(t, path)})
	if n, err := rt2.RecoverAgents(context.Background()); err != nil || n != 1 {
		t.Fatalf("RecoverAgents: %d %v", n, err)
	}
	got := rt2.Agents().LookupAgent("acme", "planner")
	if got == nil || got.URL != want.URL || got.Description != "v2" || !got.RegisteredAt.Equal(want.RegisteredAt) {
		t.Fatalf("recovered agent %+v, want %+v", got, want)
	}
}
