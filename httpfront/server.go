// Package httpfront is Switchyard's HTTP front end: one fasthttp listener
// serving every surface (/api, /mcp, websockets, health and metrics). It
// turns requests into runtime calls and maps the typed replies and errors to
// each surface's response shape.
package httpfront

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/httpfront/agentgw"
	"github.com/switchyard-mcp/switchyard/httpfront/hangar"
	mcpfront "github.com/switchyard-mcp/switchyard/httpfront/mcp"
	"github.com/switchyard-mcp/switchyard/httpfront/route"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
	"github.com/switchyard-mcp/switchyard/httpfront/ws"
	"github.com/switchyard-mcp/switchyard/internal/connwatch"
	"github.com/switchyard-mcp/switchyard/internal/logx"
)

// ErrInsecure is returned when the server would listen open (no
// credentials configured) on a non-loopback address without --insecure.
var ErrInsecure = errors.New("refusing to serve without authentication on a non-loopback address (set SWITCHYARD_ADMIN_KEY or SWITCHYARD_JWT_SECRET, or pass --insecure)")

// Options configures the front end.
type Options struct {
	// Limits carries the body limit and the defaults of API-created providers.
	Limits config.Limits
	// AdminKey is the bootstrap admin API key ("" = none).
	AdminKey string
	// JWT verifies bearer JWTs (nil = none): an *auth.HS256, an *auth.JWKS,
	// or an auth.Chain routing each token by its alg.
	JWT auth.Verifier
	// MetricsRequireAuth closes /metrics to unauthenticated scrapers.
	MetricsRequireAuth bool
	// Insecure allows serving without credentials on any address.
	Insecure bool
	// Logger receives request errors and warnings.
	Logger *slog.Logger
	// WS configures the websocket endpoints.
	WS ws.Options
	// MCP configures the MCP endpoints.
	MCP mcpfront.Options
	// AllowedHosts are Host names served beyond the loopback ones
	// ("name" for any port, or "name:port"; config mcp.allowed_hosts). A
	// loopback listener serves only loopback names without them; another
	// listener serves any Host unless they are set.
	AllowedHosts []string
	// AllowedOrigins are browser origins ("scheme://host[:port]"; config
	// mcp.allowed_origins) accepted beyond the gateway's own.
	AllowedOrigins []string
	// ReadTimeout bounds how long a connection may take to send a
	// request (default 60s); one that sends nothing in time is closed
	// without an answer.
	ReadTimeout time.Duration
}

// Server is the front end over one runtime.
type Server struct {
	rt     *actors.Runtime
	opts   Options
	log    *slog.Logger
	api    *hangar.API
	gw     *agentgw.API
	mcp    *mcpfront.Front
	ws     *ws.Handler
	routes *route.Table
	srv    *fasthttp.Server
	open   bool
	active atomic.Int64

	guard *guard
	watch atomic.Pointer[connwatch.Watcher]
	// drainCtx parents the context of every backend-work request; the
	// drain deadline cancels it with cause actors.ErrShutdown.
	drainCtx    context.Context
	drainCancel context.CancelCauseFunc

	mu       sync.Mutex
	listener net.Listener
}

