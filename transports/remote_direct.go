package transports

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// The request/response fast path of the streamable HTTP transport.
//
// Once a streamable session is established (the handshake answered and,
// under the 2025 revisions, notifications/initialized delivered), a request
// skips the Mux's write queue and reader: the Mux hands it to directPath,
// whose workers each hold one keep-alive connection and carry one exchange
// at a time with fasthttp's request writer and response parser. A JSON
// answer matching the request settles the call straight from the worker.
// Everything else takes the adapter's general machinery: an event stream
// (notifications, server requests, resumption after Last-Event-ID), a
// batch or a stray message in a JSON body, error statuses, a lost session
// (re-established, then the request is sent again), transport failures and
// oversized answers all go through the same code as the queued path, with
// the request registered as a remoteCall.
//
// Still on the queued path: the handshake (initialize, server/discover,
// notifications/initialized), subscriptions/listen, notifications and
// replies, every message of a legacy HTTP+SSE server, endpoints reached
// through RemoteSpec.Client, a proxy, or a URL with credentials in it.

// Bounds of the fast path.
const (
	// directDialTimeout bounds a connection's dial and TLS handshake.
	directDialTimeout = 10 * time.Second
	// directMaxIdle is how long an idle connection is kept at all.
	directMaxIdle = 90 * time.Second
	// directBufSize sizes a connection's read and write buffers.
	directBufSize = 16 << 10
)

// directPath carries requests of an established streamable session with
// up to max workers, one connection each.
type directPath struct {
	r      *Remote
	addr   string      // host:port to dial
	uri    string      // the endpoint URL
	tls    *tls.Config // nil for http
	static [][2]string // configured headers
	max    int32

	ready   atomic.Bool // the session is established
	jobs    chan *directRequestJob
	idle    atomic.Int32 // workers waiting for a job
	workers atomic.Int32

	mu      sync.Mutex
	all     []*directWorker // guarded by mu
	stopped bool            // guarded by mu
}

var _ directSender = (*directPath)(nil)

// newDirectPath prepares the fast path of r, or returns nil when its
// requests must go through net/http (a proxy, or credentials in the URL).
func newDirectPath(r *Remote, u *url.URL, tlsCfg *tls.Config, maxConcurrent, queue int) *directPath {
	if u.User != nil {
		return nil
	}
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || p != nil {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	d := &directPath{
		r:    r,
		addr: net.JoinHostPort(u.Hostname(), port),
		uri:  u.String(),
		max:  int32(min(maxConcurrent, 1<<20)), // #nosec G115 -- bounded
	}
	if queue <= 0 {
		queue = 1024
	}
	d.jobs = make(chan *directRequestJob, queue)
	if u.Scheme == "https" {
		d.tls = tlsCfg.Clone()
		if d.tls.ServerName == "" {
			d.tls.ServerName = u.Hostname()
		}
		d.tls.NextProtos = []string{"http/1.1"}
	}
	for k, vs := range r.static {
		for _, v := range vs {
			d.static = append(d.static, [2]string{k, v})
		}
	}
	return d
}

// established opens the fast path, once the session of a streamable
// endpoint is set up.
func (r *Remote) established() {
	if r.dp == nil {
		return
	}
	r.mu.Lock()
	ok := r.kind == remoteStreamable && r.proto != ""
	r.mu.Unlock()
	if ok {
		r.dp.ready.Store(true)
	}
}

// takesDirect implements directSender: requests, once the session is
// established, except those that set it up or stay open.
func (d *directPath) takesDirect(method string) bool {
	if !d.ready.Load() {
		return false
	}
	switch method {
	case methodInitialize, methodDiscover, methodListen:
		return false
	}
	return true
}

// newDirect implements directSender.
func (d *directPath) newDirect(req directRequest) directJob {
	return &directRequestJob{d: d, directRequest: req}
}

// closeAll ends every worker's connection, so that exchanges in flight
// end with the backend; Remote.run calls it once the context is done.
func (d *directPath) closeAll() {
	d.mu.Lock()
	d.stopped = true
	all := d.all
	d.mu.Unlock()
	for _, w := range all {
		w.mu.Lock()
		w.closed = true
		if w.conn != nil {
			_ = w.conn.Close()
		}
		w.mu.Unlock()
	}
}

// grow starts a worker unless there are max already.
func (d *directPath) grow() {
	n := d.workers.Load()
	if n >= d.max || !d.workers.CompareAndSwap(n, n+1) {
		return
	}
	w := &directWorker{d: d}
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		d.workers.Add(-1)
		return
	}
	d.all = append(d.all, w)
	d.mu.Unlock()
	if !d.r.spawn(w.loop) {
		d.workers.Add(-1)
	}
}

