package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// wait bounds every wait of these tests.
const wait = 15 * time.Second

func TestMain(m *testing.M) {
	// fasthttp keeps one process-wide goroutine refreshing the Date header
	// from the first server start on; it never ends by design.
	testbin.Main(m, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}

func newRuntime(t *testing.T) *actors.Runtime {
	t.Helper()
	rt := actors.NewRuntime(actors.Options{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("runtime shutdown: %v", err)
		}
	})
	return rt
}

// newHandler returns a Handler closed at the end of the test.
func newHandler(t *testing.T, rt *actors.Runtime, opts Options) *Handler {
	t.Helper()
	h := New(rt, opts)
	t.Cleanup(h.Close)
	return h
}

// serve serves each handler under its path prefix on a real fasthttp server
// and returns the server's address.
func serve(t *testing.T, handlers map[string]*Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	route := func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		for prefix, h := range handlers {
			rest, ok := strings.CutPrefix(path, prefix+"/api/ws/")
			if !ok {
				continue
			}
			switch {
			case rest == "events":
				h.Events(ctx)
			case rest == "state":
				h.State(ctx)
			case strings.HasPrefix(rest, "providers/") && strings.HasSuffix(rest, "/logs"):
				h.Logs(ctx, strings.TrimSuffix(strings.TrimPrefix(rest, "providers/"), "/logs"))
			default:
				continue
			}
			return
		}
		ctx.Error("no route", fasthttp.StatusNotFound)
	}
	srv := &fasthttp.Server{
		Handler: route,
		// fasthttp's worker pool cleaner notices Shutdown only after
		// sleeping MaxIdleWorkerDuration (10s by default); keep it short so
		// it has ended by the time goleak looks.
		MaxIdleWorkerDuration: 100 * time.Millisecond,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dial opens a websocket; it is closed at the end of the test.
func dial(t *testing.T, addr, path string, header http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := dialRaw(addr, path, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func dialRaw(addr, path string, header http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: wait}
	c, resp, err := d.Dial("ws://"+addr+path, header)
	if resp != nil && resp.Body != nil {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return c, resp, err
}

// frame is what the client sees of one message.
type frame struct {
	Type       string          `json:"type"`
	Seq        uint64          `json:"seq"`
	Timestamp  time.Time       `json:"timestamp"`
	ProviderID string          `json:"provider_id"`
	Tenant     string          `json:"tenant_id"`
	Data       json.RawMessage `json:"data"`
	Replay     bool            `json:"replay"`
	raw        []byte
}

func decodeFrame(t *testing.T, mt int, b []byte) frame {
	t.Helper()
	if mt != websocket.TextMessage {
		t.Fatalf("message type %d, want text", mt)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decode frame %q: %v", b, err)
	}
	f.raw = b
	return f
}

// readFrame reads one frame on the test goroutine.
func readFrame(t *testing.T, c *websocket.Conn) frame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	mt, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return decodeFrame(t, mt, b)
}

// logLine is the data of a ProviderLog frame.
type logLine struct {
	Stream string    `json:"stream"`
	Line   string    `json:"line"`
	At     time.Time `json:"at"`
}

func (f frame) log(t *testing.T) logLine {
	t.Helper()
	var l logLine
	if err := json.Unmarshal(f.Data, &l); err != nil {
		t.Fatalf("decode log data %s: %v", f.Data, err)
	}
	return l
}

// pump reads a connection on its own goroutine, so control frames are
// handled while the test waits elsewhere.
type pump struct {
	frames chan message
	err    chan error
}

type message struct {
	mt int
	b  []byte
}

func startPump(t *testing.T, c *websocket.Conn) *pump {
	t.Helper()
	p := &pump{frames: make(chan message, 4096), err: make(chan error, 1)}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			mt, b, err := c.ReadMessage()
			if err != nil {
				p.err <- err
				return
			}
			select {
			case p.frames <- message{mt, b}:
			case <-quit:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(quit)
		_ = c.Close()
		<-done
	})
	return p
}

func (p *pump) next(t *testing.T) frame {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case m := <-p.frames:
		return decodeFrame(t, m.mt, m.b)
	case err := <-p.err:
		t.Fatalf("connection ended: %v", err)
	case <-timer.C:
		t.Fatalf("no frame within %s", wait)
	}
	return frame{}
}

