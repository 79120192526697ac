package routing

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// seqRnd returns a deterministic source of uniform values that is safe for
// concurrent use: splitmix64 over an atomic counter.
func seqRnd(seed uint64) func() uint64 {
	var state atomic.Uint64
	state.Store(seed)
	return func() uint64 {
		z := state.Add(0x9e3779b97f4a7c15)
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		return z ^ z>>31
	}
}

// constRnd returns a source that always yields v.
func constRnd(v uint64) func() uint64 { return func() uint64 { return v } }

// mask returns an eligible func that is true for the members whose entry
// is true.
func mask(ok ...bool) func(int) bool { return func(i int) bool { return ok[i] } }

// loads returns an inflight func reading from l.
func loads(l ...int) func(int) int { return func(i int) int { return l[i] } }

// equal returns n members of weight 1 and priority 1 named m0, m1, ...
func equal(n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("m%d", i), Weight: 1, Priority: 1}
	}
	return ms
}

// weights returns members with the given weights.
func weights(w ...int) []Member {
	ms := equal(len(w))
	for i := range ms {
		ms[i].Weight = w[i]
	}
	return ms
}

// priorities returns members with the given priorities.
func priorities(p ...int) []Member {
	ms := equal(len(p))
	for i := range ms {
		ms[i].Priority = p[i]
	}
	return ms
}

func mustNew(t testing.TB, strategy string, members []Member, rnd func() uint64) Picker {
	t.Helper()
	p, err := New(strategy, members, rnd)
	if err != nil {
		t.Fatalf("New(%q): %v", strategy, err)
	}
	return p
}

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		members  []Member
		wantErr  error
	}{
		{"round robin", RoundRobin, equal(3), nil},
		{"empty means round robin", "", equal(3), nil},
		{"weighted", Weighted, weights(1, 2, 7), nil},
		{"priority", Priority, priorities(1, 2), nil},
		{"least connections", LeastConnections, equal(2), nil},
		{"random", Random, equal(2), nil},
		{"no members", Weighted, nil, nil},
		{"unknown", "fastest", equal(2), ErrUnknownStrategy},
		{"wrong case", "Round_Robin", equal(2), ErrUnknownStrategy},
		{"dash instead of underscore", "least-connections", equal(2), ErrUnknownStrategy},
		{"padded", " random", equal(2), ErrUnknownStrategy},
		{"weight at the limit", Weighted, weights(1, MaxWeight), nil},
		{"weight above the limit", Weighted, weights(1, MaxWeight+1), ErrInvalidWeight},
		{"large weight ignored by round robin", RoundRobin, weights(math.MaxInt), nil},
		{"zero and negative weights", Weighted, weights(0, -5), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.strategy, tt.members, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New(%q) error = %v, want %v", tt.strategy, err, tt.wantErr)
			}
			if (p == nil) != (err != nil) {
				t.Fatalf("New(%q) = %v, %v: want exactly one of picker and error", tt.strategy, p, err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.strategy) && tt.wantErr == ErrUnknownStrategy {
				t.Errorf("error %q does not name the strategy %q", err, tt.strategy)
			}
		})
	}
}

func TestStrategiesAccepted(t *testing.T) {
	want := []string{"round_robin", "weighted", "priority", "least_connections", "random"}
	if fmt.Sprint(Strategies) != fmt.Sprint(want) {
		t.Fatalf("Strategies = %v, want %v", Strategies, want)
	}
	for _, s := range Strategies {
		if _, err := New(s, equal(3), nil); err != nil {
			t.Errorf("New(%q): %v", s, err)
		}
	}
}

