package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard-mcp/switchyard/store"
	"github.com/switchyard-mcp/switchyard/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openAt(t *testing.T, path string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func(t *testing.T) store.Store) {
		path := filepath.Join(t.TempDir(), "switchyard.db")
		return openAt(t, path), func(t *testing.T) store.Store { return openAt(t, path) }
	})
}

// TestSQLiteFile: the database is in WAL mode with synchronous=FULL, a
// reopened file keeps its schema version, a file a newer build wrote and
// a file that is not a store are errors naming the file, and neither is
// changed.
func TestSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "switchyard.db")
	s := openAt(t, path)
	if _, err := s.Append(context.Background(), "provider:a", store.NoStream, store.NewEvent{Type: "Created", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	var sync int
	if err := s.DB().QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous %d %v, want 2 (FULL)", sync, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	var version int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v, want wal", mode, err)
	}
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != store.SchemaVersion {
		t.Fatalf("user_version %d %v, want %d", version, err, store.SchemaVersion)
	}
	// A newer build's file.
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	_, err = store.OpenSQLite(context.Background(), path)
	if !errors.Is(err, store.ErrNewerSchema) || !strings.Contains(err.Error(), path) {
		t.Fatalf("opening a newer schema: %v, want ErrNewerSchema naming the file", err)
	}

	// Garbage, and another program's database.
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	odb, err := sql.Open("sqlite", "file:"+other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := odb.Exec("CREATE TABLE notes (x TEXT)"); err != nil {
		t.Fatal(err)
	}
	_ = odb.Close()
	for _, p := range []string{garbage, other} {
		before, _ := os.ReadFile(p)
		_, err := store.OpenSQLite(context.Background(), p)
		if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), p) {
			t.Fatalf("opening %s: %v, want ErrCorrupt naming the file", p, err)
		}
		if after, _ := os.ReadFile(p); string(after) != string(before) {
			t.Fatalf("opening %s changed it", p)
		}
	}
}

// BenchmarkAppend appends one event per call, each committed and synced:
// control-plane mutations per second.
func BenchmarkAppend(b *testing.B) {
	s, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	e := store.NewEvent{Type: "ProviderUpdated", Data: []byte(`{"id":"math","description":"a provider"}`)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Append(context.Background(), "provider:math", store.AnyVersion, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}
