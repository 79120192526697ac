// Package config loads, validates and exports the Switchyard configuration
// file.
//
// The file is YAML. Parsing is strict: unknown keys, wrong types, missing
// required fields, invalid values and duplicate keys are all reported, each
// with the file, line, column and field path where it occurs. Defaults are
// applied only after the whole file validated.
//
// Durations are written in seconds as YAML numbers and may be fractional
// (for example idle_ttl_s: 0.2). They are stored as float64 seconds in
// fields named ...Seconds and are available as time.Duration through methods
// of the same name without the suffix.
//
// Zero values in the Go structs mean "use the default", except for the
// pointer fields, where nil means "use the default" and a pointer to zero is
// meaningful (for example an idle TTL of 0 disables idle stop). In the YAML
// file an explicit zero for a field that must be positive is an error.
package config

import (
	"math"
	"time"
)

// Defaults applied by ApplyDefaults.
const (
	DefaultListen                = "127.0.0.1:8000"
	DefaultDrainTimeoutSeconds   = 10.0
	DefaultMaxBodyBytes          = 10 << 20
	DefaultMaxHeaderBytes        = 32 << 10
	DefaultMaxMessageBytes       = 16 << 20
	DefaultCallTimeoutSeconds    = 30.0
	DefaultMaxPendingCalls       = 256
	DefaultIdleTTLSeconds        = 300.0
	DefaultHealthCheckSeconds    = 60.0
	DefaultStartupTimeoutSeconds = 30.0
	// DefaultStopGraceSeconds is how long a stopping provider's process
	// gets between SIGTERM and SIGKILL.
	DefaultStopGraceSeconds      = 5.0
	DefaultTenant                = "default"
	DefaultDegradedAfterFailures = 3
	// DefaultMaxConcurrency bounds the calls in flight to one provider.
	DefaultMaxConcurrency = 128
	// DefaultMaxQueue bounds the calls waiting for a provider's free slot.
	DefaultMaxQueue              = 256
	DefaultMaxRestarts           = 5
	DefaultRestartWindowSeconds  = 60.0
	DefaultInitialBackoffSeconds = 0.5
	DefaultMaxBackoffSeconds     = 30.0
	DefaultHealthyResetSeconds   = 60.0
	DefaultNetwork               = "none"
	DefaultMemoryMB              = 256
	DefaultCPUs                  = 1.0
	DefaultPidsLimit             = 128
	DefaultMinHealthy            = 1
	DefaultWeight                = 1
	DefaultPriority              = 1
	DefaultFailureThreshold      = 5
	DefaultResetTimeoutSeconds   = 30.0
)

// Bounds of limits.max_header_bytes: a request line and headers must fit
// in a buffer of that size, allocated per connection.
const (
	MinHeaderBytes = 1 << 10
	MaxHeaderBytes = 1 << 20
)

// MaxFileSize is the largest configuration file accepted, in bytes.
const MaxFileSize = 4 << 20

// DefaultInheritEnv lists the gateway environment variables passed to a
// subprocess provider when its inherit_env is not set. Every other variable
// of the gateway is withheld from the child unless listed in inherit_env.
var DefaultInheritEnv = []string{"PATH", "HOME", "LANG", "TMPDIR"}

// Mode is how a provider is run.
type Mode string

// Provider modes.
const (
	ModeSubprocess Mode = "subprocess"
	ModeDocker     Mode = "docker"
	ModeRemote     Mode = "remote"
)

// Strategy is how a group picks a member for a call.
type Strategy string

// Group strategies.
const (
	StrategyRoundRobin       Strategy = "round_robin"
	StrategyWeighted         Strategy = "weighted"
	StrategyPriority         Strategy = "priority"
	StrategyLeastConnections Strategy = "least_connections"
	StrategyRandom           Strategy = "random"
)