func TestDistribution(t *testing.T) {
	const (
		picks = 100_000
		exact = 0.0001 // deterministic strategies: exact up to rounding
		rand  = 0.02
	)
	third := 1.0 / 3
	tests := []struct {
		name     string
		strategy string
		members  []Member
		eligible func(int) bool
		inflight func(int) int
		want     []float64 // share of picks per member
		tol      float64   // allowed absolute deviation of each share
	}{
		{"round robin", RoundRobin, equal(3), nil, nil, []float64{third, third, third}, exact},
		{"round robin ignores weight and priority", RoundRobin, []Member{{"a", 9, 1}, {"b", 1, 5}}, nil, nil, []float64{.5, .5}, exact},
		{"round robin skips fairly", RoundRobin, equal(5), mask(true, false, false, true, true), nil, []float64{third, 0, 0, third, third}, exact},
		{"round robin skips the last", RoundRobin, equal(4), mask(true, true, true, false), nil, []float64{third, third, third, 0}, exact},
		{"round robin single eligible", RoundRobin, equal(4), mask(false, false, true, false), nil, []float64{0, 0, 1, 0}, exact},
		{"weighted 1:2:7", Weighted, weights(1, 2, 7), nil, nil, []float64{.1, .2, .7}, 0.01},
		{"weighted 1:2:7 exact", Weighted, weights(1, 2, 7), nil, nil, []float64{.1, .2, .7}, exact},
		{"weighted over eligible only", Weighted, weights(1, 2, 7), mask(true, true, false), nil, []float64{third, 2 * third, 0}, exact},
		{"weighted 5:1:1", Weighted, weights(5, 1, 1), nil, nil, []float64{5.0 / 7, 1.0 / 7, 1.0 / 7}, exact},
		{"weighted unset weights count as 1", Weighted, weights(0, -3, 2), nil, nil, []float64{.25, .25, .5}, exact},
		{"weighted ignores priority", Weighted, []Member{{"a", 1, 1}, {"b", 3, 9}}, nil, nil, []float64{.25, .75}, exact},
		{"priority lowest value wins", Priority, priorities(2, 1, 3), nil, nil, []float64{0, 1, 0}, exact},
		{"priority ties round robin", Priority, priorities(2, 1, 1, 3), nil, nil, []float64{0, .5, .5, 0}, exact},
		{"priority falls back", Priority, priorities(2, 1, 1, 3), mask(true, false, false, true), nil, []float64{1, 0, 0, 0}, exact},
		{"priority falls back to the last tier", Priority, priorities(2, 1, 1, 3, 3), mask(false, false, false, true, true), nil, []float64{0, 0, 0, .5, .5}, exact},
		{"priority negative values", Priority, priorities(0, -1, 5), nil, nil, []float64{0, 1, 0}, exact},
		{"least connections idle is round robin", LeastConnections, equal(4), nil, nil, []float64{.25, .25, .25, .25}, exact},
		{"least connections ties round robin", LeastConnections, equal(4), nil, loads(5, 2, 2, 7), []float64{0, .5, .5, 0}, exact},
		{"least connections minimum", LeastConnections, equal(4), nil, loads(5, 3, 2, 7), []float64{0, 0, 1, 0}, exact},
		{"least connections skips ineligible minimum", LeastConnections, equal(4), mask(true, true, false, true), loads(5, 3, 0, 3), []float64{0, .5, 0, .5}, exact},
		{"random uniform", Random, equal(3), nil, nil, []float64{third, third, third}, rand},
		{"random over eligible only", Random, equal(4), mask(true, false, true, true), nil, []float64{third, 0, third, third}, rand},
		{"random ignores weight", Random, weights(1, 9), nil, nil, []float64{.5, .5}, rand},
		{"random single eligible", Random, equal(3), mask(false, true, false), nil, []float64{0, 1, 0}, exact},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, tt.strategy, tt.members, seqRnd(1))
			counts := make([]int, len(tt.members))
			for range picks {
				i, ok := p.Pick(tt.eligible, tt.inflight)
				if !ok {
					t.Fatal("Pick found no eligible member")
				}
				counts[i]++
			}
			checkShares(t, counts, tt.want, tt.tol)
		})
	}
}

// checkShares fails unless each counts[i] is within tol of want[i] as a
// share of the total; members with a zero share must never be picked.
func checkShares(t testing.TB, counts []int, want []float64, tol float64) {
	t.Helper()
	total := 0
	for _, c := range counts {
		total += c
	}
	for i, c := range counts {
		got := float64(c) / float64(total)
		if want[i] == 0 && c != 0 {
			t.Errorf("member %d picked %d times, want never", i, c)
		}
		if math.Abs(got-want[i]) > tol {
			t.Errorf("member %d share %.5f, want %.5f ± %.5f (counts %v)", i, got, want[i], tol, counts)
		}
	}
}

