package transports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// backendOpts configures startBackend.
type backendOpts struct {
	command     []string // default: the test server
	env         []string // the child's whole environment
	maxMessage  int
	grace       time.Duration
	noHandshake bool
}

// backend is a subprocess under test with everything it reported.
type backend struct {
	t         testing.TB
	proc      *Process
	sess      *Session
	stderr    chan string
	protoErrs chan error
	notes     chan wireMsg
	exited    chan error
}

// startBackend starts a subprocess backend (the test server unless told
// otherwise), shakes hands with it unless told not to, and makes sure it is
// stopped and its whole process group gone when the test ends.
func startBackend(t testing.TB, o backendOpts) *backend {
	t.Helper()
	if o.command == nil {
		o.command = []string{testbin.TestServer(t)}
	}
	if o.grace == 0 {
		o.grace = 2 * time.Second
	}
	b := &backend{
		t:         t,
		stderr:    make(chan string, 4096),
		protoErrs: make(chan error, 4096),
		notes:     make(chan wireMsg, 1024),
		exited:    make(chan error, 2),
	}
	proc, err := StartProcess(ProcessSpec{
		Command:   o.command,
		Env:       o.env,
		StopGrace: o.grace,
		Mux: MuxOptions{
			MaxMessage: o.maxMessage,
			OnProtocolError: func(err error) {
				select {
				case b.protoErrs <- err:
				default:
				}
			},
			OnNotification: func(method string, params json.RawMessage) {
				select {
				case b.notes <- wireMsg{Method: method, Params: params}:
				default:
				}
			},
		},
		OnStderr: func(line string) {
			select {
			case b.stderr <- line:
			default:
			}
		},
		OnExit: func(err error) { b.exited <- err },
	})
	if err != nil {
		t.Fatalf("StartProcess: %v", err)
	}
	b.proc = proc
	t.Cleanup(b.stop)
	if !o.noHandshake {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		sess, err := Handshake(ctx, proc.Mux(), ClientInfo{Name: "switchyard-test", Version: "0"})
		if err != nil {
			t.Fatalf("Handshake: %v", err)
		}
		b.sess = sess
	}
	return b
}

// stop stops the process, waits for it, and checks that its process group
// is gone.
func (b *backend) stop() {
	b.proc.Stop()
	b.waitDone()
	waitGroupGone(b.t, b.proc.Pid())
}

// waitDone waits for the process to have exited and been cleaned up.
func (b *backend) waitDone() {
	b.t.Helper()
	select {
	case <-b.proc.Done():
	case <-time.After(waitFor):
		_ = syscall.Kill(-b.proc.Pid(), syscall.SIGKILL)
		<-b.proc.Done()
		b.t.Fatalf("process %d not done within %v", b.proc.Pid(), waitFor)
	}
}

// exitErr waits for OnExit and returns its error.
func (b *backend) exitErr() error {
	b.t.Helper()
	select {
	case err := <-b.exited:
		return err
	case <-time.After(waitFor):
		b.t.Fatalf("OnExit not called within %v", waitFor)
		return nil
	}
}

// toolResult is the part of a CallToolResult the tests look at.
type toolResult struct {
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	IsError bool `json:"isError"`
}

// goTool starts a tools/call and returns its pending call.
func (b *backend) goTool(name, args string, timeout time.Duration) (*call, int64) {
	b.t.Helper()
	c := newCall(b.t)
	var a []byte
	if args != "" {
		a = []byte(args)
	}
	id, err := b.sess.GoCall(name, a, timeout, c.cb)
	if err != nil {
		b.t.Fatalf("GoCall %s: %v", name, err)
	}
	return c, id
}

