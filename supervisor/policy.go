package supervisor

import (
	"math"
	"time"
)

// DefaultMaxRestarts is the RestartPolicy.MaxRestarts used when unset.
const DefaultMaxRestarts = 5

// DefaultWindow is the RestartPolicy.Window used when unset.
const DefaultWindow = 60 * time.Second

// DefaultInitialBackoff is the RestartPolicy.InitialBackoff used when unset.
const DefaultInitialBackoff = 500 * time.Millisecond

// DefaultMaxBackoff is the RestartPolicy.MaxBackoff used when unset.
const DefaultMaxBackoff = 30 * time.Second

// DefaultMultiplier is the RestartPolicy.Multiplier used when unset.
const DefaultMultiplier = 2.0

// DefaultJitter is the RestartPolicy.Jitter used when unset.
const DefaultJitter = 0.2

// DefaultHealthyReset is the RestartPolicy.HealthyReset used when unset.
const DefaultHealthyReset = 60 * time.Second

// NoJitter is the RestartPolicy.Jitter that disables jitter (a zero Jitter
// means "unset" and takes DefaultJitter).
const NoJitter = -1.0

// RestartPolicy configures restart intensity and backoff. Zero fields take
// the defaults listed on WithDefaults.
type RestartPolicy struct {
	// MaxRestarts is the number of restarts allowed inside Window; the
	// failure that would exceed it gives up. Default 5.
	MaxRestarts int
	// Window is the length of the sliding window restarts are counted
	// in. Default 60s.
	Window time.Duration
	// InitialBackoff is the delay before the second consecutive restart.
	// Default 500ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the delay before jitter. Default 30s.
	MaxBackoff time.Duration
	// Multiplier grows the delay per consecutive failure. Default 2;
	// values below 1 are raised to 1.
	Multiplier float64
	// Jitter is the fraction by which a delay is randomly moved up or
	// down. Default 0.2; NoJitter (any negative value) disables it;
	// values above 1 are lowered to 1.
	Jitter float64
	// HealthyReset is how long a provider must stay healthy for its
	// consecutive-failure count to reset. Default 60s.
	HealthyReset time.Duration
}

// WithDefaults returns p with unset (zero or negative) fields replaced by
// their defaults and out-of-range values clamped. It is idempotent.
func (p RestartPolicy) WithDefaults() RestartPolicy {
	if p.MaxRestarts <= 0 {
		p.MaxRestarts = DefaultMaxRestarts
	}
	if p.Window <= 0 {
		p.Window = DefaultWindow
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = DefaultInitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	switch {
	case math.IsNaN(p.Multiplier) || p.Multiplier <= 0:
		p.Multiplier = DefaultMultiplier
	case p.Multiplier < 1:
		p.Multiplier = 1
	}
	switch {
	case math.IsNaN(p.Jitter) || p.Jitter == 0:
		p.Jitter = DefaultJitter
	case p.Jitter < 0:
		p.Jitter = NoJitter
	case p.Jitter > 1:
		p.Jitter = 1
	}
	if p.HealthyReset <= 0 {
		p.HealthyReset = DefaultHealthyReset
	}
	return p
}

// Backoff returns the delay for the given 1-based retry attempt:
// InitialBackoff * Multiplier^(attempt-1), capped at MaxBackoff, then moved
// by up to ±Jitter. rnd in [0, 1] picks the jitter offset linearly (0 is
// -Jitter, 0.5 is none, 1 is +Jitter); values outside are clamped and NaN
// counts as 0.5. The result lies in [0, MaxBackoff*(1+Jitter)]; attempt <= 0
// yields 0. Defaults are applied to p first.
func (p RestartPolicy) Backoff(attempt int, rnd float64) time.Duration {
	if attempt <= 0 {
		return 0
	}
	p = p.WithDefaults()
	limit := float64(p.MaxBackoff)
	d := float64(p.InitialBackoff) * math.Pow(p.Multiplier, float64(attempt-1))
	if !(d < limit) { // also catches +Inf and NaN
		d = limit
	}
	j := max(p.Jitter, 0)
	if j > 0 {
		switch {
		case math.IsNaN(rnd):
			rnd = 0.5
		case rnd < 0:
			rnd = 0
		case rnd > 1:
			rnd = 1
		}
		d *= 1 + j*(2*rnd-1)
	}
	d = min(max(d, 0), limit*(1+j))
	if d >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}