var (
	modes      = []Mode{ModeSubprocess, ModeDocker, ModeRemote}
	strategies = []Strategy{StrategyRoundRobin, StrategyWeighted, StrategyPriority, StrategyLeastConnections, StrategyRandom}
)

// Config is a loaded configuration file.
type Config struct {
	// Listen is the HTTP listen address (host:port).
	Listen string `json:"listen,omitempty"`
	// DrainTimeoutSeconds is how long shutdown waits for calls in flight.
	DrainTimeoutSeconds *float64 `json:"drain_timeout_s,omitempty"`
	// Limits holds gateway-wide limits.
	Limits Limits `json:"limits"`
	// Metrics configures the metrics endpoint.
	Metrics Metrics `json:"metrics"`
	// Auth configures client authentication.
	Auth Auth `json:"auth"`
	// Gateway tunes the agent gateway (/v1): expiry times and bounds.
	Gateway Gateway `json:"gateway"`
	// MCP holds the host names and browser origins the listener accepts
	// beyond its own.
	MCP MCP `json:"mcp,omitzero"`
	// Providers maps provider id to provider.
	Providers map[string]*Provider `json:"providers,omitempty"`
	// ProviderOrder lists the provider ids in declaration order.
	ProviderOrder []string `json:"provider_order,omitempty"`
	// Groups maps group id to group.
	Groups map[string]*Group `json:"groups,omitempty"`
	// GroupOrder lists the group ids in declaration order.
	GroupOrder []string `json:"group_order,omitempty"`
}

// Limits holds gateway-wide limits.
type Limits struct {
	// MaxBodyBytes is the HTTP request body limit.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// MaxMessageBytes is the largest JSON-RPC message accepted from a backend.
	MaxMessageBytes int64 `json:"max_message_bytes,omitempty"`
	// CallTimeoutSeconds is the default per-call timeout.
	CallTimeoutSeconds float64 `json:"call_timeout_s,omitempty"`
	// MaxPendingCalls is how many calls are queued per provider while it starts.
	MaxPendingCalls int `json:"max_pending_calls,omitempty"`
	// MaxHeaderBytes bounds a request's line and headers together (431
	// beyond); large identity-provider tokens need more than the usual
	// 4 KiB. Zero means DefaultMaxHeaderBytes, applied by the front end.
	MaxHeaderBytes int64 `json:"max_header_bytes,omitempty"`
}

// MCP lists what the listener accepts beyond its own names. A loopback
// listener answers only loopback Host names (localhost, 127.0.0.0/8,
// [::1]), which keeps DNS-rebinding pages out; a state-changing request
// from a browser must come from the gateway's own origin.
type MCP struct {
	// AllowedHosts are further Host names served, as "name" (any port) or
	// "name:port". On a listener that is not loopback, setting it limits
	// the Host names served to these and the loopback ones.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// AllowedOrigins are further browser origins, "scheme://host[:port]",
	// whose requests are accepted.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
}

// Gateway tunes the agent gateway's sessions, approvals, A2A tasks and
// elicitations. Zero fields take the runtime's defaults.
type Gateway struct {
	// SessionIdleTTLSeconds ends a session unused this long (default 1800).
	SessionIdleTTLSeconds float64 `json:"session_idle_ttl_s,omitempty"`
	// ApprovalTTLSeconds expires an undecided approval (default 900).
	ApprovalTTLSeconds float64 `json:"approval_ttl_s,omitempty"`
	// TaskTTLSeconds expires an A2A task waiting for its agent (default 600).
	TaskTTLSeconds float64 `json:"task_ttl_s,omitempty"`
	// ElicitationTTLSeconds expires an unanswered elicitation (default 900).
	ElicitationTTLSeconds float64 `json:"elicitation_ttl_s,omitempty"`
	// SendWaitSeconds bounds how long /v1/a2a/send waits for the agent
	// before answering 202 (default 60).
	SendWaitSeconds float64 `json:"send_wait_s,omitempty"`
	// HITLWaitSeconds bounds how long an MCP call held for human approval
	// waits for the decision before it answers that the approval is
	// pending (default 60).
	HITLWaitSeconds float64 `json:"hitl_wait_s,omitempty"`
	// MaxChainDepth bounds a delegation chain (default 5).
	MaxChainDepth int `json:"max_chain_depth,omitempty"`
	// MaxPending bounds each tenant's pending approvals, open tasks and
	// pending elicitations (default 1000).
	MaxPending int `json:"max_pending,omitempty"`
	// KeepEnded bounds the ended sessions, approvals, tasks and
	// elicitations kept for reading (default 1000 of each).
	KeepEnded int `json:"keep_ended,omitempty"`
}

