package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
	"github.com/switchyard-mcp/switchyard/supervisor"
)

// fastSpec is a subprocess spec running the test server with millisecond
// timings.
func fastSpec(id string, env ...string) Spec {
	s := DefaultSpec(id, config.ModeSubprocess)
	s.Command = []string{testbin.Path()}
	s.CallTimeout, s.StartupTimeout, s.StopGrace = 5*time.Second, 10*time.Second, 2*time.Second
	s.IdleTTL, s.HealthInterval = 0, 0 // the tests that need them set them
	s.Restart = supervisor.RestartPolicy{
		MaxRestarts: 3, Window: time.Minute,
		InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Jitter: supervisor.NoJitter, HealthyReset: time.Minute,
	}
	for i := 0; i+1 < len(env); i += 2 {
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		s.Env[env[i]] = env[i+1]
	}
	return s
}

// newRT starts a runtime that is shut down (and checked for leftover
// children) when the test ends.
func newRT(t *testing.T) *Runtime {
	t.Helper()
	return newRTWith(t, Options{Version: "test"})
}

// newRTWith is newRT with options.
func newRTWith(t *testing.T, o Options) *Runtime {
	t.Helper()
	rt := NewRuntime(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return rt
}

// watch subscribes to a provider's events before the action under test.
func watch(t *testing.T, rt *Runtime) *events.Subscription {
	t.Helper()
	sub := rt.Hub().Subscribe(nil, 4096)
	t.Cleanup(sub.Close)
	return sub
}

// waitEvent waits for an event matching ok, failing the test at the deadline.
func waitEvent(t *testing.T, sub *events.Subscription, d time.Duration, what string, ok func(*events.Event) bool) *events.Event {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case e := <-sub.C():
			if ok(e) {
				return e
			}
		case <-sub.Done():
			t.Fatalf("subscription dropped while waiting for %s", what)
		case <-deadline.C:
			t.Fatalf("no %s within %s", what, d)
		}
	}
}

func stateIs(id string, s State) func(*events.Event) bool {
	return func(e *events.Event) bool {
		c, ok := e.Data.(events.ProviderStateChanged)
		return ok && e.ProviderID == id && c.To == string(s)
	}
}

func call(t *testing.T, rt *Runtime, id, tool, args string) *CallReply {
	t.Helper()
	var a []byte
	if args != "" {
		a = []byte(args)
	}
	rep, err := rt.callDirect(context.Background(), id, tool, a)
	if err != nil {
		t.Fatalf("call %s/%s: %v", id, tool, err)
	}
	return rep
}

func text(t *testing.T, rep *CallReply) string {
	t.Helper()
	var r struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(rep.Result, &r); err != nil || len(r.Content) == 0 {
		t.Fatalf("result %s: %v", rep.Result, err)
	}
	return r.Content[0].Text
}

func TestLazyStartAndCall(t *testing.T) {
	rt := newRT(t)
	sub := watch(t, rt)
	if err := rt.Create(fastSpec("p")); err != nil {
		t.Fatal(err)
	}
	info, _ := rt.Get("p")
	if info.State != StateCold || info.Pid != 0 {
		t.Fatalf("a new provider must be cold with no process, got %s pid %d", info.State, info.Pid)
	}
	rep := call(t, rt, "p", "echo", `{"text":"hi"}`)
	if got := text(t, rep); got != "hi" {
		t.Fatalf("echo = %q", got)
	}
	waitEvent(t, sub, 5*time.Second, "ready", stateIs("p", StateReady))
	info, _ = rt.Get("p")
	if info.State != StateReady || !info.Alive || info.Pid == 0 || len(info.Tools) == 0 {
		t.Fatalf("after first call: %+v", info)
	}
	if info.Server == nil || info.Server.ProtocolVersion != "2026-07-28" {
		t.Fatalf("negotiated %+v, want 2026-07-28", info.Server)
	}
	if rep := call(t, rt, "p", "fail", `{"message":"nope"}`); !rep.IsError {
		t.Fatalf("fail tool: want isError result, got %s", rep.Result)
	}
	if _, err := rt.callDirect(context.Background(), "p", "no_such_tool", nil); !errors.Is(err, ErrToolNotFound) {
		t.Fatalf("unknown tool: %v", err)
	}
	if _, err := rt.callDirect(context.Background(), "nobody", "echo", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown provider: %v", err)
	}
}

// newFakeRT is newRT on a fake clock: idle stops, health checks and
// restart backoffs happen only when the test advances it.
func newFakeRT(t *testing.T) (*Runtime, *supervisor.FakeClock) {
	t.Helper()
	clk := supervisor.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	return newRTWith(t, Options{Version: "test", Clock: clk}), clk
}

