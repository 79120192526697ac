package transports

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// legacyConn is one connection of the legacy HTTP+SSE transport: an event
// stream that carries every message from the server, and the URL its
// endpoint event named for the messages to the server.
type legacyConn struct {
	gen     int
	ready   chan struct{} // closed once postURL is usable, or err says why not
	once    sync.Once
	postURL string
	err     error
	cancel  context.CancelFunc // ends the stream
	closed  bool               // the stream has ended; guarded by Remote.mu
}

// settle makes the connection usable (err nil) or failed.
func (lc *legacyConn) settle(postURL string, err error) {
	lc.once.Do(func() {
		lc.postURL, lc.err = postURL, err
		close(lc.ready)
	})
}

// startLegacy connects to a legacy server's event stream and keeps it
// connected from then on. It returns once the first endpoint event has
// come, or with the reason none came.
func (r *Remote) startLegacy() error {
	first := make(chan error, 1)
	if !r.spawn(func() { r.legacyLoop(first) }) {
		return errRemoteStopped
	}
	return <-first
}

// legacyLoop keeps the event stream connected, with backoff. A new
// connection is a new session on the server: the initialize handshake seen
// so far is replayed on it.
func (r *Remote) legacyLoop(first chan<- error) {
	attempt := 0
	for gen := 1; ; gen++ {
		ctx, cancel := context.WithCancel(r.ctx)
		lc := &legacyConn{gen: gen, ready: make(chan struct{}), cancel: cancel}
		r.mu.Lock()
		r.legacy = lc
		r.mu.Unlock()
		opened := time.Now()
		connected, err := r.legacyStream(ctx, lc, first)
		cancel()
		if err == nil {
			err = errors.New("stream ended")
		}
		err = fmt.Errorf("remote event stream: %w", err)
		lc.settle("", err)
		r.legacyClosed(lc, err)
		if first != nil && !connected {
			first <- err
			return
		}
		first = nil
		if r.ctx.Err() != nil {
			return
		}
		if connected && time.Since(opened) > streamSettled {
			attempt = 0
		}
		if !r.pause(r.ctx, attempt, 0) {
			return
		}
		attempt++
	}
}

// legacyStream connects the event stream once and relays its messages
// until it ends. It reports whether the endpoint event came. On the first
// connection (first not nil) it reports the endpoint on first.
func (r *Remote) legacyStream(ctx context.Context, lc *legacyConn, first chan<- error) (connected bool, err error) {
	timer := time.AfterFunc(legacyConnectTimeout, lc.cancel)
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.endpoint.String(), nil)
	if err != nil {
		return false, err
	}
	r.setStatic(req.Header)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := r.client.Do(req)
	if err != nil {
		return false, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		body, _ := readBody(resp.Body, maxErrorBody)
		return false, errors.New(httpStatusMessage(resp, body))
	}
	if mt := respMediaType(resp); mt != "text/event-stream" {
		return false, fmt.Errorf("GET answered %q, not an event stream", mt)
	}
	sr := newSSEReader(resp.Body, r.maxMsg)
	for {
		ev, err := sr.next()
		if err != nil {
			if !connected && ctx.Err() != nil && r.ctx.Err() == nil {
				err = fmt.Errorf("no endpoint event within %v", legacyConnectTimeout)
			}
			return connected, err
		}
		switch {
		case ev.event == "endpoint":
			if connected {
				continue
			}
			u, err := r.legacyEndpoint(string(ev.data))
			if err != nil {
				return false, err
			}
			timer.Stop()
			connected = true
			r.mu.Lock()
			init, inited := r.initMsg, r.initedMsg
			r.mu.Unlock()
			if first == nil && init != nil {
				if !r.spawn(func() { r.legacyReplay(lc, u, init, inited) }) {
					return connected, errRemoteStopped
				}
			} else {
				lc.settle(u, nil)
			}
			if first != nil {
				first <- nil
				first = nil
			}
		case ev.tooLarge:
			r.tooLargeEvent(ev.prefix, nil)
		case isMessageEvent(ev):
			r.deliverData(ev.data, nil)
		}
	}
}