// Metrics configures the metrics endpoint.
type Metrics struct {
	// RequireAuth makes the metrics endpoint require client authentication.
	RequireAuth bool `json:"require_auth,omitempty"`
}

// Auth configures client authentication.
type Auth struct {
	// JWT configures JWT bearer authentication.
	JWT JWT `json:"jwt"`
}

// JWT configures bearer JWTs verified with the public keys of a JSON Web Key
// Set (RS256 and ES256). HS256 tokens are configured with the
// SWITCHYARD_JWT_SECRET environment variable instead, keeping the secret out
// of the file.
type JWT struct {
	// JWKSURL is the absolute http(s) URL of the JSON Web Key Set; empty
	// disables JWKS verification.
	JWKSURL string `json:"jwks_url,omitempty"`
	// Issuer, when set, must equal the iss claim of JWKS-verified tokens.
	// Only valid with JWKSURL.
	Issuer string `json:"issuer,omitempty"`
	// Audience, when set, must be the aud claim of JWKS-verified tokens or
	// one of its entries. Only valid with JWKSURL.
	Audience string `json:"audience,omitempty"`
}

// Provider is one supervised MCP server.
type Provider struct {
	// ID is the provider id, the key under providers.
	ID string `json:"id"`
	// Mode is how the provider is run. Required.
	Mode Mode `json:"mode"`

	// Command is the program and its arguments. Required for subprocess;
	// for docker it overrides the image command.
	Command []string `json:"command,omitempty"`
	// Env holds extra environment variables for the process or container.
	Env map[string]string `json:"env,omitempty"`
	// InheritEnv names the gateway environment variables passed to a
	// subprocess. Nil means DefaultInheritEnv; an empty list passes none.
	InheritEnv []string `json:"inherit_env"`
	// Workdir is the working directory of a subprocess.
	Workdir string `json:"workdir,omitempty"`

	// IdleTTLSeconds is how long an idle provider is kept running; 0
	// disables idle stop.
	IdleTTLSeconds *float64 `json:"idle_ttl_s,omitempty"`
	// HealthCheckIntervalSeconds is the health check period; 0 disables.
	HealthCheckIntervalSeconds *float64 `json:"health_check_interval_s,omitempty"`
	// CallTimeoutSeconds is the per-call timeout; the default comes from
	// Limits.
	CallTimeoutSeconds float64 `json:"call_timeout_s,omitempty"`
	// StartupTimeoutSeconds bounds start plus MCP initialization.
	StartupTimeoutSeconds float64 `json:"startup_timeout_s,omitempty"`
	// Description is free text shown to users.
	Description string `json:"description,omitempty"`
	// Tenant is the tenant the provider belongs to.
	Tenant string `json:"tenant,omitempty"`
	// Restart is the restart policy.
	Restart Restart `json:"restart"`
	// DegradedAfterFailures is how many consecutive failed health checks or
	// protocol errors mark the provider degraded.
	DegradedAfterFailures int `json:"degraded_after_failures,omitempty"`
	// MaxConcurrency bounds the calls in flight to the provider; further
	// calls wait in a queue of MaxQueue, beyond which they are refused (429).
	MaxConcurrency int `json:"max_concurrency,omitempty"`
	// MaxQueue bounds the calls waiting for a free slot.
	MaxQueue int `json:"max_queue,omitempty"`

	// Image is the container image. Required for docker.
	Image string `json:"image,omitempty"`
	// Volumes are docker mounts written "host:container[:ro|:rw]".
	Volumes []string `json:"volumes,omitempty"`
	// Network is the docker network.
	Network string `json:"network,omitempty"`
	// ReadOnly makes the container root filesystem read-only.
	ReadOnly *bool `json:"read_only,omitempty"`
	// MemoryMB is the container memory limit in MiB.
	MemoryMB int `json:"memory_mb,omitempty"`
	// CPUs is the container CPU limit.
	CPUs float64 `json:"cpus,omitempty"`
	// PidsLimit is the container process limit.
	PidsLimit int `json:"pids_limit,omitempty"`

	// Endpoint is the MCP URL of a remote provider. Required for remote.
	Endpoint string `json:"endpoint,omitempty"`
	// Headers are sent with every request to a remote provider.
	Headers map[string]string `json:"headers,omitempty"`
	// BearerToken is sent as an Authorization bearer token to a remote
	// provider.
	BearerToken string `json:"bearer_token,omitempty"`
	// CAFile is a PEM file of CA certificates trusted for a remote provider.
	CAFile string `json:"ca_file,omitempty"`
}

