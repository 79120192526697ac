// Command testserver is an MCP server used by Switchyard's own tests.
//
// It speaks MCP over stdio by default, or streamable HTTP with --http.
// With --fast ADDR it is instead a minimal, session-less MCP server over
// HTTP offering only echo (see fast.go), the routing benchmark's backend.
// With --a2a ADDR it is instead an A2A agent (see a2a.go) that announces
// itself on stdout as "A2A_LISTENING http://HOST:PORT".
// Its tools exercise the behaviours a gateway must survive: slow calls,
// crashes, oversized and malformed output, stderr chatter and tool-list
// changes. The environment variable SY_TESTSERVER_MODE selects a
// misbehaving start-up:
//
//	garbage        write non-JSON lines to stdout forever
//	exit           exit with status 3 at once
//	slowstart=MS   sleep MS milliseconds before serving
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// modeEnv names the environment variable that selects a start-up mode.
const modeEnv = "SY_TESTSERVER_MODE"

func main() {
	os.Exit(run())
}

func run() int {
	httpAddr := flag.String("http", "", "serve streamable HTTP at /mcp on this address instead of stdio")
	stateless := flag.Bool("stateless", false, "make the HTTP handler stateless")
	name := flag.String("name", "testserver", "server implementation name")
	fastAddr := flag.String("fast", "", "serve a minimal MCP server over HTTP (plain JSON, no sessions, only the echo tool) at /mcp on this address instead of stdio")
	a2aAddr := flag.String("a2a", "", "serve an A2A agent (JSON-RPC over HTTP) on this address instead of MCP; it stops on SIGTERM, SIGINT or when a piped stdin closes")
	a2aID := flag.String("a2a-id", "test-agent", "the A2A agent's id")
	a2aProtocol := flag.String("a2a-protocol", "0.3", "the A2A protocol version the agent speaks: 0.3 or 1.0")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if code, done := startMode(ctx, os.Getenv(modeEnv)); done {
		return code
	}
	if *a2aAddr != "" {
		return runA2AMode(ctx, *a2aAddr, *a2aID, *a2aProtocol)
	}
	if *fastAddr != "" {
		return runFastMode(ctx, *fastAddr, *name)
	}

	srv := newServer(*name)
	var err error
	if *httpAddr != "" {
		var ln net.Listener
		ln, err = net.Listen("tcp", *httpAddr)
		if err == nil {
			fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr().String())
			err = serveHTTP(ctx, srv, ln, *stateless)
		}
	} else {
		err = srv.Run(ctx, &mcp.StdioTransport{})
	}
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
		return 1
	}
	return 0
}

// startMode applies the SY_TESTSERVER_MODE start-up mode. It reports the
// exit code and true when the process must stop without serving.
func startMode(ctx context.Context, mode string) (int, bool) {
	switch {
	case mode == "":
		return 0, false
	case mode == "exit":
		return 3, true
	case mode == "garbage":
		writeGarbage(ctx)
		return 0, true
	case strings.HasPrefix(mode, "slowstart="):
		ms, err := strconv.Atoi(strings.TrimPrefix(mode, "slowstart="))
		if err != nil || ms < 0 {
			fmt.Fprintf(os.Stderr, "testserver: bad %s %q\n", modeEnv, mode)
			return 2, true
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return 0, false
		case <-ctx.Done():
			return 0, true
		}
	default:
		fmt.Fprintf(os.Stderr, "testserver: unknown %s %q\n", modeEnv, mode)
		return 2, true
	}
}

// writeGarbage writes non-JSON lines to stdout until ctx is done or stdout
// fails.
func writeGarbage(ctx context.Context) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(os.Stdout, "garbage line %d: this is not JSON\n", i); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// serveHTTP serves srv over streamable HTTP at /mcp on ln until ctx is
// done.
func serveHTTP(ctx context.Context, srv *mcp.Server, ln net.Listener, stateless bool) error {
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: stateless})
	mux := http.NewServeMux()
	mux.Handle("/mcp", handler)
	return serveUntil(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln)
}

// shutdownTimeout bounds the graceful end of an HTTP server.
const shutdownTimeout = 2 * time.Second

// serveUntil serves hs on ln until ctx is done, then shuts it down (closing
// it after shutdownTimeout) and waits for Serve to return.
func serveUntil(ctx context.Context, hs *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		_ = hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
