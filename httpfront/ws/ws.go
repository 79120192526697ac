// Package ws serves the websocket streams of the gateway's /api surface: the
// domain event stream, the provider state stream and a provider's stderr log
// stream.
//
// Every connection has a bounded queue on the event hub, exactly one writer
// (the goroutine fasthttp runs the hijacked connection on) and one reader
// that consumes and ignores client frames, answers nothing itself and
// notices the peer going away. The writer sends one JSON text frame per
// event, pings the peer every PingInterval and ends the connection when the
// peer stops answering, when the hub drops the subscriber as too slow, or
// when the Handler is closed.
package ws

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/httpfront/route"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
)

// Defaults and limits of the websocket endpoints.
const (
	// DefaultQueueSize is the per-subscriber queue length used when
	// Options.QueueSize is not positive.
	DefaultQueueSize = 256
	// DefaultPingInterval is used when Options.PingInterval is not positive.
	DefaultPingInterval = 30 * time.Second
	// DefaultWriteTimeout is used when Options.WriteTimeout is not positive.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultLogLines is how many recent log lines the logs stream replays
	// when the request has no lines parameter.
	DefaultLogLines = 100
	// MaxLogLines is the largest accepted lines parameter.
	MaxLogLines = actors.LogLines

	// claimTimeout bounds how long a subscription taken while answering the
	// handshake waits for fasthttp to hand over the connection. fasthttp
	// does so right after writing the 101 response, and never if writing it
	// failed; the timeout only releases the subscription in that case.
	claimTimeout = 30 * time.Second
	// closeGrace bounds the wait for the peer's answer to our close frame.
	closeGrace = time.Second
)

// Close reasons sent to clients.
const (
	reasonTooSlow   = "too slow: events dropped"
	reasonGoingAway = "going away"
)

// Options configures a Handler. Zero values select the defaults.
type Options struct {
	// QueueSize is the length of each subscriber's bounded queue on the
	// event hub; a subscriber whose queue overflows is disconnected.
	// Default 256.
	QueueSize int
	// PingInterval is how often the server pings each peer. A peer that
	// does not answer with a pong within 2*PingInterval is disconnected.
	// Default 30s.
	PingInterval time.Duration
	// WriteTimeout bounds the write of one frame. Default 10s.
	WriteTimeout time.Duration
	// CheckOrigin decides whether the request's Origin is acceptable. Nil
	// accepts requests without an Origin header or whose Origin host equals
	// the request Host, and refuses foreign origins.
	CheckOrigin func(ctx *fasthttp.RequestCtx) bool
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	return o
}

// Handler serves the websocket endpoints. Its methods are safe for
// concurrent use. Call Close at shutdown.
type Handler struct {
	rt       *actors.Runtime
	hub      *events.Hub
	opts     Options
	upgrader websocket.FastHTTPUpgrader

	mu       sync.Mutex
	closed   bool
	sessions map[*session]struct{}
	wg       sync.WaitGroup
}

// New returns a Handler streaming the events of rt's hub.
func New(rt *actors.Runtime, opts Options) *Handler {
	opts = opts.withDefaults()
	h := &Handler{
		rt:       rt,
		hub:      rt.Hub(),
		opts:     opts,
		sessions: make(map[*session]struct{}),
	}
	h.upgrader = websocket.FastHTTPUpgrader{
		CheckOrigin: opts.CheckOrigin,
		Error:       handshakeError,
	}
	return h
}

// Routes are the websocket endpoints. Their credentials may come as
// ?token=, since browsers cannot set headers on a websocket.
func (h *Handler) Routes() []route.Route {
	return []route.Route{
		{Method: http.MethodGet, Pattern: "/api/ws/events", Permission: auth.SystemRead, QueryToken: true,
			Handler: func(ctx *fasthttp.RequestCtx, _ route.Params) { h.Events(ctx) }},
		{Method: http.MethodGet, Pattern: "/api/ws/state", Permission: auth.ProvidersRead, QueryToken: true,
			Handler: func(ctx *fasthttp.RequestCtx, _ route.Params) { h.State(ctx) }},
		{Method: http.MethodGet, Pattern: "/api/ws/providers/{id}/logs", Permission: auth.ProvidersRead, QueryToken: true,
			Handler: func(ctx *fasthttp.RequestCtx, p route.Params) { h.Logs(ctx, p.Get("id")) }},
	}
}