// readClose reads until the connection ends and returns the close error.
func readClose(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		_ = c.SetReadDeadline(deadline)
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

func TestEventsStreamInOrder(t *testing.T) {
	rt := newRuntime(t)
	h := newHandler(t, rt, Options{})
	addr := serve(t, map[string]*Handler{"": h})
	c := dial(t, addr, "/api/ws/events", nil)
	if n := h.Active(); n != 1 {
		t.Fatalf("Active = %d, want 1", n)
	}

	hub := rt.Hub()
	published := []struct {
		id string
		p  events.Payload
	}{
		{"", events.Alert{Level: "info", Message: "first"}},
		{"p1", events.ToolInvoked{Tool: "echo", Outcome: "success", LatencyMs: 1.5}},
		{"p1", events.ProviderStateChanged{From: "cold", To: "initializing"}},
		{"p2", events.ProviderRestarting{Attempt: 2, DelayMs: 100, Reason: "crashed"}},
		{"", events.Alert{Level: "critical", Message: "last"}},
	}
	for _, e := range published {
		hub.Publish(e.id, e.p)
	}

	var prev uint64
	for i, e := range published {
		f := readFrame(t, c)
		if f.Type != e.p.Type() || f.ProviderID != e.id {
			t.Fatalf("frame %d: type %q provider %q, want %q %q", i, f.Type, f.ProviderID, e.p.Type(), e.id)
		}
		if i > 0 && f.Seq != prev+1 {
			t.Fatalf("frame %d: seq %d after %d", i, f.Seq, prev)
		}
		prev = f.Seq
		if f.Timestamp.IsZero() {
			t.Fatalf("frame %d has no timestamp: %s", i, f.raw)
		}
		want, err := json.Marshal(e.p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Data, want) {
			t.Fatalf("frame %d data %s, want %s", i, f.Data, want)
		}
		// Exactly the event as marshalled: no extra fields.
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(f.raw, &fields); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		wantKeys := []string{"data", "seq", "timestamp", "type"}
		if e.id != "" {
			wantKeys = []string{"data", "provider_id", "seq", "timestamp", "type"}
		}
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Fatalf("frame %d fields %v, want %v", i, keys, wantKeys)
		}
	}
}

