// Package supervisor holds the decision logic used to supervise provider
// processes: when to restart a crashed provider, how long to wait first, when
// to give up, and when repeated health-check failures make a provider
// degraded.
//
// The package is pure: it starts no goroutines and does no I/O. Time comes
// from an injected Clock, randomness from an injected function, so every
// decision is reproducible in tests. A Restarter or HealthTracker belongs to
// the single actor that supervises one provider and is not safe for
// concurrent use.
package supervisor
