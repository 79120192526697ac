package transports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/switchyard-mcp/switchyard/internal/jsonx"
)

// Sentinel errors of a multiplexed connection. Check them with errors.Is.
var (
	// ErrClosed: the connection closed (the backend exited or was stopped)
	// before the call got its answer.
	ErrClosed = errors.New("connection closed")
	// ErrTimeout: the call got no answer within its timeout.
	ErrTimeout = errors.New("call timed out")
	// ErrCancelled: the caller cancelled the call.
	ErrCancelled = errors.New("call cancelled")
	// ErrEOF: the backend closed its output.
	ErrEOF = errors.New("backend closed its output")
	// ErrBusy: the connection's write queue is full.
	ErrBusy = errors.New("backend write queue is full")
)

// RPCError is a JSON-RPC error object returned by the backend.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Error reports the code and message.
func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// Response is the outcome of one call: the raw JSON result, or an error
// (*RPCError from the backend, or a transport error matching one of the
// sentinels above).
type Response struct {
	Result json.RawMessage
	Err    error
	// Written reports whether the request reached the backend's input; a
	// call that failed before being written is safe to retry elsewhere.
	Written bool
}

// Callback receives a call's Response exactly once. It runs on whichever
// goroutine settles the call (the connection's reader or writer, a timer, or
// the caller of Cancel or Close) and must not block.
type Callback func(Response)

// MuxOptions configures a Mux. Every callback is optional and must not block.
type MuxOptions struct {
	// MaxMessage bounds one incoming message (default 16 MiB).
	MaxMessage int
	// QueueSize bounds the outgoing queue (default 1024 messages).
	QueueSize int
	// OnNotification receives server notifications.
	OnNotification func(method string, params json.RawMessage)
	// OnProtocolError receives garbage lines and oversized messages.
	OnProtocolError func(err error)
	// OnClosed is called once when the connection ends, with the reason.
	OnClosed func(err error)
	// OnRequest is offered the requests a backend sends to its client that
	// the multiplexer does not answer itself (ping, roots/list). Returning
	// true takes the request: reply must then be called once, from any
	// goroutine. It runs on the reader goroutine and must not block.
	OnRequest func(method string, params json.RawMessage, reply Reply) bool
}

// Reply answers a request from the backend with a result, or with err
// when it is not nil.
type Reply func(result json.RawMessage, err *RPCError)

// States of a pending call's request.
const (
	stateQueued    int32 = iota // in the write queue
	stateWritten                // handed to the writer: it may have reached the backend
	stateAbandoned              // settled before it was written: never written
)

type pending struct {
	cb    Callback
	timer *time.Timer // guarded by Mux.mu
	state atomic.Int32
	// abort, for a request sent directly (see directSender), ends its
	// exchange when the call is settled without its answer.
	abort func()
	// onAck, for a subscriptions/listen request (see GoListen), runs once
	// when the backend acknowledges the subscription; guarded by Mux.mu.
	onAck func()
}

// abandon marks a settled call's request as not to be written and reports
// whether it has already been written.
func (p *pending) abandon() (written bool) {
	return !p.state.CompareAndSwap(stateQueued, stateAbandoned)
}

type outMsg struct {
	buf *[]byte
	p   *pending // nil for notifications and replies
}

// directSender is a backend's way around the write queue and the reader,
// for the requests it can carry and answer by itself (the remote
// transport's request/response exchanges). A direct request is pending in
// the Mux like any other: its answer, timeout, cancellation and the end of
// the connection settle it through the same table.
type directSender interface {
	// takesDirect reports whether a request for method goes direct now.
	takesDirect(method string) bool
	// newDirect prepares the exchange of a request pending under req.id.
	newDirect(req directRequest) directJob
}

// directRequest is a request handed to a directSender.
type directRequest struct {
	id     int64
	method string
	hint   reqHint
	// buf holds the message, newline-terminated; the sender owns it once
	// submitted and returns it to the pool.
	buf *[]byte
	p   *pending
}

// directJob is one prepared direct exchange.
type directJob interface {
	// submit hands the request over; it fails with ErrBusy when the
	// sender's queue is full (buf is then still the caller's).
	submit() error
	// abort ends the exchange of a call settled without its answer.
	abort()
}