func TestStateStreamOnlyStateChanges(t *testing.T) {
	rt := newRuntime(t)
	h := newHandler(t, rt, Options{})
	addr := serve(t, map[string]*Handler{"": h})
	c := dial(t, addr, "/api/ws/state", nil)

	hub := rt.Hub()
	hub.Publish("", events.Alert{Level: "info", Message: "not a state change"})
	hub.Publish("p1", events.ProviderStateChanged{From: "cold", To: "initializing"})
	hub.Publish("p1", events.ToolInvoked{Tool: "echo", Outcome: "success"})
	hub.Publish("p1", events.ProviderLog{Stream: "stderr", Line: "noise"})
	hub.Publish("p1", events.ProviderStateChanged{From: "initializing", To: "ready"})
	hub.Publish("p2", events.HealthChecked{OK: false, Failures: 1})
	hub.Publish("p2", events.ProviderStateChanged{From: "ready", To: "degraded", Reason: "health"})

	want := []struct{ id, from, to string }{
		{"p1", "cold", "initializing"},
		{"p1", "initializing", "ready"},
		{"p2", "ready", "degraded"},
	}
	for i, w := range want {
		f := readFrame(t, c)
		if f.Type != "ProviderStateChanged" || f.ProviderID != w.id {
			t.Fatalf("frame %d: %s", i, f.raw)
		}
		var d events.ProviderStateChanged
		if err := json.Unmarshal(f.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.From != w.from || d.To != w.to {
			t.Fatalf("frame %d: %s, want %s -> %s", i, f.raw, w.from, w.to)
		}
	}
}

func TestSlowSubscriberDisconnected(t *testing.T) {
	rt := newRuntime(t)
	slow := newHandler(t, rt, Options{QueueSize: 2})
	fast := newHandler(t, rt, Options{QueueSize: 64})
	addr := serve(t, map[string]*Handler{"/slow": slow, "/fast": fast})
	hub := rt.Hub()
	base := hub.Subscribers()

	sc := dial(t, addr, "/slow/api/ws/events", nil) // never read until dropped
	fc := dial(t, addr, "/fast/api/ws/events", nil)
	fp := startPump(t, fc)
	if n := hub.Subscribers(); n != base+2 {
		t.Fatalf("subscribers = %d, want %d", n, base+2)
	}

	// Publish large events in step with the fast reader. The slow peer's
	// socket buffers fill, its writer blocks, its queue of 2 overflows and
	// the hub drops it; the fast subscriber never has more than one queued.
	big := strings.Repeat("x", 64<<10)
	dropped := false
	for i := 0; i < 2000 && !dropped; i++ {
		hub.Publish("", events.Alert{Level: "info", Message: big})
		if f := fp.next(t); f.Type != "Alert" {
			t.Fatalf("fast got %s", f.raw)
		}
		dropped = hub.Subscribers() == base+1
	}
	if !dropped {
		t.Fatal("the slow subscriber was never dropped")
	}

	ce := readClose(t, sc)
	if ce.Code != websocket.ClosePolicyViolation || ce.Text != "too slow: events dropped" {
		t.Fatalf("close %d %q, want 1008 %q", ce.Code, ce.Text, "too slow: events dropped")
	}

	// The fast subscriber is unaffected.
	hub.Publish("p1", events.ProviderStateChanged{From: "cold", To: "ready"})
	if f := fp.next(t); f.Type != "ProviderStateChanged" {
		t.Fatalf("fast got %s after the drop", f.raw)
	}
	if n := fast.Active(); n != 1 {
		t.Fatalf("fast Active = %d", n)
	}
}

type errorBody struct {
	Error      string `json:"error"`
	Message    string `json:"message"`
	StatusCode int    `json:"status_code"`
}

func decodeError(t *testing.T, resp *http.Response) errorBody {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
	var e errorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	return e
}

func TestHandshakeErrors(t *testing.T) {
	rt := newRuntime(t)
	if err := rt.Create(spec("p1", "/nonexistent/cold")); err != nil {
		t.Fatal(err)
	}
	h := newHandler(t, rt, Options{})
	open := newHandler(t, rt, Options{CheckOrigin: func(*fasthttp.RequestCtx) bool { return true }})
	addr := serve(t, map[string]*Handler{"": h, "/open": open})
	base := rt.Hub().Subscribers()

	t.Run("unknown provider", func(t *testing.T) {
		_, resp, err := dialRaw(addr, "/api/ws/providers/nope/logs", nil)
		if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
			t.Fatalf("dial: %v", err)
		}
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d", resp.StatusCode)
		}
		e := decodeError(t, resp)
		if e.Error != "ProviderNotFoundError" || e.StatusCode != 404 || !strings.Contains(e.Message, "nope") {
			t.Fatalf("body %+v", e)
		}
	})

	t.Run("bad lines", func(t *testing.T) {
		for _, q := range []string{"0", "1001", "many", "-1"} {
			_, resp, err := dialRaw(addr, "/api/ws/providers/p1/logs?lines="+q, nil)
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("lines=%s: %v %v", q, err, resp)
			}
			if e := decodeError(t, resp); e.Error != "BadRequest" || e.StatusCode != 400 {
				t.Fatalf("lines=%s: body %+v", q, e)
			}
		}
	})

	t.Run("not a websocket", func(t *testing.T) {
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: wait}
		for _, path := range []string{"/api/ws/events", "/api/ws/state", "/api/ws/providers/p1/logs"} {
			resp, err := client.Get("http://" + addr + path)
			if err != nil {
				t.Fatal(err)
			}
			e := decodeError(t, resp)
			_ = resp.Body.Close()
			want := errorBody{Error: "BadRequest", Message: "websocket upgrade required", StatusCode: 400}
			if resp.StatusCode != http.StatusBadRequest || e != want {
				t.Fatalf("%s: %d %+v", path, resp.StatusCode, e)
			}
		}
	})

	t.Run("origin", func(t *testing.T) {
		foreign := http.Header{"Origin": {"http://elsewhere.example"}}
		_, resp, err := dialRaw(addr, "/api/ws/events", foreign)
		if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign origin: %v %v", err, resp)
		}
		if e := decodeError(t, resp); e.Error != "Forbidden" || e.StatusCode != 403 {
			t.Fatalf("body %+v", e)
		}
		same := http.Header{"Origin": {"http://" + addr}}
		c, _, err := dialRaw(addr, "/api/ws/events", same)
		if err != nil {
			t.Fatalf("same origin: %v", err)
		}
		_ = c.Close()
		c, _, err = dialRaw(addr, "/open/api/ws/events", foreign)
		if err != nil {
			t.Fatalf("custom CheckOrigin: %v", err)
		}
		_ = c.Close()
	})

	h.Close()
	open.Close()
	if n := rt.Hub().Subscribers(); n != base {
		t.Fatalf("subscribers = %d after refused handshakes, want %d", n, base)
	}
}