// directRequestJob is one request on its way through the fast path.
type directRequestJob struct {
	d *directPath
	directRequest

	aborted atomic.Bool
	w       atomic.Pointer[directWorker] // the worker carrying it
	rc      atomic.Pointer[remoteCall]   // set when the general machinery is needed
	stopRC  func() bool                  // the worker's only
	msg     remoteMsg                    // the worker's only
	idBuf   [20]byte                     // the worker's only
}

// submit implements directJob.
func (j *directRequestJob) submit() error {
	d := j.d
	select {
	case d.jobs <- j:
	default:
		return ErrBusy
	}
	if d.idle.Load() <= 0 {
		d.grow()
	}
	return nil
}

// abort implements directJob: the exchange ends (its connection closes),
// as the queued path's request does when its context is cancelled.
func (j *directRequestJob) abort() {
	j.aborted.Store(true)
	if c := j.rc.Load(); c != nil {
		c.cancel()
	}
	if w := j.w.Load(); w != nil {
		w.interrupt(j)
	}
}

// call registers the request as a remoteCall, for the parts of the
// exchange the general machinery deals with.
func (j *directRequestJob) call() *remoteCall {
	if c := j.rc.Load(); c != nil {
		return c
	}
	m := j.msg
	m.id = strconv.AppendInt(nil, j.id, 10)
	c := j.d.r.addCall(&m, false)
	j.rc.Store(c)
	// The queued path's ways of ending an exchange (a sweep of settled
	// calls, notifications/cancelled) cancel the call's context.
	j.stopRC = context.AfterFunc(c.ctx, func() {
		if w := j.w.Load(); w != nil {
			w.interrupt(j)
		}
	})
	if j.aborted.Load() {
		c.cancel()
	}
	return c
}

// fail answers the request with the adapter's error for a failed exchange.
func (j *directRequestJob) fail(msg string, delivered bool) {
	j.d.r.failCall(j.call(), msg, delivered)
}

// wanted reports whether the Mux still waits for the answer.
func (j *directRequestJob) wanted() bool {
	return !j.aborted.Load() && j.d.r.mux.Awaits(j.id)
}

// directWorker carries one exchange at a time over its connection.
type directWorker struct {
	d *directPath

	mu     sync.Mutex
	cur    *directRequestJob // guarded by mu
	conn   net.Conn          // written under mu by the worker only
	closed bool              // guarded by mu

	raw syscall.RawConn // conn's socket, to look at while it is idle

	br      *bufio.Reader
	bw      *bufio.Writer
	lastUse time.Time
	req     fasthttp.Request
	resp    fasthttp.Response
}

func (w *directWorker) loop() {
	d := w.d
	defer w.drop()
	for {
		d.idle.Add(1)
		select {
		case j := <-d.jobs:
			d.idle.Add(-1)
			w.run(j)
		case <-d.r.ctx.Done():
			d.idle.Add(-1)
			return
		}
	}
}

// interrupt closes the connection if it is carrying j.
func (w *directWorker) interrupt(j *directRequestJob) {
	w.mu.Lock()
	if w.cur == j && w.conn != nil {
		_ = w.conn.Close()
	}
	w.mu.Unlock()
}

