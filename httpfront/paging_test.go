package httpfront

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// pageAll reads a list a page at a time with limit, following next_cursor,
// and returns the size of every page and the ids in order.
func (g *gateway) pageAll(t *testing.T, path, key, id string, limit int, hdr ...string) (sizes []int, ids []string) {
	t.Helper()
	cursor := ""
	for range 100 {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		q := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := g.do(t, "GET", q, "", hdr...)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", q, r.status, r.raw)
		}
		items, ok := r.body[key].([]any)
		if !ok {
			t.Fatalf("GET %s: no %q list in %.300s", q, key, r.raw)
		}
		sizes = append(sizes, len(items))
		for _, it := range items {
			ids = append(ids, fmt.Sprint(it.(map[string]any)[id]))
		}
		next, present := r.body["next_cursor"]
		if !present || next == nil {
			return sizes, ids
		}
		if cursor, ok = next.(string); !ok || cursor == "" {
			t.Fatalf("GET %s: next_cursor %v", q, next)
		}
	}
	t.Fatalf("%s: no end after 100 pages", path)
	return nil, nil
}

// wantPages checks page sizes and that ids are the expected ones, each once,
// in order.
func wantPages(t *testing.T, what string, sizes []int, ids, all []string, wantSizes ...int) {
	t.Helper()
	if fmt.Sprint(sizes) != fmt.Sprint(wantSizes) {
		t.Fatalf("%s: pages of %v, want %v", what, sizes, wantSizes)
	}
	if fmt.Sprint(ids) != fmt.Sprint(all) {
		t.Fatalf("%s: ids out of order, repeated or missing", what)
	}
}

// badPaging checks that a bad limit and a malformed cursor answer 400.
func badPaging(t *testing.T, g *gateway, path string, check func(r response, what string)) {
	t.Helper()
	garbage := base64.RawURLEncoding.EncodeToString([]byte("not a position"))
	for _, q := range []string{"limit=0", "limit=1001", "limit=-1", "limit=ten", "limit=", "limit=1.5",
		"cursor=%21%21", "cursor=" + garbage, "cursor=" + base64.RawURLEncoding.EncodeToString([]byte("0:x")),
		"limit=5&cursor=" + base64.RawURLEncoding.EncodeToString([]byte("-3:x"))} {
		check(g.do(t, "GET", path+"?"+q, "", "x-tenant-id", "default"), path+"?"+q)
	}
}

// TestV1SessionsPaged pages through 250 sessions.
func TestV1SessionsPaged(t *testing.T) {
	g := startGateway(t, Options{})
	var all []string
	for i := range 250 {
		r := g.v1(t, "POST", "/v1/sessions", fmt.Sprintf(`{"agent_id":"a%d","tool_allowlist":[]}`, i), "default")
		want(t, r, 201, "", "create session")
		all = append(all, r.body["id"].(string))
	}
	// The default page holds 100; total counts them all.
	r := g.v1(t, "GET", "/v1/sessions", "", "default")
	if items, _ := r.body["sessions"].([]any); len(items) != 100 || r.body["total"] != float64(250) || r.body["next_cursor"] == nil {
		t.Fatalf("first page: %d sessions, total %v, next_cursor %v", len(items), r.body["total"], r.body["next_cursor"])
	}
	sizes, ids := g.pageAll(t, "/v1/sessions", "sessions", "id", 100)
	wantPages(t, "sessions", sizes, ids, all, 100, 100, 50)
	badPaging(t, g, "/v1/sessions", func(r response, what string) { want(t, r, 400, "invalid_request", what) })
}

