package httpfront

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
	"github.com/switchyard-mcp/switchyard/internal/connwatch"
)

// Browser and network safety. Every request passes admit before it is
// routed, in open mode or not, on every surface:
//
//   - Host: a loopback listener answers only loopback names (localhost,
//     127.0.0.0/8, [::1], without a port or with the listener's), plus
//     the configured allowed hosts; a page reaching it through DNS
//     rebinding names its own host and is refused (403).
//   - Origin: a state-changing request (any method but GET, HEAD and
//     OPTIONS), and every request to /mcp or a websocket, must come from
//     no browser (no Origin header), the gateway's own origin (the scheme,
//     host and port of the request's Host) or a configured origin, and
//     must not be marked Sec-Fetch-Site: cross-site (403). This is what
//     keeps any web page the user opens off an open loopback gateway.
//   - Content-Type: a request with a body on a JSON surface (/api, /v1,
//     /mcp) must say application/json, which a browser cannot send
//     cross-site without a CORS preflight (415).

// guard holds the listener's host and origin rules.
type guard struct {
	hosts   []hostRule
	origins map[string]bool // normalised by originKey
	ln      atomic.Pointer[listenerInfo]
}

// hostRule is one allowed Host: a lower-case name and a port ("" = any).
type hostRule struct{ name, port string }

// listenerInfo is what the guard knows of the listener serving.
type listenerInfo struct {
	loopback bool
	port     string
}

func newGuard(hosts, origins []string) *guard {
	g := &guard{origins: make(map[string]bool, len(origins))}
	for _, h := range hosts {
		if name, port, ok := splitHost(h); ok && name != "" {
			g.hosts = append(g.hosts, hostRule{name: strings.ToLower(name), port: port})
		}
	}
	for _, o := range origins {
		if scheme, host, port, ok := parseOrigin(o); ok {
			g.origins[originKey(scheme, host, port)] = true
		}
	}
	return g
}

// listening records the listener's address: whether it is loopback, and
// its port.
func (g *guard) listening(a net.Addr) {
	info := &listenerInfo{}
	if tcp, ok := a.(*net.TCPAddr); ok {
		info.loopback = tcp.IP.IsLoopback()
		info.port = fmt.Sprint(tcp.Port)
	}
	g.ln.Store(info)
}

// hostAllowed applies the Host rule.
func (g *guard) hostAllowed(host []byte) bool {
	info := g.ln.Load()
	if len(g.hosts) == 0 && (info == nil || !info.loopback) {
		return true
	}
	name, port, ok := splitHost(string(host))
	if !ok {
		return false
	}
	for _, r := range g.hosts {
		if strings.EqualFold(r.name, name) && (r.port == "" || r.port == port) {
			return true
		}
	}
	if !loopbackName(name) {
		return false
	}
	return port == "" || info == nil || port == info.port
}

// originAllowed applies the Origin rule (whether the request needs it is
// checkedOrigin's decision). It is also the websocket upgrader's origin
// check.
func (g *guard) originAllowed(ctx *fasthttp.RequestCtx) bool {
	if bytes.EqualFold(ctx.Request.Header.Peek("Sec-Fetch-Site"), []byte("cross-site")) {
		return false
	}
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 {
		return true
	}
	scheme, host, port, ok := parseOrigin(string(origin))
	if !ok {
		return false // "null" (sandboxed or privacy-stripped) among others
	}
	own := "http"
	if ctx.IsTLS() {
		own = "https"
	}
	if scheme == own {
		if name, hport, ok := splitHost(string(ctx.Host())); ok {
			if hport == "" {
				hport = defaultPort(own)
			}
			if strings.EqualFold(name, host) && hport == port {
				return true
			}
		}
	}
	return len(g.origins) > 0 && g.origins[originKey(scheme, host, port)]
}

// checkedOrigin reports whether a request must pass the Origin rule:
// state-changing methods everywhere, and every method on /mcp and the
// jsonBody reports whether a request's body, if any, is declared JSON. A
// state-changing request declaring another type is refused even with an
// empty body: it is what an HTML form without fields sends.
func jsonBody(ctx *fasthttp.RequestCtx, method string) bool {
	ct := ctx.Request.Header.ContentType()
	if len(ctx.PostBody()) == 0 {
		switch {
		case len(ct) == 0, method == http.MethodGet, method == http.MethodHead, method == http.MethodOptions:
			return true
		}
	}
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(ct), []byte("application/json"))
}

// call is the state of one backend-work request: its context, and its
// registration with the connection watcher, which begins watching once
// the call has run for connwatch.Delay (most calls end sooner and cost no
// system call).
type call struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	watch  *connwatch.Watcher
	later  *connwatch.Deferred
}