// waitTimers waits until the runtime's actors have exactly n timers armed.
func waitTimers(t *testing.T, clk *supervisor.FakeClock, n int) {
	t.Helper()
	if !clk.WaitTimers(n, 5*time.Second) {
		t.Fatalf("%d timers armed, want %d", clk.Timers(), n)
	}
}

func TestIdleStop(t *testing.T) {
	rt, clk := newFakeRT(t)
	sub := watch(t, rt)
	spec := fastSpec("idle")
	spec.IdleTTL = 5 * time.Minute
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "idle", "echo", `{"text":"x"}`)
	pid := mustInfo(t, rt, "idle").Pid
	waitTimers(t, clk, 1) // the idle timer
	clk.Advance(spec.IdleTTL)
	e := waitEvent(t, sub, 10*time.Second, "idle stop", stateIs("idle", StateCold))
	if c := e.Data.(events.ProviderStateChanged); c.Reason != "idle" {
		t.Fatalf("reason %q", c.Reason)
	}
	testbin.WaitGone(t, pid, 10*time.Second)
	// Lazy start again, with the tools kept from before.
	if info := mustInfo(t, rt, "idle"); !info.ToolsKnown || len(info.Tools) == 0 {
		t.Fatal("tools should survive an idle stop")
	}
	if got := text(t, call(t, rt, "idle", "echo", `{"text":"again"}`)); got != "again" {
		t.Fatalf("echo after idle stop = %q", got)
	}
}

// TestIdleTTLCountsFromTheLastCall: a call half way through the TTL
// postpones the stop to a full TTL after it, and not a moment longer.
func TestIdleTTLCountsFromTheLastCall(t *testing.T) {
	rt, clk := newFakeRT(t)
	sub := watch(t, rt)
	spec := fastSpec("ttl")
	spec.IdleTTL = time.Minute
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "ttl", "echo", `{"text":"first"}`)
	waitTimers(t, clk, 1)
	clk.Advance(30 * time.Second)
	call(t, rt, "ttl", "echo", `{"text":"half way"}`)
	clk.Advance(30 * time.Second) // the first TTL ends: used 30s ago, not idle
	// The timer fired; the actor re-arms it for the 30s left instead of
	// stopping (a stop arms no idle timer).
	waitTimers(t, clk, 1)
	if info := mustInfo(t, rt, "ttl"); info.State != StateReady {
		t.Fatalf("stopped %s after the last call, TTL %s: %s", 30*time.Second, spec.IdleTTL, info.State)
	}
	clk.Advance(30*time.Second - time.Millisecond)
	if clk.Timers() != 1 {
		t.Fatal("the idle timer fired before a full TTL without calls")
	}
	clk.Advance(time.Millisecond)
	waitEvent(t, sub, 10*time.Second, "idle stop", stateIs("ttl", StateCold))
}

// waitInfo polls a provider's live counters (no event announces them)
// until ok accepts them, failing the test after 5s.
func waitInfo(t *testing.T, rt *Runtime, id string, ok func(*Info) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for info := mustInfo(t, rt, id); !ok(info); info = mustInfo(t, rt, id) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: counters never got there: %d in flight, %d queued", id, info.InFlight, info.Queued)
		}
		time.Sleep(time.Millisecond) // polling published counters
	}
}

func mustInfo(t *testing.T, rt *Runtime, id string) *Info {
	t.Helper()
	info, err := rt.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestCrashRestartsAndNextCallSucceeds(t *testing.T) {
	rt := newRT(t)
	sub := watch(t, rt)
	if err := rt.Create(fastSpec("c")); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "c", "echo", `{"text":"x"}`)
	pid := mustInfo(t, rt, "c").Pid
	_, err := rt.callDirect(context.Background(), "c", "crash", []byte(`{"code":7}`))
	if !errors.Is(err, ErrBackend) {
		t.Fatalf("call to a crashing tool: %v, want a backend error", err)
	}
	waitEvent(t, sub, 5*time.Second, "restart", func(e *events.Event) bool {
		_, ok := e.Data.(events.ProviderRestarting)
		return ok && e.ProviderID == "c"
	})
	if got := text(t, call(t, rt, "c", "echo", `{"text":"back"}`)); got != "back" {
		t.Fatalf("echo after crash = %q", got)
	}
	info := mustInfo(t, rt, "c")
	if info.Restarts != 1 || info.Pid == pid || info.State != StateReady {
		t.Fatalf("after restart: restarts=%d pid=%d (old %d) state=%s", info.Restarts, info.Pid, pid, info.State)
	}
	testbin.WaitGone(t, pid, 10*time.Second)
}