// Events serves GET /api/ws/events: every domain event, one per frame.
func (h *Handler) Events(ctx *fasthttp.RequestCtx) {
	h.serve(ctx, nil, nil)
}

// State serves GET /api/ws/state: only ProviderStateChanged events.
func (h *Handler) State(ctx *fasthttp.RequestCtx) {
	kind := events.ProviderStateChanged{}.Type()
	h.serve(ctx, func(ev *events.Event) bool { return ev.Kind == kind }, nil)
}

// Logs serves GET /api/ws/providers/{id}/logs: the provider's most recent
// stderr lines (query parameter lines, 1..1000, default 100), each marked
// "replay": true, followed by its live ProviderLog events. An unknown
// provider is answered with 404 before upgrading.
func (h *Handler) Logs(ctx *fasthttp.RequestCtx, providerID string) {
	if !websocket.FastHTTPIsWebSocketUpgrade(ctx) {
		upgradeRequired(ctx)
		return
	}
	lines := DefaultLogLines
	if raw := ctx.QueryArgs().Peek("lines"); len(raw) > 0 {
		n, err := strconv.Atoi(string(raw))
		if err != nil || n < 1 || n > MaxLogLines {
			web.Error(ctx, web.Errorf(http.StatusBadRequest, "BadRequest",
				"lines must be an integer between 1 and %d", MaxLogLines))
			return
		}
		lines = n
	}
	if _, err := h.rt.TenantServer(web.Tenant(ctx), providerID); err != nil {
		web.Error(ctx, fmt.Errorf("logs stream: %w: provider %q", actors.ErrNotFound, providerID))
		return
	}
	kind := events.ProviderLog{}.Type()
	filter := func(ev *events.Event) bool { return ev.Kind == kind && ev.ProviderID == providerID }
	h.serve(ctx, filter, &logReplay{id: providerID, lines: lines})
}

// Close disconnects every open websocket with close code 1001 ("going
// away") and waits for their goroutines to end. A peer that does not read
// can delay this by up to WriteTimeout plus one second. Requests arriving
// afterwards are refused with 503.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	var pending []*session
	for s := range h.sessions {
		if s.ws == nil {
			pending = append(pending, s)
		} else {
			s.stopOnce.Do(func() { close(s.stop) })
		}
	}
	h.mu.Unlock()
	for _, s := range pending {
		h.abandon(s)
	}
	h.wg.Wait()
}

// Active reports the number of open websocket connections, counting those
// whose handshake has been answered but which have not started streaming.
func (h *Handler) Active() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// serve subscribes to the hub and upgrades the connection. The subscription
// is taken while answering the handshake, before the 101 response is
// written, so a client sees every event published after its handshake
// completed (and, for logs, the subscription precedes the replay snapshot).
func (h *Handler) serve(ctx *fasthttp.RequestCtx, filter events.Filter, replay *logReplay) {
	if !websocket.FastHTTPIsWebSocketUpgrade(ctx) {
		upgradeRequired(ctx)
		return
	}
	s := h.begin(h.scoped(web.Tenant(ctx), filter), replay)
	if s == nil {
		web.Error(ctx, web.Errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "websocket streams are shutting down"))
		return
	}
	err := h.upgrader.Upgrade(ctx, func(c *websocket.Conn) {
		if !h.claim(s, c) {
			// Closed or timed out between the handshake and now.
			_ = c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, reasonGoingAway),
				time.Now().Add(h.opts.WriteTimeout))
			_ = c.Close()
			return
		}
		defer h.finish(s)
		s.run()
	})
	if err != nil {
		// The upgrader has answered the request with an error.
		h.abandon(s)
	}
}

