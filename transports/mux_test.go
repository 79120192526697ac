package transports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMuxConcurrentCallsOutOfOrder(t *testing.T) {
	const n = 256
	p := newPeer(t, MuxOptions{}, true)

	calls := make([]*call, n)
	var wg sync.WaitGroup
	for i := range n {
		calls[i] = newCall(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			params := fmt.Sprintf(`{"n":%d}`, i)
			if _, err := p.mux.Go("tools/call", []byte(params), 0, calls[i].cb); err != nil {
				t.Errorf("Go %d: %v", i, err)
			}
		}()
	}
	wg.Wait()

	reqs := make([]wireMsg, 0, n)
	seen := make(map[string]bool)
	for range n {
		m := p.nextRequest("tools/call")
		if seen[string(m.ID)] {
			t.Fatalf("id %s used twice", m.ID)
		}
		seen[string(m.ID)] = true
		reqs = append(reqs, m)
	}
	if got := p.mux.InFlight(); got != n {
		t.Fatalf("InFlight = %d, want %d", got, n)
	}

	// Answer in random order, echoing each request's params.
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
	for _, m := range reqs {
		p.reply(m.ID, string(m.Params))
	}
	for i, c := range calls {
		r := c.wait()
		if r.Err != nil {
			t.Fatalf("call %d: %v", i, r.Err)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i); string(r.Result) != want {
			t.Fatalf("call %d got %s, want %s", i, r.Result, want)
		}
		if !r.Written {
			t.Fatalf("call %d: answered but Written is false", i)
		}
	}
	if got := p.mux.InFlight(); got != 0 {
		t.Fatalf("InFlight = %d after every answer, want 0", got)
	}
	p.noProtoErr()
}

func TestMuxConcurrentBlockingCalls(t *testing.T) {
	const n = 64
	p := newPeer(t, MuxOptions{}, true)
	// The peer echoes every request's params, from its own goroutine.
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		for range n {
			select {
			case m := <-p.recv:
				p.reply(m.ID, string(m.Params))
			case <-time.After(waitFor):
				t.Errorf("peer: requests missing")
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf(`{"i":%d}`, i)
			got, err := p.mux.Call(ctx, "ping", []byte(want))
			if err != nil || string(got) != want {
				t.Errorf("Call %d = %s, %v; want %s", i, got, err, want)
			}
		}()
	}
	wg.Wait()
	<-echoDone
}

func TestMuxRequestEncoding(t *testing.T) {
	tests := []struct {
		name   string
		method string
		params string
		want   string // params as the peer sees them ("" = absent)
	}{
		{name: "no params", method: "ping"},
		{name: "object params", method: "tools/call", params: `{"name":"echo","arguments":{"text":"hi"}}`,
			want: `{"name":"echo","arguments":{"text":"hi"}}`},
		{name: "method needing quotes", method: `we"ird\method` + "\n", params: `{}`, want: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			c := newCall(t)
			if _, err := p.mux.Go(tt.method, []byte(tt.params), 0, c.cb); err != nil {
				t.Fatalf("Go: %v", err)
			}
			m := p.next()
			if m.Method != tt.method {
				t.Fatalf("method = %q, want %q", m.Method, tt.method)
			}
			if string(m.Params) != tt.want {
				t.Fatalf("params = %s, want %s", m.Params, tt.want)
			}
			if err := p.mux.Notify("notifications/x", []byte(tt.params)); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			n := p.next()
			if len(n.ID) != 0 || n.Method != "notifications/x" || string(n.Params) != tt.want {
				t.Fatalf("notification = %+v", n)
			}
		})
	}
}

// cancelNote checks that m is notifications/cancelled for request id.
func cancelNote(t *testing.T, m wireMsg, id int64, reason string) {
	t.Helper()
	if m.Method != "notifications/cancelled" || len(m.ID) != 0 {
		t.Fatalf("got %+v, want notifications/cancelled", m)
	}
	var params struct {
		RequestID json.RawMessage `json:"requestId"`
		Reason    string          `json:"reason"`
	}
	if err := json.Unmarshal(m.Params, &params); err != nil {
		t.Fatalf("cancelled params %s: %v", m.Params, err)
	}
	if string(params.RequestID) != strconv.FormatInt(id, 10) || params.Reason != reason {
		t.Fatalf("cancelled params = %s, want requestId %d reason %q", m.Params, id, reason)
	}
}

