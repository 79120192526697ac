package transports

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/jsonx"
)

// RemoteSpec describes a remote MCP server reached over HTTP: the
// streamable HTTP transport (revisions 2025-03-26 to 2026-07-28) or, when the
// first exchange shows it, the legacy HTTP+SSE transport of 2024-11-05.
type RemoteSpec struct {
	// Endpoint is the http(s) URL of the MCP endpoint (for a legacy HTTP+SSE
	// server, the URL of its event stream).
	Endpoint string
	// Headers are sent on every request. They come from the configuration
	// only: nothing of the requests the gateway's own clients send is ever
	// forwarded.
	Headers map[string]string
	// BearerToken, when set, is sent as "Authorization: Bearer <token>" on
	// every request.
	BearerToken string
	// CAFile names a PEM bundle of CA certificates. When set, https servers
	// are verified against these CAs only. It cannot be combined with Client.
	CAFile string
	// Client is the HTTP client to use. When nil one is built with dial and
	// TLS handshake timeouts and a keep-alive pool sized to MaxConcurrent. A
	// client must not have an overall Timeout: event streams stay open.
	Client *http.Client
	// MaxConcurrent bounds the concurrent HTTP requests carrying messages
	// (default 64). When all are busy the Mux's writer waits, and the Mux's
	// queue fills behind it: backpressure. The long-lived event streams (the
	// GET stream and subscriptions/listen) do not count.
	MaxConcurrent int
	// Hooks are the backend's callbacks. OnStderr is not used; OnProgress
	// reports re-established sessions and event streams.
	Hooks Hooks
	// Reconnect returns how long to wait before retry number attempt (from
	// 0) of a dropped event stream or session. The default doubles from
	// 100ms up to 10s.
	Reconnect func(attempt int) time.Duration
}

// Protocol details of the HTTP transports.
const (
	methodInitialize  = "initialize"
	methodInitialized = "notifications/initialized"
	methodCancelled   = "notifications/cancelled"
	methodDiscover    = "server/discover"
	methodListen      = "subscriptions/listen"
	methodToolsList   = "tools/list"
	metaVersionKey    = "io.modelcontextprotocol/protocolVersion"

	// codeRemoteFailure is the JSON-RPC error code of the answers the
	// adapter makes up for requests the HTTP layer failed.
	codeRemoteFailure = -32000
	// replayIDPrefix starts the ids of the initialize requests replayed to
	// re-establish a session; their answers are not relayed.
	replayIDPrefix = "switchyard-replay-"
)

// Bounds of the HTTP transports.
const (
	defaultMaxConcurrent = 64
	// remoteDeleteTimeout bounds the DELETE that ends a session at Stop.
	remoteDeleteTimeout = 2 * time.Second
	// remoteReinitTimeout bounds one re-establishment of a session.
	remoteReinitTimeout = 30 * time.Second
	// legacyConnectTimeout bounds the wait for a legacy server's endpoint
	// event.
	legacyConnectTimeout = 10 * time.Second
	// streamSettled is how long an event stream must have stayed open for
	// its reconnection backoff to start over.
	streamSettled = 5 * time.Second
	// maxErrorBody bounds the body of an error status read for its message.
	maxErrorBody = 64 << 10
	// maxRetryWait bounds the reconnection waits a server sets with SSE
	// retry fields.
	maxRetryWait = 5 * time.Minute
	// maxResumes bounds the attempts to resume a POST's event stream.
	maxResumes = 5
	// settledSweep is how often a writer waiting for a request slot looks
	// for calls the Mux has given up on.
	settledSweep = 100 * time.Millisecond
)

// errRemoteStopped is the reason a stopped remote backend gives its Mux.
var errRemoteStopped = errors.New("remote backend stopped")

// remoteKind is the transport a remote endpoint turned out to speak.
type remoteKind int

const (
	remoteUnknown    remoteKind = iota // no exchange has told yet
	remoteStreamable                   // streamable HTTP
	remoteLegacy                       // HTTP+SSE (2024-11-05)
)

// Remote is a remote MCP server spoken to over HTTP through a Mux. An
// adapter turns the Mux's line stream into HTTP requests: each message the
// Mux writes is POSTed on its own goroutine, and every message the server
// sends back (in a JSON body, an event stream, or the legacy transport's
// single stream) is handed to the Mux's reader as a line. HTTP failures of a
// request are answered with a JSON-RPC error, so the caller fails at once;
// a session the server lost is re-established transparently.
type Remote struct {
	endpoint  *url.URL
	client    *http.Client
	transport *http.Transport // the built client's, closed at the end; nil for RemoteSpec.Client
	static    http.Header     // configured headers, sent on every request
	maxMsg    int
	reconnect func(int) time.Duration
	hooks     Hooks

	mux    *Mux
	pr     *io.PipeReader
	pw     *io.PipeWriter
	pipeMu sync.Mutex // one complete line at a time into pw

	sem    chan struct{} // MaxConcurrent message requests
	reinit chan struct{} // one session re-establishment at a time
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stopCh chan struct{}
	done   chan struct{}
	// streamUp is closed once the GET event stream first opens.
	streamUp     chan struct{}
	streamUpOnce sync.Once

	partial []byte // the Mux writer's unfinished line; only its goroutine touches it

	mu         sync.Mutex
	stopping   bool
	stopReason error
	kind       remoteKind
	probing    bool          // an exchange is finding out the kind
	detected   chan struct{} // closed (and replaced) when a probe ends
	sessionID  string
	gen        int // counts session ids taken
	proto      string
	initMsg    []byte // the initialize request seen, to replay
	initedMsg  []byte // the notifications/initialized seen, to replay
	calls      map[string]*remoteCall
	replays    int
	getStarted bool
	legacy     *legacyConn
	toolHdrs   map[string][]paramBinding

	// dp is the request/response fast path (nil when the endpoint is
	// reached through a caller's client or a proxy): see remote_direct.go.
	dp *directPath
}

