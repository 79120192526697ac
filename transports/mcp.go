package transports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-mcp/switchyard/internal/jsonx"
	"github.com/switchyard-mcp/switchyard/schema"
)

// Protocol versions Switchyard speaks to backends, newest first.
const (
	// Protocol20260728 is the stateless revision: server/discover instead of
	// initialize, and a _meta triple on every request.
	Protocol20260728 = "2026-07-28"
	// Protocol20251125 is the newest revision with the initialize handshake.
	Protocol20251125 = "2025-11-25"
)

// MetaSubscriptionID is the _meta key of the stateless revision that
// names a subscriptions/listen stream (its request id) in the
// acknowledgement and in the notifications the stream carries.
const MetaSubscriptionID = "io.modelcontextprotocol/subscriptionId"

// LegacyVersions are the initialize-handshake revisions accepted from a
// backend.
var LegacyVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// ClientInfo names the gateway to its backends.
type ClientInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Tool is one tool definition as a backend lists it. Raw keeps the whole
// definition so it can be relayed unchanged.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema,omitempty"`
	Raw         json.RawMessage `json:"-"`
	// Schema holds the compiled InputSchema once a call has needed it
	// (nil for tools not learned from a server: they validate through
	// the cache alone).
	Schema *schema.Slot `json:"-"`
}

// ServerInfo is what the handshake learned about a backend.
type ServerInfo struct {
	ProtocolVersion string          `json:"protocol_version"`
	Name            string          `json:"name,omitempty"`
	Version         string          `json:"version,omitempty"`
	Instructions    string          `json:"instructions,omitempty"`
	Capabilities    json.RawMessage `json:"capabilities,omitempty"`
}

// Session is an MCP client session over a multiplexed connection.
type Session struct {
	mux  *Mux
	info ServerInfo
	// meta is the `"_meta":{...}` member added to every request under the
	// stateless revision, or nil.
	meta []byte
}

