//go:build linux

package connwatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// wakeID is the epoll data of the eventfd that tells the loop to stop;
// registrations get ids from 1 on.
const wakeID = 0

// Watcher watches registered connections for a hang-up of their peer.
// Its methods are safe for concurrent use; a nil *Watcher watches nothing.
type Watcher struct {
	epfd int
	wake int // eventfd written by Close

	// ctl is held shared around every epoll_ctl and exclusively by
	// Close, so no registration touches a closed epoll descriptor.
	ctl    sync.RWMutex
	closed bool

	mu   sync.Mutex
	next uint32
	regs map[uint32]context.CancelCauseFunc
	// later holds the registrations made by Later that are not yet due;
	// the loop sweeps them every sweepEvery while any are held or any
	// came recently, and otherwise sleeps (asleep) until one comes.
	later  map[*Deferred]struct{}
	due    []*Deferred // the sweep's scratch list, owned by the loop
	active bool        // a registration came since the last sweep
	idle   int         // sweeps in a row with nothing held or coming
	asleep bool

	done chan struct{}
}

// New starts a watcher: one goroutine waiting on an epoll instance. Close
// stops it.
func New() (*Watcher, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("connwatch: epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("connwatch: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeID}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = unix.Close(wake)
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("connwatch: epoll_ctl: %w", err)
	}
	w := &Watcher{epfd: epfd, wake: wake, regs: make(map[uint32]context.CancelCauseFunc), later: make(map[*Deferred]struct{}), asleep: true, done: make(chan struct{})}
	go w.loop()
	return w, nil
}

// Watch registers c: if its peer hangs up before Unwatch, cancel is called
// once with ErrDisconnected. A connection without a socket underneath (or
// a watcher that is closed or nil) is not watched, and the zero Token is
// returned.
func (w *Watcher) Watch(c net.Conn, cancel context.CancelCauseFunc) Token {
	if w == nil {
		return Token{}
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return Token{}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return Token{}
	}
	w.mu.Lock()
	w.next++
	if w.next == wakeID {
		w.next++
	}
	id := w.next
	w.regs[id] = cancel
	w.mu.Unlock()

	var ctlErr error
	w.ctl.RLock()
	if w.closed {
		ctlErr = net.ErrClosed
	} else {
		// EPOLLRDHUP: the peer closed or shut down writing; EPOLLHUP and
		// EPOLLERR are always reported. EPOLLONESHOT fires it once.
		ev := unix.EpollEvent{Events: unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(id)} // #nosec G115 -- an id, carried bit for bit
		err = rc.Control(func(fd uintptr) {
			ctlErr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) // #nosec G115 -- a file descriptor
		})
	}
	w.ctl.RUnlock()
	if err != nil || ctlErr != nil {
		w.forget(id)
		return Token{}
	}
	return Token{id: id, rc: rc}
}

// Unwatch ends a registration made by Watch; after it returns the cancel
// function is not called any more (unless it already was). It must be
// called while the connection is still open.
func (w *Watcher) Unwatch(t Token) {
	if w == nil || t.rc == nil {
		return
	}
	w.forget(t.id)
	w.ctl.RLock()
	if !w.closed {
		_ = t.rc.Control(func(fd uintptr) {
			_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) // #nosec G115 -- a file descriptor
		})
	}
	w.ctl.RUnlock()
}

// Later registers c to be watched as Watch would, once Delay has passed:
// most calls end sooner, and then cost a map entry and no system call or
// timer. A client that hung up before the watch begins is reported as
// soon as it does. Release ends the registration; a nil watcher returns
// nil, which Release accepts.
func (w *Watcher) Later(c net.Conn, cancel context.CancelCauseFunc) *Deferred {
	if w == nil {
		return nil
	}
	d := &Deferred{conn: c, cancel: cancel, due: monotonic() + int64(Delay)}
	w.mu.Lock()
	w.later[d] = struct{}{}
	w.active = true
	wake := w.asleep
	w.asleep = false
	w.mu.Unlock()
	if wake {
		w.ctl.RLock()
		if !w.closed {
			one := [8]byte{1}
			_, _ = unix.Write(w.wake, one[:])
		}
		w.ctl.RUnlock()
	}
	return d
}

// Release ends a registration made by Later; after it returns the cancel
// function is not called any more (unless it already was). It must be
// called while the connection is still open.
func (w *Watcher) Release(d *Deferred) {
	if w == nil || d == nil {
		return
	}
	d.mu.Lock()
	d.ended = true
	tok := d.tok
	d.mu.Unlock()
	if tok.rc == nil {
		w.mu.Lock()
		delete(w.later, d)
		w.mu.Unlock()
		return
	}
	w.Unwatch(tok)
}

// sweep starts watching the registrations made by Later that are due,
// and returns how long the loop may wait for the next sweep (-1: until a
// registration wakes it).
func (w *Watcher) sweep() int {
	now := monotonic()
	w.mu.Lock()
	for d := range w.later {
		if d.due <= now {
			w.due = append(w.due, d)
			delete(w.later, d)
		}
	}
	if len(w.later) > 0 || w.active {
		w.idle = 0
	} else {
		w.idle++
	}
	w.active = false
	timeout := int(sweepEvery / time.Millisecond)
	if len(w.later) == 0 && w.idle >= idleSweeps {
		w.asleep, timeout = true, -1
	}
	w.mu.Unlock()
	for i, d := range w.due {
		d.mu.Lock()
		if !d.ended {
			d.tok = w.Watch(d.conn, d.cancel)
		}
		d.mu.Unlock()
		w.due[i] = nil
	}
	w.due = w.due[:0]
	return timeout
}

// forget removes a registration and returns its cancel function (nil when
// it was already gone).
func (w *Watcher) forget(id uint32) context.CancelCauseFunc {
	w.mu.Lock()
	cancel := w.regs[id]
	delete(w.regs, id)
	w.mu.Unlock()
	return cancel
}

// Close stops the watcher and waits for its goroutine. Registrations still
// open are dropped without being cancelled.
func (w *Watcher) Close() error {
	if w == nil {
		return nil
	}
	w.ctl.Lock()
	if w.closed {
		w.ctl.Unlock()
		return nil
	}
	w.closed = true
	one := [8]byte{1}
	_, err := unix.Write(w.wake, one[:])
	w.ctl.Unlock()
	if err != nil {
		return fmt.Errorf("connwatch: waking the loop: %w", err)
	}
	<-w.done
	w.mu.Lock()
	clear(w.regs)
	clear(w.later)
	w.mu.Unlock()
	return errors.Join(unix.Close(w.epfd), unix.Close(w.wake))
}

func (w *Watcher) loop() {
	defer close(w.done)
	events := make([]unix.EpollEvent, 64)
	timeout := -1
	for {
		n, err := unix.EpollWait(w.epfd, events, timeout)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for i := range events[:n] {
			id := uint32(events[i].Fd) // #nosec G115 -- the id Watch stored
			if id == wakeID {
				// Close, or Later waking a sleeping loop.
				var buf [8]byte
				_, _ = unix.Read(w.wake, buf[:])
				w.ctl.RLock()
				closed := w.closed
				w.ctl.RUnlock()
				if closed {
					return
				}
				continue
			}
			if cancel := w.forget(id); cancel != nil {
				cancel(ErrDisconnected)
			}
		}
		timeout = w.sweep()
	}
}