// reqHint is what a request's builder knows of it that the transport
// would otherwise parse out of the message: the target of tools/call,
// prompts/get or resources/read, and the _meta protocol version.
type reqHint struct {
	name    string
	version string
	// exact says name and version are known; otherwise the message must
	// be parsed for them.
	exact bool
}

// Mux multiplexes JSON-RPC calls over one newline-delimited stream: calls
// are written by one writer goroutine from a bounded queue and answered by
// id from one reader goroutine, so many calls are in flight at once. A
// backend that can carry a request and its answer by itself (direct) gets
// the request straight from the caller instead.
type Mux struct {
	opts   MuxOptions
	w      io.Writer
	out    chan outMsg
	nextID atomic.Int64
	// direct, when set (before the Mux is used), takes the requests it
	// can carry by itself.
	direct directSender

	mu      sync.Mutex
	pending map[int64]*pending
	closed  bool
	err     error

	stop     chan struct{}
	stopOnce sync.Once
	readDone chan struct{}
	wg       sync.WaitGroup
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// putBuf returns a message buffer to the pool unless it grew large.
func putBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		bufPool.Put(bp)
	}
}

// NewMux starts a multiplexer writing to w and reading from r. Close it, and
// close r's source, to end its goroutines.
func NewMux(w io.Writer, r io.Reader, opts MuxOptions) *Mux {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	m := &Mux{
		opts:     opts,
		w:        w,
		out:      make(chan outMsg, opts.QueueSize),
		pending:  make(map[int64]*pending),
		stop:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	m.wg.Add(2)
	go m.writeLoop()
	go m.readLoop(NewReader(r, opts.MaxMessage))
	return m
}

// InFlight reports the number of calls awaiting an answer.
func (m *Mux) InFlight() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// Err reports why the connection closed, or nil while it is open.
func (m *Mux) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Go sends a request and arranges for cb to receive its answer, a timeout
// (timeout <= 0 means none) or the connection's end. params must be a JSON
// object or nil. The returned id identifies the call for Cancel.
func (m *Mux) Go(method string, params []byte, timeout time.Duration, cb Callback) (int64, error) {
	if len(params) == 0 {
		return m.goWith(method, reqHint{exact: true}, nil, timeout, cb)
	}
	return m.goWith(method, reqHint{}, func(b []byte) []byte { return append(b, params...) }, timeout, cb)
}

// GoListen sends a subscriptions/listen request of the stateless
// revision: onAck runs once, on the reader goroutine, when the backend's
// notifications/subscriptions/acknowledged names this request, and cb
// receives the request's answer when the stream ends (or its error, when
// the backend refuses it before acknowledging). Neither may block.
func (m *Mux) GoListen(params []byte, onAck func(), cb Callback) (int64, error) {
	p := &pending{cb: cb, onAck: onAck}
	return m.send("subscriptions/listen", reqHint{}, func(b []byte) []byte { return append(b, params...) }, 0, p)
}

// acknowledged runs the onAck of the listen request that an
// acknowledgement names.
func (m *Mux) acknowledged(params json.RawMessage) {
	var ack struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &ack) != nil {
		return
	}
	id, err := strconv.ParseInt(string(ack.Meta[MetaSubscriptionID]), 10, 64)
	if err != nil {
		return
	}
	m.mu.Lock()
	var f func()
	if p := m.pending[id]; p != nil {
		f, p.onAck = p.onAck, nil
	}
	m.mu.Unlock()
	if f != nil {
		f()
	}
}

// goWith is Go with the params object appended straight into the pooled
// message buffer by appendParams (nil for none), so large arguments are
// copied once on their way to the backend. hint is what the caller knows
// of the request, for a direct sender.
func (m *Mux) goWith(method string, hint reqHint, appendParams func([]byte) []byte, timeout time.Duration, cb Callback) (int64, error) {
	return m.send(method, hint, appendParams, timeout, &pending{cb: cb})
}

