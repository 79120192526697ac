package httpfront

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard-mcp/switchyard/actors"
)

// answerGrace is how long calls cancelled at the drain deadline get to
// write their 503 before the listener stops waiting for their
// connections.
const answerGrace = 2 * time.Second

// errDrainCut is the cause the drain deadline cancels calls with.
var errDrainCut = fmt.Errorf("%w: the drain deadline passed", actors.ErrShutdown)

// drain stops accepting and waits for the connections in flight until ctx
// ends. Then the calls still running are cancelled (their handlers answer
// 503, see end) and get answerGrace to be answered before drain gives up
// on them.
func (s *Server) drain(ctx context.Context) error {
	wait, stopWaiting := context.WithCancel(context.Background())
	defer stopWaiting()
	done := make(chan error, 1)
	go func() { done <- s.srv.ShutdownWithContext(wait) }()

	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		s.drainCancel(errDrainCut)
		grace := time.NewTimer(answerGrace)
		select {
		case err = <-done:
		case <-grace.C:
			stopWaiting()
			err = <-done
		}
		grace.Stop()
		if err == nil {
			err = fmt.Errorf("drain: calls still running at the deadline were cancelled: %w", context.Cause(ctx))
		} else {
			err = fmt.Errorf("drain: calls still running %s after the deadline: %w", answerGrace, context.Cause(ctx))
		}
	}
	s.drainCancel(actors.ErrShutdown)
	return err
}

// closeMCP closes the MCP sessions. A session's close waits for its calls,
// and those of 2025 sessions do not follow the request's context: after
// answerGrace the rest of the shutdown goes on without waiting (the calls
// end when their providers stop), so SIGTERM is not held up for as long
// as a call may run.
func (s *Server) closeMCP() {
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		s.mcp.Close()
	}()
	t := time.NewTimer(answerGrace)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
		s.log.Warn("MCP sessions still have calls running; they end when their providers stop")
	}
}
