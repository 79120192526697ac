// Package route is the HTTP listener's one route table: every surface's
// routes as {method, pattern, permission, handler}. The same table
// dispatches requests, tells the authorisation check what a request needs,
// and describes the API, so a route's permission is written in exactly one
// place.
//
// Patterns are literal segments and {name} parameters, e.g.
// "/api/providers/{id}/tools/{tool}/call". Matching takes no regexp and
// allocates nothing: literal segments are compared exactly (a literal wins
// over a parameter at the same place, falling back to the parameter when
// the rest of the path does not match under the literal), parameters
// capture one non-empty segment into a fixed array. Trailing slashes of a
// request path are ignored.
package route

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/auth"
	"github.com/switchyard-mcp/switchyard/httpfront/web"
)

// MaxParams bounds the parameters of one pattern, so a request's
// parameters fit a fixed array.
const MaxParams = 4

// Handler serves a matched request; p holds the pattern's parameters.
type Handler func(ctx *fasthttp.RequestCtx, p Params)

// Route is one entry of the table.
type Route struct {
	// Method is the HTTP method (GET also answers HEAD unless a HEAD route
	// is registered for the pattern).
	Method string
	// Pattern is the path: literal segments and {name} parameters.
	Pattern string
	// Permission is what a principal needs to be served. Every route has
	// one unless it is Open.
	Permission auth.Permission
	// Open routes are served without credentials.
	Open bool
	// QueryToken lets the credentials come as ?token= (websocket clients
	// cannot set headers).
	QueryToken bool
	// Backend marks a handler that waits on a backend (a tool call, a
	// start, an approved call): it gets a request context (web.Context)
	// that a client hang-up and the end of the shutdown drain cancel.
	Backend bool
	// Handler serves the request.
	Handler Handler
	// NotAllowed answers a request for this route's path with a method no
	// route takes, in the surface's error shape (the Allow header is set
	// already); nil answers the /api error body.
	NotAllowed func(ctx *fasthttp.RequestCtx)

	params []string // the pattern's parameter names, in order
}

// Params are a matched request's path parameters. They are strings of the
// request's path; they stay valid after the request.
type Params struct {
	names []string
	vals  [MaxParams]string
}

// Get returns the parameter called name ("" when the pattern has none).
func (p *Params) Get(name string) string {
	for i, n := range p.names {
		if n == name {
			return p.vals[i]
		}
	}
	return ""
}

// At returns the i-th parameter in pattern order ("" past the last).
func (p *Params) At(i int) string {
	if i < 0 || i >= len(p.names) {
		return ""
	}
	return p.vals[i]
}

// Len is the number of parameters.
func (p *Params) Len() int { return len(p.names) }

// methods are the methods routes may take, in the order Allow lists them.
var methods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

const (
	methodGet  = 0
	methodHead = 1
)

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	}
	return -1
}

// node is one segment of the pattern tree.
type node struct {
	seg    string  // the literal segment ("" for a parameter node)
	static []*node // literal children
	param  *node   // the {name} child
	routes [len(methods)]*Route
}

// Table is a built route table. It is read-only, safe for concurrent use.
type Table struct {
	routes []Route
	root   node
}