// text decodes a tool call's Response into its text content.
func text(t testing.TB, r Response) (string, error) {
	t.Helper()
	if r.Err != nil {
		return "", r.Err
	}
	var res toolResult
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Fatalf("tool result %s: %v", r.Result, err)
	}
	if res.IsError {
		return "", fmt.Errorf("tool error: %+v", res.Content)
	}
	var sb strings.Builder
	for _, c := range res.Content {
		sb.WriteString(c.Text)
	}
	return sb.String(), nil
}

// tool calls a tool and returns its text.
func (b *backend) tool(name, args string) string {
	b.t.Helper()
	return toolText(b.t, b.sess, name, args, waitFor)
}

// callTool makes a tools/call (args "" for none) and waits for its
// Response.
func callTool(t testing.TB, sess *Session, name, args string, timeout time.Duration) Response {
	t.Helper()
	c := newCall(t)
	var a []byte
	if args != "" {
		a = []byte(args)
	}
	if _, err := sess.GoCall(name, a, timeout, c.cb); err != nil {
		t.Fatalf("GoCall %s: %v", name, err)
	}
	return c.wait()
}

// toolText calls a tool and returns its text, failing the test on any
// error.
func toolText(t testing.TB, sess *Session, name, args string, timeout time.Duration) string {
	t.Helper()
	s, err := text(t, callTool(t, sess, name, args, timeout))
	if err != nil {
		t.Fatalf("%s(%s): %v", name, args, err)
	}
	return s
}

// groupMembers lists the live (not zombie) processes in process group pgid.
func groupMembers(t testing.TB, pgid int) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 3 || fields[2] != strconv.Itoa(pgid) || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		out = append(out, strings.TrimSpace(s[:strings.LastIndexByte(s, ')')+1])+" "+fields[0])
	}
	return out
}

// waitGroupGone waits until no live process is left in group pgid. A killed
// process takes a moment to die and /proc offers nothing to wait on, so it
// polls, within a deadline.
func waitGroupGone(t testing.TB, pgid int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		left := groupMembers(t, pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			t.Fatalf("process group %d outlived its process: %v", pgid, left)
		}
		<-tick.C
	}
}

func TestStdioHandshakeListCall(t *testing.T) {
	b := startBackend(t, backendOpts{})
	info := b.sess.Info()
	if info.ProtocolVersion != Protocol20260728 {
		t.Fatalf("protocol %q, want %q", info.ProtocolVersion, Protocol20260728)
	}
	if info.Name != "testserver" {
		t.Fatalf("server name %q, want testserver", info.Name)
	}
	tools, err := b.sess.ListTools(t.Context())
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Name)
		if len(tl.Raw) == 0 || !json.Valid(tl.Raw) {
			t.Fatalf("tool %s has no raw definition", tl.Name)
		}
	}
	for _, want := range []string{"echo", "add", "sleep", "fail", "crash", "stderr", "big", "hang", "noise", "flood", "env", "pid"} {
		if !slices.Contains(names, want) {
			t.Fatalf("tools %v lack %s", names, want)
		}
	}
	tests := []struct {
		tool, args, want string
	}{
		{"echo", `{"text":"hello"}`, "hello"},
		{"echo", `{"text":"ünïcødé \"quoted\"\n"}`, "ünïcødé \"quoted\"\n"},
		{"add", `{"a":2,"b":40}`, "42"},
		{"pid", "", strconv.Itoa(b.proc.Pid())},
	}
	for _, tt := range tests {
		if got := b.tool(tt.tool, tt.args); got != tt.want {
			t.Fatalf("%s(%s) = %q, want %q", tt.tool, tt.args, got, tt.want)
		}
	}
	c, _ := b.goTool("fail", `{"message":"nope"}`, waitFor)
	if _, err := text(t, c.wait()); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("fail tool: %v, want a tool error", err)
	}
	if err := b.sess.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestStdioToolListChanged(t *testing.T) {
	b := startBackend(t, backendOpts{})
	if got := b.tool("add_tool", `{"name":"echo2"}`); got != "added" {
		t.Fatalf("add_tool = %q", got)
	}
	deadline := time.After(waitFor)
	for {
		select {
		case n := <-b.notes:
			if n.Method != "notifications/tools/list_changed" {
				continue
			}
			tools, err := b.sess.ListTools(t.Context())
			if err != nil {
				t.Fatalf("ListTools: %v", err)
			}
			if !slices.ContainsFunc(tools, func(tl Tool) bool { return tl.Name == "echo2" }) {
				t.Fatalf("echo2 missing after the change")
			}
			if got := b.tool("echo2", `{"text":"x"}`); got != "x" {
				t.Fatalf("echo2 = %q", got)
			}
			return
		case <-deadline:
			t.Fatalf("no notifications/tools/list_changed within %v", waitFor)
		}
	}
}

