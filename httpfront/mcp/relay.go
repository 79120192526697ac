package mcp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
	"github.com/switchyard-mcp/switchyard/internal/jsonx"
	"github.com/switchyard-mcp/switchyard/transports"
)

// The relay serves /mcp/{provider} to clients of the session revisions
// (2025-03-26 to 2025-11-25) as a transparent proxy of the provider's
// backend: every request goes to the backend as it is (tools/call through
// the one call pipeline, the others through Runtime.Forward), answers come
// back unchanged with the client's own JSON-RPC id, and what the backend
// sends during a call (progress, log messages, sampling, elicitation and
// roots requests) reaches the client whose call caused it, on that call's
// SSE stream. A call that streams nothing is answered with plain JSON.
//
// A backend connection is shared by every client of the provider, so the
// relay remaps what could collide: JSON-RPC ids (the multiplexer numbers
// its own requests), progress tokens (the client's token is swapped for a
// gateway-wide one and swapped back on the way out) and the ids of the
// backend's requests to the client. What carries no link to a call (a log
// message, a sampling request over stdio) goes to the calls in flight on
// that provider: log messages to every session that set a level, a request
// to the newest call whose client declared the capability.

// Limits of the relay.
const (
	// DefaultMaxSessions bounds the client sessions held at once.
	DefaultMaxSessions = 10000
	// callQueue bounds the messages waiting to be written on one call's
	// stream; streamQueue those of a session's GET stream. Notifications
	// beyond them are dropped (and counted), never waited for.
	callQueue   = 256
	streamQueue = 64
	// keepAlive is how often an idle SSE stream gets a comment line.
	keepAlive = 15 * time.Second
)

type relay struct {
	f       *Front
	max     int
	ttl     time.Duration
	nextTok atomic.Int64
	dropped atomic.Int64

	mu       sync.Mutex
	sessions map[string]*clientSession
	byProv   map[string]map[*clientSession]struct{}
	calls    map[int64]*relayCall    // by the gateway's progress token
	live     map[string][]*relayCall // streaming calls in flight by provider, oldest first
	held     map[string]*relayCall   // calls held for a stateless client's input, by requestState

	stop chan struct{}
	wg   sync.WaitGroup
	// streamsEnd closes when the gateway starts to drain: the streams
	// that carry no call (GET, subscriptions/listen) end, so their
	// connections do not hold the drain up.
	streamsEnd  chan struct{}
	streamsOnce sync.Once
}

// clientSession is one client's session with one provider.
type clientSession struct {
	r                            *relay
	id, provider                 string
	principal, tenant            string
	version                      string
	sampling, elicitation, roots bool
	// caps is the JSON object of those capabilities as the client
	// declared them, for a backend of the stateless revision to see.
	caps     []byte
	lastUsed atomic.Int64

	mu       sync.Mutex
	level    string            // logging level the client set ("" = none)
	want     map[string]bool   // the list changes a listen stream carries (nil: all)
	subs     map[string]bool   // resource URIs the client subscribed to
	followed map[followed]bool // those a stateless backend follows for it
	subMu    sync.Mutex        // serialises changes of followed with end
	inflight []*relayCall      // calls in flight, oldest first
	asks     map[string]askFor // the backend's requests awaiting the client
	nextAsk  int64
	stream   chan []byte // the GET stream's queue
	attached bool        // a GET stream is open
	closed   chan struct{}
	isClosed bool
}

// clientCapabilities are the capabilities of a client the relay acts on:
// the requests of a backend it can answer.
type clientCapabilities struct {
	Sampling    json.RawMessage `json:"sampling"`
	Elicitation json.RawMessage `json:"elicitation"`
	Roots       json.RawMessage `json:"roots"`
}

// setCapabilities records what the client declared.
func (s *clientSession) setCapabilities(c *clientCapabilities) {
	s.sampling, s.elicitation, s.roots = present(c.Sampling), present(c.Elicitation), present(c.Roots)
	var members []byte
	for _, m := range [...]struct {
		key string
		v   json.RawMessage
	}{{"sampling", c.Sampling}, {"elicitation", c.Elicitation}, {"roots", c.Roots}} {
		if present(m.v) {
			members = appendMember(members, m.key, m.v)
		}
	}
	s.caps = append(append([]byte{'{'}, members...), '}')
}

// heldInput is a backend's question to a stateless client, sent with
// the next input_required answer.
type heldInput struct {
	key, method string
	params      json.RawMessage
}

// askFor is a backend request relayed to the client, by the id the client
// sees.
type askFor struct {
	reply transports.Reply
	call  *relayCall
}

// relayCall is one client request in flight whose answer may stream.
type relayCall struct {
	s           *clientSession
	id          json.RawMessage // the client's request id
	target      string          // the provider or group it goes to
	providers   []string        // the providers whose messages may be its
	clientToken json.RawMessage // the client's progressToken, nil for none
	token       int64           // the gateway's, 0 for none
	out         chan []byte     // messages for the call's stream
	asked       chan struct{}   // a stateless client has questions waiting (inputs)
	inputs      []heldInput     // the backend's questions not yet sent (s.mu)
	state       string          // the requestState of a held call
	heldUntil   time.Time       // when a held call gives up (r.mu)
	final       chan []byte     // the answer
	cancel      context.CancelFunc
}

func newRelay(f *Front) *relay {
	r := &relay{f: f, max: f.opts.MaxSessions, ttl: f.opts.SessionTimeout,
		sessions: map[string]*clientSession{}, byProv: map[string]map[*clientSession]struct{}{},
		calls: map[int64]*relayCall{}, live: map[string][]*relayCall{}, held: map[string]*relayCall{}, stop: make(chan struct{}),
		streamsEnd: make(chan struct{})}
	if r.max <= 0 {
		r.max = DefaultMaxSessions
	}
	r.wg.Add(1)
	go r.janitor()
	return r
}

// janitor ends sessions idle longer than the session timeout.
func (r *relay) janitor() {
	defer r.wg.Done()
	t := time.NewTicker(min(r.ttl/2, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			cut := time.Now().Add(-r.ttl).UnixNano()
			r.mu.Lock()
			var expired []*relayCall
			for state, c := range r.held {
				if time.Now().After(c.heldUntil) {
					delete(r.held, state)
					expired = append(expired, c)
				}
			}
			var idle []*clientSession
			for _, s := range r.sessions {
				if s.lastUsed.Load() < cut && s.idle() {
					idle = append(idle, s)
				}
			}
			r.mu.Unlock()
			for _, s := range idle {
				r.end(s)
			}
			for _, c := range expired {
				c.cancel()
				r.finish(c)
			}
		}
	}
}

func (s *clientSession) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight) == 0 && !s.attached
}

// endStreams ends the streams that carry no call, now and for good.
func (r *relay) endStreams() { r.streamsOnce.Do(func() { close(r.streamsEnd) }) }

