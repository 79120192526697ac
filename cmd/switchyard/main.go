// Command switchyard is an actor-model supervisor and gateway for MCP tool
// servers: `serve` runs the HTTP gateway, `stdio` serves the aggregated
// tools to one MCP client over stdin/stdout, and the remaining commands
// validate configuration or drive a running server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/httpfront"
	mcpfront "github.com/switchyard-mcp/switchyard/httpfront/mcp"
	"github.com/switchyard-mcp/switchyard/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `switchyard: a supervisor and gateway for MCP servers

Usage:
  switchyard serve [--config FILE] [--listen ADDR] [--data-dir DIR] [--insecure] [--drain-timeout D]
  switchyard stdio --config FILE
  switchyard config validate FILE
  switchyard version
  switchyard providers ls            [--server URL] [--token KEY]
  switchyard call PROVIDER TOOL k=v  [--server URL] [--token KEY]
  switchyard logs [-f] PROVIDER      [--server URL] [--token KEY]
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr)
	case "stdio":
		err = stdio(args[1:], stderr)
	case "version", "--version", "-v":
		_, _ = fmt.Fprintf(stdout, "switchyard %s\n", version)
	case "config":
		if len(args) < 3 || args[1] != "validate" {
			_, _ = fmt.Fprint(stderr, "usage: switchyard config validate FILE\n")
			return 2
		}
		return validate(args[2], stdout, stderr)
	case "providers", "call", "logs":
		err = client(args, stdout)
	case "help", "-h", "--help":
		_, _ = fmt.Fprint(stdout, usage)
	default:
		_, _ = fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	return 0
}

func validate(path string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(path)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, err)
		return 1
	}
	_, _ = fmt.Fprintf(stdout, "%s: ok (%d providers, %d groups)\n", path, len(cfg.Providers), len(cfg.Groups))
	return 0
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// loadConfig reads the config file, or returns an empty one.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		cfg, err := config.Parse("(none)", nil)
		if err != nil {
			return nil, err
		}
		return cfg, nil
	}
	return config.Load(path)
}