var _ Backend = (*Remote)(nil)

// remoteCall is a request in flight over HTTP.
type remoteCall struct {
	key      string          // the id as JSON text
	id       json.RawMessage // the id as sent
	method   string
	version  string // the request's _meta protocol version
	internal bool   // a replayed initialize: its answer is kept, not relayed
	ctx      context.Context
	cancel   context.CancelFunc
	answered chan struct{}
	once     sync.Once
	reply    []byte // the answer, set before answered is closed
	// legacyGen is the legacy stream connection the request was posted on;
	// guarded by Remote.mu.
	legacyGen int
}

// answer records the call's answer and reports whether it was the first.
func (c *remoteCall) answer(line []byte) bool {
	first := false
	c.once.Do(func() {
		c.reply = line
		close(c.answered)
		first = true
	})
	return first
}

func (c *remoteCall) isAnswered() bool {
	select {
	case <-c.answered:
		return true
	default:
		return false
	}
}

// remoteMsg is one message the Mux wrote, with what the adapter needs of it.
type remoteMsg struct {
	line    []byte
	id      json.RawMessage
	method  string
	version string // params._meta protocol version
	name    string // the target of tools/call, prompts/get, resources/read
	cancels string // notifications/cancelled: the cancelled request's id
}

func (m *remoteMsg) isRequest() bool  { return m.method != "" && present(m.id) }
func (m *remoteMsg) isResponse() bool { return m.method == "" }

// parseRemoteMsg parses just enough of an outgoing message. line is kept.
func parseRemoteMsg(line []byte) (*remoteMsg, error) {
	var env struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Meta      json.RawMessage `json:"_meta"`
			Name      json.RawMessage `json:"name"`
			URI       json.RawMessage `json:"uri"`
			RequestID json.RawMessage `json:"requestId"`
		} `json:"params"`
	}
	if err := json.Unmarshal(line, &env); err != nil {
		// params may be something other than an object
		var bare struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if err := json.Unmarshal(line, &bare); err != nil {
			return nil, err
		}
		return &remoteMsg{line: line, id: bare.ID, method: bare.Method}, nil
	}
	m := &remoteMsg{line: line, id: env.ID, method: env.Method}
	p := env.Params
	var meta map[string]json.RawMessage
	if json.Unmarshal(p.Meta, &meta) == nil {
		_ = json.Unmarshal(meta[metaVersionKey], &m.version)
	}
	switch m.method {
	case "tools/call", "prompts/get":
		_ = json.Unmarshal(p.Name, &m.name)
	case "resources/read":
		_ = json.Unmarshal(p.URI, &m.name)
	case methodCancelled:
		if present(p.RequestID) {
			m.cancels = rpcIDKey(p.RequestID)
		}
	}
	return m, nil
}

// rpcIDKey is the map key of a raw JSON-RPC id (decoded, so without
// surrounding white space).
func rpcIDKey(id json.RawMessage) string { return string(id) }

