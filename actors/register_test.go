package actors

import (
	"context"
	"errors"
	"github.com/switchyard-mcp/switchyard/config"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
	"github.com/switchyard-mcp/switchyard/transports"
)

// silentServer accepts connections and never answers on them. Accepted
// receives once per connection; the connections are closed at the end of
// the test.
type silentServer struct {
	ln       net.Listener
	accepted chan struct{}
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

func startSilent(t *testing.T) *silentServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{ln: ln, accepted: make(chan struct{}, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_, _ = io.Copy(io.Discard, c) // read the request, answer nothing
			}()
			select {
			case s.accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// TestRegistrationWaitsForNoOther: a registration whose server never
// answers the handshake holds up neither a registration of another server
// of the same tenant nor one of another tenant.
func TestRegistrationWaitsForNoOther(t *testing.T) {
	rt := newRT(t)
	silent := startSilent(t)
	defaults := DefaultSpec("x", config.ModeRemote)
	defaults.CallTimeout = 5 * time.Second
	hung := make(chan error, 1)
	go func() {
		_, err := rt.RegisterServer(context.Background(), ServerRegistration{
			ID: "hung", URL: "http://" + silent.ln.Addr().String() + "/mcp", Tenant: "alpha", Defaults: defaults,
		})
		hung <- err
	}()
	select {
	case <-silent.accepted: // the first registration is in its network I/O
	case err := <-hung:
		t.Fatalf("the registration of a silent server returned: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the silent server was never contacted")
	}

	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	for _, tenant := range []string{"alpha", "beta"} {
		done := make(chan error, 1)
		go func() {
			_, err := rt.RegisterServer(context.Background(), ServerRegistration{URL: srv.URL(), Tenant: tenant, Defaults: defaults})
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("registration in %s: %v", tenant, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("a registration in %s waited for the silent server's", tenant)
		}
	}
	select {
	case err := <-hung:
		t.Fatalf("the silent server's registration returned: %v", err)
	default:
	}
	if n := len(rt.TenantServers("alpha")); n != 2 {
		t.Fatalf("alpha has %d servers, want the committed one and the one in progress", n)
	}

	// Removing the provider ends the registration in progress.
	if err := rt.Delete("hung"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-hung:
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("the silent server's registration: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the silent server's registration did not end with its provider")
	}
}

// gatedProxy forwards connections to backend once open is closed; until
// then it holds them unanswered.
type gatedProxy struct {
	ln       net.Listener
	open     chan struct{}
	accepted chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startGated(t *testing.T, backend string) *gatedProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &gatedProxy{ln: ln, open: make(chan struct{}), accepted: make(chan struct{}, 16)}
	track := func(c net.Conn) {
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			select {
			case p.accepted <- struct{}{}:
			default:
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				<-p.open
				b, err := net.Dial("tcp", backend)
				if err != nil {
					_ = c.Close()
					return
				}
				track(b)
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					_, _ = io.Copy(b, c)
				}()
				_, _ = io.Copy(c, b)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case <-p.open:
		default:
			close(p.open)
		}
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// TestRegistrationCommitRechecksCollisions: a registration that learns its
// tools while another one of the tenant claims one of their names is
// refused when it commits, and leaves nothing behind.
func TestRegistrationCommitRechecksCollisions(t *testing.T) {
	rt := newRT(t)
	srv := testbin.StartHTTP(t, "127.0.0.1:0", false)
	gate := startGated(t, srv.Addr)
	defaults := DefaultSpec("x", config.ModeRemote)
	defaults.CallTimeout = 5 * time.Second
	slow := make(chan error, 1)
	go func() {
		_, err := rt.RegisterServer(context.Background(), ServerRegistration{
			ID: "slow", URL: "http://" + gate.ln.Addr().String() + "/mcp", Tenant: "alpha", Defaults: defaults,
		})
		slow <- err
	}()
	select {
	case <-gate.accepted:
	case err := <-slow:
		t.Fatalf("the gated registration returned: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the gated server was never contacted")
	}
	// While it waits, another server of alpha declares echo.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := rt.RegisterServer(ctx, ServerRegistration{
		ID: "quick", URL: "http://127.0.0.1:1/mcp", Tenant: "alpha", Defaults: defaults,
		Tools: []transports.Tool{{Name: "echo", Description: "Returns its text argument."}},
	}); err != nil {
		t.Fatalf("declared registration: %v", err)
	}
	close(gate.open)
	var coll *CollisionError
	select {
	case err := <-slow:
		if !errors.As(err, &coll) || !slices.Equal(coll.Names, []string{"echo"}) {
			t.Fatalf("the gated registration: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the gated registration did not end")
	}
	if list := rt.TenantServers("alpha"); len(list) != 1 || list[0].Spec.ID != "quick" {
		t.Fatalf("alpha's servers after the refused commit: %d", len(list))
	}
}
