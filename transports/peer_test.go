package transports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor bounds every wait on a channel in these tests.
const waitFor = 10 * time.Second

// wireMsg is a JSON-RPC message as the fake peer sees it.
type wireMsg struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
}

// intID returns the message's numeric id.
func (w wireMsg) intID(t testing.TB) int64 {
	t.Helper()
	id, err := strconv.ParseInt(string(w.ID), 10, 64)
	if err != nil {
		t.Fatalf("message %+v has no numeric id: %v", w, err)
	}
	return id
}

// fakePeer is an in-process JSON-RPC peer (a backend) on the other end of a
// Mux, connected by two io.Pipe pairs.
type fakePeer struct {
	t   testing.TB
	mux *Mux

	toMux   *io.PipeWriter // the peer writes here, the Mux reads
	fromMux *io.PipeReader // the Mux writes here, the peer reads
	wmu     sync.Mutex

	recv     chan wireMsg // messages the Mux wrote, in order
	quit     chan struct{}
	readDone chan struct{}
	reading  atomic.Bool
	stopOnce sync.Once

	protoErrs chan error
	notes     chan wireMsg
	closed    chan error
}

// newPeer connects a Mux to a fake peer. Unless read is false the peer
// starts reading what the Mux writes at once. The MuxOptions callbacks are
// wired to the peer's channels.
func newPeer(t testing.TB, opts MuxOptions, read bool) *fakePeer {
	t.Helper()
	muxR, toMux := io.Pipe()
	fromMux, muxW := io.Pipe()
	p := &fakePeer{
		t:         t,
		toMux:     toMux,
		fromMux:   fromMux,
		recv:      make(chan wireMsg, 4096),
		quit:      make(chan struct{}),
		readDone:  make(chan struct{}),
		protoErrs: make(chan error, 1024),
		notes:     make(chan wireMsg, 1024),
		closed:    make(chan error, 4),
	}
	opts.OnProtocolError = func(err error) { p.protoErrs <- err }
	opts.OnNotification = func(method string, params json.RawMessage) {
		p.notes <- wireMsg{Method: method, Params: params}
	}
	opts.OnClosed = func(err error) { p.closed <- err }
	p.mux = NewMux(muxW, muxR, opts)
	t.Cleanup(p.shutdown)
	if read {
		p.startReading(nil)
	}
	return p
}

// startReading starts the peer's reader; prefix holds bytes already read
// from the Mux by hand.
func (p *fakePeer) startReading(prefix []byte) {
	p.reading.Store(true)
	go func() {
		defer close(p.readDone)
		r := NewReader(io.MultiReader(bytes.NewReader(prefix), p.fromMux), 64<<20)
		for {
			b, err := r.Next()
			if err != nil {
				return
			}
			var m wireMsg
			if err := json.Unmarshal(b, &m); err != nil {
				p.t.Errorf("peer got invalid JSON %q: %v", b, err)
				return
			}
			if m.JSONRPC != "2.0" {
				p.t.Errorf("peer got %q without jsonrpc 2.0", b)
			}
			select {
			case p.recv <- m:
			case <-p.quit:
				return
			}
		}
	}()
}

// shutdown closes both pipes and the Mux and waits for every goroutine.
func (p *fakePeer) shutdown() { p.stopOnce.Do(p.stop) }

func (p *fakePeer) stop() {
	_ = p.toMux.Close()
	_ = p.fromMux.CloseWithError(errors.New("peer gone"))
	done := make(chan struct{})
	go func() { _ = p.mux.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitFor):
		p.t.Errorf("Mux.Close did not return")
	}
	close(p.quit)
	if p.reading.Load() {
		<-p.readDone
	}
}

// send writes raw lines to the Mux.
func (p *fakePeer) send(lines ...string) {
	p.t.Helper()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for _, l := range lines {
		if _, err := io.WriteString(p.toMux, l+"\n"); err != nil {
			p.t.Fatalf("peer write: %v", err)
		}
	}
}