// send writes the request pending as p.
func (m *Mux) send(method string, hint reqHint, appendParams func([]byte) []byte, timeout time.Duration, p *pending) (int64, error) {
	id := m.nextID.Add(1)
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"method":`...)
	b = jsonx.AppendString(b, method)
	if appendParams != nil {
		b = append(b, `,"params":`...)
		b = appendParams(b)
	}
	b = append(b, "}\n"...)
	*bp = b

	var job directJob
	if m.direct != nil && m.direct.takesDirect(method) {
		job = m.direct.newDirect(directRequest{id: id, method: method, hint: hint, buf: bp, p: p})
		p.abort = job.abort
	}
	m.mu.Lock()
	if m.closed {
		err := m.err
		m.mu.Unlock()
		putBuf(bp)
		return 0, closedErr(err)
	}
	m.pending[id] = p
	m.mu.Unlock()

	var queued bool
	if job != nil {
		queued = job.submit() == nil
	} else {
		select {
		case m.out <- outMsg{buf: bp, p: p}:
			queued = true
		default:
		}
	}
	if !queued {
		putBuf(bp)
		if m.take(id) == nil {
			// The connection closed meanwhile and cb has had its answer.
			return id, nil
		}
		return 0, ErrBusy
	}
	// The timer starts once the call is queued, so that a call refused
	// with ErrBusy never reaches its callback.
	if timeout > 0 {
		m.mu.Lock()
		if m.pending[id] == p {
			p.timer = time.AfterFunc(timeout, func() { m.expire(id, ErrTimeout, "timeout") })
		}
		m.mu.Unlock()
	}
	return id, nil
}

// closedErr is the error for a call on a connection closed for reason.
func closedErr(reason error) error {
	if reason == nil || errors.Is(reason, ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, reason)
}

// Call is the blocking form of Go, for handshakes and health checks. When
// ctx's deadline passes first the call fails with ErrTimeout, when ctx is
// cancelled with ErrCancelled; either way the backend is told to cancel.
func (m *Mux) Call(ctx context.Context, method string, params []byte) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(err)
	}
	ch := make(chan Response, 1)
	id, err := m.Go(method, params, 0, func(r Response) { ch <- r })
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.Result, r.Err
	case <-ctx.Done():
		err := ctxErr(ctx.Err())
		reason := "cancelled"
		if errors.Is(err, ErrTimeout) {
			reason = "timeout"
		}
		m.expire(id, err, reason)
		// Whoever settled the call has called or is calling the callback.
		r := <-ch
		return r.Result, r.Err
	}
}

// ctxErr maps a context's error to ErrTimeout or ErrCancelled.
func ctxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrCancelled, err)
}

// Notify sends a notification; it fails only when the queue is full or the
// connection is closed.
func (m *Mux) Notify(method string, params []byte) error {
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"jsonrpc":"2.0","method":`...)
	b = jsonx.AppendString(b, method)
	if len(params) > 0 {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	b = append(b, "}\n"...)
	*bp = b
	return m.enqueue(outMsg{buf: bp})
}

func (m *Mux) enqueue(o outMsg) error {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		putBuf(o.buf)
		return ErrClosed
	}
	select {
	case m.out <- o:
		return nil
	default:
		putBuf(o.buf)
		return ErrBusy
	}
}

// Cancel abandons a call: its callback gets ErrCancelled and the backend is
// sent notifications/cancelled (a request still queued is dropped unsent
// instead). Cancelling a finished call does nothing.
func (m *Mux) Cancel(id int64, reason string) { m.expire(id, ErrCancelled, reason) }

func (m *Mux) expire(id int64, err error, reason string) {
	p := m.take(id)
	if p == nil {
		return
	}
	written := p.abandon()
	if written {
		// Queued before the callback runs, so no request the callback's
		// caller sends next can overtake the cancellation.
		params := make([]byte, 0, 64)
		params = append(params, `{"requestId":`...)
		params = strconv.AppendInt(params, id, 10)
		params = append(params, `,"reason":`...)
		params = jsonx.AppendString(params, reason)
		params = append(params, '}')
		_ = m.Notify("notifications/cancelled", params)
		if p.abort != nil {
			p.abort()
		}
	}
	p.cb(Response{Err: err, Written: written})
}

// settle answers the pending call id with r, unless it was settled
// already; it reports whether it did.
func (m *Mux) settle(id int64, r Response) bool {
	p := m.take(id)
	if p == nil {
		return false
	}
	p.cb(r)
	return true
}

// Awaits reports whether the call with the given id still waits for its
// answer.
func (m *Mux) Awaits(id int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.pending[id]
	return ok
}