// drop closes the connection, not to be used again.
func (w *directWorker) drop() {
	w.mu.Lock()
	c := w.conn
	w.conn = nil
	w.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (w *directWorker) setCurrent(j *directRequestJob) {
	w.mu.Lock()
	w.cur = j
	w.mu.Unlock()
}

// run carries one request to its answer.
func (w *directWorker) run(j *directRequestJob) {
	d := w.d
	r := d.r
	defer putBuf(j.buf)
	if !j.p.state.CompareAndSwap(stateQueued, stateWritten) {
		return // settled (timed out, cancelled) before it was sent
	}
	// The request slots are shared with the queued path.
	select {
	case r.sem <- struct{}{}:
	case <-r.stopCh:
		return // the Mux has failed the call
	}
	defer func() { <-r.sem }()
	w.setCurrent(j)
	j.w.Store(w)
	defer func() {
		w.setCurrent(nil)
		if c := j.rc.Load(); c != nil {
			j.stopRC()
			r.dropCall(c)
			c.cancel()
		}
	}()
	if j.aborted.Load() {
		return
	}
	if !j.prepare() {
		return
	}
	retried := false
	for {
		sid, gen := r.session()
		wrote, err := w.roundTrip(j, sid)
		if err != nil {
			if j.wanted() {
				j.fail("remote endpoint unreachable: "+err.Error(), wrote)
			}
			return
		}
		if w.reply(j, sid) != exchangeSessionLost {
			return
		}
		if retried {
			j.fail("remote session lost", false)
			return
		}
		retried = true
		c := j.call()
		if err := r.reestablish(c.ctx, gen); err != nil {
			j.fail("remote session lost and not re-established: "+err.Error(), false)
			return
		}
		if !j.wanted() {
			return
		}
	}
}

// prepare fills in j.msg: from the caller's hint, or parsed out of the
// message.
func (j *directRequestJob) prepare() bool {
	line := bytes.TrimSpace(*j.buf)
	if j.hint.exact {
		j.msg = remoteMsg{line: line, method: j.method, name: j.hint.name, version: j.hint.version}
		return true
	}
	m, err := parseRemoteMsg(line)
	if err != nil {
		j.d.r.protocolError(fmt.Errorf("outgoing message is not JSON: %w", err))
		j.d.r.mux.settle(j.id, Response{Err: &RPCError{Code: -32603, Message: "request is not JSON"}, Written: false})
		return false
	}
	m.id = nil
	j.msg = *m
	return true
}

// roundTrip sends the request and reads the head of the reply; its body
// is left to stream. It reports whether the request may have reached the
// server.
func (w *directWorker) roundTrip(j *directRequestJob, sid string) (wrote bool, err error) {
	d := w.d
	r := d.r
	m := &j.msg
	req := &w.req
	req.Reset()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(d.uri)
	h := &req.Header
	for _, kv := range d.static {
		h.Add(kv[0], kv[1])
	}
	h.SetContentType("application/json")
	h.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		h.Set(hdrSession, sid)
	}
	pv, bindings := r.versionFor(m)
	if pv != "" {
		h.Set(hdrProtocol, pv)
	}
	if pv >= Protocol20260728 {
		standardHeaders(m, bindings, h.Set)
	}
	req.SetBodyRaw(m.line)

	for attempt := 0; ; attempt++ {
		reused, err := w.connect(j)
		if err != nil {
			return false, err
		}
		err = req.Write(w.bw)
		if err == nil {
			err = w.bw.Flush()
		}
		if err != nil {
			w.drop()
			// A kept-alive connection the server had closed took nothing:
			// one more try on a fresh one.
			if reused && attempt == 0 && !j.aborted.Load() && staleConnErr(err) {
				continue
			}
			return true, err
		}
		w.resp.Reset()
		w.resp.StreamBody = true
		if err := w.resp.ReadLimitBody(w.br, 0); err != nil {
			// Not tried again, even when the connection ended before the
			// first byte of the reply: the server may have acted on the
			// request (net/http does not retry a POST either). Idle
			// connections the server closed are found before their reuse.
			w.drop()
			return true, err
		}
		return true, nil
	}
}

// staleConnErr reports whether a write failed on a connection the peer
// had closed, so that nothing of the request reached the server.
func staleConnErr(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// connect makes sure the worker has a connection for j, and reports
// whether it is one used before.
func (w *directWorker) connect(j *directRequestJob) (reused bool, err error) {
	if w.conn != nil {
		idle := time.Since(w.lastUse)
		if w.br.Buffered() == 0 && idle < directMaxIdle && w.alive() {
			return true, nil
		}
		w.drop()
	}
	d := w.d
	ctx, cancel := context.WithTimeout(d.r.ctx, directDialTimeout)
	defer cancel()
	conn, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return false, err
	}
	var raw syscall.RawConn
	if tc, ok := conn.(*net.TCPConn); ok {
		raw, _ = tc.SyscallConn()
	}
	if d.tls != nil {
		tc := tls.Client(conn, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return false, err
		}
		conn = tc
	}
	w.mu.Lock()
	if w.closed || j.aborted.Load() {
		w.mu.Unlock()
		_ = conn.Close()
		return false, net.ErrClosed
	}
	w.conn = conn
	w.mu.Unlock()
	w.raw = raw
	if w.br == nil {
		w.br = bufio.NewReaderSize(conn, directBufSize)
		w.bw = bufio.NewWriterSize(conn, directBufSize)
	} else {
		w.br.Reset(conn)
		w.bw.Reset(conn)
	}
	return false, nil
}

// alive checks, without waiting, that an idle connection was not closed
// by the server, nor sent anything unasked (over TLS, records such as
// session tickets may come unasked).
func (w *directWorker) alive() bool {
	if w.raw == nil {
		return true
	}
	closed, pending := peekClosed(w.raw)
	return !closed && (!pending || w.d.tls != nil)
}

