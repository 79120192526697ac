package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver: the binary stays static
)

// migrations are the schema's versions: migrations[i] takes a database
// from version i to i+1. They are only ever appended to.
var migrations = []string{
	`CREATE TABLE streams (
		name    TEXT PRIMARY KEY,
		version INTEGER NOT NULL
	);
	CREATE TABLE events (
		position INTEGER PRIMARY KEY AUTOINCREMENT,
		stream   TEXT NOT NULL,
		version  INTEGER NOT NULL,
		type     TEXT NOT NULL,
		data     BLOB NOT NULL,
		at       INTEGER NOT NULL,
		UNIQUE (stream, version)
	);
	CREATE TABLE snapshots (
		stream  TEXT PRIMARY KEY,
		version INTEGER NOT NULL,
		data    BLOB NOT NULL,
		at      INTEGER NOT NULL
	);`,
}

// SchemaVersion is the version of the schema this build writes.
var SchemaVersion = len(migrations)

// SQLite is the embedded store: one SQLite database file in WAL mode with
// synchronous=FULL, so that a committed write survives a crash of the
// process or the machine.
type SQLite struct {
	path string
	db   *sql.DB
	// wmu serialises write transactions: the file has one writer (the
	// data dir's lock keeps other processes off it), and waiting here is
	// cheaper than SQLite's busy retries.
	wmu    sync.Mutex
	mu     sync.RWMutex
	closed bool
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating it if need be) the store at path and brings
// its schema up to date. A file that is not a store's database, or one a
// newer version wrote, is an error naming the file; nothing is reset.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	q := url.Values{}
	// WAL is set once the file is known to be a store's (it is written
	// into the file); the others hold for each connection.
	for _, p := range []string{"synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s := &SQLite{path: path, db: db}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// migrate checks the file and applies the migrations it lacks, each in its
// own transaction.
func (s *SQLite) migrate(ctx context.Context) error {
	var check string
	if err := s.db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return s.corrupt(err)
	}
	if check != "ok" {
		return s.corrupt(errors.New(check))
	}
	var have int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return s.corrupt(err)
	}
	if have > SchemaVersion {
		return fmt.Errorf("%w: %s has schema version %d, this build knows up to %d", ErrNewerSchema, s.path, have, SchemaVersion)
	}
	if have == 0 {
		// A fresh file, or one of something else: a store's has tables
		// only with a version.
		var n int
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
			return s.corrupt(err)
		}
		if n > 0 {
			return s.corrupt(errors.New("it holds tables but no schema version"))
		}
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil || mode != "wal" {
		return fmt.Errorf("store %s: WAL mode: %q %v", s.path, mode, err)
	}
	for v := have; v < SchemaVersion; v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store %s: migrating to schema %d: %w", s.path, v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("store %s: migrating to schema %d: %w", s.path, v+1, err)
		}
		// PRAGMA takes no parameters; v is this build's own number.
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(v+1)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("store %s: migrating to schema %d: %w", s.path, v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store %s: migrating to schema %d: %w", s.path, v+1, err)
		}
	}
	return nil
}

func (s *SQLite) corrupt(err error) error {
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, s.path, err)
}

// Path is the database file.
func (s *SQLite) Path() string { return s.path }

// open runs f unless the store is closed.
func (s *SQLite) open(f func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return f()
}

// write runs f in a write transaction, committed durably when f succeeds.
func (s *SQLite) write(ctx context.Context, f func(tx *sql.Tx) error) error {
	return s.open(func() error {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		if err := f(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store %s: commit: %w", s.path, err)
		}
		return nil
	})
}

