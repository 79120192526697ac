package httpfront

import (
	"net"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
)

// benchCall drives one REST tool call through the front's handler: the
// handler decodes it, the provider actor dispatches it to the stdio
// multiplexer, the test server answers, and the reply comes back.
func benchCall(b *testing.B, h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, req *fasthttp.Request) {
	ctx.Init(req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	h(ctx)
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

func newCallRequest() *fasthttp.Request {
	req := &fasthttp.Request{}
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetRequestURI("/api/providers/p/tools/echo/call")
	req.Header.SetHost("127.0.0.1") // the loopback listener serves only loopback names
	req.SetBodyString(`{"arguments":{"text":"hello"}}`)
	return req
}

func BenchmarkRESTCallStdio(b *testing.B) {
	g := startGateway(b, Options{}, spec("p"))
	h := g.srv.Handler()
	req := newCallRequest()
	var ctx fasthttp.RequestCtx
	benchCall(b, h, &ctx, req) // start the provider outside the timing
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchCall(b, h, &ctx, req)
	}
}

// BenchmarkRESTCallStdio64 runs 64 concurrent callers against one stdio
// provider and reports calls per second.
func BenchmarkRESTCallStdio64(b *testing.B) {
	g := startGateway(b, Options{}, spec("p"))
	h := g.srv.Handler()
	var warm fasthttp.RequestCtx
	benchCall(b, h, &warm, newCallRequest())
	b.ReportAllocs()
	b.SetParallelism((64 + 1) / 2) // GOMAXPROCS(2) x 32 = 64 goroutines here
	var calls atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		req := newCallRequest()
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			benchCall(b, h, &ctx, req)
			calls.Add(1)
		}
	})
	b.ReportMetric(float64(calls.Load())/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkV1SessionOverhead alternates plain /v1 tool calls with the same
// call inside a session (allowlist, budget and counters kept by the session
// actor), one caller at a time, and reports each kind's p50 and calls/s and
// the session's share of the p50. Alternating keeps drift of the machine
// out of the comparison.
func BenchmarkV1SessionOverhead(b *testing.B) {
	g := startGateway(b, Options{}, spec("p"))
	h := g.srv.Handler()
	sess, err := g.rt.Agents().CreateSession(actors.SessionSpec{Tenant: "default", Allowlist: []string{"echo"}, TokenBudget: 1 << 50})
	if err != nil {
		b.Fatal(err)
	}
	mk := func(session string) *fasthttp.Request {
		req := &fasthttp.Request{}
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.SetRequestURI("/v1/mcp/tools/call")
		req.Header.SetHost("127.0.0.1")
		body := `{"server_id":"p","tool_name":"echo","arguments":{"text":"hello"}`
		if session != "" {
			body += `,"session_id":"` + session + `"`
		}
		req.SetBodyString(body + "}")
		return req
	}
	plain, inSession := mk(""), mk(sess.ID)
	var ctx fasthttp.RequestCtx
	benchCall(b, h, &ctx, plain) // start the provider outside the timing
	benchCall(b, h, &ctx, inSession)
	lat := [2][]time.Duration{make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i & 1
		req := plain
		if k == 1 {
			req = inSession
		}
		t0 := time.Now()
		benchCall(b, h, &ctx, req)
		lat[k] = append(lat[k], time.Since(t0))
	}
	b.StopTimer()
	if len(lat[1]) == 0 {
		return
	}
	p50 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds())
	}
	rate := func(d []time.Duration) float64 {
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		return float64(len(d)) / sum.Seconds()
	}
	cpsPlain, cpsSession := rate(lat[0]), rate(lat[1])
	pp, ps := p50(lat[0]), p50(lat[1])
	b.ReportMetric(pp, "p50-plain-µs")
	b.ReportMetric(ps, "p50-session-µs")
	b.ReportMetric(100*(ps-pp)/pp, "session-overhead-%")
	b.ReportMetric(cpsPlain, "plain-calls/s")
	b.ReportMetric(cpsSession, "session-calls/s")
}

// BenchmarkRelayIdleSession opens MCP sessions (a 2025-11-25 initialize
// and notifications/initialized) on /mcp/{id} and keeps them idle,
// reporting the heap each one holds: what an idle client of the relay
// costs the gateway. Sessions are opened in batches below the relay's
// limit and ended between batches.
func BenchmarkRelayIdleSession(b *testing.B) {
	g := startGateway(b, Options{}, spec("p"))
	h := g.srv.Handler()
	peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	send := func(ctx *fasthttp.RequestCtx, method, body, sid string) {
		req := &fasthttp.Request{}
		req.Header.SetMethod(method)
		req.Header.SetContentType("application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.SetHost("127.0.0.1")
		req.SetRequestURI("/mcp/p")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		}
		req.SetBodyString(body)
		ctx.Init(req, peer, nil)
		h(ctx)
	}
	var ctx fasthttp.RequestCtx
	open := func() string {
		send(&ctx, "POST", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",`+
			`"capabilities":{"sampling":{}},"clientInfo":{"name":"idle","version":"1"}}}`, "")
		sid := string(ctx.Response.Header.Peek("Mcp-Session-Id"))
		if ctx.Response.StatusCode() != 200 || sid == "" {
			b.Fatalf("initialize: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		send(&ctx, "POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, sid)
		return sid
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	const batch = 5000
	send(&ctx, "DELETE", "", open()) // the provider starts outside the measurement
	sids := make([]string, 0, batch)
	perSession := 0.0
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		b.StopTimer()
		before := heap()
		b.StartTimer()
		for range n {
			sids = append(sids, open())
		}
		b.StopTimer()
		if after := heap(); done == 0 && after > before {
			perSession = float64(after-before) / float64(n)
		}
		for _, sid := range sids {
			send(&ctx, "DELETE", "", sid)
		}
		sids = sids[:0]
		done += n
		b.StartTimer()
	}
	b.ReportMetric(perSession, "heap-B/session")
}
