package supervisor

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Action is what a supervisor should do after a provider failure.
type Action int

const (
	// Restart means the provider should be started again after the
	// decision's Delay.
	Restart Action = iota + 1
	// GiveUp means the provider failed too often and should be marked
	// dead.
	GiveUp
)

// String returns "restart" or "give_up".
func (a Action) String() string {
	switch a {
	case Restart:
		return "restart"
	case GiveUp:
		return "give_up"
	default:
		return fmt.Sprintf("action(%d)", int(a))
	}
}

// Decision is the outcome of Restarter.Failed.
type Decision struct {
	// Action is Restart or GiveUp.
	Action Action
	// Delay is how long to wait before restarting; zero for GiveUp.
	Delay time.Duration
	// Attempt counts consecutive failures, 1 for the first failure after
	// a healthy period.
	Attempt int
	// RestartsInWindow counts restarts inside the sliding window,
	// including the one just granted.
	RestartsInWindow int
}

// Restarter decides how to react to the failures of one provider. It is not
// safe for concurrent use; it belongs to the actor supervising the provider.
type Restarter struct {
	policy RestartPolicy
	clock  Clock
	rnd    func() float64

	consecutive  int
	restarts     []time.Time // grant times of restarts, pruned to the window
	healthy      bool
	healthySince time.Time
	gaveUp       bool
	giveUp       Decision
}

// NewRestarter returns a Restarter applying p (with defaults filled in),
// reading time from c (nil means RealClock) and drawing jitter from rnd,
// which returns values in [0, 1) (nil means math/rand/v2.Float64).
func NewRestarter(p RestartPolicy, c Clock, rnd func() float64) *Restarter {
	p = p.WithDefaults()
	if c == nil {
		c = RealClock{}
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	return &Restarter{
		policy:   p,
		clock:    c,
		rnd:      rnd,
		restarts: make([]time.Time, 0, p.MaxRestarts),
	}
}

// Policy returns the policy in effect, with defaults filled in.
func (r *Restarter) Policy() RestartPolicy { return r.policy }

// Failed records that the provider crashed or failed to start and decides
// what to do. The first failure after a healthy period restarts at once;
// each further consecutive failure waits Backoff(attempt-1). Once
// MaxRestarts restarts lie within the last Window (a restart granted exactly
// Window ago no longer counts), the failure gives up; Failed then keeps
// returning the same GiveUp decision until Reset.
func (r *Restarter) Failed() Decision {
	if r.gaveUp {
		return r.giveUp
	}
	now := r.clock.Now()
	if r.healthy && now.Sub(r.healthySince) >= r.policy.HealthyReset {
		r.consecutive = 0
	}
	r.healthy = false
	r.consecutive++
	r.prune(now)

	if len(r.restarts) >= r.policy.MaxRestarts {
		r.gaveUp = true
		r.giveUp = Decision{
			Action:           GiveUp,
			Attempt:          r.consecutive,
			RestartsInWindow: len(r.restarts),
		}
		return r.giveUp
	}

	r.restarts = append(r.restarts, now)
	var delay time.Duration
	if r.consecutive > 1 {
		delay = r.policy.Backoff(r.consecutive-1, r.rnd())
	}
	return Decision{
		Action:           Restart,
		Delay:            delay,
		Attempt:          r.consecutive,
		RestartsInWindow: len(r.restarts),
	}
}

// Healthy records that the provider became ready. If no failure follows for
// HealthyReset, the next failure counts as the first again. Repeated calls
// without a failure in between keep the time of the first call.
func (r *Restarter) Healthy() {
	if r.healthy {
		return
	}
	r.healthy = true
	r.healthySince = r.clock.Now()
}

// Reset forgets all failures, restarts and a give-up, as for a manual start
// of a dead provider.
func (r *Restarter) Reset() {
	r.consecutive = 0
	r.restarts = r.restarts[:0]
	r.healthy = false
	r.healthySince = time.Time{}
	r.gaveUp = false
	r.giveUp = Decision{}
}

// Err returns a GaveUpError after Failed has given up, nil otherwise.
func (r *Restarter) Err() error {
	if !r.gaveUp {
		return nil
	}
	return GaveUpError{Restarts: r.giveUp.RestartsInWindow, Window: r.policy.Window}
}

// prune drops restarts granted Window or more before now. It keeps the
// order and does not assume the clock never went backwards.
func (r *Restarter) prune(now time.Time) {
	kept := r.restarts[:0]
	for _, t := range r.restarts {
		if now.Sub(t) < r.policy.Window {
			kept = append(kept, t)
		}
	}
	clear(r.restarts[len(kept):])
	r.restarts = kept
}
