//go:build !linux

package connwatch

import (
	"context"
	"net"
)

// Watcher watches nothing on this system: hang-ups are not noticed, and
// calls run to their own end.
type Watcher struct{}

// New returns a watcher that watches nothing.
func New() (*Watcher, error) { return &Watcher{}, nil }

// Watch does nothing and returns the zero Token.
func (w *Watcher) Watch(net.Conn, context.CancelCauseFunc) Token { return Token{} }

// Unwatch does nothing.
func (w *Watcher) Unwatch(Token) {}

// Later does nothing and returns nil.
func (w *Watcher) Later(net.Conn, context.CancelCauseFunc) *Deferred { return nil }

// Release does nothing.
func (w *Watcher) Release(*Deferred) {}

// Close does nothing.
func (w *Watcher) Close() error { return nil }
