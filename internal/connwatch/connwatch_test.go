//go:build linux

package connwatch

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair is one TCP connection over loopback: the client's end and the
// server's end, the one a watcher registers.
type pair struct{ client, server *net.TCPConn }

func dialPair(t *testing.T, ln *net.TCPListener) pair {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
	return pair{client: c, server: s}
}

func listen(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func newWatcher(t *testing.T) *Watcher {
	t.Helper()
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return w
}

// fired waits up to d for ctx to be cancelled and reports whether it was.
func fired(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return true
	case <-time.After(d):
		return false
	}
}

// TestHangUpCancels: a client that closes its end, or only shuts down its
// sending side, cancels its call with ErrDisconnected; a client that keeps
// its connection open, even one sending more data, does not.
func TestHangUpCancels(t *testing.T) {
	w := newWatcher(t)
	ln := listen(t)

	open, chatty, closing, halfClosing := dialPair(t, ln), dialPair(t, ln), dialPair(t, ln), dialPair(t, ln)
	ctxs := make([]context.Context, 4)
	tokens := make([]Token, 4)
	for i, p := range []pair{open, chatty, closing, halfClosing} {
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		ctxs[i] = ctx
		tokens[i] = w.Watch(p.server, cancel)
		if tokens[i].rc == nil {
			t.Fatalf("connection %d was not watched", i)
		}
	}
	// A pipelined request arrives: data, not a hang-up.
	if _, err := chatty.client.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := closing.client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := halfClosing.client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	for i, name := range map[int]string{2: "closed", 3: "half-closed"} {
		if !fired(ctxs[i], 10*time.Second) {
			t.Fatalf("%s client: call not cancelled", name)
		}
		if cause := context.Cause(ctxs[i]); !errors.Is(cause, ErrDisconnected) || !errors.Is(cause, context.Canceled) {
			t.Fatalf("%s client: cause %v", name, cause)
		}
	}
	// Both hang-ups were handled, and the chatty client's data was
	// written before them: neither open connection fired.
	for i, name := range map[int]string{0: "open", 1: "chatty"} {
		if ctxs[i].Err() != nil {
			t.Fatalf("%s client: cancelled: %v", name, context.Cause(ctxs[i]))
		}
	}
	for _, tok := range tokens {
		w.Unwatch(tok)
	}
}

// TestUnwatchedNeverFires: after Unwatch, a hang-up cancels nothing, and
// the connection can be watched again (keep-alive: the next call).
func TestUnwatchedNeverFires(t *testing.T) {
	w := newWatcher(t)
	ln := listen(t)
	stopped, witness := dialPair(t, ln), dialPair(t, ln)

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w.Unwatch(w.Watch(stopped.server, cancel))
	// The same connection serves a second call, unwatched in turn.
	tok := w.Watch(stopped.server, cancel)
	if tok.rc == nil {
		t.Fatal("a connection unwatched could not be watched again")
	}
	w.Unwatch(tok)

	wctx, wcancel := context.WithCancelCause(context.Background())
	defer wcancel(nil)
	wtok := w.Watch(witness.server, wcancel)
	defer w.Unwatch(wtok)
	if err := stopped.client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := witness.client.Close(); err != nil {
		t.Fatal(err)
	}
	// The witness hung up after the stopped one: once it fired, the
	// stopped one's hang-up has been seen too, had it been watched.
	if !fired(wctx, 10*time.Second) {
		t.Fatal("witness not cancelled")
	}
	if ctx.Err() != nil {
		t.Fatalf("an unwatched connection cancelled its call: %v", context.Cause(ctx))
	}
}

// TestClosedWatcher: a closed (or nil) watcher accepts Watch and Unwatch
// and does nothing; closing twice is fine; a connection that is not a
// socket is not watched.
func TestClosedWatcher(t *testing.T) {
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	p := dialPair(t, ln)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	tok := w.Watch(p.server, cancel)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	w.Unwatch(tok)
	if got := w.Watch(p.server, cancel); got.rc != nil {
		t.Fatal("a closed watcher registered a connection")
	}
	var none *Watcher
	none.Unwatch(none.Watch(p.server, cancel))
	if err := none.Close(); err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer func() { _ = a.Close(); _ = b.Close() }()
	w2 := newWatcher(t)
	if got := w2.Watch(a, cancel); got.rc != nil {
		t.Fatal("a pipe was watched")
	}
	_ = p.client.Close()
	if ctx.Err() != nil {
		t.Fatal("a closed watcher cancelled a call")
	}
}

// eventually waits up to 10 s for cond, checking it every millisecond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (w *Watcher) held() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.later)
}

func (d *Deferred) watching() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tok.rc != nil
}

// TestLater: a registration made with Later is watched once it is due,
// also when its client hung up before; one released first never fires and
// leaves nothing behind; a loop asleep after idling wakes for the next
// registration; one released after its watch began is unwatched.
func TestLater(t *testing.T) {
	w := newWatcher(t)
	ln := listen(t)

	early, quick, slow, witness := dialPair(t, ln), dialPair(t, ln), dialPair(t, ln), dialPair(t, ln)
	// A hang-up before the watch begins is reported once it does.
	ectx, ecancel := context.WithCancelCause(context.Background())
	defer ecancel(nil)
	if err := early.client.Close(); err != nil {
		t.Fatal(err)
	}
	ed := w.Later(early.server, ecancel)
	if !fired(ectx, 10*time.Second) {
		t.Fatal("early hang-up: call not cancelled")
	}
	if cause := context.Cause(ectx); !errors.Is(cause, ErrDisconnected) {
		t.Fatalf("early hang-up: cause %v", cause)
	}
	w.Release(ed)

	// A call released before it is due is never watched.
	qctx, qcancel := context.WithCancelCause(context.Background())
	defer qcancel(nil)
	w.Release(w.Later(quick.server, qcancel))
	if n := w.held(); n != 0 {
		t.Fatalf("%d registrations held after release", n)
	}

	// Idle, the loop sleeps; the next registration wakes it.
	eventually(t, "the loop to sleep", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.asleep })
	sctx, scancel := context.WithCancelCause(context.Background())
	defer scancel(nil)
	sd := w.Later(slow.server, scancel)
	eventually(t, "the slow call to be watched", sd.watching)
	w.Release(sd)

	wctx, wcancel := context.WithCancelCause(context.Background())
	defer wcancel(nil)
	wd := w.Later(witness.server, wcancel)
	eventually(t, "the witness to be watched", wd.watching)
	defer w.Release(wd)
	for _, c := range []*net.TCPConn{quick.client, slow.client, witness.client} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The witness hung up last: once it fired, the others' hang-ups have
	// been seen too, had they still been watched.
	if !fired(wctx, 10*time.Second) {
		t.Fatal("witness not cancelled")
	}
	for name, ctx := range map[string]context.Context{"released early": qctx, "released after the watch began": sctx} {
		if ctx.Err() != nil {
			t.Fatalf("%s: cancelled: %v", name, context.Cause(ctx))
		}
	}
	var none *Watcher
	none.Release(none.Later(witness.server, wcancel))
}
