// Package actors holds Switchyard's actors: the providers supervisor with one
// actor per provider, and the messages they exchange with the HTTP front.
// Each actor is the single owner of its entity's state; I/O is handed to the
// transports, whose answers come back as messages or go straight to the
// original sender.
package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	callpkg "github.com/switchyard-mcp/switchyard/call"
	"github.com/switchyard-mcp/switchyard/supervisor"
	"github.com/switchyard-mcp/switchyard/transports"
)

// State is a provider's lifecycle state.
type State string

// Provider lifecycle states.
const (
	StateCold         State = "cold"
	StateInitializing State = "initializing"
	StateReady        State = "ready"
	StateDegraded     State = "degraded"
	StateDead         State = "dead"
	StateStopped      State = "stopped"
)

// Sentinel errors of the runtime; the HTTP front maps each to one status.
var (
	ErrNotFound     = callpkg.ErrNotFound
	ErrExists       = errors.New("already exists")
	ErrInvalid      = callpkg.ErrInvalid
	ErrUnavailable  = callpkg.ErrUnavailable
	ErrBusy         = errors.New("provider busy")
	ErrTimeout      = callpkg.ErrTimeout
	ErrBackend      = callpkg.ErrBackend
	ErrToolNotFound = errors.New("tool not found")
	ErrShutdown     = callpkg.ErrShutdown
	ErrCancelled    = callpkg.ErrCancelled
	// ErrDead is the ErrUnavailable of a provider that gave up restarting
	// and ErrStopped that of one stopped by request: only a start revives
	// them, so unlike other refusals they are not worth retrying later.
	ErrDead    = fmt.Errorf("%w", ErrUnavailable)
	ErrStopped = fmt.Errorf("%w", ErrUnavailable)
	// ErrQuarantined refuses calls to a provider whose tools changed from
	// the fingerprint it was registered with.
	ErrQuarantined = errors.New("provider quarantined")
	// ErrGroupNotFound is the ErrNotFound of groups.
	ErrGroupNotFound = fmt.Errorf("group %w", ErrNotFound)
	// ErrGroupExists is the ErrExists of groups and their members.
	ErrGroupExists = fmt.Errorf("group %w", ErrExists)
)