// streamsEnded reports whether the streams were ended.
func (r *relay) streamsEnded() bool {
	select {
	case <-r.streamsEnd:
		return true
	default:
		return false
	}
}

// close ends every session and waits for the janitor.
func (r *relay) close() {
	r.endStreams()
	close(r.stop)
	r.wg.Wait()
	r.mu.Lock()
	all := make([]*clientSession, 0, len(r.sessions))
	for _, s := range r.sessions {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		r.end(s)
	}
	r.mu.Lock()
	held := r.held
	r.held = map[string]*relayCall{}
	r.mu.Unlock()
	for _, c := range held {
		c.cancel()
		r.finish(c)
	}
}

// end removes a session: its stream closes, its calls are cancelled and
// the backend's requests waiting on it are declined.
func (r *relay) end(s *clientSession) {
	r.mu.Lock()
	delete(r.sessions, s.id)
	if m := r.byProv[s.provider]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(r.byProv, s.provider)
		}
	}
	r.mu.Unlock()
	s.mu.Lock()
	if s.isClosed {
		s.mu.Unlock()
		return
	}
	s.isClosed = true
	close(s.closed)
	calls := slices.Clone(s.inflight)
	asks := s.asks
	s.asks = nil
	s.mu.Unlock()
	for _, c := range calls {
		c.cancel()
	}
	for _, a := range asks {
		a.reply(nil, &transports.RPCError{Code: -32603, Message: "the client session ended"})
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.mu.Lock()
	followed := s.followed
	s.followed = nil
	s.mu.Unlock()
	for f := range followed {
		_ = r.f.rt.Subscribe(s.tenant, f.provider, f.uri, false)
	}
}

// followed is a resource of a provider a session follows (see follow).
type followed struct{ provider, uri string }

// subscribe serves resources/subscribe and resources/unsubscribe: the
// provider follows the resource for as long as any session does
// (Runtime.Subscribe), whichever revision its backend speaks.
func (r *relay) subscribe(c *relayCall, method string, members map[string]json.RawMessage) []byte {
	var uri string
	if json.Unmarshal(members["uri"], &uri) != nil || uri == "" {
		return appendError(nil, c.reqID(), &transports.RPCError{Code: -32602, Message: "Invalid params: uri"})
	}
	if err := r.follow(c.s, c.target, uri, method == "resources/subscribe"); err != nil {
		return appendError(nil, c.reqID(), err)
	}
	return appendResult(nil, c.reqID(), json.RawMessage(`{}`))
}

// follow has a session follow (on) a provider's resource or let it go.
func (r *relay) follow(s *clientSession, provider, uri string, on bool) *transports.RPCError {
	f := followed{provider, uri}
	// One change at a time, and none once end let go of them all.
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.mu.Lock()
	if s.isClosed || s.followed[f] == on {
		s.mu.Unlock()
		return nil
	}
	if on && len(s.followed) >= maxListenURIs {
		s.mu.Unlock()
		return &transports.RPCError{Code: -32602, Message: "Invalid params: a session follows at most 1000 resources"}
	}
	if s.followed == nil {
		s.followed = map[followed]bool{}
	}
	if on {
		s.followed[f] = true
	} else {
		delete(s.followed, f)
	}
	s.mu.Unlock()
	if err := r.f.rt.Subscribe(s.tenant, provider, uri, on); err != nil {
		if on {
			s.mu.Lock()
			delete(s.followed, f)
			s.mu.Unlock()
		}
		return rpcError(err)
	}
	return nil
}

// handles reports whether a request to /mcp/{id} is the relay's: one
// naming a relay session, or an initialize of a session revision.
func (r *relay) handles(ctx *fasthttp.RequestCtx) bool {
	if sid := ctx.Request.Header.Peek("Mcp-Session-Id"); len(sid) > 0 {
		r.mu.Lock()
		_, ok := r.sessions[string(sid)]
		r.mu.Unlock()
		return ok
	}
	if !ctx.IsPost() {
		return false
	}
	var env struct {
		Method string `json:"method"`
		Params struct {
			ProtocolVersion string `json:"protocolVersion"`
			Meta            struct {
				ProtocolVersion string `json:"io.modelcontextprotocol/protocolVersion"`
			} `json:"_meta"`
		} `json:"params"`
	}
	if json.Unmarshal(ctx.PostBody(), &env) != nil {
		return false
	}
	if env.Method == "initialize" {
		return env.Params.ProtocolVersion < transports.Protocol20260728
	}
	// A request of the stateless revision.
	return string(ctx.Request.Header.Peek("Mcp-Protocol-Version")) >= transports.Protocol20260728 ||
		env.Params.Meta.ProtocolVersion >= transports.Protocol20260728
}

// envelope is one JSON-RPC message from the client.
type envelope transports.Message

// parseEnvelope reads one message of a request's body: a copy of it, as
// parts of the message outlive the request (its id, for one).
func parseEnvelope(body []byte, env *envelope) (code int, err error) {
	if err := transports.ParseMessage(bytes.Clone(body), (*transports.Message)(env)); err != nil {
		if jsonx.Valid(body) {
			return -32600, errors.New("Invalid Request: a message is a JSON object whose jsonrpc and method are strings")
		}
		return -32700, fmt.Errorf("Parse error: %w", err)
	}
	return 0, nil
}

func (e *envelope) isRequest() bool { return e.Method != "" && present(e.ID) }

func present(v json.RawMessage) bool { return len(v) > 0 && string(v) != "null" }