// Restart is a provider restart policy: at most MaxRestarts restarts within
// WindowSeconds, after which the provider is dead. The first restart is
// immediate, the second waits InitialBackoffSeconds, and the wait doubles up
// to MaxBackoffSeconds. A provider healthy for HealthyResetSeconds has its
// backoff reset.
type Restart struct {
	// MaxRestarts is the number of restarts allowed within the window.
	MaxRestarts *int `json:"max_restarts,omitempty"`
	// WindowSeconds is the window over which restarts are counted.
	WindowSeconds float64 `json:"window_s,omitempty"`
	// InitialBackoffSeconds is the wait before the second restart.
	InitialBackoffSeconds *float64 `json:"initial_backoff_s,omitempty"`
	// MaxBackoffSeconds caps the wait between restarts.
	MaxBackoffSeconds float64 `json:"max_backoff_s,omitempty"`
	// HealthyResetSeconds is how long a provider must stay healthy for its
	// backoff to reset.
	HealthyResetSeconds float64 `json:"healthy_reset_s,omitempty"`
}

// Group is a set of providers served under one name.
type Group struct {
	// ID is the group id, the key under groups.
	ID string `json:"id"`
	// Strategy is how a member is picked for a call.
	Strategy Strategy `json:"strategy,omitempty"`
	// MinHealthy is how many healthy members the group needs to be healthy.
	MinHealthy *int `json:"min_healthy,omitempty"`
	// Description is free text shown to users.
	Description string `json:"description,omitempty"`
	// Tenant is the tenant the group belongs to (default "default"); its
	// members must belong to it too.
	Tenant string `json:"tenant,omitempty"`
	// Members are the providers of the group.
	Members []Member `json:"members"`
	// CircuitBreaker configures the per-member circuit breaker.
	CircuitBreaker CircuitBreaker `json:"circuit_breaker"`
}

// Member is one provider of a group.
type Member struct {
	// ID names a provider. Required.
	ID string `json:"id"`
	// Weight is the relative share for the weighted strategy.
	Weight int `json:"weight,omitempty"`
	// Priority orders members for the priority strategy.
	Priority int `json:"priority,omitempty"`
}

// CircuitBreaker configures the per-member circuit breaker of a group.
type CircuitBreaker struct {
	// FailureThreshold is how many consecutive failures open the breaker.
	FailureThreshold int `json:"failure_threshold,omitempty"`
	// ResetTimeoutSeconds is how long an open breaker waits before a trial
	// call.
	ResetTimeoutSeconds float64 `json:"reset_timeout_s,omitempty"`
}

