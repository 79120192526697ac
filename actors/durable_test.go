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

// apiProvider is a provider as the API's body gives it.
func apiProvider(id string) *config.Provider {
	return &config.Provider{ID: id, Mode: config.ModeSubprocess, Command: []string{testbin.Path()}, Description: "from the API " + id}
}

// TestRecoverAPIProviders: providers the API registered come back, cold
// and as they were, in a runtime over the same store; a deleted one does
// not; a provider the config file also has is the file's.
func TestRecoverAPIProviders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchyard.db")
	open := func() store.Store {
		s, err := store.OpenSQLite(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
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
	if err != nil || a.State != StateCold || a.Spec.Description != "from the API a" {
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