// take removes and returns a pending call, stopping its timer.
func (m *Mux) take(id int64) *pending {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pending[id]
	if p != nil {
		delete(m.pending, id)
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	return p
}

// Close ends the connection: pending calls fail with ErrClosed and the
// writer stops. The reader stops when its source is closed, and a writer
// blocked on a peer that does not read stops when its destination is closed;
// Close waits for both goroutines, so close them first (or concurrently).
func (m *Mux) Close() error {
	m.shutdown(ErrClosed)
	m.wg.Wait()
	return nil
}

func (m *Mux) shutdown(reason error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.err = reason
	ps := m.pending
	m.pending = make(map[int64]*pending)
	for _, p := range ps {
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	m.mu.Unlock()
	m.stopOnce.Do(func() { close(m.stop) })
	err := closedErr(reason)
	for _, p := range ps {
		p.cb(Response{Err: err, Written: p.abandon()})
	}
	if m.opts.OnClosed != nil {
		m.opts.OnClosed(reason)
	}
}

func (m *Mux) writeLoop() {
	defer m.wg.Done()
	bw := bufio.NewWriterSize(m.w, 32<<10)
	write := func(o outMsg) error {
		defer putBuf(o.buf)
		if o.p != nil && !o.p.state.CompareAndSwap(stateQueued, stateWritten) {
			return nil // settled (timed out, cancelled) before it was written
		}
		_, err := bw.Write(*o.buf)
		return err
	}
	for {
		select {
		case <-m.stop:
			m.drainOut()
			return
		case o := <-m.out:
			err := write(o)
			for err == nil && len(m.out) > 0 {
				err = write(<-m.out)
			}
			if err == nil {
				err = bw.Flush()
			}
			if err != nil {
				m.shutdown(fmt.Errorf("write: %w", err))
				m.drainOut()
				return
			}
		}
	}
}

func (m *Mux) drainOut() {
	for {
		select {
		case o := <-m.out:
			putBuf(o.buf)
		default:
			return
		}
	}
}

// envelope is the part of a JSON-RPC message the multiplexer routes on.
// Message is one JSON-RPC message as read off the wire. Its raw members
// alias the bytes it was parsed from.
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Result  json.RawMessage `json:"result"`
	Error   *RPCError       `json:"error"`
	Params  json.RawMessage `json:"params"`
}

type envelope = Message

// ParseMessage fills m from one JSON-RPC message in a single pass, as
// json.Unmarshal would for the exact member names (data must be an
// object); m's raw members alias data.
func ParseMessage(data []byte, m *Message) error {
	var err error
	scanErr := jsonx.Members(data, func(k, v []byte) bool {
		switch string(k) {
		case "jsonrpc":
			err = stringValue(v, &m.JSONRPC)
		case "id":
			m.ID = v
		case "method":
			err = stringValue(v, &m.Method)
		case "result":
			m.Result = v
		case "params":
			m.Params = v
		case "error":
			m.Error = nil
			if string(v) != "null" {
				m.Error = new(RPCError)
				err = json.Unmarshal(v, m.Error)
			}
		}
		return err == nil
	})
	if scanErr != nil {
		return scanErr
	}
	return err
}

// stringValue decodes the JSON string v (null leaves s as it is, as
// json.Unmarshal does).
func stringValue(v []byte, s *string) error {
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
		*s = string(v[1 : len(v)-1])
		return nil
	}
	return json.Unmarshal(v, s)
}

func (m *Mux) readLoop(r *Reader) {
	defer m.wg.Done()
	defer close(m.readDone)
	for {
		line, err := r.Next()
		if err != nil {
			var tl *TooLargeError
			if errors.As(err, &tl) {
				m.protocolError(err)
				if id, ok := peekID(tl.Prefix); ok {
					if p := m.take(id); p != nil {
						p.cb(Response{Err: err, Written: true})
					}
				}
				continue
			}
			if errors.Is(err, io.EOF) {
				err = ErrEOF
			}
			m.shutdown(err)
			return
		}
		m.dispatch(line)
	}
}

func (m *Mux) protocolError(err error) {
	if m.opts.OnProtocolError != nil {
		m.opts.OnProtocolError(err)
	}
}