func TestMuxTimeout(t *testing.T) {
	p := newPeer(t, MuxOptions{}, true)
	c := newCall(t)
	id, err := p.mux.Go("tools/call", []byte(`{"name":"hang"}`), 500*time.Millisecond, c.cb)
	if err != nil {
		t.Fatalf("Go: %v", err)
	}
	req := p.nextRequest("tools/call")
	if got := req.intID(t); got != id {
		t.Fatalf("request id %d, Go returned %d", got, id)
	}
	r := c.wait()
	if !errors.Is(r.Err, ErrTimeout) || !r.Written {
		t.Fatalf("response %+v, want ErrTimeout after the request was written", r)
	}
	cancelNote(t, p.next(), id, "timeout")

	// A late answer is dropped quietly and the connection stays usable.
	p.reply(req.ID, `{"late":true}`)
	p.roundTrip()
	p.noProtoErr()
}

func TestMuxTimeoutBeforeWrite(t *testing.T) {
	p := newPeer(t, MuxOptions{}, false)
	first := newCall(t)
	if _, err := p.mux.Go("first", nil, 0, first.cb); err != nil {
		t.Fatalf("Go: %v", err)
	}
	// Reading one byte proves the writer is inside its write of the first
	// request: io.Pipe blocks it until the rest is read.
	one := make([]byte, 1)
	if _, err := io.ReadFull(p.fromMux, one); err != nil {
		t.Fatalf("read: %v", err)
	}
	queued := newCall(t)
	if _, err := p.mux.Go("queued", nil, time.Millisecond, queued.cb); err != nil {
		t.Fatalf("Go: %v", err)
	}
	r := queued.wait()
	if !errors.Is(r.Err, ErrTimeout) || r.Written {
		t.Fatalf("response %+v, want ErrTimeout before the request was written", r)
	}
	if err := p.mux.Notify("marker", nil); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	p.startReading(one)
	p.nextRequest("first")
	// The abandoned request is never written, so no cancellation either.
	if m := p.next(); m.Method != "marker" {
		t.Fatalf("got %+v after the first request, want the marker", m)
	}
	first.pendingNow()
}

func TestMuxCancel(t *testing.T) {
	p := newPeer(t, MuxOptions{}, true)
	c := newCall(t)
	id, err := p.mux.Go("tools/call", nil, 0, c.cb)
	if err != nil {
		t.Fatalf("Go: %v", err)
	}
	req := p.nextRequest("tools/call")
	p.mux.Cancel(id, "user asked")
	r := c.wait()
	if !errors.Is(r.Err, ErrCancelled) || !r.Written {
		t.Fatalf("response %+v, want ErrCancelled, written", r)
	}
	cancelNote(t, p.next(), id, "user asked")
	p.mux.Cancel(id, "again") // finished: nothing happens
	p.mux.Cancel(12345, "unknown")
	p.reply(req.ID, `{}`)
	p.roundTrip() // the next message is the round trip's, not a second cancel
	if got := p.mux.InFlight(); got != 0 {
		t.Fatalf("InFlight = %d, want 0", got)
	}
}

func TestMuxCallContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		cancel  bool // cancel the context once the request arrived
		want    error
		wantCtx error
		reason  string
		sentUp  bool // the request reaches the peer
	}{
		{
			name: "deadline",
			ctx: func(c context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(c, 500*time.Millisecond)
			},
			want:    ErrTimeout,
			wantCtx: context.DeadlineExceeded,
			reason:  "timeout",
			sentUp:  true,
		},
		{
			name:    "cancel",
			ctx:     context.WithCancel,
			cancel:  true,
			want:    ErrCancelled,
			wantCtx: context.Canceled,
			reason:  "cancelled",
			sentUp:  true,
		},
		{
			name: "already cancelled",
			ctx: func(c context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(c)
				cancel()
				return ctx, cancel
			},
			want:    ErrCancelled,
			wantCtx: context.Canceled,
		},
		{
			name: "deadline passed",
			ctx: func(c context.Context) (context.Context, context.CancelFunc) {
				return context.WithDeadline(c, time.Now().Add(-time.Second))
			},
			want:    ErrTimeout,
			wantCtx: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, err := p.mux.Call(ctx, "tools/call", nil)
				errc <- err
			}()
			if tt.sentUp {
				req := p.nextRequest("tools/call")
				if tt.cancel {
					cancel()
				}
				cancelNote(t, p.next(), req.intID(t), tt.reason)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, tt.want) || !errors.Is(err, tt.wantCtx) {
					t.Fatalf("Call = %v, want %v and %v", err, tt.want, tt.wantCtx)
				}
			case <-time.After(waitFor):
				t.Fatalf("Call did not return")
			}
			if got := p.mux.InFlight(); got != 0 {
				t.Fatalf("InFlight = %d, want 0", got)
			}
			p.roundTrip() // nothing else was sent
		})
	}
}

func TestMuxConnectionEnds(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name   string
		end    func(p *fakePeer)
		reason error // Mux.Err and OnClosed
	}{
		{name: "peer closes its output", end: func(p *fakePeer) { _ = p.toMux.Close() }, reason: ErrEOF},
		{name: "peer output fails", end: func(p *fakePeer) { _ = p.toMux.CloseWithError(boom) }, reason: boom},
		{name: "peer stops reading", end: func(p *fakePeer) {
			_ = p.fromMux.CloseWithError(boom)
			_ = p.mux.Notify("notifications/x", nil) // the write fails
		}, reason: boom},
		{name: "Close", end: func(p *fakePeer) {
			// Close waits for the reader, which ends when the test
			// closes the pipes.
			done := make(chan struct{})
			go func() { _ = p.mux.Close(); close(done) }()
			p.t.Cleanup(func() { <-done })
		}, reason: ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			calls := make([]*call, 5)
			for i := range calls {
				calls[i] = newCall(t)
				if _, err := p.mux.Go("tools/call", nil, time.Hour, calls[i].cb); err != nil {
					t.Fatalf("Go: %v", err)
				}
				p.nextRequest("tools/call")
			}
			if p.mux.Err() != nil {
				t.Fatalf("Err = %v on an open connection", p.mux.Err())
			}
			tt.end(p)
			for i, c := range calls {
				r := c.wait()
				if !errors.Is(r.Err, ErrClosed) || !errors.Is(r.Err, tt.reason) {
					t.Fatalf("call %d: %v, want ErrClosed and %v", i, r.Err, tt.reason)
				}
				if !r.Written {
					t.Fatalf("call %d: Written is false for a request the peer got", i)
				}
			}
			select {
			case err := <-p.closed:
				if !errors.Is(err, tt.reason) {
					t.Fatalf("OnClosed(%v), want %v", err, tt.reason)
				}
			case <-time.After(waitFor):
				t.Fatalf("OnClosed not called")
			}
			if err := p.mux.Err(); !errors.Is(err, tt.reason) {
				t.Fatalf("Err = %v, want %v", err, tt.reason)
			}
			late := newCall(t)
			if _, err := p.mux.Go("tools/call", nil, 0, late.cb); !errors.Is(err, ErrClosed) {
				t.Fatalf("Go after close = %v, want ErrClosed", err)
			}
			if _, err := p.mux.Call(t.Context(), "ping", nil); !errors.Is(err, ErrClosed) {
				t.Fatalf("Call after close = %v, want ErrClosed", err)
			}
			if err := p.mux.Notify("x", nil); !errors.Is(err, ErrClosed) {
				t.Fatalf("Notify after close = %v, want ErrClosed", err)
			}
			p.shutdown()
			late.pendingNow()
			select {
			case err := <-p.closed:
				t.Fatalf("OnClosed called twice (again with %v)", err)
			default:
			}
		})
	}
}