// TestV1ListsPaged checks that every /v1 list that can grow pages.
func TestV1ListsPaged(t *testing.T) {
	g := startGateway(t, Options{})
	var agents []string
	for i := range 5 {
		id := fmt.Sprintf("agent-%d", i)
		want(t, g.v1(t, "POST", "/v1/a2a/agents", fmt.Sprintf(`{"id":%q,"url":"http://127.0.0.1:1/a2a"}`, id), "default"), 201, "", "agent")
		agents = append(agents, id)
	}
	sizes, ids := g.pageAll(t, "/v1/a2a/agents", "agents", "id", 2)
	wantPages(t, "agents", sizes, ids, agents, 2, 2, 1)
	for _, p := range []string{"/v1/sessions", "/v1/hitl/pending", "/v1/mcp/servers", "/v1/mcp/tools", "/v1/a2a/agents"} {
		badPaging(t, g, p, func(r response, what string) { want(t, r, 400, "invalid_request", what) })
		// A list shorter than its page carries no next_cursor.
		if r := g.v1(t, "GET", p+"?limit=1000", "", "default"); r.status != 200 || r.body["next_cursor"] != nil {
			t.Fatalf("GET %s: %d %s", p, r.status, r.raw)
		}
	}
}

// TestAPIListsPaged pages through 250 providers and a few groups.
func TestAPIListsPaged(t *testing.T) {
	g := startGateway(t, Options{})
	var all []string
	for i := range 250 {
		id := fmt.Sprintf("p%03d", 250-i) // registration order, not sorted
		if err := g.rt.Create(spec(id)); err != nil {
			t.Fatal(err)
		}
		all = append(all, id)
	}
	sizes, ids := g.pageAll(t, "/api/providers", "providers", "provider", 100)
	wantPages(t, "providers", sizes, ids, all, 100, 100, 50)
	sizes, _ = g.pageAll(t, "/api/providers?state=cold", "providers", "provider", 30)
	if fmt.Sprint(sizes) != "[30 30 30 30 30 30 30 30 10]" {
		t.Fatalf("filtered pages %v", sizes)
	}
	if sizes, _ = g.pageAll(t, "/api/providers?state=ready", "providers", "provider", 30); fmt.Sprint(sizes) != "[0]" {
		t.Fatalf("pages of none %v", sizes)
	}

	// Providers removed between pages, the last one served among them,
	// leave the others served once each.
	r := g.do(t, "GET", "/api/providers?limit=100", "")
	cursor := r.body["next_cursor"].(string)
	expect(t, g.do(t, "DELETE", "/api/providers/"+all[99], ""), 200, "delete the last of the page")
	r = g.do(t, "GET", "/api/providers?limit=100&cursor="+cursor, "")
	if items, _ := r.body["providers"].([]any); len(items) != 100 || items[0].(map[string]any)["provider"] != all[100] {
		t.Fatalf("after the last of the page went: %.200s", r.raw)
	}
	expect(t, g.do(t, "DELETE", "/api/providers/"+all[3], ""), 200, "delete one before")
	r = g.do(t, "GET", "/api/providers?limit=100&cursor="+url.QueryEscape(r.body["next_cursor"].(string)), "")
	if items, _ := r.body["providers"].([]any); len(items) != 50 || items[0].(map[string]any)["provider"] != all[200] {
		t.Fatalf("after one before the page went: %.200s", r.raw)
	}
	badPaging(t, g, "/api/providers", func(r response, what string) {
		expect(t, r, 400, what)
		if r.body["error"] != "ValidationError" {
			t.Fatalf("%s: error %v", what, r.body["error"])
		}
	})

	var groups []string
	for i := range 3 {
		id := fmt.Sprintf("g%d", i)
		expect(t, g.do(t, "POST", "/api/groups", fmt.Sprintf(`{"group_id":%q,"strategy":"round_robin"}`, id)), 201, "group")
		groups = append(groups, id)
	}
	sizes, ids = g.pageAll(t, "/api/groups", "groups", "group_id", 2)
	wantPages(t, "groups", sizes, ids, groups, 2, 1)
	badPaging(t, g, "/api/groups", func(r response, what string) { expect(t, r, 400, what) })
}
