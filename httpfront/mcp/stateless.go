package mcp

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-mcp/switchyard/httpfront/web"
	"github.com/switchyard-mcp/switchyard/internal/jsonx"
	"github.com/switchyard-mcp/switchyard/transports"
)

// The _meta keys of the stateless revision (2026-07-28): every request
// carries the client's protocol version, info and capabilities, and may
// carry the log level it wants.
const (
	metaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	metaClientInfo         = "io.modelcontextprotocol/clientInfo"
	metaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
	metaLogLevel           = "io.modelcontextprotocol/logLevel"
	metaServerInfo         = "io.modelcontextprotocol/serverInfo"
)

// statelessRequest serves one request of the stateless revision: a
// session of its own that lives as long as the request, with the
// capabilities and log level its _meta names.
func (r *relay) statelessRequest(ctx *fasthttp.RequestCtx, id, principal, tenant string, env *envelope) {
	if msg := standardHeaders(ctx, env); msg != "" {
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32600, "Bad Request: "+msg)
		return
	}
	var p struct {
		Meta struct {
			ProtocolVersion string             `json:"io.modelcontextprotocol/protocolVersion"`
			Capabilities    clientCapabilities `json:"io.modelcontextprotocol/clientCapabilities"`
			LogLevel        string             `json:"io.modelcontextprotocol/logLevel"`
		} `json:"_meta"`
	}
	if present(env.Params) && json.Unmarshal(env.Params, &p) != nil {
		rpcFail(ctx, http.StatusOK, env.ID, -32602, "Invalid params: params and its _meta must be objects")
		return
	}
	version := p.Meta.ProtocolVersion
	if version == "" {
		version = string(ctx.Request.Header.Peek("Mcp-Protocol-Version"))
	}
	if version != transports.Protocol20260728 {
		b := appendError(nil, env.ID, &transports.RPCError{Code: -32602, Message: "Unsupported protocol version: " + version,
			Data: json.RawMessage(`{"supported":["` + transports.Protocol20260728 + `"]}`)})
		web.Raw(ctx, http.StatusBadRequest, b)
		return
	}
	if _, ok := levels[p.Meta.LogLevel]; p.Meta.LogLevel != "" && !ok {
		rpcFail(ctx, http.StatusOK, env.ID, -32602, "Invalid params: unknown log level "+p.Meta.LogLevel)
		return
	}
	s := &clientSession{r: r, provider: id, principal: principal, tenant: tenant, version: version,
		level: p.Meta.LogLevel, subs: map[string]bool{}, asks: map[string]askFor{}, closed: make(chan struct{})}
	s.setCapabilities(&p.Meta.Capabilities)
	switch env.Method {
	case "server/discover":
		r.discover(ctx, s, env)
	case "logging/setLevel":
		// Deprecated in the stateless revision, which takes the level in
		// each request's _meta: nothing to keep.
		web.Raw(ctx, http.StatusOK, appendResult(nil, env.ID, json.RawMessage(`{}`)))
	case "subscriptions/listen":
		r.listen(ctx, s, env)
	case "resources/subscribe", "resources/unsubscribe":
		rpcFail(ctx, http.StatusOK, env.ID, -32601, "Method not found: the stateless revision subscribes to resources with subscriptions/listen")
	default:
		r.request(ctx, s, env)
	}
}

// discover answers server/discover: the revision, the backend's (or the
// aggregate's) capabilities, serverInfo and instructions.
func (r *relay) discover(ctx *fasthttp.RequestCtx, s *clientSession, env *envelope) {
	rctx := web.Context(ctx)
	b := append(appendHead(nil, env.ID), `,"result":{"supportedVersions":["`+transports.Protocol20260728+`"],"capabilities":`...)
	name, ver, instructions := "switchyard", r.f.opts.Version, ""
	if s.provider != "" {
		if _, err := r.f.rt.Tools(rctx, s.provider, true); err != nil {
			rpcFail(ctx, http.StatusOK, env.ID, -32603, "the server could not be started: "+err.Error())
			return
		}
		info, err := r.f.rt.Get(s.provider)
		if err != nil || info.Server == nil {
			rpcFail(ctx, http.StatusOK, env.ID, -32603, "the server is not running")
			return
		}
		b = append(b, capabilities(info.Server.Capabilities)...)
		name, ver, instructions = info.Server.Name, info.Server.Version, info.Server.Instructions
	} else {
		r.f.discover(rctx, "")
		b = append(b, r.aggregateCapabilities(s)...)
	}
	if instructions != "" {
		b = append(b, `,"instructions":`...)
		b = jsonx.AppendString(b, instructions)
	}
	b = append(b, `,"resultType":"complete","_meta":{"`+metaServerInfo+`":{"name":`...)
	b = jsonx.AppendString(b, name)
	b = append(b, `,"version":`...)
	b = jsonx.AppendString(b, ver)
	web.Raw(ctx, http.StatusOK, append(b, "}}}}"...))
}

