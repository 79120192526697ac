package transports

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// scenarioEnv is how the conformance suite tells a client which scenario
// it runs.
const scenarioEnv = "MCP_CONFORMANCE_SCENARIO"

// TestConformanceClientScenarios runs the official MCP conformance suite's
// client scenarios that apply to the remote transport against it: the
// suite starts its own server for each and runs this test binary as the
// client (TestConformanceClient), which connects with StartRemote and
// Handshake as the gateway does. sse-retry checks that a POST stream
// closed before its answer is resumed with Last-Event-ID after the wait
// the server set with its SSE retry field.
func TestConformanceClientScenarios(t *testing.T) {
	node, js := testbin.Conformance(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, scenario := range []string{"initialize", "tools_call", "sse-retry"} {
		t.Run(scenario, func(t *testing.T) {
			out := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, js, "client", "--scenario", scenario, "-o", out,
				"--command", self+" -test.run=^TestConformanceClient$") // #nosec G204 -- the test's own tools
			log, err := cmd.CombinedOutput()
			dirs, _ := filepath.Glob(filepath.Join(out, "*", "checks.json"))
			if len(dirs) != 1 {
				t.Fatalf("%d results from the suite (%v):\n%s", len(dirs), err, log)
			}
			raw, rerr := os.ReadFile(dirs[0])
			if rerr != nil {
				t.Fatal(rerr)
			}
			var checks []struct{ ID, Name, Status, ErrorMessage string }
			if err := json.Unmarshal(raw, &checks); err != nil {
				t.Fatal(err)
			}
			passed := 0
			for _, c := range checks {
				switch c.Status {
				case "FAILURE", "WARNING":
					t.Errorf("%s: %s %s", c.Name, c.Status, c.ErrorMessage)
				case "SUCCESS":
					passed++
				}
			}
			if passed == 0 || err != nil {
				t.Errorf("%d checks passed, suite: %v\n%s", passed, err, log)
			}
		})
	}
}

// TestConformanceClient is the client the conformance suite runs (it is
// skipped otherwise): the remote transport against the URL the suite
// appends to the command line, doing what the scenario asks.
func TestConformanceClient(t *testing.T) {
	scenario := os.Getenv(scenarioEnv)
	if scenario == "" {
		t.Skip("run by TestConformanceClientScenarios")
	}
	if flag.NArg() == 0 {
		t.Fatal("no server URL on the command line")
	}
	url := flag.Arg(flag.NArg() - 1)
	u := startRemote(t, RemoteSpec{Endpoint: url}, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tools, err := u.sess.ListTools(ctx)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	call := func(name, args string) {
		c := newCall(t)
		if _, err := u.sess.GoCall(name, []byte(args), 15*time.Second, c.cb); err != nil {
			t.Fatalf("tools/call %s: %v", name, err)
		}
		r := c.wait()
		if r.Err != nil {
			t.Fatalf("tools/call %s: %v", name, r.Err)
		}
		t.Logf("tools/call %s: %s", name, r.Result)
	}
	switch scenario {
	case "initialize":
	case "tools_call":
		call("add_numbers", `{"a":5,"b":3}`)
	default:
		// The scenario's server takes any GET during the call for the
		// resumption: the session's own event stream must be open first.
		select {
		case <-u.r.streamUp:
		case <-ctx.Done():
			t.Fatal("the GET event stream did not open")
		}
		for _, tool := range tools {
			if !strings.HasPrefix(tool.Name, "_") {
				call(tool.Name, `{}`)
			}
		}
	}
}
