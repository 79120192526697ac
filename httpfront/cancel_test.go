package httpfront

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/events"
)

// TestClientDisconnectCancelsTheBackendCall closes the client's connection
// while a call hangs in the backend, on each REST call path, and waits for
// the test server to say its call was cancelled (it got
// notifications/cancelled).
func TestClientDisconnectCancelsTheBackendCall(t *testing.T) {
	g := startGateway(t, Options{}, spec("p"))
	expect(t, g.do(t, "POST", "/api/providers/p/tools/echo/call", `{"arguments":{"text":"warm"}}`, "Content-Type", "application/json"), 200, "warm")
	paths := []struct{ name, path, body string }{
		{"/api", "/api/providers/p/tools/hang/call", `{"arguments":{}}`},
		{"/v1", "/v1/mcp/tools/call", `{"server_id":"p","tool_name":"hang","arguments":{}}`},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			sub := g.rt.Hub().Subscribe(func(e *events.Event) bool {
				l, ok := e.Data.(events.ProviderLog)
				return ok && strings.Contains(l.Line, "hang: cancelled")
			}, 8)
			defer sub.Close()
			conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				p.path, strings.TrimPrefix(g.base, "http://"), len(p.body), p.body)
			// The call is in flight once the provider counts it.
			deadline := time.Now().Add(10 * time.Second)
			for {
				info, err := g.rt.Get("p")
				if err != nil {
					t.Fatal(err)
				}
				if info.InFlight > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the hang call never reached the provider")
				}
				time.Sleep(5 * time.Millisecond) // polling a counter, not synchronising on time
			}
			_ = conn.Close()
			select {
			case <-sub.C():
			case <-time.After(10 * time.Second):
				t.Fatal("the backend never heard that the client went away")
			}
		})
	}
}
