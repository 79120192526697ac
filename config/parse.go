package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxAliasNodes bounds the number of nodes reachable through YAML aliases, so
// that nested aliases cannot blow up.
const maxAliasNodes = 100_000

// maxProblems bounds the number of problems reported.
const maxProblems = 200

const (
	tagNull  = "!!null"
	tagStr   = "!!str"
	tagInt   = "!!int"
	tagFloat = "!!float"
	tagBool  = "!!bool"
	tagMerge = "!!merge"
)

// Load reads and parses the configuration file at path. See Parse.
func Load(path string) (*Config, error) {
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	_ = f.Close() // read-only: a close error cannot lose data
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses and validates a configuration file; name is used in error
// messages. An empty file is a valid configuration without providers. On
// success defaults have been applied. Invalid input yields an *Error listing
// every problem with its position and field path.
func Parse(name string, data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{Problems: []Problem{{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}}
	}
	doc, p := decodeYAML(data)
	if p != nil {
		p.File = name
		return nil, &Error{Problems: []Problem{*p}}
	}
	c, err := parseDoc(name, doc)
	if err != nil {
		return nil, err
	}
	c.ApplyDefaults()
	return c, nil
}

// ParseProvider parses one provider given as a JSON (or YAML) object, such
// as the body of POST /api/providers, with the same strict rules and the
// same field list as a provider of the file; idKey names the member that
// holds its id. Problems name the body's line and column and the field
// (mode, command, ...). Defaults are not applied: the caller applies those
// of the running gateway (Provider.ApplyDefaults).
func ParseProvider(name string, data []byte, idKey string) (*Provider, error) {
	bad := func(line, col int, format string, args ...any) error {
		return &Error{Problems: []Problem{{File: name, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}}}
	}
	if len(data) > MaxFileSize {
		return nil, bad(0, 0, "larger than %d bytes", MaxFileSize)
	}
	doc, p := decodeYAML(data)
	if p != nil {
		p.File = name
		return nil, &Error{Problems: []Problem{*p}}
	}
	if doc == nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		line, col := 0, 0
		if doc != nil && len(doc.Content) == 1 {
			line, col = doc.Content[0].Line, doc.Content[0].Column
		}
		return nil, bad(line, col, "must be an object")
	}
	body := doc.Content[0]
	var id *yaml.Node
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: body.Line, Column: body.Column}
	for i := 0; i+1 < len(body.Content); i += 2 {
		if k := body.Content[i]; k.Kind == yaml.ScalarNode && k.Value == idKey {
			id = body.Content[i+1]
			continue
		}
		rest.Content = append(rest.Content, body.Content[i], body.Content[i+1])
	}
	if id == nil {
		return nil, bad(body.Line, body.Column, "%s is required", idKey)
	}
	if id.Kind != yaml.ScalarNode || id.Tag != tagStr || id.Value == "" {
		return nil, bad(id.Line, id.Column, "%s must be a non-empty string", idKey)
	}
	// The provider goes through the file's walker and checks, as the only
	// provider of a file.
	wrapped := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{
		Kind: yaml.MappingNode, Tag: "!!map", Line: body.Line, Column: body.Column,
		Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: tagStr, Value: "providers", Line: body.Line, Column: body.Column},
			{Kind: yaml.MappingNode, Tag: "!!map", Line: body.Line, Column: body.Column, Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: tagStr, Value: id.Value, Line: id.Line, Column: id.Column}, rest,
			}},
		},
	}}}
	c, err := parseDoc(name, wrapped)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			prefix := join("providers", id.Value)
			for i := range e.Problems {
				switch path := e.Problems[i].Path; {
				case path == prefix:
					e.Problems[i].Path = idKey
				case strings.HasPrefix(path, prefix+"."):
					e.Problems[i].Path = path[len(prefix)+1:]
				}
			}
		}
		return nil, err
	}
	return c.Providers[id.Value], nil
}