// restarting matches a provider's restart decision with the given attempt.
func restarting(id string, attempt int) func(*events.Event) bool {
	return func(e *events.Event) bool {
		r, ok := e.Data.(events.ProviderRestarting)
		return ok && e.ProviderID == id && r.Attempt == attempt
	}
}

func TestDeadAfterTooManyRestarts(t *testing.T) {
	rt, clk := newFakeRT(t)
	sub := watch(t, rt)
	spec := fastSpec("d", "SY_TESTSERVER_MODE", "exit")
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := rt.callDirect(context.Background(), "d", "echo", []byte(`{"text":"x"}`))
		done <- err
	}()
	// The first crash restarts at once, the next ones after a backoff.
	waitEvent(t, sub, 10*time.Second, "restart 1", restarting("d", 1))
	for _, step := range []struct {
		attempt int
		delay   time.Duration
	}{{2, 20 * time.Millisecond}, {3, 40 * time.Millisecond}} {
		e := waitEvent(t, sub, 10*time.Second, fmt.Sprintf("restart %d", step.attempt), restarting("d", step.attempt))
		if got := e.Data.(events.ProviderRestarting).DelayMs; got != ms(step.delay) {
			t.Fatalf("attempt %d waits %vms, want %s", step.attempt, got, step.delay)
		}
		waitTimers(t, clk, 1)
		clk.Advance(step.delay)
	}
	waitEvent(t, sub, 10*time.Second, "alert", func(e *events.Event) bool {
		a, ok := e.Data.(events.Alert)
		return ok && e.ProviderID == "d" && a.Level == "critical"
	})
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("call to a provider that cannot start: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call waiting for a provider that went dead was not answered")
	}
	info := mustInfo(t, rt, "d")
	if info.State != StateDead || info.Restarts != 3 || !strings.Contains(info.LastError, "restarts") {
		t.Fatalf("dead provider: %+v", info)
	}
	if _, err := rt.callDirect(context.Background(), "d", "echo", nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("call to a dead provider: %v", err)
	}
}

// TestRestartBackoffWaitsOnTheClock: a restart after a backoff happens when
// the backoff has passed on the runtime's clock, not before.
func TestRestartBackoffWaitsOnTheClock(t *testing.T) {
	rt, clk := newFakeRT(t)
	sub := watch(t, rt)
	spec := fastSpec("b", "SY_TESTSERVER_MODE", "exit")
	spec.Restart.MaxRestarts = 10
	spec.Restart.InitialBackoff = 10 * time.Second
	spec.Restart.MaxBackoff = time.Hour
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = rt.callDirect(context.Background(), "b", "echo", nil) }()
	e := waitEvent(t, sub, 10*time.Second, "restart 2", restarting("b", 2))
	if got := e.Data.(events.ProviderRestarting).DelayMs; got != 10000 {
		t.Fatalf("second restart waits %vms, want 10000", got)
	}
	waitTimers(t, clk, 1)
	clk.Advance(10*time.Second - time.Millisecond)
	if clk.Timers() != 1 {
		t.Fatal("the restart timer fired before its backoff passed")
	}
	clk.Advance(time.Millisecond)
	e = waitEvent(t, sub, 10*time.Second, "restart 3", restarting("b", 3))
	if got := e.Data.(events.ProviderRestarting).DelayMs; got != 20000 {
		t.Fatalf("third restart waits %vms, want 20000 (doubled)", got)
	}
	if info := mustInfo(t, rt, "b"); info.Restarts != 3 || info.State != StateInitializing {
		t.Fatalf("after three failed starts: restarts=%d state=%s", info.Restarts, info.State)
	}
}

func TestHungCallTimesOutWithoutBlockingTheMailbox(t *testing.T) {
	rt := newRT(t)
	spec := fastSpec("h")
	spec.CallTimeout = 300 * time.Millisecond
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "h", "echo", `{"text":"warm"}`)
	hung := make(chan error, 1)
	go func() {
		_, err := rt.callDirect(context.Background(), "h", "hang", nil)
		hung <- err
	}()
	// While the hang is in flight the actor keeps answering.
	for i := 0; i < 5; i++ {
		if got := text(t, call(t, rt, "h", "echo", fmt.Sprintf(`{"text":"%d"}`, i))); got != fmt.Sprint(i) {
			t.Fatalf("echo %d = %q", i, got)
		}
	}
	if _, err := rt.History("h", 10, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-hung:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("hung call: %v, want timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hung call never timed out")
	}
	if info := mustInfo(t, rt, "h"); info.State != StateReady {
		t.Fatalf("a tool timeout must not change the state: %s", info.State)
	}
}