func TestMuxBusy(t *testing.T) {
	const queue = 2
	p := newPeer(t, MuxOptions{QueueSize: queue}, false) // the peer reads one byte only
	first := newCall(t)
	if _, err := p.mux.Go("first", nil, 0, first.cb); err != nil {
		t.Fatalf("Go: %v", err)
	}
	// Reading one byte proves the writer has taken the first request and
	// is blocked writing it: the queue is empty now.
	if _, err := io.ReadFull(p.fromMux, make([]byte, 1)); err != nil {
		t.Fatalf("read: %v", err)
	}
	accepted := []*call{first}
	for i := range queue {
		c := newCall(t)
		if _, err := p.mux.Go("tools/call", nil, time.Hour, c.cb); err != nil {
			t.Fatalf("Go %d on a queue of %d: %v", i, queue, err)
		}
		accepted = append(accepted, c)
	}
	busy := newCall(t)
	if _, err := p.mux.Go("tools/call", nil, time.Nanosecond, busy.cb); !errors.Is(err, ErrBusy) {
		t.Fatalf("Go on a full queue = %v, want ErrBusy", err)
	}
	if err := p.mux.Notify("notifications/x", nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("Notify on a full queue = %v, want ErrBusy", err)
	}
	if got := p.mux.InFlight(); got != len(accepted) {
		t.Fatalf("InFlight = %d, want %d (the refused call is not pending)", got, len(accepted))
	}
	p.shutdown()
	for i, c := range accepted {
		r := c.wait()
		if !errors.Is(r.Err, ErrClosed) {
			t.Fatalf("accepted call %d: %v, want ErrClosed", i, r.Err)
		}
		if want := i == 0; r.Written != want {
			t.Fatalf("accepted call %d: Written = %v, want %v", i, r.Written, want)
		}
	}
	busy.pendingNow() // a refused call never reaches its callback, even with a timeout
}

func TestMuxServerRequests(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		id     string
		result string
		code   int
	}{
		{name: "ping", line: `{"jsonrpc":"2.0","id":"s1","method":"ping"}`, id: `"s1"`, result: `{}`},
		{name: "ping with numeric id", line: `{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}`, id: `1`, result: `{}`},
		{name: "roots/list", line: `{"jsonrpc":"2.0","id":"r","method":"roots/list"}`, id: `"r"`, result: `{"roots":[]}`},
		{name: "unsupported", line: `{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{}}`, id: `7`, code: -32601},
		{name: "unsupported odd name", line: `{"jsonrpc":"2.0","id":8,"method":"x\"\\\u0000y"}`, id: `8`, code: -32601},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			// A pending call with id 1 must not be taken for the request.
			pend, req := p.startPending()
			p.send(tt.line)
			m := p.next()
			if string(m.ID) != tt.id || m.Method != "" {
				t.Fatalf("reply %+v, want id %s", m, tt.id)
			}
			switch {
			case tt.code != 0:
				if m.Error == nil || m.Error.Code != tt.code || m.Result != nil {
					t.Fatalf("reply %+v, want error %d", m, tt.code)
				}
			case string(m.Result) != tt.result || m.Error != nil:
				t.Fatalf("reply %+v, want result %s", m, tt.result)
			}
			p.finishPending(pend, req)
			p.noProtoErr()
		})
	}
}

func TestMuxResponses(t *testing.T) {
	tests := []struct {
		name    string
		reply   string // %s is the request id
		result  string
		rpcCode int
		rpcMsg  string
		rpcData string
	}{
		{name: "result", reply: `{"jsonrpc":"2.0","id":%s,"result":{"a":[1,2]}}`, result: `{"a":[1,2]}`},
		{name: "null result", reply: `{"jsonrpc":"2.0","id":%s,"result":null}`, result: `null`},
		{name: "fields in any order", reply: `{"result":"x","id":%s,"jsonrpc":"2.0"}`, result: `"x"`},
		{name: "error", reply: `{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"bad params","data":{"k":1}}}`,
			rpcCode: -32602, rpcMsg: "bad params", rpcData: `{"k":1}`},
		{name: "neither result nor error", reply: `{"jsonrpc":"2.0","id":%s}`, rpcCode: -32603,
			rpcMsg: "response has neither result nor error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			c := newCall(t)
			if _, err := p.mux.Go("m", nil, 0, c.cb); err != nil {
				t.Fatalf("Go: %v", err)
			}
			req := p.nextRequest("m")
			p.send(fmt.Sprintf(tt.reply, req.ID))
			r := c.wait()
			if !r.Written {
				t.Fatalf("Written is false for an answered call")
			}
			if tt.rpcCode == 0 {
				if r.Err != nil || string(r.Result) != tt.result {
					t.Fatalf("got %s, %v; want %s", r.Result, r.Err, tt.result)
				}
				return
			}
			var re *RPCError
			if !errors.As(r.Err, &re) || re.Code != tt.rpcCode || re.Message != tt.rpcMsg || string(re.Data) != tt.rpcData {
				t.Fatalf("got %v (%+v), want rpc error %d %q %s", r.Err, re, tt.rpcCode, tt.rpcMsg, tt.rpcData)
			}
		})
	}
}