// Spec is everything the runtime needs to run one provider.
type Spec struct {
	ID          string            `json:"provider_id"`
	Mode        string            `json:"mode"`
	Description string            `json:"description,omitempty"`
	Tenant      string            `json:"tenant,omitempty"`
	Command     []string          `json:"command,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	InheritEnv  []string          `json:"inherit_env,omitempty"`
	Workdir     string            `json:"workdir,omitempty"`
	Image       string            `json:"image,omitempty"`
	Volumes     []string          `json:"volumes,omitempty"`
	Network     string            `json:"network,omitempty"`
	ReadOnly    bool              `json:"read_only"`
	Endpoint    string            `json:"endpoint,omitempty"`
	// Docker limits.
	MemoryMB  int64   `json:"memory_mb,omitempty"`
	CPUs      float64 `json:"cpus,omitempty"`
	PidsLimit int64   `json:"pids_limit,omitempty"`
	// Remote connection settings; Headers and BearerToken are secrets and
	// never serialised.
	Headers     map[string]string `json:"-"`
	BearerToken string            `json:"-"`
	CAFile      string            `json:"ca_file,omitempty"`

	IdleTTL        time.Duration `json:"-"`
	HealthInterval time.Duration `json:"-"`
	CallTimeout    time.Duration `json:"-"`
	StartupTimeout time.Duration `json:"-"`
	StopGrace      time.Duration `json:"-"`
	// DegradedAfter consecutive failed health checks or protocol errors
	// make a ready provider degraded.
	DegradedAfter int                      `json:"-"`
	Restart       supervisor.RestartPolicy `json:"-"`
	// MaxPending bounds the calls queued while the provider starts.
	MaxPending int `json:"-"`
	// MaxConcurrency bounds the calls in flight; further calls wait in a
	// queue of MaxQueue and beyond it are refused with ErrBusy.
	MaxConcurrency int `json:"-"`
	MaxQueue       int `json:"-"`
	// MaxMessage bounds one JSON-RPC message from the backend.
	MaxMessage int `json:"-"`

	// Name is a display name (servers registered through /v1 carry one).
	Name string `json:"name,omitempty"`
	// Pinned is the fingerprint of the pinned tools (Declared); when the
	// tools served break it, the provider is quarantined.
	Pinned string `json:"-"`
	// Declared are the tools a server registered through the agent
	// gateway is allowed to offer: those declared at registration (shown
	// until the provider has been reached), and once Pinned is set the
	// pinned definitions. Tools served beyond them stay hidden.
	Declared []transports.Tool `json:"-"`
	// RegisteredAt is when the provider was created.
	RegisteredAt time.Time `json:"-"`
}

// Validate checks what the runtime itself relies on. It refuses a zero
// timing or limit rather than choosing one: defaults are config's
// (SpecFromConfig, DefaultSpec), written once.
func (s Spec) Validate() error {
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"tenant", s.Tenant != ""},
		{"call timeout", s.CallTimeout > 0},
		{"startup timeout", s.StartupTimeout > 0},
		{"stop grace", s.StopGrace > 0},
		{"degraded after failures", s.DegradedAfter > 0},
		{"max pending calls", s.MaxPending > 0},
		{"max message bytes", s.MaxMessage > 0},
		{"max concurrency", s.MaxConcurrency > 0},
		{"max queue", s.MaxQueue > 0},
	} {
		if !f.ok {
			return fmt.Errorf("%w: provider %s: %s is not set (build specs with SpecFromConfig or DefaultSpec)", ErrInvalid, s.ID, f.name)
		}
	}
	switch s.Mode {
	case "subprocess":
		if len(s.Command) == 0 || s.Command[0] == "" {
			return fmt.Errorf("%w: command is required for mode subprocess", ErrInvalid)
		}
	case "docker":
		if s.Image == "" {
			return fmt.Errorf("%w: image is required for mode docker", ErrInvalid)
		}
	case "remote":
		if s.Endpoint == "" {
			return fmt.Errorf("%w: endpoint is required for mode remote", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: mode must be subprocess, docker or remote", ErrInvalid)
	}
	return nil
}

// HealthCheck is one entry of a provider's health history.
type HealthCheck struct {
	At        time.Time `json:"at"`
	OK        bool      `json:"ok"`
	LatencyMs float64   `json:"latency_ms"`
	Error     string    `json:"error,omitempty"`
}

// Invocation is one entry of a provider's tool invocation history.
type Invocation struct {
	Position  int64     `json:"position"`
	At        time.Time `json:"timestamp"`
	Tool      string    `json:"tool_name"`
	Outcome   string    `json:"outcome"`
	LatencyMs float64   `json:"latency_ms"`
	Error     string    `json:"error,omitempty"`
}

// Info is a consistent snapshot of a provider, published by its actor on
// every change so readers never wait on the mailbox.
type Info struct {
	Spec            Spec                    `json:"-"`
	State           State                   `json:"state"`
	Alive           bool                    `json:"alive"`
	Pid             int                     `json:"pid,omitempty"`
	Backend         *transports.BackendInfo `json:"backend,omitempty"`
	Tools           []transports.Tool       `json:"-"`
	ToolsKnown      bool                    `json:"-"`
	Server          *transports.ServerInfo  `json:"server,omitempty"`
	LastError       string                  `json:"last_error,omitempty"`
	Restarts        int                     `json:"restarts"`
	HealthFailures  int                     `json:"consecutive_failures"`
	Health          []HealthCheck           `json:"-"`
	LastHealthCheck *HealthCheck            `json:"-"`
	StartedAt       time.Time               `json:"-"`
	Calls           int64                   `json:"total_calls"`
	Errors          int64                   `json:"total_errors"`
	Queued          int                     `json:"queued"`
	InFlight        int                     `json:"in_flight"`
	LastUsed        time.Time               `json:"-"`
	// Fingerprint is the sha256 fingerprint of Tools ("" until known).
	Fingerprint string `json:"-"`
	// Quarantine says why the provider refuses calls after its tools
	// changed from the fingerprint it was registered with ("" = not).
	Quarantine string `json:"-"`
}

// HealthStatus summarises State as the Hangar API names it.
func (i *Info) HealthStatus() string {
	switch i.State {
	case StateReady:
		return "healthy"
	case StateDegraded:
		return "degraded"
	case StateDead:
		return "unhealthy"
	default:
		return "unknown"
	}
}

// CallTool asks a provider actor to call one tool. Args is the raw JSON
// arguments object (nil for none). Runtime.Call builds it with a reply
// channel and can cancel it; a CallTool sent by other code is answered with
// a CallReply message to its sender.
type CallTool struct {
	Tool string
	Args []byte
	// Extra holds further members of the params object, raw (see CallWith).
	Extra []byte
	// Meta holds members of the params' _meta object, raw (a progressToken).
	Meta []byte
	// Method, when set, makes this a request of another method forwarded
	// as it is (resources/read, prompts/get, ...): Args then holds the
	// members of its params object, raw, and Tool is unused.
	Method   string
	Deadline time.Time

	reply chan *CallReply
	asker Asker
	// askFor, when set and asker is nil, names the gateway call's tenant
	// and session whose elicitations hold a server's requests for input.
	askFor    askFor
	cancelled atomic.Bool
	mux       atomic.Pointer[transports.Mux]
	muxID     atomic.Int64
}

// respond delivers the reply: on the caller's channel when there is one,
// else as a message to the sender. A call is answered once; a second
// answer is dropped rather than blocking.
func (m *CallTool) respond(rt *Runtime, sender *actor.PID, rep *CallReply) {
	if m.reply != nil {
		select {
		case m.reply <- rep:
		default:
		}
		return
	}
	if sender != nil {
		rt.system.Root.Send(sender, rep)
	}
}

// started records the backend request so a cancellation can reach it; a
// cancellation that came first is forwarded now.
func (m *CallTool) started(mux *transports.Mux, id int64) {
	m.muxID.Store(id)
	m.mux.Store(mux)
	if m.cancelled.Load() {
		mux.Cancel(id, "cancelled by the client")
	}
}

// cancel abandons the call: a call not yet dispatched is refused, one in
// flight gets notifications/cancelled sent to its backend.
func (m *CallTool) cancel() {
	if !m.cancelled.CompareAndSwap(false, true) {
		return
	}
	if mux := m.mux.Load(); mux != nil {
		mux.Cancel(m.muxID.Load(), "cancelled by the client")
	}
}

// invocation is what a provider is asked to run: a tool call (Method "")
// or another request forwarded as it is (see CallTool).
type invocation struct {
	Method            string
	Tool              string
	Args, Extra, Meta []byte
}

// CallReply answers CallTool.
type CallReply struct {
	// Result is the backend's raw CallToolResult.
	Result  json.RawMessage
	IsError bool
	Latency time.Duration
	Err     error
	// Retryable reports that the call failed without reaching the tool
	// (provider unavailable or full, request never written, connection
	// lost), so a group may send it to another member.
	Retryable bool
}

// ListTools asks for a provider's tools; with Discover a provider whose
// tools are not yet known is started to learn them.
type ListTools struct {
	Discover bool
	Deadline time.Time
}

// ToolsReply answers ListTools.
type ToolsReply struct {
	Tools []transports.Tool
	Err   error
}

// Start asks a provider to start (or restart a dead one); the reply comes
// when it is ready or has failed.
type Start struct{ Deadline time.Time }

// Stop asks a provider to stop; it stays stopped until started.
type Stop struct{ Reason string }

// Update changes a provider's description, env and timings; nil fields
// are left alone. Env changes apply at the next start.
type Update struct {
	Description    *string
	Env            map[string]string
	IdleTTL        *time.Duration
	HealthInterval *time.Duration
}

// subscribe counts a client in (on) or out of the followers of a
// resource (see Runtime.Subscribe); reply (buffered) gets the outcome.
type subscribe struct {
	uri   string
	on    bool
	reply chan error
}

// subscribeFailed tells a provider that its backend refused to follow a
// resource.
type subscribeFailed struct {
	uri string
	gen int
}

// Result answers Start, Stop and Update.
type Result struct {
	State State
	Err   error
}

// History asks for a page of the tool invocation history.
type History struct {
	Limit        int
	FromPosition int64
}

// HistoryReply answers History.
type HistoryReply struct {
	Records []Invocation
	Total   int64
}

// Asker answers a server's request for input (elicitation/create) made
// during a call: it gets the server's message and the JSON Schema of the
// answer, and returns the elicitation result, {"action": ..., "content":
// ...}.
type Asker func(ctx context.Context, message string, schema json.RawMessage) (json.RawMessage, error)

type askerKey struct{}

// askFor names where a call through the agent gateway holds a server's
// requests for input when its context carries no Asker: an elicitation of
// the call's tenant and session. It is a value, so a call does not build
// an Asker it will almost never use.
type askFor struct {
	tenant, session string
	set             bool
}

// WithAsker returns a context whose tool calls relay a server's requests
// for input to ask (the MCP client of the call, or a human through the
// gateway's elicitations).
func WithAsker(ctx context.Context, ask Asker) context.Context {
	return context.WithValue(ctx, askerKey{}, ask)
}

func askerOf(ctx context.Context) Asker {
	a, _ := ctx.Value(askerKey{}).(Asker)
	return a
}
