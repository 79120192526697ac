package actors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

func remoteSpec(id, url string) Spec {
	s := fastSpec(id)
	s.Mode = "remote"
	s.Command = nil
	s.Endpoint = url
	s.HealthInterval = 50 * time.Millisecond
	s.DegradedAfter = 2
	return s
}

// TestRemoteDegradesAndRecovers takes a remote server down and up again:
// the provider degrades, calls fail at once, and it recovers by itself.
func TestRemoteDegradesAndRecovers(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		name := "stateful"
		if stateless {
			name = "stateless"
		}
		t.Run(name, func(t *testing.T) {
			rt := newRT(t)
			sub := watch(t, rt)
			srv := testbin.StartHTTP(t, "127.0.0.1:0", stateless)
			if err := rt.Create(remoteSpec("far", srv.URL())); err != nil {
				t.Fatal(err)
			}
			if got := text(t, call(t, rt, "far", "echo", `{"text":"over http"}`)); got != "over http" {
				t.Fatalf("echo = %q", got)
			}
			if b := mustInfo(t, rt, "far").Backend; b == nil || b.Endpoint != srv.URL() {
				t.Fatalf("backend %+v", b)
			}

			srv.Stop()
			waitEvent(t, sub, 10*time.Second, "degraded", stateIs("far", StateDegraded))
			begin := time.Now()
			if _, err := rt.callDirect(context.Background(), "far", "echo", []byte(`{"text":"x"}`)); !errors.Is(err, ErrBackend) {
				t.Fatalf("call while the server is down: %v", err)
			}
			if d := time.Since(begin); d > 2*time.Second {
				t.Fatalf("a call to a down server took %s; it must fail at once", d)
			}

			testbin.StartHTTP(t, srv.Addr, stateless) // back, at the same address
			waitEvent(t, sub, 15*time.Second, "ready again", stateIs("far", StateReady))
			if got := text(t, call(t, rt, "far", "echo", `{"text":"back"}`)); got != "back" {
				t.Fatalf("echo after recovery = %q", got)
			}
		})
	}
}
