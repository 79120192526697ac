package supervisor

import (
	"sort"
	"sync"
	"time"
)

// Clock supplies the current time to the supervision logic.
type Clock interface {
	Now() time.Time
}

// Timer is a function scheduled by a TimerClock.
type Timer interface {
	// Stop cancels the call; it reports false when the function already
	// ran or was stopped before.
	Stop() bool
}

// TimerClock is a Clock that also schedules functions, so timeouts and
// backoffs driven by it can be tested without waiting for real time.
type TimerClock interface {
	Clock
	// AfterFunc calls f, on a goroutine of its own or the caller of
	// FakeClock.Advance, once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// RealClock is a Clock backed by time.Now.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// FakeClock is a Clock that only moves when told to. Its timers fire
// inside Advance and Set, in the order they fall due, each with the clock
// reading its due time. It is safe for concurrent use; its zero value reads
// as the zero time.
type FakeClock struct {
	// advancing serialises Advance (a timer function must not call it).
	advancing sync.Mutex
	mu        sync.Mutex
	now       time.Time
	seq       uint64
	timers    []*fakeTimer
	changed   chan struct{} // closed and replaced when timers are added or removed
}

// fakeTimer is one pending function of a FakeClock.
type fakeTimer struct {
	c   *FakeClock
	due time.Time
	seq uint64 // orders timers due at the same time by creation
	f   func()
}

// NewFakeClock returns a FakeClock set to t.
func NewFakeClock(t time.Time) *FakeClock {
	return &FakeClock{now: t}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d, which may be negative, firing the timers
// that fall due on the way. Advances are serialised, so concurrent ones
// add up instead of overwriting each other.
func (c *FakeClock) Advance(d time.Duration) {
	c.advancing.Lock()
	defer c.advancing.Unlock()
	c.mu.Lock()
	to := c.now.Add(d)
	c.mu.Unlock()
	c.Set(to)
}

// Set moves the clock to t, firing the timers due by then. A timer's
// function runs without the clock's lock held, so it may use the clock.
func (c *FakeClock) Set(t time.Time) {
	for {
		c.mu.Lock()
		if len(c.timers) == 0 || c.timers[0].due.After(t) {
			c.now = t
			c.mu.Unlock()
			return
		}
		next := c.timers[0]
		c.timers = c.timers[1:]
		if next.due.After(c.now) {
			c.now = next.due
		}
		c.signal()
		c.mu.Unlock()
		next.f()
	}
}

// AfterFunc schedules f for when the clock has moved d past now; a d of
// zero or less is due at the next Advance or Set.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, due: c.now.Add(d), seq: c.seq, f: f}
	i := sort.Search(len(c.timers), func(i int) bool {
		x := c.timers[i]
		return x.due.After(t.due) || (x.due.Equal(t.due) && x.seq > t.seq)
	})
	c.timers = append(c.timers, nil)
	copy(c.timers[i+1:], c.timers[i:])
	c.timers[i] = t
	c.signal()
	return t
}

// Timers returns how many timers are pending.
func (c *FakeClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers waits until exactly n timers are pending, so a test can let
// the code under test arm its timers before it advances the clock. It
// reports false if that did not happen within timeout (real time).
func (c *FakeClock) WaitTimers(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if len(c.timers) == n {
			c.mu.Unlock()
			return true
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// signal wakes WaitTimers; c.mu is held.
func (c *FakeClock) signal() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Stop removes the timer if it is still pending.
func (t *fakeTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			c.signal()
			return true
		}
	}
	return false
}

var (
	_ TimerClock = RealClock{}
	_ TimerClock = (*FakeClock)(nil)
)
