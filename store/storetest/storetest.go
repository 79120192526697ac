// Package storetest is the conformance suite of store.Store: every
// implementation must pass Run.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/store"
)

// Open returns a new, empty store for one test; Run closes it. Reopen,
// when an implementation keeps its data, opens the same store again after
// it was closed (nil to skip the durability test).
type Open func(t *testing.T) (s store.Store, reopen func(t *testing.T) store.Store)

// Run runs the suite against the stores open makes.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		f    func(t *testing.T, s store.Store)
	}{
		{"AppendAndRead", appendAndRead},
		{"ExpectedVersion", expectedVersion},
		{"InvalidArguments", invalidArguments},
		{"GlobalPositions", globalPositions},
		{"Streams", streams},
		{"Snapshots", snapshots},
		{"Compact", compact},
		{"ConcurrentAppends", concurrentAppends},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := open(t)
			defer func() { _ = s.Close() }()
			c.f(t, s)
		})
	}
	t.Run("Closed", func(t *testing.T) {
		s, _ := open(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx(t), "a", store.AnyVersion, ev("E", 1)); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Append after Close: %v, want ErrClosed", err)
		}
		if _, err := s.Read(ctx(t), "a", 0, 0); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Read after Close: %v, want ErrClosed", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("a second Close: %v", err)
		}
	})
	t.Run("Durable", func(t *testing.T) {
		s, reopen := open(t)
		if reopen == nil {
			_ = s.Close()
			t.Skip("the store keeps nothing across a reopen")
		}
		mustAppend(t, s, "provider:a", store.NoStream, ev("Created", 1), ev("Started", 2))
		mustAppend(t, s, "group:g", store.NoStream, ev("Created", 3))
		if err := s.SaveSnapshot(ctx(t), store.Snapshot{Stream: "provider:a", Version: 2, Data: json.RawMessage(`{"n":2}`)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = reopen(t)
		defer func() { _ = s.Close() }()
		all, err := s.ReadAll(ctx(t), 0, 0)
		if err != nil || len(all) != 3 {
			t.Fatalf("ReadAll after reopen: %v %v", all, err)
		}
		if v, _ := s.Version(ctx(t), "provider:a"); v != 2 {
			t.Fatalf("version after reopen %d, want 2", v)
		}
		snap, err := s.LoadSnapshot(ctx(t), "provider:a")
		if err != nil || snap.Version != 2 || string(snap.Data) != `{"n":2}` {
			t.Fatalf("snapshot after reopen: %+v %v", snap, err)
		}
		mustAppend(t, s, "provider:a", 2, ev("Stopped", 4))
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// ev is an event of type typ whose data names n.
func ev(typ string, n int) store.NewEvent {
	return store.NewEvent{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func mustAppend(t *testing.T, s store.Store, stream string, expected int64, events ...store.NewEvent) int64 {
	t.Helper()
	v, err := s.Append(ctx(t), stream, expected, events...)
	if err != nil {
		t.Fatalf("Append %s at %d: %v", stream, expected, err)
	}
	return v
}

func appendAndRead(t *testing.T, s store.Store) {
	if v, err := s.Version(ctx(t), "provider:a"); err != nil || v != 0 {
		t.Fatalf("version of a new stream: %d %v", v, err)
	}
	if got, err := s.Read(ctx(t), "provider:a", 0, 0); err != nil || len(got) != 0 {
		t.Fatalf("Read of a new stream: %v %v", got, err)
	}
	if v := mustAppend(t, s, "provider:a", store.NoStream, ev("Created", 1), ev("Started", 2)); v != 2 {
		t.Fatalf("version after two events %d, want 2", v)
	}
	if v := mustAppend(t, s, "provider:a", store.AnyVersion, ev("Stopped", 3)); v != 3 {
		t.Fatalf("version after three events %d, want 3", v)
	}
	got, err := s.Read(ctx(t), "provider:a", 0, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("Read: %v %v", got, err)
	}
	for i, e := range got {
		if e.Stream != "provider:a" || e.Version != int64(i+1) || string(e.Data) != fmt.Sprintf(`{"n":%d}`, i+1) ||
			e.At.IsZero() || time.Since(e.At) > time.Minute {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if got[0].Type != "Created" || got[2].Type != "Stopped" {
		t.Fatalf("types %s, %s", got[0].Type, got[2].Type)
	}
	// After a version, with a limit.
	got, err = s.Read(ctx(t), "provider:a", 1, 1)
	if err != nil || len(got) != 1 || got[0].Version != 2 {
		t.Fatalf("Read after 1, limit 1: %v %v", got, err)
	}
	// Appending nothing checks the version and returns it.
	if v := mustAppend(t, s, "provider:a", 3); v != 3 {
		t.Fatalf("an empty append: version %d", v)
	}
}

func expectedVersion(t *testing.T, s store.Store) {
	mustAppend(t, s, "s", store.NoStream, ev("A", 1))
	for _, expected := range []int64{store.NoStream, 2, 5} {
		if _, err := s.Append(ctx(t), "s", expected, ev("B", 2)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Append at %d to a stream at 1: %v, want ErrConflict", expected, err)
		}
	}
	if _, err := s.Append(ctx(t), "new", 1, ev("A", 1)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Append at 1 to an empty stream: %v, want ErrConflict", err)
	}
	if got, _ := s.Read(ctx(t), "s", 0, 0); len(got) != 1 {
		t.Fatalf("a refused append left %d events, want 1", len(got))
	}
	if v := mustAppend(t, s, "s", 1, ev("B", 2), ev("C", 3)); v != 3 {
		t.Fatalf("version %d, want 3", v)
	}
}

func invalidArguments(t *testing.T, s store.Store) {
	for name, f := range map[string]func() error{
		"empty stream": func() error { _, err := s.Append(ctx(t), "", store.AnyVersion, ev("A", 1)); return err },
		"no type": func() error {
			_, err := s.Append(ctx(t), "s", store.AnyVersion, store.NewEvent{Data: json.RawMessage(`{}`)})
			return err
		},
		"not JSON": func() error {
			_, err := s.Append(ctx(t), "s", store.AnyVersion, store.NewEvent{Type: "A", Data: json.RawMessage(`{`)})
			return err
		},
		"version": func() error { _, err := s.Append(ctx(t), "s", -2, ev("A", 1)); return err },
		"snapshot data": func() error {
			return s.SaveSnapshot(ctx(t), store.Snapshot{Stream: "s", Data: json.RawMessage(`nope`)})
		},
		"snapshot ahead": func() error {
			return s.SaveSnapshot(ctx(t), store.Snapshot{Stream: "s", Version: 9, Data: json.RawMessage(`{}`)})
		},
	} {
		if err := f(); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if v, _ := s.Version(ctx(t), "s"); v != 0 {
		t.Fatalf("refused appends left the stream at version %d", v)
	}
}

func globalPositions(t *testing.T, s store.Store) {
	mustAppend(t, s, "a", store.NoStream, ev("A", 1))
	mustAppend(t, s, "b", store.NoStream, ev("B", 2), ev("B", 3))
	mustAppend(t, s, "a", 1, ev("A", 4))
	all, err := s.ReadAll(ctx(t), 0, 0)
	if err != nil || len(all) != 4 {
		t.Fatalf("ReadAll: %v %v", all, err)
	}
	for i := range all {
		if want := fmt.Sprintf(`{"n":%d}`, i+1); string(all[i].Data) != want {
			t.Fatalf("event %d is %s, want %s: positions follow the order of appends", i, all[i].Data, want)
		}
		if i > 0 && all[i].Position <= all[i-1].Position {
			t.Fatalf("positions %d then %d", all[i-1].Position, all[i].Position)
		}
	}
	rest, err := s.ReadAll(ctx(t), all[1].Position, 1)
	if err != nil || len(rest) != 1 || rest[0].Position != all[2].Position {
		t.Fatalf("ReadAll after %d, limit 1: %v %v", all[1].Position, rest, err)
	}
	if none, err := s.ReadAll(ctx(t), all[3].Position, 0); err != nil || len(none) != 0 {
		t.Fatalf("ReadAll after the last: %v %v", none, err)
	}
}

func streams(t *testing.T, s store.Store) {
	for _, name := range []string{"provider:b", "group:g", "provider:a", "provider_x", "policy:t"} {
		mustAppend(t, s, name, store.NoStream, ev("A", 1))
	}
	got, err := s.Streams(ctx(t), "provider:")
	if err != nil || !slices.Equal(got, []string{"provider:a", "provider:b"}) {
		t.Fatalf("Streams(provider:) = %v %v", got, err)
	}
	all, err := s.Streams(ctx(t), "")
	if err != nil || len(all) != 5 || !slices.IsSorted(all) {
		t.Fatalf("Streams() = %v %v", all, err)
	}
	if got, _ := s.Streams(ctx(t), "provider%"); len(got) != 0 {
		t.Fatalf("Streams(provider%%) = %v: a prefix is not a pattern", got)
	}
}

func snapshots(t *testing.T, s store.Store) {
	if _, err := s.LoadSnapshot(ctx(t), "s"); !errors.Is(err, store.ErrNoSnapshot) {
		t.Fatalf("LoadSnapshot of a new stream: %v, want ErrNoSnapshot", err)
	}
	mustAppend(t, s, "s", store.NoStream, ev("A", 1), ev("B", 2))
	if err := s.SaveSnapshot(ctx(t), store.Snapshot{Stream: "s", Version: 1, Data: json.RawMessage(`{"v":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(ctx(t), store.Snapshot{Stream: "s", Version: 2, Data: json.RawMessage(`{"v":2}`)}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.LoadSnapshot(ctx(t), "s")
	if err != nil || snap.Stream != "s" || snap.Version != 2 || string(snap.Data) != `{"v":2}` || snap.At.IsZero() {
		t.Fatalf("LoadSnapshot: %+v %v, want the second", snap, err)
	}
	// A snapshot changes no event.
	if got, _ := s.Read(ctx(t), "s", 0, 0); len(got) != 2 {
		t.Fatalf("%d events after snapshots, want 2", len(got))
	}
}

func compact(t *testing.T, s store.Store) {
	if _, err := s.Compact(ctx(t), "s"); !errors.Is(err, store.ErrNoSnapshot) {
		t.Fatalf("Compact without a snapshot: %v, want ErrNoSnapshot", err)
	}
	mustAppend(t, s, "s", store.NoStream, ev("A", 1), ev("B", 2), ev("C", 3))
	mustAppend(t, s, "other", store.NoStream, ev("O", 4))
	if err := s.SaveSnapshot(ctx(t), store.Snapshot{Stream: "s", Version: 2, Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Compact(ctx(t), "s")
	if err != nil || n != 2 {
		t.Fatalf("Compact: %d %v, want 2 deleted", n, err)
	}
	got, _ := s.Read(ctx(t), "s", 0, 0)
	if len(got) != 1 || got[0].Version != 3 {
		t.Fatalf("after Compact: %v, want version 3 only", got)
	}
	if v, _ := s.Version(ctx(t), "s"); v != 3 {
		t.Fatalf("version after Compact %d, want 3", v)
	}
	if v := mustAppend(t, s, "s", 3, ev("D", 5)); v != 4 {
		t.Fatalf("append after Compact: version %d, want 4", v)
	}
	if n, err := s.Compact(ctx(t), "s"); err != nil || n != 0 {
		t.Fatalf("a second Compact: %d %v, want 0", n, err)
	}
	if got, _ := s.Read(ctx(t), "other", 0, 0); len(got) != 1 {
		t.Fatalf("Compact of s touched other: %v", got)
	}
}

// concurrentAppends: writers racing on one stream, each appending at the
// version it read, never both succeed at one version, never leave a gap,
// and every success is readable.
func concurrentAppends(t *testing.T, s store.Store) {
	const writers, rounds = 8, 25
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		won       = map[int64]int{} // version → writer
		conflicts int
	)
	for w := range writers {
		wg.Go(func() {
			for range rounds {
				v, err := s.Version(ctx(t), "hot")
				if err != nil {
					t.Error(err)
					return
				}
				nv, err := s.Append(ctx(t), "hot", v, ev("W", w))
				mu.Lock()
				switch {
				case errors.Is(err, store.ErrConflict):
					conflicts++
				case err != nil:
					t.Error(err)
				default:
					if other, dup := won[nv]; dup {
						t.Errorf("version %d appended by writers %d and %d", nv, other, w)
					}
					won[nv] = w
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got, err := s.Read(ctx(t), "hot", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(won) || len(got)+conflicts != writers*rounds {
		t.Fatalf("%d events, %d successes, %d conflicts of %d appends", len(got), len(won), conflicts, writers*rounds)
	}
	for i, e := range got {
		if e.Version != int64(i+1) || string(e.Data) != fmt.Sprintf(`{"n":%d}`, won[e.Version]) {
			t.Fatalf("event %d: %+v, want version %d by writer %d", i, e, i+1, won[e.Version])
		}
	}
}