// reply reads the reply to the request and answers it.
func (w *directWorker) reply(j *directRequestJob, sid string) exchangeResult {
	r := w.d.r
	resp := &w.resp
	body := resp.BodyStream()
	reusable := false
	defer func() {
		_ = resp.CloseBodyStream()
		// A body running to the connection's end leaves nothing to reuse.
		if reusable && !resp.ConnectionClose() && resp.Header.ContentLength() >= -1 {
			w.lastUse = time.Now()
		} else {
			w.drop()
		}
	}()
	status := resp.StatusCode()
	if status/100 != 2 {
		b, eof, _ := readDirectBody(body, resp.Header.ContentLength(), maxErrorBody)
		reusable = eof
		if sid != "" && sessionLostStatus(status, b) {
			return exchangeSessionLost
		}
		if !r.relayError(b, j.call()) {
			j.fail(statusMessage(statusLine(resp), b), status >= 500)
		}
		return exchangeDone
	}
	switch directMediaType(resp.Header.ContentType()) {
	case "application/json":
		b, eof, err := readDirectBody(body, resp.Header.ContentLength(), r.maxMsg)
		reusable = eof
		switch {
		case errors.Is(err, ErrMessageTooLarge):
			r.tooLargeBody(b, j.call())
		case err != nil:
			if j.wanted() {
				j.fail("reading the remote response: "+err.Error(), true)
			}
		default:
			w.deliver(j, b)
		}
	case "text/event-stream":
		c := j.call()
		er := &eofReader{r: body}
		var pos streamPos
		res := exchangeDone
		if body != nil {
			res = r.readPostStream(c.ctx, c, er, &pos)
		}
		reusable = er.eof
		if res == exchangeEnded && c.ctx.Err() == nil &&
			(pos.id == "" || !r.resume(c.ctx, c, sid, pos)) {
			r.failCall(c, "remote endpoint ended the response without answering", true)
		}
	default:
		j.fail("remote endpoint ended the response without answering", true)
	}
	return exchangeDone
}

// deliver answers the request with the JSON body of its reply: at once
// when it is the request's answer, through the general machinery when it
// is anything else (a batch, a notification, a stray answer).
func (w *directWorker) deliver(j *directRequestJob, body []byte) {
	r := w.d.r
	data := bytes.TrimSpace(body)
	var env envelope
	if len(data) > 0 && data[0] == '{' && ParseMessage(data, &env) == nil && env.Method == "" &&
		bytes.Equal(env.ID, strconv.AppendInt(j.idBuf[:0], j.id, 10)) {
		res := responseOf(&env)
		if res.Err == nil && j.msg.method == methodToolsList {
			r.observe(&remoteCall{method: j.msg.method, version: j.msg.version}, data)
		}
		r.mux.settle(j.id, res)
		return
	}
	c := j.call()
	r.deliverData(body, c)
	if !c.isAnswered() {
		r.failCall(c, "remote endpoint ended the response without answering", true)
	}
}

// statusLine is a response's status as net/http spells it.
func statusLine(resp *fasthttp.Response) string {
	code := resp.StatusCode()
	msg := string(resp.Header.StatusMessage())
	if msg == "" {
		msg = http.StatusText(code)
	}
	return strconv.Itoa(code) + " " + msg
}

// directMediaType is the media type of a Content-Type value, lower case
// without parameters.
func directMediaType(ct []byte) string {
	switch string(ct) { // no allocation
	case "application/json":
		return "application/json"
	case "text/event-stream":
		return "text/event-stream"
	}
	mt, _, err := mime.ParseMediaType(string(ct))
	if err != nil {
		return ""
	}
	return mt
}

// readDirectBody reads a body of at most limit bytes (see readBody), and
// reports whether it was read to its end, so that its connection can be
// used again. contentLength is the length announced, or negative.
func readDirectBody(body io.Reader, contentLength, limit int) ([]byte, bool, error) {
	if body == nil {
		return nil, true, nil
	}
	if contentLength >= 0 && contentLength <= limit {
		b := make([]byte, contentLength)
		if _, err := io.ReadFull(body, b); err != nil {
			return nil, false, err
		}
		return b, true, nil
	}
	er := &eofReader{r: body}
	b, err := readBody(er, int64(limit))
	return b, er.eof && err == nil, err
}

// eofReader notes whether its reader reached its end.
type eofReader struct {
	r   io.Reader
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.eof = true
	}
	return n, err
}
