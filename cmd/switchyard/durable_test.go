package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// api sends a request with the admin key and returns the status and body.
func api(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", "k")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeRestartKeepsAPIProviders runs the real binary on one data dir
// three times: a provider created over the API is there, cold, after a
// restart, and so are a group with the members it was given, the
// tenant's policy (a held tool is held again) and an A2A agent; a provider
// deleted over the API stays deleted; a provider the config file gains
// meanwhile wins over the stored one of the same id.
func TestServeRestartKeepsAPIProviders(t *testing.T) {
	data := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("providers:\n  file:\n    mode: subprocess\n    command: [%q]\n", testServer))
	gw := startServe(t, cfg, data, "SWITCHYARD_ADMIN_KEY=k")
	for _, id := range []string{"kept", "gone", "both"} {
		body := fmt.Sprintf(`{"provider_id":%q,"mode":"subprocess","command":[%q],"description":"api %s"}`, id, testServer, id)
		if st, b := api(t, "POST", gw.base+"/api/providers", body); st != 201 {
			t.Fatalf("create %s: %d %s", id, st, b)
		}
	}
	if st, b := api(t, "POST", gw.base+"/api/providers/kept/tools/echo/call", `{"arguments":{"text":"before"}}`); st != 200 {
		t.Fatalf("call kept: %d %s", st, b)
	}
	if st, b := api(t, "DELETE", gw.base+"/api/providers/gone", ""); st != 200 {
		t.Fatalf("delete gone: %d %s", st, b)
	}
	for _, r := range [][3]string{
		{"POST", "/api/groups", `{"group_id":"pool","strategy":"round_robin"}`},
		{"POST", "/api/groups/pool/members", `{"member_id":"kept"}`},
		{"POST", "/api/groups/pool/members", `{"member_id":"file"}`},
	} {
		if st, b := api(t, r[0], gw.base+r[1], r[2]); st != 201 {
			t.Fatalf("%s %s: %d %s", r[0], r[1], st, b)
		}
	}
	if st, b := api(t, "PUT", gw.base+"/v1/policies/default", `{"hitl_required_tools":["echo"]}`); st != 200 {
		t.Fatalf("policy: %d %s", st, b)
	}
	if st, b := api(t, "POST", gw.base+"/v1/a2a/agents", `{"id":"planner","url":"http://127.0.0.1:9/a2a"}`); st != 201 {
		t.Fatalf("agent: %d %s", st, b)
	}
	gw.terminate(t, 30*time.Second)

	// The file now has "both" too.
	cfg = writeConfig(t, fmt.Sprintf("providers:\n  file:\n    mode: subprocess\n    command: [%q]\n"+
		"  both:\n    mode: subprocess\n    command: [%q]\n    description: the file's\n", testServer, testServer))
	gw = startServe(t, cfg, data, "SWITCHYARD_ADMIN_KEY=k")
	// The tenant's policy holds again: echo waits for a human.
	if st, b := api(t, "POST", gw.base+"/api/providers/file/tools/echo/call", `{"arguments":{"text":"held"}}`); st != 202 || !strings.Contains(b, "pending_approval") {
		t.Fatalf("a call the restored policy holds: %d %s, want 202 pending_approval", st, b)
	}
	if st, b := api(t, "PUT", gw.base+"/v1/policies/default", `{"hitl_required_tools":[]}`); st != 200 {
		t.Fatalf("policy reset: %d %s", st, b)
	}
	var kept struct {
		State  string         `json:"state"`
		Config map[string]any `json:"config"`
	}
	st, b := api(t, "GET", gw.base+"/api/providers/kept", "")
	if st != 200 || json.Unmarshal([]byte(b), &kept) != nil || kept.State != "cold" {
		t.Fatalf("kept after a restart: %d %s", st, b)
	}
	if st, b := api(t, "POST", gw.base+"/api/providers/kept/tools/echo/call", `{"arguments":{"text":"after"}}`); st != 200 || !strings.Contains(b, "after") {
		t.Fatalf("call kept after a restart: %d %s", st, b)
	}
	if st, b := api(t, "GET", gw.base+"/v1/a2a/agents", ""); st != 200 || !strings.Contains(b, `"planner"`) {
		t.Fatalf("agents after a restart: %d %s", st, b)
	}
	if st, b := api(t, "GET", gw.base+"/api/groups/pool", ""); st != 200 || !strings.Contains(b, `"kept"`) || !strings.Contains(b, `"file"`) {
		t.Fatalf("pool after a restart: %d %s, want both members", st, b)
	}
	if st, b := api(t, "POST", gw.base+"/api/providers/pool/tools/echo/call", `{"arguments":{"text":"via the group"}}`); st != 200 || !strings.Contains(b, "via the group") {
		t.Fatalf("a call through the restored group: %d %s", st, b)
	}
	if st, b := api(t, "GET", gw.base+"/api/providers/gone", ""); st != 404 {
		t.Fatalf("gone after a restart: %d %s", st, b)
	}
	if st, b := api(t, "GET", gw.base+"/api/providers/both", ""); st != 200 || !strings.Contains(b, "the file's") {
		t.Fatalf("both after a restart: %d %s, want the file's", st, b)
	}
	gw.terminate(t, 30*time.Second) // the log is read once the process is gone
	if !strings.Contains(gw.logs.String(), "file_wins=[both]") {
		t.Fatalf("the log does not say the file won:\n%s", gw.logs.String())
	}

	// Once more, to see that a restored provider stays.
	gw = startServe(t, cfg, data, "SWITCHYARD_ADMIN_KEY=k")
	if st, b := api(t, "GET", gw.base+"/api/providers/kept", ""); st != 200 {
		t.Fatalf("kept after a second restart: %d %s", st, b)
	}
	gw.terminate(t, 30*time.Second)
}