func TestGarbageAndFloodDegradeWithoutExhaustingMemory(t *testing.T) {
	rt := newRT(t)
	sub := watch(t, rt)
	spec := fastSpec("g")
	spec.MaxMessage = 64 << 10
	spec.DegradedAfter = 3
	spec.HealthInterval = time.Hour
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "g", "noise", `{"lines":5}`)
	waitEvent(t, sub, 5*time.Second, "degraded", stateIs("g", StateDegraded))
	// A flood far over the limit is skipped, the connection survives.
	call(t, rt, "g", "flood", `{"bytes":5000000}`)
	if got := text(t, call(t, rt, "g", "echo", `{"text":"still here"}`)); got != "still here" {
		t.Fatalf("echo after flood = %q", got)
	}
	// A result over the limit fails its own call instead of hanging.
	if _, err := rt.callDirect(context.Background(), "g", "big", []byte(`{"bytes":200000}`)); err == nil || !strings.Contains(err.Error(), "size limit") {
		t.Fatalf("oversized result: %v", err)
	}
}

func TestGarbageFromStartGoesDead(t *testing.T) {
	rt := newRT(t)
	sub := watch(t, rt)
	spec := fastSpec("gs", "SY_TESTSERVER_MODE", "garbage")
	spec.StartupTimeout = 500 * time.Millisecond
	spec.MaxMessage = 4 << 10
	spec.Restart.MaxRestarts = 1
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.callDirect(context.Background(), "gs", "echo", nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("garbage server: %v", err)
	}
	// The call fails with the first start; the one restart fails too.
	waitEvent(t, sub, 10*time.Second, "dead", stateIs("gs", StateDead))
	if info := mustInfo(t, rt, "gs"); info.State != StateDead || info.Pid != 0 {
		t.Fatalf("garbage server: %+v", info)
	}
}

