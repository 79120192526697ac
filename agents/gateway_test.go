package agents

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-mcp/switchyard/events"
)

// newGateway builds a gateway on an actor system of its own, with no call
// pipeline behind it, and ends both at the end of the test.
func newGateway(t *testing.T, o GatewayOptions) *Gateway {
	t.Helper()
	// A short dead-letter throttle ends its goroutine before the leak
	// check; the discarded logger keeps protoactor quiet.
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
		actor.WithDeadLetterThrottleInterval(50*time.Millisecond),
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	g := New(Deps{
		System:  system,
		Hub:     events.NewHub(),
		Metrics: metrics.NewSet(),
		Track: func(f func()) {
			wg.Add(1)
			go func() { defer wg.Done(); f() }()
		},
		Context: ctx,
	}, o)
	t.Cleanup(func() {
		cancel()
		g.Stop()
		wg.Wait()
		system.Shutdown()
	})
	return g
}

func TestPolicyHostAllowed(t *testing.T) {
	p := &Policy{AllowedNetworkHosts: []string{"api.example.com", "*.corp.test"}}
	for url, ok := range map[string]bool{
		"https://api.example.com/mcp":     true,
		"https://API.example.com:8443/x":  true,
		"http://other.example.com/":       false,
		"http://a.corp.test/":             true,
		"http://deep.a.corp.test/":        true,
		"http://corp.test/":               false,
		"http://evilcorp.test/":           false,
		"http://api.example.com.evil.io/": false,
	} {
		err := p.HostAllowed(url)
		if (err == nil) != ok {
			t.Errorf("%s: err %v, want allowed=%v", url, err, ok)
		}
		if err != nil && !errors.Is(err, ErrHostNotAllowed) {
			t.Errorf("%s: %v is not ErrHostNotAllowed", url, err)
		}
	}
	if err := (&Policy{}).HostAllowed("http://anything/"); err != nil {
		t.Errorf("an empty list allows every host: %v", err)
	}
}

func TestEndedSessionsArePruned(t *testing.T) {
	rt := newGateway(t, GatewayOptions{KeepEnded: 2})
	var ids []string
	for i := 0; i < 5; i++ {
		s, err := rt.CreateSession(SessionSpec{Tenant: "t", Allowlist: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	for _, id := range ids {
		if _, err := rt.TerminateSession("t", "p", id); err != nil {
			t.Fatal(err)
		}
	}
	list := rt.Sessions("t")
	if len(list) != 2 || list[0].ID != ids[3] || list[1].ID != ids[4] {
		t.Fatalf("kept %d sessions: %+v", len(list), list)
	}
	if _, err := rt.Session("t", ids[0]); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("pruned session: %v", err)
	}
	if _, err := rt.Session("u", ids[4]); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("another tenant reads a session: %v", err)
	}
}

func TestGatewayOptionsDefaults(t *testing.T) {
	o := GatewayOptions{ApprovalTTL: 1500 * time.Millisecond, MaxChainDepth: 3}.withDefaults()
	if o.ApprovalTTL != 1500*time.Millisecond || o.MaxChainDepth != 3 {
		t.Fatalf("set fields: %+v", o)
	}
	if o.SessionIdleTTL != 30*time.Minute || o.SendWait != 60*time.Second || o.KeepEnded != 1000 {
		t.Fatalf("defaults: %+v", o)
	}
}