func TestStdioConcurrentCalls(t *testing.T) {
	const n, ms = 64, 300
	b := startBackend(t, backendOpts{})
	base := b.proc.Mux().InFlight() // the subscriptions/listen stream
	calls := make([]*call, n)
	start := time.Now()
	for i := range calls {
		calls[i], _ = b.goTool("sleep", fmt.Sprintf(`{"ms":%d}`, ms), waitFor)
	}
	if got := b.proc.Mux().InFlight() - base; got != n {
		t.Fatalf("InFlight = %d, want %d", got, n)
	}
	for i, c := range calls {
		got, err := text(t, c.wait())
		if err != nil || got != "slept" {
			t.Fatalf("call %d = %q, %v", i, got, err)
		}
	}
	// Run one after another they would take n*ms.
	if el := time.Since(start); el > n*ms*time.Millisecond/4 {
		t.Fatalf("%d calls of %dms took %v: not in flight together", n, ms, el)
	}
}

func TestStdioCrash(t *testing.T) {
	b := startBackend(t, backendOpts{})
	slow, _ := b.goTool("sleep", `{"ms":60000}`, 0)
	crash, _ := b.goTool("crash", `{"code":7}`, 0)
	start := time.Now()
	for name, c := range map[string]*call{"sleep": slow, "crash": crash} {
		r := c.wait()
		if !errors.Is(r.Err, ErrClosed) {
			t.Fatalf("%s: %v, want ErrClosed", name, r.Err)
		}
		if !r.Written {
			t.Fatalf("%s: Written is false", name)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("pending calls failed only after %v", el)
	}
	var ee *exec.ExitError
	if err := b.exitErr(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("OnExit(%v), want exit status 7", err)
	}
	b.waitDone()
	if err := b.proc.ExitErr(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("ExitErr = %v, want exit status 7", err)
	}
	if _, err := b.sess.GoCall("echo", nil, 0, func(Response) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("GoCall after exit = %v, want ErrClosed", err)
	}
}

func TestStdioHangTimeout(t *testing.T) {
	b := startBackend(t, backendOpts{})
	c, _ := b.goTool("hang", "", 500*time.Millisecond)
	if r := c.wait(); !errors.Is(r.Err, ErrTimeout) || !r.Written {
		t.Fatalf("hang: %+v, want ErrTimeout", r)
	}
	// The process is still serving.
	for i := range 3 {
		if got := b.tool("echo", fmt.Sprintf(`{"text":"after %d"}`, i)); got != fmt.Sprintf("after %d", i) {
			t.Fatalf("echo = %q", got)
		}
	}
	// Blocking calls time out the same way.
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := b.proc.Mux().Call(ctx, "tools/call", b.sess.CallParams("hang", nil)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Call(hang) = %v, want ErrTimeout", err)
	}
	if got := b.tool("echo", `{"text":"still"}`); got != "still" {
		t.Fatalf("echo = %q", got)
	}
	select {
	case err := <-b.protoErrs:
		t.Fatalf("protocol error: %v", err)
	default:
	}
}

func TestStdioNoise(t *testing.T) {
	const lines = 5
	b := startBackend(t, backendOpts{})
	if got := b.tool("noise", fmt.Sprintf(`{"lines":%d}`, lines)); got != "noised" {
		t.Fatalf("noise = %q", got)
	}
	for i := range lines {
		select {
		case err := <-b.protoErrs:
			if !strings.Contains(err.Error(), "garbage line") {
				t.Fatalf("protocol error %d: %v", i, err)
			}
		case <-time.After(waitFor):
			t.Fatalf("only %d of %d protocol errors", i, lines)
		}
	}
	if got := b.tool("echo", `{"text":"ok"}`); got != "ok" {
		t.Fatalf("echo after noise = %q", got)
	}
}

func TestStdioOversized(t *testing.T) {
	const limit = 64 << 10
	b := startBackend(t, backendOpts{maxMessage: limit})

	// A small result is fine.
	if got := b.tool("big", `{"bytes":32768}`); len(got) != 32768 || strings.Trim(got, "x") != "" {
		t.Fatalf("big(32768) returned %d bytes", len(got))
	}

	// A flood line far over the limit is skipped without being buffered.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const flood = 32 << 20
	if got := b.tool("flood", fmt.Sprintf(`{"bytes":%d}`, flood)); got != "flooded" {
		t.Fatalf("flood = %q", got)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > flood/4 {
		t.Fatalf("reading a %d-byte line allocated %d bytes", flood, grew)
	}
	select {
	case err := <-b.protoErrs:
		if !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("protocol error %v, want ErrMessageTooLarge", err)
		}
	case <-time.After(waitFor):
		t.Fatalf("flood reported no protocol error")
	}

	// An oversized result fails its own call rather than leaving it hanging.
	c, _ := b.goTool("big", fmt.Sprintf(`{"bytes":%d}`, 2*limit), 0)
	if r := c.wait(); !errors.Is(r.Err, ErrMessageTooLarge) {
		t.Fatalf("big(%d): %v, want ErrMessageTooLarge", 2*limit, r.Err)
	}
	if got := b.tool("echo", `{"text":"ok"}`); got != "ok" {
		t.Fatalf("echo = %q", got)
	}
}

func TestStdioStderr(t *testing.T) {
	b := startBackend(t, backendOpts{})
	if got := b.tool("stderr", `{"n":5,"text":"hello"}`); got != "wrote 5" {
		t.Fatalf("stderr = %q", got)
	}
	long := strings.Repeat("y", 3*MaxLogLine)
	if got := b.tool("stderr", `{"n":1,"text":"`+long+`"}`); got != "wrote 1" {
		t.Fatalf("stderr = %q", got)
	}
	want := []string{"hello 1", "hello 2", "hello 3", "hello 4", "hello 5", long[:MaxLogLine]}
	for i, w := range want {
		select {
		case got := <-b.stderr:
			if got != w {
				t.Fatalf("stderr line %d = %.40q (%d bytes), want %.40q (%d bytes)", i, got, len(got), w, len(w))
			}
		case <-time.After(waitFor):
			t.Fatalf("stderr line %d missing", i)
		}
	}
}

func TestStdioEnvIsolation(t *testing.T) {
	t.Setenv("SY_TEST_SECRET", "from-the-gateway")
	b := startBackend(t, backendOpts{env: []string{"SY_TEST_GIVEN=given"}})
	tests := []struct{ name, want string }{
		{"SY_TEST_GIVEN", "given"},
		{"SY_TEST_SECRET", ""},
		{"PATH", ""},
		{"HOME", ""},
	}
	for _, tt := range tests {
		if got := b.tool("env", `{"name":"`+tt.name+`"}`); got != tt.want {
			t.Fatalf("child sees %s=%q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestStdioStartModes(t *testing.T) {
	tests := []struct {
		name      string
		mode      string
		ctx       time.Duration
		wantErr   []error // nil: the handshake succeeds
		protoErrs bool
		exitCode  int // -1: do not check
	}{
		{name: "exit", mode: "exit", ctx: waitFor, wantErr: []error{ErrClosed}, exitCode: 3},
		{name: "garbage", mode: "garbage", ctx: time.Second, wantErr: []error{ErrTimeout, context.DeadlineExceeded}, protoErrs: true, exitCode: -1},
		{name: "slow start", mode: "slowstart=300", ctx: waitFor, exitCode: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBackend(t, backendOpts{env: []string{"SY_TESTSERVER_MODE=" + tt.mode}, noHandshake: true})
			ctx, cancel := context.WithTimeout(t.Context(), tt.ctx)
			defer cancel()
			start := time.Now()
			sess, err := Handshake(ctx, b.proc.Mux(), ClientInfo{Name: "t", Version: "0"})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Handshake: %v", err)
				}
				if sess.Info().ProtocolVersion != Protocol20260728 {
					t.Fatalf("protocol %q", sess.Info().ProtocolVersion)
				}
				return
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Fatalf("Handshake = %v, want %v", err, want)
				}
			}
			if el := time.Since(start); el > tt.ctx+2*time.Second {
				t.Fatalf("Handshake took %v with a %v deadline", el, tt.ctx)
			}
			if tt.protoErrs {
				select {
				case err := <-b.protoErrs:
					if !strings.Contains(err.Error(), "garbage line") {
						t.Fatalf("protocol error %v", err)
					}
				case <-time.After(waitFor):
					t.Fatalf("garbage reported no protocol error")
				}
			}
			if tt.exitCode >= 0 {
				var ee *exec.ExitError
				if err := b.exitErr(); !errors.As(err, &ee) || ee.ExitCode() != tt.exitCode {
					t.Fatalf("OnExit(%v), want exit status %d", err, tt.exitCode)
				}
			}
		})
	}
}

