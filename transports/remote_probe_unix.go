//go:build linux || darwin || freebsd || netbsd || openbsd

package transports

import (
	"errors"
	"syscall"
)

// peekClosed looks, without blocking or consuming anything, at what waits
// on an idle connection's socket: whether the peer closed it (or it
// failed), and whether bytes are pending.
func peekClosed(raw syscall.RawConn) (closed, pending bool) {
	var buf [1]byte
	err := raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK) || errors.Is(rerr, syscall.EINTR):
		case rerr != nil || n == 0:
			closed = true
		default:
			pending = true
		}
		return true
	})
	return closed || err != nil, pending
}
