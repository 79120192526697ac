package httpfront

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// TestConformanceThroughRelay runs every server scenario of the official
// MCP conformance suite (active and pending) against the fixture server
// directly, then through /mcp/{id} with the same server as a subprocess
// provider and as a remote one: every scenario must pass through the
// gateway, with no more warnings than it has directly.
func TestConformanceThroughRelay(t *testing.T) {
	node, js := testbin.Conformance(t)
	bin := testbin.ConfServer(t)
	direct := startConfServer(t, bin)

	g := confGateway(t, bin, direct)

	want := runConformance(t, node, js, direct)
	if len(want) < 30 {
		t.Fatalf("the suite ran %d scenarios directly, want at least 30", len(want))
	}
	for name, r := range want {
		if len(r.failed) > 0 {
			t.Fatalf("the fixture server itself fails %s: %v", name, r.failed)
		}
	}
	for _, id := range []string{"conf", "conf-remote"} {
		t.Run(id, func(t *testing.T) {
			got := runConformance(t, node, js, g.base+"/mcp/"+id)
			for name, w := range want {
				r, ok := got[name]
				switch {
				case !ok:
					t.Errorf("%s: not run through the gateway", name)
				case len(r.failed) > 0:
					t.Errorf("%s fails through /mcp/%s: %s", name, id, strings.Join(r.failed, "; "))
				case r.warnings > w.warnings:
					t.Errorf("%s: %d warnings through /mcp/%s, %d directly", name, r.warnings, id, w.warnings)
				}
			}
		})
	}
}

// confGateway starts a gateway with the fixture server bin as provider
// conf (a subprocess) and the one at endpoint as conf-remote.
func confGateway(t *testing.T, bin, endpoint string) *gateway {
	t.Helper()
	remote := actors.DefaultSpec("conf-remote", config.ModeRemote)
	remote.Endpoint, remote.CallTimeout = endpoint, 30*time.Second
	return startGateway(t, Options{}, subprocess("conf", 30*time.Second, bin), remote)
}

// scenarioResult is what one scenario's checks came to.
type scenarioResult struct {
	failed   []string // "check: message" of each failed check
	warnings int
}

// resultDir is a scenario's results directory: server-{name}-{timestamp}.
var resultDir = regexp.MustCompile(`^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$`)

// runConformance runs the whole server suite against url and returns
// each scenario's result, read from the suite's checks.json files.
func runConformance(t *testing.T, node, js, url string) map[string]scenarioResult {
	t.Helper()
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, js, "server", "--suite", "all", "--url", url, "-o", out) // #nosec G204 -- the test's own tools
	log, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the conformance suite did not finish against %s:\n%s", url, log)
	}
	entries, rerr := os.ReadDir(out)
	if rerr != nil {
		t.Fatal(rerr)
	}
	res := map[string]scenarioResult{}
	for _, e := range entries {
		m := resultDir.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(out, e.Name(), "checks.json"))
		if err != nil {
			t.Fatal(err)
		}
		var checks []struct {
			Name, Status, ErrorMessage string
		}
		if err := json.Unmarshal(raw, &checks); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		var r scenarioResult
		for _, c := range checks {
			switch c.Status {
			case "FAILURE":
				r.failed = append(r.failed, c.Name+": "+c.ErrorMessage)
			case "WARNING":
				r.warnings++
			}
		}
		res[m[1]] = r
	}
	if len(res) == 0 {
		t.Fatalf("no scenario results from the suite against %s (%v):\n%s", url, err, log)
	}
	failed := err != nil
	for _, r := range res {
		failed = failed || len(r.failed) > 0
	}
	if failed {
		t.Logf("conformance suite against %s:\n%s", url, log)
	}
	t.Logf("%d scenarios against %s", len(res), url)
	return res
}

// startConfServer runs the fixture server on streamable HTTP at a free
// loopback port, with extra flags, and returns its endpoint; it is
// stopped with the test.
func startConfServer(t *testing.T, bin string, flags ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--http", "127.0.0.1:0"}, flags...)...) // #nosec G204 -- the test's own server
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := make(chan string, 1)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case a := <-addr:
		return "http://" + a + "/mcp"
	case <-exited:
		t.Fatal("confserver exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("confserver did not listen within 30s")
	}
	return ""
}