// StartRemote prepares a remote backend. It makes no request: the transport
// kind is found by the first exchange (the handshake's, made through the
// Mux), so a server that is down at start only fails the calls made while
// it is. ctx bounds the start only; the backend lives until Stop.
func StartRemote(ctx context.Context, spec RemoteSpec) (*Remote, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, err := url.Parse(spec.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("remote endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote endpoint %q: want an http or https URL", u.Redacted())
	}
	static := make(http.Header, len(spec.Headers)+1)
	for k, v := range spec.Headers {
		if !validHeaderField(k, v) {
			return nil, fmt.Errorf("remote header %q: invalid name or value", k)
		}
		static.Set(k, v)
	}
	if spec.BearerToken != "" {
		if !validHeaderField("Authorization", spec.BearerToken) {
			return nil, errors.New("remote bearer token: invalid characters")
		}
		static.Set("Authorization", "Bearer "+spec.BearerToken)
	}
	if spec.MaxConcurrent <= 0 {
		spec.MaxConcurrent = defaultMaxConcurrent
	}
	client := spec.Client
	var (
		tr     *http.Transport
		tlsCfg *tls.Config
	)
	switch {
	case client != nil && spec.CAFile != "":
		return nil, errors.New("remote: CAFile cannot be combined with Client; set the client's TLS configuration instead")
	case client == nil:
		tlsCfg, err = remoteTLS(spec.CAFile)
		if err != nil {
			return nil, err
		}
		tr = newRemoteTransport(tlsCfg, spec.MaxConcurrent)
		client = &http.Client{Transport: tr}
	}
	reconnect := spec.Reconnect
	if reconnect == nil {
		reconnect = defaultReconnect
	}
	maxMsg := spec.Hooks.Mux.MaxMessage
	if maxMsg <= 0 {
		maxMsg = 16 << 20
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Remote{
		endpoint:  u,
		client:    client,
		transport: tr,
		static:    static,
		maxMsg:    maxMsg,
		reconnect: reconnect,
		hooks:     spec.Hooks,
		sem:       make(chan struct{}, spec.MaxConcurrent),
		reinit:    make(chan struct{}, 1),
		ctx:       rctx,
		cancel:    cancel,
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
		streamUp:  make(chan struct{}),
		detected:  make(chan struct{}),
		calls:     make(map[string]*remoteCall),
	}
	r.pr, r.pw = io.Pipe()
	muxOpts := spec.Hooks.Mux
	onClosed := muxOpts.OnClosed
	muxOpts.OnClosed = func(err error) {
		if onClosed != nil {
			onClosed(err)
		}
		r.stop(err) // a backend without its connection is of no use
	}
	r.mux = NewMux(remoteWriter{r}, r.pr, muxOpts)
	if tlsCfg != nil {
		// Only a client of our own making has a twin on the fast path.
		if r.dp = newDirectPath(r, u, tlsCfg, spec.MaxConcurrent, muxOpts.QueueSize); r.dp != nil {
			r.mux.direct = r.dp
		}
	}
	go r.run()
	return r, nil
}

// validHeaderField reports whether a header name is a token and its value holds
// no control character other than tab.
func validHeaderField(name, value string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// remoteTLS is the TLS configuration of a built client: the system roots,
// or only the CAs of caFile when it is set.
func remoteTLS(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile) // #nosec G304 -- the path is the operator's configuration
	if err != nil {
		return nil, fmt.Errorf("remote CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("remote CA file %s: no PEM certificate in it", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

func newRemoteTransport(tlsCfg *tls.Config, maxConcurrent int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConcurrent + 4,
		MaxIdleConnsPerHost:   maxConcurrent + 4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// defaultReconnect doubles from 100ms up to 10s.
func defaultReconnect(attempt int) time.Duration {
	if attempt >= 7 {
		return 10 * time.Second
	}
	return min(100*time.Millisecond<<max(attempt, 0), 10*time.Second)
}

// Mux returns the JSON-RPC connection to the remote server.
func (r *Remote) Mux() *Mux { return r.mux }

// Stop cancels every request in flight, closes the event streams, ends a
// stateful session with a DELETE (best effort, bounded) and closes the Mux.
// It returns at once and is idempotent; wait on Done.
func (r *Remote) Stop() { r.stop(nil) }

// Done is closed once the backend has stopped: every request ended, every
// goroutine gone, the Mux closed.
func (r *Remote) Done() <-chan struct{} { return r.done }

// Describe reports the endpoint (without credentials) and the transport:
// "streamable-http", or "sse" once the server showed it speaks the legacy
// transport.
func (r *Remote) Describe() BackendInfo {
	t := "streamable-http"
	r.mu.Lock()
	if r.kind == remoteLegacy {
		t = "sse"
	}
	r.mu.Unlock()
	return BackendInfo{Endpoint: r.endpoint.Redacted(), Transport: t}
}

// stop begins the end for reason (nil for Stop).
func (r *Remote) stop(reason error) {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		return
	}
	r.stopping = true
	r.stopReason = reason
	r.mu.Unlock()
	close(r.stopCh)
}

// run waits for the stop and cleans up.
func (r *Remote) run() {
	<-r.stopCh
	r.mu.Lock()
	reason := r.stopReason
	r.mu.Unlock()
	muxReason := reason
	if muxReason == nil {
		muxReason = errRemoteStopped
	}
	r.mux.shutdown(muxReason)
	r.cancel()
	if r.dp != nil {
		r.dp.closeAll()
	}
	_ = r.pw.Close()
	r.wg.Wait()
	r.deleteSession()
	_ = r.mux.Close()
	_ = r.pr.Close()
	if r.transport != nil {
		r.transport.CloseIdleConnections()
	}
	close(r.done)
	if r.hooks.OnExit != nil {
		r.hooks.OnExit(reason)
	}
}

// deleteSession ends a stateful streamable session, best effort.
func (r *Remote) deleteSession() {
	r.mu.Lock()
	sid, kind, proto := r.sessionID, r.kind, r.proto
	r.mu.Unlock()
	if sid == "" || kind != remoteStreamable {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteDeleteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, r.endpoint.String(), nil)
	if err != nil {
		return
	}
	r.setStatic(req.Header)
	req.Header.Set(hdrSession, sid)
	if proto != "" {
		req.Header.Set(hdrProtocol, proto)
	}
	if resp, err := r.client.Do(req); err == nil {
		discardBody(resp)
	}
}

// spawn runs f on a tracked goroutine unless the backend is stopping.
func (r *Remote) spawn(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// pause waits before retry number attempt; false means the backend stopped.
//
// retry is the reconnection time the server set on the stream with an SSE
// retry field (0 for none): it is the first wait, doubled from there.
func (r *Remote) pause(ctx context.Context, attempt int, retry time.Duration) bool {
	d := r.reconnect(attempt)
	if retry > 0 {
		d = min(retry<<min(attempt, 16), maxRetryWait)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *Remote) progress(msg string) {
	if r.hooks.OnProgress != nil {
		r.hooks.OnProgress(msg)
	}
}

func (r *Remote) protocolError(err error) {
	if r.hooks.Mux.OnProtocolError != nil {
		r.hooks.Mux.OnProtocolError(err)
	}
}

// remoteWriter is the Mux's side of the adapter.
type remoteWriter struct{ r *Remote }

// Write takes the Mux's newline-delimited messages and sends each on its
// way. It blocks while MaxConcurrent requests are in flight.
func (w remoteWriter) Write(p []byte) (int, error) {
	r := w.r
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.partial = append(r.partial, p...)
			return n, nil
		}
		line := p[:i]
		if len(r.partial) > 0 {
			r.partial = append(r.partial, line...)
			line = r.partial
		}
		p = p[i+1:]
		err := r.dispatch(line)
		r.partial = r.partial[:0]
		if cap(r.partial) > 1<<20 {
			r.partial = nil
		}
		if err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

// dispatch sends one outgoing message on a goroutine of its own.
func (r *Remote) dispatch(line []byte) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	m, err := parseRemoteMsg(bytes.Clone(line))
	if err != nil {
		r.protocolError(fmt.Errorf("outgoing message is not JSON: %w", err))
		return nil
	}
	switch m.method {
	case methodInitialize:
		if m.isRequest() {
			r.mu.Lock()
			r.initMsg = m.line
			r.mu.Unlock()
		}
	case methodInitialized:
		r.mu.Lock()
		r.initedMsg = m.line
		r.mu.Unlock()
	case methodCancelled:
		r.cancelCall(m.cancels)
	}
	var c *remoteCall
	if m.isRequest() {
		c = r.addCall(m, false)
	}
	// A subscriptions/listen stream stays open for the session's life; it
	// must not hold one of the slots for good.
	bounded := m.method != methodListen
	if bounded && !r.acquire() {
		r.abandonCall(c)
		return errRemoteStopped
	}
	// notifications/initialized must reach the server before anything sent
	// after it, so the writer waits for it.
	var sent chan struct{}
	if m.method == methodInitialized {
		sent = make(chan struct{})
	}
	ok := r.spawn(func() {
		if bounded {
			defer func() { <-r.sem }()
		}
		if sent != nil {
			defer close(sent)
		}
		r.send(m, c)
	})
	if !ok {
		if bounded {
			<-r.sem
		}
		r.abandonCall(c)
		return errRemoteStopped
	}
	if sent != nil {
		select {
		case <-sent:
			r.startGetStream()
			r.established()
		case <-r.stopCh:
			return errRemoteStopped
		}
	}
	return nil
}

// acquire waits for a request slot; false means the backend stopped. While
// it waits, the exchanges of calls the Mux has given up on (timed out or
// cancelled) are ended: their notifications/cancelled may be queued behind
// the very message waiting here, so they cannot be relied on to free the
// slots.
func (r *Remote) acquire() bool {
	select {
	case r.sem <- struct{}{}:
		return true
	default:
	}
	tick := time.NewTicker(settledSweep)
	defer tick.Stop()
	for {
		select {
		case r.sem <- struct{}{}:
			return true
		case <-r.stopCh:
			return false
		case <-tick.C:
			r.sweepSettled()
		}
	}
}

// sweepSettled ends the exchanges of the calls the Mux no longer awaits.
// An answered call is forgotten before its answer reaches the Mux, so a
// call still registered but not pending was settled without an answer.
func (r *Remote) sweepSettled() {
	r.mu.Lock()
	calls := make([]*remoteCall, 0, len(r.calls))
	for _, c := range r.calls {
		if !c.internal {
			calls = append(calls, c)
		}
	}
	r.mu.Unlock()
	for _, c := range calls {
		if !muxAwaits(r.mux, c.key) {
			r.abandonCall(c)
		}
	}
}

// muxAwaits reports whether the Mux still awaits the answer to the call
// with the given id.
func muxAwaits(m *Mux, key string) bool {
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return true // not one of the Mux's ids
	}
	return m.Awaits(id)
}

// addCall registers a request in flight.
func (r *Remote) addCall(m *remoteMsg, internal bool) *remoteCall {
	ctx, cancel := context.WithCancel(r.ctx)
	c := &remoteCall{key: rpcIDKey(m.id), id: m.id, method: m.method, version: m.version, internal: internal,
		ctx: ctx, cancel: cancel, answered: make(chan struct{})}
	r.mu.Lock()
	r.calls[c.key] = c
	r.mu.Unlock()
	return c
}

// dropCall forgets a request: it was answered, failed or abandoned.
func (r *Remote) dropCall(c *remoteCall) {
	if c == nil {
		return
	}
	r.mu.Lock()
	if r.calls[c.key] == c {
		delete(r.calls, c.key)
	}
	r.mu.Unlock()
}

// abandonCall forgets a request and ends its HTTP exchange.
func (r *Remote) abandonCall(c *remoteCall) {
	if c != nil {
		r.dropCall(c)
		c.cancel()
	}
}

func (r *Remote) findCall(key string) *remoteCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[key]
}

// cancelCall ends the HTTP exchange of a request the Mux cancelled (after
// its timeout, or by its caller): the server sees the request close, and
// the slot is free again.
func (r *Remote) cancelCall(key string) {
	if key == "" {
		return
	}
	if c := r.findCall(key); c != nil && !c.internal {
		r.abandonCall(c)
	}
}

// send carries one message to the server, once the transport is known.
func (r *Remote) send(m *remoteMsg, c *remoteCall) {
	ctx := r.ctx
	if c != nil {
		ctx = c.ctx
		defer c.cancel()
	}
	kind, probe := r.awaitKind(ctx)
	if ctx.Err() != nil {
		r.dropCall(c)
		return
	}
	var keep bool
	if kind == remoteLegacy {
		keep = r.sendLegacy(ctx, m, c)
	} else {
		keep = r.sendStreamable(ctx, m, c, probe)
	}
	if !keep {
		r.dropCall(c)
	}
}

// awaitKind returns the transport kind once known. While it is not, one
// sender at a time is told to probe (its exchange finds out); the others
// wait for it.
func (r *Remote) awaitKind(ctx context.Context) (kind remoteKind, probe bool) {
	for {
		r.mu.Lock()
		if r.kind != remoteUnknown {
			k := r.kind
			r.mu.Unlock()
			return k, false
		}
		if !r.probing {
			r.probing = true
			r.mu.Unlock()
			return remoteUnknown, true
		}
		ch := r.detected
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return remoteUnknown, false
		}
	}
}

// settleKind ends a probe, with its finding (remoteUnknown when it could not
// tell, so that the next sender probes again).
func (r *Remote) settleKind(k remoteKind) {
	r.mu.Lock()
	if r.kind == remoteUnknown {
		r.kind = k
	}
	r.probing = false
	close(r.detected)
	r.detected = make(chan struct{})
	r.mu.Unlock()
}

// session returns the session id to send and its generation.
func (r *Remote) session() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessionID, r.gen
}

// setSession takes a session id the server assigned (or "" for none).
func (r *Remote) setSession(sid string) {
	r.mu.Lock()
	r.sessionID = sid
	r.gen++
	r.mu.Unlock()
}

// exchangeResult is what reading the reply to a POST came to.
type exchangeResult int

const (
	exchangeDone        exchangeResult = iota // finished; the request has its answer if it needed one
	exchangeSessionLost                       // the server does not know the session
	exchangeEnded                             // the reply ended without the request's answer
)

// sendStreamable POSTs a message to a streamable HTTP endpoint and relays
// the reply. A probe that finds a legacy server hands the message over; it
// reports whether the request stays registered (awaiting a legacy answer).
func (r *Remote) sendStreamable(ctx context.Context, m *remoteMsg, c *remoteCall, probe bool) (keep bool) {
	listen := m.method == methodListen
	retried := false
	attempt := 0
	for {
		sid, gen := r.session()
		if m.method == methodInitialize {
			sid = "" // a new session
		}
		opened := time.Now()
		resp, wrote, err := r.post(ctx, r.endpoint.String(), m, sid, true)
		if probe {
			probe = false
			if handled, keep := r.detect(ctx, m, c, resp, err); handled {
				return keep
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			if listen {
				if !r.pause(ctx, attempt, 0) {
					return false
				}
				attempt++
				continue
			}
			r.failCall(c, "remote endpoint unreachable: "+err.Error(), wrote)
			return false
		}
		if listen && attempt > 0 && resp.StatusCode/100 == 2 {
			r.progress("notification stream re-established")
		}
		var pos streamPos
		switch r.readReply(ctx, m, c, resp, sid, &pos) {
		case exchangeDone:
			return false
		case exchangeSessionLost:
			if retried || m.method == methodInitialized {
				r.failCall(c, "remote session lost", false)
				return false
			}
			retried = true
			if err := r.reestablish(ctx, gen); err != nil {
				r.failCall(c, "remote session lost and not re-established: "+err.Error(), false)
				return false
			}
		case exchangeEnded:
			if ctx.Err() != nil {
				return false
			}
			if !listen {
				if pos.id == "" || !r.resume(ctx, c, sid, pos) {
					r.failCall(c, "remote endpoint ended the response without answering", true)
				}
				return false
			}
			if time.Since(opened) > streamSettled {
				attempt = 0
			}
			if !r.pause(ctx, attempt, pos.retry) {
				return false
			}
			attempt++
		}
	}
}

// detect settles the transport kind from the first exchange. It reports
// whether it dealt with the message itself, and then whether the request
// stays registered.
func (r *Remote) detect(ctx context.Context, m *remoteMsg, c *remoteCall, resp *http.Response, err error) (handled, keep bool) {
	switch {
	case err != nil:
		r.settleKind(remoteUnknown)
		return false, false
	case resp.StatusCode/100 == 2:
		r.settleKind(remoteStreamable)
		return false, false
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		if respMediaType(resp) == "application/json" {
			// A JSON-RPC error: the endpoint speaks streamable HTTP.
			r.settleKind(remoteStreamable)
			return false, false
		}
		// Perhaps a legacy HTTP+SSE server: its event stream tells.
		body, _ := readBody(resp.Body, maxErrorBody)
		_ = resp.Body.Close()
		if lerr := r.startLegacy(); lerr == nil {
			r.settleKind(remoteLegacy)
			return true, r.sendLegacy(ctx, m, c)
		}
		r.settleKind(remoteStreamable)
		r.failCall(c, httpStatusMessage(resp, body), false)
		return true, false
	default:
		r.settleKind(remoteUnknown)
		return false, false
	}
}

// versionFor is the protocol revision a message goes out in (its own, else
// the session's) and, for a tools/call, the tool's header bindings.
func (r *Remote) versionFor(m *remoteMsg) (pv string, bindings []paramBinding) {
	r.mu.Lock()
	pv = r.proto
	if m.method == "tools/call" {
		bindings = r.toolHdrs[m.name]
	}
	r.mu.Unlock()
	if m.version != "" {
		pv = m.version
	}
	return pv, bindings
}

// post sends one message. It reports whether the request's headers were
// written, which is when the server may have got it.
func (r *Remote) post(ctx context.Context, target string, m *remoteMsg, sid string, streamable bool) (*http.Response, bool, error) {
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(m.line))
	if err != nil {
		return nil, false, err
	}
	h := req.Header
	r.setStatic(h)
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	if streamable {
		if sid != "" {
			h.Set(hdrSession, sid)
		}
		pv, bindings := r.versionFor(m)
		if pv != "" && m.method != methodInitialize {
			h.Set(hdrProtocol, pv)
		}
		if pv >= Protocol20260728 {
			setStandardHeaders(h, m, bindings)
		}
	}
	resp, err := r.client.Do(req)
	return resp, wrote.Load(), err
}

func (r *Remote) setStatic(h http.Header) {
	for k, v := range r.static {
		h[k] = v
	}
}

// readReply relays the reply to a POST and closes its body. lastID gets
// the id of the last event of an event stream.
func (r *Remote) readReply(ctx context.Context, m *remoteMsg, c *remoteCall, resp *http.Response, sid string, pos *streamPos) exchangeResult {
	// Bodies are read to their end or abandoned: an event stream may stay
	// open after the answer, so draining it could block.
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		body, _ := readBody(resp.Body, maxErrorBody)
		if sid != "" && sessionLostStatus(resp.StatusCode, body) {
			return exchangeSessionLost
		}
		if c != nil && !r.relayError(body, c) {
			r.failCall(c, httpStatusMessage(resp, body), resp.StatusCode >= 500)
		}
		return exchangeDone
	}
	if m.method == methodInitialize && c != nil && !c.internal {
		r.setSession(resp.Header.Get(hdrSession))
	}
	switch respMediaType(resp) {
	case "text/event-stream":
		return r.readPostStream(ctx, c, resp.Body, pos)
	case "application/json":
		body, err := readBody(resp.Body, int64(r.maxMsg))
		switch {
		case errors.Is(err, ErrMessageTooLarge):
			r.tooLargeBody(body, c)
			return exchangeDone
		case err != nil:
			if ctx.Err() != nil {
				return exchangeDone
			}
			r.failCall(c, "reading the remote response: "+err.Error(), true)
			return exchangeDone
		}
		r.deliverData(body, c)
	}
	if c != nil && !c.isAnswered() {
		return exchangeEnded
	}
	return exchangeDone
}

