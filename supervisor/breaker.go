package supervisor

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of a Breaker.
type BreakerState int32

const (
	// BreakerClosed lets every call through and counts consecutive
	// failures. It is the zero value and the state of a new Breaker.
	BreakerClosed BreakerState = iota
	// BreakerOpen rejects every call until the reset timeout has passed.
	BreakerOpen
	// BreakerHalfOpen lets a limited number of trial calls through; the
	// first verdict decides whether the breaker closes or opens again.
	BreakerHalfOpen
)

// String returns "closed", "open" or "half_open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	default:
		return fmt.Sprintf("breaker_state(%d)", int32(s))
	}
}

// DefaultBreakerFailureThreshold is the BreakerConfig.FailureThreshold used
// when unset.
const DefaultBreakerFailureThreshold = 5

// DefaultBreakerResetTimeout is the BreakerConfig.ResetTimeout used when
// unset.
const DefaultBreakerResetTimeout = 30 * time.Second

// DefaultBreakerHalfOpenMax is the BreakerConfig.HalfOpenMax used when unset.
const DefaultBreakerHalfOpenMax = 1

// BreakerConfig configures a Breaker. Zero fields take the defaults listed
// on WithDefaults.
type BreakerConfig struct {
	// FailureThreshold is the number of consecutive failures that opens
	// a closed breaker. Default 5.
	FailureThreshold int
	// ResetTimeout is how long an open breaker rejects calls before it
	// turns half-open. Default 30s.
	ResetTimeout time.Duration
	// HalfOpenMax is the number of trial calls a half-open breaker lets
	// through at a time. Default 1.
	HalfOpenMax int
	// OnChange, when not nil, is called with the old and new state on
	// every transition. Calls are made without the breaker's lock held,
	// one at a time and in the order the transitions happened, so OnChange
	// may call back into the breaker. A transition made while another
	// goroutine is delivering earlier ones is delivered by that goroutine,
	// possibly after the method that caused it has returned; with a
	// single caller, OnChange runs before that method returns.
	OnChange func(from, to BreakerState)
}

// WithDefaults returns c with unset (zero or negative) fields replaced by
// their defaults. It is idempotent.
func (c BreakerConfig) WithDefaults() BreakerConfig {
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = DefaultBreakerFailureThreshold
	}
	if c.ResetTimeout <= 0 {
		c.ResetTimeout = DefaultBreakerResetTimeout
	}
	if c.HalfOpenMax <= 0 {
		c.HalfOpenMax = DefaultBreakerHalfOpenMax
	}
	return c
}

// transition is one state change waiting to be passed to OnChange.
type transition struct {
	from, to BreakerState
}

// Breaker is a circuit breaker guarding calls to one group member. It is
// safe for concurrent use.
//
// A closed breaker allows every call and opens after FailureThreshold
// consecutive failures. An open breaker rejects calls until ResetTimeout has
// passed since it opened; it then turns half-open, which every method
// notices lazily on its next call. A half-open breaker allows up to
// HalfOpenMax trial calls at a time: a success closes it, a failure opens it
// again for a fresh ResetTimeout.
//
// Every call that Allow let through must end with exactly one of Success,
// Failure or Cancel; a half-open breaker whose trial calls never end stays
// half-open and rejects everything else. Verdicts that arrive while the
// breaker is open come from calls allowed before it opened and are ignored.
type Breaker struct {
	cfg   BreakerConfig
	clock Clock

	// state and failures are written only with mu held and read without
	// it on the fast paths of the closed state.
	state    atomic.Int32
	failures atomic.Int64

	mu         sync.Mutex
	openedAt   time.Time
	trials     int          // trial calls in flight while half-open
	pending    []transition // transitions not yet passed to OnChange
	spare      []transition // buffer for the next batch of pending
	delivering bool         // a goroutine is running the OnChange loop
}

// NewBreaker returns a closed Breaker applying cfg (with defaults filled in)
// and reading time from clock (nil means RealClock).
func NewBreaker(cfg BreakerConfig, clock Clock) *Breaker {
	if clock == nil {
		clock = RealClock{}
	}
	return &Breaker{cfg: cfg.WithDefaults(), clock: clock}
}

// Allow reports whether a call may go ahead. A closed breaker always says
// yes; an open one says no until ResetTimeout has passed since it opened; a
// half-open one says yes while fewer than HalfOpenMax trial calls are in
// flight.
func (b *Breaker) Allow() (ok bool) {
	if b.load() == BreakerClosed {
		return true
	}
	b.mu.Lock()
	switch b.advance() {
	case BreakerClosed:
		ok = true
	case BreakerHalfOpen:
		if b.trials < b.cfg.HalfOpenMax {
			b.trials++
			ok = true
		}
	}
	b.unlockAndNotify()
	return ok
}