func TestMuxGarbage(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		protoErr  bool
		errSubstr string
	}{
		{name: "not JSON", line: "garbage line 1", protoErr: true, errSubstr: "not JSON-RPC"},
		{name: "truncated JSON", line: `{"jsonrpc":"2.0","id":1,"res`, protoErr: true, errSubstr: "not JSON-RPC"},
		{name: "array", line: `[1,2,3]`, protoErr: true, errSubstr: "not JSON-RPC"},
		{name: "method not a string", line: `{"jsonrpc":"2.0","method":5}`, protoErr: true, errSubstr: "not JSON-RPC"},
		{name: "neither id nor method", line: `{"jsonrpc":"2.0","result":{}}`, protoErr: true, errSubstr: "neither id nor method"},
		{name: "null id", line: `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`, protoErr: true, errSubstr: "neither id nor method"},
		{name: "string id", line: `{"jsonrpc":"2.0","id":"abc","result":{}}`, protoErr: true, errSubstr: "unknown id"},
		{name: "object id", line: `{"jsonrpc":"2.0","id":{"a":1},"result":{}}`, protoErr: true, errSubstr: "unknown id"},
		{name: "unknown numeric id", line: `{"jsonrpc":"2.0","id":999999,"result":{}}`},
		{name: "control characters", line: "\x00\x01\x02{", protoErr: true, errSubstr: "not JSON-RPC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{}, true)
			pend, req := p.startPending()
			p.send(tt.line)
			if tt.protoErr {
				if err := p.protoErr(); !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("protocol error %q, want it to mention %q", err, tt.errSubstr)
				}
			}
			// The connection is still usable and the pending call unharmed.
			p.roundTrip()
			p.finishPending(pend, req)
			p.noProtoErr()
		})
	}
}

