package supervisor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBreakerStateString(t *testing.T) {
	tests := []struct {
		state BreakerState
		want  string
	}{
		{BreakerClosed, "closed"},
		{BreakerOpen, "open"},
		{BreakerHalfOpen, "half_open"},
		{BreakerState(7), "breaker_state(7)"},
		{BreakerState(-1), "breaker_state(-1)"},
	}
	for _, tt := range tests {
		if got := tt.state.String(); got != tt.want {
			t.Errorf("BreakerState(%d).String() = %q, want %q", int32(tt.state), got, tt.want)
		}
	}
}

func TestBreakerConfigWithDefaults(t *testing.T) {
	defaults := BreakerConfig{
		FailureThreshold: DefaultBreakerFailureThreshold,
		ResetTimeout:     DefaultBreakerResetTimeout,
		HalfOpenMax:      DefaultBreakerHalfOpenMax,
	}
	custom := BreakerConfig{FailureThreshold: 2, ResetTimeout: time.Second, HalfOpenMax: 3}
	tests := []struct {
		name string
		in   BreakerConfig
		want BreakerConfig
	}{
		{"zero", BreakerConfig{}, defaults},
		{"negatives", BreakerConfig{FailureThreshold: -1, ResetTimeout: -time.Second, HalfOpenMax: -4}, defaults},
		{"explicit kept", custom, custom},
		{"partial", BreakerConfig{HalfOpenMax: 2}, BreakerConfig{
			FailureThreshold: DefaultBreakerFailureThreshold,
			ResetTimeout:     DefaultBreakerResetTimeout,
			HalfOpenMax:      2,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.WithDefaults()
			if !sameLimits(got, tt.want) {
				t.Fatalf("WithDefaults() = %+v, want %+v", got, tt.want)
			}
			if again := got.WithDefaults(); !sameLimits(again, got) {
				t.Fatalf("WithDefaults not idempotent: %+v then %+v", got, again)
			}
		})
	}
}

// sameLimits compares every field of two configs but OnChange.
func sameLimits(a, b BreakerConfig) bool {
	return a.FailureThreshold == b.FailureThreshold &&
		a.ResetTimeout == b.ResetTimeout &&
		a.HalfOpenMax == b.HalfOpenMax
}

func TestBreakerConfigWithDefaultsKeepsOnChange(t *testing.T) {
	called := false
	cfg := BreakerConfig{OnChange: func(_, _ BreakerState) { called = true }}.WithDefaults()
	if cfg.OnChange == nil {
		t.Fatal("WithDefaults dropped OnChange")
	}
	cfg.OnChange(BreakerClosed, BreakerOpen)
	if !called {
		t.Fatal("OnChange not the one configured")
	}
}

type breakerOp int

const (
	bAllow breakerOp = iota
	bSuccess
	bFailure
	bCancel
	bReset
	bState
)

// bStep advances the clock by advance, then applies op. For bAllow, allowed
// is the expected result. After every step the breaker must report
// wantState.
type bStep struct {
	advance   time.Duration
	op        breakerOp
	allowed   bool
	wantState BreakerState
}

func allow(advance time.Duration, allowed bool, want BreakerState) bStep {
	return bStep{advance: advance, op: bAllow, allowed: allowed, wantState: want}
}

func verdict(op breakerOp, advance time.Duration, want BreakerState) bStep {
	return bStep{advance: advance, op: op, wantState: want}
}

func success(want BreakerState) bStep { return verdict(bSuccess, 0, want) }

func failure(want BreakerState) bStep { return verdict(bFailure, 0, want) }

// failures returns n failure steps, all leaving the breaker in want.
func failures(n int, want BreakerState) []bStep {
	out := make([]bStep, n)
	for i := range out {
		out[i] = failure(want)
	}
	return out
}

