//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package transports

import "syscall"

// peekClosed cannot look at a socket here: a connection closed by its
// peer shows at its next use, and that exchange is tried once more.
func peekClosed(syscall.RawConn) (closed, pending bool) { return false, false }