// waitLogs consumes ProviderLog events until every wanted line was seen.
func waitLogs(t *testing.T, sub *events.Subscription, want ...string) {
	t.Helper()
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(missing) > 0 {
		select {
		case ev := <-sub.C():
			delete(missing, ev.Data.(events.ProviderLog).Line)
		case <-sub.Done():
			t.Fatal("log subscription ended")
		case <-timer.C:
			t.Fatalf("lines %v not logged within %s", missing, wait)
		}
	}
}

func callStderr(t *testing.T, rt *actors.Runtime, id, text string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	args := fmt.Sprintf(`{"n":%d,"text":%q}`, n, text)
	tenant, _, err := rt.Owner(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Call(ctx, &actors.CallRequest{Tenant: tenant, Target: id, Tool: "stderr", Args: []byte(args)}); err != nil {
		t.Fatalf("call stderr: %v", err)
	}
}

func TestLogsReplayThenLive(t *testing.T) {
	bin := testbin.TestServer(t)
	rt := newRuntime(t)
	if err := rt.Create(spec("p1", bin)); err != nil {
		t.Fatal(err)
	}
	h := newHandler(t, rt, Options{})
	addr := serve(t, map[string]*Handler{"": h})

	logs := rt.Hub().Subscribe(func(ev *events.Event) bool {
		return ev.Kind == "ProviderLog" && ev.ProviderID == "p1"
	}, 1024)
	defer logs.Close()
	callStderr(t, rt, "p1", "hello", 3)
	waitLogs(t, logs, "hello 1", "hello 2", "hello 3")

	ring, err := rt.Logs("p1", DefaultLogLines)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, "/api/ws/providers/p1/logs", nil)
	p := startPump(t, c)

	var replayed []string
	for i, e := range ring {
		f := p.next(t)
		l := f.log(t)
		if f.Type != "ProviderLog" || !f.Replay || f.ProviderID != "p1" || f.Seq != 0 {
			t.Fatalf("replay frame %d: %s", i, f.raw)
		}
		if l.Line != e.Line || l.Stream != "stderr" || !l.At.Equal(e.Timestamp) || !f.Timestamp.Equal(e.Timestamp) {
			t.Fatalf("replay frame %d: %s, want %+v", i, f.raw, e)
		}
		replayed = append(replayed, l.Line)
	}
	if len(replayed) < 3 || !reflect.DeepEqual(replayed[len(replayed)-3:], []string{"hello 1", "hello 2", "hello 3"}) {
		t.Fatalf("replayed %q, want it to end with hello 1..3", replayed)
	}

	callStderr(t, rt, "p1", "world", 3)
	for _, want := range []string{"world 1", "world 2", "world 3"} {
		f := p.next(t)
		l := f.log(t)
		if f.Type != "ProviderLog" || f.Replay || f.Seq == 0 || f.ProviderID != "p1" || l.Line != want {
			t.Fatalf("live frame %s, want %q", f.raw, want)
		}
	}

	// A shorter replay, then the next live line with nothing repeated.
	c2 := dial(t, addr, "/api/ws/providers/p1/logs?lines=2", nil)
	p2 := startPump(t, c2)
	for _, want := range []string{"world 2", "world 3"} {
		if f := p2.next(t); !f.Replay || f.log(t).Line != want {
			t.Fatalf("replay frame %s, want %q", f.raw, want)
		}
	}
	callStderr(t, rt, "p1", "again", 1)
	for _, pp := range []*pump{p, p2} {
		if f := pp.next(t); f.Replay || f.log(t).Line != "again 1" {
			t.Fatalf("live frame %s, want %q", f.raw, "again 1")
		}
	}
}

