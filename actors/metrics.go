package actors

import (
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// outcomes are the values of the outcome label of tool call counters.
var outcomes = [...]string{"ok", "tool_error", "error", "timeout", "busy", "transport_error"}

var allStates = [...]State{StateCold, StateInitializing, StateReady, StateDegraded, StateDead, StateStopped}

// toolStats holds one tool's series, resolved once so the call path does no
// name formatting or map lookups.
type toolStats struct {
	calls    [len(outcomes)]*metrics.Counter
	latency  *metrics.PrometheusHistogram
	inflight *metrics.Gauge
}

func (t *toolStats) observe(outcome string, d time.Duration) {
	for i, o := range outcomes {
		if o == outcome {
			t.calls[i].Inc()
			break
		}
	}
	if d > 0 {
		t.latency.Update(d.Seconds())
	}
}

// runtimeMetrics owns the runtime's metric set and the series of each
// provider, so a deleted provider's series can be removed.
type runtimeMetrics struct {
	set   *metrics.Set
	mu    sync.Mutex
	names map[string]map[string]struct{}
}

func newRuntimeMetrics() *runtimeMetrics {
	return &runtimeMetrics{set: metrics.NewSet(), names: map[string]map[string]struct{}{}}
}

func label(provider string, kv ...string) string {
	b := make([]byte, 0, 64)
	b = append(b, `{provider=`...)
	b = strconv.AppendQuote(b, provider)
	for i := 0; i+1 < len(kv); i += 2 {
		b = append(b, ',')
		b = append(b, kv[i]...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, kv[i+1])
	}
	return string(append(b, '}'))
}

func (m *runtimeMetrics) remember(provider, name string) string {
	m.mu.Lock()
	set := m.names[provider]
	if set == nil {
		set = map[string]struct{}{}
		m.names[provider] = set
	}
	set[name] = struct{}{}
	m.mu.Unlock()
	return name
}

func (m *runtimeMetrics) tool(provider, tool string) *toolStats {
	ts := &toolStats{}
	for i, o := range outcomes {
		ts.calls[i] = m.set.GetOrCreateCounter(m.remember(provider, "switchyard_tool_calls_total"+label(provider, "tool", tool, "outcome", o)))
	}
	ts.latency = m.set.GetOrCreatePrometheusHistogram(m.remember(provider, "switchyard_tool_call_duration_seconds"+label(provider, "tool", tool)))
	ts.inflight = m.set.GetOrCreateGauge(m.remember(provider, "switchyard_tool_calls_in_flight"+label(provider, "tool", tool)), nil)
	return ts
}

func (m *runtimeMetrics) setState(provider string, s State) {
	for _, st := range allStates {
		g := m.set.GetOrCreateGauge(m.remember(provider, "switchyard_provider_state"+label(provider, "state", string(st))), nil)
		if st == s {
			g.Set(1)
		} else {
			g.Set(0)
		}
	}
}

func (m *runtimeMetrics) restart(provider string) {
	m.set.GetOrCreateCounter(m.remember(provider, "switchyard_provider_restarts_total"+label(provider))).Inc()
}

// remove drops every series of a provider.
func (m *runtimeMetrics) remove(provider string) {
	m.mu.Lock()
	names := m.names[provider]
	delete(m.names, provider)
	m.mu.Unlock()
	for n := range names {
		m.set.UnregisterMetric(n)
	}
}

// busy counts a call refused because the provider was at its concurrency
// limit with a full queue.
func (m *runtimeMetrics) busy(provider string) {
	m.set.GetOrCreateCounter(m.remember(provider, "switchyard_provider_rejected_total"+label(provider, "reason", "busy"))).Inc()
}
