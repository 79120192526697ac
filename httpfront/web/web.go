// Package web holds what every HTTP surface shares: JSON responses, the
// Hangar-style error body, and the one place where runtime errors become
// HTTP status codes.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

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

// Classify returns the HTTP status and error type name for err.
func Classify(err error) (int, string) {
	var c *coded
	if errors.As(err, &c) {
		return c.status, c.kind
	}
	switch {
	case errors.Is(err, ErrBadJSON):
		return http.StatusBadRequest, "ValidationError"
	case errors.Is(err, actors.ErrGroupNotFound):
		return http.StatusNotFound, "GroupNotFoundError"
	case errors.Is(err, actors.ErrGroupExists):
		return http.StatusConflict, "GroupExistsError"
	case errors.Is(err, actors.ErrToolNotFound):
		return http.StatusNotFound, "ToolNotFoundError"
	case errors.Is(err, actors.ErrNotFound):
		return http.StatusNotFound, "ProviderNotFoundError"
	case errors.Is(err, actors.ErrExists):
		return http.StatusConflict, "ProviderExistsError"
	case errors.Is(err, actors.ErrInvalid):
		return http.StatusBadRequest, "ValidationError"
	case errors.Is(err, actors.ErrQuarantined):
		return http.StatusForbidden, "ProviderQuarantinedError"
	case errors.Is(err, actors.ErrBusy):
		return http.StatusTooManyRequests, "ProviderBusyError"
	case errors.Is(err, actors.ErrCancelled):
		return 499, "ClientClosedRequest"
	case errors.Is(err, actors.ErrTimeout):
		return http.StatusGatewayTimeout, "ToolTimeoutError"
	case errors.Is(err, actors.ErrUnavailable), errors.Is(err, actors.ErrShutdown):
		return http.StatusServiceUnavailable, "ProviderUnavailableError"
	case errors.Is(err, actors.ErrBackend):
		return http.StatusBadGateway, "ProviderError"
	default:
		return http.StatusInternalServerError, "InternalError"
	}
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
	// Retry-After only where waiting helps: a busy provider, one starting
	// or restarting, a group without a usable member, a shutdown; not a
	// dead or stopped provider, which only a start revives.
	if status == http.StatusTooManyRequests || (status == http.StatusServiceUnavailable &&
		!errors.Is(err, actors.ErrDead) && !errors.Is(err, actors.ErrStopped)) {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	JSON(ctx, status, map[string]any{"error": kind, "message": err.Error(), "status_code": status})
}

// Decode reads a JSON body into v, refusing unknown fields and trailing
// data. An empty body leaves v untouched when optional is true.
func Decode(ctx *fasthttp.RequestCtx, v any, optional bool) error {
	body := ctx.PostBody()
	if len(body) == 0 {
		if optional {
			return nil
		}
		return fmt.Errorf("%w: request body is empty", ErrBadJSON)
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

// PrincipalKey is where the front end's middleware keeps the request's
// *auth.Principal (absent when the server runs without credentials).
const PrincipalKey = "switchyard.principal"

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