// begin registers a session with its subscription, or returns nil once the
// Handler is closed.
func (h *Handler) begin(filter events.Filter, replay *logReplay) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	s := &session{
		h:      h,
		sub:    h.hub.Subscribe(filter, h.opts.QueueSize),
		replay: replay,
		stop:   make(chan struct{}),
	}
	h.sessions[s] = struct{}{}
	h.wg.Add(1)
	s.timer = time.AfterFunc(claimTimeout, func() { h.abandon(s) })
	return s
}

// claim hands the upgraded connection to a pending session; it fails if the
// session was abandoned meanwhile.
func (h *Handler) claim(s *session, c *websocket.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.sessions[s]; !ok || h.closed {
		return false
	}
	s.timer.Stop()
	s.ws = c
	return true
}

// abandon releases a session that never got its connection.
func (h *Handler) abandon(s *session) {
	h.mu.Lock()
	_, ok := h.sessions[s]
	if ok && s.ws == nil {
		delete(h.sessions, s)
	} else {
		ok = false
	}
	h.mu.Unlock()
	if !ok {
		return
	}
	s.timer.Stop()
	s.sub.Close()
	h.wg.Done()
}

// finish releases a session whose connection has ended.
func (h *Handler) finish(s *session) {
	s.sub.Close()
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
	h.wg.Done()
}

// session is one websocket connection from its handshake to its end.
type session struct {
	h      *Handler
	sub    *events.Subscription
	replay *logReplay
	timer  *time.Timer
	// ws is set by claim, under h.mu.
	ws       *websocket.Conn
	stop     chan struct{}
	stopOnce sync.Once
}

// closeFrame is the close frame a session ends with; code 0 sends none.
type closeFrame struct {
	code   int
	reason string
}

// run is the connection's writer. It returns once the connection and its
// reader have ended.
func (s *session) run() {
	c := s.ws
	r := newReader(c, 2*s.h.opts.PingInterval)
	go r.run()

	frame := s.stream(r)

	if frame.code != 0 {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(frame.code, frame.reason), s.deadline())
		// Give the peer a moment to answer so it reads our close frame
		// before the connection goes away.
		grace := time.NewTimer(min(closeGrace, s.h.opts.WriteTimeout))
		select {
		case <-r.done:
		case <-grace.C:
		}
		grace.Stop()
	}
	r.stopReading()
	_ = c.Close()
	<-r.done
}

// stream writes the replay and the live events until the connection has to
// end, and returns the close frame to end it with.
func (s *session) stream(r *reader) closeFrame {
	c := s.ws
	var dedupe *replayFilter
	if s.replay != nil {
		entries, err := s.h.rt.Logs(s.replay.id, s.replay.lines)
		if err != nil {
			return closeFrame{websocket.CloseInternalServerErr, truncateReason(fmt.Sprintf("logs unavailable: %v", err))}
		}
		for _, e := range entries {
			if err := s.write(replayFrameOf(s.replay.id, e)); err != nil {
				return closeFrame{}
			}
		}
		dedupe = newReplayFilter(entries)
	}

	ping := time.NewTicker(s.h.opts.PingInterval)
	defer ping.Stop()
	for {
		// Ending takes precedence over queued events: once dropped, the
		// queue holds events the peer will never get in full anyway.
		select {
		case <-s.stop:
			return closeFrame{websocket.CloseGoingAway, reasonGoingAway}
		case <-r.done:
			return r.answer()
		case <-s.sub.Done():
			return s.ended()
		default:
		}
		select {
		case ev := <-s.sub.C():
			if dedupe.skip(ev) {
				continue
			}
			if err := s.write(ev); err != nil {
				return closeFrame{}
			}
		case data := <-r.pings:
			if err := c.WriteControl(websocket.PongMessage, []byte(data), s.deadline()); err != nil {
				return closeFrame{}
			}
		case <-ping.C:
			if err := c.WriteControl(websocket.PingMessage, nil, s.deadline()); err != nil {
				return closeFrame{}
			}
		case <-s.stop:
		case <-r.done:
		case <-s.sub.Done():
		}
	}
}