// legacyEndpoint resolves an endpoint event against the stream's URL. It
// must stay on the stream's origin: the configured headers and token go
// with every POST.
func (r *Remote) legacyEndpoint(data string) (string, error) {
	u, err := r.endpoint.Parse(strings.TrimSpace(data))
	if err != nil {
		return "", fmt.Errorf("endpoint event %q: %w", data, err)
	}
	if u.Scheme != r.endpoint.Scheme || u.Host != r.endpoint.Host {
		return "", fmt.Errorf("endpoint event names another origin (%s)", u.Redacted())
	}
	return u.String(), nil
}

// legacyClosed notes the end of a stream: the requests posted on it will
// get no answer, so they fail now.
func (r *Remote) legacyClosed(lc *legacyConn, err error) {
	r.mu.Lock()
	lc.closed = true
	var lost []*remoteCall
	for _, c := range r.calls {
		if c.legacyGen == lc.gen {
			lost = append(lost, c)
		}
	}
	r.mu.Unlock()
	for _, c := range lost {
		r.failCall(c, "answer lost: "+err.Error(), true)
	}
}

// legacyReplay re-initialises the session of a new connection before it is
// used, or drops the connection to try again.
func (r *Remote) legacyReplay(lc *legacyConn, postURL string, init, inited []byte) {
	if err := r.legacyReinit(lc, postURL, init, inited); err != nil {
		lc.settle("", fmt.Errorf("re-initialising the remote session: %w", err))
		lc.cancel()
		return
	}
	lc.settle(postURL, nil)
	r.progress("session re-established")
}

func (r *Remote) legacyReinit(lc *legacyConn, postURL string, init, inited []byte) error {
	ctx, cancel := context.WithTimeout(r.ctx, remoteReinitTimeout)
	defer cancel()
	c, m, err := r.replayCall(init)
	if err != nil {
		return err
	}
	defer r.abandonCall(c)
	r.mu.Lock()
	closed := lc.closed
	c.legacyGen = lc.gen
	r.mu.Unlock()
	if closed {
		return errors.New("stream ended")
	}
	if err := r.legacyPost(ctx, postURL, m); err != nil {
		return err
	}
	select {
	case <-c.answered:
	case <-ctx.Done():
		return errors.New("the replayed initialize got no answer")
	}
	if err := rpcReplyError(c.reply); err != nil {
		return err
	}
	if inited == nil {
		return nil
	}
	im, err := parseRemoteMsg(inited)
	if err != nil {
		return err
	}
	return r.legacyPost(ctx, postURL, im)
}

// legacyPost posts a message whose answer comes on the stream.
func (r *Remote) legacyPost(ctx context.Context, postURL string, m *remoteMsg) error {
	resp, _, err := r.post(ctx, postURL, m, "", false)
	if err != nil {
		return err
	}
	defer discardBody(resp)
	if resp.StatusCode/100 != 2 {
		body, _ := readBody(resp.Body, maxErrorBody)
		return errors.New(httpStatusMessage(resp, body))
	}
	return nil
}

// sendLegacy posts a message to the current connection's endpoint. The
// answer comes on the stream; it reports whether the request stays
// registered for it.
func (r *Remote) sendLegacy(ctx context.Context, m *remoteMsg, c *remoteCall) bool {
	r.mu.Lock()
	lc := r.legacy
	r.mu.Unlock()
	select {
	case <-lc.ready:
	case <-ctx.Done():
		return false
	}
	if lc.err != nil {
		r.failCall(c, lc.err.Error(), false)
		return false
	}
	r.mu.Lock()
	closed := lc.closed
	if c != nil && !closed {
		c.legacyGen = lc.gen
	}
	r.mu.Unlock()
	if closed {
		r.failCall(c, "remote event stream lost; reconnecting", false)
		return false
	}
	resp, wrote, err := r.post(ctx, lc.postURL, m, "", false)
	if err != nil {
		if ctx.Err() == nil {
			r.failCall(c, "remote endpoint unreachable: "+err.Error(), wrote)
		}
		return false
	}
	defer discardBody(resp)
	if resp.StatusCode/100 != 2 {
		body, _ := readBody(resp.Body, maxErrorBody)
		if c != nil && !r.relayError(body, c) {
			r.failCall(c, httpStatusMessage(resp, body), resp.StatusCode >= 500)
		}
		return false
	}
	return c != nil
}