// serve handles one request of the relay (see handles) for provider id.
func (r *relay) serve(ctx *fasthttp.RequestCtx, id string) {
	principal, tenant := web.Who(ctx)
	var s *clientSession
	if sid := ctx.Request.Header.Peek("Mcp-Session-Id"); len(sid) > 0 {
		r.mu.Lock()
		s = r.sessions[string(sid)]
		r.mu.Unlock()
		// A session is its creator's: to anyone else it does not exist.
		if s == nil || s.provider != id || s.principal != principal || s.tenant != tenant {
			rpcFail(ctx, http.StatusNotFound, nil, -32001, "Session not found")
			return
		}
		s.lastUsed.Store(time.Now().UnixNano())
		// The header must name a revision that has sessions; clients
		// (and the conformance suite) may send an older one than was
		// negotiated, as the SDKs' own servers accept.
		if v := ctx.Request.Header.Peek("Mcp-Protocol-Version"); len(v) > 0 && string(v) != s.version &&
			!slices.Contains(transports.LegacyVersions, string(v)) {
			rpcFail(ctx, http.StatusBadRequest, nil, -32600,
				fmt.Sprintf("Bad Request: MCP-Protocol-Version %q is not a revision of the session's kind (it negotiated %q)", v, s.version))
			return
		}
	}
	switch {
	case ctx.IsGet():
		r.openStream(ctx, s)
		return
	case ctx.IsDelete():
		if s == nil {
			rpcFail(ctx, http.StatusBadRequest, nil, -32600, "Bad Request: DELETE needs the Mcp-Session-Id of the session to end")
			return
		}
		r.end(s)
		ctx.SetStatusCode(http.StatusNoContent)
		return
	}
	if body := bytes.TrimLeft(ctx.PostBody(), " \t\r\n"); len(body) > 0 && body[0] == '[' {
		version := string(ctx.Request.Header.Peek("Mcp-Protocol-Version"))
		if version == "" && s != nil {
			version = s.version
		}
		switch {
		case s == nil:
			rpcFail(ctx, http.StatusBadRequest, nil, -32600, "Invalid Request: initialize is a single message, not a batch")
		case version >= batchesRemoved:
			web.Raw(ctx, http.StatusBadRequest, batchRefusal(version))
		default:
			r.batch(ctx, s, body)
		}
		return
	}
	var env envelope
	if code, err := parseEnvelope(ctx.PostBody(), &env); err != nil {
		rpcFail(ctx, http.StatusBadRequest, nil, code, err.Error())
		return
	}
	if env.JSONRPC != "2.0" {
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32600, `Invalid Request: "jsonrpc" must be "2.0"`)
		return
	}
	if s == nil {
		if (env.Method != "initialize" || statelessWire(ctx, &env)) && present(env.ID) {
			r.statelessRequest(ctx, id, principal, tenant, &env)
			return
		}
		r.initialize(ctx, id, principal, tenant, &env)
		return
	}
	switch {
	case env.Method == "initialize":
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32600, "Invalid Request: the session is already initialized")
	case env.Method == "":
		// The client answers a request the backend sent it.
		s.answered(&env)
		ctx.SetStatusCode(http.StatusAccepted)
	case !present(env.ID):
		s.notified(&env)
		ctx.SetStatusCode(http.StatusAccepted)
	default:
		r.request(ctx, s, &env)
	}
}

// rpcFail answers with a JSON-RPC error.
func rpcFail(ctx *fasthttp.RequestCtx, status int, id json.RawMessage, code int, msg string) {
	web.Raw(ctx, status, appendError(nil, id, &transports.RPCError{Code: code, Message: msg}))
}

func appendError(b []byte, id json.RawMessage, e *transports.RPCError) []byte {
	b = appendHead(b, id)
	b = append(b, `,"error":{"code":`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, `,"message":`...)
	b = jsonx.AppendString(b, e.Message)
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, e.Data...)
	}
	return append(b, "}}"...)
}

func appendResult(b []byte, id, result json.RawMessage) []byte {
	b = appendHead(b, id)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, '}')
}

func appendHead(b []byte, id json.RawMessage) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	if present(id) {
		return append(b, id...)
	}
	return append(b, "null"...)
}

// initialize opens a session: the provider starts if it is cold, and the
// client gets its backend's capabilities, serverInfo and instructions.
func (r *relay) initialize(ctx *fasthttp.RequestCtx, id, principal, tenant string, env *envelope) {
	if env.Method != "initialize" || !present(env.ID) {
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32600, "Bad Request: no Mcp-Session-Id header (initialize first)")
		return
	}
	var p struct {
		ProtocolVersion string             `json:"protocolVersion"`
		Capabilities    clientCapabilities `json:"capabilities"`
	}
	if err := json.Unmarshal(env.Params, &p); err != nil {
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32602, "Invalid params: "+err.Error())
		return
	}
	rctx := web.Context(ctx)
	var srv *transports.ServerInfo
	if id != "" {
		if _, err := r.f.rt.Tools(rctx, id, true); err != nil {
			rpcFail(ctx, http.StatusOK, env.ID, -32603, "the server could not be started: "+err.Error())
			return
		}
		info, err := r.f.rt.Get(id)
		if err != nil || info.Server == nil {
			rpcFail(ctx, http.StatusOK, env.ID, -32603, "the server is not running")
			return
		}
		srv = info.Server
	} else {
		// The aggregate's capabilities are its providers': start them.
		r.f.discover(rctx, "")
	}
	version := p.ProtocolVersion
	if !slices.Contains(transports.LegacyVersions, version) {
		version = transports.Protocol20251125
	}
	s := &clientSession{r: r, id: newSessionID(), provider: id, principal: principal, tenant: tenant, version: version,
		subs: map[string]bool{}, asks: map[string]askFor{},
		stream: make(chan []byte, streamQueue), closed: make(chan struct{})}
	s.setCapabilities(&p.Capabilities)
	s.lastUsed.Store(time.Now().UnixNano())
	r.mu.Lock()
	if len(r.sessions) >= r.max {
		r.mu.Unlock()
		ctx.Response.Header.Set("Retry-After", "5")
		rpcFail(ctx, http.StatusServiceUnavailable, env.ID, -32603,
			fmt.Sprintf("the gateway holds %d client sessions, its limit; end idle sessions or retry later", r.max))
		return
	}
	r.sessions[s.id] = s
	if r.byProv[id] == nil {
		r.byProv[id] = map[*clientSession]struct{}{}
	}
	r.byProv[id][s] = struct{}{}
	r.mu.Unlock()

	b := append(appendHead(nil, env.ID), `,"result":{"protocolVersion":`...)
	b = jsonx.AppendString(b, version)
	b = append(b, `,"capabilities":`...)
	name, ver := "switchyard", r.f.opts.Version
	if srv != nil {
		b = append(b, capabilities(srv.Capabilities)...)
		name, ver = srv.Name, srv.Version
	} else {
		b = append(b, r.aggregateCapabilities(s)...)
	}
	b = append(b, `,"serverInfo":{"name":`...)
	b = jsonx.AppendString(b, name)
	b = append(b, `,"version":`...)
	b = jsonx.AppendString(b, ver)
	b = append(b, '}')
	if srv != nil && srv.Instructions != "" {
		b = append(b, `,"instructions":`...)
		b = jsonx.AppendString(b, srv.Instructions)
	}
	b = append(b, "}}"...)
	ctx.Response.Header.Set("Mcp-Session-Id", s.id)
	web.Raw(ctx, http.StatusOK, b)
}

