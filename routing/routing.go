// Package routing picks the member of a group that serves a tool call.
//
// A Picker implements one strategy over a fixed list of members. Which
// members may be picked is decided per call by the caller, usually from the
// member's health and circuit breaker, and the strategy keeps its
// distribution fair among the members that are eligible.
//
// The package is pure: it starts no goroutines and does no I/O. Pickers are
// safe for concurrent use and Pick does not allocate (groups of more than
// 256 members reuse pooled scratch space).
package routing

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// Strategy names, as used in the configuration file.
const (
	// RoundRobin cycles through the eligible members in order.
	RoundRobin = "round_robin"
	// Weighted is smooth weighted round robin, as in nginx: over Weight
	// sum picks each eligible member is picked Weight times, spread out
	// as evenly as possible.
	Weighted = "weighted"
	// Priority picks among the eligible members with the lowest Priority
	// value, in round robin.
	Priority = "priority"
	// LeastConnections picks the eligible member with the fewest calls in
	// flight; ties go round robin.
	LeastConnections = "least_connections"
	// Random picks uniformly among the eligible members.
	Random = "random"
)

// Strategies lists every strategy New accepts, in documentation order.
var Strategies = []string{RoundRobin, Weighted, Priority, LeastConnections, Random}

// ErrUnknownStrategy reports a strategy name that is not in Strategies.
var ErrUnknownStrategy = errors.New("unknown routing strategy")

// ErrInvalidWeight reports a member weight above MaxWeight for the weighted
// strategy.
var ErrInvalidWeight = errors.New("invalid member weight")

// MaxWeight is the largest Member.Weight the weighted strategy accepts. It
// keeps the running sums of smooth weighted round robin far from overflow.
const MaxWeight = 1_000_000

// Member is one member of a group.
type Member struct {
	// ID names the member's provider.
	ID string
	// Weight is the member's relative share under the weighted strategy;
	// values below 1 count as 1.
	Weight int
	// Priority ranks the member under the priority strategy; a lower
	// value is preferred.
	Priority int
}

// Picker picks a member for a call. Implementations are safe for concurrent
// use and do not allocate.
type Picker interface {
	// Pick returns the index, in the member list given to New, of the
	// member that should serve the next call, or ok=false (and index -1)
	// when no member is eligible. eligible(i) reports whether member i
	// may be picked, for example whether it is healthy and its breaker
	// lets calls through; nil means every member is. inflight(i) returns
	// the number of calls member i is serving and is only used by
	// least_connections; nil means zero for all. Both may be called any
	// number of times, for any members, from the calling goroutine, and
	// must not call Pick on the same Picker.
	Pick(eligible func(i int) bool, inflight func(i int) int) (index int, ok bool)
}

// New returns a Picker applying strategy, one of Strategies, to members.
// The empty strategy means RoundRobin, as in the configuration. rnd returns
// uniformly distributed values for the random strategy and must be safe for
// concurrent use; nil means math/rand/v2.Uint64. The members are copied.
//
// An unknown strategy yields an error matching ErrUnknownStrategy; a weight
// above MaxWeight under the weighted strategy one matching
// ErrInvalidWeight.
func New(strategy string, members []Member, rnd func() uint64) (Picker, error) {
	n := len(members)
	switch strategy {
	case RoundRobin, "":
		return &roundRobin{ring: newRing(identity(n))}, nil
	case Weighted:
		p, err := newWeighted(members)
		if err != nil {
			return nil, err
		}
		return p, nil
	case Priority:
		return newPriority(members), nil
	case LeastConnections:
		return &leastConnections{n: int64(n)}, nil
	case Random:
		if rnd == nil {
			rnd = rand.Uint64
		}
		return &random{n: n, rnd: rnd, scratch: newScratch(n)}, nil
	default:
		return nil, fmt.Errorf("%w %q (want one of %v)", ErrUnknownStrategy, strategy, Strategies)
	}
}

// everyone is the eligible func used when Pick is given nil.
func everyone(int) bool { return true }

// idle is the inflight func used when Pick is given nil.
func idle(int) int { return 0 }

// identity returns the indices 0 to n-1.
func identity(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	return order
}

// ring picks round robin among the eligible members of a fixed list.
type ring struct {
	order []int // member indices, in picking order
	// next is the position in order to look at first. It only moves by
	// compare-and-swap to just past the member picked, so members that
	// are skipped do not pass their turn to their successor.
	next atomic.Int64
}

func newRing(order []int) *ring { return &ring{order: order} }

// pick returns the first eligible member at or after next, moving next past
// it.
func (r *ring) pick(eligible func(int) bool) (int, bool) {
	n := int64(len(r.order))
	for {
		start := r.next.Load()
		pos := int64(-1)
		for k := range n {
			p := start + k
			if p >= n {
				p -= n
			}
			if eligible(r.order[p]) {
				pos = p
				break
			}
		}
		if pos < 0 {
			return -1, false
		}
		next := pos + 1
		if next == n {
			next = 0
		}
		if r.next.CompareAndSwap(start, next) {
			return r.order[pos], true
		}
	}
}

// roundRobin implements RoundRobin.
type roundRobin struct {
	ring *ring
}

// Pick implements Picker.
func (p *roundRobin) Pick(eligible func(int) bool, _ func(int) int) (int, bool) {
	if eligible == nil {
		eligible = everyone
	}
	return p.ring.pick(eligible)
}

// priority implements Priority: one ring per priority value, lowest first.
type priority struct {
	tiers []*ring
}