// ended is the close frame for a subscription the hub ended.
func (s *session) ended() closeFrame {
	if s.sub.Dropped() {
		return closeFrame{websocket.ClosePolicyViolation, reasonTooSlow}
	}
	return closeFrame{websocket.CloseGoingAway, reasonGoingAway}
}

func (s *session) deadline() time.Time { return time.Now().Add(s.h.opts.WriteTimeout) }

// write sends v as one JSON text frame.
func (s *session) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		// A payload that cannot be encoded is skipped rather than ending
		// the stream; the domain payloads are plain structs.
		return nil
	}
	if err := s.ws.SetWriteDeadline(s.deadline()); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if err := s.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// reader consumes the client's frames. It writes nothing itself: pings are
// passed to the writer, and the peer's close frame is answered by the
// writer once done is closed. (The websocket library itself may still write
// a close frame on a protocol error; its WriteControl is safe alongside the
// writer.)
type reader struct {
	c    *websocket.Conn
	wait time.Duration
	// pings carries the payloads of client pings for the writer to answer;
	// one pending answer is enough.
	pings chan string
	done  chan struct{}

	mu      sync.Mutex
	stopped bool

	// peerCode is the code of the peer's close frame, 0 if none came; it is
	// written before done is closed.
	peerCode int
}

func newReader(c *websocket.Conn, wait time.Duration) *reader {
	return &reader{c: c, wait: wait, pings: make(chan string, 1), done: make(chan struct{})}
}

func (r *reader) run() {
	defer close(r.done)
	r.extend()
	r.c.SetPongHandler(func(string) error {
		r.extend()
		return nil
	})
	r.c.SetPingHandler(func(data string) error {
		select {
		case r.pings <- data:
		default:
		}
		return nil
	})
	r.c.SetCloseHandler(func(code int, _ string) error {
		r.peerCode = code
		return nil
	})
	for {
		_, msg, err := r.c.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, msg); err != nil {
			return
		}
	}
}

// extend pushes the read deadline 2*PingInterval ahead, unless the writer
// has told the reader to stop.
func (r *reader) extend() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		_ = r.c.SetReadDeadline(time.Now().Add(r.wait))
	}
}

// stopReading ends the reader: the underlying connection may outlive
// Conn.Close (fasthttp closes hijacked connections itself once the handler
// returns), so a read deadline in the past is what unblocks the read.
func (r *reader) stopReading() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	_ = r.c.SetReadDeadline(time.Unix(1, 0))
}

// answer is the close frame the writer sends after the reader ended: the
// peer's close frame is echoed; a failed or timed-out read gets none.
func (r *reader) answer() closeFrame {
	if r.peerCode == 0 {
		return closeFrame{}
	}
	if r.peerCode == websocket.CloseNoStatusReceived {
		return closeFrame{code: websocket.CloseNormalClosure}
	}
	return closeFrame{code: r.peerCode}
}

// logReplay describes the replay a logs stream starts with.
type logReplay struct {
	id    string
	lines int
}

// replayFrame is a replayed log line, shaped like a ProviderLog event
// without a sequence number.
type replayFrame struct {
	Kind       string             `json:"type"`
	ProviderID string             `json:"provider_id"`
	Time       time.Time          `json:"timestamp"`
	Data       events.ProviderLog `json:"data"`
	Replay     bool               `json:"replay"`
}