// Success records that an allowed call succeeded. It clears the failure
// count of a closed breaker and closes a half-open one.
func (b *Breaker) Success() {
	if b.load() == BreakerClosed && b.failures.Load() == 0 {
		return
	}
	b.mu.Lock()
	switch b.advance() {
	case BreakerClosed:
		b.failures.Store(0)
	case BreakerHalfOpen:
		b.set(BreakerClosed)
	}
	b.unlockAndNotify()
}

// Failure records that an allowed call failed. A closed breaker opens when
// the consecutive failures reach FailureThreshold; a half-open one opens at
// once.
func (b *Breaker) Failure() {
	b.mu.Lock()
	switch b.advance() {
	case BreakerClosed:
		if f := b.failures.Load() + 1; f < int64(b.cfg.FailureThreshold) {
			b.failures.Store(f)
		} else {
			b.open()
		}
	case BreakerHalfOpen:
		b.open()
	}
	b.unlockAndNotify()
}

// Cancel ends an allowed call without a verdict, such as one abandoned by
// its client, releasing its trial slot if the breaker is half-open. Since a
// breaker cannot tell a trial call from one allowed before it opened, a
// Cancel for the latter that arrives while half-open also frees a slot, so
// one extra trial call may be let through.
func (b *Breaker) Cancel() {
	if b.load() == BreakerClosed {
		return
	}
	b.mu.Lock()
	if b.advance() == BreakerHalfOpen && b.trials > 0 {
		b.trials--
	}
	b.unlockAndNotify()
}

// Reset forces the breaker closed and clears its failure and trial counts,
// as when a group is rebalanced by hand. An open breaker whose ResetTimeout
// passed unobserved reports open -> closed to OnChange.
func (b *Breaker) Reset() {
	b.mu.Lock()
	b.failures.Store(0)
	if b.load() != BreakerClosed {
		b.set(BreakerClosed)
	}
	b.unlockAndNotify()
}

// State returns the current state. An open breaker whose ResetTimeout has
// passed reports, and from then on is, half-open.
func (b *Breaker) State() BreakerState {
	s := b.load()
	if s == BreakerClosed {
		return s
	}
	b.mu.Lock()
	s = b.advance()
	b.unlockAndNotify()
	return s
}

// load returns the state without taking the lock.
func (b *Breaker) load() BreakerState { return BreakerState(b.state.Load()) }

// advance turns an open breaker half-open once ResetTimeout has passed and
// returns the resulting state. The caller holds mu.
func (b *Breaker) advance() BreakerState {
	s := b.load()
	if s == BreakerOpen && b.clock.Now().Sub(b.openedAt) >= b.cfg.ResetTimeout {
		b.set(BreakerHalfOpen)
		s = BreakerHalfOpen
	}
	return s
}

// open opens the breaker for a fresh ResetTimeout. The caller holds mu.
func (b *Breaker) open() {
	b.openedAt = b.clock.Now()
	b.set(BreakerOpen)
}

// set moves to state to, clearing the failure and trial counts, and queues
// the transition for OnChange. The caller holds mu.
func (b *Breaker) set(to BreakerState) {
	from := b.load()
	b.state.Store(int32(to))
	b.failures.Store(0)
	b.trials = 0
	if b.cfg.OnChange != nil {
		b.pending = append(b.pending, transition{from: from, to: to})
	}
}

// unlockAndNotify releases mu and then, unless another goroutine is already
// doing so, passes queued transitions to OnChange in order until none is
// left. The caller holds mu.
func (b *Breaker) unlockAndNotify() {
	if b.delivering || len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	b.mu.Unlock()
	b.deliver()
}

// deliver runs the OnChange loop for the goroutine that set delivering. If
// OnChange panics, the loop is handed back so later transitions are still
// delivered.
func (b *Breaker) deliver() {
	done := false
	defer func() {
		if !done {
			b.mu.Lock()
			b.delivering = false
			b.mu.Unlock()
		}
	}()
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.delivering = false
			b.mu.Unlock()
			done = true
			return
		}
		batch := b.pending
		b.pending, b.spare = b.spare[:0], nil
		b.mu.Unlock()
		for _, t := range batch {
			b.cfg.OnChange(t.from, t.to)
		}
		b.mu.Lock()
		b.spare = batch[:0]
		b.mu.Unlock()
	}
}
