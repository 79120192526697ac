package supervisor

// HealthTracker counts consecutive failed health checks or protocol errors
// and reports when a provider becomes degraded and when it recovers. It is
// not safe for concurrent use.
type HealthTracker struct {
	threshold int
	failures  int
	degraded  bool
}

// NewHealthTracker returns a tracker that turns degraded after threshold
// consecutive failures; threshold <= 0 means 1.
func NewHealthTracker(threshold int) *HealthTracker {
	return &HealthTracker{threshold: max(threshold, 1)}
}

// Fail records a failure and reports whether it made the provider degraded.
func (h *HealthTracker) Fail() (becameDegraded bool) {
	h.failures++
	if h.degraded || h.failures < h.threshold {
		return false
	}
	h.degraded = true
	return true
}

// OK records a success, clearing the failure count, and reports whether the
// provider was degraded until now.
func (h *HealthTracker) OK() (recovered bool) {
	recovered = h.degraded
	h.failures = 0
	h.degraded = false
	return recovered
}

// Failures returns the number of consecutive failures.
func (h *HealthTracker) Failures() int { return h.failures }

// Degraded reports whether the failure count has reached the threshold.
func (h *HealthTracker) Degraded() bool { return h.degraded }
