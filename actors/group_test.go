package actors

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/config"
)

func groupOf(t *testing.T, rt *Runtime, id, strategy string, members ...string) {
	t.Helper()
	spec := GroupSpec{ID: id, Strategy: strategy, MinHealthy: 2}
	for _, m := range members {
		if err := rt.Create(fastSpec(m)); err != nil {
			t.Fatal(err)
		}
		spec.Members = append(spec.Members, GroupMember{ID: m})
	}
	if err := rt.CreateGroup(spec); err != nil {
		t.Fatal(err)
	}
}

func TestGroupRoundRobinSpreadsCalls(t *testing.T) {
	rt := newRT(t)
	groupOf(t, rt, "pool", "round_robin", "m1", "m2", "m3")
	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		rep, err := rt.callDirect(context.Background(), "pool", "pid", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		seen[text(t, rep)]++
	}
	if len(seen) != 3 {
		t.Fatalf("calls went to %d processes, want 3: %v", len(seen), seen)
	}
	for pid, n := range seen {
		if n != 10 {
			t.Fatalf("round robin gave process %s %d of 30 calls", pid, n)
		}
	}
	g, err := rt.Group("pool")
	if err != nil {
		t.Fatal(err)
	}
	if g.State != GroupHealthy || g.Healthy != 3 || g.BreakerState != "closed" {
		t.Fatalf("group status %+v", g)
	}
	if _, err := rt.callDirect(context.Background(), "pool", "nope", nil); !errors.Is(err, ErrToolNotFound) {
		t.Fatalf("unknown tool through a group: %v", err)
	}
	if err := rt.CreateGroup(GroupSpec{ID: "m1"}); !errors.Is(err, ErrExists) {
		t.Fatalf("a group named like a provider: %v", err)
	}
	if err := rt.CreateGroup(GroupSpec{ID: "bad", Members: []GroupMember{{ID: "ghost"}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a group with an unknown member: %v", err)
	}
}

// TestGroupMemberKilledMidLoad crashes one member while calls run: every
// call ends in time, successes fail over, and failures are transport errors
// of calls already written to the member that died.
func TestGroupMemberKilledMidLoad(t *testing.T) {
	rt := newRT(t)
	groupOf(t, rt, "pool", "round_robin", "k1", "k2", "k3")
	for _, m := range []string{"k1", "k2", "k3"} {
		call(t, rt, m, "echo", `{"text":"warm"}`)
	}
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := rt.callDirect(ctx, "pool", "sleep", []byte(`{"ms":20}`))
			errs <- err
		}()
	}
	close(start)
	// Kill k2 while the calls run.
	if _, err := rt.callDirect(context.Background(), "k2", "crash", []byte(`{"code":9}`)); err == nil {
		t.Fatal("crash returned a result")
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("calls hung after a member died")
	}
	close(errs)
	ok, failed := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrBackend):
			failed++ // written to k2 before it died: a clear transport error
		default:
			t.Fatalf("unexpected failure: %v", err)
		}
	}
	if ok == 0 || ok+failed != n {
		t.Fatalf("%d ok, %d failed of %d", ok, failed, n)
	}
	t.Logf("%d calls succeeded, %d failed with the member that died", ok, failed)
	// Afterwards the group serves every call again.
	for i := 0; i < 9; i++ {
		if _, err := rt.callDirect(context.Background(), "pool", "echo", []byte(`{"text":"after"}`)); err != nil {
			t.Fatalf("call %d after the crash: %v", i, err)
		}
	}
}

