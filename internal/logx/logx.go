// Package logx holds slog handlers shared by the gateway's components.
//
// RateLimit bounds how often one kind of message reaches the log, so that
// an error repeated per request (a 1,000-element JSON-RPC batch, a flood
// of bad connections) writes a few lines and a count instead of one line
// each.
package logx

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// KeyAttr is the attribute key that names the key a record is limited
// under in place of its message (see Key). The handler drops it.
const KeyAttr = "logx.key"

// Key returns an attribute that makes RateLimit count a record under k
// instead of its message: for messages formatted with per-request values
// whose format is the same.
func Key(k string) slog.Attr { return slog.String(KeyAttr, k) }

// maxKeys bounds the windows a limiter tracks. Once that many distinct
// keys are live, records with a new key share one overflow window.
const maxKeys = 1024

// overflowKey is the window of records whose key found the table full.
const overflowKey = "\x00overflow"

// Defaults of RateLimit.
const (
	// DefaultBurst is how many records of one key pass per interval.
	DefaultBurst = 10
	// DefaultInterval is the window the burst is counted over.
	DefaultInterval = 10 * time.Second
)

// RateLimit returns a handler that passes at most burst records of each
// key (the level and message, or the Key attribute) to next per interval,
// and drops the rest. When a key's interval is over, the next record
// logged through the handler is preceded by one line at the key's level,
// "suppressed K similar messages", naming the message dropped. burst and
// interval default to DefaultBurst and DefaultInterval when not positive.
// Handlers derived with WithAttrs and WithGroup share the counts.
func RateLimit(next slog.Handler, burst int, interval time.Duration) slog.Handler {
	return newHandler(next, burst, interval, time.Now)
}

// newHandler is RateLimit on a given clock.
func newHandler(next slog.Handler, burst int, interval time.Duration, now func() time.Time) *handler {
	if burst <= 0 {
		burst = DefaultBurst
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &handler{next: next, l: &limiter{burst: burst, interval: interval, now: now, keys: map[string]*window{}}}
}

// handler is the slog.Handler RateLimit returns.
type handler struct {
	next slog.Handler
	l    *limiter
}

// limiter holds the per-key windows of a handler and of those derived from
// it.
type limiter struct {
	burst    int
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*window
	// due is the earliest end of a window holding suppressed records (zero
	// when none does): before it no summary can be owed.
	due time.Time
}

// window counts one key's records since start.
type window struct {
	start      time.Time
	passed     int
	suppressed int
	level      slog.Level
	msg        string
}

// summary is a line owed for a window that dropped records.
type summary struct {
	level slog.Level
	msg   string
	n     int
	at    time.Time
}

// Enabled reports whether next handles level; disabled records are not
// counted.
func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes r on unless its key has used up its burst in the current
// interval, writing first the summaries owed for finished intervals.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	key := ""
	if r.NumAttrs() > 0 {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == KeyAttr {
				key = a.Value.String()
				return false
			}
			return true
		})
		if key != "" {
			r = withoutKey(r)
		}
	}
	if key == "" {
		key = r.Message
	}
	key = r.Level.String() + " " + key
	owed, pass := h.l.admit(key, r.Level, r.Message)
	var first error
	for _, s := range owed {
		sr := slog.NewRecord(s.at, s.level, fmt.Sprintf("suppressed %d similar messages", s.n), 0)
		sr.AddAttrs(slog.String("message", s.msg))
		if err := h.next.Handle(ctx, sr); err != nil && first == nil {
			first = err
		}
	}
	if pass {
		if err := h.next.Handle(ctx, r); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// WithAttrs returns a handler adding attrs that shares h's counts.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(attrs), l: h.l}
}

// WithGroup returns a handler opening group that shares h's counts.
func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), l: h.l}
}

// withoutKey returns r without its KeyAttr attribute.
func withoutKey(r slog.Record) slog.Record {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != KeyAttr {
			out.AddAttrs(a)
		}
		return true
	})
	return out
}

// admit counts a record of key and reports whether it passes, with the
// summaries owed for windows that ended with records dropped.
func (l *limiter) admit(key string, level slog.Level, msg string) (owed []summary, pass bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.due.IsZero() && !now.Before(l.due) {
		owed = l.settle(now)
	}
	w := l.keys[key]
	if w == nil || !now.Before(w.start.Add(l.interval)) {
		if w == nil && len(l.keys) >= maxKeys {
			l.expire(now)
			if len(l.keys) >= maxKeys {
				key, msg = overflowKey, "messages beyond the limiter's key table"
				if w = l.keys[key]; w != nil && now.Before(w.start.Add(l.interval)) {
					return owed, l.count(w)
				}
			}
		}
		l.keys[key] = &window{start: now, passed: 1, level: level, msg: msg}
		return owed, true
	}
	return owed, l.count(w)
}

// count counts one more record in the live window w.
func (l *limiter) count(w *window) bool {
	if w.passed < l.burst {
		w.passed++
		return true
	}
	w.suppressed++
	if end := w.start.Add(l.interval); w.suppressed == 1 && (l.due.IsZero() || end.Before(l.due)) {
		l.due = end
	}
	return false
}

// settle removes the finished windows that dropped records, returning
// their summaries, and recomputes due.
func (l *limiter) settle(now time.Time) []summary {
	var owed []summary
	l.due = time.Time{}
	for k, w := range l.keys {
		if w.suppressed == 0 {
			continue
		}
		end := w.start.Add(l.interval)
		if !now.Before(end) {
			owed = append(owed, summary{level: w.level, msg: w.msg, n: w.suppressed, at: now})
			delete(l.keys, k)
		} else if l.due.IsZero() || end.Before(l.due) {
			l.due = end
		}
	}
	return owed
}

// expire removes the finished windows that dropped nothing (settle has
// taken those that did).
func (l *limiter) expire(now time.Time) {
	for k, w := range l.keys {
		if w.suppressed == 0 && !now.Before(w.start.Add(l.interval)) {
			delete(l.keys, k)
		}
	}
}