func TestSequences(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		members  []Member
		eligible func(int) bool
		inflight func(int) int
		want     string
	}{
		// The example from nginx's smooth weighted round robin change.
		{"weighted nginx 5:1:1", Weighted, weights(5, 1, 1), nil, nil, "a,a,b,a,c,a,a,a,a,b,a,c,a,a"},
		{"weighted 5:1:1 without c", Weighted, weights(5, 1, 1), mask(true, true, false), nil, "a,a,a,b,a,a,a,a,a,b,a,a"},
		{"weighted 1:1", Weighted, weights(1, 1), nil, nil, "a,b,a,b"},
		{"weighted 2:1 interleaves", Weighted, weights(2, 1), nil, nil, "a,b,a,a,b,a"},
		{"round robin", RoundRobin, equal(3), nil, nil, "a,b,c,a,b,c"},
		{"round robin skipping b", RoundRobin, equal(3), mask(true, false, true), nil, "a,c,a,c"},
		{"priority ties in order", Priority, priorities(3, 1, 2, 1), nil, nil, "b,d,b,d"},
		{"least connections ties in order", LeastConnections, equal(3), nil, nil, "a,b,c,a,b,c"},
		{"least connections prefers idle", LeastConnections, equal(3), nil, loads(1, 0, 1), "b,b,b"},
		{"random lowest value", Random, equal(3), nil, nil, "a,a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, tt.strategy, tt.members, constRnd(0))
			var got []string
			for range strings.Count(tt.want, ",") + 1 {
				i, ok := p.Pick(tt.eligible, tt.inflight)
				if !ok {
					t.Fatal("Pick found no eligible member")
				}
				got = append(got, string(rune('a'+i)))
			}
			if s := strings.Join(got, ","); s != tt.want {
				t.Fatalf("sequence %s, want %s", s, tt.want)
			}
		})
	}
}

func TestRandomUsesRnd(t *testing.T) {
	tests := []struct {
		name     string
		rnd      uint64
		eligible func(int) bool
		want     int
	}{
		{"zero picks the first", 0, nil, 0},
		{"max picks the last", math.MaxUint64, nil, 3},
		{"middle", 1 << 63, nil, 2},
		{"just below a quarter", 1<<62 - 1, nil, 0},
		{"a quarter", 1 << 62, nil, 1},
		{"zero skips ineligible", 0, mask(false, false, true, true), 2},
		{"max skips ineligible", math.MaxUint64, mask(true, true, false, false), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, Random, equal(4), constRnd(tt.rnd))
			if got, ok := p.Pick(tt.eligible, nil); !ok || got != tt.want {
				t.Fatalf("Pick() = %d, %v, want %d, true", got, ok, tt.want)
			}
		})
	}
}

func TestPriorityFallback(t *testing.T) {
	// Members a (1), b (1), c (2), d (3); each step sets who is eligible
	// and the members the next picks must cycle through.
	members := priorities(1, 1, 2, 3)
	steps := []struct {
		eligible []bool
		want     string
	}{
		{[]bool{true, true, true, true}, "a,b,a,b"},
		{[]bool{false, true, true, true}, "b,b"},
		{[]bool{false, false, true, true}, "c,c"},
		{[]bool{false, false, false, true}, "d,d"},
		{[]bool{false, false, true, true}, "c"},
		{[]bool{true, false, true, true}, "a,a"},
		{[]bool{true, true, true, true}, "b,a,b"},
	}
	p := mustNew(t, Priority, members, nil)
	for n, s := range steps {
		var got []string
		for range strings.Count(s.want, ",") + 1 {
			i, ok := p.Pick(mask(s.eligible...), nil)
			if !ok {
				t.Fatalf("step %d: Pick found no eligible member", n)
			}
			got = append(got, string(rune('a'+i)))
		}
		if g := strings.Join(got, ","); g != s.want {
			t.Fatalf("step %d: picked %s, want %s", n, g, s.want)
		}
	}
}