// reply answers request id with a raw JSON result.
func (p *fakePeer) reply(id json.RawMessage, result string) {
	p.t.Helper()
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":%s}`, id, result))
}

// replyError answers request id with a JSON-RPC error.
func (p *fakePeer) replyError(id json.RawMessage, code int, msg string) {
	p.t.Helper()
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":%q}}`, id, code, msg))
}

// next returns the next message the Mux wrote.
func (p *fakePeer) next() wireMsg {
	p.t.Helper()
	select {
	case m := <-p.recv:
		return m
	case <-time.After(waitFor):
		p.t.Fatalf("peer: no message from the Mux within %v", waitFor)
		return wireMsg{}
	}
}

// nextRequest returns the next message, which must be a request for method.
func (p *fakePeer) nextRequest(method string) wireMsg {
	p.t.Helper()
	m := p.next()
	if m.Method != method || len(m.ID) == 0 {
		p.t.Fatalf("peer got %+v, want a %s request", m, method)
	}
	return m
}

// protoErr returns the next protocol error the Mux reported.
func (p *fakePeer) protoErr() error {
	p.t.Helper()
	select {
	case err := <-p.protoErrs:
		return err
	case <-time.After(waitFor):
		p.t.Fatalf("no protocol error within %v", waitFor)
		return nil
	}
}

// noProtoErr fails the test if a protocol error has been reported.
func (p *fakePeer) noProtoErr() {
	p.t.Helper()
	select {
	case err := <-p.protoErrs:
		p.t.Fatalf("unexpected protocol error: %v", err)
	default:
	}
}

// roundTrip makes one call through the Mux and answers it, proving the
// connection works.
func (p *fakePeer) roundTrip() {
	p.t.Helper()
	c := newCall(p.t)
	if _, err := p.mux.Go("tools/list", nil, 0, c.cb); err != nil {
		p.t.Fatalf("Go: %v", err)
	}
	m := p.nextRequest("tools/list")
	p.reply(m.ID, `{"tools":[]}`)
	r := c.wait()
	if r.Err != nil || string(r.Result) != `{"tools":[]}` {
		p.t.Fatalf("round trip: %+v", r)
	}
}

// startPending makes a tools/call the peer leaves unanswered for now and
// returns it with the request the peer got.
func (p *fakePeer) startPending() (*call, wireMsg) {
	p.t.Helper()
	c := newCall(p.t)
	if _, err := p.mux.Go("tools/call", nil, 0, c.cb); err != nil {
		p.t.Fatalf("Go: %v", err)
	}
	return c, p.nextRequest("tools/call")
}

// finishPending checks that c is still pending, answers its request req
// and checks that c gets that answer.
func (p *fakePeer) finishPending(c *call, req wireMsg) {
	p.t.Helper()
	c.pendingNow()
	p.reply(req.ID, `{}`)
	if r := c.wait(); r.Err != nil {
		p.t.Fatalf("pending call: %v", r.Err)
	}
}

// call collects the Response of one Mux call and checks that its callback
// runs once.
type call struct {
	t     testing.TB
	ch    chan Response
	count atomic.Int32
}

func newCall(t testing.TB) *call {
	return &call{t: t, ch: make(chan Response, 1)}
}

func (c *call) cb(r Response) {
	if c.count.Add(1) > 1 {
		c.t.Errorf("callback called again with %+v", r)
		return
	}
	c.ch <- r
}

// wait returns the call's Response.
func (c *call) wait() Response {
	c.t.Helper()
	select {
	case r := <-c.ch:
		return r
	case <-time.After(waitFor):
		c.t.Fatalf("no response within %v", waitFor)
		return Response{}
	}
}

// pendingNow fails the test if the call has already been answered.
func (c *call) pendingNow() {
	c.t.Helper()
	if n := c.count.Load(); n != 0 {
		c.t.Fatalf("call already answered")
	}
}
