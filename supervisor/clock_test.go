package supervisor

import (
	"sync"
	"testing"
	"time"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeClock(t *testing.T) {
	tests := []struct {
		name string
		do   func(c *FakeClock)
		want time.Time
	}{
		{"initial", func(*FakeClock) {}, epoch},
		{"advance", func(c *FakeClock) { c.Advance(90 * time.Second) }, epoch.Add(90 * time.Second)},
		{"advance twice", func(c *FakeClock) { c.Advance(time.Second); c.Advance(2 * time.Second) }, epoch.Add(3 * time.Second)},
		{"advance backwards", func(c *FakeClock) { c.Advance(-time.Minute) }, epoch.Add(-time.Minute)},
		{"set", func(c *FakeClock) { c.Set(epoch.Add(time.Hour)) }, epoch.Add(time.Hour)},
		{"set then advance", func(c *FakeClock) { c.Set(epoch.Add(time.Hour)); c.Advance(time.Second) }, epoch.Add(time.Hour + time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewFakeClock(epoch)
			tt.do(c)
			if got := c.Now(); !got.Equal(tt.want) {
				t.Fatalf("Now() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFakeClockZeroValue(t *testing.T) {
	var c FakeClock
	if got := c.Now(); !got.IsZero() {
		t.Fatalf("zero FakeClock Now() = %v, want zero time", got)
	}
	c.Advance(time.Second)
	if got, want := c.Now(), (time.Time{}).Add(time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}

func TestFakeClockConcurrent(t *testing.T) {
	const workers, steps = 8, 100
	c := NewFakeClock(epoch)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range steps {
				c.Advance(time.Millisecond)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), epoch.Add(workers*steps*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}

func TestRealClock(t *testing.T) {
	before := time.Now()
	got := RealClock{}.Now()
	if got.Before(before) {
		t.Fatalf("RealClock.Now() = %v, before %v", got, before)
	}
}
