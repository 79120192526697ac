package transports

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Headers of the streamable HTTP transport.
const (
	hdrSession     = "Mcp-Session-Id"
	hdrProtocol    = "Mcp-Protocol-Version"
	hdrLastEventID = "Last-Event-ID"
	hdrMethod      = "Mcp-Method"
	hdrName        = "Mcp-Name"
	hdrParamPrefix = "Mcp-Param-"
)

// paramBinding ties a tools/call argument, by its property path in the
// tool's input schema, to the Mcp-Param- header that must repeat it.
type paramBinding struct {
	path   []string
	header string
}

// schemaProps is the part of a JSON schema that x-mcp-header annotations
// live in.
type schemaProps struct {
	XMCPHeader json.RawMessage        `json:"x-mcp-header"`
	Properties map[string]schemaProps `json:"properties"`
}

// toolHeaderBindings reads a tools/list result and returns, for each listed
// tool, the argument headers its input schema asks for (nil for none).
func toolHeaderBindings(result json.RawMessage) map[string][]paramBinding {
	var res struct {
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
		} `json:"tools"`
	}
	if json.Unmarshal(result, &res) != nil {
		return nil
	}
	out := make(map[string][]paramBinding, len(res.Tools))
	for _, t := range res.Tools {
		var s schemaProps
		if t.Name == "" || json.Unmarshal(t.InputSchema, &s) != nil {
			continue
		}
		out[t.Name] = collectBindings(s.Properties, nil, nil)
	}
	return out
}

func collectBindings(props map[string]schemaProps, prefix []string, out []paramBinding) []paramBinding {
	for name, p := range props {
		path := append(append(make([]string, 0, len(prefix)+1), prefix...), name)
		var h string
		if json.Unmarshal(p.XMCPHeader, &h) == nil && h != "" {
			out = append(out, paramBinding{path: path, header: h})
		}
		if len(p.Properties) > 0 {
			out = collectBindings(p.Properties, path, out)
		}
	}
	return out
}

// setStandardHeaders adds the headers the 2026-07-28 revision requires on
// a request: Mcp-Method, Mcp-Name for the methods that name their target,
// and the Mcp-Param- headers a tool's schema asks for.
func setStandardHeaders(h http.Header, m *remoteMsg, bindings []paramBinding) {
	standardHeaders(m, bindings, h.Set)
}

// standardHeaders is setStandardHeaders for any kind of header set.
func standardHeaders(m *remoteMsg, bindings []paramBinding, set func(name, value string)) {
	if m.method == "" || m.isResponse() {
		return
	}
	set(hdrMethod, m.method)
	if m.name != "" {
		// The name goes as it is, as servers compare it with the body's;
		// only one no header could carry is wrapped.
		name := m.name
		if !validHeaderField(hdrName, name) {
			name = mcpHeaderValue(name)
		}
		set(hdrName, name)
	}
	if len(bindings) == 0 {
		return
	}
	var msg struct {
		Params struct {
			Arguments map[string]json.RawMessage `json:"arguments"`
		} `json:"params"`
	}
	if json.Unmarshal(m.line, &msg) != nil || msg.Params.Arguments == nil {
		return
	}
	for _, b := range bindings {
		raw, ok := lookupToolArg(msg.Params.Arguments, b.path)
		if !ok {
			continue
		}
		if v, ok := primitiveHeader(raw); ok {
			set(hdrParamPrefix+b.header, v)
		}
	}
}

// lookupToolArg finds the value at path in a tools/call arguments object.
func lookupToolArg(args map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	cur, ok := args[path[0]]
	for _, part := range path[1:] {
		if !ok {
			return nil, false
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(cur, &obj) != nil {
			return nil, false
		}
		cur, ok = obj[part]
	}
	return cur, ok
}

// primitiveHeader renders a string, boolean or safe integer argument as a
// header value; other values have no header.
func primitiveHeader(raw json.RawMessage) (string, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return mcpHeaderValue(v), true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		const maxSafe = 1<<53 - 1
		if v != math.Trunc(v) || math.Abs(v) > maxSafe {
			return "", false
		}
		return strconv.FormatInt(int64(v), 10), true
	default:
		return "", false
	}
}

// mcpHeaderValue returns s as is when it is plain printable ASCII without
// surrounding blanks, and base64-wrapped ("=?base64?...?=") otherwise.
func mcpHeaderValue(s string) string {
	const pre, suf = "=?base64?", "?="
	plain := s == "" || (s[0] != ' ' && s[0] != '\t' && s[len(s)-1] != ' ' && s[len(s)-1] != '\t')
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= 0x20 && s[i] <= 0x7e
	}
	if plain && (!strings.HasPrefix(s, pre) || !strings.HasSuffix(s, suf)) {
		return s
	}
	return pre + base64.StdEncoding.EncodeToString([]byte(s)) + suf
}
