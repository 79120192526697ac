// Command confserver is a reference MCP server implementing every fixture
// expected by the server scenarios of the official MCP conformance suite
// (@modelcontextprotocol/conformance 0.1.16): tools, resources, resource
// templates, subscriptions, prompts, completion, logging and ping.
//
// By default it serves MCP over stdio. With --http ADDR it serves the
// streamable HTTP transport at path /mcp on ADDR and prints
// "listening on HOST:PORT" to stderr once the listener is open.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const implementationName = "confserver"

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "confserver: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	httpAddr                   string
	stateless                  bool
	jsonResponse               bool
	disableLocalhostProtection bool
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("confserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts options
	fs.StringVar(&opts.httpAddr, "http", "", "serve streamable HTTP at `ADDR` (path /mcp) instead of stdio")
	fs.BoolVar(&opts.stateless, "stateless", false, "with --http: use a stateless handler (no sessions, no server->client requests)")
	fs.BoolVar(&opts.jsonResponse, "json-response", false, "with --http: answer POSTs with application/json instead of text/event-stream")
	fs.BoolVar(&opts.disableLocalhostProtection, "disable-localhost-protection", false,
		"with --http: accept non-localhost Host/Origin headers on a loopback listener (disables DNS rebinding protection)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *showVersion {
		fmt.Fprintln(os.Stdout, implementationName, version)
		return nil
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if opts.httpAddr == "" {
		srv := newServer()
		// Run returns when stdin reaches EOF or ctx is cancelled.
		err := srv.Run(ctx, &mcp.StdioTransport{})
		if err != nil && ctx.Err() != nil {
			return nil
		}
		return err
	}
	return serveHTTP(ctx, opts, stderr)
}

// serveHTTP serves the streamable HTTP transport until ctx is cancelled.
func serveHTTP(ctx context.Context, opts options, stderr io.Writer) error {
	ln, err := net.Listen("tcp", opts.httpAddr)
	if err != nil {
		return err
	}
	handler, mcpSrv := newHTTPHandler(opts)
	httpSrv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(stderr, "listening on %s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Closing the sessions ends their long-lived SSE streams, which would
	// otherwise never become idle; the graceful phase is bounded anyway.
	for ss := range mcpSrv.Sessions() {
		_ = ss.Close()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		_ = httpSrv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHTTPHandler returns the HTTP handler tree (the MCP streamable handler at
// /mcp, wrapped in an Origin check for loopback listeners) and the MCP server
// behind it.
func newHTTPHandler(opts options) (http.Handler, *mcp.Server) {
	// A single Server instance is shared by all sessions so that resource
	// subscriptions and ResourceUpdated notifications span sessions.
	srv := newServer()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Stateless:    opts.stateless,
		JSONResponse: opts.jsonResponse,
		// The event store enables priming events, Last-Event-ID resumption and
		// the server-initiated stream close used by test_reconnection.
		EventStore: mcp.NewMemoryEventStore(nil),
		// The SDK rejects requests that arrive on a loopback address with a
		// non-loopback Host header (403), which is what the
		// dns-rebinding-protection scenario checks.
		DisableLocalhostProtection: opts.disableLocalhostProtection,
	})
	mux := http.NewServeMux()
	var mcpHandler http.Handler = h
	if !opts.disableLocalhostProtection {
		mcpHandler = originGuard(h)
	}
	mux.Handle("/mcp", mcpHandler)
	return mux, srv
}

// originGuard complements the SDK's Host check: when a request arrives on a
// loopback address and carries an Origin header, that origin must be a
// loopback origin too (http(s)://localhost, 127.0.0.1 or [::1], any port).
func originGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && onLoopback(r) && !loopbackOrigin(origin) {
			http.Error(w, fmt.Sprintf("Forbidden: invalid Origin header %q", origin), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func onLoopback(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || addr == nil {
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