// streamVersion is a stream's version inside a transaction.
func streamVersion(ctx context.Context, tx *sql.Tx, stream string) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, "SELECT version FROM streams WHERE name = ?", stream).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// Append implements Store.
func (s *SQLite) Append(ctx context.Context, stream string, expected int64, events ...NewEvent) (int64, error) {
	if err := checkAppend(stream, expected, events); err != nil {
		return 0, err
	}
	var version int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		v, err := streamVersion(ctx, tx, stream)
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		if expected != AnyVersion && v != expected {
			return fmt.Errorf("%w: stream %s is at version %d, not %d", ErrConflict, stream, v, expected)
		}
		version = v
		if len(events) == 0 {
			return nil
		}
		now := time.Now().UnixNano()
		for _, e := range events {
			version++
			if _, err := tx.ExecContext(ctx, "INSERT INTO events (stream, version, type, data, at) VALUES (?, ?, ?, ?, ?)",
				stream, version, e.Type, []byte(e.Data), now); err != nil {
				return fmt.Errorf("store %s: %w", s.path, err)
			}
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO streams (name, version) VALUES (?, ?) "+
			"ON CONFLICT (name) DO UPDATE SET version = excluded.version", stream, version)
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// Read implements Store.
func (s *SQLite) Read(ctx context.Context, stream string, from int64, limit int) ([]Event, error) {
	return s.query(ctx, "SELECT stream, version, position, type, data, at FROM events WHERE stream = ? AND version > ? "+
		"ORDER BY version"+limitClause(limit), stream, from)
}

// ReadAll implements Store.
func (s *SQLite) ReadAll(ctx context.Context, from int64, limit int) ([]Event, error) {
	return s.query(ctx, "SELECT stream, version, position, type, data, at FROM events WHERE position > ? "+
		"ORDER BY position"+limitClause(limit), from)
}

func limitClause(limit int) string {
	if limit <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(limit)
}

func (s *SQLite) query(ctx context.Context, q string, args ...any) ([]Event, error) {
	var out []Event
	err := s.open(func() error {
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var e Event
			var data []byte
			var at int64
			if err := rows.Scan(&e.Stream, &e.Version, &e.Position, &e.Type, &data, &at); err != nil {
				return fmt.Errorf("store %s: %w", s.path, err)
			}
			e.Data, e.At = data, time.Unix(0, at).UTC()
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// Version implements Store.
func (s *SQLite) Version(ctx context.Context, stream string) (int64, error) {
	var v int64
	err := s.open(func() error {
		err := s.db.QueryRowContext(ctx, "SELECT version FROM streams WHERE name = ?", stream).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return v, err
}

// Streams implements Store.
func (s *SQLite) Streams(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := s.open(func() error {
		// A range on the primary key, not LIKE: a prefix may hold % or _.
		rows, err := s.db.QueryContext(ctx, "SELECT name FROM streams WHERE name >= ? ORDER BY name", prefix)
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			if !strings.HasPrefix(name, prefix) {
				break
			}
			out = append(out, name)
		}
		return rows.Err()
	})
	return out, err
}

// SaveSnapshot implements Store.
func (s *SQLite) SaveSnapshot(ctx context.Context, snap Snapshot) error {
	if snap.Stream == "" || snap.Version < 0 || !jsonValid(snap.Data) {
		return fmt.Errorf("%w: a snapshot needs a stream, a version and JSON data", ErrInvalid)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		v, err := streamVersion(ctx, tx, snap.Stream)
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		if snap.Version > v {
			return fmt.Errorf("%w: snapshot of %s at version %d, the stream is at %d", ErrInvalid, snap.Stream, snap.Version, v)
		}
		at := snap.At
		if at.IsZero() {
			at = time.Now()
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO snapshots (stream, version, data, at) VALUES (?, ?, ?, ?) "+
			"ON CONFLICT (stream) DO UPDATE SET version = excluded.version, data = excluded.data, at = excluded.at",
			snap.Stream, snap.Version, []byte(snap.Data), at.UnixNano())
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		return nil
	})
}

// LoadSnapshot implements Store.
func (s *SQLite) LoadSnapshot(ctx context.Context, stream string) (Snapshot, error) {
	snap := Snapshot{Stream: stream}
	err := s.open(func() error {
		var data []byte
		var at int64
		err := s.db.QueryRowContext(ctx, "SELECT version, data, at FROM snapshots WHERE stream = ?", stream).Scan(&snap.Version, &data, &at)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: stream %s", ErrNoSnapshot, stream)
		}
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		snap.Data, snap.At = data, time.Unix(0, at).UTC()
		return nil
	})
	return snap, err
}

// Compact implements Store.
func (s *SQLite) Compact(ctx context.Context, stream string) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var upTo int64
		err := tx.QueryRowContext(ctx, "SELECT version FROM snapshots WHERE stream = ?", stream).Scan(&upTo)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: stream %s", ErrNoSnapshot, stream)
		}
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM events WHERE stream = ? AND version <= ?", stream, upTo)
		if err != nil {
			return fmt.Errorf("store %s: %w", s.path, err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// Close implements Store.
func (s *SQLite) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}
