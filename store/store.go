// Package store keeps the gateway's control-plane state as append-only
// streams of versioned domain events ("provider:math", "group:pool",
// "policy:acme", ...), with a snapshot per stream and a global position
// across all of them.
//
// The interface is small so that more than one implementation can pass
// the same conformance suite (storetest): the embedded default is SQLite
// (OpenSQLite); a shared PostgreSQL store is meant to be the second.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/jsonx"
)

// Expected versions an Append may name besides an exact one.
const (
	// AnyVersion appends whatever the stream's version is.
	AnyVersion int64 = -1
	// NoStream appends only to a stream that has no events yet.
	NoStream int64 = 0
)

// Errors of every implementation.
var (
	// ErrConflict is an Append whose expected version is not the stream's.
	ErrConflict = errors.New("store: version conflict")
	// ErrNoSnapshot is a stream without a snapshot.
	ErrNoSnapshot = errors.New("store: no snapshot")
	// ErrClosed is a call on a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid is a call with an argument no store accepts (an empty
	// stream name or event type, data that is not JSON).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrCorrupt is a database that cannot be read as a store.
	ErrCorrupt = errors.New("store: corrupt database")
	// ErrNewerSchema is a database written by a newer version.
	ErrNewerSchema = errors.New("store: database schema is newer than this version knows")
)

// Event is one event of a stream as stored.
type Event struct {
	Stream string `json:"stream_id"`
	// Version is the event's place in its stream, from 1.
	Version int64 `json:"version"`
	// Position is its place among the events of every stream: it grows
	// with each append, so reading after a position never misses one.
	Position int64           `json:"position"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	At       time.Time       `json:"at"`
}

// NewEvent is an event to append.
type NewEvent struct {
	Type string
	// Data is the event's JSON body.
	Data json.RawMessage
}

// Snapshot is a stream's state as of one of its versions.
type Snapshot struct {
	Stream  string
	Version int64
	Data    json.RawMessage
	At      time.Time
}

// Store is an event store. Every method is safe for concurrent use; a
// write has reached stable storage when it returns.
type Store interface {
	// Append adds events to a stream when its version is expected (or
	// whatever it is, with AnyVersion) and returns the stream's new
	// version; else it fails with ErrConflict and appends nothing. The
	// events of one Append are stored all or none.
	Append(ctx context.Context, stream string, expected int64, events ...NewEvent) (int64, error)
	// Read returns up to limit (0: all) events of a stream with a version
	// above from, in order. Events removed by Compact are not returned.
	Read(ctx context.Context, stream string, from int64, limit int) ([]Event, error)
	// ReadAll returns up to limit (0: all) events of every stream with a
	// position above from, in order of position.
	ReadAll(ctx context.Context, from int64, limit int) ([]Event, error)
	// Version returns a stream's version: that of its last event, 0 when
	// it has none.
	Version(ctx context.Context, stream string) (int64, error)
	// Streams lists the streams with events whose name starts with
	// prefix, sorted.
	Streams(ctx context.Context, prefix string) ([]string, error)
	// SaveSnapshot stores a stream's snapshot, replacing the one it had.
	// Its version must not be above the stream's.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LoadSnapshot returns a stream's snapshot, or ErrNoSnapshot.
	LoadSnapshot(ctx context.Context, stream string) (Snapshot, error)
	// Compact deletes the events of a stream its snapshot covers and
	// returns how many; ErrNoSnapshot when it has none. The stream's
	// version does not change.
	Compact(ctx context.Context, stream string) (int, error)
	// Close releases the store; later calls fail with ErrClosed.
	Close() error
}

// checkAppend validates an Append's arguments.
func checkAppend(stream string, expected int64, events []NewEvent) error {
	if stream == "" {
		return fmt.Errorf("%w: empty stream name", ErrInvalid)
	}
	if expected < AnyVersion {
		return fmt.Errorf("%w: expected version below AnyVersion", ErrInvalid)
	}
	for _, e := range events {
		if e.Type == "" {
			return fmt.Errorf("%w: event without a type", ErrInvalid)
		}
		if !jsonValid(e.Data) {
			return fmt.Errorf("%w: event data is not JSON", ErrInvalid)
		}
	}
	return nil
}

// jsonValid reports whether b is one JSON value.
func jsonValid(b []byte) bool { return jsonx.Valid(b) }