// capabilities are the backend's, with what the relay adds: tool list
// changes (the gateway announces them) and logging (it keeps each
// session's level).
func capabilities(raw json.RawMessage) []byte {
	var caps map[string]json.RawMessage
	if json.Unmarshal(raw, &caps) != nil || caps == nil {
		caps = map[string]json.RawMessage{}
	}
	if _, ok := caps["tools"]; !ok {
		caps["tools"] = json.RawMessage(`{"listChanged":true}`)
	}
	if _, ok := caps["logging"]; !ok {
		caps["logging"] = json.RawMessage(`{}`)
	}
	b, _ := json.Marshal(caps)
	return b
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// notified handles a notification from the client.
func (s *clientSession) notified(env *envelope) {
	if env.Method != "notifications/cancelled" {
		return // initialized, roots/list_changed: nothing to relay
	}
	// Cancelling a call in flight cancels it upstream; the client gets
	// no answer for it.
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(env.Params, &p) != nil {
		return
	}
	s.mu.Lock()
	var hit *relayCall
	for _, c := range s.inflight {
		if string(c.id) == string(p.RequestID) {
			hit = c
		}
	}
	s.mu.Unlock()
	if hit != nil {
		hit.cancel()
	}
}

// answered routes the client's answer to a request the backend sent it.
func (s *clientSession) answered(env *envelope) {
	var key string
	if json.Unmarshal(env.ID, &key) != nil {
		return
	}
	s.mu.Lock()
	a, ok := s.asks[key]
	delete(s.asks, key)
	s.mu.Unlock()
	if !ok {
		return
	}
	if env.Error != nil {
		a.reply(nil, env.Error)
		return
	}
	a.reply(env.Result, nil)
}

// levels orders the logging levels of the protocol.
var levels = map[string]int{"debug": 0, "info": 1, "notice": 2, "warning": 3, "error": 4, "critical": 5, "alert": 6, "emergency": 7}

// request handles one client request.
func (r *relay) request(ctx *fasthttp.RequestCtx, s *clientSession, env *envelope) {
	if b, ok := r.local(web.Context(ctx), s, env); ok {
		web.Raw(ctx, http.StatusOK, s.finish(env.Method, b))
		return
	}
	r.run(ctx, s, env)
}

// local answers what the relay answers itself (ping, tools/list, a level
// the stateless revision takes per request), keeping note of the state a
// request changes (the session's level, its subscriptions); ok is false
// for a request the backend answers.
func (r *relay) local(ctx context.Context, s *clientSession, env *envelope) (answer []byte, ok bool) {
	switch env.Method {
	case "ping":
		return appendResult(nil, env.ID, json.RawMessage(`{}`)), true
	case "tools/list":
		if s.provider == "" {
			return r.aggregateTools(ctx, env.ID), true
		}
		return r.listTools(ctx, s, env.ID), true
	case "logging/setLevel":
		var p struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(env.Params, &p) != nil {
			return appendError(nil, env.ID, &transports.RPCError{Code: -32602, Message: "Invalid params: level"}), true
		}
		if _, ok := levels[p.Level]; !ok {
			return appendError(nil, env.ID, &transports.RPCError{Code: -32602, Message: fmt.Sprintf("Invalid params: unknown level %q", p.Level)}), true
		}
		s.mu.Lock()
		s.level = p.Level
		s.mu.Unlock()
		if s.provider != "" && r.stateless(s.provider) {
			// The stateless revision takes the level per request.
			return appendResult(nil, env.ID, json.RawMessage(`{}`)), true
		}
	case "resources/subscribe", "resources/unsubscribe":
		var p struct {
			URI string `json:"uri"`
		}
		_ = json.Unmarshal(env.Params, &p)
		s.mu.Lock()
		if env.Method == "resources/subscribe" {
			s.subs[p.URI] = true
		} else {
			delete(s.subs, p.URI)
		}
		s.mu.Unlock()
	}
	return nil, false
}

// batch serves a JSON-RPC batch of a 2025-03-26 session: its messages
// one after the other, the answers in one array (nothing streams).
func (r *relay) batch(ctx *fasthttp.RequestCtx, s *clientSession, body []byte) {
	var msgs []envelope
	if err := json.Unmarshal(body, &msgs); err != nil {
		rpcFail(ctx, http.StatusBadRequest, nil, -32700, "Parse error: "+err.Error())
		return
	}
	if len(msgs) == 0 {
		rpcFail(ctx, http.StatusBadRequest, nil, -32600, "Invalid Request: an empty batch")
		return
	}
	rctx := web.Context(ctx)
	out := []byte{'['}
	n := 0
	for i := range msgs {
		env := &msgs[i]
		var b []byte
		switch {
		case env.JSONRPC != "2.0":
			b = appendError(nil, env.ID, &transports.RPCError{Code: -32600, Message: `Invalid Request: "jsonrpc" must be "2.0"`})
		case env.Method == "":
			s.answered(env)
		case !present(env.ID):
			s.notified(env)
		case env.Method == "initialize":
			b = appendError(nil, env.ID, &transports.RPCError{Code: -32600, Message: "Invalid Request: the session is already initialized"})
		default:
			var ok bool
			if b, ok = r.local(rctx, s, env); !ok {
				b = r.runSync(rctx, s, env)
			}
		}
		if b == nil {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
		n++
	}
	if n == 0 {
		ctx.SetStatusCode(http.StatusAccepted)
		return
	}
	web.Raw(ctx, http.StatusOK, append(out, ']'))
}

// stateless reports whether a provider's backend speaks the stateless
// revision.
func (r *relay) stateless(id string) bool {
	info, err := r.f.rt.Get(id)
	return err == nil && info.Server != nil && info.Server.ProtocolVersion >= transports.Protocol20260728
}

// listTools answers tools/list with the tools the runtime holds for the
// provider (those its pin lets through), as every surface lists them.
func (r *relay) listTools(ctx context.Context, s *clientSession, id json.RawMessage) []byte {
	tools, err := r.f.rt.Tools(ctx, s.provider, true)
	if err != nil {
		return appendError(nil, id, &transports.RPCError{Code: -32603, Message: err.Error()})
	}
	if info, err := r.f.rt.Get(s.provider); err == nil {
		tools = info.ServerTools()
	}
	b := append(appendHead(nil, id), `,"result":{"tools":[`...)
	for i, t := range tools {
		if i > 0 {
			b = append(b, ',')
		}
		if len(t.Raw) > 0 {
			b = append(b, t.Raw...)
			continue
		}
		raw, _ := json.Marshal(t)
		b = append(b, raw...)
	}
	return append(b, "]}}"...)
}

// run sends a request to the backend and answers it with the backend's
// answer: plain JSON when nothing streamed, else an SSE stream carrying
// what the backend sent for the request, then its answer.
func (r *relay) run(ctx *fasthttp.RequestCtx, s *clientSession, env *envelope) {
	members, meta, clientTok, err := splitParams(env.Params)
	if err != nil {
		rpcFail(ctx, http.StatusOK, env.ID, -32602, "Invalid params: "+err.Error())
		return
	}
	rctx := web.Context(ctx)
	if s.version >= transports.Protocol20260728 {
		// The retry of a request the gateway answered with input_required
		// resumes the call it holds.
		if c, e := r.resume(s, env.ID, members); e != nil {
			web.Raw(ctx, http.StatusOK, appendError(nil, env.ID, e))
			return
		} else if c != nil {
			r.await(ctx, c)
			return
		}
	}
	c := &relayCall{s: s, id: env.ID, clientToken: clientTok}
	if e := r.route(c, env.Method, members); e != nil {
		web.Raw(ctx, http.StatusOK, appendError(nil, env.ID, e))
		return
	}
	if c.target == "" {
		web.Raw(ctx, http.StatusOK, s.finish(env.Method, r.merged(rctx, s, env.Method, env.ID)))
		return
	}
	if clientTok != nil {
		c.token = r.nextTok.Add(1)
		meta = appendMember(meta, "progressToken", strconv.AppendInt(nil, c.token, 10))
	}
	if !c.mayStream() {
		// Nothing can stream for this call: answer it in the handler.
		web.Raw(ctx, http.StatusOK, s.finish(env.Method, r.execSync(rctx, web.Cancel(ctx), c, env.Method, members, meta)))
		return
	}
	c.final = make(chan []byte, 1)
	// The call outlives the handler once it streams (or is held for a
	// stateless client's input): its context keeps the request's values
	// but ends with the stream, the hold or the session.
	cctx, cancel := context.WithCancel(context.WithoutCancel(rctx))
	c.cancel = cancel
	c.out = make(chan []byte, callQueue)
	c.asked = make(chan struct{}, 1)
	if s.version >= transports.Protocol20260728 {
		c.state = newSessionID()
	}
	r.begin(c)
	go func() { c.final <- s.finish(env.Method, r.exec(cctx, c, env.Method, members, meta)) }()
	r.await(ctx, c)
}

// await answers a call in flight: with its answer as plain JSON when
// nothing streamed first, else on an SSE stream after what streamed; for
// a stateless client the backend's question ends the answer with an
// input_required result, and the call waits, held, for the retry.
func (r *relay) await(ctx *fasthttp.RequestCtx, c *relayCall) {
	rctx := web.Context(ctx)
	var first []byte
	select {
	case b := <-c.final:
		r.finish(c)
		c.cancel()
		web.Raw(ctx, http.StatusOK, b)
		return
	case <-c.asked:
		web.Raw(ctx, http.StatusOK, r.hold(c))
		return
	case <-rctx.Done():
		// The client went away (or the drain ended) before anything
		// streamed: the call is cancelled upstream.
		c.cancel()
		<-c.final
		r.finish(c)
		rpcFail(ctx, http.StatusServiceUnavailable, c.reqID(), -32800, "Request cancelled: "+context.Cause(rctx).Error())
		return
	case first = <-c.out:
	}
	ctx.SetStatusCode(http.StatusOK)
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		held := false
		defer func() {
			if !held {
				c.cancel()
				r.finish(c)
			}
		}()
		tick := time.NewTicker(keepAlive)
		defer tick.Stop()
		if writeEvent(w, first) != nil {
			return
		}
		// drain writes what the backend sent before the answer.
		drain := func() bool {
			for {
				select {
				case m := <-c.out:
					if writeEvent(w, m) != nil {
						return false
					}
				default:
					return true
				}
			}
		}
		for {
			select {
			case m := <-c.out:
				if writeEvent(w, m) != nil {
					return
				}
			case b := <-c.final:
				if drain() {
					_ = writeEvent(w, b)
				}
				return
			case <-c.asked:
				if drain() {
					held = true
					_ = writeEvent(w, r.hold(c))
				}
				return
			case <-tick.C:
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
					return
				}
			}
		}
	})
}

