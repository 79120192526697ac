// Package audit records who called what through the gateway: tenant,
// principal, session, server, tool, outcome and latency, with sha256 hashes
// of the input and output instead of the values themselves. Records go to a
// Sink; Memory is a bounded in-process sink until a durable store exists.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// Kinds of records.
const (
	// KindToolCall is one tool call (allowed, denied or failed).
	KindToolCall = "tool_call"
	// KindSessionTerminate records a session ended by request.
	KindSessionTerminate = "session_terminate"
	// KindApproval records an approval decision (approved or denied).
	KindApproval = "hitl_decision"
	// KindDelegation records one A2A hop.
	KindDelegation = "a2a_send"
)

// Entry is one audit record. Input and output are never stored, only their
// sha256 hashes (hex, "" when there was none).
type Entry struct {
	Seq          uint64    `json:"seq"`
	Time         time.Time `json:"timestamp"`
	Kind         string    `json:"kind"`
	Tenant       string    `json:"tenant_id"`
	Principal    string    `json:"principal_id,omitempty"`
	Session      string    `json:"session_id,omitempty"`
	Server       string    `json:"server_id,omitempty"`
	Tool         string    `json:"tool_name,omitempty"`
	Outcome      string    `json:"outcome"`
	LatencyMs    float64   `json:"latency_ms"`
	InputSHA256  string    `json:"input_sha256,omitempty"`
	OutputSHA256 string    `json:"output_sha256,omitempty"`
	Detail       string    `json:"detail,omitempty"`
	// Surface names where a tool call came from (api, v1, mcp, stdio,
	// approval, elicitation).
	Surface string `json:"surface,omitempty"`
}

// Hash returns the hex sha256 of b, or "" for no bytes.
func Hash(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Sink receives audit records. Record must not block on I/O for long: the
// call path writes to it.
type Sink interface {
	Record(e Entry)
}

// Memory keeps the newest records in a fixed-size ring. Safe for
// concurrent use.
type Memory struct {
	mu   sync.Mutex
	ring []Entry
	next int
	full bool
	seq  uint64
}

// DefaultMemorySize is the ring size NewMemory uses for size <= 0.
const DefaultMemorySize = 10000

// NewMemory returns a ring holding the newest size records.
func NewMemory(size int) *Memory {
	if size <= 0 {
		size = DefaultMemorySize
	}
	return &Memory{ring: make([]Entry, size)}
}

// Record implements Sink; it stamps the sequence number and, if unset,
// the time.
func (m *Memory) Record(e Entry) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	m.mu.Lock()
	m.seq++
	e.Seq = m.seq
	m.ring[m.next] = e
	m.next++
	if m.next == len(m.ring) {
		m.next = 0
		m.full = true
	}
	m.mu.Unlock()
}

// Query returns up to limit of the newest records of one tenant, oldest
// first, optionally only those of a kind ("" for all). limit <= 0 means all
// that are kept.
func (m *Memory) Query(tenant, kind string, limit int) []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.next
	if m.full {
		n = len(m.ring)
	}
	var out []Entry
	// Walk newest to oldest, then reverse.
	for i := 0; i < n; i++ {
		idx := (m.next - 1 - i + len(m.ring)) % len(m.ring)
		e := m.ring[idx]
		if e.Tenant != tenant || (kind != "" && e.Kind != kind) {
			continue
		}
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Discard is a Sink that keeps nothing.
type Discard struct{}

// Record implements Sink.
func (Discard) Record(Entry) {}