func replayFrameOf(id string, e actors.LogEntry) replayFrame {
	stream := e.Stream
	if stream == "" {
		stream = "stderr"
	}
	return replayFrame{
		Kind:       events.ProviderLog{}.Type(),
		ProviderID: id,
		Time:       e.Timestamp,
		Data:       events.ProviderLog{Stream: stream, Line: e.Line, At: e.Timestamp},
		Replay:     true,
	}
}

// logKey identifies a log line by its capture time and text.
type logKey struct {
	at   int64
	line string
}

// replayFilter drops live log events that the replay already covered.
//
// The subscription is taken before the replay snapshot, so the live queue
// may start with lines that are also in the snapshot (the runtime stores a
// line in its ring before publishing it), and, when more lines arrived in
// between than were replayed, with lines older than the replayed window.
// Both are skipped: the first by timestamp and text, the second because
// they are older than the last replayed line. The first live line newer
// than the replay switches the filter off for good, since everything after
// it in the queue is newer still.
type replayFilter struct {
	keys map[logKey]int
	last time.Time
}

func newReplayFilter(entries []actors.LogEntry) *replayFilter {
	if len(entries) == 0 {
		return nil
	}
	f := &replayFilter{keys: make(map[logKey]int, len(entries)), last: entries[len(entries)-1].Timestamp}
	for _, e := range entries {
		f.keys[logKey{e.Timestamp.UnixNano(), e.Line}]++
	}
	return f
}

// skip reports whether ev repeats or precedes the replay.
func (f *replayFilter) skip(ev *events.Event) bool {
	if f == nil || f.keys == nil {
		return false
	}
	var p events.ProviderLog
	switch d := ev.Data.(type) {
	case events.ProviderLog:
		p = d
	case *events.ProviderLog:
		p = *d
	default:
		return false
	}
	k := logKey{p.At.UnixNano(), p.Line}
	if n := f.keys[k]; n > 0 {
		if n == 1 {
			delete(f.keys, k)
		} else {
			f.keys[k] = n - 1
		}
		return true
	}
	if p.At.Before(f.last) {
		return true
	}
	f.keys = nil
	return false
}

// upgradeRequired answers a request to a websocket endpoint that is not a
// websocket upgrade.
func upgradeRequired(ctx *fasthttp.RequestCtx) {
	web.Error(ctx, web.Errorf(http.StatusBadRequest, "BadRequest", "websocket upgrade required"))
}

// handshakeError answers a handshake the upgrader refused with the /api
// error body.
func handshakeError(ctx *fasthttp.RequestCtx, status int, reason error) {
	kind := "BadRequest"
	switch status {
	case http.StatusForbidden:
		kind = "Forbidden"
	case http.StatusMethodNotAllowed:
		kind = "MethodNotAllowed"
	case http.StatusInternalServerError:
		kind = "InternalError"
	}
	web.Error(ctx, web.WithCode(reason, status, kind))
}

// truncateReason keeps a close reason within the 123 bytes a close frame
// allows, without splitting a UTF-8 sequence.
func truncateReason(s string) string {
	const limit = 123
	if len(s) <= limit {
		return s
	}
	s = s[:limit]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// scoped narrows a filter to the events a tenant may see: those whose
// envelope names the tenant, and those of no tenant (runtime-wide alerts).
// The tenant is the request's (a tenant-bound token's, else x-tenant-id,
// else the default tenant), so a subscriber sees only its own tenant's
// providers, groups and objects. An event about a provider published
// without a tenant falls back to the provider's current owner; one whose
// provider is gone is shown to the default tenant only. It runs in the
// publisher, so it only reads published snapshots.
func (h *Handler) scoped(tenant string, filter events.Filter) events.Filter {
	return func(ev *events.Event) bool {
		owner := ev.Tenant
		if owner == "" && ev.ProviderID != "" {
			owner = auth.DefaultTenant
			if info, err := h.rt.Get(ev.ProviderID); err == nil {
				owner = info.Spec.Tenant
			}
		}
		if owner != "" && owner != tenant {
			return false
		}
		return filter == nil || filter(ev)
	}
}