// heldTTL is how long a call held for a stateless client's input waits
// for the retry that answers it.
const heldTTL = 5 * time.Minute

// reqID is the id of the client request the call answers now (a held
// call answers the retry that resumed it).
func (c *relayCall) reqID() json.RawMessage {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.id
}

// hold answers a stateless client's request with input_required for the
// backend's questions asked so far, and keeps the call for the retry.
func (r *relay) hold(c *relayCall) []byte {
	s := c.s
	s.mu.Lock()
	inputs := c.inputs
	c.inputs = nil
	id := c.id
	s.mu.Unlock()
	r.mu.Lock()
	r.held[c.state] = c
	c.heldUntil = time.Now().Add(heldTTL)
	r.mu.Unlock()
	b := append(appendHead(nil, id), `,"result":{"resultType":"input_required","inputRequests":{`...)
	for i, in := range inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, in.key)
		b = append(b, `:{"method":`...)
		b = jsonx.AppendString(b, in.method)
		b = append(b, `,"params":`...)
		if present(in.params) {
			b = append(b, in.params...)
		} else {
			b = append(b, "{}"...)
		}
		b = append(b, '}')
	}
	b = append(b, `},"requestState":`...)
	b = jsonx.AppendString(b, c.state)
	return append(b, "}}"...)
}

// resume finds the call a stateless retry answers (by its requestState,
// for the same principal), hands the answers in its inputResponses to the
// backend's waiting requests and returns the call, now answering id. It
// returns nil for a request that resumes nothing of the gateway's (a
// backend's own requestState goes on to the backend).
func (r *relay) resume(s *clientSession, id json.RawMessage, members map[string]json.RawMessage) (*relayCall, *transports.RPCError) {
	var state string
	if json.Unmarshal(members["requestState"], &state) != nil || state == "" {
		return nil, nil
	}
	r.mu.Lock()
	c := r.held[state]
	if c != nil && c.s.principal == s.principal && c.s.tenant == s.tenant && c.s.provider == s.provider {
		delete(r.held, state)
	} else {
		c = nil
	}
	r.mu.Unlock()
	if c == nil {
		return nil, nil
	}
	var answers map[string]json.RawMessage
	_ = json.Unmarshal(members["inputResponses"], &answers)
	cs := c.s
	cs.mu.Lock()
	c.id = id
	var replies []func()
	for key, a := range cs.asks {
		if a.call != c {
			continue
		}
		delete(cs.asks, key)
		if res, ok := answers[key]; ok {
			replies = append(replies, func() { a.reply(res, nil) })
		} else {
			replies = append(replies, func() {
				a.reply(nil, &transports.RPCError{Code: -32603, Message: "the client retried without answering " + key})
			})
		}
	}
	cs.mu.Unlock()
	for _, f := range replies {
		f()
	}
	return c, nil
}

// runSync runs a request and returns its answer; nothing streams.
func (r *relay) runSync(ctx context.Context, s *clientSession, env *envelope) []byte {
	// No progress can reach the client: its token is not passed on.
	members, meta, _, err := splitParams(env.Params)
	if err != nil {
		return appendError(nil, env.ID, &transports.RPCError{Code: -32602, Message: "Invalid params: " + err.Error()})
	}
	c := &relayCall{s: s, id: env.ID}
	if e := r.route(c, env.Method, members); e != nil {
		return appendError(nil, env.ID, e)
	}
	if c.target == "" {
		return r.merged(ctx, s, env.Method, env.ID)
	}
	return r.execSync(ctx, nil, c, env.Method, members, meta)
}

