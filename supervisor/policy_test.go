package supervisor

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	defaults := RestartPolicy{
		MaxRestarts:    DefaultMaxRestarts,
		Window:         DefaultWindow,
		InitialBackoff: DefaultInitialBackoff,
		MaxBackoff:     DefaultMaxBackoff,
		Multiplier:     DefaultMultiplier,
		Jitter:         DefaultJitter,
		HealthyReset:   DefaultHealthyReset,
	}
	custom := RestartPolicy{
		MaxRestarts:    3,
		Window:         10 * time.Second,
		InitialBackoff: time.Second,
		MaxBackoff:     time.Minute,
		Multiplier:     1.5,
		Jitter:         0.1,
		HealthyReset:   5 * time.Second,
	}
	with := func(f func(*RestartPolicy)) RestartPolicy {
		p := defaults
		f(&p)
		return p
	}
	tests := []struct {
		name string
		in   RestartPolicy
		want RestartPolicy
	}{
		{"zero", RestartPolicy{}, defaults},
		{"explicit kept", custom, custom},
		{"negatives", RestartPolicy{MaxRestarts: -1, Window: -1, InitialBackoff: -1, MaxBackoff: -1, HealthyReset: -1}, defaults},
		{"no jitter", RestartPolicy{Jitter: NoJitter}, with(func(p *RestartPolicy) { p.Jitter = NoJitter })},
		{"negative jitter", RestartPolicy{Jitter: -0.3}, with(func(p *RestartPolicy) { p.Jitter = NoJitter })},
		{"jitter above 1", RestartPolicy{Jitter: 3}, with(func(p *RestartPolicy) { p.Jitter = 1 })},
		{"NaN jitter", RestartPolicy{Jitter: math.NaN()}, defaults},
		{"multiplier below 1", RestartPolicy{Multiplier: 0.5}, with(func(p *RestartPolicy) { p.Multiplier = 1 })},
		{"negative multiplier", RestartPolicy{Multiplier: -2}, defaults},
		{"NaN multiplier", RestartPolicy{Multiplier: math.NaN()}, defaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.WithDefaults()
			if got != tt.want {
				t.Fatalf("WithDefaults() = %+v, want %+v", got, tt.want)
			}
			if again := got.WithDefaults(); again != got {
				t.Fatalf("WithDefaults not idempotent: %+v then %+v", got, again)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	def := RestartPolicy{}
	tests := []struct {
		name    string
		policy  RestartPolicy
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{"attempt 0", def, 0, 0.5, 0},
		{"negative attempt", def, -3, 0.5, 0},
		{"attempt 1 centre", def, 1, 0.5, 500 * time.Millisecond},
		{"attempt 1 low", def, 1, 0, 400 * time.Millisecond},
		{"attempt 1 high", def, 1, 1, 600 * time.Millisecond},
		{"attempt 2 centre", def, 2, 0.5, time.Second},
		{"attempt 3 low", def, 3, 0, 1600 * time.Millisecond},
		{"capped centre", def, 10, 0.5, 30 * time.Second},
		{"capped high", def, 10, 1, 36 * time.Second},
		{"capped low", def, 10, 0, 24 * time.Second},
		{"huge attempt", def, math.MaxInt, 0.5, 30 * time.Second},
		{"rnd NaN", def, 1, math.NaN(), 500 * time.Millisecond},
		{"rnd below 0", def, 1, -5, 400 * time.Millisecond},
		{"rnd above 1", def, 1, 7, 600 * time.Millisecond},
		{"full jitter low", RestartPolicy{Jitter: 1}, 1, 0, 0},
		{"full jitter high", RestartPolicy{Jitter: 1}, 1, 1, time.Second},
		{"initial above max", RestartPolicy{InitialBackoff: time.Minute, MaxBackoff: time.Second, Jitter: NoJitter}, 1, 0.5, time.Second},
		{"multiplier 1", RestartPolicy{Multiplier: 1, Jitter: NoJitter}, 7, 0, 500 * time.Millisecond},
		{"huge max backoff", RestartPolicy{InitialBackoff: math.MaxInt64, MaxBackoff: math.MaxInt64, Jitter: 1}, 1, 1, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Backoff(tt.attempt, tt.rnd); got != tt.want {
				t.Fatalf("Backoff(%d, %v) = %v, want %v", tt.attempt, tt.rnd, got, tt.want)
			}
		})
	}
}

func TestBackoffZeroJitterExact(t *testing.T) {
	p := RestartPolicy{
		InitialBackoff: 250 * time.Millisecond,
		MaxBackoff:     10 * time.Second,
		Multiplier:     3,
		Jitter:         NoJitter,
	}
	want := []time.Duration{
		0,
		250 * time.Millisecond,
		750 * time.Millisecond,
		2250 * time.Millisecond,
		6750 * time.Millisecond,
		10 * time.Second,
		10 * time.Second,
	}
	for attempt, w := range want {
		for _, rnd := range []float64{0, 0.25, 0.5, 0.999, 1} {
			if got := p.Backoff(attempt, rnd); got != w {
				t.Errorf("Backoff(%d, %v) = %v, want exactly %v", attempt, rnd, got, w)
			}
		}
	}
}

// TestBackoffBounds checks, over many random policies, attempts and random
// draws, that every delay lies in [0, MaxBackoff*(1+Jitter)].
func TestBackoffBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		p := RestartPolicy{
			InitialBackoff: time.Duration(r.Int64N(int64(time.Minute))),
			MaxBackoff:     time.Duration(r.Int64N(int64(10 * time.Minute))),
			Multiplier:     r.Float64() * 10,
			Jitter:         r.Float64()*2 - 0.5,
		}
		attempt := r.IntN(200) - 5
		rnd := r.Float64()*2 - 0.5
		got := p.Backoff(attempt, rnd)
		eff := p.WithDefaults()
		upper := float64(eff.MaxBackoff) * (1 + max(eff.Jitter, 0))
		if got < 0 || float64(got) > upper {
			t.Fatalf("case %d: %+v Backoff(%d, %v) = %v, outside [0, %v]", i, p, attempt, rnd, got, time.Duration(upper))
		}
	}
}