func (m *Mux) dispatch(line []byte) {
	var env envelope
	// One copy, as the line's buffer is the reader's: the members alias it.
	if err := ParseMessage(bytes.Clone(line), &env); err != nil {
		m.protocolError(fmt.Errorf("not JSON-RPC: %w (%q)", err, truncate(line, 80)))
		return
	}
	hasID := present(env.ID)
	switch {
	case env.Method != "" && hasID:
		m.answerServerRequest(env.Method, env.Params, env.ID)
	case env.Method != "":
		if env.Method == "notifications/subscriptions/acknowledged" {
			m.acknowledged(env.Params)
		}
		if m.opts.OnNotification != nil {
			m.opts.OnNotification(env.Method, env.Params)
		}
	case hasID:
		id, err := strconv.ParseInt(string(env.ID), 10, 64)
		if err != nil {
			m.protocolError(fmt.Errorf("response with unknown id %s", truncate(env.ID, 40)))
			return
		}
		// Answered after timeout or cancel, or not: either way it is done.
		m.settle(id, responseOf(&env))
	default:
		m.protocolError(fmt.Errorf("message with neither id nor method (%q)", truncate(line, 80)))
	}
}

// responseOf is the Response a JSON-RPC response carries.
func responseOf(env *envelope) Response {
	if env.Error != nil {
		return Response{Err: env.Error, Written: true}
	}
	if env.Result == nil {
		return Response{Err: &RPCError{Code: -32603, Message: "response has neither result nor error"}, Written: true}
	}
	return Response{Result: env.Result, Written: true}
}

// answerServerRequest answers a request the backend sends to its client:
// the gateway answers ping itself, offers the rest to OnRequest, answers
// roots/list that it left with no roots and declines the others.
func (m *Mux) answerServerRequest(method string, params, id json.RawMessage) {
	if method == "ping" {
		m.reply(id, json.RawMessage(`{}`), nil)
		return
	}
	if m.opts.OnRequest != nil && m.opts.OnRequest(method, params, func(res json.RawMessage, err *RPCError) { m.reply(id, res, err) }) {
		return
	}
	if method == "roots/list" {
		m.reply(id, json.RawMessage(`{"roots":[]}`), nil)
		return
	}
	m.reply(id, nil, &RPCError{Code: -32601, Message: "method not supported by the gateway: " + string(truncate([]byte(method), 64))})
}

// reply writes the answer to a backend's request: result, or rerr when it
// is not nil.
func (m *Mux) reply(id, result json.RawMessage, rerr *RPCError) {
	if rerr == nil && len(result) == 0 {
		rerr = &RPCError{Code: -32603, Message: "no result"}
	}
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if rerr != nil {
		e, err := json.Marshal(rerr)
		if err != nil { // Data is not valid JSON
			e = []byte(`{"code":-32603,"message":"invalid error reply"}`)
		}
		b = appendResponse(b, id, "error", e)
	} else {
		b = appendResponse(b, id, "result", result)
	}
	*bp = append(b, '\n')
	_ = m.enqueue(outMsg{buf: bp})
}

// appendResponse appends the JSON-RPC response to request id whose member
// ("result" or "error") holds value.
func appendResponse(b []byte, id json.RawMessage, member string, value []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"`...)
	b = append(b, member...)
	b = append(b, `":`...)
	b = append(b, value...)
	return append(b, '}')
}

// present reports whether a decoded JSON member was there and not null.
func present(v json.RawMessage) bool { return len(v) > 0 && string(v) != "null" }

// peekID finds the numeric top-level "id" of a response in the first bytes
// of a message. A message with a "method" member is a request or
// notification from the backend, not an answer to one of ours, and an id
// running to the end of the prefix may have been cut short, so neither
// counts.
func peekID(prefix []byte) (int64, bool) {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return 0, false
	}
	var (
		id    int64
		found bool
	)
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			break
		}
		switch k {
		case "method":
			return 0, false
		case "id":
			v, err := dec.Token()
			if err != nil || dec.InputOffset() >= int64(len(prefix)) {
				return 0, false
			}
			n, ok := v.(json.Number)
			if !ok {
				return 0, false
			}
			if id, err = n.Int64(); err != nil {
				return 0, false
			}
			found = true
			continue
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
	}
	return id, found
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			c = '?'
		}
		out = append(out, c)
	}
	return out
}
