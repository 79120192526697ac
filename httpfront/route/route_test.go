package route

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/switchyard-mcp/switchyard/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// table builds a table whose handlers write the pattern and parameters they
// were called with as the response body.
func table(t *testing.T, rs ...Route) *Table {
	t.Helper()
	for i := range rs {
		pattern := rs[i].Pattern
		if rs[i].Permission.IsZero() && !rs[i].Open {
			rs[i].Permission = auth.ProvidersRead
		}
		rs[i].Handler = func(ctx *fasthttp.RequestCtx, p Params) {
			params := map[string]string{}
			for i, name := range p.names {
				params[name] = p.At(i)
				if p.Get(name) != p.At(i) {
					panic("Get and At disagree")
				}
			}
			b, _ := json.Marshal(map[string]any{"pattern": pattern, "params": params})
			ctx.SetBody(b)
		}
	}
	tb, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// serve looks a request up and serves it as the front end does.
func serve(tb *Table, method, path string) *fasthttp.RequestCtx {
	req := &fasthttp.Request{}
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	m := tb.Lookup(ctx.Method(), string(ctx.Path()))
	if m.Route == nil {
		m.Refuse(ctx)
	} else {
		m.Route.Handler(ctx, m.Params)
	}
	return ctx
}

func TestLookupParams(t *testing.T) {
	tb := table(t,
		Route{Method: "GET", Pattern: "/", Open: true},
		Route{Method: "GET", Pattern: "/api/providers"},
		Route{Method: "GET", Pattern: "/api/providers/{id}"},
		Route{Method: "GET", Pattern: "/api/providers/{id}/tools/history"},
		Route{Method: "POST", Pattern: "/api/providers/{id}/tools/{tool}/call"},
		Route{Method: "GET", Pattern: "/v1/hitl/pending"},
		Route{Method: "GET", Pattern: "/v1/hitl/{id}"},
		Route{Method: "GET", Pattern: "/mcp"},
		Route{Method: "GET", Pattern: "/mcp/{id}"},
	)
	for _, tc := range []struct {
		method, path, pattern string
		params                map[string]string
	}{
		{"GET", "/", "/", map[string]string{}},
		{"GET", "/api/providers", "/api/providers", map[string]string{}},
		{"GET", "/api/providers/", "/api/providers", map[string]string{}},
		{"GET", "/api/providers/math", "/api/providers/{id}", map[string]string{"id": "math"}},
		{"GET", "/api/providers/math/", "/api/providers/{id}", map[string]string{"id": "math"}},
		{"GET", "/api/providers/math/tools/history", "/api/providers/{id}/tools/history", map[string]string{"id": "math"}},
		{"POST", "/api/providers/math/tools/add/call", "/api/providers/{id}/tools/{tool}/call", map[string]string{"id": "math", "tool": "add"}},
		// The literal "history" is tried first, then taken as {tool}.
		{"POST", "/api/providers/math/tools/history/call", "/api/providers/{id}/tools/{tool}/call", map[string]string{"id": "math", "tool": "history"}},
		{"GET", "/v1/hitl/pending", "/v1/hitl/pending", map[string]string{}},
		{"GET", "/v1/hitl/hitl-1", "/v1/hitl/{id}", map[string]string{"id": "hitl-1"}},
		{"GET", "/mcp/", "/mcp", map[string]string{}},
		{"GET", "/mcp/beta", "/mcp/{id}", map[string]string{"id": "beta"}},
		// HEAD is served by the GET route.
		{"HEAD", "/api/providers/math", "/api/providers/{id}", map[string]string{"id": "math"}},
		// The path is decoded: an escaped character is a parameter's own.
		{"GET", "/api/providers/a%20b", "/api/providers/{id}", map[string]string{"id": "a b"}},
	} {
		ctx := serve(tb, tc.method, tc.path)
		var got struct {
			Pattern string            `json:"pattern"`
			Params  map[string]string `json:"params"`
		}
		if ctx.Response.StatusCode() != 200 || json.Unmarshal(ctx.Response.Body(), &got) != nil {
			t.Errorf("%s %s: status %d %s", tc.method, tc.path, ctx.Response.StatusCode(), ctx.Response.Body())
			continue
		}
		if got.Pattern != tc.pattern || len(got.Params) != len(tc.params) {
			t.Errorf("%s %s: served %s %v, want %s %v", tc.method, tc.path, got.Pattern, got.Params, tc.pattern, tc.params)
			continue
		}
		for k, v := range tc.params {
			if got.Params[k] != v {
				t.Errorf("%s %s: {%s} = %q, want %q", tc.method, tc.path, k, got.Params[k], v)
			}
		}
	}
}

// errorBody is the /api error body a miss answers.
type errorBody struct {
	Error      string `json:"error"`
	Message    string `json:"message"`
	StatusCode int    `json:"status_code"`
}

func TestLookupMisses(t *testing.T) {
	v1 := func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(405)
		ctx.SetBodyString(`{"error":"method_not_allowed"}`)
	}
	tb := table(t,
		Route{Method: "GET", Pattern: "/api/providers/{id}"},
		Route{Method: "PUT", Pattern: "/api/providers/{id}"},
		Route{Method: "DELETE", Pattern: "/api/providers/{id}"},
		Route{Method: "POST", Pattern: "/api/providers/{id}/start"},
		Route{Method: "GET", Pattern: "/v1/hitl/pending", NotAllowed: v1},
		Route{Method: "POST", Pattern: "/v1/hitl/{id}", NotAllowed: v1},
	)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/nothing", 404, ""},
		{"GET", "/api/providers", 404, ""},
		{"GET", "/api/providers/math/tools", 404, ""},
		{"GET", "/api/providers/math/start/now", 404, ""},
		{"GET", "/apix/providers/math", 404, ""},
		{"BREW", "/api/nothing", 404, ""},
		{"PATCH", "/api/providers/math", 405, "GET, HEAD, PUT, DELETE"},
		{"BREW", "/api/providers/math", 405, "GET, HEAD, PUT, DELETE"},
		{"GET", "/api/providers/math/start", 405, "POST"},
		{"HEAD", "/api/providers/math/start", 405, "POST"},
		// Both patterns match /v1/hitl/pending: Allow lists what each takes.
		{"DELETE", "/v1/hitl/pending", 405, "GET, HEAD, POST"},
		{"GET", "/v1/hitl/x", 405, "POST"},
	} {
		ctx := serve(tb, tc.method, tc.path)
		what := tc.method + " " + tc.path
		if got := ctx.Response.StatusCode(); got != tc.status {
			t.Errorf("%s: status %d, want %d: %s", what, got, tc.status, ctx.Response.Body())
			continue
		}
		if got := string(ctx.Response.Header.Peek("Allow")); got != tc.allow {
			t.Errorf("%s: Allow %q, want %q", what, got, tc.allow)
		}
		if strings.HasPrefix(tc.path, "/v1/") && tc.status == 405 {
			if string(ctx.Response.Body()) != `{"error":"method_not_allowed"}` {
				t.Errorf("%s: the route's own 405 writer not used: %s", what, ctx.Response.Body())
			}
			continue
		}
		var body errorBody
		if err := json.Unmarshal(ctx.Response.Body(), &body); err != nil || body.StatusCode != tc.status || body.Error == "" || body.Message == "" {
			t.Errorf("%s: error body %s", what, ctx.Response.Body())
		}
	}
}