// readPostStream relays the event stream that answers a POST, until the
// request has its answer. lastID follows the ids of the events.
func (r *Remote) readPostStream(ctx context.Context, c *remoteCall, body io.Reader, pos *streamPos) exchangeResult {
	sr := newSSEReader(body, r.maxMsg)
	var oversized []byte
	for {
		ev, err := sr.next()
		if sr.retry > 0 {
			pos.retry = sr.retry
		}
		if err != nil {
			switch {
			case c == nil || c.isAnswered() || ctx.Err() != nil:
				return exchangeDone
			case oversized != nil:
				// The answer was probably the oversized message.
				r.failTooLarge(c)
				return exchangeDone
			}
			return exchangeEnded
		}
		if ev.hasID {
			pos.id = ev.id
		}
		if ev.tooLarge {
			oversized = ev.prefix
			r.tooLargeEvent(ev.prefix, c)
		} else if isMessageEvent(ev) {
			r.deliverData(ev.data, c)
		}
		if c != nil && c.isAnswered() {
			return exchangeDone
		}
	}
}

// resume picks up the event stream of a POST that ended before the answer
// (a 2025 server closing it to be polled), with a GET after its last event
// id, a few times with backoff. It reports whether the request got its
// answer (or no longer needs one).
func (r *Remote) resume(ctx context.Context, c *remoteCall, sid string, pos streamPos) bool {
	for attempt := 0; attempt < maxResumes; attempt++ {
		if !r.pause(ctx, attempt, pos.retry) {
			return true // cancelled or stopped: nothing more to answer
		}
		req, err := r.streamRequest(ctx, sid, pos.id)
		if err != nil {
			return false
		}
		resp, err := r.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return true
			}
			continue
		}
		if resp.StatusCode/100 != 2 || respMediaType(resp) != "text/event-stream" {
			_ = resp.Body.Close()
			return false
		}
		res := r.readPostStream(ctx, c, resp.Body, &pos)
		_ = resp.Body.Close()
		if res == exchangeDone {
			return true
		}
	}
	return false
}