func TestBreakerTransitions(t *testing.T) {
	const (
		closed = BreakerClosed
		open   = BreakerOpen
		half   = BreakerHalfOpen
		sec    = time.Second
		ns     = time.Nanosecond
	)
	def := BreakerConfig{}
	small := BreakerConfig{FailureThreshold: 2, ResetTimeout: 10 * sec}
	tests := []struct {
		name  string
		cfg   BreakerConfig
		steps []bStep
	}{
		{"new breaker is closed and allows", def, []bStep{
			verdict(bState, 0, closed),
			allow(0, true, closed),
			allow(time.Hour, true, closed),
		}},
		{"opens at the default threshold", def, slices.Concat(
			failures(4, closed),
			[]bStep{
				allow(0, true, closed),
				failure(open),
				allow(0, false, open),
			},
		)},
		{"success clears the consecutive count", def, slices.Concat(
			failures(4, closed),
			[]bStep{success(closed)},
			failures(4, closed),
			[]bStep{success(closed)},
			failures(4, closed),
			[]bStep{failure(open)},
		)},
		{"open rejects until the default reset timeout", def, slices.Concat(
			failures(4, closed),
			[]bStep{
				failure(open),
				allow(30*sec-ns, false, open),
				allow(ns, true, half),
			},
		)},
		{"half-open allows one trial by default", small, []bStep{
			failure(closed),
			failure(open),
			allow(10*sec, true, half),
			allow(0, false, half),
			allow(time.Hour, false, half),
		}},
		{"half-open success closes", small, []bStep{
			failure(closed),
			failure(open),
			allow(10*sec, true, half),
			success(closed),
			allow(0, true, closed),
			failure(closed), // the count started again from zero
			failure(open),
		}},
		{"half-open failure reopens with a fresh timeout", small, []bStep{
			failure(closed),
			failure(open),
			allow(10*sec, true, half),
			verdict(bFailure, 5*sec, open),
			allow(10*sec-ns, false, open),
			allow(ns, true, half),
		}},
		{"cancel releases the trial slot", small, []bStep{
			failure(closed),
			failure(open),
			allow(10*sec, true, half),
			allow(0, false, half),
			verdict(bCancel, 0, half),
			allow(0, true, half),
			allow(0, false, half),
			success(closed),
		}},
		{"cancel without trials in flight frees nothing", small, []bStep{
			failure(closed),
			failure(open),
			verdict(bCancel, 10*sec, half),
			verdict(bCancel, 0, half),
			allow(0, true, half),
			allow(0, false, half),
		}},
		{"cancel in closed and open is a no-op", small, []bStep{
			verdict(bCancel, 0, closed),
			failure(closed),
			verdict(bCancel, 0, closed),
			failure(open),
			verdict(bCancel, 0, open),
			allow(0, false, open),
		}},
		{"half-open max trials", BreakerConfig{FailureThreshold: 1, ResetTimeout: sec, HalfOpenMax: 3}, []bStep{
			failure(open),
			allow(sec, true, half),
			allow(0, true, half),
			allow(0, true, half),
			allow(0, false, half),
			verdict(bCancel, 0, half),
			allow(0, true, half),
			allow(0, false, half),
			success(closed),
			allow(0, true, closed),
		}},
		{"threshold one", BreakerConfig{FailureThreshold: 1}, []bStep{
			allow(0, true, closed),
			failure(open),
			allow(0, false, open),
		}},
		{"verdicts while open are ignored", small, []bStep{
			failure(closed),
			failure(open),
			verdict(bFailure, 4*sec, open), // does not restart the timeout
			verdict(bSuccess, 4*sec, open), // does not close
			allow(2*sec-ns, false, open),
			allow(ns, true, half),
		}},
		{"state turns half-open lazily", small, []bStep{
			failure(closed),
			failure(open),
			verdict(bState, 10*sec-ns, open),
			verdict(bState, ns, half),
			allow(0, true, half),
			allow(0, false, half),
		}},
		{"success after the timeout closes without a trial", small, []bStep{
			failure(closed),
			failure(open),
			verdict(bSuccess, 10*sec, closed),
		}},
		{"failure after the timeout reopens", small, []bStep{
			failure(closed),
			failure(open),
			verdict(bFailure, 10*sec, open),
			allow(10*sec-ns, false, open),
			allow(ns, true, half),
		}},
		{"late verdicts after closing count as closed", BreakerConfig{FailureThreshold: 2, ResetTimeout: sec, HalfOpenMax: 2}, []bStep{
			failure(closed),
			failure(open),
			allow(sec, true, half),
			allow(0, true, half),
			success(closed),
			failure(closed), // second trial reports after the breaker closed
			failure(open),
		}},
		{"reset from open", small, []bStep{
			failure(closed),
			failure(open),
			verdict(bReset, 0, closed),
			allow(0, true, closed),
			failure(closed),
			failure(open),
		}},
		{"reset from half-open frees trials", small, []bStep{
			failure(closed),
			failure(open),
			allow(10*sec, true, half),
			verdict(bReset, 0, closed),
			failure(closed),
			failure(open),
			allow(10*sec, true, half),
		}},
		{"reset clears the failure count", small, []bStep{
			failure(closed),
			verdict(bReset, 0, closed),
			failure(closed),
			failure(open),
		}},
		{"clock moving backwards keeps it open", small, []bStep{
			failure(closed),
			failure(open),
			allow(-time.Hour, false, open),
			allow(time.Hour+10*sec-ns, false, open),
			allow(ns, true, half),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewFakeClock(epoch)
			b := NewBreaker(tt.cfg, clock)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				switch s.op {
				case bAllow:
					if got := b.Allow(); got != s.allowed {
						t.Fatalf("step %d: Allow() = %v, want %v", i, got, s.allowed)
					}
				case bSuccess:
					b.Success()
				case bFailure:
					b.Failure()
				case bCancel:
					b.Cancel()
				case bReset:
					b.Reset()
				case bState:
				}
				if got := b.State(); got != s.wantState {
					t.Fatalf("step %d: State() = %v, want %v", i, got, s.wantState)
				}
				checkBreaker(t, b)
			}
		})
	}
}

