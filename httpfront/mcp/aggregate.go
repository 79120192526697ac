package mcp

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/switchyard-mcp/switchyard/actors"
	"github.com/switchyard-mcp/switchyard/internal/jsonx"
	"github.com/switchyard-mcp/switchyard/transports"
)

// The aggregate /mcp is a relay session over every provider and group of
// the default tenant. Names and URIs carry the provider they belong to:
//
//	tools     {provider}__{tool}      (a group's tools: {group}__{tool})
//	prompts   {provider}__{prompt}
//	resources switchyard://{provider}/{the backend's URI, unchanged}
//
// Resource templates get the same prefix, so a URI built from one reads
// from its provider. Requests that name one of them go to its provider
// (a call to a group's tool to one of its members); the lists are every
// provider's, merged.

// ResourcePrefix starts every resource URI of the aggregate.
const ResourcePrefix = "switchyard://"

// prefixURI is a provider's resource URI as the aggregate shows it.
func prefixURI(provider, uri string) string { return ResourcePrefix + provider + "/" + uri }

// splitURI is the reverse of prefixURI; ok is false for a URI it did not
// build.
func splitURI(uri string) (provider, rest string, ok bool) {
	after, found := strings.CutPrefix(uri, ResourcePrefix)
	if !found {
		return "", "", false
	}
	provider, rest, ok = strings.Cut(after, "/")
	return provider, rest, ok && provider != ""
}

// route picks the provider (or group) a request of the session goes to
// and rewrites its params for it. For a request the aggregate answers by
// merging every provider's answers (the lists, logging/setLevel) it
// leaves c.target empty.
func (r *relay) route(c *relayCall, method string, members map[string]json.RawMessage) *transports.RPCError {
	s := c.s
	if s.provider != "" {
		c.target = s.provider
		c.providers = []string{s.provider}
		return nil
	}
	unknown := func(what, v string) *transports.RPCError {
		return &transports.RPCError{Code: -32602, Message: "Invalid params: " + what + " " + strings.TrimSpace(v) +
			" names no provider (the aggregate's names are {provider}__{name}, its resource URIs " + ResourcePrefix + "{provider}/{uri})"}
	}
	var target string
	switch method {
	case "resources/list", "resources/templates/list", "prompts/list", "logging/setLevel":
		return nil
	case "tools/call", "prompts/get":
		var name string
		_ = json.Unmarshal(members["name"], &name)
		p, rest, ok := strings.Cut(name, Sep)
		if !ok || p == "" || rest == "" {
			return unknown("name", name)
		}
		target = p
		members["name"] = jsonString(rest)
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		var uri string
		_ = json.Unmarshal(members["uri"], &uri)
		p, rest, ok := splitURI(uri)
		if !ok {
			return unknown("uri", uri)
		}
		target = p
		members["uri"] = jsonString(rest)
	case "completion/complete":
		var ref map[string]json.RawMessage
		if json.Unmarshal(members["ref"], &ref) != nil {
			return &transports.RPCError{Code: -32602, Message: "Invalid params: ref"}
		}
		var name, uri string
		_ = json.Unmarshal(ref["name"], &name)
		_ = json.Unmarshal(ref["uri"], &uri)
		switch {
		case name != "":
			p, rest, ok := strings.Cut(name, Sep)
			if !ok || p == "" {
				return unknown("ref name", name)
			}
			target, ref["name"] = p, jsonString(rest)
		default:
			p, rest, ok := splitURI(uri)
			if !ok {
				return unknown("ref uri", uri)
			}
			target, ref["uri"] = p, jsonString(rest)
		}
		members["ref"], _ = json.Marshal(ref)
	default:
		return &transports.RPCError{Code: -32601, Message: "Method not found: " + method}
	}
	if tenant, ok := r.f.owner(target); !ok || tenant != s.tenant {
		return unknown("", target)
	}
	c.target = target
	c.providers = []string{target}
	if g, err := r.f.rt.Group(target); err == nil {
		c.providers = c.providers[:0]
		for _, m := range g.Members {
			c.providers = append(c.providers, m.ID)
		}
	}
	return nil
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// visible lists the running providers of the session's tenant whose
// backends declared capability cap ("" for any).
func (r *relay) visible(s *clientSession, cap string) []string {
	var ids []string
	for _, id := range r.f.rt.IDs() {
		info, err := r.f.rt.Get(id)
		if err != nil || info.Spec.Tenant != s.tenant || info.Server == nil {
			continue
		}
		if cap != "" {
			var caps map[string]json.RawMessage
			if json.Unmarshal(info.Server.Capabilities, &caps) != nil || caps[cap] == nil {
				continue
			}
		}
		ids = append(ids, id)
	}
	return ids
}

// merged answers a request the aggregate answers from every provider:
// the lists, with each item's name or URI prefixed by its provider, and
// logging/setLevel, passed to every provider that logs.
func (r *relay) merged(ctx context.Context, s *clientSession, method string, id json.RawMessage) []byte {
	r.f.discover(ctx, "")
	var key, field, cap string
	switch method {
	case "resources/list":
		key, field, cap = "resources", "uri", "resources"
	case "resources/templates/list":
		key, field, cap = "resourceTemplates", "uriTemplate", "resources"
	case "prompts/list":
		key, field, cap = "prompts", "name", "prompts"
	case "logging/setLevel":
		// The level is the session's (local kept it); each backend that
		// logs gets it too, so that it sends its messages at all.
		s.mu.Lock()
		level := s.level
		s.mu.Unlock()
		params := append([]byte(`"level":`), jsonString(level)...)
		var wg sync.WaitGroup
		for _, p := range r.visible(s, "logging") {
			wg.Go(func() {
				_, _ = r.f.rt.Forward(ctx, s.forward(p, method, params))
			})
		}
		wg.Wait()
		return appendResult(nil, id, json.RawMessage(`{}`))
	}
	ids := r.visible(s, cap)
	items := make([][]json.RawMessage, len(ids))
	var wg sync.WaitGroup
	for i, p := range ids {
		wg.Go(func() { items[i] = r.listAll(ctx, s, p, method, key, field) })
	}
	wg.Wait()
	b := append(appendHead(nil, id), `,"result":{`...)
	b = jsonx.AppendString(b, key)
	b = append(b, ":["...)
	n := 0
	for _, list := range items {
		for _, it := range list {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, it...)
			n++
		}
	}
	return append(b, "]}}"...)
}

