package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/internal/jsonx"
)

// The fast backend (--fast ADDR) is a minimal MCP server over HTTP for the
// routing benchmark: its own cost per call is so small that what a
// benchmark through the gateway measures is the gateway. It answers POSTs
// at /mcp (and /) with one application/json JSON-RPC message each, keeps
// no sessions and offers one tool, echo, shaped as the SDK server's:
//
//	initialize        the client's revision when it is one of fastVersions,
//	                  else the newest; capabilities {"tools":{}}
//	ping              {}
//	tools/list        echo
//	tools/call        echo: {"content":[{"type":"text","text":TEXT}]}
//	notifications/*   HTTP 202, no body (any message without an id, and
//	                  any response a client posts, is accepted so)
//	anything else     JSON-RPC error -32601 (server/discover included, so
//	                  a client falls back to initialize)
//
// Malformed JSON is answered with -32700 and HTTP 400, a message that is
// not a JSON-RPC request with -32600 and HTTP 400, a body over
// fastMaxBody with HTTP 413 (before it is sent, when the client asks with
// "Expect: 100-continue"; else the connection closes after the answer,
// with the body unread). Requests are parsed with one pass of
// jsonx.Members; the id and the echoed text are copied back as written.

// fastMaxBody bounds the body of a request.
const fastMaxBody = 1 << 20

// fastIdleWorker is how long an idle fasthttp worker goroutine is kept.
const fastIdleWorker = 100 * time.Millisecond

// fastVersions are the revisions initialize agrees to, newest first.
var fastVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26"}

// JSON-RPC error codes the fast backend answers with.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
)

// fastToolsList is the tools/list result: echo, as the SDK server lists it.
const fastToolsList = `{"tools":[{"name":"echo","description":"Returns its text argument.",` +
	`"inputSchema":{"type":"object","properties":{"text":{"type":"string","description":"the text to return"}},` +
	`"required":["text"],"additionalProperties":false}}]}`

// fastServer answers the requests of the fast backend.
type fastServer struct {
	// serverInfo is the `"serverInfo":{...}` member of the initialize
	// result.
	serverInfo []byte
}

// newFastServer returns a fast backend named name.
func newFastServer(name string) *fastServer {
	b := []byte(`"serverInfo":{"name":`)
	b = jsonx.AppendString(b, name)
	b = append(b, `,"version":`...)
	b = jsonx.AppendString(b, version)
	return &fastServer{serverInfo: append(b, '}')}
}

// runFastMode serves the fast backend at addr until ctx is done.
func runFastMode(ctx context.Context, addr, name string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testserver: --fast: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr().String())
	if err := serveFast(ctx, newFastServer(name), ln); err != nil {
		fmt.Fprintf(os.Stderr, "testserver: --fast: %v\n", err)
		return 1
	}
	return 0
}