// isMessageEvent reports whether an event carries a JSON-RPC message.
func isMessageEvent(ev sseEvent) bool {
	return len(ev.data) > 0 && (ev.event == "" || ev.event == "message")
}

// sessionLostStatus reports whether an error status means the server no longer
// knows the session: 404 as the specification says, or the 400 "no valid
// session ID" many servers built on the SDK examples answer.
func sessionLostStatus(status int, body []byte) bool {
	switch status {
	case http.StatusNotFound:
		return true
	case http.StatusBadRequest:
		return bytes.Contains(bytes.ToLower(body), []byte("session"))
	}
	return false
}

// reestablish replaces a session the server lost: it replays the
// initialize request (under an id of its own, its answer kept from the
// Mux) and notifications/initialized. failedGen is the generation the
// caller's request failed with; when another caller has re-established
// the session since, there is nothing to do.
func (r *Remote) reestablish(ctx context.Context, failedGen int) error {
	select {
	case r.reinit <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.reinit }()
	r.mu.Lock()
	gen, init, inited := r.gen, r.initMsg, r.initedMsg
	r.mu.Unlock()
	if gen != failedGen {
		return nil
	}
	if init == nil {
		return errors.New("no initialize request to replay")
	}
	ctx, cancel := context.WithTimeout(r.ctx, remoteReinitTimeout)
	defer cancel()
	c, m, err := r.replayCall(init)
	if err != nil {
		return err
	}
	defer r.abandonCall(c)
	resp, _, err := r.post(ctx, r.endpoint.String(), m, "", true)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // readReply closes it too
	sid := resp.Header.Get(hdrSession)
	var pos streamPos
	if r.readReply(ctx, m, c, resp, "", &pos) != exchangeDone || !c.isAnswered() {
		return errors.New("the replayed initialize got no answer")
	}
	if err := rpcReplyError(c.reply); err != nil {
		return err
	}
	r.setSession(sid)
	if inited != nil {
		im, err := parseRemoteMsg(inited)
		if err != nil {
			return err
		}
		iresp, _, err := r.post(ctx, r.endpoint.String(), im, sid, true)
		if err != nil {
			return fmt.Errorf("notifications/initialized: %w", err)
		}
		discardBody(iresp)
		if iresp.StatusCode/100 != 2 {
			return fmt.Errorf("notifications/initialized: HTTP %s", iresp.Status)
		}
	}
	r.progress("session re-established")
	return nil
}