// admit runs the listener's checks on a request before it is routed: its
// Host, its Origin (a foreign one, or Sec-Fetch-Site: cross-site, is
// refused on every route and method) and, for a body, a JSON content type.
// It answers a refused request itself and returns false.
func (s *Server) admit(ctx *fasthttp.RequestCtx, method, path string) bool {
	if !s.guard.hostAllowed(ctx.Host()) {
		refuse(ctx, path, http.StatusForbidden, "ForbiddenHost", "forbidden_host",
			fmt.Sprintf("host %q is not served here (see mcp.allowed_hosts)", ctx.Host()))
		return false
	}
	if !s.guard.originAllowed(ctx) {
		msg := fmt.Sprintf("origin %q is not allowed (see mcp.allowed_origins)", ctx.Request.Header.Peek("Origin"))
		if len(ctx.Request.Header.Peek("Origin")) == 0 {
			msg = "cross-site requests are not allowed"
		}
		refuse(ctx, path, http.StatusForbidden, "ForbiddenOrigin", "forbidden_origin", msg)
		return false
	}
	if !jsonBody(ctx, method) {
		refuse(ctx, path, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "unsupported_media_type",
			fmt.Sprintf("Content-Type must be application/json (got %q)", ctx.Request.Header.ContentType()))
		return false
	}
	return true
}

// backend gives a request whose route waits on a backend (route.Backend)
// a context that the drain deadline and a client hang-up cancel.
func (s *Server) backend(ctx *fasthttp.RequestCtx) *call {
	c := &call{watch: s.watch.Load()}
	c.ctx, c.cancel = context.WithCancelCause(s.drainCtx)
	ctx.SetUserValue(web.ContextKey, c.ctx)
	ctx.SetUserValue(web.CancelKey, c.cancel)
	c.later = c.watch.Later(ctx.Conn(), c.cancel)
	return c
}

// end closes a backend-work request. A call cut by the drain deadline
// whose handler answered with an error (its cancellation, or a failure
// it caused) is answered 503 instead, and its connection closed.
func (s *Server) end(ctx *fasthttp.RequestCtx, path string, c *call) {
	c.watch.Release(c.later)
	if st := ctx.Response.StatusCode(); (st == 499 || st >= 500) && errors.Is(context.Cause(c.ctx), actors.ErrShutdown) {
		ctx.Response.Reset()
		refuse(ctx, path, http.StatusServiceUnavailable, "ProviderUnavailableError", "shutting_down",
			"the gateway is shutting down: the call was cancelled at the end of the drain")
		ctx.SetConnectionClose()
	}
	c.cancel(nil)
}

// refuse answers in the surface's error shape: /v1's {"error": code,
// "message"}, else the /api body {"error": kind, "message", "status_code"}.
func refuse(ctx *fasthttp.RequestCtx, path string, status int, kind, code, msg string) {
	if path == "/v1" || strings.HasPrefix(path, "/v1/") {
		web.RetryAfter(ctx, status, nil)
		web.JSON(ctx, status, map[string]any{"error": code, "message": msg})
		return
	}
	web.Error(ctx, web.Errorf(status, kind, "%s", msg))
}

// splitHost splits a Host value or origin authority into its name (IPv6
// without brackets) and port ("" when absent). ok is false for a value
// that is neither "name", "name:port", "[v6]" nor "[v6]:port".
func splitHost(h string) (name, port string, ok bool) {
	if strings.HasPrefix(h, "[") {
		i := strings.IndexByte(h, ']')
		if i < 0 {
			return "", "", false
		}
		name, rest := h[1:i], h[i+1:]
		switch {
		case rest == "":
			return name, "", true
		case rest[0] == ':' && validPort(rest[1:]):
			return name, rest[1:], true
		}
		return "", "", false
	}
	i := strings.LastIndexByte(h, ':')
	if i < 0 {
		return h, "", true
	}
	if strings.IndexByte(h, ':') != i || !validPort(h[i+1:]) {
		return "", "", false
	}
	return h[:i], h[i+1:], true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// loopbackName reports localhost, an address in 127.0.0.0/8, or ::1.
func loopbackName(name string) bool {
	if strings.EqualFold(name, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(name)
	if err != nil || a.Zone() != "" {
		return false
	}
	return (a.Is4() && a.IsLoopback()) || a == netip.IPv6Loopback()
}

// parseOrigin splits a serialised origin ("scheme://host[:port]") into its
// lower-case scheme and host and its port, the scheme's default when
// absent. Only http and https origins parse.
func parseOrigin(o string) (scheme, host, port string, ok bool) {
	scheme, rest, found := strings.Cut(o, "://")
	if !found {
		return "", "", "", false
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", "", false
	}
	host, port, ok = splitHost(rest)
	if !ok || host == "" || strings.ContainsAny(host, "/?#@ ") {
		return "", "", "", false
	}
	if port == "" {
		port = defaultPort(scheme)
	}
	return scheme, strings.ToLower(host), port, true
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

func originKey(scheme, host, port string) string { return scheme + "://" + host + "|" + port }