func TestReplayFilter(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	entry := func(i int, line string) actors.LogEntry {
		return actors.LogEntry{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), Line: line, Stream: "stderr"}
	}
	live := func(e actors.LogEntry) *events.Event {
		return &events.Event{Kind: "ProviderLog", Data: events.ProviderLog{Stream: "stderr", Line: e.Line, At: e.Timestamp}}
	}
	older, a, b, c, newer := entry(0, "older"), entry(1, "a"), entry(2, "b"), entry(3, "c"), entry(4, "newer")

	if f := newReplayFilter(nil); f.skip(live(a)) {
		t.Fatal("an empty replay skips nothing")
	}
	f := newReplayFilter([]actors.LogEntry{a, b, c})
	steps := []struct {
		e    actors.LogEntry
		skip bool
	}{
		{older, true}, // older than the replayed window
		{b, true},     // replayed
		{c, true},     // replayed
		{newer, false},
		{a, false}, // the filter is off after the first new line
	}
	for i, s := range steps {
		if got := f.skip(live(s.e)); got != s.skip {
			t.Fatalf("step %d (%s): skip = %v, want %v", i, s.e.Line, got, s.skip)
		}
	}
	if f.skip(&events.Event{Kind: "Alert", Data: events.Alert{}}) {
		t.Fatal("non-log events are never skipped")
	}
}

func TestPingKeepsConnectionOpen(t *testing.T) {
	rt := newRuntime(t)
	const interval = 250 * time.Millisecond
	h := newHandler(t, rt, Options{PingInterval: interval})
	addr := serve(t, map[string]*Handler{"": h})
	c := dial(t, addr, "/api/ws/events", nil)

	pings := make(chan struct{}, 64)
	c.SetPingHandler(func(data string) error {
		err := c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(wait))
		select {
		case pings <- struct{}{}:
		default:
		}
		return err
	})
	p := startPump(t, c)

	// Four pings span more than three intervals, longer than the 2*interval
	// the server waits for a pong: the pongs keep the connection open.
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for i := 0; i < 4; i++ {
		select {
		case <-pings:
		case err := <-p.err:
			t.Fatalf("connection ended after %d pings: %v", i, err)
		case <-timer.C:
			t.Fatalf("only %d pings within %s", i, wait)
		}
	}
	rt.Hub().Publish("", events.Alert{Level: "info", Message: "still here"})
	if f := p.next(t); f.Type != "Alert" {
		t.Fatalf("got %s", f.raw)
	}
}

func TestUnansweredPingsDisconnect(t *testing.T) {
	rt := newRuntime(t)
	h := newHandler(t, rt, Options{PingInterval: 20 * time.Millisecond})
	addr := serve(t, map[string]*Handler{"": h})
	c := dial(t, addr, "/api/ws/events", nil)
	c.SetPingHandler(func(string) error { return nil }) // never answer
	p := startPump(t, c)

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case err := <-p.err:
		if err == nil {
			t.Fatal("nil error")
		}
	case m := <-p.frames:
		t.Fatalf("unexpected frame %s", m.b)
	case <-timer.C:
		t.Fatalf("a peer answering no pings stayed connected for %s", wait)
	}
}

func TestCloseEndsAllConnections(t *testing.T) {
	rt := newRuntime(t)
	if err := rt.Create(spec("p1", "/nonexistent/cold")); err != nil {
		t.Fatal(err)
	}
	h := New(rt, Options{})
	addr := serve(t, map[string]*Handler{"": h})
	base := rt.Hub().Subscribers()

	conns := []*websocket.Conn{
		dial(t, addr, "/api/ws/events", nil),
		dial(t, addr, "/api/ws/state", nil),
		dial(t, addr, "/api/ws/providers/p1/logs", nil),
	}
	if n := h.Active(); n != len(conns) {
		t.Fatalf("Active = %d, want %d", n, len(conns))
	}

	closed := make(chan struct{})
	go func() {
		h.Close()
		close(closed)
	}()
	for i, c := range conns {
		ce := readClose(t, c)
		if ce.Code != websocket.CloseGoingAway || ce.Text != "going away" {
			t.Fatalf("conn %d: close %d %q, want 1001 going away", i, ce.Code, ce.Text)
		}
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-closed:
	case <-timer.C:
		t.Fatalf("Close did not return within %s", wait)
	}
	if n := h.Active(); n != 0 {
		t.Fatalf("Active = %d after Close", n)
	}
	if n := rt.Hub().Subscribers(); n != base {
		t.Fatalf("subscribers = %d after Close, want %d", n, base)
	}

	_, resp, err := dialRaw(addr, "/api/ws/events", nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v %v", err, resp)
	}
	h.Close() // idempotent
}