func TestStopStartAndDelete(t *testing.T) {
	rt := newRT(t)
	if err := rt.Create(fastSpec("s")); err != nil {
		t.Fatal(err)
	}
	if err := rt.Create(fastSpec("s")); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	state, err := rt.Start(context.Background(), "s")
	if err != nil || state != StateReady {
		t.Fatalf("start: %s %v", state, err)
	}
	pid := mustInfo(t, rt, "s").Pid
	if state, _ := rt.Stop("s", "test"); state != StateStopped {
		t.Fatalf("stop: %s", state)
	}
	testbin.WaitGone(t, pid, 10*time.Second)
	if _, err := rt.callDirect(context.Background(), "s", "echo", nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("call to a stopped provider: %v", err)
	}
	if state, err := rt.Start(context.Background(), "s"); err != nil || state != StateReady {
		t.Fatalf("restart: %s %v", state, err)
	}
	call(t, rt, "s", "echo", `{"text":"x"}`)
	var metrics bytes.Buffer
	rt.WriteMetrics(&metrics)
	if !strings.Contains(metrics.String(), `switchyard_tool_calls_total{provider="s",tool="echo",outcome="ok"} 1`) {
		t.Fatalf("metrics miss the call:\n%s", metrics.String())
	}
	pid = mustInfo(t, rt, "s").Pid
	if err := rt.Delete("s"); err != nil {
		t.Fatal(err)
	}
	testbin.WaitGone(t, pid, 10*time.Second)
	if _, err := rt.Get("s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	metrics.Reset()
	rt.WriteMetrics(&metrics)
	if strings.Contains(metrics.String(), `provider="s"`) {
		t.Fatalf("series of a deleted provider remain:\n%s", metrics.String())
	}
}

func TestChildEnvIsIsolated(t *testing.T) {
	t.Setenv("SWITCHYARD_SECRET_FOR_TEST", "leak")
	rt := newRT(t)
	if err := rt.Create(fastSpec("e", "GIVEN", "yes")); err != nil {
		t.Fatal(err)
	}
	if got := text(t, call(t, rt, "e", "env", `{"name":"SWITCHYARD_SECRET_FOR_TEST"}`)); got != "" {
		t.Fatalf("child sees the gateway's env: %q", got)
	}
	if got := text(t, call(t, rt, "e", "env", `{"name":"GIVEN"}`)); got != "yes" {
		t.Fatalf("configured env: %q", got)
	}
}

func TestConcurrentCallsAndHistory(t *testing.T) {
	rt := newRT(t)
	if err := rt.Create(fastSpec("cc")); err != nil {
		t.Fatal(err)
	}
	const n = 64
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			rep, err := rt.callDirect(context.Background(), "cc", "sleep", []byte(`{"ms":50}`))
			if err == nil && rep.IsError {
				err = fmt.Errorf("tool error %s", rep.Result)
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	h, err := rt.History("cc", 500, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Total != n || len(h.Records) != n {
		t.Fatalf("history total %d records %d, want %d", h.Total, len(h.Records), n)
	}
	if h2, _ := rt.History("cc", 10, 60); len(h2.Records) != 4 || h2.Records[0].Position != 60 {
		t.Fatalf("history page from 60: %+v", h2.Records)
	}
}

func TestShutdownLeavesNoChild(t *testing.T) {
	rt := NewRuntime(Options{})
	var pids []int
	for _, id := range []string{"a", "b", "c"} {
		if err := rt.Create(fastSpec(id)); err != nil {
			t.Fatal(err)
		}
		call(t, rt, id, "echo", `{"text":"x"}`)
		pids = append(pids, mustInfo(t, rt, id).Pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if testbin.Alive(pid) {
			t.Fatalf("child %d survived shutdown", pid)
		}
		if err := syscall.Kill(pid, 0); err == nil {
			t.Fatalf("child %d not reaped", pid)
		}
	}
	if _, err := rt.callDirect(context.Background(), "a", "echo", nil); !errors.Is(err, ErrShutdown) {
		t.Fatalf("call after shutdown: %v", err)
	}
}

func TestLogsKeepStderr(t *testing.T) {
	rt := newRT(t)
	sub := watch(t, rt)
	if err := rt.Create(fastSpec("l")); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "l", "stderr", `{"n":3,"text":"hello"}`)
	waitEvent(t, sub, 5*time.Second, "third log line", func(e *events.Event) bool {
		l, ok := e.Data.(events.ProviderLog)
		return ok && l.Line == "hello 3"
	})
	lines, err := rt.Logs("l", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Line != "hello 2" || lines[1].Line != "hello 3" {
		t.Fatalf("last two lines: %+v", lines)
	}
}

func TestCancelledCallIsAbandoned(t *testing.T) {
	rt := newRT(t)
	sub := watch(t, rt)
	if err := rt.Create(fastSpec("x")); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "x", "echo", `{"text":"warm"}`)
	waitInFlight := func(want int) {
		waitInfo(t, rt, "x", func(i *Info) bool { return i.InFlight == want })
	}
	waitInFlight(0) // the warm-up call is fully accounted for
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := rt.callDirect(ctx, "x", "hang", nil)
		done <- err
	}()
	waitInFlight(1) // cancel once the hang is really at the backend
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrCancelled) {
			t.Fatalf("cancelled call: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled call did not return")
	}
	waitEvent(t, sub, 5*time.Second, "the abandoned call to finish", func(e *events.Event) bool {
		inv, ok := e.Data.(events.ToolInvoked)
		return ok && inv.Tool == "hang"
	})
	if got := text(t, call(t, rt, "x", "echo", `{"text":"after"}`)); got != "after" {
		t.Fatalf("echo after cancel = %q", got)
	}
}

func TestHealthChecksPassAndDoNotKeepAlive(t *testing.T) {
	rt, clk := newFakeRT(t)
	sub := watch(t, rt)
	spec := fastSpec("hc")
	spec.HealthInterval = time.Second
	spec.IdleTTL = 3500 * time.Millisecond
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "hc", "echo", `{"text":"x"}`)
	waitTimers(t, clk, 2) // idle and health
	for i := 1; i <= 3; i++ {
		clk.Advance(spec.HealthInterval)
		// The check ran once the actor has armed the next one.
		waitTimers(t, clk, 2)
		if n := len(mustInfo(t, rt, "hc").Health); n != i {
			t.Fatalf("after %d intervals %d health checks ran", i, n)
		}
	}
	// Three checks passed, yet the provider goes idle on time.
	clk.Advance(500 * time.Millisecond)
	waitEvent(t, sub, 10*time.Second, "idle stop", stateIs("hc", StateCold))
	for _, c := range mustInfo(t, rt, "hc").Health {
		if !c.OK {
			t.Fatalf("a health check failed against a healthy server: %+v", c)
		}
	}
}

func TestConcurrencyLimitQueuesThenRefuses(t *testing.T) {
	rt := newRT(t)
	spec := fastSpec("q")
	spec.MaxConcurrency = 2
	spec.MaxQueue = 1
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "q", "echo", `{"text":"warm"}`)
	type result struct {
		rep *CallReply
		err error
	}
	results := make(chan result, 3)
	for i := 0; i < 3; i++ { // two in flight, one queued
		go func() {
			rep, err := rt.callDirect(context.Background(), "q", "sleep", []byte(`{"ms":300}`))
			results <- result{rep, err}
		}()
	}
	waitInfo(t, rt, "q", func(i *Info) bool { return i.InFlight >= 2 && i.Queued >= 1 })
	// Slots and queue are full: the next call is refused at once, retryable.
	rep, err := rt.callDirect(context.Background(), "q", "echo", []byte(`{"text":"x"}`))
	if !errors.Is(err, ErrBusy) || rep == nil || !rep.Retryable {
		t.Fatalf("call beyond the limit: %v (%+v)", err, rep)
	}
	for i := 0; i < 3; i++ {
		if r := <-results; r.err != nil {
			t.Fatalf("queued or running call failed: %v", r.err)
		}
	}
}