// Handshake negotiates a protocol version with the backend: server/discover
// for the 2026-07-28 revision first, then the initialize handshake of the
// 2025 revisions. Under 2026-07-28 it also opens a subscriptions/listen
// stream so tool list changes are notified, when the backend announces
// them; the stream counts in Mux.InFlight for the session's life. A failure
// of the connection or of ctx ends the handshake without the fallback.
func Handshake(ctx context.Context, mux *Mux, ci ClientInfo) (*Session, error) {
	s := &Session{mux: mux}
	if err := s.discover(ctx, ci); err == nil {
		return s, nil
	} else if errors.Is(err, ErrClosed) || errors.Is(err, ErrCancelled) || ctx.Err() != nil {
		return nil, fmt.Errorf("server/discover: %w", err)
	}
	if err := s.initialize(ctx, ci); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Session) discover(ctx context.Context, ci ClientInfo) error {
	metaObj := map[string]any{
		"io.modelcontextprotocol/protocolVersion":    Protocol20260728,
		"io.modelcontextprotocol/clientInfo":         ci,
		"io.modelcontextprotocol/clientCapabilities": map[string]any{},
	}
	meta, err := json.Marshal(metaObj)
	if err != nil {
		return err
	}
	params := append(append([]byte(`{"_meta":`), meta...), '}')
	raw, err := s.mux.Call(ctx, "server/discover", params)
	if err != nil {
		return err
	}
	var res struct {
		SupportedVersions []string        `json:"supportedVersions"`
		Capabilities      json.RawMessage `json:"capabilities"`
		Instructions      string          `json:"instructions"`
		Meta              struct {
			ServerInfo ClientInfo `json:"io.modelcontextprotocol/serverInfo"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("server/discover result: %w", err)
	}
	if !slices.Contains(res.SupportedVersions, Protocol20260728) {
		return fmt.Errorf("server/discover: %s not among %v", Protocol20260728, res.SupportedVersions)
	}
	s.meta = append([]byte(`"_meta":`), meta...)
	s.info = ServerInfo{ProtocolVersion: Protocol20260728, Name: res.Meta.ServerInfo.Name, Version: res.Meta.ServerInfo.Version,
		Instructions: res.Instructions, Capabilities: res.Capabilities}
	if lists := s.listChanges(); lists != "" {
		// The stream stays open for the session's life; it ends with the
		// connection, so the callback has nothing to do.
		_, _ = s.mux.Go("subscriptions/listen", s.params(`"notifications":{`+lists+`}`), 0, func(Response) {})
	}
	return nil
}

// ListenResource opens a subscriptions/listen stream of the stateless
// revision for the updates of one resource (what resources/subscribe asks
// of a 2025 server): the backend's notifications/resources/updated then
// arrive with its other notifications. ready receives nil once the
// backend acknowledges the stream, or the error it answers instead (an
// unknown resource, say), exactly once; it runs on the connection's
// goroutines and must not block. The stream lasts until stop is called or
// the connection ends; it counts in Mux.InFlight meanwhile.
func (s *Session) ListenResource(uri string, ready func(error)) (stop func(), err error) {
	if s.meta == nil {
		return nil, errors.New("subscriptions/listen needs the stateless revision")
	}
	var once sync.Once
	settle := func(err error) { once.Do(func() { ready(err) }) }
	members := jsonx.AppendString([]byte(`"notifications":{"resourceSubscriptions":[`), uri)
	id, err := s.mux.GoListen(s.params(string(members)+"]}"), func() { settle(nil) }, func(r Response) {
		if r.Err == nil {
			r.Err = errors.New("subscriptions/listen ended before it was acknowledged")
		}
		settle(r.Err)
	})
	if err != nil {
		return nil, err
	}
	return func() { s.mux.Cancel(id, "unsubscribed") }, nil
}

func (s *Session) initialize(ctx context.Context, ci ClientInfo) error {
	p, err := json.Marshal(map[string]any{
		"protocolVersion": Protocol20251125,
		// Elicitation requests are relayed to the gateway's own client or
		// held for a human (see actors); a server may ask during a call.
		"capabilities": map[string]any{"roots": map[string]any{"listChanged": false}, "elicitation": map[string]any{}, "sampling": map[string]any{}},
		"clientInfo":   ci,
	})
	if err != nil {
		return err
	}
	raw, err := s.mux.Call(ctx, "initialize", p)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	var res struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ServerInfo      ClientInfo      `json:"serverInfo"`
		Instructions    string          `json:"instructions"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("initialize result: %w", err)
	}
	if !slices.Contains(LegacyVersions, res.ProtocolVersion) {
		return fmt.Errorf("initialize: unsupported protocol version %q", res.ProtocolVersion)
	}
	s.info = ServerInfo{ProtocolVersion: res.ProtocolVersion, Name: res.ServerInfo.Name, Version: res.ServerInfo.Version,
		Instructions: res.Instructions, Capabilities: res.Capabilities}
	return s.mux.Notify("notifications/initialized", nil)
}

// Info returns what the handshake learned.
func (s *Session) Info() ServerInfo { return s.info }

// Mux returns the session's connection.
func (s *Session) Mux() *Mux { return s.mux }

// listChanges are the members of a subscriptions/listen request's
// notifications object for the list changes the server announces (tools,
// prompts, resources), "" for none.
func (s *Session) listChanges() string {
	type changes struct {
		ListChanged bool `json:"listChanged"`
	}
	var caps struct {
		Tools     *changes `json:"tools"`
		Prompts   *changes `json:"prompts"`
		Resources *changes `json:"resources"`
	}
	_ = json.Unmarshal(s.info.Capabilities, &caps)
	var members []string
	for _, c := range [...]struct {
		key string
		c   *changes
	}{{"toolsListChanged", caps.Tools}, {"promptsListChanged", caps.Prompts}, {"resourcesListChanged", caps.Resources}} {
		if c.c != nil && c.c.ListChanged {
			members = append(members, `"`+c.key+`":true`)
		}
	}
	return strings.Join(members, ",")
}

// params wraps object members (without braces) as a params object, adding
// the _meta triple under the stateless revision.
func (s *Session) params(members string) []byte {
	b := make([]byte, 0, len(members)+len(s.meta)+3)
	b = append(b, '{')
	b = append(b, members...)
	if s.meta != nil {
		if len(members) > 0 {
			b = append(b, ',')
		}
		b = append(b, s.meta...)
	}
	return append(b, '}')
}

// pingRequest is the liveness check: an MCP ping under the 2025 revisions
// and, under 2026-07-28 (which has no ping), a server/discover.
func (s *Session) pingRequest() (string, []byte) {
	if s.meta != nil {
		return "server/discover", s.params("")
	}
	return "ping", nil
}

// Ping checks that the backend answers.
func (s *Session) Ping(ctx context.Context) error {
	method, params := s.pingRequest()
	_, err := s.mux.Call(ctx, method, params)
	return err
}

// GoPing is the asynchronous Ping, for health checks run off a mailbox.
func (s *Session) GoPing(timeout time.Duration, cb Callback) (int64, error) {
	method, params := s.pingRequest()
	return s.mux.Go(method, params, timeout, cb)
}

// ListTools fetches every page of the backend's tool list.
func (s *Session) ListTools(ctx context.Context) ([]Tool, error) {
	var tools []Tool
	cursor := ""
	for page := 0; page < 1000; page++ {
		members := ""
		if cursor != "" {
			members = `"cursor":` + string(jsonx.AppendString(nil, cursor))
		}
		var p []byte
		if members != "" || s.meta != nil {
			p = s.params(members)
		}
		raw, err := s.mux.Call(ctx, "tools/list", p)
		if err != nil {
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		var res struct {
			Tools      []json.RawMessage `json:"tools"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("tools/list result: %w", err)
		}
		for _, rt := range res.Tools {
			var t Tool
			if err := json.Unmarshal(rt, &t); err != nil || t.Name == "" {
				return nil, fmt.Errorf("tools/list: bad tool definition %s", truncate(rt, 80))
			}
			t.Raw = rt
			t.Schema = new(schema.Slot)
			tools = append(tools, t)
		}
		if res.NextCursor == "" {
			return tools, nil
		}
		cursor = res.NextCursor
	}
	return nil, errors.New("tools/list: too many pages")
}

// CallParams builds tools/call params for a tool and its raw JSON arguments
// (nil or empty means no arguments).
func (s *Session) CallParams(tool string, args []byte) []byte {
	return s.appendCallParams(make([]byte, 0, len(tool)+len(args)+len(s.meta)+32), tool, args, nil, nil)
}

func (s *Session) appendCallParams(b []byte, tool string, args, extra, meta []byte) []byte {
	b = append(b, `{"name":`...)
	b = jsonx.AppendString(b, tool)
	if len(args) > 0 {
		b = append(b, `,"arguments":`...)
		b = append(b, args...)
	}
	if len(extra) > 0 {
		b = append(b, ',')
		b = append(b, extra...)
	}
	return s.appendMeta(b, true, meta)
}

// appendMeta closes a params object with its _meta member: the caller's
// raw members (without braces) merged with the _meta triple of the
// stateless revision. more says whether members precede it.
func (s *Session) appendMeta(b []byte, more bool, meta []byte) []byte {
	if len(meta) == 0 && s.meta == nil {
		return append(b, '}')
	}
	if more {
		b = append(b, ',')
	}
	if len(meta) == 0 {
		b = append(b, s.meta...)
		return append(b, '}')
	}
	b = append(b, `"_meta":{`...)
	b = append(b, meta...)
	if s.meta != nil {
		// s.meta is `"_meta":{...}`: splice in its members. The client a
		// request is relayed for may name its own capabilities (what it
		// can answer), which then stand instead of the gateway's empty set.
		inner := s.meta[len(`"_meta":{`) : len(s.meta)-1]
		if bytes.Contains(meta, []byte(metaCapsKey)) {
			inner = bytes.TrimPrefix(inner, []byte(metaCapsMember))
		}
		if len(inner) > 0 {
			b = append(b, ',')
			b = append(b, inner...)
		}
	}
	return append(b, "}}"...)
}

// The gateway's own capabilities in the _meta triple: none, as the first
// member (json.Marshal sorts a map's keys).
const (
	metaCapsKey    = `"io.modelcontextprotocol/clientCapabilities"`
	metaCapsMember = metaCapsKey + `:{},`
)

// Stateless reports whether the session speaks the stateless 2026-07-28
// revision (every request carries its _meta triple; no initialize).
func (s *Session) Stateless() bool { return s.meta != nil }

// GoCall starts a tools/call; cb gets the raw CallToolResult.
func (s *Session) GoCall(tool string, args []byte, timeout time.Duration, cb Callback) (int64, error) {
	return s.GoCallWith(tool, args, nil, nil, timeout, cb)
}

// GoCallWith is GoCall with extra members of the params object (raw JSON
// members without braces, such as the inputResponses and requestState of a
// call retried after an input-required result) and of its _meta object
// (such as a progressToken).
func (s *Session) GoCallWith(tool string, args, extra, meta []byte, timeout time.Duration, cb Callback) (int64, error) {
	return s.mux.goWith("tools/call", s.hint(tool, meta), func(b []byte) []byte { return s.appendCallParams(b, tool, args, extra, meta) }, timeout, cb)
}

// hint is what the session knows of a request it builds: its target name
// and the protocol version its _meta carries. Only when a caller's own
// _meta names a version under a 2025 revision must the message be parsed.
func (s *Session) hint(name string, meta []byte) reqHint {
	if s.meta != nil {
		// The session's triple comes last, so its version is the one read.
		return reqHint{name: name, version: Protocol20260728, exact: true}
	}
	if bytes.Contains(meta, []byte(metaVersionKey)) {
		return reqHint{}
	}
	return reqHint{name: name, exact: true}
}

// GoRequest sends any request: params are the raw members of its params
// object (without braces, nil for none) and meta those of its _meta
// object; the session adds what its revision needs. cb gets the raw
// result.
func (s *Session) GoRequest(method string, params, meta []byte, timeout time.Duration, cb Callback) (int64, error) {
	hint := reqHint{}
	switch method {
	case "tools/call", "prompts/get", "resources/read": // named in params: parsed
	default:
		hint = s.hint("", meta)
	}
	return s.mux.goWith(method, hint, func(b []byte) []byte {
		b = append(b, '{')
		b = append(b, params...)
		return s.appendMeta(b, len(params) > 0, meta)
	}, timeout, cb)
}
