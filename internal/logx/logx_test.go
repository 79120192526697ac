package logx

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lines returns the log's lines.
func lines(b *bytes.Buffer) []string {
	s := strings.TrimSpace(b.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestRateLimit(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	text := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	log := slog.New(newHandler(text, 3, time.Minute, clk.now))

	for i := range 1000 {
		log.Error("duplicate initialize request", "i", i)
	}
	log.Info("another message")
	log.Debug("disabled, never counted")
	got := lines(&buf)
	if len(got) != 4 {
		t.Fatalf("%d lines, want 3 of the repeated message and 1 other:\n%s", len(got), buf.String())
	}
	for _, l := range got[:3] {
		if !strings.Contains(l, "duplicate initialize request") {
			t.Fatalf("line %q", l)
		}
	}

	// Within the interval nothing more of it passes; after it, the next
	// record is preceded by the count of those dropped.
	buf.Reset()
	log.Error("duplicate initialize request")
	clk.advance(time.Minute)
	log.Info("later")
	got = lines(&buf)
	if len(got) != 2 || !strings.Contains(got[0], `msg="suppressed 998 similar messages"`) ||
		!strings.Contains(got[0], "level=ERROR") || !strings.Contains(got[0], `message="duplicate initialize request"`) ||
		!strings.Contains(got[1], "later") {
		t.Fatalf("after the interval:\n%s", buf.String())
	}

	// A new interval starts afresh, and the summary is owed only once.
	buf.Reset()
	for range 3 {
		log.Error("duplicate initialize request")
	}
	clk.advance(time.Minute)
	log.Info("again")
	if got := lines(&buf); len(got) != 4 || strings.Contains(buf.String(), "suppressed") {
		t.Fatalf("a fresh interval:\n%s", buf.String())
	}
}

func TestRateLimitKeyAndDerived(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	log := slog.New(newHandler(slog.NewTextHandler(&buf, nil), 2, time.Minute, clk.now))

	// Messages formatted per request count under their Key, which is not
	// written; derived loggers share the counts.
	http := log.With("component", "http")
	for i := range 50 {
		http.Warn("error when serving connection "+string(rune('a'+i%26)), Key("error when serving connection %q"))
		log.WithGroup("g").Warn("same in a group", "i", i)
		log.With("a", i).Warn("same in a group")
	}
	got := lines(&buf)
	if len(got) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(got), buf.String())
	}
	if strings.Contains(buf.String(), KeyAttr) || !strings.Contains(got[0], "component=http") {
		t.Fatalf("the key attribute is written, or the derived attributes lost:\n%s", buf.String())
	}
	// Levels are counted apart.
	buf.Reset()
	log.Info("same in a group")
	if len(lines(&buf)) != 1 {
		t.Fatalf("another level is limited with the first:\n%s", buf.String())
	}
}

func TestRateLimitBoundedKeys(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	h := newHandler(slog.NewTextHandler(&buf, nil), 1, time.Minute, clk.now)
	log := slog.New(h)
	for i := range 3 * maxKeys {
		log.Info("message " + time.Duration(i).String())
	}
	if n := len(h.l.keys); n > maxKeys+1 {
		t.Fatalf("%d windows tracked, want at most %d", n, maxKeys+1)
	}
	if n := len(lines(&buf)); n != maxKeys+1 {
		t.Fatalf("%d lines, want %d (one per key, then one of the overflow)", n, maxKeys+1)
	}
	// Once the windows are over, new keys get their own again.
	clk.advance(time.Minute)
	buf.Reset()
	log.Info("fresh")
	if got := lines(&buf); len(got) != 2 || !strings.Contains(got[0], "suppressed") || !strings.Contains(got[1], "fresh") {
		t.Fatalf("after the interval:\n%s", buf.String())
	}
	if n := len(h.l.keys); n > 2 {
		t.Fatalf("%d windows left, want the old ones expired", n)
	}
}