// replayCall registers a copy of the initialize request under a fresh id.
func (r *Remote) replayCall(init []byte) (*remoteCall, *remoteMsg, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(init, &obj); err != nil {
		return nil, nil, fmt.Errorf("initialize request: %w", err)
	}
	r.mu.Lock()
	r.replays++
	n := r.replays
	r.mu.Unlock()
	obj["id"] = json.RawMessage(strconv.Quote(replayIDPrefix + strconv.Itoa(n)))
	line, err := json.Marshal(obj)
	if err != nil {
		return nil, nil, err
	}
	m, err := parseRemoteMsg(line)
	if err != nil {
		return nil, nil, err
	}
	return r.addCall(m, true), m, nil
}

// rpcReplyError returns the error of a JSON-RPC answer, or nil for a result.
func rpcReplyError(line []byte) error {
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(line, &env); err != nil {
		return err
	}
	if env.Error != nil {
		return env.Error
	}
	if env.Result == nil {
		return errors.New("answer has neither result nor error")
	}
	return nil
}

// startGetStream opens the optional GET event stream of a 2025 streamable
// session, once notifications/initialized has gone out.
func (r *Remote) startGetStream() {
	r.mu.Lock()
	start := !r.getStarted && r.kind == remoteStreamable && r.proto != "" && r.proto < Protocol20260728
	if start {
		r.getStarted = true
	}
	r.mu.Unlock()
	if start {
		r.spawn(r.getLoop)
	}
}