// TestFailedStartFailsWaitingCallsAtOnce: a call waiting for a start that
// fails is answered then, not after the backoff and later attempts; a call
// during the backoff is refused at once. Both are retryable.
func TestFailedStartFailsWaitingCallsAtOnce(t *testing.T) {
	rt := newRT(t)
	sub := watch(t, rt)
	spec := fastSpec("hs")
	spec.Command = []string{"sh", "-c", "exit 1"}
	spec.Restart.InitialBackoff = time.Hour
	spec.Restart.MaxBackoff = time.Hour
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	// Far less than StartupTimeout+CallTimeout (15s), the budget the call
	// would otherwise wait out.
	const prompt = 3 * time.Second
	answer := func(what string) (*CallReply, error) {
		t.Helper()
		type result struct {
			rep *CallReply
			err error
		}
		done := make(chan result, 1)
		go func() {
			rep, err := rt.callDirect(context.Background(), "hs", "echo", []byte(`{"text":"x"}`))
			done <- result{rep, err}
		}()
		select {
		case r := <-done:
			return r.rep, r.err
		case <-time.After(prompt):
			t.Fatalf("%s: no answer within %s", what, prompt)
			return nil, nil
		}
	}
	rep, err := answer("call during the first start")
	if !errors.Is(err, ErrUnavailable) || rep == nil || !rep.Retryable || !strings.Contains(err.Error(), "failed to start") {
		t.Fatalf("call during a failing start: %v (%+v)", err, rep)
	}
	// The immediate restart fails too; the next one waits an hour.
	waitEvent(t, sub, 10*time.Second, "restart 2", restarting("hs", 2))
	rep, err = answer("call during the backoff")
	if !errors.Is(err, ErrUnavailable) || rep == nil || !rep.Retryable || !strings.Contains(err.Error(), "next attempt in") {
		t.Fatalf("call during a backoff: %v (%+v)", err, rep)
	}
	if _, err := rt.Tools(context.Background(), "hs", true); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("tool discovery during a backoff: %v", err)
	}
}

// TestCrashLoopAnswersEveryCallInTime kills a provider's child again and
// again under load: every call is answered, by a result or an error,
// within CallTimeout + 1s, also while a restart waits out its backoff.
func TestCrashLoopAnswersEveryCallInTime(t *testing.T) {
	rt, clk := newFakeRT(t)
	sub := watch(t, rt)
	spec := fastSpec("loop")
	spec.CallTimeout = 2 * time.Second
	spec.Restart.MaxRestarts = 20
	spec.Restart.InitialBackoff = time.Minute // on the fake clock
	spec.Restart.MaxBackoff = time.Hour
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "loop", "echo", `{"text":"warm"}`)
	const callers, kills = 8, 4
	limit := spec.CallTimeout + time.Second
	var (
		phase    atomic.Int64           // bumped at each restart decision
		answered [callers]atomic.Int64  // the phase in which each caller's last answered call began
		slowest  [callers]time.Duration // written by its caller only
		ok, bad  atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	stopCallers := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopCallers) // before the runtime's shutdown
	for i := range callers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				began, at := phase.Load(), time.Now()
				_, err := rt.callDirect(context.Background(), "loop", "sleep", []byte(`{"ms":5}`))
				slowest[i] = max(slowest[i], time.Since(at))
				if err == nil {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
				answered[i].Store(began)
			}
		})
	}
	// allAnswered waits until every caller had a call answered that began
	// in the current phase.
	allAnswered := func(what string) {
		t.Helper()
		deadline := time.Now().Add(limit)
		p := phase.Load()
		for i := range callers {
			for answered[i].Load() < p {
				if time.Now().After(deadline) {
					t.Fatalf("%s: caller %d has had no call answered within %s", what, i, limit)
				}
				time.Sleep(time.Millisecond) // polling the callers' counters
			}
		}
	}
	for k := 1; k <= kills; k++ {
		pid := mustInfo(t, rt, "loop").Pid
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		e := waitEvent(t, sub, 10*time.Second, fmt.Sprintf("restart %d", k), restarting("loop", k))
		phase.Add(1)
		if delay := e.Data.(events.ProviderRestarting).DelayMs; delay > 0 {
			// While the backoff runs (it only ends when the clock is
			// advanced), calls are answered anyway.
			allAnswered(fmt.Sprintf("backoff after kill %d", k))
			waitTimers(t, clk, 1)
			clk.Advance(time.Duration(delay * float64(time.Millisecond)))
		}
		waitEvent(t, sub, 10*time.Second, fmt.Sprintf("ready after kill %d", k), stateIs("loop", StateReady))
		phase.Add(1)
		allAnswered(fmt.Sprintf("ready after kill %d", k))
	}
	stopCallers()
	for i, d := range slowest {
		if d > limit {
			t.Fatalf("caller %d waited %s for an answer, more than %s", i, d, limit)
		}
	}
	if ok.Load() == 0 || bad.Load() == 0 {
		t.Fatalf("%d calls succeeded, %d failed: want both", ok.Load(), bad.Load())
	}
	t.Logf("%d calls succeeded, %d failed over %d kills", ok.Load(), bad.Load(), kills)
}