// serveFast serves fs on ln until ctx is done, then shuts the server down
// (waiting up to shutdownTimeout for requests in progress) and waits for
// Serve to return. ln is closed either way.
func serveFast(ctx context.Context, fs *fastServer, ln net.Listener) error {
	s := &fasthttp.Server{
		Handler:            fs.handle,
		ErrorHandler:       fastRequestError,
		ExpectHandler:      fastExpect,
		MaxRequestBodySize: fastMaxBody,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        time.Minute,
		// The worker pool's cleaner goroutine sleeps this long between
		// rounds, so it also bounds how long that goroutine outlives a
		// shutdown. Workers only go idle when their connection closes.
		MaxIdleWorkerDuration: fastIdleWorker,
		// No Date header: it would start fasthttp's process-wide clock
		// goroutine, which never ends.
		NoDefaultDate:         true,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()

	select {
	case err := <-errc:
		_ = ln.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Shutdown closes the listener and the idle keep-alive connections and
	// waits for the busy ones; on timeout the rest end with the process.
	shutErr := s.ShutdownWithContext(shutCtx)
	if err := <-errc; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if shutErr != nil && !errors.Is(shutErr, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", shutErr)
	}
	return nil
}

// fastRequestError answers a request fasthttp could not read: 413 for a
// body over fastMaxBody, 400 otherwise.
func fastRequestError(ctx *fasthttp.RequestCtx, err error) {
	status, msg := fasthttp.StatusBadRequest, "unreadable HTTP request"
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		status, msg = fasthttp.StatusRequestEntityTooLarge, "request body exceeds 1 MiB"
	}
	fastError(ctx, status, nil, codeInvalidRequest, msg)
}

// fastExpect answers "Expect: 100-continue": a body announced over
// fastMaxBody is refused with 413 before the client sends it.
func fastExpect(ctx *fasthttp.RequestCtx) int {
	if ctx.Request.Header.ContentLength() > fastMaxBody {
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}

// fastRequest is the part of a JSON-RPC message the fast backend reads;
// the slices alias the request body.
type fastRequest struct {
	id, method, params []byte
	isResponse         bool // it has a result or an error member
}

// handle answers one HTTP request.
func (fs *fastServer) handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/mcp", "/":
	default:
		fastPlain(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	if !ctx.IsPost() {
		// No event streams and no sessions: GET and DELETE are refused
		// as the transport specifies.
		ctx.Response.Header.Set("Allow", fasthttp.MethodPost)
		fastPlain(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}

	body := ctx.PostBody()
	var req fastRequest
	err := jsonx.Members(body, func(key, value []byte) bool {
		switch string(key) {
		case "id":
			req.id = value
		case "method":
			req.method = value
		case "params":
			req.params = value
		case "result", "error":
			req.isResponse = true
		}
		return true
	})
	if err != nil {
		if jsonx.Valid(body) {
			fastError(ctx, fasthttp.StatusBadRequest, nil, codeInvalidRequest, "not a JSON-RPC message object (batches are not supported)")
		} else {
			fastError(ctx, fasthttp.StatusBadRequest, nil, codeParseError, "parse error: "+err.Error())
		}
		return
	}
	if req.method == nil {
		if req.isResponse && req.id != nil {
			ctx.SetStatusCode(fasthttp.StatusAccepted) // a client's answer: nothing asked it
			return
		}
		fastError(ctx, fasthttp.StatusBadRequest, validID(req.id), codeInvalidRequest, "message without a method")
		return
	}
	method, ok := jsonString(req.method)
	if !ok {
		fastError(ctx, fasthttp.StatusBadRequest, validID(req.id), codeInvalidRequest, "method is not a string")
		return
	}
	if req.id == nil {
		ctx.SetStatusCode(fasthttp.StatusAccepted) // a notification
		return
	}
	if validID(req.id) == nil {
		fastError(ctx, fasthttp.StatusBadRequest, nil, codeInvalidRequest, "id is neither a string nor a number")
		return
	}

	switch string(method) {
	case "initialize":
		fs.initialize(ctx, req)
	case "ping":
		fastResult(ctx, req.id, "{}")
	case "tools/list":
		fastResult(ctx, req.id, fastToolsList)
	case "tools/call":
		callEcho(ctx, req)
	default:
		fastError(ctx, fasthttp.StatusOK, req.id, codeMethodNotFound, "method not found: "+string(method))
	}
}

// initialize answers the initialize request: the client's revision when it
// is one the server speaks, else the newest.
func (fs *fastServer) initialize(ctx *fasthttp.RequestCtx, req fastRequest) {
	agreed := fastVersions[0]
	if len(req.params) > 0 {
		_ = jsonx.Members(req.params, func(key, value []byte) bool {
			if string(key) != "protocolVersion" {
				return true
			}
			if v, ok := jsonString(value); ok {
				for _, known := range fastVersions {
					if string(v) == known {
						agreed = known
					}
				}
			}
			return false
		})
	}
	startFastResult(ctx, req.id)
	ctx.Response.AppendBodyString(`{"protocolVersion":"`)
	ctx.Response.AppendBodyString(agreed)
	ctx.Response.AppendBodyString(`","capabilities":{"tools":{}},`)
	ctx.Response.AppendBody(fs.serverInfo)
	ctx.Response.AppendBodyString("}}")
}

// callEcho answers tools/call: echo returns its text argument as written.
func callEcho(ctx *fasthttp.RequestCtx, req fastRequest) {
	var name, args []byte
	if len(req.params) > 0 {
		if err := jsonx.Members(req.params, func(key, value []byte) bool {
			switch string(key) {
			case "name":
				name = value
			case "arguments":
				args = value
			}
			return true
		}); err != nil {
			fastError(ctx, fasthttp.StatusOK, req.id, codeInvalidParams, "params is not an object")
			return
		}
	}
	tool, ok := jsonString(name)
	if !ok {
		fastError(ctx, fasthttp.StatusOK, req.id, codeInvalidParams, "params.name is not a string")
		return
	}
	if string(tool) != "echo" {
		fastError(ctx, fasthttp.StatusOK, req.id, codeInvalidParams, "unknown tool "+string(tool))
		return
	}
	var text []byte
	if len(args) > 0 {
		if err := jsonx.Members(args, func(key, value []byte) bool {
			if string(key) == "text" {
				text = value
				return false
			}
			return true
		}); err != nil {
			fastError(ctx, fasthttp.StatusOK, req.id, codeInvalidParams, "arguments is not an object")
			return
		}
	}
	if len(text) == 0 || text[0] != '"' {
		fastError(ctx, fasthttp.StatusOK, req.id, codeInvalidParams, "arguments.text must be a string")
		return
	}
	if !utf8.Valid(text) {
		// Write invalid UTF-8 as U+FFFD, as an encoder would.
		s, _ := jsonString(text)
		text = jsonx.AppendString(nil, string(s))
	}
	startFastResult(ctx, req.id)
	ctx.Response.AppendBodyString(`{"content":[{"type":"text","text":`)
	ctx.Response.AppendBody(text) // a valid JSON string literal: Members checked it
	ctx.Response.AppendBodyString("}]}}")
}

// startFastResult starts a 200 answer to id, up to the result's value.
func startFastResult(ctx *fasthttp.RequestCtx, id []byte) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.AppendBodyString(`{"jsonrpc":"2.0","id":`)
	ctx.Response.AppendBody(id)
	ctx.Response.AppendBodyString(`,"result":`)
}

// fastResult answers id with the JSON value result.
func fastResult(ctx *fasthttp.RequestCtx, id []byte, result string) {
	startFastResult(ctx, id)
	ctx.Response.AppendBodyString(result)
	ctx.Response.AppendBodyString("}")
}

// fastError answers with a JSON-RPC error and the HTTP status status;
// a nil id is written as null.
func fastError(ctx *fasthttp.RequestCtx, status int, id []byte, code int, msg string) {
	if id == nil {
		id = []byte("null")
	}
	b := make([]byte, 0, 64+len(id)+len(msg))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = fmt.Appendf(b, `,"error":{"code":%d,"message":`, code)
	b = jsonx.AppendString(b, msg)
	b = append(b, "}}"...)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// fastPlain answers with the HTTP status status and a text body. Unlike
// RequestCtx.Error it keeps the response's header settings (Response.Reset
// would turn the Date header, and with it fasthttp's clock goroutine, back
// on).
func fastPlain(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg)
}

// validID returns id when it is a JSON string or number, else nil.
func validID(id []byte) []byte {
	if len(id) == 0 {
		return nil
	}
	if c := id[0]; c == '"' || c == '-' || (c >= '0' && c <= '9') {
		return id
	}
	return nil
}

// jsonString returns the value of the JSON string literal raw (already
// known to be valid JSON), without allocating when it holds no escapes.
func jsonString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}
