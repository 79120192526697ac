package mcp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
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

// JSON-RPC error codes of the stateless revision.
const (
	codeHeaderMismatch             = -32020
	codeUnsupportedProtocolVersion = -32022
)

// removedMethods are the requests the stateless revision no longer has:
// a request of that revision naming one is answered 404, method not found.
var removedMethods = map[string]bool{"initialize": true, "ping": true, "logging/setLevel": true,
	"resources/subscribe": true, "resources/unsubscribe": true}

// statelessWire reports whether a request says it is of the stateless
// revision, by its header or its _meta.
func statelessWire(ctx *fasthttp.RequestCtx, env *envelope) bool {
	if string(ctx.Request.Header.Peek("Mcp-Protocol-Version")) >= transports.Protocol20260728 {
		return true
	}
	var p struct {
		Meta struct {
			ProtocolVersion string `json:"io.modelcontextprotocol/protocolVersion"`
		} `json:"_meta"`
	}
	return present(env.Params) && json.Unmarshal(env.Params, &p) == nil && p.Meta.ProtocolVersion >= transports.Protocol20260728
}

// statelessRequest serves one request of the stateless revision: a
// session of its own that lives as long as the request, with the
// capabilities and log level its _meta names. Its answer follows the
// revision's rules: a result names its resultType (and a list its
// caching hints), a method not found is HTTP 404, bad params and an
// unsupported version HTTP 400.
func (r *relay) statelessRequest(ctx *fasthttp.RequestCtx, id, principal, tenant string, env *envelope) {
	if msg := standardHeaders(ctx, env); msg != "" {
		rpcFail(ctx, http.StatusBadRequest, env.ID, codeHeaderMismatch, "Bad Request: "+msg)
		return
	}
	var p struct {
		Meta *struct {
			ProtocolVersion string              `json:"io.modelcontextprotocol/protocolVersion"`
			ClientInfo      json.RawMessage     `json:"io.modelcontextprotocol/clientInfo"`
			Capabilities    *clientCapabilities `json:"io.modelcontextprotocol/clientCapabilities"`
			LogLevel        string              `json:"io.modelcontextprotocol/logLevel"`
		} `json:"_meta"`
	}
	if present(env.Params) && json.Unmarshal(env.Params, &p) != nil {
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32602, "Invalid params: params and its _meta must be objects")
		return
	}
	if removedMethods[env.Method] {
		rpcFail(ctx, http.StatusNotFound, env.ID, -32601, fmt.Sprintf("Method not found: %q is not in the stateless revision", env.Method))
		return
	}
	header := string(ctx.Request.Header.Peek("Mcp-Protocol-Version"))
	switch m := p.Meta; {
	case m != nil && header != "" && m.ProtocolVersion != "" && header != m.ProtocolVersion:
		rpcFail(ctx, http.StatusBadRequest, env.ID, codeHeaderMismatch, fmt.Sprintf(
			"Bad Request: the Mcp-Protocol-Version header %q does not match the _meta protocol version %q", header, m.ProtocolVersion))
		return
	case m == nil:
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32602, "Invalid params: a request of the stateless revision carries _meta")
		return
	case m.ProtocolVersion == "":
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32602, "Invalid params: _meta names no "+metaProtocolVersion)
		return
	case m.ProtocolVersion != transports.Protocol20260728:
		data, _ := json.Marshal(map[string]any{"supported": []string{transports.Protocol20260728}, "requested": m.ProtocolVersion})
		web.Raw(ctx, http.StatusBadRequest, appendError(nil, env.ID, &transports.RPCError{Code: codeUnsupportedProtocolVersion,
			Message: "Unsupported protocol version: " + m.ProtocolVersion, Data: data}))
		return
	case m.Capabilities == nil:
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32602, "Invalid params: _meta names no "+metaClientCapabilities)
		return
	case m.LogLevel != "" && !knownLevel(m.LogLevel):
		rpcFail(ctx, http.StatusBadRequest, env.ID, -32602, "Invalid params: unknown log level "+m.LogLevel)
		return
	}
	s := &clientSession{r: r, provider: id, principal: principal, tenant: tenant, version: p.Meta.ProtocolVersion,
		level: p.Meta.LogLevel, subs: map[string]bool{}, asks: map[string]askFor{}, closed: make(chan struct{})}
	s.setCapabilities(p.Meta.Capabilities)
	switch env.Method {
	case "server/discover":
		r.discover(ctx, s, env)
	case "subscriptions/listen":
		r.listen(ctx, s, env)
	default:
		r.request(ctx, s, env)
	}
	if ctx.Response.IsBodyStream() {
		return
	}
	var m transports.Message
	if transports.ParseMessage(ctx.Response.Body(), &m) != nil {
		return
	}
	if m.Error != nil {
		switch m.Error.Code {
		case -32601:
			ctx.SetStatusCode(http.StatusNotFound)
		case -32602, codeUnsupportedProtocolVersion, -32021:
			ctx.SetStatusCode(http.StatusBadRequest)
		}
	}
}

func knownLevel(l string) bool { _, ok := levels[l]; return ok }

// finish is a session's answer as its revision has it (see completeAnswer).
func (s *clientSession) finish(method string, answer []byte) []byte {
	if s.version < transports.Protocol20260728 {
		return answer
	}
	return completeAnswer(method, answer)
}

// cacheable are the methods whose results carry caching hints in the
// stateless revision.
var cacheable = map[string]bool{"tools/list": true, "prompts/list": true, "resources/list": true,
	"resources/templates/list": true, "server/discover": true}

// completeAnswer fills in what the stateless revision requires of a
// result and an answer of another revision (a backend of a session
// revision, or the gateway's own list) leaves out: resultType
// "complete" and, for a list, the caching hints: private (what a client
// sees depends on who it is) and a TTL of 0 (lists change with the
// providers, which say so with list_changed). Anything else is returned
// as it is.
func completeAnswer(method string, answer []byte) []byte {
	var m transports.Message
	if transports.ParseMessage(answer, &m) != nil || len(m.Result) == 0 || m.Result[0] != '{' {
		return answer
	}
	var hasType, hasTTL, hasScope bool
	if jsonx.Members(m.Result, func(k, _ []byte) bool {
		switch string(k) {
		case "resultType":
			hasType = true
		case "ttlMs":
			hasTTL = true
		case "cacheScope":
			hasScope = true
		}
		return true
	}) != nil {
		return answer
	}
	list := cacheable[method]
	if hasType && (!list || hasTTL && hasScope) {
		return answer
	}
	res := make([]byte, 0, len(m.Result)+64)
	res = append(res, '{')
	if !hasType {
		res = append(res, `"resultType":"complete",`...)
	}
	if list && !hasTTL {
		res = append(res, `"ttlMs":0,`...)
	}
	if list && !hasScope {
		res = append(res, `"cacheScope":"private",`...)
	}
	rest := bytes.TrimSpace(m.Result[1:])
	if len(rest) > 0 && rest[0] == '}' {
		res = res[:len(res)-1] // the object was empty: no member follows
	}
	res = append(res, rest...)
	return appendResult(nil, m.ID, res)
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
	b = append(b, `,"resultType":"complete","ttlMs":0,"cacheScope":"private","_meta":{"`+metaServerInfo+`":{"name":`...)
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