// standardHeaders checks the Mcp-Method and Mcp-Name headers a stateless
// request carries against its body; it returns what is wrong, "" if
// nothing.
func standardHeaders(ctx *fasthttp.RequestCtx, env *envelope) string {
	if string(ctx.Request.Header.Peek("Mcp-Protocol-Version")) < transports.Protocol20260728 {
		return ""
	}
	method := string(ctx.Request.Header.Peek("Mcp-Method"))
	switch {
	case method == "":
		return "missing required Mcp-Method header"
	case method != env.Method:
		return "the Mcp-Method header " + quote(method) + " does not match the body's method " + quote(env.Method)
	}
	key := ""
	switch env.Method {
	case "tools/call", "prompts/get":
		key = "name"
	case "resources/read":
		key = "uri"
	default:
		return ""
	}
	var p map[string]json.RawMessage
	_ = json.Unmarshal(env.Params, &p)
	var inBody string
	_ = json.Unmarshal(p[key], &inBody)
	name := string(ctx.Request.Header.Peek("Mcp-Name"))
	switch {
	case name == "":
		return "missing required Mcp-Name header for " + env.Method
	case name != inBody:
		return "the Mcp-Name header " + quote(name) + " does not match the body's " + key + " " + quote(inBody)
	}
	return ""
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// listen serves subscriptions/listen: an SSE stream that acknowledges the
// notifications it will carry (list changes, updates of the resources
// named) and then carries them, each naming the request in its _meta,
// until the client goes away.
func (r *relay) listen(ctx *fasthttp.RequestCtx, s *clientSession, env *envelope) {
	var p struct {
		Notifications struct {
			Tools     bool     `json:"toolsListChanged"`
			Prompts   bool     `json:"promptsListChanged"`
			Resources bool     `json:"resourcesListChanged"`
			URIs      []string `json:"resourceSubscriptions"`
		} `json:"notifications"`
	}
	if present(env.Params) && json.Unmarshal(env.Params, &p) != nil {
		rpcFail(ctx, http.StatusOK, env.ID, -32602, "Invalid params: notifications")
		return
	}
	n := p.Notifications
	if len(n.URIs) > maxListenURIs {
		rpcFail(ctx, http.StatusOK, env.ID, -32602, "Invalid params: at most 1000 resourceSubscriptions")
		return
	}
	if r.streamsEnded() {
		ctx.Response.Header.Set("Retry-After", "5")
		rpcFail(ctx, http.StatusServiceUnavailable, env.ID, -32603, "the gateway is shutting down")
		return
	}
	s.id = newSessionID()
	if s.provider != "" {
		// The provider follows them for as long as the stream lasts (end
		// lets them go); the aggregate's URIs name their providers.
		for _, u := range n.URIs {
			if e := r.follow(s, s.provider, u, true); e != nil {
				r.end(s)
				web.Raw(ctx, http.StatusOK, appendError(nil, env.ID, e))
				return
			}
		}
	} else {
		for _, u := range n.URIs {
			p, rest, ok := splitURI(u)
			if tenant, mine := r.f.owner(p); !ok || !mine || tenant != s.tenant {
				continue // names no provider of the tenant: nothing to follow
			}
			if e := r.follow(s, p, rest, true); e != nil {
				r.end(s)
				web.Raw(ctx, http.StatusOK, appendError(nil, env.ID, e))
				return
			}
		}
	}
	s.want = map[string]bool{"notifications/tools/list_changed": n.Tools, "notifications/prompts/list_changed": n.Prompts,
		"notifications/resources/list_changed": n.Resources}
	for _, u := range n.URIs {
		s.subs[u] = true
	}
	s.stream = make(chan []byte, streamQueue)
	s.attached = true
	r.mu.Lock()
	if r.byProv[s.provider] == nil {
		r.byProv[s.provider] = map[*clientSession]struct{}{}
	}
	r.byProv[s.provider][s] = struct{}{}
	r.mu.Unlock()
	ack, _ := json.Marshal(map[string]any{"toolsListChanged": n.Tools, "promptsListChanged": n.Prompts,
		"resourcesListChanged": n.Resources, "resourceSubscriptions": n.URIs})
	sub := env.ID
	ctx.SetStatusCode(http.StatusOK)
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer r.end(s)
		tick := time.NewTicker(keepAlive)
		defer tick.Stop()
		first := `{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"` +
			transports.MetaSubscriptionID + `":` + string(sub) + `},"notifications":` + string(ack) + `}}`
		if writeEvent(w, []byte(first)) != nil {
			return
		}
		for {
			select {
			case m := <-s.stream:
				if writeEvent(w, withSubscription(m, sub)) != nil {
					return
				}
			case <-tick.C:
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
					return
				}
			case <-s.closed:
				return
			case <-r.streamsEnd:
				return
			}
		}
	})
}

// maxListenURIs bounds the resources one listen stream follows.
const maxListenURIs = 1000

// withSubscription puts the listen request's id in a notification's
// params._meta.
func withSubscription(msg []byte, id json.RawMessage) []byte {
	var m struct {
		JSONRPC string                     `json:"jsonrpc"`
		Method  string                     `json:"method"`
		Params  map[string]json.RawMessage `json:"params"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return msg
	}
	if m.Params == nil {
		m.Params = map[string]json.RawMessage{}
	}
	var meta map[string]json.RawMessage
	_ = json.Unmarshal(m.Params["_meta"], &meta)
	if meta == nil {
		meta = map[string]json.RawMessage{}
	}
	meta[transports.MetaSubscriptionID] = id
	m.Params["_meta"], _ = json.Marshal(meta)
	out, err := json.Marshal(m)
	if err != nil {
		return msg
	}
	return out
}