func TestLeastConnectionsPicksMinimum(t *testing.T) {
	tests := []struct {
		name     string
		inflight []int
		eligible []bool
		want     int
	}{
		{"single minimum", []int{4, 1, 3}, []bool{true, true, true}, 1},
		{"minimum last", []int{4, 3, 0}, []bool{true, true, true}, 2},
		{"first of ties from the start", []int{2, 2, 2}, []bool{true, true, true}, 0},
		{"ineligible minimum skipped", []int{4, 0, 3}, []bool{true, false, true}, 2},
		{"only eligible even if busiest", []int{0, 0, 99}, []bool{false, false, true}, 2},
		{"negative counts still compare", []int{0, -1, 3}, []bool{true, true, true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, LeastConnections, equal(len(tt.inflight)), nil)
			if got, ok := p.Pick(mask(tt.eligible...), loads(tt.inflight...)); !ok || got != tt.want {
				t.Fatalf("Pick() = %d, %v, want %d, true", got, ok, tt.want)
			}
		})
	}
}

func TestNoneEligible(t *testing.T) {
	none := func(int) bool { return false }
	for _, s := range Strategies {
		tests := []struct {
			name     string
			members  []Member
			eligible func(int) bool
		}{
			{"all ineligible", weights(1, 2, 3), none},
			{"no members", nil, nil},
			{"no members, callback", nil, none},
		}
		for _, tt := range tests {
			t.Run(s+"/"+tt.name, func(t *testing.T) {
				p := mustNew(t, s, tt.members, seqRnd(2))
				for range 3 {
					if i, ok := p.Pick(tt.eligible, loads(0, 0, 0)); ok || i != -1 {
						t.Fatalf("Pick() = %d, %v, want -1, false", i, ok)
					}
				}
				// The picker still works once members are eligible.
				if len(tt.members) > 0 {
					if _, ok := p.Pick(nil, nil); !ok {
						t.Fatal("Pick(nil, nil) found no member")
					}
				}
			})
		}
	}
}

func TestNilCallbacksMeanAllEligibleAndIdle(t *testing.T) {
	for _, s := range Strategies {
		t.Run(s, func(t *testing.T) {
			p := mustNew(t, s, equal(3), seqRnd(3))
			seen := make([]bool, 3)
			for range 300 {
				i, ok := p.Pick(nil, nil)
				if !ok {
					t.Fatal("Pick(nil, nil) found no member")
				}
				seen[i] = true
			}
			if !seen[0] || !seen[1] || !seen[2] {
				t.Fatalf("members picked %v, want all", seen)
			}
		})
	}
}

func TestNewCopiesMembers(t *testing.T) {
	ms := priorities(1, 2)
	p := mustNew(t, Priority, ms, nil)
	ms[0].Priority, ms[1].Priority = 9, 0
	if i, _ := p.Pick(nil, nil); i != 0 {
		t.Fatalf("Pick() = %d after the caller changed its slice, want 0", i)
	}
}

func TestLargeGroup(t *testing.T) {
	// Groups over 256 members take their eligibility set from a pool.
	const n = 300
	eligible := func(i int) bool { return i%3 != 0 }
	tests := []struct {
		strategy string
		picks    int
		tol      float64
	}{
		{RoundRobin, 200 * n, 0},
		{Weighted, 200 * n, 0},
		{LeastConnections, 200 * n, 0},
		{Random, 200 * n, 0.003},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			p := mustNew(t, tt.strategy, equal(n), seqRnd(4))
			counts := make([]int, n)
			for range tt.picks {
				i, ok := p.Pick(eligible, nil)
				if !ok {
					t.Fatal("Pick found no eligible member")
				}
				counts[i]++
			}
			want := make([]float64, n)
			for i := range want {
				if eligible(i) {
					want[i] = 1.0 / 200
				}
			}
			checkShares(t, counts, want, tt.tol+1e-9)
		})
	}
}

