package supervisor

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// constRnd returns a jitter source that always yields v.
func constRnd(v float64) func() float64 {
	return func() float64 { return v }
}

type op int

const (
	opFail op = iota
	opHealthy
	opReset
)

// step advances the clock by advance, then applies op; for opFail the
// returned decision must equal want.
type step struct {
	advance time.Duration
	op      op
	want    Decision
}

func fail(advance time.Duration, want Decision) step {
	return step{advance: advance, op: opFail, want: want}
}

func healthy(advance time.Duration) step { return step{advance: advance, op: opHealthy} }

func reset() step { return step{op: opReset} }

func restart(delay time.Duration, attempt, inWindow int) Decision {
	return Decision{Action: Restart, Delay: delay, Attempt: attempt, RestartsInWindow: inWindow}
}

func giveUp(attempt, inWindow int) Decision {
	return Decision{Action: GiveUp, Attempt: attempt, RestartsInWindow: inWindow}
}

func TestRestarterFailed(t *testing.T) {
	const ms = time.Millisecond
	exact := RestartPolicy{Jitter: NoJitter}
	tests := []struct {
		name   string
		policy RestartPolicy
		steps  []step
	}{
		{"first failure restarts at once", exact, []step{
			fail(0, restart(0, 1, 1)),
		}},
		{"second failure waits InitialBackoff", exact, []step{
			fail(0, restart(0, 1, 1)),
			fail(time.Second, restart(500*ms, 2, 2)),
		}},
		{"growth and cap", RestartPolicy{
			MaxRestarts: 100, Window: time.Minute, InitialBackoff: time.Second,
			MaxBackoff: 10 * time.Second, Multiplier: 2, Jitter: NoJitter,
		}, []step{
			fail(0, restart(0, 1, 1)),
			fail(0, restart(1*time.Second, 2, 2)),
			fail(0, restart(2*time.Second, 3, 3)),
			fail(0, restart(4*time.Second, 4, 4)),
			fail(0, restart(8*time.Second, 5, 5)),
			fail(0, restart(10*time.Second, 6, 6)),
			fail(0, restart(10*time.Second, 7, 7)),
		}},
		{"default policy gives up after 5 restarts", exact, []step{
			fail(0, restart(0, 1, 1)),
			fail(0, restart(500*ms, 2, 2)),
			fail(0, restart(1000*ms, 3, 3)),
			fail(0, restart(2000*ms, 4, 4)),
			fail(0, restart(4000*ms, 5, 5)),
			fail(0, giveUp(6, 5)),
		}},
		{"give up is sticky", RestartPolicy{MaxRestarts: 2, Jitter: NoJitter}, []step{
			fail(0, restart(0, 1, 1)),
			fail(0, restart(500*ms, 2, 2)),
			fail(0, giveUp(3, 2)),
			fail(time.Hour, giveUp(3, 2)),
			healthy(0),
			fail(2*time.Hour, giveUp(3, 2)),
		}},
		{"restarts older than the window stop counting", RestartPolicy{MaxRestarts: 2, Window: 10 * time.Second, Jitter: NoJitter}, []step{
			fail(0, restart(0, 1, 1)),
			fail(5*time.Second, restart(500*ms, 2, 2)),
			fail(5*time.Second, restart(1000*ms, 3, 2)), // the restart at 0s is exactly 10s old
			fail(5*time.Second, restart(2000*ms, 4, 2)),
			fail(20*time.Second, restart(4000*ms, 5, 1)),
		}},
		{"restart just inside the window still counts", RestartPolicy{MaxRestarts: 2, Window: 10 * time.Second, Jitter: NoJitter}, []step{
			fail(0, restart(0, 1, 1)),
			fail(0, restart(500*ms, 2, 2)),
			fail(10*time.Second-time.Nanosecond, giveUp(3, 2)),
		}},
		{"healthy reset brings back immediate restart", exact, []step{
			fail(0, restart(0, 1, 1)),
			fail(0, restart(500*ms, 2, 2)),
			fail(0, restart(1000*ms, 3, 3)),
			healthy(time.Second),
			fail(60*time.Second, restart(0, 1, 1)),
			fail(0, restart(500*ms, 2, 2)),
		}},
		{"healthy not long enough keeps backing off", exact, []step{
			fail(0, restart(0, 1, 1)),
			fail(0, restart(500*ms, 2, 2)),
			healthy(0),
			fail(60*time.Second-time.Nanosecond, restart(1000*ms, 3, 3)),
		}},
		{"failure after healthy cancels the reset", exact, []step{
			fail(0, restart(0, 1, 1)),
			healthy(0),
			fail(30*time.Second, restart(500*ms, 2, 2)),
			fail(40*time.Second, restart(1000*ms, 3, 2)),
		}},
		{"repeated healthy keeps the first time", exact, []step{
			fail(0, restart(0, 1, 1)),
			fail(0, restart(500*ms, 2, 2)),
			healthy(0),
			healthy(50 * time.Second),
			fail(10*time.Second, restart(0, 1, 1)),
		}},
		{"healthy reset does not clear the window", RestartPolicy{
			MaxRestarts: 2, Window: 10 * time.Minute, HealthyReset: time.Second, Jitter: NoJitter,
		}, []step{
			fail(0, restart(0, 1, 1)),
			healthy(0),
			fail(time.Second, restart(0, 1, 2)),
			healthy(0),
			fail(time.Second, giveUp(1, 2)),
		}},
		{"reset after give up", RestartPolicy{MaxRestarts: 1, Jitter: NoJitter}, []step{
			fail(0, restart(0, 1, 1)),
			fail(0, giveUp(2, 1)),
			reset(),
			fail(0, restart(0, 1, 1)),
			fail(0, giveUp(2, 1)),
		}},
		{"reset forgets backoff and window", exact, []step{
			fail(0, restart(0, 1, 1)),
			fail(0, restart(500*ms, 2, 2)),
			fail(0, restart(1000*ms, 3, 3)),
			reset(),
			fail(0, restart(0, 1, 1)),
			fail(0, restart(500*ms, 2, 2)),
		}},
		{"reset forgets healthy", exact, []step{
			fail(0, restart(0, 1, 1)),
			healthy(0),
			reset(),
			fail(0, restart(0, 1, 1)),
			fail(time.Hour, restart(500*ms, 2, 1)),
		}},
		{"clock moving backwards", RestartPolicy{MaxRestarts: 3, Window: 10 * time.Second, Jitter: NoJitter}, []step{
			fail(0, restart(0, 1, 1)),
			fail(-time.Hour, restart(500*ms, 2, 2)),
			fail(time.Hour, restart(1000*ms, 3, 2)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewFakeClock(epoch)
			r := NewRestarter(tt.policy, clock, constRnd(0.5))
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				switch s.op {
				case opFail:
					if got := r.Failed(); got != s.want {
						t.Fatalf("step %d: Failed() = %+v, want %+v", i, got, s.want)
					}
				case opHealthy:
					r.Healthy()
				case opReset:
					r.Reset()
				}
			}
		})
	}
}

