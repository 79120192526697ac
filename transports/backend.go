package transports

// Backend is a running MCP backend — a subprocess, a container or a remote
// endpoint — always spoken to through a Mux. Implementations report their
// end once through the OnExit hook of their spec.
type Backend interface {
	// Mux is the JSON-RPC connection to the backend.
	Mux() *Mux
	// Stop begins an orderly stop and returns at once; it is idempotent.
	Stop()
	// Done is closed once the backend is stopped and cleaned up (process
	// reaped, container removed, connections closed).
	Done() <-chan struct{}
	// Describe names what runs, for status output.
	Describe() BackendInfo
}

// BackendInfo describes a running backend.
type BackendInfo struct {
	// Pid is the process id of a subprocess backend.
	Pid int `json:"pid,omitempty"`
	// Container is the container id of a docker backend.
	Container string `json:"container,omitempty"`
	// Endpoint is the URL of a remote backend.
	Endpoint string `json:"endpoint,omitempty"`
	// Transport names the wire: "stdio", "docker", "streamable-http" or "sse".
	Transport string `json:"transport"`
}

// Describe implements Backend.
func (p *Process) Describe() BackendInfo { return BackendInfo{Pid: p.Pid(), Transport: "stdio"} }

var _ Backend = (*Process)(nil)

// Hooks are the callbacks every backend kind reports through. Each must be
// quick and must not block.
type Hooks struct {
	// Mux configures the JSON-RPC connection.
	Mux MuxOptions
	// OnStderr receives the backend's log lines (a process's or a
	// container's stderr).
	OnStderr func(line string)
	// OnProgress receives human-readable progress while a backend starts or
	// recovers (image pulls, reconnects).
	OnProgress func(msg string)
	// OnExit is called once when the backend has ended and been cleaned up,
	// with the reason (nil for a clean exit).
	OnExit func(err error)
}