// seconds converts a number of seconds to a Duration.
func seconds(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

// secondsOr converts *s to a Duration, using def when s is nil.
func secondsOr(s *float64, def float64) time.Duration {
	if s == nil {
		return seconds(def)
	}
	return seconds(*s)
}

// positiveOr returns s, or def when s is not positive.
func positiveOr(s, def float64) float64 {
	if s > 0 {
		return s
	}
	return def
}

// DrainTimeout is how long shutdown waits for calls in flight.
func (c *Config) DrainTimeout() time.Duration {
	return secondsOr(c.DrainTimeoutSeconds, DefaultDrainTimeoutSeconds)
}

// CallTimeout is the default per-call timeout.
func (l Limits) CallTimeout() time.Duration {
	return seconds(positiveOr(l.CallTimeoutSeconds, DefaultCallTimeoutSeconds))
}

// IdleTTL is how long an idle provider is kept running; 0 disables idle stop.
func (p *Provider) IdleTTL() time.Duration {
	return secondsOr(p.IdleTTLSeconds, DefaultIdleTTLSeconds)
}

// HealthCheckInterval is the health check period; 0 disables health checks.
func (p *Provider) HealthCheckInterval() time.Duration {
	return secondsOr(p.HealthCheckIntervalSeconds, DefaultHealthCheckSeconds)
}

// CallTimeout is the per-call timeout. Before ApplyDefaults a zero value
// yields DefaultCallTimeoutSeconds rather than the gateway limit.
func (p *Provider) CallTimeout() time.Duration {
	return seconds(positiveOr(p.CallTimeoutSeconds, DefaultCallTimeoutSeconds))
}

// StartupTimeout bounds start plus MCP initialization.
func (p *Provider) StartupTimeout() time.Duration {
	return seconds(positiveOr(p.StartupTimeoutSeconds, DefaultStartupTimeoutSeconds))
}

// Window is the window over which restarts are counted.
func (r Restart) Window() time.Duration {
	return seconds(positiveOr(r.WindowSeconds, DefaultRestartWindowSeconds))
}

// InitialBackoff is the wait before the second restart.
func (r Restart) InitialBackoff() time.Duration {
	return secondsOr(r.InitialBackoffSeconds, DefaultInitialBackoffSeconds)
}

// MaxBackoff caps the wait between restarts.
func (r Restart) MaxBackoff() time.Duration {
	return seconds(positiveOr(r.MaxBackoffSeconds, DefaultMaxBackoffSeconds))
}

// HealthyReset is how long a provider must stay healthy for its backoff to
// reset.
func (r Restart) HealthyReset() time.Duration {
	return seconds(positiveOr(r.HealthyResetSeconds, DefaultHealthyResetSeconds))
}

// ResetTimeout is how long an open breaker waits before a trial call.
func (b CircuitBreaker) ResetTimeout() time.Duration {
	return seconds(positiveOr(b.ResetTimeoutSeconds, DefaultResetTimeoutSeconds))
}

// ApplyDefaults fills every unset field with its default and makes the
// Providers and Groups maps non-nil. It is meant to run after Validate.
func (c *Config) ApplyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DrainTimeoutSeconds == nil {
		c.DrainTimeoutSeconds = ptr(DefaultDrainTimeoutSeconds)
	}
	c.Limits.applyDefaults()
	if c.Providers == nil {
		c.Providers = make(map[string]*Provider)
	}
	if c.Groups == nil {
		c.Groups = make(map[string]*Group)
	}
	for _, p := range c.Providers {
		if p != nil {
			p.ApplyDefaults(c.Limits)
		}
	}
	for _, g := range c.Groups {
		if g != nil {
			g.applyDefaults()
		}
	}
}

// WithDefaults returns the limits with every unset one at its default.
func (l Limits) WithDefaults() Limits {
	l.applyDefaults()
	return l
}

