package transports

import (
	"strings"
	"testing"
	"time"
)

// TestSSERetryField: a retry field of digits sets the stream's
// reconnection time (the last one wins), anything else is ignored, and a
// retry field alone makes no event.
func TestSSERetryField(t *testing.T) {
	for _, c := range []struct {
		stream string
		want   time.Duration
		events int
	}{
		{"id: 1\nretry: 500\ndata: \n\n", 500 * time.Millisecond, 1},
		{"retry: 500\n\nretry: 2000\n\ndata: x\n\n", 2 * time.Second, 1},
		{"retry: 5x\n\nretry:\n\nretry: -1\n\ndata: x\n\n", 0, 1},
		{"retry: 500\nretry: 1e3\n\n", 500 * time.Millisecond, 0},
		{"retry: 9999999999\n\n", 0, 0},
	} {
		sr := newSSEReader(strings.NewReader(c.stream), 1<<10)
		n := 0
		for {
			if _, err := sr.next(); err != nil {
				break
			}
			n++
		}
		if sr.retry != c.want || n != c.events {
			t.Errorf("%q: retry %v after %d events, want %v after %d", c.stream, sr.retry, n, c.want, c.events)
		}
	}
}