func TestStartProcessErrors(t *testing.T) {
	tests := []struct {
		name    string
		command []string
	}{
		{"empty command", nil},
		{"missing program", []string{"/nonexistent/switchyard-no-such-program"}},
		{"not executable", []string{os.DevNull}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := StartProcess(ProcessSpec{Command: tt.command})
			if err == nil {
				p.Stop()
				<-p.Done()
				t.Fatalf("StartProcess(%q) succeeded", tt.command)
			}
		})
	}
}

// TestStdioProcessGroup checks that the whole process group goes, however
// the process ends. The shell runs a grandchild in its own group and then
// becomes the test server (or a plain sleep).
func TestStdioProcessGroup(t *testing.T) {
	server := testbin.TestServer(t)
	tests := []struct {
		name   string
		script string
		grace  time.Duration
		end    func(t *testing.T, b *backend)
		// members is how many processes the group has before it ends.
		members int
		// minDone is a lower bound on how long ending takes (the grace
		// period when SIGTERM is ignored).
		minDone time.Duration
	}{
		{
			name:    "Stop",
			script:  `sleep 1000 & exec "$0"`,
			members: 2,
			end:     func(_ *testing.T, b *backend) { b.proc.Stop() },
		},
		{
			name:    "leader exits",
			script:  `sleep 1000 & exec "$0"`,
			members: 2,
			end: func(t *testing.T, b *backend) {
				c, _ := b.goTool("crash", `{"code":0}`, 0)
				if r := c.wait(); !errors.Is(r.Err, ErrClosed) {
					t.Fatalf("crash: %v", r.Err)
				}
			},
		},
		{
			name:    "SIGTERM ignored",
			script:  `trap "" TERM; sleep 1000 & sleep 1000; :`,
			grace:   300 * time.Millisecond,
			members: 3,
			end:     func(_ *testing.T, b *backend) { b.proc.Stop() },
			minDone: 300 * time.Millisecond,
		},
		{
			name:   "stdout closed",
			script: `exec >&-; sleep 1000 & sleep 1000; :`,
			end:    func(*testing.T, *backend) {}, // the closed connection stops the process
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBackend(t, backendOpts{
				command:     []string{"/bin/sh", "-c", tt.script, server},
				env:         []string{"PATH=" + os.Getenv("PATH")},
				grace:       tt.grace,
				noHandshake: true,
			})
			if strings.Contains(tt.script, `exec "$0"`) {
				ctx, cancel := context.WithTimeout(t.Context(), waitFor)
				defer cancel()
				sess, err := Handshake(ctx, b.proc.Mux(), ClientInfo{Name: "t", Version: "0"})
				if err != nil {
					t.Fatalf("Handshake: %v", err)
				}
				b.sess = sess
			}
			waitMembers(t, b.proc.Pid(), tt.members)
			start := time.Now()
			tt.end(t, b)
			b.waitDone()
			if el := time.Since(start); el < tt.minDone {
				t.Fatalf("done after %v, before the %v grace period", el, tt.minDone)
			}
			waitGroupGone(t, b.proc.Pid())
			_ = b.exitErr() // OnExit fires
		})
	}
}