// startRuntime builds a runtime holding the config's providers. owner
// names the gateway across restarts (from its data dir; "" for stdio).
func startRuntime(cfg *config.Config, log *slog.Logger, owner string, st store.Store) (*actors.Runtime, error) {
	rt := actors.NewRuntime(actors.Options{Version: version, Logger: log, Owner: owner, Instance: randomID(),
		Gateway: actors.GatewayOptionsFromConfig(cfg.Gateway), Store: st})
	for _, id := range cfg.ProviderOrder {
		if err := rt.Create(actors.SpecFromConfig(cfg.Providers[id], cfg.Limits)); err != nil {
			_ = rt.Shutdown(context.Background())
			return nil, fmt.Errorf("provider %s: %w", id, err)
		}
	}
	for _, id := range cfg.GroupOrder {
		if err := rt.CreateFileGroup(actors.GroupSpecFromConfig(cfg.Groups[id])); err != nil {
			_ = rt.Shutdown(context.Background())
			return nil, fmt.Errorf("group %s: %w", id, err)
		}
	}
	return rt, nil
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "switchyard")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "switchyard")
	}
	return filepath.Join(home, ".local", "share", "switchyard")
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	listen := fs.String("listen", "", "listen address (default 127.0.0.1:8000, or the config's listen)")
	dataDir := fs.String("data-dir", defaultDataDir(), "state directory")
	insecure := fs.Bool("insecure", false, "allow serving without credentials on a non-loopback address")
	drain := fs.Duration("drain-timeout", 0, "how long shutdown waits for calls in flight (default 10s, or the config's drain_timeout_s)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(stderr, *logLevel)
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	addr := cfg.Listen
	if *listen != "" {
		addr = *listen
	}
	if addr == "" {
		addr = config.DefaultListen
	}
	drainTimeout := cfg.DrainTimeout()
	if *drain > 0 {
		drainTimeout = *drain
	}
	dd, err := openDataDir(*dataDir)
	if err != nil {
		return err
	}
	defer dd.close()

	st, err := store.OpenSQLite(context.Background(), filepath.Join(*dataDir, storeFile))
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	rt, err := startRuntime(cfg, log, dd.owner, st)
	if err != nil {
		return err
	}
	recCtx, recCancel := context.WithTimeout(context.Background(), 30*time.Second)
	restored, skipped, err := rt.Recover(recCtx, cfg.Limits, func(id string) bool { return cfg.Providers[id] != nil })
	var groups []string
	var groupsSkipped map[string]string
	if err == nil {
		groups, groupsSkipped, err = rt.RecoverGroups(recCtx, func(id string) bool { return cfg.Groups[id] != nil })
	}
	var policies []string
	if err == nil {
		policies, err = rt.RecoverPolicies(recCtx)
	}
	agentsBack := 0
	if err == nil {
		agentsBack, err = rt.RecoverAgents(recCtx)
	}
	recCancel()
	if err != nil {
		_ = rt.Shutdown(context.Background())
		return fmt.Errorf("recovering from %s: %w", st.Path(), err)
	}
	if len(restored) > 0 || len(skipped) > 0 {
		log.Info("providers restored from the store", "restored", len(restored), "file_wins", skipped)
	}
	if len(groups) > 0 || len(groupsSkipped) > 0 {
		log.Info("groups restored from the store", "restored", len(groups), "skipped", groupsSkipped)
	}
	if len(policies) > 0 || agentsBack > 0 {
		log.Info("tenant policies and agents restored from the store", "policies", policies, "agents", agentsBack)
	}
	leftCtx, leftCancel := context.WithTimeout(context.Background(), 10*time.Second)
	if removed, err := rt.RemoveLeftovers(leftCtx); err != nil {
		log.Debug("no container cleanup at start", "err", err)
	} else if len(removed) > 0 {
		log.Warn("removed containers left by an earlier run", "count", len(removed))
	}
	leftCancel()
	jwt, err := jwtVerifier(os.Getenv("SWITCHYARD_JWT_SECRET"), cfg.Auth.JWT)
	if err != nil {
		_ = rt.Shutdown(context.Background())
		return err
	}
	front := httpfront.New(rt, httpfront.Options{
		Limits:             cfg.Limits,
		AdminKey:           os.Getenv("SWITCHYARD_ADMIN_KEY"),
		JWT:                jwt,
		MetricsRequireAuth: cfg.Metrics.RequireAuth,
		Insecure:           *insecure,
		Logger:             log,
		MCP:                mcpfront.Options{Logger: log, HITLWait: seconds(cfg.Gateway.HITLWaitSeconds)},
		AllowedHosts:       cfg.MCP.AllowedHosts,
		AllowedOrigins:     cfg.MCP.AllowedOrigins,
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = rt.Shutdown(context.Background())
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("switchyard serving", "addr", ln.Addr().String(), "providers", len(cfg.Providers), "version", version)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	served := make(chan error, 1)
	go func() { served <- front.Serve(ln) }()

	var serveErr error
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String(), "drain_timeout", drainTimeout.String())
	case serveErr = <-served:
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := front.Shutdown(ctx); err != nil {
		log.Warn("drain incomplete", "err", err)
	}
	// Providers get their own bound: their stop grace, after the drain.
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := rt.Shutdown(stopCtx); err != nil {
		log.Warn("provider shutdown incomplete", "err", err)
	}
	log.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, net.ErrClosed) {
		return serveErr
	}
	return nil
}

// jwtVerifier builds the bearer JWT verifier from the HS256 secret and the
// config's JWKS block: a chain routing HS256 tokens to the secret and
// RS256/ES256 tokens to the key set, or nil when neither is configured. The
// key set is fetched on the first token, so an identity provider that is
// briefly down does not keep the gateway from starting.
func jwtVerifier(secret string, c config.JWT) (auth.Verifier, error) {
	var chain auth.Chain
	if secret != "" {
		hs, err := auth.NewHS256(secret)
		if err != nil {
			return nil, err
		}
		chain = append(chain, hs)
	}
	if c.JWKSURL != "" {
		j, err := auth.NewJWKS(auth.JWKSOptions{URL: c.JWKSURL, Issuer: c.Issuer, Audience: c.Audience})
		if err != nil {
			return nil, fmt.Errorf("auth.jwt: %w", err)
		}
		chain = append(chain, j)
	}
	if len(chain) == 0 {
		return nil, nil
	}
	return chain, nil
}

func stdio(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("stdio", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return errors.New("stdio needs --config FILE")
	}
	log := newLogger(stderr, *logLevel)
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	rt, err := startRuntime(cfg, log, "", nil)
	if err != nil {
		return err
	}
	front := mcpfront.New(rt, mcpfront.Options{Version: version, Logger: log, HITLWait: seconds(cfg.Gateway.HITLWaitSeconds)})
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	err = front.Server().Run(ctx, &sdk.StdioTransport{})
	front.Close()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if serr := rt.Shutdown(stopCtx); serr != nil {
		log.Warn("provider shutdown incomplete", "err", serr)
	}
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "EOF")) {
		return nil
	}
	return err
}

// seconds turns a config file's seconds into a duration (0 stays 0: the
// default of whatever takes it).
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