func TestMuxOversized(t *testing.T) {
	const limit = 512
	pad := strings.Repeat("x", 2*limit)
	tests := []struct {
		name string
		// line is the oversized message; %[1]s is the pending call's id,
		// %[2]s padding that makes it too large.
		line  string
		fails bool // the pending call fails with ErrMessageTooLarge
	}{
		{name: "response", line: `{"jsonrpc":"2.0","id":%[1]s,"result":{"text":"%[2]s"}}`, fails: true},
		{name: "response id after jsonrpc", line: `{"id":%[1]s,"jsonrpc":"2.0","result":"%[2]s"}`, fails: true},
		{name: "error response", line: `{"jsonrpc":"2.0","id":%[1]s,"error":{"code":1,"message":"%[2]s"}}`, fails: true},
		{name: "id after the payload", line: `{"jsonrpc":"2.0","result":"%[2]s","id":%[1]s}`},
		{name: "server request with the same id", line: `{"jsonrpc":"2.0","id":%[1]s,"method":"sampling/createMessage","params":{"p":"%[2]s"}}`},
		{name: "notification", line: `{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"%[2]s"}}`},
		{name: "garbage", line: `%[2]s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, MuxOptions{MaxMessage: limit}, true)
			c, req := p.startPending()
			p.send(fmt.Sprintf(tt.line, req.ID, pad))
			if err := p.protoErr(); !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("protocol error %v, want ErrMessageTooLarge", err)
			}
			if tt.fails {
				r := c.wait()
				if !errors.Is(r.Err, ErrMessageTooLarge) || !r.Written {
					t.Fatalf("call: %+v, want ErrMessageTooLarge", r)
				}
			} else {
				p.roundTrip()
				p.finishPending(c, req)
			}
			p.roundTrip()
			p.noProtoErr()
		})
	}
}

func TestMuxNotifications(t *testing.T) {
	p := newPeer(t, MuxOptions{}, true)
	sent := []wireMsg{
		{Method: "notifications/tools/list_changed"},
		{Method: "notifications/message", Params: json.RawMessage(`{"level":"info","data":"hi"}`)},
		{Method: "notifications/progress", Params: json.RawMessage(`{"progressToken":1,"progress":0.5}`)},
	}
	for _, n := range sent {
		line := `{"jsonrpc":"2.0","method":` + strconv.Quote(n.Method)
		if n.Params != nil {
			line += `,"params":` + string(n.Params)
		}
		p.send(line + "}")
	}
	for _, want := range sent {
		select {
		case got := <-p.notes:
			if got.Method != want.Method || !bytes.Equal(got.Params, want.Params) {
				t.Fatalf("notification %+v, want %+v", got, want)
			}
		case <-time.After(waitFor):
			t.Fatalf("notification %s not delivered", want.Method)
		}
	}
	p.noProtoErr()
}

func TestPeekID(t *testing.T) {
	tests := []struct {
		prefix string
		id     int64
		ok     bool
	}{
		{`{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"xxxx`, 42, true},
		{`{"id":7,"error":{"code":1,"mess`, 7, true},
		{`{"jsonrpc":"2.0","id":-3,"result":1}`, -3, true},
		{`{"jsonrpc":"2.0","id":42,"method":"sampling/createMessage","params":{`, 0, false},
		{`{"jsonrpc":"2.0","method":"x","id":42,"params":{`, 0, false},
		{`{"jsonrpc":"2.0","id":"42","result":{`, 0, false},
		{`{"jsonrpc":"2.0","id":4.5,"result":{`, 0, false},
		{`{"jsonrpc":"2.0","id":12`, 0, false}, // may have been cut short
		{`{"jsonrpc":"2.0","result":{"text":"xxx`, 0, false},
		{`[{"id":1}]`, 0, false},
		{`garbage`, 0, false},
		{``, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			id, ok := peekID([]byte(tt.prefix))
			if id != tt.id || ok != tt.ok {
				t.Fatalf("peekID = %d, %v; want %d, %v", id, ok, tt.id, tt.ok)
			}
		})
	}
}

// FuzzMuxDispatch feeds arbitrary input to a Mux with one call pending: it
// must not panic, must answer server requests with valid JSON, and must
// settle the pending call exactly once by the time the input ends.
func FuzzMuxDispatch(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`+"\n"), 64)
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}`+"\n"), 0)
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":"`+strings.Repeat("x", 100)+`"}`+"\n"), 40)
	f.Add([]byte(`{"jsonrpc":"2.0","id":"a","method":"ping"}`+"\n"+`{"jsonrpc":"2.0","id":2,"method":"roots/list"}`), 0)
	f.Add([]byte(`{"jsonrpc":"2.0","id":9,"method":"a\"b"}`+"\n"+`garbage`+"\n"+`{"method":"n","params":[1]}`), 0)
	f.Add([]byte(`{"id":{"x":1},"result":{}}`+"\n"+`{"id":null}`+"\n"), 16)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		if limit > 4096 || limit < 0 {
			limit = 0
		}
		_, _ = peekID(in)

		r, w := io.Pipe()
		out := &lockedBuffer{}
		m := NewMux(out, r, MuxOptions{
			MaxMessage:      limit,
			OnNotification:  func(string, json.RawMessage) {},
			OnProtocolError: func(error) {},
		})
		c := newCall(t)
		if _, err := m.Go("tools/call", nil, 0, c.cb); err != nil {
			t.Fatalf("Go: %v", err)
		}
		_, _ = w.Write(in)
		_ = w.Close()
		<-m.readDone
		_ = m.Close()
		if n := c.count.Load(); n != 1 {
			t.Fatalf("pending call settled %d times", n)
		}
		// Everything the Mux wrote is valid JSON, one message a line.
		for l := range bytes.SplitSeq(out.Bytes(), []byte{'\n'}) {
			if len(l) > 0 && !json.Valid(l) {
				t.Fatalf("Mux wrote invalid JSON %q", l)
			}
		}
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// TestMuxOnRequest: a request the handler takes is answered when it
// replies (from another goroutine, after other traffic), with a result or
// an error; one it leaves is declined as before.
func TestMuxOnRequest(t *testing.T) {
	type asked struct {
		params json.RawMessage
		reply  Reply
	}
	got := make(chan asked, 2)
	p := newPeer(t, MuxOptions{OnRequest: func(method string, params json.RawMessage, reply Reply) bool {
		if method != "elicitation/create" {
			return false
		}
		got <- asked{params, reply}
		return true
	}}, true)
	p.send(`{"jsonrpc":"2.0","id":"e1","method":"elicitation/create","params":{"message":"name?"}}`,
		`{"jsonrpc":"2.0","id":"e2","method":"elicitation/create","params":{"message":"again?"}}`,
		`{"jsonrpc":"2.0","id":9,"method":"sampling/createMessage"}`)
	if m := p.next(); string(m.ID) != "9" || m.Error == nil || m.Error.Code != -32601 {
		t.Fatalf("untaken request answered %+v", m)
	}
	first, second := <-got, <-got
	if string(first.params) != `{"message":"name?"}` {
		t.Fatalf("params %s", first.params)
	}
	go second.reply(nil, &RPCError{Code: -32000, Message: "no human"})
	if m := p.next(); string(m.ID) != `"e2"` || m.Error == nil || m.Error.Code != -32000 {
		t.Fatalf("error reply %+v", m)
	}
	go first.reply(json.RawMessage(`{"action":"accept","content":{"name":"Ada"}}`), nil)
	if m := p.next(); string(m.ID) != `"e1"` || string(m.Result) != `{"action":"accept","content":{"name":"Ada"}}` {
		t.Fatalf("result reply %+v", m)
	}
}

// FuzzParseMessage: ParseMessage agrees with
// json.Unmarshal on every message whose member names are exact.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`,
		`{"jsonrpc":"2.0","id":"a","method":"ping","params":{"x":[1,2]}}`,
		`{"id":1,"error":{"code":-32601,"message":"no","data":{"a":1}}}`,
		`{"id":1,"error":null,"result":null}`, `{"method":"a\"b\u00e9"}`, `{"method":5}`,
		`{"error":"x"}`, `{"error":{"code":"x"}}`, `{"jsonrpc":2}`, `{"jsonrpc":"2.\u0030","jsonrpc":null}`, `{"ID":1}`, `[{"id":1}]`, `{"id":1,}`, `{"method":"` + "\xff" + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var keys map[string]json.RawMessage
		if json.Unmarshal(data, &keys) == nil {
			for k := range keys {
				for _, name := range []string{"id", "method", "result", "params", "error"} {
					if k != name && strings.EqualFold(k, name) {
						return // encoding/json matches names case-insensitively
					}
				}
			}
		}
		var want, got envelope
		werr := json.Unmarshal(data, &want)
		gerr := ParseMessage(data, &got)
		if string(bytes.TrimSpace(data)) == "null" && gerr != nil {
			return // null is no message: refused, where json.Unmarshal leaves env empty
		}
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: json.Unmarshal %v, ParseMessage %v", data, werr, gerr)
		}
		if werr != nil {
			return
		}
		if string(bytes.TrimSpace(data)) == "null" {
			t.Fatalf("%q: ParseMessage accepts a message that is not an object", data)
		}
		if !bytes.Equal(want.ID, got.ID) || want.Method != got.Method || want.JSONRPC != got.JSONRPC || !bytes.Equal(want.Result, got.Result) ||
			!bytes.Equal(want.Params, got.Params) || (want.Error == nil) != (got.Error == nil) ||
			(want.Error != nil && (want.Error.Code != got.Error.Code || want.Error.Message != got.Error.Message)) {
			t.Fatalf("%q: json.Unmarshal %+v, ParseMessage %+v", data, want, got)
		}
	})
}
