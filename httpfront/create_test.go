package httpfront

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// TestCreateProviderUsesTheFileRules checks that POST /api/providers takes
// the fields of a provider of the configuration file, with the same strict
// rules: unknown keys and wrong types are refused naming field and line.
func TestCreateProviderUsesTheFileRules(t *testing.T) {
	g := startGateway(t, Options{})
	cases := []struct {
		body, want string
	}{
		{`{"provider_id":"x","mode":"subprocess","command":["a"],"idle_ttl":5}`, "idle_ttl"},
		{`{"provider_id":"x","mode":"subprocess","command":"a"}`, "command"},
		{`{"provider_id":"x","mode":"subprocess",` + "\n" + `"command":["a"],"call_timeout_s":"5"}`, "2:"},
		{`{"mode":"subprocess","command":["a"]}`, "provider_id is required"},
		{`{"provider_id":"x","mode":"warp"}`, "mode"},
		{`null`, "must be an object"},
		{`[1]`, "must be an object"},
	}
	for _, c := range cases {
		r := g.do(t, "POST", "/api/providers", c.body, "Content-Type", "application/json")
		expect(t, r, 400, c.body)
		if msg, _ := r.body["message"].(string); !strings.Contains(msg, c.want) {
			t.Errorf("%s: message %q does not name %q", c.body, msg, c.want)
		}
	}
	// A key only the file knew before (restart, call_timeout_s) is taken.
	body := fmt.Sprintf(`{"provider_id":"full","mode":"subprocess","command":[%q],"call_timeout_s":7,"restart":{"max_restarts":2}}`, testbin.Path())
	expect(t, g.do(t, "POST", "/api/providers", body, "Content-Type", "application/json"), 201, "create")
	info, err := g.rt.Get("full")
	if err != nil {
		t.Fatal(err)
	}
	if info.Spec.CallTimeout != 7*time.Second || info.Spec.Restart.MaxRestarts != 2 {
		t.Fatalf("spec = call timeout %s, max restarts %d", info.Spec.CallTimeout, info.Spec.Restart.MaxRestarts)
	}
}