// panicActor makes a provider's actor panic; its supervisor restarts it.
func panicActor(t *testing.T, rt *Runtime, sub *events.Subscription, id string) {
	t.Helper()
	ref, err := rt.lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	rt.system.Root.Send(ref.pid, &inMailbox{f: func() { panic("provider " + id + ": panic requested") }})
	e := waitEvent(t, sub, 10*time.Second, id+" restarting", stateIs(id, StateCold))
	if r := e.Data.(events.ProviderStateChanged).Reason; r != "actor restarting" {
		t.Fatalf("%s went cold for %q", id, r)
	}
}

// TestPanicKeepsUpdatesPinAndQuarantine: a provider actor restarted after
// a panic resumes from its current spec (a PUT's changes, the pinned
// fingerprint) and keeps a quarantine, instead of starting over from the
// spec it was created with.
func TestPanicKeepsUpdatesPinAndQuarantine(t *testing.T) {
	rt := newRT(t)
	sub := watch(t, rt)
	for _, id := range []string{"pinned", "poisoned"} {
		if err := rt.Create(fastSpec(id, "GIVEN", "before")); err != nil {
			t.Fatal(err)
		}
		call(t, rt, id, "echo", `{"text":"warm"}`)
	}
	desc, idle, health := "updated", time.Hour, 30*time.Minute
	if err := rt.Update("pinned", &Update{Description: &desc, Env: map[string]string{"GIVEN": "after"}, IdleTTL: &idle, HealthInterval: &health}); err != nil {
		t.Fatal(err)
	}
	tools := mustInfo(t, rt, "pinned").Tools
	if err := rt.pin("pinned", Fingerprint(tools), tools); err != nil {
		t.Fatal(err)
	}
	if err := rt.pin("poisoned", "sha256:not-what-it-serves", nil); err != nil {
		t.Fatal(err)
	}
	if q := mustInfo(t, rt, "poisoned").Quarantine; q == "" {
		t.Fatal("a provider serving other tools than pinned is not quarantined")
	}

	panicActor(t, rt, sub, "pinned")
	panicActor(t, rt, sub, "poisoned")

	s := mustInfo(t, rt, "pinned").Spec
	if s.Description != desc || s.Env["GIVEN"] != "after" || s.IdleTTL != idle || s.HealthInterval != health || s.Pinned != Fingerprint(tools) {
		t.Fatalf("spec after a panic: description %q env %v idle %s health %s pinned %q", s.Description, s.Env, s.IdleTTL, s.HealthInterval, s.Pinned)
	}
	// It still serves, from a new process started with the updated env.
	if got := text(t, call(t, rt, "pinned", "env", `{"name":"GIVEN"}`)); got != "after" {
		t.Fatalf("env after a panic: %q", got)
	}
	if _, err := rt.callDirect(context.Background(), "poisoned", "echo", []byte(`{"text":"x"}`)); !errors.Is(err, ErrQuarantined) {
		t.Fatalf("call to a quarantined provider after a panic: %v", err)
	}
	// The pin is still checked: a pinned tool that goes quarantines it.
	call(t, rt, "pinned", "remove_tool", `{"name":"add"}`)
	waitEvent(t, sub, 10*time.Second, "poisoning detected", func(e *events.Event) bool {
		_, ok := e.Data.(events.ToolPoisoningDetected)
		return ok && e.ProviderID == "pinned"
	})
}