// waitMembers waits until process group pgid has at least n live members.
func waitMembers(t *testing.T, pgid, n int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(groupMembers(t, pgid)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d has %v, want %d members", pgid, groupMembers(t, pgid), n)
		}
		<-tick.C
	}
}

// TestStdioStraggler checks that a process which left the group but holds
// the output pipes open does not keep the backend from being done.
func TestStdioStraggler(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid is not installed")
	}
	script := `setsid sh -c 'echo straggler $$ >&2; exec sleep 1000' & exec "$0"`
	b := startBackend(t, backendOpts{
		command:     []string{"/bin/sh", "-c", script, testbin.TestServer(t)},
		env:         []string{"PATH=" + os.Getenv("PATH")},
		noHandshake: true,
	})
	var pid int
	select {
	case line := <-b.stderr:
		if _, err := fmt.Sscanf(line, "straggler %d", &pid); err != nil {
			t.Fatalf("stderr %q: %v", line, err)
		}
	case <-time.After(waitFor):
		t.Fatalf("the straggler did not report its pid")
	}
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGroupGone(t, pid)
	})
	b.proc.Stop()
	b.waitDone() // bounded although the straggler holds stdout and stderr
}

func TestStdioStopWithCallsPending(t *testing.T) {
	b := startBackend(t, backendOpts{})
	var calls []*call
	for range 16 {
		c, _ := b.goTool("sleep", `{"ms":60000}`, 0)
		calls = append(calls, c)
	}
	b.proc.Stop()
	b.proc.Stop() // idempotent
	for i, c := range calls {
		if r := c.wait(); !errors.Is(r.Err, ErrClosed) {
			t.Fatalf("call %d: %v, want ErrClosed", i, r.Err)
		}
	}
	b.waitDone()
	if err := b.exitErr(); err != nil {
		t.Fatalf("OnExit(%v) after SIGTERM, want a clean exit", err)
	}
}

// callSync makes one tools/call and waits for it.
func callSync(sess *Session, ch chan Response, tool string, args []byte) error {
	if _, err := sess.GoCall(tool, args, waitFor, func(r Response) { ch <- r }); err != nil {
		return err
	}
	return (<-ch).Err
}

func BenchmarkStdioCall(b *testing.B) {
	be := startBackend(b, backendOpts{})
	args := []byte(`{"text":"hello"}`)
	ch := make(chan Response, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := callSync(be.sess, ch, "echo", args); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStdioCallParallel(b *testing.B) {
	be := startBackend(b, backendOpts{})
	args := []byte(`{"text":"hello"}`)
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	var failed sync.Once
	b.RunParallel(func(pb *testing.PB) {
		ch := make(chan Response, 1)
		for pb.Next() {
			if err := callSync(be.sess, ch, "echo", args); err != nil {
				failed.Do(func() { b.Error(err) })
				return
			}
		}
	})
}
