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
// Later is Watch for calls that mostly end quickly: the connection is only
// registered once the call has run for Delay, by the watcher's own loop,
// so a short call costs no system call and no timer of its own.
//
// On Linux the watcher is an epoll instance waiting for EPOLLRDHUP; on
// other systems it watches nothing.
package connwatch

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
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

// Delay is how long a call registered with Later runs before its
// connection is watched; the watch begins between Delay and twice Delay.
const Delay = 2 * time.Millisecond

// sweepEvery is how often the loop looks for registrations that are due;
// idleSweeps sweeps in a row with nothing to do put it to sleep until the
// next registration.
const (
	sweepEvery = Delay
	idleSweeps = 500
)

// Deferred is a registration made by Later.
type Deferred struct {
	conn   net.Conn
	cancel context.CancelCauseFunc
	due    int64 // monotonic nanoseconds

	mu    sync.Mutex
	ended bool
	tok   Token
}

var epoch = time.Now()

// monotonic is the time since the process began, in nanoseconds, from the
// monotonic clock.
func monotonic() int64 { return int64(time.Since(epoch)) }