// New builds the front end and its route table. It does not listen yet.
func New(rt *actors.Runtime, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Limits.MaxBodyBytes <= 0 {
		opts.Limits.MaxBodyBytes = config.DefaultMaxBodyBytes
	}
	if opts.MCP.MaxBodyBytes <= 0 {
		opts.MCP.MaxBodyBytes = opts.Limits.MaxBodyBytes
	}
	// Scrapers and the Agent Gateway's clients expect # HELP and # TYPE
	// lines; the setting is process-wide and only ever turned on.
	metrics.ExposeMetadata(true)
	if opts.MCP.Version == "" {
		opts.MCP.Version = rt.Version()
	}
	if opts.Limits.MaxHeaderBytes <= 0 {
		opts.Limits.MaxHeaderBytes = config.DefaultMaxHeaderBytes
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 60 * time.Second
	}
	g := newGuard(opts.AllowedHosts, opts.AllowedOrigins)
	if opts.WS.CheckOrigin == nil {
		// The guard has checked the origin before routing; the upgrader
		// applies the same rule rather than one of its own.
		opts.WS.CheckOrigin = g.originAllowed
	}
	s := &Server{
		rt:   rt,
		opts: opts,
		log:  opts.Logger,
		api:  hangar.New(rt, opts.Limits),
		gw:   agentgw.New(rt, opts.Limits),
		mcp:  mcpfront.New(rt, opts.MCP),
		ws:   ws.New(rt, opts.WS),
		open: opts.AdminKey == "" && opts.JWT == nil,

		guard: g,
	}
	routes, err := route.New(s.ownRoutes(), s.api.Routes(), s.gw.Routes(), s.ws.Routes(), s.mcp.Routes())
	if err != nil {
		// The routes are the program's own: a bad one is a bug, found by
		// any test that builds a server.
		panic(fmt.Sprintf("httpfront: %v", err))
	}
	s.routes = routes
	s.drainCtx, s.drainCancel = context.WithCancelCause(context.Background())
	s.srv = &fasthttp.Server{
		Handler:                       s.handle,
		Name:                          "switchyard",
		MaxRequestBodySize:            int(opts.Limits.MaxBodyBytes),
		Concurrency:                   16384,
		ReadTimeout:                   opts.ReadTimeout,
		ReadBufferSize:                int(opts.Limits.MaxHeaderBytes),
		DisablePreParseMultipartForm:  true,
		IdleTimeout:                   120 * time.Second,
		NoDefaultServerHeader:         false,
		DisableHeaderNamesNormalizing: false,
		ErrorHandler:                  s.transportError,
		CloseOnShutdown:               true,
		Logger:                        newFasthttpLogger(s.log),
	}
	return s
}

// MCP returns the MCP front (the stdio command serves its aggregated server).
func (s *Server) MCP() *mcpfront.Front { return s.mcp }

// Routes returns a copy of the route table: every route of every surface,
// with its method, pattern and permission.
func (s *Server) Routes() []route.Route { return s.routes.Routes() }

// ownRoutes are the routes the front serves itself: the service document,
// health and metrics.
func (s *Server) ownRoutes() []route.Route {
	return []route.Route{
		{Method: http.MethodGet, Pattern: "/", Open: true, Handler: func(ctx *fasthttp.RequestCtx, _ route.Params) { s.root(ctx) }},
		{Method: http.MethodGet, Pattern: "/health", Open: true, Handler: func(ctx *fasthttp.RequestCtx, _ route.Params) { s.health(ctx) }},
		// Open for scrapers unless configured otherwise.
		{Method: http.MethodGet, Pattern: "/metrics", Permission: auth.SystemRead, Open: !s.opts.MetricsRequireAuth,
			Handler: func(ctx *fasthttp.RequestCtx, _ route.Params) { s.metrics(ctx) }},
	}
}

// Handler returns the request handler, for tests that serve it themselves.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Serve accepts connections on ln until Shutdown. It refuses to run open on
// a non-loopback address unless Insecure is set.
func (s *Server) Serve(ln net.Listener) error {
	if s.open && !s.opts.Insecure && !isLoopback(ln.Addr()) {
		return ErrInsecure
	}
	if s.open {
		s.log.Warn("no credentials configured: the API is open to anyone who can reach " + ln.Addr().String())
	}
	s.mu.Lock()
	s.listener = ln
	s.mu.Unlock()
	s.guard.listening(ln.Addr())
	if s.watch.Load() == nil {
		if w, err := connwatch.New(); err != nil {
			s.log.Warn("calls of clients that hang up run to their end", "err", err)
		} else if !s.watch.CompareAndSwap(nil, w) {
			_ = w.Close()
		}
	}
	return s.srv.Serve(ln)
}