func TestRestarterSecondFailureJitter(t *testing.T) {
	tests := []struct {
		name string
		rnd  float64
		want time.Duration
	}{
		{"lowest", 0, 400 * time.Millisecond},
		{"low quarter", 0.25, 450 * time.Millisecond},
		{"centre", 0.5, 500 * time.Millisecond},
		{"high quarter", 0.75, 550 * time.Millisecond},
		{"highest", 1, 600 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRestarter(RestartPolicy{}, NewFakeClock(epoch), constRnd(tt.rnd))
			if d := r.Failed(); d.Delay != 0 {
				t.Fatalf("first failure Delay = %v, want 0", d.Delay)
			}
			if d := r.Failed(); d.Delay != tt.want {
				t.Fatalf("second failure Delay = %v, want %v", d.Delay, tt.want)
			}
		})
	}
}

func TestRestarterRndCalls(t *testing.T) {
	calls := 0
	rnd := func() float64 { calls++; return 0.5 }
	r := NewRestarter(RestartPolicy{MaxRestarts: 3}, NewFakeClock(epoch), rnd)
	wantCalls := []int{0, 1, 2, 2, 2} // no draw for an immediate restart or a give-up
	for i, want := range wantCalls {
		r.Failed()
		if calls != want {
			t.Fatalf("after failure %d: rnd called %d times, want %d", i+1, calls, want)
		}
	}
}