// getLoop keeps the GET event stream open, reconnecting with backoff and
// resuming after the last event id, until the server says it offers none.
func (r *Remote) getLoop() {
	attempt := 0
	var pos streamPos
	lastGen := -1
	dropped := false
	for {
		sid, gen := r.session()
		if gen != lastGen {
			pos, lastGen = streamPos{}, gen
		}
		opened := time.Now()
		status, body, err := r.getStream(sid, &pos, dropped)
		if r.ctx.Err() != nil {
			return
		}
		switch {
		case err != nil || status/100 == 2 || status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
			// dropped or refused for now: try again
		case sid != "" && sessionLostStatus(status, body):
			_ = r.reestablish(r.ctx, gen)
		default:
			return // 405 or another refusal: the server offers no stream
		}
		if status/100 == 2 {
			dropped = true
			if time.Since(opened) > streamSettled {
				attempt = 0
			}
		}
		if !r.pause(r.ctx, attempt, pos.retry) {
			return
		}
		attempt++
	}
}

// streamRequest is the GET that opens (or, after lastID, resumes) an event
// stream of the session sid.
func (r *Remote) streamRequest(ctx context.Context, sid, lastID string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.endpoint.String(), nil)
	if err != nil {
		return nil, err
	}
	h := req.Header
	r.setStatic(h)
	h.Set("Accept", "text/event-stream")
	if sid != "" {
		h.Set(hdrSession, sid)
	}
	if lastID != "" {
		h.Set(hdrLastEventID, lastID)
	}
	r.mu.Lock()
	if r.proto != "" {
		h.Set(hdrProtocol, r.proto)
	}
	r.mu.Unlock()
	return req, nil
}

// getStream reads the GET event stream once. It returns the status with
// the start of an error body, or the error that ended the stream.
func (r *Remote) getStream(sid string, pos *streamPos, reconnect bool) (int, []byte, error) {
	req, err := r.streamRequest(r.ctx, sid, pos.id)
	if err != nil {
		return 0, nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		body, _ := readBody(resp.Body, maxErrorBody)
		return resp.StatusCode, body, nil
	}
	if respMediaType(resp) != "text/event-stream" {
		return resp.StatusCode, nil, errors.New("GET stream: not an event stream")
	}
	if reconnect {
		r.progress("notification stream re-established")
	}
	r.streamUpOnce.Do(func() { close(r.streamUp) })
	sr := newSSEReader(resp.Body, r.maxMsg)
	for {
		ev, err := sr.next()
		if sr.retry > 0 {
			pos.retry = sr.retry
		}
		if err != nil {
			return resp.StatusCode, nil, err
		}
		if ev.hasID {
			pos.id = ev.id
		}
		switch {
		case ev.tooLarge:
			r.tooLargeEvent(ev.prefix, nil)
		case isMessageEvent(ev):
			r.deliverData(ev.data, nil)
		}
	}
}

// deliverData relays the data of an event or a JSON body: one message, or
// a JSON array of them. hint is the request the data answers, if any.
func (r *Remote) deliverData(data []byte, hint *remoteCall) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return
	}
	if data[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(data, &batch) == nil {
			for _, msg := range batch {
				r.deliver(msg, hint)
			}
			return
		}
	}
	r.deliver(data, hint)
}

// deliver relays one message to the Mux, noting the answers to requests
// in flight on the way (and keeping those to replayed requests).
func (r *Remote) deliver(msg []byte, hint *remoteCall) {
	msg = oneLineJSON(msg)
	var env struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(msg, &env) == nil && env.Method == "" && present(env.ID) {
		key := rpcIDKey(env.ID)
		c := hint
		if c == nil || c.key != key {
			c = r.findCall(key)
		}
		if c != nil {
			if !present(env.Error) { // no error: a result
				r.observe(c, msg)
			}
			c.answer(msg)
			r.dropCall(c)
			if c.internal {
				return
			}
		}
	}
	r.writeLine(msg)
}

