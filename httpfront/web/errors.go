package web

import (
	"errors"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/schema"
)

// ErrorKind is how every surface names one kind of error: its HTTP status
// once, and each surface's own name for it (the /api body's "error" type,
// the /v1 body's "error" code).
type ErrorKind struct {
	Status int
	// Type is the /api (Hangar) error type.
	Type string
	// Code is the /v1 (Agent Gateway) error code.
	Code string
}

// errorTable maps the runtime's sentinel errors to their kind, first match
// first: the more specific sentinels (which wrap the general ones) come
// before those they wrap. It is the one place where an error gets its
// status.
var errorTable = []struct {
	err  error
	kind ErrorKind
}{
	{ErrBadJSON, ErrorKind{http.StatusBadRequest, "ValidationError", "invalid_request"}},
	{schema.ErrInvalidArguments, ErrorKind{http.StatusBadRequest, "ValidationError", "validation_failed"}},
	{actors.ErrInvalid, ErrorKind{http.StatusBadRequest, "ValidationError", "invalid_request"}},
	{actors.ErrChainDepth, ErrorKind{http.StatusBadRequest, "ValidationError", "chain_depth_exceeded"}},
	{actors.ErrGroupNotFound, ErrorKind{http.StatusNotFound, "GroupNotFoundError", "server_not_found"}},
	{actors.ErrServerNotFound, ErrorKind{http.StatusNotFound, "ProviderNotFoundError", "server_not_found"}},
	{actors.ErrSessionNotFound, ErrorKind{http.StatusNotFound, "SessionNotFoundError", "session_not_found"}},
	{actors.ErrApprovalNotFound, ErrorKind{http.StatusNotFound, "ApprovalNotFoundError", "approval_not_found"}},
	{actors.ErrTaskNotFound, ErrorKind{http.StatusNotFound, "TaskNotFoundError", "task_not_found"}},
	{actors.ErrElicitationNotFound, ErrorKind{http.StatusNotFound, "ElicitationNotFoundError", "elicitation_not_found"}},
	{actors.ErrToolNotFound, ErrorKind{http.StatusNotFound, "ToolNotFoundError", "tool_not_found"}},
	{actors.ErrNotFound, ErrorKind{http.StatusNotFound, "ProviderNotFoundError", "not_found"}},
	{actors.ErrToolNotAllowed, ErrorKind{http.StatusForbidden, "ToolNotAllowedError", "tool_not_allowed"}},
	{actors.ErrHostNotAllowed, ErrorKind{http.StatusForbidden, "HostNotAllowedError", "host_not_allowed"}},
	{actors.ErrQuarantined, ErrorKind{http.StatusForbidden, "ProviderQuarantinedError", "server_quarantined"}},
	{actors.ErrSessionClosed, ErrorKind{http.StatusConflict, "SessionNotActiveError", "session_not_active"}},
	{actors.ErrCircular, ErrorKind{http.StatusConflict, "CircularDelegationError", "circular_delegation"}},
	{actors.ErrNotPending, ErrorKind{http.StatusConflict, "NotPendingError", "not_pending"}},
	{actors.ErrCollision, ErrorKind{http.StatusConflict, "ToolNamingCollisionError", "tool_naming_collision"}},
	{actors.ErrGroupExists, ErrorKind{http.StatusConflict, "GroupExistsError", "already_exists"}},
	{actors.ErrExists, ErrorKind{http.StatusConflict, "ProviderExistsError", "already_exists"}},
	{actors.ErrBudgetExceeded, ErrorKind{http.StatusTooManyRequests, "BudgetExceededError", "budget_exceeded"}},
	{actors.ErrCallLimit, ErrorKind{http.StatusTooManyRequests, "ToolCallLimitError", "tool_call_limit_exceeded"}},
	{actors.ErrSessionLimit, ErrorKind{http.StatusTooManyRequests, "SessionLimitError", "session_limit_exceeded"}},
	{actors.ErrLimit, ErrorKind{http.StatusTooManyRequests, "LimitExceededError", "limit_exceeded"}},
	{actors.ErrBusy, ErrorKind{http.StatusTooManyRequests, "ProviderBusyError", "server_busy"}},
	{actors.ErrCancelled, ErrorKind{499, "ClientClosedRequest", "client_closed_request"}},
	{actors.ErrAgentUnreachable, ErrorKind{http.StatusBadGateway, "AgentUnreachableError", "agent_unreachable"}},
	{actors.ErrAgentFailed, ErrorKind{http.StatusBadGateway, "AgentError", "agent_error"}},
	{actors.ErrBackend, ErrorKind{http.StatusBadGateway, "ProviderError", "server_error"}},
	{actors.ErrTimeout, ErrorKind{http.StatusGatewayTimeout, "ToolTimeoutError", "timeout"}},
	{actors.ErrShutdown, ErrorKind{http.StatusServiceUnavailable, "ProviderUnavailableError", "shutting_down"}},
	{actors.ErrUnavailable, ErrorKind{http.StatusServiceUnavailable, "ProviderUnavailableError", "server_unavailable"}},
}

var internalKind = ErrorKind{http.StatusInternalServerError, "InternalError", "internal_error"}

// Kind returns the kind of err: the status and names attached with
// WithCode, else those of the first sentinel of the table it matches, else
// 500.
func Kind(err error) ErrorKind {
	var c *coded
	if errors.As(err, &c) {
		return ErrorKind{Status: c.status, Type: c.kind, Code: c.kind}
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.kind
		}
	}
	return internalKind
}

// Classify returns the HTTP status and the /api error type for err.
func Classify(err error) (int, string) {
	k := Kind(err)
	return k.Status, k.Type
}

// noRetry are refusals that waiting does not lift: a dead or stopped
// provider only comes back when started, a spent budget or call limit
// never refills.
var noRetry = []error{actors.ErrDead, actors.ErrStopped, actors.ErrBudgetExceeded, actors.ErrCallLimit}

// RetryAfter sets Retry-After on a 429 or 503 answer where waiting helps:
// a busy provider, one starting or restarting, a group without a usable
// member, a shutdown, a tenant's limit of things that end.
func RetryAfter(ctx *fasthttp.RequestCtx, status int, err error) {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return
	}
	for _, e := range noRetry {
		if errors.Is(err, e) {
			return
		}
	}
	ctx.Response.Header.Set("Retry-After", "1")
}
