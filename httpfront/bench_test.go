package httpfront

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
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
	req.SetRequestURI("/api/providers/p/tools/echo/call")
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