// TestRelayResourceUpdates: a client's resources/subscribe through the
// gateway reaches the backend, whether the backend speaks 2026-07-28
// (a subprocess: the provider actor holds a subscriptions/listen stream)
// or a 2025 session (a remote one), and the backend's
// notifications/resources/updated come back to every subscribed client,
// at /mcp/{id} with the backend's URI and at /mcp with the aggregate's
// prefixed URI, for 2025 sessions and 2026-07-28 stateless clients alike.
func TestRelayResourceUpdates(t *testing.T) {
	bin := testbin.ConfServer(t)
	direct := startConfServer(t, bin)
	const watched = "test://watched-resource"
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		// Each path has a provider of its own: the fixture changes the
		// resource only when the backend sees a subscribe, and a stateless
		// client's listen stream is let go only once the gateway notices
		// it has gone.
		var specs []actors.Spec
		for _, id := range []string{"conf-remote", "agg-remote"} {
			remote := actors.DefaultSpec(id, config.ModeRemote)
			remote.Endpoint, remote.CallTimeout = direct, 30*time.Second
			specs = append(specs, remote)
		}
		specs = append(specs, subprocess("conf", 30*time.Second, bin), subprocess("agg", 30*time.Second, bin))
		g := startGateway(t, Options{}, specs...)
		cases := []struct{ path, uri string }{
			{"/mcp/conf", watched},
			{"/mcp/conf-remote", watched},
			{"/mcp", "switchyard://agg/" + watched},
			{"/mcp", "switchyard://agg-remote/" + watched},
		}
		for _, c := range cases {
			t.Run(version+" "+c.path+" "+c.uri, func(t *testing.T) {
				updated := make(chan string, 8)
				cl := sdk.NewClient(&sdk.Implementation{Name: "subscriber", Version: "1"}, &sdk.ClientOptions{
					ResourceUpdatedHandler: func(_ context.Context, r *sdk.ResourceUpdatedNotificationRequest) {
						updated <- r.Params.URI
					},
				})
				ctx := callCtx(t)
				cs, err := cl.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: g.base + c.path, MaxRetries: -1},
					&sdk.ClientSessionOptions{ProtocolVersion: version})
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer func() { _ = cs.Close() }()
				if caps := cs.InitializeResult().Capabilities; caps.Resources == nil || !caps.Resources.Subscribe {
					t.Fatalf("capabilities %+v: resources.subscribe not advertised", caps.Resources)
				}
				if err := cs.Subscribe(ctx, &sdk.SubscribeParams{URI: c.uri}); err != nil {
					t.Fatalf("resources/subscribe %s: %v", c.uri, err)
				}
				select {
				case got := <-updated:
					if got != c.uri {
						t.Fatalf("notifications/resources/updated for %q, want %q", got, c.uri)
					}
				case <-ctx.Done():
					t.Fatalf("no notifications/resources/updated for %s", c.uri)
				}
				read, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: c.uri})
				if err != nil || len(read.Contents) != 1 || !strings.Contains(read.Contents[0].Text, "version") {
					t.Fatalf("resources/read after the update: %v %+v", err, read)
				}
				if err := cs.Unsubscribe(ctx, &sdk.UnsubscribeParams{URI: c.uri}); err != nil {
					t.Fatalf("resources/unsubscribe: %v", err)
				}
				// The backend's refusal of an unknown resource reaches a
				// 2025 client (a stateless client's Subscribe does not
				// wait for its listen stream's answer).
				unknown := strings.TrimSuffix(c.uri, watched) + "test://no-such-resource"
				if err := cs.Subscribe(ctx, &sdk.SubscribeParams{URI: unknown}); err == nil && version != "2026-07-28" {
					t.Fatalf("subscribing to %s: no error", unknown)
				}
			})
		}
	}
}
