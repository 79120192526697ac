// Package call holds what both sides of the gateway share about one tool
// call: the request every surface builds, its result, the errors that
// answer it, and the pending answers (an approval, an elicitation) that
// hold it. It is a leaf: the provider side (actors) and the agent-gateway
// side (agents) both import it, and it imports neither.
package call

import (
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors shared by the provider side and the agent gateway; the
// HTTP front maps each to one status.
var (
	ErrNotFound    = errors.New("not found")
	ErrInvalid     = errors.New("invalid request")
	ErrUnavailable = errors.New("provider unavailable")
	ErrTimeout     = errors.New("timed out")
	ErrBackend     = errors.New("backend error")
	ErrShutdown    = errors.New("gateway shutting down")
	ErrCancelled   = errors.New("call cancelled")
	// ErrLimit: a bounded registry (pending approvals, tasks, ...) is full.
	ErrLimit = errors.New("limit reached")
)

// Surfaces a call can come from; they label audit records.
const (
	SurfaceAPI   = "api"
	SurfaceV1    = "v1"
	SurfaceMCP   = "mcp"
	SurfaceStdio = "stdio"
)

// Request is one tool call, from whichever surface it came: /api, /v1,
// /mcp, /mcp/{id}, stdio, an approved approval or a resumed elicitation.
// Every one of them enters the runtime's one call pipeline and passes the
// same admission chain; a surface only builds the request and translates
// the answer.
type Request struct {
	// Tenant the call acts for; the target must belong to it.
	Tenant string
	// Principal is who calls (for audit and approvals).
	Principal string
	// Session is the agent session the call runs in ("" for none).
	Session string
	// Target is a provider or a group id.
	Target string
	// Tool is the tool's name on the target.
	Tool string
	// Args is the raw JSON arguments object (nil or empty for none).
	Args json.RawMessage
	// Extra holds further members of the tools/call params, raw JSON
	// without the braces: the answers to a server's request for input
	// and its requestState, when a call is retried with them.
	Extra []byte
	// Meta holds members of the tools/call _meta object, raw JSON without
	// the braces: the client's progressToken, relayed so the backend's
	// progress notifications reach it.
	Meta []byte
	// Surface names where the call came from (SurfaceAPI, ...).
	Surface string
	// HoldInput turns a server's request for input (an input_required
	// result) into a pending elicitation of the tenant: the call then
	// returns a *PendingElicitation and resumes when it is answered.
	// Without it the input_required result is returned as it is, for a
	// client that answers itself.
	HoldInput bool

	// Approval names the approval an approved call runs for, so it is not
	// held again. Only the approvals supervisor sets it, when it runs an
	// approved call; surfaces leave it empty.
	Approval string
}

// Result answers a Request.
type Result struct {
	// Result is the backend's raw CallToolResult.
	Result  json.RawMessage
	IsError bool
	Latency time.Duration
	// Tokens is what the call cost its session (0 outside a session).
	Tokens int64
}

// PendingApproval is returned by a call when the tenant's policy wants a
// human to approve the call first; the call waits in approval ID.
type PendingApproval struct{ ID string }

func (e *PendingApproval) Error() string { return "tool call requires human approval: " + e.ID }

// PendingElicitation is returned by a call when the server asked for a
// human's input during the call; the call resumes when elicitation ID is
// answered.
type PendingElicitation struct {
	ID      string
	Message string
	Schema  json.RawMessage
}

func (e *PendingElicitation) Error() string { return "the server asks for input: elicitation " + e.ID }

// Tokens is what a call costs a session's budget: one token per four bytes
// of the arguments JSON plus the result JSON, rounded up. The arguments'
// share (rounded down) is charged when the call is admitted, the rest when
// it ends, so a burst of calls cannot all start on an unspent budget.
func Tokens(args, result []byte) int64 {
	return (int64(len(args)) + int64(len(result)) + 3) / 4
}