// TestSlowDeleteDoesNotHoldUpCreate: while a deleted provider's actor is
// slow to stop, the supervisor still creates other providers; the delete
// returns once the actor is gone, with its series and id removed.
func TestSlowDeleteDoesNotHoldUpCreate(t *testing.T) {
	rt := newRT(t)
	sub := watch(t, rt)
	if err := rt.Create(fastSpec("slow")); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "slow", "echo", `{"text":"x"}`)
	ref, err := rt.lookup("slow")
	if err != nil {
		t.Fatal(err)
	}
	// Hold the actor's mailbox: its stop waits until release is closed.
	held, release := make(chan struct{}), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	rt.system.Root.Send(ref.pid, &inMailbox{f: func() { close(held); <-release }})
	<-held

	deleted := make(chan error, 1)
	go func() { deleted <- rt.Delete("slow") }()
	// The supervisor unregisters the provider before it stops it.
	waitGone := time.Now().Add(5 * time.Second)
	for _, err := rt.Get("slow"); err == nil; _, err = rt.Get("slow") {
		if time.Now().After(waitGone) {
			t.Fatal("the deleted provider is still registered")
		}
		time.Sleep(time.Millisecond) // polling the registry
	}
	created := make(chan error, 1)
	go func() { created <- rt.Create(fastSpec("other")) }()
	select {
	case err := <-created:
		if err != nil {
			t.Fatalf("create during a slow delete: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a create waited for another provider's stop")
	}
	select {
	case err := <-deleted:
		t.Fatalf("delete returned (%v) before the actor stopped", err)
	default:
	}
	if err := rt.Create(fastSpec("slow")); !errors.Is(err, ErrExists) {
		t.Fatalf("create of an id still being deleted: %v", err)
	}

	releaseOnce()
	select {
	case err := <-deleted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("delete never returned")
	}
	// Complete when it returns: the event is out, the series are gone.
	waitEvent(t, sub, time.Second, "removal", func(e *events.Event) bool {
		_, ok := e.Data.(events.ProviderRemoved)
		return ok && e.ProviderID == "slow"
	})
	var metrics bytes.Buffer
	rt.WriteMetrics(&metrics)
	if strings.Contains(metrics.String(), `provider="slow"`) {
		t.Fatalf("series of a deleted provider remain:\n%s", metrics.String())
	}
	if _, err := rt.callDirect(context.Background(), "slow", "echo", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("call to a deleted provider: %v", err)
	}
	if err := rt.Create(fastSpec("slow")); err != nil {
		t.Fatalf("create again after the delete: %v", err)
	}
}

// logRecorder is a slog handler keeping the records it is given.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count returns how many records about provider id were logged at each
// level, and their messages.
func (l *logRecorder) count(id string) (map[slog.Level]int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := map[slog.Level]int{}
	var lines []string
	for _, r := range l.records {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "provider" && a.Value.String() == id {
				n[r.Level]++
				lines = append(lines, r.Level.String()+" "+r.Message)
				return false
			}
			return true
		})
	}
	return n, lines
}

// TestSupervisorDecisionsAreLogged: every restart decision is one WARN
// line, giving up one ERROR line, and each start one INFO line.
func TestSupervisorDecisionsAreLogged(t *testing.T) {
	logs := &logRecorder{}
	clk := supervisor.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := newRTWith(t, Options{Version: "test", Clock: clk, Logger: slog.New(logs)})
	sub := watch(t, rt)

	if err := rt.Create(fastSpec("up")); err != nil {
		t.Fatal(err)
	}
	call(t, rt, "up", "echo", `{"text":"x"}`)
	if _, err := rt.callDirect(context.Background(), "up", "crash", []byte(`{"code":1}`)); err == nil {
		t.Fatal("crash returned a result")
	}
	waitEvent(t, sub, 10*time.Second, "restart", restarting("up", 1))
	waitEvent(t, sub, 10*time.Second, "ready again", stateIs("up", StateReady))
	if n, lines := logs.count("up"); n[slog.LevelInfo] != 2 || n[slog.LevelWarn] != 1 || n[slog.LevelError] != 0 {
		t.Fatalf("a start, a crash and a restart logged %v", lines)
	}

	const k = 3
	spec := fastSpec("down", "SY_TESTSERVER_MODE", "exit")
	spec.Restart.MaxRestarts = k
	if err := rt.Create(spec); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = rt.callDirect(context.Background(), "down", "echo", nil) }()
	for attempt := 1; attempt <= k; attempt++ {
		e := waitEvent(t, sub, 10*time.Second, fmt.Sprintf("restart %d", attempt), restarting("down", attempt))
		if d := e.Data.(events.ProviderRestarting).DelayMs; d > 0 {
			waitTimers(t, clk, 1)
			clk.Advance(time.Duration(d * float64(time.Millisecond)))
		}
	}
	waitEvent(t, sub, 10*time.Second, "dead", stateIs("down", StateDead))
	if n, lines := logs.count("down"); n[slog.LevelWarn] != k || n[slog.LevelError] != 1 || n[slog.LevelInfo] != 0 {
		t.Fatalf("%d failed starts and a give-up logged %v", k+1, lines)
	}
}