// parseDoc walks and checks a parsed document; defaults are not applied.
func parseDoc(name string, doc *yaml.Node) (*Config, error) {
	w := &walker{
		pos:   make(map[string]position),
		bad:   make(map[string]bool),
		sizes: make(map[*yaml.Node]int),
	}
	c := &Config{}
	w.root(doc, c)

	var sem problems
	c.check(&sem)
	all := w.probs
	for _, p := range sem.list {
		if w.suppressed(p.Path) {
			continue
		}
		p.Line, p.Column = w.locate(p.Path)
		all = append(all, p)
	}
	if w.provKey != "" && w.provKey != "providers" {
		for i := range all {
			all[i].Path = rename(all[i].Path, "providers", w.provKey)
		}
	}
	all = append(all, w.late...)
	if len(all) > 0 {
		sortProblems(all)
		if len(all) > maxProblems {
			n := len(all) - maxProblems
			all = append(all[:maxProblems], Problem{Msg: fmt.Sprintf("%d more problems not shown", n)})
		}
		for i := range all {
			all[i].File = name
		}
		return nil, &Error{Problems: all}
	}
	return c, nil
}

var syntaxErrRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeYAML parses a single YAML document. It returns nil for an empty
// document.
func decodeYAML(data []byte) (doc *yaml.Node, p *Problem) {
	defer func() {
		if r := recover(); r != nil {
			doc, p = nil, &Problem{Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxProblem(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxProblem(err)
	default:
		at := &extra
		if len(extra.Content) > 0 {
			at = extra.Content[0]
		}
		return nil, &Problem{Line: at.Line, Column: at.Column, Msg: "multiple YAML documents are not supported"}
	}
	return &n, nil
}

func syntaxProblem(err error) *Problem {
	msg := err.Error()
	if m := syntaxErrRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Problem{Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Problem{Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// rename replaces the leading path element from with to.
func rename(path, from, to string) string {
	if path == from || strings.HasPrefix(path, from+".") {
		return to + path[len(from):]
	}
	return path
}

// parent returns the path one level up: "a.b[1]" gives "a.b", "a.b" gives "a".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

type position struct{ line, col int }

// walker converts a YAML node tree into a Config, recording the position of
// every field path and reporting structural problems.
type walker struct {
	probs []Problem
	late  []Problem // problems whose paths must not be renamed
	// pos maps field paths (with "providers" even when the alias is used) to
	// the position of their key or list item.
	pos map[string]position
	// bad holds the paths whose values were rejected, so that semantic
	// checks do not report them again.
	bad map[string]bool
	// provKey is the key that held the providers: providers or mcp_servers.
	provKey  string
	provLine int

	sizes       map[*yaml.Node]int
	expanded    int
	aliasFailed bool
}

// report records a problem at path, located at the recorded position of path
// or else at n.
func (w *walker) report(path string, n *yaml.Node, format string, args ...any) {
	line, col := n.Line, n.Column
	if p, ok := w.pos[path]; ok {
		line, col = p.line, p.col
	}
	w.probs = append(w.probs, Problem{Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// reportKey records a problem about the key k of the mapping at path,
// located at k.
func (w *walker) reportKey(path string, k *yaml.Node, format string, args ...any) {
	w.probs = append(w.probs, Problem{Line: k.Line, Column: k.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fail reports a rejected value at path.
func (w *walker) fail(path string, n *yaml.Node, format string, args ...any) {
	w.report(path, n, format, args...)
	w.bad[path] = true
}

// suppressed reports whether path or one of its parents had its value
// rejected.
func (w *walker) suppressed(path string) bool {
	for {
		if w.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parent(path)
	}
}

// locate returns the position recorded for path or its nearest parent.
func (w *walker) locate(path string) (line, col int) {
	for {
		if p, ok := w.pos[path]; ok {
			return p.line, p.col
		}
		if path == "" {
			return 0, 0
		}
		path = parent(path)
	}
}

// deref follows aliases, charging the size of their targets against
// maxAliasNodes. It returns nil once the budget is exhausted.
func (w *walker) deref(n *yaml.Node, path string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		w.expanded += w.size(n.Alias)
		if w.expanded > maxAliasNodes {
			if !w.aliasFailed {
				w.aliasFailed = true
				w.fail(path, n, "aliases expand to more than %d nodes", maxAliasNodes)
			}
			w.bad[path] = true
			return nil
		}
		n = n.Alias
	}
	return n
}

// size counts the nodes of the tree at n, with aliases expanded, saturating
// above maxAliasNodes. A node that contains itself counts as too large.
func (w *walker) size(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	if s, ok := w.sizes[n]; ok {
		return s
	}
	const tooLarge = maxAliasNodes + 1
	w.sizes[n] = tooLarge // a cycle back to n is too large
	s := 1
	if n.Kind == yaml.AliasNode {
		s += w.size(n.Alias)
	}
	for _, c := range n.Content {
		if s >= tooLarge {
			break
		}
		s += w.size(c)
	}
	s = min(s, tooLarge)
	w.sizes[n] = s
	return s
}

// value dereferences v and returns nil for null or a missing value.
func (w *walker) value(v *yaml.Node, path string) *yaml.Node {
	v = w.deref(v, path)
	if v == nil || v.Kind == 0 || (v.Kind == yaml.ScalarNode && v.ShortTag() == tagNull) {
		return nil
	}
	return v
}

// describe names the kind and value of n for messages.
func describe(n *yaml.Node) string {
	if n == nil {
		return "null"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	tag := n.ShortTag()
	switch tag {
	case tagStr:
		return quote(n.Value)
	case tagNull:
		return "null"
	case tagInt, tagFloat, tagBool:
		return shorten(n.Value)
	}
	return tag + " " + quote(n.Value)
}

// plainScalar reports whether n is a scalar of a standard non-null type.
func plainScalar(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	switch n.ShortTag() {
	case tagStr, tagInt, tagFloat, tagBool:
		return true
	}
	return false
}

// fields walks a mapping, dispatching each key to its handler. Unknown and
// duplicate keys are reported.
func (w *walker) fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, at string)) {
	w.mapping(n, path, func(key string, k, v *yaml.Node, at string) {
		h, ok := handlers[key]
		if !ok {
			msg := "unknown field"
			if s := suggest(key, handlers); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			w.report(at, k, "%s", msg)
			return
		}
		h(v, at)
	})
}

// mapping walks the entries of a mapping, recording the position of each
// key and reporting bad and duplicate keys. n must not be an alias.
func (w *walker) mapping(n *yaml.Node, path string, f func(key string, k, v *yaml.Node, at string)) bool {
	if n.Kind != yaml.MappingNode {
		w.fail(path, n, "must be a mapping (got %s)", describe(n))
		return false
	}
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := w.deref(n.Content[i], path), n.Content[i+1]
		if k == nil {
			continue
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == tagMerge {
			w.reportKey(path, k, "merge keys (<<) are not supported")
			w.bad[path] = true
			continue
		}
		if !plainScalar(k) {
			w.reportKey(path, k, "keys must be strings (got %s)", describe(k))
			continue
		}
		if !utf8.ValidString(k.Value) {
			w.reportKey(path, k, "keys must be valid UTF-8")
			continue
		}
		key := k.Value
		at := join(path, key)
		if first, dup := seen[key]; dup {
			w.reportKey(at, k, "duplicate key (first defined at line %d)", first.Line)
			continue
		}
		seen[key] = k
		w.pos[at] = position{k.Line, k.Column}
		f(key, k, v, at)
	}
	return true
}

// str reads a string. It returns false for null.
func (w *walker) str(v *yaml.Node, at string) (string, bool) {
	v = w.value(v, at)
	if v == nil {
		return "", false
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != tagStr {
		w.fail(at, v, "must be a string (got %s)", describe(v))
		return "", false
	}
	if !utf8.ValidString(v.Value) {
		w.fail(at, v, "must be valid UTF-8")
		return "", false
	}
	return v.Value, true
}

// text reads a scalar of any standard type as written, for command
// arguments, environment values and headers. Null is rejected.
func (w *walker) text(v *yaml.Node, at string) (string, bool) {
	v = w.deref(v, at)
	if v == nil {
		return "", false
	}
	if !plainScalar(v) {
		w.fail(at, v, "must be a string (got %s)", describe(v))
		return "", false
	}
	if !utf8.ValidString(v.Value) {
		w.fail(at, v, "must be valid UTF-8")
		return "", false
	}
	return v.Value, true
}

// textList reads a list of scalars. An explicit empty list yields an empty,
// non-nil slice; null yields nil.
func (w *walker) textList(v *yaml.Node, at string) []string {
	v = w.value(v, at)
	if v == nil {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		w.fail(at, v, "must be a list of strings (got %s)", describe(v))
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for i, e := range v.Content {
		ip := index(at, i)
		w.pos[ip] = position{e.Line, e.Column}
		s, _ := w.text(e, ip)
		out = append(out, s)
	}
	return out
}

// textMap reads a mapping of scalars. An explicit empty mapping yields an
// empty, non-nil map; null yields nil.
func (w *walker) textMap(v *yaml.Node, at string) map[string]string {
	v = w.value(v, at)
	if v == nil {
		return nil
	}
	out := make(map[string]string)
	if !w.mapping(v, at, func(key string, _, ev *yaml.Node, kp string) {
		s, _ := w.text(ev, kp)
		out[key] = s
	}) {
		return nil
	}
	return out
}

// integer reads an integer in [math.MinInt64, limit]. When positive is set
// an explicit 0 is rejected; negative values are left to Validate.
func (w *walker) integer(v *yaml.Node, at string, limit int64, positive bool) (int64, bool) {
	v = w.value(v, at)
	if v == nil {
		return 0, false
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != tagInt {
		w.fail(at, v, "must be an integer (got %s)", describe(v))
		return 0, false
	}
	var n int64
	if err := v.Decode(&n); err != nil || n > limit || n < -limit {
		w.fail(at, v, "must be an integer between %d and %d (got %s)", -limit, limit, describe(v))
		return 0, false
	}
	if positive && n == 0 {
		w.fail(at, v, "must be greater than 0 (got 0)")
		return 0, false
	}
	return n, true
}

func (w *walker) positiveInt(v *yaml.Node, at string) int {
	n, _ := w.integer(v, at, math.MaxInt32, true)
	return int(n)
}

func (w *walker) intPtr(v *yaml.Node, at string) *int {
	n, ok := w.integer(v, at, math.MaxInt32, false)
	if !ok {
		return nil
	}
	return ptr(int(n))
}

// number reads an integer or float. When positive is set an explicit 0 is
// rejected; other range checks are left to Validate.
func (w *walker) number(v *yaml.Node, at string, positive bool) (float64, bool) {
	v = w.value(v, at)
	if v == nil {
		return 0, false
	}
	if v.Kind != yaml.ScalarNode || (v.ShortTag() != tagInt && v.ShortTag() != tagFloat) {
		w.fail(at, v, "must be a number (got %s)", describe(v))
		return 0, false
	}
	var f float64
	if err := v.Decode(&f); err != nil {
		w.fail(at, v, "must be a number (got %s)", describe(v))
		return 0, false
	}
	if f == 0 {
		f = 0 // no negative zero
		if positive {
			w.fail(at, v, "must be greater than 0 (got %s)", describe(v))
			return 0, false
		}
	}
	return f, true
}

func (w *walker) positiveNumber(v *yaml.Node, at string) float64 {
	f, _ := w.number(v, at, true)
	return f
}

func (w *walker) numberPtr(v *yaml.Node, at string) *float64 {
	f, ok := w.number(v, at, false)
	if !ok {
		return nil
	}
	return &f
}

func (w *walker) boolean(v *yaml.Node, at string) (bool, bool) {
	v = w.value(v, at)
	if v == nil {
		return false, false
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != tagBool {
		w.fail(at, v, "must be true or false (got %s)", describe(v))
		return false, false
	}
	var b bool
	if err := v.Decode(&b); err != nil {
		w.fail(at, v, "must be true or false (got %s)", describe(v))
		return false, false
	}
	return b, true
}

func (w *walker) boolPtr(v *yaml.Node, at string) *bool {
	b, ok := w.boolean(v, at)
	if !ok {
		return nil
	}
	return &b
}

// object walks a mapping value with the given field handlers; null is
// treated as an empty mapping.
func (w *walker) object(v *yaml.Node, at string, handlers map[string]func(v *yaml.Node, at string)) {
	v = w.value(v, at)
	if v == nil {
		return
	}
	w.fields(v, at, handlers)
}

func (w *walker) root(doc *yaml.Node, c *Config) {
	if doc == nil {
		return
	}
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	n = w.value(n, "")
	if n == nil {
		return
	}
	w.pos[""] = position{n.Line, n.Column}
	w.fields(n, "", map[string]func(*yaml.Node, string){
		"listen":          func(v *yaml.Node, at string) { c.Listen, _ = w.str(v, at) },
		"drain_timeout_s": func(v *yaml.Node, at string) { c.DrainTimeoutSeconds = w.numberPtr(v, at) },
		"limits": func(v *yaml.Node, at string) {
			l := &c.Limits
			w.object(v, at, map[string]func(*yaml.Node, string){
				"max_body_bytes": func(v *yaml.Node, at string) {
					l.MaxBodyBytes, _ = w.integer(v, at, math.MaxInt64, true)
				},
				"max_message_bytes": func(v *yaml.Node, at string) {
					l.MaxMessageBytes, _ = w.integer(v, at, math.MaxInt64, true)
				},
				"call_timeout_s":    func(v *yaml.Node, at string) { l.CallTimeoutSeconds = w.positiveNumber(v, at) },
				"max_pending_calls": func(v *yaml.Node, at string) { l.MaxPendingCalls = w.positiveInt(v, at) },
				"max_header_bytes": func(v *yaml.Node, at string) {
					l.MaxHeaderBytes, _ = w.integer(v, at, math.MaxInt64, true)
				},
			})
		},
		"mcp": func(v *yaml.Node, at string) {
			w.object(v, at, map[string]func(*yaml.Node, string){
				"allowed_hosts":   func(v *yaml.Node, at string) { c.MCP.AllowedHosts = w.textList(v, at) },
				"allowed_origins": func(v *yaml.Node, at string) { c.MCP.AllowedOrigins = w.textList(v, at) },
			})
		},
		"metrics": func(v *yaml.Node, at string) {
			w.object(v, at, map[string]func(*yaml.Node, string){
				"require_auth": func(v *yaml.Node, at string) { c.Metrics.RequireAuth, _ = w.boolean(v, at) },
			})
		},
		"gateway": func(v *yaml.Node, at string) {
			g := &c.Gateway
			w.object(v, at, map[string]func(*yaml.Node, string){
				"session_idle_ttl_s": func(v *yaml.Node, at string) { g.SessionIdleTTLSeconds = w.positiveNumber(v, at) },
				"approval_ttl_s":     func(v *yaml.Node, at string) { g.ApprovalTTLSeconds = w.positiveNumber(v, at) },
				"task_ttl_s":         func(v *yaml.Node, at string) { g.TaskTTLSeconds = w.positiveNumber(v, at) },
				"elicitation_ttl_s":  func(v *yaml.Node, at string) { g.ElicitationTTLSeconds = w.positiveNumber(v, at) },
				"send_wait_s":        func(v *yaml.Node, at string) { g.SendWaitSeconds = w.positiveNumber(v, at) },
				"hitl_wait_s":        func(v *yaml.Node, at string) { g.HITLWaitSeconds = w.positiveNumber(v, at) },
				"max_chain_depth":    func(v *yaml.Node, at string) { g.MaxChainDepth = w.positiveInt(v, at) },
				"max_pending":        func(v *yaml.Node, at string) { g.MaxPending = w.positiveInt(v, at) },
				"keep_ended":         func(v *yaml.Node, at string) { g.KeepEnded = w.positiveInt(v, at) },
			})
		},
		"auth": func(v *yaml.Node, at string) {
			w.object(v, at, map[string]func(*yaml.Node, string){
				"jwt": func(v *yaml.Node, at string) {
					w.object(v, at, map[string]func(*yaml.Node, string){
						"jwks_url": func(v *yaml.Node, at string) { c.Auth.JWT.JWKSURL, _ = w.str(v, at) },
						"issuer":   func(v *yaml.Node, at string) { c.Auth.JWT.Issuer, _ = w.str(v, at) },
						"audience": func(v *yaml.Node, at string) { c.Auth.JWT.Audience, _ = w.str(v, at) },
					})
				},
			})
		},
		"providers":   func(v *yaml.Node, at string) { w.providers(v, at, c) },
		"mcp_servers": func(v *yaml.Node, at string) { w.providers(v, at, c) },
		"groups":      func(v *yaml.Node, at string) { w.groups(v, at, c) },
	})
}

func (w *walker) providers(v *yaml.Node, at string, c *Config) {
	p := w.pos[at]
	if w.provKey != "" {
		w.late = append(w.late, Problem{Line: p.line, Column: p.col, Path: at,
			Msg: fmt.Sprintf("cannot be used together with %s (line %d)", w.provKey, w.provLine)})
		return
	}
	w.provKey, w.provLine = at, p.line
	// Everything below is recorded under the canonical name "providers".
	const canon = "providers"
	w.pos[canon] = p
	v = w.value(v, canon)
	if v == nil {
		return
	}
	c.Providers = make(map[string]*Provider)
	w.mapping(v, canon, func(id string, _, pv *yaml.Node, pat string) {
		p := &Provider{ID: id}
		c.Providers[id] = p
		c.ProviderOrder = append(c.ProviderOrder, id)
		w.provider(pv, pat, p)
	})
}

func (w *walker) provider(v *yaml.Node, at string, p *Provider) {
	str := func(dst *string) func(*yaml.Node, string) {
		return func(v *yaml.Node, at string) { *dst, _ = w.str(v, at) }
	}
	w.object(v, at, map[string]func(*yaml.Node, string){
		"mode": func(v *yaml.Node, at string) {
			s, _ := w.str(v, at)
			p.Mode = Mode(s)
		},
		"command":     func(v *yaml.Node, at string) { p.Command = w.textList(v, at) },
		"env":         func(v *yaml.Node, at string) { p.Env = w.textMap(v, at) },
		"inherit_env": func(v *yaml.Node, at string) { p.InheritEnv = w.textList(v, at) },
		"workdir":     str(&p.Workdir),
		"idle_ttl_s":  func(v *yaml.Node, at string) { p.IdleTTLSeconds = w.numberPtr(v, at) },
		"health_check_interval_s": func(v *yaml.Node, at string) {
			p.HealthCheckIntervalSeconds = w.numberPtr(v, at)
		},
		"call_timeout_s":    func(v *yaml.Node, at string) { p.CallTimeoutSeconds = w.positiveNumber(v, at) },
		"startup_timeout_s": func(v *yaml.Node, at string) { p.StartupTimeoutSeconds = w.positiveNumber(v, at) },
		"description":       str(&p.Description),
		"tenant":            str(&p.Tenant),
		"restart": func(v *yaml.Node, at string) {
			r := &p.Restart
			w.object(v, at, map[string]func(*yaml.Node, string){
				"max_restarts":      func(v *yaml.Node, at string) { r.MaxRestarts = w.intPtr(v, at) },
				"window_s":          func(v *yaml.Node, at string) { r.WindowSeconds = w.positiveNumber(v, at) },
				"initial_backoff_s": func(v *yaml.Node, at string) { r.InitialBackoffSeconds = w.numberPtr(v, at) },
				"max_backoff_s":     func(v *yaml.Node, at string) { r.MaxBackoffSeconds = w.positiveNumber(v, at) },
				"healthy_reset_s":   func(v *yaml.Node, at string) { r.HealthyResetSeconds = w.positiveNumber(v, at) },
			})
		},
		"degraded_after_failures": func(v *yaml.Node, at string) { p.DegradedAfterFailures = w.positiveInt(v, at) },
		"max_concurrency":         func(v *yaml.Node, at string) { p.MaxConcurrency = w.positiveInt(v, at) },
		"max_queue":               func(v *yaml.Node, at string) { p.MaxQueue = w.positiveInt(v, at) },
		"image":                   str(&p.Image),
		"volumes":                 func(v *yaml.Node, at string) { p.Volumes = w.textList(v, at) },
		"network":                 str(&p.Network),
		"read_only":               func(v *yaml.Node, at string) { p.ReadOnly = w.boolPtr(v, at) },
		"memory_mb":               func(v *yaml.Node, at string) { p.MemoryMB = w.positiveInt(v, at) },
		"cpus":                    func(v *yaml.Node, at string) { p.CPUs = w.positiveNumber(v, at) },
		"pids_limit":              func(v *yaml.Node, at string) { p.PidsLimit = w.positiveInt(v, at) },
		"endpoint":                str(&p.Endpoint),
		"headers":                 func(v *yaml.Node, at string) { p.Headers = w.textMap(v, at) },
		"bearer_token":            str(&p.BearerToken),
		"ca_file":                 str(&p.CAFile),
	})
}

func (w *walker) groups(v *yaml.Node, at string, c *Config) {
	v = w.value(v, at)
	if v == nil {
		return
	}
	c.Groups = make(map[string]*Group)
	w.mapping(v, at, func(id string, _, gv *yaml.Node, gat string) {
		g := &Group{ID: id}
		c.Groups[id] = g
		c.GroupOrder = append(c.GroupOrder, id)
		w.group(gv, gat, g)
	})
}

func (w *walker) group(v *yaml.Node, at string, g *Group) {
	w.object(v, at, map[string]func(*yaml.Node, string){
		"strategy": func(v *yaml.Node, at string) {
			s, _ := w.str(v, at)
			g.Strategy = Strategy(s)
		},
		"min_healthy": func(v *yaml.Node, at string) { g.MinHealthy = w.intPtr(v, at) },
		"description": func(v *yaml.Node, at string) { g.Description, _ = w.str(v, at) },
		"tenant":      func(v *yaml.Node, at string) { g.Tenant, _ = w.str(v, at) },
		"members":     func(v *yaml.Node, at string) { g.Members = w.members(v, at) },
		"circuit_breaker": func(v *yaml.Node, at string) {
			b := &g.CircuitBreaker
			w.object(v, at, map[string]func(*yaml.Node, string){
				"failure_threshold": func(v *yaml.Node, at string) { b.FailureThreshold = w.positiveInt(v, at) },
				"reset_timeout_s":   func(v *yaml.Node, at string) { b.ResetTimeoutSeconds = w.positiveNumber(v, at) },
			})
		},
	})
}

func (w *walker) members(v *yaml.Node, at string) []Member {
	v = w.value(v, at)
	if v == nil {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		w.fail(at, v, "must be a list (got %s)", describe(v))
		return nil
	}
	out := make([]Member, len(v.Content))
	for i, e := range v.Content {
		ip := index(at, i)
		w.pos[ip] = position{e.Line, e.Column}
		m := &out[i]
		if e = w.value(e, ip); e == nil {
			if !w.bad[ip] { // not already rejected by the alias limit
				w.fail(ip, v.Content[i], "must be a mapping (got null)")
			}
			continue
		}
		w.fields(e, ip, map[string]func(*yaml.Node, string){
			"id":       func(v *yaml.Node, at string) { m.ID, _ = w.str(v, at) },
			"weight":   func(v *yaml.Node, at string) { m.Weight = w.positiveInt(v, at) },
			"priority": func(v *yaml.Node, at string) { m.Priority = w.positiveInt(v, at) },
		})
	}
	return out
}

// suggest returns the known key closest to key, quoted, or "" when none is
// close.
func suggest[V any](key string, known map[string]V) string {
	best, bestDist := "", 3
	for _, k := range slices.Sorted(maps.Keys(known)) {
		if d := editDistance(strings.ToLower(key), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return strconv.Quote(best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