func TestBreakerNilClock(t *testing.T) {
	b := NewBreaker(BreakerConfig{FailureThreshold: 1, ResetTimeout: time.Hour}, nil)
	b.Failure()
	if b.Allow() {
		t.Fatal("Allow() = true right after opening with a real clock")
	}
	if got := b.State(); got != BreakerOpen {
		t.Fatalf("State() = %v, want open", got)
	}
}

// recorder collects OnChange calls and fails the test if two overlap.
type recorder struct {
	t       testing.TB
	active  atomic.Int32
	mu      sync.Mutex
	changes []transition
}

func (r *recorder) onChange(from, to BreakerState) {
	if r.active.Add(1) != 1 {
		r.t.Error("OnChange calls overlap")
	}
	r.mu.Lock()
	r.changes = append(r.changes, transition{from, to})
	r.mu.Unlock()
	r.active.Add(-1)
}

func (r *recorder) got() []transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

func TestBreakerOnChangeOrder(t *testing.T) {
	const (
		closed = BreakerClosed
		open   = BreakerOpen
		half   = BreakerHalfOpen
	)
	clock := NewFakeClock(epoch)
	rec := &recorder{t: t}
	b := NewBreaker(BreakerConfig{FailureThreshold: 2, ResetTimeout: time.Second, OnChange: rec.onChange}, clock)

	b.Failure()
	b.Success() // no transition
	b.Failure()
	b.Failure() // closed -> open
	b.Failure() // ignored while open
	b.Allow()   // still open
	clock.Advance(time.Second)
	b.State()   // open -> half_open
	b.Allow()   // trial
	b.Failure() // half_open -> open
	clock.Advance(time.Second)
	b.Allow()   // open -> half_open
	b.Success() // half_open -> closed
	b.Reset()   // no transition
	b.Failure()
	b.Failure() // closed -> open
	b.Reset()   // open -> closed
	b.Failure()
	b.Failure() // closed -> open
	clock.Advance(time.Second)
	b.Reset() // open -> closed: the lazy half-open was never observed

	want := []transition{
		{closed, open},
		{open, half},
		{half, open},
		{open, half},
		{half, closed},
		{closed, open},
		{open, closed},
		{closed, open},
		{open, closed},
	}
	if got := rec.got(); !slices.Equal(got, want) {
		t.Fatalf("transitions:\n got  %v\n want %v", got, want)
	}
}