// TestStreamsScopedToTenant: a provider of tenant beta starts, serves a
// call and is removed. Beta's streams carry it; the streams of the default
// tenant and of alpha carry nothing about it, not even the events
// published after it left the registry (its last state change and its
// removal), and neither may open its logs.
func TestStreamsScopedToTenant(t *testing.T) {
	rt := newRuntime(t)
	if err := rt.Create(tenantSpec("b1", "beta", testbin.TestServer(t))); err != nil {
		t.Fatal(err)
	}
	h := newHandler(t, rt, Options{})
	addr := serve(t, map[string]*Handler{"": h})
	as := func(tenant string) http.Header {
		if tenant == "" {
			return nil
		}
		return http.Header{"X-Tenant-Id": {tenant}}
	}
	beta := startPump(t, dial(t, addr, "/api/ws/events", as("beta")))
	betaState := startPump(t, dial(t, addr, "/api/ws/state", as("beta")))
	others := map[string]*pump{
		"default events": startPump(t, dial(t, addr, "/api/ws/events", as(""))),
		"default state":  startPump(t, dial(t, addr, "/api/ws/state", as(""))),
		"alpha events":   startPump(t, dial(t, addr, "/api/ws/events", as("alpha"))),
		"alpha state":    startPump(t, dial(t, addr, "/api/ws/state", as("alpha"))),
	}
	for _, tenant := range []string{"", "alpha"} {
		_, resp, err := dialRaw(addr, "/api/ws/providers/b1/logs", as(tenant))
		if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("tenant %q opens beta's logs: %v %v", tenant, err, resp)
		}
	}
	betaLogs := startPump(t, dial(t, addr, "/api/ws/providers/b1/logs", as("beta")))

	callStderr(t, rt, "b1", "beta says", 1)
	if f := betaLogs.next(t); f.Type != "ProviderLog" || f.log(t).Line != "beta says 1" {
		t.Fatalf("beta's log stream: %s", f.raw)
	}
	// Beta sees the call and the log line (so they were published before
	// the removal: the log stream may have replayed the line from the
	// ring before the hub had it).
	seen := map[string]bool{}
	for !seen["ToolInvoked"] || !seen["ProviderLog"] {
		if f := beta.next(t); f.ProviderID == "b1" {
			if f.Tenant != "beta" {
				t.Fatalf("beta's event without its tenant: %s", f.raw)
			}
			seen[f.Type] = true
		}
	}
	// Delete answers once the provider's last events (its final state
	// change, its removal) are published; a marker published after it is
	// behind them in every queue, so a stream that reaches the marker
	// without b1 never carries it.
	if err := rt.Delete("b1"); err != nil {
		t.Fatal(err)
	}
	rt.Hub().Publish("", events.ProviderStateChanged{From: "none", To: "marker"})
	for name, p := range others {
		for {
			f := p.next(t)
			if f.ProviderID == "b1" || f.Tenant == "beta" {
				t.Fatalf("%s carries beta's event: %s", name, f.raw)
			}
			if f.Type == "ProviderStateChanged" && strings.Contains(string(f.Data), `"marker"`) {
				break
			}
		}
	}
	// Beta sees its provider go, every event stamped with its tenant.
	for !seen["ProviderRemoved"] {
		f := beta.next(t)
		if f.ProviderID == "b1" {
			if f.Tenant != "beta" {
				t.Fatalf("beta's event without its tenant: %s", f.raw)
			}
			seen[f.Type] = true
		}
	}
	for _, kind := range []string{"ProviderStateChanged", "ToolInvoked", "ProviderLog"} {
		if !seen[kind] {
			t.Fatalf("beta's stream lacks %s", kind)
		}
	}
	for {
		f := betaState.next(t)
		var d events.ProviderStateChanged
		_ = json.Unmarshal(f.Data, &d)
		if f.ProviderID == "b1" && d.To == "stopped" {
			break
		}
	}
}

// spec is a subprocess provider at the defaults.
func spec(id string, command ...string) actors.Spec {
	s := actors.DefaultSpec(id, config.ModeSubprocess)
	s.Command = command
	return s
}

// tenantSpec is spec for a tenant.
func tenantSpec(id, tenant string, command ...string) actors.Spec {
	s := spec(id, command...)
	s.Tenant = tenant
	return s
}