func TestNewRefuses(t *testing.T) {
	h := func(*fasthttp.RequestCtx, Params) {}
	ok := Route{Method: "GET", Pattern: "/api/providers/{id}", Permission: auth.ProvidersRead, Handler: h}
	with := func(f func(r *Route)) Route {
		r := ok
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name   string
		routes []Route
		want   string
	}{
		{"no permission", []Route{with(func(r *Route) { r.Permission = "" })}, "no permission"},
		{"wildcard permission", []Route{with(func(r *Route) { r.Permission = "providers:*" })}, "wildcard"},
		{"unknown permission", []Route{with(func(r *Route) { r.Permission = "providers:execute" })}, "unknown action"},
		{"duplicate", []Route{ok, ok}, "registered twice"},
		{"duplicate but for parameter names", []Route{ok, with(func(r *Route) { r.Pattern = "/api/providers/{name}" })}, "registered twice"},
		{"no handler", []Route{with(func(r *Route) { r.Handler = nil })}, "no handler"},
		{"unknown method", []Route{with(func(r *Route) { r.Method = "get" })}, "unknown method"},
		{"relative pattern", []Route{with(func(r *Route) { r.Pattern = "api/providers" })}, "start with /"},
		{"trailing slash", []Route{with(func(r *Route) { r.Pattern = "/api/providers/" })}, "trailing slash"},
		{"empty segment", []Route{with(func(r *Route) { r.Pattern = "/api//providers" })}, "empty segment"},
		{"partial parameter", []Route{with(func(r *Route) { r.Pattern = "/api/p-{id}" })}, "whole segment"},
		{"bad parameter name", []Route{with(func(r *Route) { r.Pattern = "/api/{1d}" })}, "not a name"},
		{"parameter twice", []Route{with(func(r *Route) { r.Pattern = "/api/{id}/x/{id}" })}, "appears twice"},
		{"too many parameters", []Route{with(func(r *Route) { r.Pattern = "/{a}/{b}/{c}/{d}/{e}" })}, "more than 4"},
	} {
		tb, err := New(tc.routes)
		if err == nil || tb != nil {
			t.Errorf("%s: New accepted %v", tc.name, tc.routes)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.routes[len(tc.routes)-1].Pattern) {
			t.Errorf("%s: error %q does not say %q and name the route", tc.name, err, tc.want)
		}
	}
	// Open routes need no permission; the same pattern takes other methods.
	if _, err := New([]Route{
		{Method: "GET", Pattern: "/health", Open: true, Handler: h},
		ok,
		with(func(r *Route) { r.Method, r.Permission = "DELETE", auth.ProvidersDelete }),
	}); err != nil {
		t.Fatalf("valid routes refused: %v", err)
	}
}

