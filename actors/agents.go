package actors

import (
	"github.com/switchyard-mcp/switchyard/agents"
	callpkg "github.com/switchyard-mcp/switchyard/call"
)

// The agent gateway lives in package agents; these aliases keep its names
// reachable as actors.X for the surfaces that already use them.

// Types of the agent gateway (see package agents).
type (
	GatewayOptions  = agents.GatewayOptions
	Policy          = agents.Policy
	Agent           = agents.Agent
	Delegation      = agents.Delegation
	TaskInfo        = agents.TaskInfo
	SessionSpec     = agents.SessionSpec
	SessionInfo     = agents.SessionInfo
	ApprovalInfo    = agents.ApprovalInfo
	ElicitationSpec = agents.ElicitationSpec
	ElicitationInfo = agents.ElicitationInfo
)

// Statuses of the agent gateway's objects (see package agents).
const (
	SessionActive     = agents.SessionActive
	SessionTerminated = agents.SessionTerminated
	SessionExpired    = agents.SessionExpired

	ApprovalPending   = agents.ApprovalPending
	ApprovalApproved  = agents.ApprovalApproved
	ApprovalCompleted = agents.ApprovalCompleted
	ApprovalFailed    = agents.ApprovalFailed
	ApprovalDenied    = agents.ApprovalDenied
	ApprovalExpired   = agents.ApprovalExpired

	TaskPending       = agents.TaskPending
	TaskWorking       = agents.TaskWorking
	TaskCompleted     = agents.TaskCompleted
	TaskFailed        = agents.TaskFailed
	TaskExpired       = agents.TaskExpired
	TaskInputRequired = agents.TaskInputRequired

	ElicitationPending   = agents.ElicitationPending
	ElicitationResponded = agents.ElicitationResponded
	ElicitationExpired   = agents.ElicitationExpired
)

// Errors of the agent gateway (see package agents).
var (
	ErrSessionNotFound     = agents.ErrSessionNotFound
	ErrApprovalNotFound    = agents.ErrApprovalNotFound
	ErrTaskNotFound        = agents.ErrTaskNotFound
	ErrElicitationNotFound = agents.ErrElicitationNotFound
	ErrToolNotAllowed      = agents.ErrToolNotAllowed
	ErrBudgetExceeded      = agents.ErrBudgetExceeded
	ErrCallLimit           = agents.ErrCallLimit
	ErrSessionLimit        = agents.ErrSessionLimit
	ErrSessionClosed       = agents.ErrSessionClosed
	ErrNotPending          = agents.ErrNotPending
	ErrChainDepth          = agents.ErrChainDepth
	ErrCircular            = agents.ErrCircular
	ErrHostNotAllowed      = agents.ErrHostNotAllowed
	ErrAgentFailed         = agents.ErrAgentFailed
	ErrAgentUnreachable    = agents.ErrAgentUnreachable
	ErrLimit               = callpkg.ErrLimit
)

// PendingElicitation is returned by Call when the server asked for a
// human's input during the call (see call.PendingElicitation).
type PendingElicitation = callpkg.PendingElicitation