// New builds a table from sets of routes (one set per surface). It refuses
// a route without a handler, with an unknown method or a malformed
// pattern, without a permission unless Open, with a permission that is not
// one concrete resource:action, and a method and pattern registered twice
// (patterns differing only in parameter names are the same pattern).
func New(sets ...[]Route) (*Table, error) {
	t := &Table{}
	for _, set := range sets {
		t.routes = append(t.routes, set...)
	}
	var errs []error
	for i := range t.routes {
		r := &t.routes[i]
		if err := t.add(r); err != nil {
			errs = append(errs, fmt.Errorf("route %s %s: %w", r.Method, r.Pattern, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

func (t *Table) add(r *Route) error {
	mi := methodIndex(r.Method)
	switch {
	case mi < 0:
		return fmt.Errorf("unknown method %q", r.Method)
	case r.Handler == nil:
		return errors.New("no handler")
	case r.Permission.IsZero() && !r.Open:
		return errors.New("no permission: give it one, or mark it Open")
	case !r.Permission.IsZero() && !r.Permission.Concrete():
		if err := r.Permission.Validate(); err != nil {
			return err
		}
		return fmt.Errorf("permission %q is a wildcard: a route needs one resource and one action", r.Permission)
	}
	segs, params, err := parse(r.Pattern)
	if err != nil {
		return err
	}
	r.params = params
	n := &t.root
	for _, s := range segs {
		n = n.child(s)
	}
	if old := n.routes[mi]; old != nil {
		return fmt.Errorf("registered twice (first as %s %s)", old.Method, old.Pattern)
	}
	n.routes[mi] = r
	return nil
}

// child returns the node for segment s ("{...}" for a parameter), adding
// it when missing.
func (n *node) child(s string) *node {
	if s[0] == '{' {
		if n.param == nil {
			n.param = &node{}
		}
		return n.param
	}
	for _, c := range n.static {
		if c.seg == s {
			return c
		}
	}
	c := &node{seg: s}
	n.static = append(n.static, c)
	return c
}

// parse splits a pattern into segments and its parameter names.
func parse(pattern string) (segs, params []string, err error) {
	if !strings.HasPrefix(pattern, "/") {
		return nil, nil, errors.New("pattern must start with /")
	}
	if pattern == "/" {
		return nil, nil, nil
	}
	segs = strings.Split(pattern[1:], "/")
	for _, s := range segs {
		switch {
		case s == "":
			return nil, nil, errors.New("pattern has an empty segment or a trailing slash")
		case s[0] == '{' && s[len(s)-1] == '}':
			name := s[1 : len(s)-1]
			if !validName(name) {
				return nil, nil, fmt.Errorf("parameter %q is not a name", s)
			}
			if slices.Contains(params, name) {
				return nil, nil, fmt.Errorf("parameter {%s} appears twice", name)
			}
			params = append(params, name)
		case strings.ContainsAny(s, "{}"):
			return nil, nil, fmt.Errorf("segment %q: a parameter must be a whole segment", s)
		}
	}
	if len(params) > MaxParams {
		return nil, nil, fmt.Errorf("more than %d parameters", MaxParams)
	}
	return segs, params, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return true
}

// Routes returns a copy of the table's routes in registration order.
func (t *Table) Routes() []Route { return slices.Clone(t.routes) }

// Match is the outcome of a lookup: the route, or why there is none.
type Match struct {
	// Route is the matched route; nil when none takes the request.
	Route *Route
	// Params are the matched route's parameters.
	Params Params

	allow      string // on a miss: the methods the path takes ("" = none)
	notAllowed func(ctx *fasthttp.RequestCtx)
}

// Lookup finds the route for a request's method and (decoded) path.
func (t *Table) Lookup(method []byte, path string) (m Match) {
	for len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	if path == "/" {
		path = ""
	}
	if mi := methodIndex(string(method)); mi >= 0 {
		if r := t.root.find(path, mi, &m.Params.vals, 0); r != nil {
			m.Route = r
			m.Params.names = r.params
			return m
		}
	}
	var mask uint
	t.root.allowed(path, &mask, &m.notAllowed)
	m.allow = allowList(mask)
	return m
}

// find matches rest (the path after n, "" or starting with "/") to a
// route taking method mi, literal children first.
func (n *node) find(rest string, mi int, vals *[MaxParams]string, depth int) *Route {
	if rest == "" {
		if r := n.routes[mi]; r != nil {
			return r
		}
		if mi == methodHead {
			return n.routes[methodGet]
		}
		return nil
	}
	if rest[0] != '/' {
		return nil
	}
	seg, next := rest[1:], ""
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, next = seg[:i], seg[i:]
	}
	for _, c := range n.static {
		if c.seg == seg {
			if r := c.find(next, mi, vals, depth); r != nil {
				return r
			}
			break
		}
	}
	if n.param != nil && seg != "" && depth < MaxParams {
		vals[depth] = seg
		return n.param.find(next, mi, vals, depth+1)
	}
	return nil
}

// allowed adds to mask the methods of every route matching rest, and
// keeps the first NotAllowed writer among them.
func (n *node) allowed(rest string, mask *uint, na *func(*fasthttp.RequestCtx)) {
	if rest == "" {
		for i, r := range n.routes {
			if r == nil {
				continue
			}
			*mask |= 1 << i
			if *na == nil {
				*na = r.NotAllowed
			}
		}
		return
	}
	if rest[0] != '/' {
		return
	}
	seg, next := rest[1:], ""
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, next = seg[:i], seg[i:]
	}
	for _, c := range n.static {
		if c.seg == seg {
			c.allowed(next, mask, na)
			break
		}
	}
	if n.param != nil && seg != "" {
		n.param.allowed(next, mask, na)
	}
}

func allowList(mask uint) string {
	if mask&(1<<methodGet) != 0 {
		mask |= 1 << methodHead
	}
	var b strings.Builder
	for i, m := range methods {
		if mask&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m)
	}
	return b.String()
}

// Refuse answers a request no route takes: 404 when no pattern matches its
// path, else 405 with an Allow header listing the methods the path takes.
func (m *Match) Refuse(ctx *fasthttp.RequestCtx) {
	if m.allow == "" {
		web.Error(ctx, web.Errorf(http.StatusNotFound, "NotFound", "no route for %s %s", ctx.Method(), ctx.Path()))
		return
	}
	ctx.Response.Header.Set("Allow", m.allow)
	if m.notAllowed != nil {
		m.notAllowed(ctx)
		return
	}
	web.Error(ctx, web.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed",
		"method %s not allowed here (allowed: %s)", ctx.Method(), m.allow))
}