// execSync runs a call that cannot stream in the calling goroutine.
// The request's own context is the call's when the front end lets it be
// cancelled (cancelReq); else the call gets a context of its own.
func (r *relay) execSync(ctx context.Context, cancelReq context.CancelCauseFunc, c *relayCall, method string, members map[string]json.RawMessage, meta []byte) []byte {
	if cancelReq != nil {
		c.cancel = func() { cancelReq(errCancelledByClient) }
	} else {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ctx, c.cancel = cctx, cancel
	}
	r.begin(c)
	defer r.finish(c)
	return r.exec(ctx, c, method, members, meta)
}

// errCancelledByClient is the cause of a call the client cancelled.
var errCancelledByClient = errors.New("cancelled by the client")

// mayStream reports whether anything but the answer can reach the call:
// progress (it carries a token), log messages (its session set a level)
// or a request of the backend (its client declared a capability).
func (c *relayCall) mayStream() bool {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.token != 0 || s.level != "" || s.sampling || s.elicitation || s.roots
}

// writeEvent writes one SSE message event and flushes it.
func writeEvent(w *bufio.Writer, msg []byte) error {
	if _, err := w.WriteString("event: message\ndata: "); err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if _, err := w.WriteString("\n\n"); err != nil {
		return err
	}
	return w.Flush()
}

// begin registers a call in flight: with its session (for cancellation),
// and, when it can stream, with the relay (for routing).
func (r *relay) begin(c *relayCall) {
	s := c.s
	s.mu.Lock()
	s.inflight = append(s.inflight, c)
	s.mu.Unlock()
	if c.out == nil {
		return
	}
	r.mu.Lock()
	if c.token != 0 {
		r.calls[c.token] = c
	}
	for _, p := range c.providers {
		r.live[p] = append(r.live[p], c)
	}
	r.mu.Unlock()
}

// finish unregisters a call; the backend's requests still waiting on its
// client are declined.
func (r *relay) finish(c *relayCall) {
	s := c.s
	if c.out != nil {
		r.mu.Lock()
		delete(r.calls, c.token)
		if c.state != "" && r.held[c.state] == c {
			delete(r.held, c.state)
		}
		for _, p := range c.providers {
			l := r.live[p]
			if i := slices.Index(l, c); i >= 0 {
				l = slices.Delete(l, i, i+1)
			}
			if len(l) == 0 {
				delete(r.live, p)
			} else {
				r.live[p] = l
			}
		}
		r.mu.Unlock()
	}
	s.mu.Lock()
	if i := slices.Index(s.inflight, c); i >= 0 {
		s.inflight = slices.Delete(s.inflight, i, i+1)
	}
	var left []transports.Reply
	for k, a := range s.asks {
		if a.call == c {
			left = append(left, a.reply)
			delete(s.asks, k)
		}
	}
	s.mu.Unlock()
	for _, reply := range left {
		reply(nil, &transports.RPCError{Code: -32603, Message: "the client's request ended before it answered"})
	}
}

// exec runs one request and returns the JSON-RPC answer for the client.
func (r *relay) exec(ctx context.Context, c *relayCall, method string, members map[string]json.RawMessage, meta []byte) []byte {
	s := c.s
	meta = r.statelessMeta(s, c.target, meta)
	if method == "resources/subscribe" || method == "resources/unsubscribe" {
		return r.subscribe(c, method, members)
	}
	if method != "tools/call" {
		res, err := r.f.rt.Forward(ctx, &actors.ForwardRequest{Tenant: s.tenant, Principal: s.principal,
			Target: c.target, Method: method, Params: joinMembers(members), Meta: meta})
		if err != nil {
			return appendError(nil, c.reqID(), rpcError(err))
		}
		if s.provider == "" && method == "resources/read" {
			res = prefixContents(c.target, res)
		}
		return appendResult(nil, c.reqID(), res)
	}
	var tool string
	if json.Unmarshal(members["name"], &tool) != nil || tool == "" {
		return appendError(nil, c.reqID(), &transports.RPCError{Code: -32602, Message: "Invalid params: tools/call needs a tool name"})
	}
	args := members["arguments"]
	if !present(args) {
		args = nil
	}
	delete(members, "name")
	delete(members, "arguments")
	extra := joinMembers(members)
	var rep *actors.CallResult
	var err error
	for round := 0; ; round++ {
		rep, err = r.f.rt.Call(ctx, &actors.CallRequest{Tenant: s.tenant, Principal: s.principal, Target: c.target,
			Tool: tool, Args: args, Extra: extra, Meta: meta, Surface: actors.SurfaceMCP})
		var pending *actors.PendingApproval
		if errors.As(err, &pending) {
			rep, err = r.f.awaitApproval(ctx, s.tenant, pending.ID)
		}
		if err != nil || !bytes.Contains(rep.Result, []byte(`"input_required"`)) {
			break
		}
		// A stateless backend asks for input in its result: a stateless
		// client that can answer gets it as it is; the client of a session
		// revision is asked in its own protocol, and for what a client
		// cannot answer a human is, through the gateway; the call is then
		// retried with the answers.
		var ir inputRequired
		if json.Unmarshal(rep.Result, &ir) != nil || ir.ResultType != "input_required" ||
			(s.version >= transports.Protocol20260728 && s.canAll(&ir)) {
			break
		}
		if round == maxInputRounds {
			err = errors.New("the server kept asking for input")
			break
		}
		if extra, err = r.answerInputs(ctx, c, tool, &ir); err != nil {
			break
		}
	}
	var rpc *transports.RPCError
	switch {
	case err == nil:
		return appendResult(nil, c.reqID(), rep.Result)
	case errors.As(err, &rpc):
		return appendError(nil, c.reqID(), rpc)
	case errors.Is(err, actors.ErrNotFound), errors.Is(err, actors.ErrToolNotFound):
		return appendError(nil, c.reqID(), &transports.RPCError{Code: -32602, Message: err.Error()})
	case ctx.Err() != nil:
		return appendError(nil, c.reqID(), &transports.RPCError{Code: -32800, Message: "Request cancelled"})
	}
	// The gateway's own refusals (policy, schema, limits, a backend that
	// failed) are tool errors the model can read.
	b := append(appendHead(nil, c.reqID()), `,"result":{"content":[{"type":"text","text":`...)
	b = jsonx.AppendString(b, err.Error())
	return append(b, `}],"isError":true}}`...)
}

