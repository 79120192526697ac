package supervisor

import (
	"strings"
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

func TestFakeClockTimersFireInDueOrder(t *testing.T) {
	c := NewFakeClock(epoch)
	var fired []string
	at := map[string]time.Time{}
	add := func(name string, d time.Duration) Timer {
		return c.AfterFunc(d, func() {
			fired = append(fired, name)
			at[name] = c.Now()
		})
	}
	add("b", 2*time.Second)
	add("a", time.Second)
	add("b2", 2*time.Second) // same due time as b: fires after it
	stopped := add("never", 1500*time.Millisecond)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop must report true once for a pending timer, then false")
	}
	if c.Timers() != 3 {
		t.Fatalf("pending timers = %d, want 3", c.Timers())
	}
	c.Advance(999 * time.Millisecond)
	if len(fired) != 0 {
		t.Fatalf("fired before due: %v", fired)
	}
	c.Advance(5 * time.Second)
	if got := strings.Join(fired, ","); got != "a,b,b2" {
		t.Fatalf("fired %s, want a,b,b2", got)
	}
	if !at["a"].Equal(epoch.Add(time.Second)) || !at["b2"].Equal(epoch.Add(2*time.Second)) {
		t.Fatalf("a timer must see its due time: %v", at)
	}
	if got := c.Now(); !got.Equal(epoch.Add(5999 * time.Millisecond)) {
		t.Fatalf("Now() = %v after the timers fired", got)
	}
	if c.Timers() != 0 {
		t.Fatalf("fired timers still pending: %d", c.Timers())
	}
}

func TestFakeClockTimerRearmsFromItsFunction(t *testing.T) {
	c := NewFakeClock(epoch)
	n := 0
	var tick func()
	tick = func() {
		n++
		c.AfterFunc(time.Second, tick) // a periodic timer re-arms itself
	}
	c.AfterFunc(time.Second, tick)
	c.Advance(3500 * time.Millisecond)
	if n != 3 || c.Timers() != 1 {
		t.Fatalf("ticks = %d, pending = %d; want 3 and 1", n, c.Timers())
	}
}

func TestFakeClockWaitTimers(t *testing.T) {
	c := NewFakeClock(epoch)
	if c.WaitTimers(1, 10*time.Millisecond) {
		t.Fatal("WaitTimers(1) reported a timer nobody armed")
	}
	armed := make(chan struct{})
	go func() {
		c.AfterFunc(time.Second, func() {})
		close(armed)
	}()
	if !c.WaitTimers(1, 5*time.Second) {
		t.Fatal("WaitTimers(1) missed the timer armed on another goroutine")
	}
	<-armed
	c.Advance(time.Second)
	if !c.WaitTimers(0, 5*time.Second) {
		t.Fatal("a fired timer is still pending")
	}
}

func TestRealClockAfterFunc(t *testing.T) {
	done := make(chan struct{})
	RealClock{}.AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RealClock.AfterFunc never fired")
	}
}