func TestGroupFailsOverFromStoppedMember(t *testing.T) {
	rt := newRT(t)
	groupOf(t, rt, "pool", "priority", "first", "second")
	// priority: both have priority 1 by default; make "first" preferred.
	if err := rt.RemoveGroupMember("pool", "second"); err != nil {
		t.Fatal(err)
	}
	if err := rt.AddGroupMember("pool", GroupMember{ID: "second", Priority: 5}); err != nil {
		t.Fatal(err)
	}
	first := text(t, mustRoute(t, rt, "pool", "pid"))
	if state, _ := rt.Stop("first", "test"); state != StateStopped {
		t.Fatal("stop failed")
	}
	if got := text(t, mustRoute(t, rt, "pool", "pid")); got == first {
		t.Fatal("a stopped member still got calls")
	}
	g, _ := rt.Group("pool")
	if g.Healthy != 1 || g.State != GroupDegraded {
		t.Fatalf("with one of two members (min_healthy 2): %+v", g)
	}
	if _, err := rt.Stop("second", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.callDirect(context.Background(), "pool", "pid", nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no usable member: %v", err)
	}
	if g, _ := rt.Group("pool"); g.State != GroupUnavailable {
		t.Fatalf("state with no usable member: %s", g.State)
	}
	if err := rt.Rebalance("pool"); err != nil {
		t.Fatal(err)
	}
	if err := rt.DeleteGroup("pool"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Group("pool"); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("deleted group: %v", err)
	}
}

func mustRoute(t *testing.T, rt *Runtime, id, tool string) *CallReply {
	t.Helper()
	rep, err := rt.callDirect(context.Background(), id, tool, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// memberLoad returns the in-flight count of each member of a group.
func memberLoad(t *testing.T, rt *Runtime, id string) map[string]int64 {
	t.Helper()
	g, err := rt.Group(id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, m := range g.Members {
		out[m.ID] = m.InFlight
	}
	return out
}

// waitLoad waits until a group's members carry the given in-flight counts.
func waitLoad(t *testing.T, rt *Runtime, id string, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for got := memberLoad(t, rt, id); !maps.Equal(got, want); got = memberLoad(t, rt, id) {
		if time.Now().After(deadline) {
			t.Fatalf("group %s in flight %v, want %v", id, got, want)
		}
		time.Sleep(time.Millisecond) // polling the group's counters
	}
}

// TestLeastConnectionsCountsSurviveUpdates: updating a group, adding or
// removing a member keeps the in-flight counts of calls already running,
// so least_connections keeps routing by them, and they return to zero
// when the calls end.
func TestLeastConnectionsCountsSurviveUpdates(t *testing.T) {
	rt := newRT(t)
	groupOf(t, rt, "lc", "least_connections", "a", "b")
	if err := rt.Create(fastSpec("c")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	hang := func(want map[string]int64) {
		t.Helper()
		wg.Go(func() { _, _ = rt.callDirect(ctx, "lc", "hang", nil) })
		waitLoad(t, rt, "lc", want) // one call at a time: each pick is known
	}
	hang(map[string]int64{"a": 1, "b": 0})
	hang(map[string]int64{"a": 1, "b": 1})
	hang(map[string]int64{"a": 2, "b": 1})

	desc := "updated"
	if err := rt.UpdateGroup("lc", nil, nil, &desc); err != nil {
		t.Fatal(err)
	}
	if got := memberLoad(t, rt, "lc"); !maps.Equal(got, map[string]int64{"a": 2, "b": 1}) {
		t.Fatalf("in flight after an update: %v", got)
	}
	if err := rt.AddGroupMember("lc", GroupMember{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if got := memberLoad(t, rt, "lc"); !maps.Equal(got, map[string]int64{"a": 2, "b": 1, "c": 0}) {
		t.Fatalf("in flight after adding a member: %v", got)
	}
	hang(map[string]int64{"a": 2, "b": 1, "c": 1}) // the least loaded
	if err := rt.RemoveGroupMember("lc", "c"); err != nil {
		t.Fatal(err)
	}
	if got := memberLoad(t, rt, "lc"); !maps.Equal(got, map[string]int64{"a": 2, "b": 1}) {
		t.Fatalf("in flight after removing a member: %v", got)
	}
	hang(map[string]int64{"a": 2, "b": 2})

	cancel()
	wg.Wait()
	waitLoad(t, rt, "lc", map[string]int64{"a": 0, "b": 0})
}

// TestGroupTenant: a group belongs to its spec's tenant ("default" if
// unset), takes members of that tenant only, and Owner names the tenant
// of providers and groups alike.
func TestGroupTenant(t *testing.T) {
	rt := newRT(t)
	for id, tenant := range map[string]string{"b1": "beta", "b2": "beta", "d1": DefaultTenant} {
		s := fastSpec(id)
		s.Tenant = tenant
		if err := rt.Create(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.CreateGroup(GroupSpec{ID: "mixed", Tenant: "beta", Members: []GroupMember{{ID: "b1"}, {ID: "d1"}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a group with a member of another tenant: %v", err)
	}
	if err := rt.CreateGroup(GroupSpec{ID: "bg", Tenant: "beta", Members: []GroupMember{{ID: "b1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := rt.AddGroupMember("bg", GroupMember{ID: "d1"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("adding a member of another tenant: %v", err)
	}
	if err := rt.AddGroupMember("bg", GroupMember{ID: "b2"}); err != nil {
		t.Fatal(err)
	}
	if err := rt.CreateGroup(GroupSpec{ID: "dg", Members: []GroupMember{{ID: "d1"}}}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]struct {
		tenant string
		group  bool
	}{"bg": {"beta", true}, "dg": {"default", true}, "b1": {"beta", false}, "d1": {"default", false}} {
		tenant, isGroup, err := rt.Owner(id)
		if err != nil || tenant != want.tenant || isGroup != want.group {
			t.Errorf("Owner(%s) = %q, %v, %v; want %q, %v", id, tenant, isGroup, err, want.tenant, want.group)
		}
	}
	if _, _, err := rt.Owner("nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Owner of an unknown id: %v", err)
	}
	if g, _ := rt.Group("bg"); g.Spec.Tenant != "beta" || len(g.Members) != 2 {
		t.Fatalf("group info: %+v", g)
	}
	if s := GroupSpecFromConfig(&config.Group{ID: "cg", Tenant: "beta"}); s.Tenant != "beta" {
		t.Fatalf("tenant from the config file: %q", s.Tenant)
	}
}