// statelessMeta adds to a request's _meta what a backend of the stateless
// revision learns from each request rather than from a session: the
// capabilities of the client (so that it asks what the client can
// answer) and the log level the client set.
func (r *relay) statelessMeta(s *clientSession, target string, meta []byte) []byte {
	s.mu.Lock()
	level := s.level
	s.mu.Unlock()
	if (len(s.caps) <= 2 && level == "") || !r.stateless(target) {
		return meta
	}
	if len(s.caps) > 2 {
		meta = appendMember(meta, metaClientCapabilities, s.caps)
	}
	if level != "" && !bytes.Contains(meta, []byte(metaLogLevel)) {
		meta = appendMember(meta, metaLogLevel, jsonx.AppendString(nil, level))
	}
	return meta
}

// rpcError is the JSON-RPC error answering a forwarded request's error:
// the backend's own as it is, else one for the gateway's refusal.
func rpcError(err error) *transports.RPCError {
	var rpc *transports.RPCError
	switch {
	case errors.As(err, &rpc):
		return rpc
	case errors.Is(err, actors.ErrNotFound), errors.Is(err, actors.ErrInvalid):
		return &transports.RPCError{Code: -32602, Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &transports.RPCError{Code: -32800, Message: "Request cancelled"}
	}
	return &transports.RPCError{Code: -32603, Message: err.Error()}
}

// splitParams splits a request's params object into its members and the
// members of its _meta object (raw, without braces, the progress token
// taken out and returned on its own).
func splitParams(params json.RawMessage) (members map[string]json.RawMessage, meta []byte, token json.RawMessage, err error) {
	if !present(params) {
		return map[string]json.RawMessage{}, nil, nil, nil
	}
	members = make(map[string]json.RawMessage, 4)
	if objectMembers(params, members) != nil {
		return nil, nil, nil, errors.New("params must be an object")
	}
	raw, ok := members["_meta"]
	if !ok {
		return members, nil, nil, nil
	}
	delete(members, "_meta")
	m := make(map[string]json.RawMessage, 4)
	if objectMembers(raw, m) != nil {
		return nil, nil, nil, errors.New("_meta must be an object")
	}
	if t, ok := m["progressToken"]; ok && present(t) {
		token = t
		delete(m, "progressToken")
	}
	// The backend's connection sends its own version, client info and
	// capabilities (a stateless client's log level goes on).
	delete(m, metaProtocolVersion)
	delete(m, metaClientInfo)
	delete(m, metaClientCapabilities)
	return members, joinMembers(m), token, nil
}

// objectMembers adds the members of the JSON object data to m (the last
// of duplicate keys wins), aliasing data, as json.Unmarshal into a map
// would with copies.
func objectMembers(data []byte, m map[string]json.RawMessage) error {
	return jsonx.Members(data, func(k, v []byte) bool {
		m[string(k)] = v
		return true
	})
}

// joinMembers writes object members raw, without the braces (nil for none).
func joinMembers(m map[string]json.RawMessage) []byte {
	var b []byte
	for k, v := range m {
		b = appendMember(b, k, v)
	}
	return b
}

// appendMember appends "key":value to raw object members.
func appendMember(b []byte, key string, value []byte) []byte {
	if len(b) > 0 {
		b = append(b, ',')
	}
	b = jsonx.AppendString(b, key)
	b = append(b, ':')
	return append(b, value...)
}

// openStream serves a session's GET stream: what the backend sends
// outside any call (list changes, resource updates, log messages).
func (r *relay) openStream(ctx *fasthttp.RequestCtx, s *clientSession) {
	if s == nil {
		rpcFail(ctx, http.StatusBadRequest, nil, -32600, "Bad Request: a GET stream needs the Mcp-Session-Id of an initialized session")
		return
	}
	if r.streamsEnded() {
		ctx.Response.Header.Set("Retry-After", "5")
		rpcFail(ctx, http.StatusServiceUnavailable, nil, -32603, "the gateway is shutting down")
		return
	}
	s.mu.Lock()
	if s.attached {
		s.mu.Unlock()
		rpcFail(ctx, http.StatusConflict, nil, -32600, "Conflict: the session already has a GET stream open")
		return
	}
	s.attached = true
	s.mu.Unlock()
	ctx.SetStatusCode(http.StatusOK)
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer func() {
			s.mu.Lock()
			s.attached = false
			s.mu.Unlock()
			s.lastUsed.Store(time.Now().UnixNano())
		}()
		tick := time.NewTicker(keepAlive)
		defer tick.Stop()
		// The comment makes the headers reach the client at once.
		if _, err := w.WriteString(": stream open\n\n"); err != nil || w.Flush() != nil {
			return
		}
		for {
			select {
			case m := <-s.stream:
				if writeEvent(w, m) != nil {
					return
				}
			case <-tick.C:
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
					return
				}
			case <-s.closed:
				return
			case <-r.streamsEnd:
				return
			}
		}
	})
}

// push queues a message without waiting; a full queue drops it.
func (r *relay) push(q chan []byte, msg []byte) bool {
	select {
	case q <- msg:
		return true
	default:
		r.dropped.Add(1)
		return false
	}
}

// notification builds a JSON-RPC notification.
func notification(method string, params json.RawMessage) []byte {
	b := append([]byte(`{"jsonrpc":"2.0","method":`), jsonx.AppendString(nil, method)...)
	if present(params) {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, '}')
}

// newest returns the newest streaming call in flight on a provider that
// ok accepts, nil for none. r.mu is held.
func (r *relay) newest(provider string, ok func(*relayCall) bool) *relayCall {
	l := r.live[provider]
	for i := len(l) - 1; i >= 0; i-- {
		if ok(l[i]) {
			return l[i]
		}
	}
	return nil
}

// Notify routes a backend's notification (see actors.ClientRelay).
func (r *relay) Notify(provider, method string, params json.RawMessage) {
	switch method {
	case "notifications/progress":
		var p struct {
			Token json.Number `json:"progressToken"`
		}
		if json.Unmarshal(params, &p) != nil {
			return
		}
		tok, err := p.Token.Int64()
		if err != nil {
			return
		}
		r.mu.Lock()
		c := r.calls[tok]
		r.mu.Unlock()
		if c == nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(params, &m) != nil {
			return
		}
		m["progressToken"] = c.clientToken
		raw, _ := json.Marshal(m)
		r.push(c.out, notification(method, raw))
	case "notifications/message":
		var p struct {
			Level string `json:"level"`
		}
		_ = json.Unmarshal(params, &p)
		lv, known := levels[p.Level]
		r.mu.Lock()
		c := r.newest(provider, func(c *relayCall) bool {
			c.s.mu.Lock()
			defer c.s.mu.Unlock()
			return c.s.level == "" || !known || lv >= levels[c.s.level]
		})
		r.mu.Unlock()
		if c != nil {
			r.push(c.out, notification(method, params))
		}
	case "notifications/resources/updated":
		var p struct {
			URI string `json:"uri"`
		}
		_ = json.Unmarshal(params, &p)
		msg := notification(method, params)
		for _, s := range r.sessionsOf(provider) {
			if s.subscribed(p.URI) {
				r.push(s.stream, msg)
			}
		}
		if agg := r.sessionsOf(""); len(agg) > 0 {
			uri := prefixURI(provider, p.URI)
			var m map[string]json.RawMessage
			if json.Unmarshal(params, &m) != nil {
				return
			}
			m["uri"] = jsonString(uri)
			raw, _ := json.Marshal(m)
			msg := notification(method, raw)
			for _, s := range agg {
				if s.subscribed(uri) {
					r.push(s.stream, msg)
				}
			}
		}
	case "notifications/resources/list_changed", "notifications/prompts/list_changed":
		msg := notification(method, params)
		for _, s := range append(r.sessionsOf(provider), r.sessionsOf("")...) {
			if s.wants(method) {
				r.push(s.stream, msg)
			}
		}
	}
	// tools/list_changed reaches clients when the runtime has the new
	// list (toolsChanged); other notifications have no client to go to.
}