func newPriority(members []Member) *priority {
	order := identity(len(members))
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(members[a].Priority, members[b].Priority)
	})
	p := &priority{}
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && members[order[end]].Priority == members[order[start]].Priority {
			end++
		}
		p.tiers = append(p.tiers, newRing(order[start:end:end]))
		start = end
	}
	return p
}

// Pick implements Picker.
func (p *priority) Pick(eligible func(int) bool, _ func(int) int) (int, bool) {
	if eligible == nil {
		eligible = everyone
	}
	for _, tier := range p.tiers {
		if i, ok := tier.pick(eligible); ok {
			return i, true
		}
	}
	return -1, false
}

// leastConnections implements LeastConnections.
type leastConnections struct {
	n int64 // members
	// next is the member where the scan starts; ties go to the first
	// member found, and next moves just past it, as in ring.
	next atomic.Int64
}

// Pick implements Picker.
func (p *leastConnections) Pick(eligible func(int) bool, inflight func(int) int) (int, bool) {
	if eligible == nil {
		eligible = everyone
	}
	if inflight == nil {
		inflight = idle
	}
	n := p.n
	for {
		start := p.next.Load()
		best, bestLoad := int64(-1), 0
		for k := range n {
			i := start + k
			if i >= n {
				i -= n
			}
			if !eligible(int(i)) {
				continue
			}
			if load := inflight(int(i)); best < 0 || load < bestLoad {
				best, bestLoad = i, load
			}
		}
		if best < 0 {
			return -1, false
		}
		next := best + 1
		if next == n {
			next = 0
		}
		if p.next.CompareAndSwap(start, next) {
			return int(best), true
		}
	}
}

// weighted implements Weighted with nginx's smooth weighted round robin:
// each pick adds every eligible member's weight to its current weight,
// picks the member with the highest current weight (the first on ties) and
// subtracts the eligible weights' sum from it.
type weighted struct {
	weights []int64
	scratch scratch

	mu      sync.Mutex
	current []int64
}

func newWeighted(members []Member) (*weighted, error) {
	p := &weighted{
		weights: make([]int64, len(members)),
		current: make([]int64, len(members)),
		scratch: newScratch(len(members)),
	}
	for i, m := range members {
		if m.Weight > MaxWeight {
			return nil, fmt.Errorf("%w: member %q has weight %d, above %d", ErrInvalidWeight, m.ID, m.Weight, MaxWeight)
		}
		p.weights[i] = int64(max(m.Weight, 1))
	}
	return p, nil
}

// Pick implements Picker.
func (p *weighted) Pick(eligible func(int) bool, _ func(int) int) (int, bool) {
	var buf [stackWords]uint64
	set, pooled := p.scratch.get(buf[:])
	if snapshot(set, len(p.weights), eligible) == 0 {
		p.scratch.put(pooled)
		return -1, false
	}
	best := -1
	var total int64
	p.mu.Lock()
	for i, w := range p.weights {
		if !set.has(i) {
			continue
		}
		p.current[i] += w
		total += w
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= total
	p.mu.Unlock()
	p.scratch.put(pooled)
	return best, true
}

// random implements Random.
type random struct {
	n       int
	rnd     func() uint64
	scratch scratch
}

// Pick implements Picker.
func (p *random) Pick(eligible func(int) bool, _ func(int) int) (int, bool) {
	var buf [stackWords]uint64
	set, pooled := p.scratch.get(buf[:])
	defer p.scratch.put(pooled)
	count := snapshot(set, p.n, eligible)
	if count == 0 {
		return -1, false
	}
	// The high word of rnd()*count is uniform in [0, count) up to a bias
	// of count/2^64.
	k, _ := bits.Mul64(p.rnd(), count)
	for i := range p.n {
		if !set.has(i) {
			continue
		}
		if k == 0 {
			return i, true
		}
		k--
	}
	panic("routing: eligible member not found in snapshot") // unreachable
}

// stackWords is the size of the bit set Pick keeps on its stack; larger
// groups (over 256 members) take theirs from a pool.
const stackWords = 4

// bitset holds one bit per member.
type bitset []uint64

func (s bitset) add(i int)      { s[i>>6] |= 1 << (i & 63) }
func (s bitset) has(i int) bool { return s[i>>6]&(1<<(i&63)) != 0 }

// snapshot records in set which of the n members are eligible (all when
// eligible is nil) and returns how many are. set must be zeroed.
func snapshot(set bitset, n int, eligible func(int) bool) (count uint64) {
	for i := range n {
		if eligible == nil || eligible(i) {
			set.add(i)
			count++
		}
	}
	return count
}

// scratch hands out zeroed bit sets for a fixed number of members without
// allocating: from the caller's stack buffer when it is large enough, from a
// pool otherwise.
type scratch struct {
	words int
	pool  *sync.Pool // nil when stack buffers suffice
}

func newScratch(n int) scratch {
	words := (n + 63) / 64
	s := scratch{words: words}
	if words > stackWords {
		s.pool = &sync.Pool{New: func() any {
			set := make(bitset, words)
			return &set
		}}
	}
	return s
}

// get returns a zeroed bit set, backed by buf if it fits, and the pooled
// set to hand back to put (nil for buf).
func (s scratch) get(buf []uint64) (bitset, *bitset) {
	if s.pool == nil {
		return buf[:s.words], nil
	}
	pooled := s.pool.Get().(*bitset)
	clear(*pooled)
	return *pooled, pooled
}

// put returns a set obtained from get to the pool.
func (s scratch) put(pooled *bitset) {
	if pooled != nil {
		s.pool.Put(pooled)
	}
}