func TestConcurrentPicks(t *testing.T) {
	const (
		workers = 8
		each    = 6_000 // workers*each is a multiple of every cycle below
	)
	third := 1.0 / 3
	tests := []struct {
		strategy string
		members  []Member
		eligible []bool
		want     []float64
		tol      float64
	}{
		{RoundRobin, equal(4), []bool{true, false, true, true}, []float64{third, 0, third, third}, 0},
		{Weighted, weights(1, 2, 7, 5), []bool{true, true, true, false}, []float64{.1, .2, .7, 0}, 0},
		{Priority, priorities(2, 1, 1, 1), []bool{true, true, false, true}, []float64{0, .5, 0, .5}, 0},
		{LeastConnections, equal(5), []bool{true, true, false, true, true}, []float64{.25, .25, 0, .25, .25}, 0},
		{Random, equal(4), []bool{true, true, false, true}, []float64{third, third, 0, third}, 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			p := mustNew(t, tt.strategy, tt.members, seqRnd(5))
			eligible := mask(tt.eligible...)
			var counts [8][]int
			var wg sync.WaitGroup
			for w := range workers {
				counts[w] = make([]int, len(tt.members))
				wg.Go(func() {
					for range each {
						i, ok := p.Pick(eligible, nil)
						if !ok {
							t.Error("Pick found no eligible member")
							return
						}
						counts[w][i]++
					}
				})
			}
			wg.Wait()
			total := make([]int, len(tt.members))
			for _, c := range counts {
				for i, v := range c {
					total[i] += v
				}
			}
			// Picks are serialized, so deterministic strategies still
			// hit their shares exactly.
			checkShares(t, total, tt.want, tt.tol+1e-9)
		})
	}
}

func TestConcurrentChangingEligibility(t *testing.T) {
	const (
		n       = 6
		workers = 8
		each    = 3_000
	)
	for _, s := range Strategies {
		t.Run(s, func(t *testing.T) {
			ms := equal(n)
			for i := range ms {
				ms[i].Weight = i + 1
				ms[i].Priority = i % 3
			}
			p := mustNew(t, s, ms, seqRnd(6))
			var up [n]atomic.Bool
			var inflight [n]atomic.Int64
			for i := range up {
				up[i].Store(true)
			}
			up[n-1].Store(false) // never eligible
			eligible := func(i int) bool { return up[i].Load() }
			load := func(i int) int { return int(inflight[i].Load()) }

			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Go(func() {
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					i := k % (n - 1)
					up[i].Store(!up[i].Load())
				}
			})
			var pickers sync.WaitGroup
			for range workers {
				pickers.Go(func() {
					for range each {
						i, ok := p.Pick(eligible, load)
						if !ok {
							continue
						}
						if i < 0 || i >= n-1 {
							t.Errorf("Pick() = %d, never-eligible or out of range", i)
							return
						}
						inflight[i].Add(1)
						inflight[i].Add(-1)
					}
				})
			}
			pickers.Wait()
			close(stop)
			wg.Wait()
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	eligible := mask(true, false, true, true, true, true, false, true)
	inflight := loads(3, 1, 2, 2, 5, 2, 0, 4)
	ms := weights(1, 2, 3, 4, 5, 6, 7, 8)
	for i := range ms {
		ms[i].Priority = i % 3
	}
	for _, s := range Strategies {
		t.Run(s, func(t *testing.T) {
			p := mustNew(t, s, ms, seqRnd(7))
			if a := testing.AllocsPerRun(1000, func() { p.Pick(eligible, inflight) }); a != 0 {
				t.Fatalf("Pick allocates %v times per call, want 0", a)
			}
		})
	}
}

// benchPick benchmarks strategy over n members, every fourth ineligible.
func benchPick(b *testing.B, strategy string, n int, parallel bool) {
	ms := equal(n)
	inflightCounts := make([]int, n)
	for i := range ms {
		ms[i].Weight = i%7 + 1
		ms[i].Priority = i % 3
		inflightCounts[i] = (i * 5) % 4
	}
	p := mustNew(b, strategy, ms, seqRnd(8))
	eligible := func(i int) bool { return i%4 != 1 }
	inflight := func(i int) int { return inflightCounts[i] }
	b.ReportAllocs()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.Pick(eligible, inflight)
			}
		})
		return
	}
	for b.Loop() {
		p.Pick(eligible, inflight)
	}
}

func BenchmarkPick(b *testing.B) {
	for _, s := range Strategies {
		b.Run(s+"/8", func(b *testing.B) { benchPick(b, s, 8, false) })
	}
	for _, s := range Strategies {
		b.Run(s+"/300", func(b *testing.B) { benchPick(b, s, 300, false) })
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, s := range Strategies {
		b.Run(s+"/8", func(b *testing.B) { benchPick(b, s, 8, true) })
	}
}