func TestBreakerOnChangeReentrant(t *testing.T) {
	var b *Breaker
	var got []transition
	b = NewBreaker(BreakerConfig{
		FailureThreshold: 1,
		OnChange: func(from, to BreakerState) {
			got = append(got, transition{from, to})
			// Calling back must not deadlock; a transition made here is
			// delivered after this call returns.
			if s := b.State(); s != to {
				t.Errorf("State() inside OnChange = %v, want %v", s, to)
			}
			if to == BreakerOpen {
				b.Reset()
				if len(got) != 1 {
					t.Errorf("nested transition delivered before the outer call returned")
				}
			}
		},
	}, NewFakeClock(epoch))
	b.Failure()
	want := []transition{{BreakerClosed, BreakerOpen}, {BreakerOpen, BreakerClosed}}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("State() = %v, want closed", s)
	}
}

func TestBreakerOnChangeHandOff(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var got []transition
	b := NewBreaker(BreakerConfig{
		FailureThreshold: 1,
		OnChange: func(from, to BreakerState) {
			mu.Lock()
			got = append(got, transition{from, to})
			mu.Unlock()
			if to == BreakerOpen {
				close(entered)
				<-release
			}
		},
	}, NewFakeClock(epoch))

	var wg sync.WaitGroup
	wg.Go(b.Failure) // delivers closed -> open and blocks in OnChange
	<-entered
	// The breaker lock is free while OnChange runs, and this transition is
	// left to the goroutine already delivering.
	b.Reset()
	if s := b.State(); s != BreakerClosed {
		t.Errorf("State() = %v, want closed", s)
	}
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 1 {
		t.Errorf("%d transitions delivered while the first OnChange blocks, want 1", n)
	}
	close(release)
	wg.Wait()
	want := []transition{{BreakerClosed, BreakerOpen}, {BreakerOpen, BreakerClosed}}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

func TestBreakerOnChangePanicDoesNotStopDelivery(t *testing.T) {
	var got []transition
	b := NewBreaker(BreakerConfig{
		FailureThreshold: 1,
		OnChange: func(from, to BreakerState) {
			got = append(got, transition{from, to})
			if to == BreakerOpen && len(got) == 1 {
				panic("boom")
			}
		},
	}, NewFakeClock(epoch))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic in OnChange was swallowed")
			}
		}()
		b.Failure()
	}()
	b.Reset()
	b.Failure()
	want := []transition{
		{BreakerClosed, BreakerOpen},
		{BreakerOpen, BreakerClosed},
		{BreakerClosed, BreakerOpen},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

// checkBreaker verifies the internal invariants of b.
func checkBreaker(t testing.TB, b *Breaker) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	s, f := b.load(), b.failures.Load()
	switch s {
	case BreakerClosed, BreakerOpen, BreakerHalfOpen:
	default:
		t.Errorf("invalid state %v", s)
	}
	if f < 0 || f >= int64(b.cfg.FailureThreshold) || (f != 0 && s != BreakerClosed) {
		t.Errorf("state %v with %d failures (threshold %d)", s, f, b.cfg.FailureThreshold)
	}
	if b.trials < 0 || b.trials > b.cfg.HalfOpenMax || (b.trials != 0 && s != BreakerHalfOpen) {
		t.Errorf("state %v with %d trials (max %d)", s, b.trials, b.cfg.HalfOpenMax)
	}
}

// validTransitions lists every edge the state machine may take.
var validTransitions = map[transition]bool{
	{BreakerClosed, BreakerOpen}:     true, // threshold reached
	{BreakerOpen, BreakerHalfOpen}:   true, // reset timeout passed
	{BreakerHalfOpen, BreakerClosed}: true, // trial succeeded or Reset
	{BreakerHalfOpen, BreakerOpen}:   true, // trial failed
	{BreakerOpen, BreakerClosed}:     true, // Reset
}

