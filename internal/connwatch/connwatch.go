// Package connwatch notices clients that hang up while their request is
// still being worked on, so the work can be cancelled instead of running
// to its end for nobody.
//
// A Watcher is one goroutine for a whole server, not one per request: a
// handler registers its connection with Watch when a call starts and
// removes it with Unwatch when the call ends. When the peer closes the
// connection (or shuts down its sending side) in between, the watcher
// calls the registered cancel function once, with ErrDisconnected as the
// cause. Data arriving on the connection (a pipelined request) does not
// count as a hang-up.
//
// On Linux the watcher is an epoll instance waiting for EPOLLRDHUP; on
// other systems it watches nothing.
package connwatch

import (
	"context"
	"fmt"
	"syscall"
)

// ErrDisconnected is the cause a watched call's context is cancelled with
// when its client hangs up. It wraps context.Canceled.
var ErrDisconnected = fmt.Errorf("client disconnected: %w", context.Canceled)

// Token names one registration; the zero Token (a connection that could
// not be watched) is accepted by Unwatch and does nothing.
type Token struct {
	id uint32
	rc syscall.RawConn
}