// toolsChanged tells every session of a provider that its tools changed.
func (r *relay) toolsChanged(provider string) {
	msg := notification("notifications/tools/list_changed", nil)
	for _, s := range append(r.sessionsOf(provider), r.sessionsOf("")...) {
		s.mu.Lock()
		open := s.attached
		s.mu.Unlock()
		if open && s.wants("notifications/tools/list_changed") {
			r.push(s.stream, msg)
		}
	}
}

// wants reports whether a list change goes to the session's stream.
func (s *clientSession) wants(method string) bool {
	return s.want == nil || s.want[method]
}

// subscribed reports whether the session subscribed to a resource URI.
func (s *clientSession) subscribed(uri string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[uri]
}

// sessionsOf lists the sessions of a provider ("" for the aggregate's).
func (r *relay) sessionsOf(provider string) []*clientSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*clientSession, 0, len(r.byProv[provider]))
	for s := range r.byProv[provider] {
		out = append(out, s)
	}
	return out
}

// Request routes a backend's request to its client (see
// actors.ClientRelay): to the newest streaming call on the provider whose
// client declared the capability the request needs.
func (r *relay) Request(provider, method string, params json.RawMessage, reply transports.Reply) bool {
	r.mu.Lock()
	c := r.newest(provider, func(c *relayCall) bool { return c.s.can(method) })
	r.mu.Unlock()
	return c != nil && r.askClient(c, method, params, reply)
}

// can reports whether the session's client declared what a request of
// the server needs.
func (s *clientSession) can(method string) bool {
	switch method {
	case "sampling/createMessage":
		return s.sampling
	case "elicitation/create":
		return s.elicitation
	case "roots/list":
		// A backend asks for roots when it likes, not for a call: a
		// stateless client has no stream to be asked on outside a call.
		return s.roots && s.version < transports.Protocol20260728
	}
	return false
}

// askClient sends a request to the client on a call's stream; reply gets
// the client's answer (or an error when the call ends first). It reports
// false when the session is gone.
func (r *relay) askClient(c *relayCall, method string, params json.RawMessage, reply transports.Reply) bool {
	s := c.s
	s.mu.Lock()
	if s.isClosed {
		s.mu.Unlock()
		return false
	}
	s.nextAsk++
	key := "sy-" + strconv.FormatInt(s.nextAsk, 10)
	s.asks[key] = askFor{reply: reply, call: c}
	if s.version >= transports.Protocol20260728 {
		// A stateless client is asked in the answer (input_required).
		c.inputs = append(c.inputs, heldInput{key: key, method: method, params: params})
		s.mu.Unlock()
		select {
		case c.asked <- struct{}{}:
		default:
		}
		return true
	}
	s.mu.Unlock()
	b := append([]byte(`{"jsonrpc":"2.0","id":`), jsonx.AppendString(nil, key)...)
	b = append(b, `,"method":`...)
	b = jsonx.AppendString(b, method)
	if present(params) {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	b = append(b, '}')
	if !r.push(c.out, b) {
		s.mu.Lock()
		delete(s.asks, key)
		s.mu.Unlock()
		reply(nil, &transports.RPCError{Code: -32603, Message: "the client's stream is full"})
	}
	return true
}

// canAll reports whether the client declared what every input request
// needs.
func (s *clientSession) canAll(ir *inputRequired) bool {
	for _, req := range ir.InputRequests {
		if !s.can(req.Method) {
			return false
		}
	}
	return true
}

// inputRequired is the part of a 2026-07-28 result that asks the client
// for input before the request is retried.
type inputRequired struct {
	ResultType    string `json:"resultType"`
	InputRequests map[string]struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	} `json:"inputRequests"`
	RequestState string `json:"requestState"`
}

// answerInputs gets the answers to a stateless backend's input requests:
// from this call's client when it declared what a request needs (asked on
// the call's stream, as a server of its own revision would), else, for an
// elicitation, from a human through the gateway's pending elicitations.
// It returns the members to retry the request with.
func (r *relay) answerInputs(ctx context.Context, c *relayCall, tool string, ir *inputRequired) ([]byte, error) {
	var answers []byte // members of inputResponses
	for key, req := range ir.InputRequests {
		var answer json.RawMessage
		switch {
		case c.out != nil && c.s.can(req.Method):
			got := make(chan json.RawMessage, 1)
			fail := make(chan *transports.RPCError, 1)
			if !r.askClient(c, req.Method, req.Params, func(res json.RawMessage, e *transports.RPCError) {
				if e != nil {
					fail <- e
					return
				}
				got <- res
			}) {
				return nil, errors.New("the client session ended")
			}
			select {
			case answer = <-got:
			case e := <-fail:
				return nil, fmt.Errorf("the client declined the server's %s: %s", req.Method, e.Message)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case req.Method == "elicitation/create":
			var p struct {
				Message string          `json:"message"`
				Schema  json.RawMessage `json:"requestedSchema"`
			}
			_ = json.Unmarshal(req.Params, &p)
			if !present(p.Schema) {
				p.Schema = json.RawMessage(`{"type":"object"}`)
			}
			content, err := r.f.rt.Agents().AwaitInput(ctx, actors.ElicitationSpec{Tenant: c.s.tenant, Tool: tool,
				Message: p.Message, Schema: p.Schema})
			if err != nil {
				return nil, err
			}
			answer = append(append([]byte(`{"action":"accept","content":`), content...), '}')
		default:
			return nil, fmt.Errorf("the server asks for %s, which this client did not declare", req.Method)
		}
		answers = appendMember(answers, key, answer)
	}
	b := append([]byte(`"inputResponses":{`), answers...)
	b = append(b, '}')
	if ir.RequestState != "" {
		b = append(b, `,"requestState":`...)
		b = jsonx.AppendString(b, ir.RequestState)
	}
	return b, nil
}