func TestBreakerConcurrent(t *testing.T) {
	tests := []struct {
		name string
		cfg  BreakerConfig
	}{
		{"defaults", BreakerConfig{}},
		{"threshold 1", BreakerConfig{FailureThreshold: 1, ResetTimeout: time.Second}},
		{"several trials", BreakerConfig{FailureThreshold: 3, ResetTimeout: time.Second, HalfOpenMax: 4}},
	}
	const (
		workers = 16
		iters   = 2000
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewFakeClock(epoch)
			rec := &recorder{t: t}
			cfg := tt.cfg
			cfg.OnChange = rec.onChange
			b := NewBreaker(cfg, clock)
			step := b.cfg.ResetTimeout / 8

			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					rnd := rand.New(rand.NewPCG(uint64(w), 42))
					for range iters {
						switch n := rnd.IntN(100); {
						case n < 80:
							if !b.Allow() {
								continue
							}
							switch v := rnd.IntN(10); {
							case v < 5:
								b.Success()
							case v < 9:
								b.Failure()
							default:
								b.Cancel()
							}
						case n < 95:
							clock.Advance(step)
						case n < 99:
							b.State()
						default:
							b.Reset()
						}
						checkBreaker(t, b)
					}
				})
			}
			wg.Wait()

			final := b.State()
			changes := rec.got()
			prev := BreakerClosed
			for i, c := range changes {
				if c.from != prev {
					t.Fatalf("transition %d %v->%v does not start where the previous one ended (%v)", i, c.from, c.to, prev)
				}
				if !validTransitions[c] {
					t.Fatalf("transition %d %v->%v is not a valid edge", i, c.from, c.to)
				}
				prev = c.to
			}
			if prev != final {
				t.Fatalf("last transition ended in %v, State() = %v", prev, final)
			}
			if len(changes) == 0 {
				t.Fatal("no transitions happened; the test exercises nothing")
			}
			t.Logf("%d transitions", len(changes))
		})
	}
}

func TestBreakerConcurrentTrialLimit(t *testing.T) {
	tests := []struct {
		halfOpenMax int
		callers     int
	}{
		{1, 64},
		{3, 64},
		{8, 8},
		{10, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("max %d callers %d", tt.halfOpenMax, tt.callers), func(t *testing.T) {
			clock := NewFakeClock(epoch)
			b := NewBreaker(BreakerConfig{FailureThreshold: 1, ResetTimeout: time.Second, HalfOpenMax: tt.halfOpenMax}, clock)
			b.Failure()
			clock.Advance(time.Second)

			var allowed atomic.Int32
			start := make(chan struct{})
			var wg sync.WaitGroup
			for range tt.callers {
				wg.Go(func() {
					<-start
					if b.Allow() {
						allowed.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			if got, want := int(allowed.Load()), min(tt.halfOpenMax, tt.callers); got != want {
				t.Fatalf("%d calls allowed in half-open, want %d", got, want)
			}
			checkBreaker(t, b)
		})
	}
}

func ExampleBreaker() {
	clock := NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	b := NewBreaker(BreakerConfig{
		FailureThreshold: 2,
		ResetTimeout:     10 * time.Second,
		OnChange: func(from, to BreakerState) {
			fmt.Println(from, "->", to)
		},
	}, clock)

	for range 2 {
		if b.Allow() {
			b.Failure()
		}
	}
	fmt.Println("allowed while open:", b.Allow())
	clock.Advance(10 * time.Second)
	if b.Allow() {
		b.Success()
	}
	// Output:
	// closed -> open
	// allowed while open: false
	// open -> half_open
	// half_open -> closed
}

func BenchmarkBreakerAllowSuccess(b *testing.B) {
	br := NewBreaker(BreakerConfig{}, RealClock{})
	b.ReportAllocs()
	for b.Loop() {
		if br.Allow() {
			br.Success()
		}
	}
}

func BenchmarkBreakerAllowSuccessParallel(b *testing.B) {
	br := NewBreaker(BreakerConfig{}, RealClock{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if br.Allow() {
				br.Success()
			}
		}
	})
}

func BenchmarkBreakerAllowFailureSuccess(b *testing.B) {
	br := NewBreaker(BreakerConfig{}, RealClock{})
	b.ReportAllocs()
	for b.Loop() {
		if br.Allow() {
			br.Failure()
		}
		if br.Allow() {
			br.Success()
		}
	}
}

func BenchmarkBreakerAllowOpen(b *testing.B) {
	br := NewBreaker(BreakerConfig{FailureThreshold: 1, ResetTimeout: time.Hour}, RealClock{})
	br.Failure()
	b.ReportAllocs()
	for b.Loop() {
		if br.Allow() {
			b.Fatal("open breaker allowed a call")
		}
	}
}