// observe learns from the answer to a request as it passes: the protocol
// version of the session, and the argument headers of the tools.
func (r *Remote) observe(c *remoteCall, msg []byte) {
	switch c.method {
	case methodInitialize:
		var v struct {
			Result struct {
				ProtocolVersion string `json:"protocolVersion"`
			} `json:"result"`
		}
		if json.Unmarshal(msg, &v) == nil && v.Result.ProtocolVersion != "" {
			r.mu.Lock()
			r.proto = v.Result.ProtocolVersion
			r.mu.Unlock()
		}
	case methodDiscover:
		var v struct {
			Result struct {
				SupportedVersions []string `json:"supportedVersions"`
			} `json:"result"`
		}
		if c.version != "" && json.Unmarshal(msg, &v) == nil && slices.Contains(v.Result.SupportedVersions, c.version) {
			r.mu.Lock()
			r.proto = c.version
			r.mu.Unlock()
			r.established()
		}
	case methodToolsList:
		if c.version < Protocol20260728 {
			return // the argument headers came with 2026-07-28
		}
		var v struct {
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(msg, &v) != nil {
			return
		}
		b := toolHeaderBindings(v.Result)
		r.mu.Lock()
		if r.toolHdrs == nil {
			r.toolHdrs = make(map[string][]paramBinding)
		}
		for name, bs := range b {
			if len(bs) == 0 {
				delete(r.toolHdrs, name)
			} else {
				r.toolHdrs[name] = bs
			}
		}
		r.mu.Unlock()
	}
}

// writeLine hands one message to the Mux's reader.
func (r *Remote) writeLine(msg []byte) {
	r.pipeMu.Lock()
	defer r.pipeMu.Unlock()
	if _, err := r.pw.Write(msg); err == nil {
		_, _ = r.pw.Write([]byte{'\n'})
	}
}

// oneLineJSON makes a message fit on one line.
func oneLineJSON(msg []byte) []byte {
	if !bytes.ContainsAny(msg, "\r\n") {
		return msg
	}
	var b bytes.Buffer
	if json.Compact(&b, msg) == nil {
		return b.Bytes()
	}
	return bytes.Map(func(c rune) rune {
		if c == '\r' || c == '\n' {
			return ' '
		}
		return c
	}, msg)
}

// failCall answers a request the HTTP layer failed with a JSON-RPC error,
// unless it has its answer already. delivered tells whether the server may
// have received the request.
func (r *Remote) failCall(c *remoteCall, msg string, delivered bool) {
	if c == nil {
		return
	}
	e := make([]byte, 0, len(msg)+64)
	e = append(e, `{"code":`...)
	e = strconv.AppendInt(e, codeRemoteFailure, 10)
	e = append(e, `,"message":`...)
	e = jsonx.AppendString(e, msg)
	e = append(e, `,"data":{"possiblyDelivered":`...)
	e = strconv.AppendBool(e, delivered)
	e = append(e, `}}`...)
	b := appendResponse(make([]byte, 0, len(e)+len(c.id)+32), c.id, "error", e)
	if !c.answer(b) {
		return
	}
	r.dropCall(c)
	if !c.internal {
		r.writeLine(b)
	}
}

// relayError relays the JSON-RPC error in the body of an error status as
// the answer to c (a server that could not tell the id may send null). It
// reports whether the body held one.
func (r *Remote) relayError(body []byte, c *remoteCall) bool {
	var env struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Error  *RPCError       `json:"error"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &env) != nil || env.Method != "" || env.Error == nil ||
		(env.Error.Code == 0 && env.Error.Message == "") || (present(env.ID) && rpcIDKey(env.ID) != c.key) {
		return false
	}
	e, err := json.Marshal(env.Error)
	if err != nil {
		return false
	}
	r.deliver(appendResponse(make([]byte, 0, len(e)+len(c.id)+32), c.id, "error", e), c)
	return true
}

// tooLargeBody fails c, whose answer exceeded the size limit.
func (r *Remote) tooLargeBody(prefix []byte, c *remoteCall) {
	r.protocolError(&TooLargeError{Limit: r.maxMsg, Prefix: prefix[:min(len(prefix), maxPrefix)]})
	r.failTooLarge(c)
}

// failTooLarge fails c for an answer over the size limit.
func (r *Remote) failTooLarge(c *remoteCall) {
	r.failCall(c, fmt.Sprintf("remote response exceeds the size limit of %d bytes", r.maxMsg), true)
}

// tooLargeEvent deals with an event whose data exceeded the size limit:
// the request it answers, when its id shows, fails.
func (r *Remote) tooLargeEvent(prefix []byte, hint *remoteCall) {
	r.protocolError(&TooLargeError{Limit: r.maxMsg, Prefix: prefix})
	id, ok := peekID(prefix)
	if !ok {
		return
	}
	key := strconv.FormatInt(id, 10)
	c := r.findCall(key)
	if c == nil && hint != nil && hint.key == key {
		c = hint
	}
	if c != nil {
		r.failTooLarge(c)
	}
}

// httpStatusMessage describes an error status, with the start of its body.
func httpStatusMessage(resp *http.Response, body []byte) string {
	return statusMessage(resp.Status, body)
}

// statusMessage describes an error status line ("503 Service
// Unavailable"), with the start of its body.
func statusMessage(status string, body []byte) string {
	msg := "remote endpoint answered HTTP " + status
	if s := strings.TrimSpace(string(truncate(bytes.TrimSpace(body), 200))); s != "" {
		msg += ": " + s
	}
	return msg
}

// respMediaType is the media type of a response, lower case without
// parameters.
func respMediaType(resp *http.Response) string {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// discardBody reads what is left of a small body and closes it, so that
// the connection is reused.
func discardBody(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
}

// readBody reads a body of at most limit bytes. A longer one yields
// ErrMessageTooLarge and its first bytes.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(b)) > limit {
		prefix := b[:min(len(b), maxPrefix)]
		return prefix, &TooLargeError{Limit: int(min(limit, math.MaxInt)), Prefix: prefix}
	}
	return b, err
}