func TestRestarterErr(t *testing.T) {
	r := NewRestarter(RestartPolicy{MaxRestarts: 2, Window: 30 * time.Second}, NewFakeClock(epoch), constRnd(0.5))
	for i := range 2 {
		if d := r.Failed(); d.Action != Restart {
			t.Fatalf("failure %d: Action = %v, want %v", i+1, d.Action, Restart)
		}
		if err := r.Err(); err != nil {
			t.Fatalf("failure %d: Err() = %v, want nil", i+1, err)
		}
	}
	if d := r.Failed(); d.Action != GiveUp {
		t.Fatalf("Action = %v, want %v", d.Action, GiveUp)
	}
	err := r.Err()
	if !errors.Is(err, ErrGaveUp) {
		t.Fatalf("Err() = %v, want ErrGaveUp", err)
	}
	var ge GaveUpError
	if !errors.As(err, &ge) || ge != (GaveUpError{Restarts: 2, Window: 30 * time.Second}) {
		t.Fatalf("Err() = %#v, want GaveUpError{2, 30s}", err)
	}
	if got, want := err.Error(), "2 restarts within 30s: giving up"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	r.Reset()
	if err := r.Err(); err != nil {
		t.Fatalf("after Reset: Err() = %v, want nil", err)
	}
}

func TestNewRestarterDefaults(t *testing.T) {
	r := NewRestarter(RestartPolicy{}, nil, nil)
	if got, want := r.Policy(), (RestartPolicy{}).WithDefaults(); got != want {
		t.Fatalf("Policy() = %+v, want %+v", got, want)
	}
	if d := r.Failed(); d != restart(0, 1, 1) {
		t.Fatalf("first Failed() = %+v", d)
	}
	d := r.Failed()
	if d.Action != Restart || d.Delay < 400*time.Millisecond || d.Delay > 600*time.Millisecond {
		t.Fatalf("second Failed() = %+v, want restart after 500ms±20%%", d)
	}
}

// TestRestarterDelayBounds drives Restarters with random policies, clock
// steps and health signals and checks every decision's invariants.
func TestRestarterDelayBounds(t *testing.T) {
	src := rand.New(rand.NewPCG(3, 4))
	for run := range 200 {
		p := RestartPolicy{
			MaxRestarts:    src.IntN(10),
			Window:         time.Duration(src.Int64N(int64(2 * time.Minute))),
			InitialBackoff: time.Duration(src.Int64N(int64(5 * time.Second))),
			MaxBackoff:     time.Duration(src.Int64N(int64(time.Minute))),
			Multiplier:     src.Float64() * 4,
			Jitter:         src.Float64()*1.5 - 0.25,
			HealthyReset:   time.Duration(src.Int64N(int64(2 * time.Minute))),
		}
		clock := NewFakeClock(epoch)
		r := NewRestarter(p, clock, src.Float64)
		eff := r.Policy()
		upper := time.Duration(float64(eff.MaxBackoff) * (1 + max(eff.Jitter, 0)))
		for i := range 100 {
			clock.Advance(time.Duration(src.Int64N(int64(20 * time.Second))))
			switch src.IntN(10) {
			case 0:
				r.Healthy()
				continue
			case 1:
				r.Reset()
				continue
			}
			d := r.Failed()
			switch d.Action {
			case Restart:
				if d.Delay < 0 || d.Delay > upper {
					t.Fatalf("run %d step %d: %+v delay %v outside [0, %v]", run, i, eff, d.Delay, upper)
				}
				if d.RestartsInWindow < 1 || d.RestartsInWindow > eff.MaxRestarts {
					t.Fatalf("run %d step %d: RestartsInWindow %d outside [1, %d]", run, i, d.RestartsInWindow, eff.MaxRestarts)
				}
				if d.Attempt == 1 && d.Delay != 0 {
					t.Fatalf("run %d step %d: first attempt delayed %v", run, i, d.Delay)
				}
			case GiveUp:
				if d.Delay != 0 || d.RestartsInWindow != eff.MaxRestarts {
					t.Fatalf("run %d step %d: bad give-up %+v", run, i, d)
				}
			default:
				t.Fatalf("run %d step %d: unknown action %v", run, i, d.Action)
			}
			if d.Attempt < 1 {
				t.Fatalf("run %d step %d: Attempt %d", run, i, d.Attempt)
			}
		}
	}
}

func TestActionString(t *testing.T) {
	tests := []struct {
		a    Action
		want string
	}{
		{Restart, "restart"},
		{GiveUp, "give_up"},
		{Action(0), "action(0)"},
		{Action(42), "action(42)"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("Action(%d).String() = %q, want %q", int(tt.a), got, tt.want)
		}
	}
}

func BenchmarkRestarterFailed(b *testing.B) {
	clock := NewFakeClock(epoch)
	r := NewRestarter(RestartPolicy{}, clock, constRnd(0.5))
	b.ReportAllocs()
	for b.Loop() {
		// Fifteen seconds between failures keeps the window below the
		// limit, so every call restarts and prunes.
		clock.Advance(15 * time.Second)
		if d := r.Failed(); d.Action != Restart {
			b.Fatalf("Failed() = %+v", d)
		}
	}
}