// maxPages bounds the pages of one provider's list the aggregate follows.
const maxPages = 20

// listAll reads every page of one provider's list and prefixes each
// item's field (a URI or a name) with the provider.
func (r *relay) listAll(ctx context.Context, s *clientSession, provider, method, key, field string) []json.RawMessage {
	var out []json.RawMessage
	var cursor string
	for range maxPages {
		var params []byte
		if cursor != "" {
			params = append([]byte(`"cursor":`), jsonString(cursor)...)
		}
		raw, err := r.f.rt.Forward(ctx, s.forward(provider, method, params))
		if err != nil {
			r.f.opts.Logger.Debug("a provider's list is left out of the aggregate", "provider", provider, "method", method, "err", err)
			return out
		}
		var page map[string]json.RawMessage
		if json.Unmarshal(raw, &page) != nil {
			return out
		}
		var list []map[string]json.RawMessage
		_ = json.Unmarshal(page[key], &list)
		for _, it := range list {
			var v string
			if json.Unmarshal(it[field], &v) != nil {
				continue
			}
			if field == "name" {
				it[field] = jsonString(provider + Sep + v)
			} else {
				it[field] = jsonString(prefixURI(provider, v))
			}
			b, _ := json.Marshal(it)
			out = append(out, b)
		}
		_ = json.Unmarshal(page["nextCursor"], &cursor)
		if cursor == "" {
			return out
		}
	}
	return out
}

// prefixContents rewrites the URIs of a resources/read result for the
// aggregate.
func prefixContents(provider string, res json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(res, &m) != nil {
		return res
	}
	var contents []map[string]json.RawMessage
	if json.Unmarshal(m["contents"], &contents) != nil {
		return res
	}
	for _, c := range contents {
		var uri string
		if json.Unmarshal(c["uri"], &uri) == nil {
			c["uri"] = jsonString(prefixURI(provider, uri))
		}
	}
	m["contents"], _ = json.Marshal(contents)
	out, err := json.Marshal(m)
	if err != nil {
		return res
	}
	return out
}

// aggregateTools lists the aggregate's tools: every provider's and
// group's of the default tenant, named {id}__{tool}.
func (r *relay) aggregateTools(ctx context.Context, id json.RawMessage) []byte {
	r.f.discover(ctx, "")
	v := r.f.agg
	v.mu.Lock()
	names := make([]string, 0, len(v.tools))
	defs := make([]string, 0, len(v.tools))
	for name, raw := range v.tools {
		names = append(names, name)
		defs = append(defs, raw)
	}
	v.mu.Unlock()
	b := append(appendHead(nil, id), `,"result":{"tools":[`...)
	for i, raw := range defs {
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(raw), &m) != nil {
			continue
		}
		m["name"] = jsonString(names[i])
		def, _ := json.Marshal(m)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, def...)
	}
	return append(b, "]}}"...)
}

// aggregateCapabilities is the union of the capabilities of the default
// tenant's running providers, with what the aggregate always serves.
func (r *relay) aggregateCapabilities(s *clientSession) []byte {
	caps := map[string]json.RawMessage{
		"tools":   json.RawMessage(`{"listChanged":true}`),
		"logging": json.RawMessage(`{}`),
	}
	for _, id := range r.visible(s, "") {
		info, err := r.f.rt.Get(id)
		if err != nil || info.Server == nil {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(info.Server.Capabilities, &m) != nil {
			continue
		}
		for k, v := range m {
			switch k {
			case "resources":
				caps[k] = json.RawMessage(`{"subscribe":true,"listChanged":true}`)
			case "prompts":
				caps[k] = json.RawMessage(`{"listChanged":true}`)
			case "tools", "logging":
			default:
				if _, ok := caps[k]; !ok {
					caps[k] = v
				}
			}
		}
	}
	b, _ := json.Marshal(caps)
	return b
}

// forward is the session's request of method to a provider.
func (s *clientSession) forward(provider, method string, params []byte) *actors.ForwardRequest {
	return &actors.ForwardRequest{Tenant: s.tenant, Principal: s.principal, Target: provider, Method: method, Params: params}
}