func (l *Limits) applyDefaults() {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.CallTimeoutSeconds <= 0 {
		l.CallTimeoutSeconds = DefaultCallTimeoutSeconds
	}
	if l.MaxPendingCalls <= 0 {
		l.MaxPendingCalls = DefaultMaxPendingCalls
	}
}

// ApplyDefaults fills every unset field of p with its default; the call
// timeout defaults to l.CallTimeoutSeconds. Fields of other modes are left
// unset. It is meant to run after Validate.
func (p *Provider) ApplyDefaults(l Limits) {
	if p.Mode == ModeSubprocess && p.InheritEnv == nil {
		p.InheritEnv = append([]string(nil), DefaultInheritEnv...)
	}
	if p.IdleTTLSeconds == nil {
		p.IdleTTLSeconds = ptr(DefaultIdleTTLSeconds)
	}
	if p.HealthCheckIntervalSeconds == nil {
		p.HealthCheckIntervalSeconds = ptr(DefaultHealthCheckSeconds)
	}
	if p.CallTimeoutSeconds <= 0 {
		p.CallTimeoutSeconds = positiveOr(l.CallTimeoutSeconds, DefaultCallTimeoutSeconds)
	}
	if p.StartupTimeoutSeconds <= 0 {
		p.StartupTimeoutSeconds = DefaultStartupTimeoutSeconds
	}
	if p.Tenant == "" {
		p.Tenant = DefaultTenant
	}
	if p.DegradedAfterFailures <= 0 {
		p.DegradedAfterFailures = DefaultDegradedAfterFailures
	}
	if p.MaxConcurrency <= 0 {
		p.MaxConcurrency = DefaultMaxConcurrency
	}
	if p.MaxQueue <= 0 {
		p.MaxQueue = DefaultMaxQueue
	}
	p.Restart.applyDefaults()
	if p.Mode == ModeDocker {
		if p.Network == "" {
			p.Network = DefaultNetwork
		}
		if p.ReadOnly == nil {
			p.ReadOnly = ptr(true)
		}
		if p.MemoryMB <= 0 {
			p.MemoryMB = DefaultMemoryMB
		}
		if p.CPUs <= 0 {
			p.CPUs = DefaultCPUs
		}
		if p.PidsLimit <= 0 {
			p.PidsLimit = DefaultPidsLimit
		}
	}
}

func (r *Restart) applyDefaults() {
	if r.MaxRestarts == nil {
		r.MaxRestarts = ptr(DefaultMaxRestarts)
	}
	if r.WindowSeconds <= 0 {
		r.WindowSeconds = DefaultRestartWindowSeconds
	}
	if r.InitialBackoffSeconds == nil {
		r.InitialBackoffSeconds = ptr(DefaultInitialBackoffSeconds)
	}
	if r.MaxBackoffSeconds <= 0 {
		r.MaxBackoffSeconds = DefaultMaxBackoffSeconds
	}
	if r.HealthyResetSeconds <= 0 {
		r.HealthyResetSeconds = DefaultHealthyResetSeconds
	}
}

func (g *Group) applyDefaults() {
	if g.Strategy == "" {
		g.Strategy = StrategyRoundRobin
	}
	if g.MinHealthy == nil {
		g.MinHealthy = ptr(DefaultMinHealthy)
	}
	if g.Tenant == "" {
		g.Tenant = DefaultTenant
	}
	for i := range g.Members {
		m := &g.Members[i]
		if m.Weight <= 0 {
			m.Weight = DefaultWeight
		}
		if m.Priority <= 0 {
			m.Priority = DefaultPriority
		}
	}
	if g.CircuitBreaker.FailureThreshold <= 0 {
		g.CircuitBreaker.FailureThreshold = DefaultFailureThreshold
	}
	if g.CircuitBreaker.ResetTimeoutSeconds <= 0 {
		g.CircuitBreaker.ResetTimeoutSeconds = DefaultResetTimeoutSeconds
	}
}

func ptr[T any](v T) *T { return &v }