func TestRoutesIsACopy(t *testing.T) {
	tb := table(t, Route{Method: "GET", Pattern: "/a"}, Route{Method: "POST", Pattern: "/a/{id}"})
	rs := tb.Routes()
	if len(rs) != 2 || rs[0].Pattern != "/a" || rs[1].Method != "POST" {
		t.Fatalf("Routes = %+v", rs)
	}
	rs[0].Pattern, rs[0].Open = "/b", true
	if again := tb.Routes(); again[0].Pattern != "/a" || again[0].Open {
		t.Fatalf("changing the copy changed the table: %+v", again[0])
	}
	if ctx := serve(tb, "GET", "/a"); ctx.Response.StatusCode() != 200 {
		t.Fatalf("GET /a after changing the copy: %d", ctx.Response.StatusCode())
	}
}

// A lookup that finds its route allocates nothing.
func TestLookupAllocatesNothing(t *testing.T) {
	tb := table(t,
		Route{Method: "GET", Pattern: "/api/providers/{id}/tools/history"},
		Route{Method: "POST", Pattern: "/api/providers/{id}/tools/{tool}/call"},
	)
	method, path := []byte("POST"), "/api/providers/math/tools/add/call"
	if n := testing.AllocsPerRun(100, func() {
		if m := tb.Lookup(method, path); m.Route == nil || m.Params.Get("tool") != "add" {
			t.Fatal("no match")
		}
	}); n != 0 {
		t.Fatalf("Lookup allocates %v times per call", n)
	}
}