// Shutdown stops accepting, closes websockets, and waits (bounded by ctx)
// for requests in flight to finish. Calls still running when ctx ends
// are cancelled with cause actors.ErrShutdown and answered 503 before
// their connections close; the error then says the drain was cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ws.Close()
	s.mcp.Drain()
	err := s.drain(ctx)
	if w := s.watch.Swap(nil); w != nil {
		if cerr := w.Close(); cerr != nil {
			s.log.Debug("connection watcher", "err", cerr)
		}
	}
	s.closeMCP()
	return err
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// fasthttpLogger writes fasthttp's messages to the front's logger, rate
// limited by format: they are per connection, and a flood of bad
// connections must not flood the log.
type fasthttpLogger struct{ l *slog.Logger }

// newFasthttpLogger returns a fasthttpLogger over a rate-limited l.
func newFasthttpLogger(l *slog.Logger) fasthttpLogger {
	return fasthttpLogger{slog.New(logx.RateLimit(l.Handler(), 0, 0))}
}

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...), "component", "http", logx.Key(format))
}

// transportError answers requests fasthttp rejects before the handler runs,
// most importantly bodies over the limit and headers over theirs. A
// connection that timed out or closed before a whole request arrived is
// closed without a word: an answer nobody asked for would be read as the
// reply to the next request sent on it.
func (s *Server) transportError(ctx *fasthttp.RequestCtx, err error) {
	if quietClose(err) {
		_ = ctx.Conn().Close()
		return
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		web.Error(ctx, web.Errorf(http.StatusRequestHeaderFieldsTooLarge, "RequestHeaderFieldsTooLarge",
			"request line and headers exceed the limit of %d bytes", s.opts.Limits.MaxHeaderBytes))
		ctx.SetConnectionClose()
		return
	}
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		web.Error(ctx, web.Errorf(http.StatusRequestEntityTooLarge, "PayloadTooLarge",
			"request body exceeds the limit of %d bytes", s.opts.Limits.MaxBodyBytes))
		ctx.SetConnectionClose()
		return
	}
	web.Error(ctx, web.Errorf(http.StatusBadRequest, "BadRequest", "cannot read request: %v", err))
	ctx.SetConnectionClose()
}

// quietClose reports the transport errors after which a connection is
// closed without an answer: it timed out, or its peer closed or reset it,
// before a whole request arrived.
func quietClose(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET)
}

var adminPrincipal = auth.Principal{ID: "admin", Roles: []string{auth.RoleAdmin}}

// authenticate finds the request's principal: the bootstrap key (Bearer,
// X-API-Key, or ?token= on websocket routes) or a bearer JWT. It returns nil
// when the credentials are missing or invalid.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, queryToken bool) *auth.Principal {
	key := ""
	if h := ctx.Request.Header.Peek("Authorization"); len(h) > 7 && strings.EqualFold(string(h[:7]), "bearer ") {
		key = strings.TrimSpace(string(h[7:]))
	} else if h := ctx.Request.Header.Peek("X-API-Key"); len(h) > 0 {
		key = string(h)
	} else if queryToken {
		key = string(ctx.QueryArgs().Peek("token"))
	}
	if key == "" {
		return nil
	}
	if s.opts.AdminKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.AdminKey)) == 1 {
		p := adminPrincipal
		return &p
	}
	if s.opts.JWT != nil && strings.Count(key, ".") == 2 {
		p, err := s.opts.JWT.Verify(key)
		if err == nil {
			return p
		}
		s.log.Debug("bearer JWT refused", "err", err)
	}
	return nil
}

