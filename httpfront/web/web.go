// Package web holds what every HTTP surface shares: JSON responses, the
// Hangar-style error body, and the one place where runtime errors become
// HTTP status codes.
package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/auth"
)

// ErrBadJSON marks a request body that is not the JSON expected.
var ErrBadJSON = errors.New("malformed JSON")

// coded attaches an HTTP status and an error type name to an error.
type coded struct {
	err    error
	status int
	kind   string
}

func (c *coded) Error() string { return c.err.Error() }
func (c *coded) Unwrap() error { return c.err }

// WithCode attaches an HTTP status and a type name (as the Hangar error body
// names it) to err.
func WithCode(err error, status int, kind string) error {
	return &coded{err: err, status: status, kind: kind}
}

// Errorf is WithCode over a formatted message.
func Errorf(status int, kind, format string, args ...any) error {
	return WithCode(fmt.Errorf(format, args...), status, kind)
}

// JSON writes v as the response body with the given status.
func JSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"InternalError","message":"response encoding failed","status_code":500}`)
	}
	Raw(ctx, status, b)
}

// Raw writes already-encoded JSON as the response body.
func Raw(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// Error writes the /api error body {"error","message","status_code"}.
func Error(ctx *fasthttp.RequestCtx, err error) {
	status, kind := Classify(err)
	RetryAfter(ctx, status, err)
	JSON(ctx, status, map[string]any{"error": kind, "message": err.Error(), "status_code": status})
}

// Decode reads a JSON object body into v, refusing unknown fields,
// trailing data and any other JSON value: decoding null or a scalar into a
// struct would silently leave it untouched. An empty body leaves v
// untouched when optional is true; an explicit null never does.
func Decode(ctx *fasthttp.RequestCtx, v any, optional bool) error {
	body := ctx.PostBody()
	if len(body) == 0 {
		if optional {
			return nil
		}
		return fmt.Errorf("%w: request body is empty", ErrBadJSON)
	}
	if i := bytes.IndexFunc(body, notJSONSpace); i >= 0 && body[i] != '{' {
		return fmt.Errorf("%w: request body must be a JSON object", ErrBadJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON value", ErrBadJSON)
	}
	return nil
}

// notJSONSpace reports whether r is not JSON insignificant whitespace.
func notJSONSpace(r rune) bool { return r != ' ' && r != '\t' && r != '\n' && r != '\r' }

// Paging of list endpoints: the query's limit (DefaultPageLimit when
// absent, 1 to MaxPageLimit) and its cursor, the opaque position a previous
// page answered as next_cursor.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
	// maxCursorBytes bounds a cursor before it is decoded.
	maxCursorBytes = 1024
)

// Page returns the page of items the request's limit and cursor query
// parameters select, and the cursor of the next page ("" when no item
// follows). key names an item uniquely; items must come in a stable order
// (creation order or sorted ids). A bad limit or a malformed cursor is an
// actors.ErrInvalid error (400 on every surface).
//
// A cursor holds the count of items before the next page and the key of
// the last item served. When the list changed in between, the page starts
// after that item wherever it now stands, or where it stood when it is
// gone, so an item that stays is served once.
func Page[T any](ctx *fasthttp.RequestCtx, items []T, key func(T) string) (page []T, next string, err error) {
	limit, start, err := pagePosition(ctx, len(items), func(i int) string { return key(items[i]) })
	if err != nil {
		return nil, "", err
	}
	end := min(start+limit, len(items))
	page = items[start:end]
	if page == nil {
		page = []T{}
	}
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d:%s", end, key(items[end-1])))
	}
	return page, next, nil
}

// pagePosition parses the request's limit and cursor and resolves the
// cursor to the index the page starts at in a list of n items.
func pagePosition(ctx *fasthttp.RequestCtx, n int, key func(int) string) (limit, start int, err error) {
	args := ctx.QueryArgs()
	limit = DefaultPageLimit
	if args.Has("limit") {
		v := string(args.Peek("limit"))
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > MaxPageLimit {
			return 0, 0, fmt.Errorf("%w: limit must be an integer from 1 to %d (got %q)", actors.ErrInvalid, MaxPageLimit, v)
		}
	}
	cursor := args.Peek("cursor")
	if len(cursor) == 0 {
		return limit, 0, nil
	}
	bad := fmt.Errorf("%w: malformed cursor: pass the next_cursor of a previous page", actors.ErrInvalid)
	if len(cursor) > maxCursorBytes {
		return 0, 0, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(string(cursor))
	if err != nil {
		return 0, 0, bad
	}
	count, last, ok := bytes.Cut(raw, []byte(":"))
	pos, err := strconv.Atoi(string(count))
	if !ok || err != nil || pos < 1 || string(count) != strconv.Itoa(pos) {
		return 0, 0, bad
	}
	if pos <= n && key(pos-1) == string(last) {
		return limit, pos, nil
	}
	for i := range n {
		if key(i) == string(last) {
			return limit, i + 1, nil
		}
	}
	return limit, min(pos-1, n), nil
}

// PrincipalKey is where the front end's middleware keeps the request's
// *auth.Principal (absent when the server runs without credentials).
const PrincipalKey = "switchyard.principal"

// Anonymous names the principal of a request served without credentials.
const Anonymous = "anonymous"

// Who returns the principal id (Anonymous in open mode) and the tenant a
// request acts for.
func Who(ctx *fasthttp.RequestCtx) (principal, tenant string) {
	principal = Anonymous
	if p, _ := ctx.UserValue(PrincipalKey).(*auth.Principal); p != nil {
		principal = p.ID
	}
	return principal, Tenant(ctx)
}

// Tenant is the tenant a request acts for: its principal's (a JWT's
// tenant_id claim), else the x-tenant-id header, else "default".
func Tenant(ctx *fasthttp.RequestCtx) string {
	if p, _ := ctx.UserValue(PrincipalKey).(*auth.Principal); p != nil && p.Tenant != "" {
		return p.Tenant
	}
	if h := ctx.Request.Header.Peek("x-tenant-id"); len(h) > 0 {
		return string(h)
	}
	return auth.DefaultTenant
}

// ContextKey is where the front end keeps a request's context.Context.
const ContextKey = "switchyard.ctx"

// Context is the context a request's work runs under: the front end
// cancels it when the client disconnects or when the shutdown drain
// deadline passes (its cause then names why). Without one set (a handler
// served outside the front end) it is context.Background.
func Context(ctx *fasthttp.RequestCtx) context.Context {
	if c, ok := ctx.UserValue(ContextKey).(context.Context); ok {
		return c
	}
	return context.Background()
}

// CancelKey is where the front end keeps the cancel function of a
// request's context.
const CancelKey = "switchyard.cancel"

// Cancel returns the function that cancels the request's context with a
// cause, for work that ends with the request and may be cancelled early
// (so that it needs no context of its own); nil without one.
func Cancel(ctx *fasthttp.RequestCtx) context.CancelCauseFunc {
	f, _ := ctx.UserValue(CancelKey).(context.CancelCauseFunc)
	return f
}