// handle serves one request: the guards, then the route table's match (404
// and 405 answered there), then authentication and the matched route's
// permission, then the route's handler.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	s.active.Add(1)
	defer s.active.Add(-1)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panic", "path", string(ctx.Path()), "panic", r)
			web.Error(ctx, web.Errorf(http.StatusInternalServerError, "InternalError", "internal error"))
		}
	}()
	path := string(ctx.Path())
	if !s.admit(ctx, string(ctx.Method()), path) {
		return
	}
	m := s.routes.Lookup(ctx.Method(), path)
	r := m.Route
	if r == nil {
		m.Refuse(ctx)
		return
	}
	if r.Backend {
		c := s.backend(ctx)
		defer s.end(ctx, path, c)
	}
	if !s.open && !r.Open {
		p := s.authenticate(ctx, r.QueryToken)
		if p == nil {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="switchyard"`)
			web.Error(ctx, web.Errorf(http.StatusUnauthorized, "Unauthorized", "missing or invalid credentials"))
			return
		}
		if !p.Allows(r.Permission.Access()) {
			web.Error(ctx, web.Errorf(http.StatusForbidden, "Forbidden", "principal %q lacks the permission %s for %s %s", p.ID, r.Permission, ctx.Method(), ctx.Path()))
			return
		}
		// p.Tenant stays the credentials' own (empty for keys without
		// one): web.Tenant falls back to x-tenant-id, and /v1 refuses a
		// body naming another tenant only when it is set.
		ctx.SetUserValue(web.PrincipalKey, p)
	}
	r.Handler(ctx, m.Params)
}

// root answers GET / with the Agent Gateway's service document, listing
// every surface.
func (s *Server) root(ctx *fasthttp.RequestCtx) {
	web.JSON(ctx, http.StatusOK, map[string]any{
		"service":   "agent-gateway",
		"engine":    "go",
		"version":   s.rt.Version(),
		"protocols": []string{"MCP", "A2A"},
		"endpoints": map[string]string{
			"/v1/mcp/servers":         "MCP server registry",
			"/v1/mcp/tools":           "Tool discovery",
			"/v1/mcp/tools/call":      "Execute a tool",
			"/v1/a2a/agents":          "A2A agent registry",
			"/v1/a2a/send":            "Send A2A message",
			"/v1/sessions":            "Session management",
			"/v1/policies/:tenant_id": "Security policies",
			"/v1/hitl/pending":        "HITL approval queue",
			"/v1/elicit":              "Elicitation requests",
			"/api/providers":          "Provider control plane",
			"/api/groups":             "Provider groups",
			"/api/system":             "System summary",
			"/api/ws/events":          "Domain event stream (websocket)",
			"/mcp":                    "Aggregated MCP server (streamable HTTP)",
			"/mcp/{id}":               "One provider's MCP server",
			"/metrics":                "Prometheus metrics",
			"/health":                 "Health check",
		},
	})
}

// health answers GET /health on every surface.
func (s *Server) health(ctx *fasthttp.RequestCtx) {
	web.JSON(ctx, http.StatusOK, map[string]any{
		"status":      "ok",
		"service":     "agent-gateway",
		"engine":      "go",
		"version":     s.rt.Version(),
		"mcp_servers": len(s.rt.IDs()),
	})
}

// metrics answers GET /metrics. Its labels name every tenant's servers and
// tools, so when metrics.require_auth closes it, only a principal granted
// system:read (an admin) may scrape it; a tenant's developer or viewer
// gets 403.
func (s *Server) metrics(ctx *fasthttp.RequestCtx) {
	if s.opts.MetricsRequireAuth && !s.open {
		if p, _ := ctx.UserValue(web.PrincipalKey).(*auth.Principal); p == nil || !p.IsAdmin() {
			web.Error(ctx, web.Errorf(http.StatusForbidden, "Forbidden", "/metrics needs the system:read permission (an admin principal)"))
			return
		}
	}
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.SetStatusCode(http.StatusOK)
	w := ctx.Response.BodyWriter()
	s.rt.WriteMetrics(w)
	metrics.WriteProcessMetrics(w)
	writeGauge(w, "switchyard_http_requests_in_flight", float64(s.active.Load()))
	writeGauge(w, "switchyard_ws_connections", float64(s.ws.Active()))
}

func writeGauge(w io.Writer, name string, v float64) {
	_, _ = fmt.Fprintf(w, "# TYPE %s gauge\n%s %g\n", name, name, v)
}
