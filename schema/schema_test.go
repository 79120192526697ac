package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// toolSchema is a typical non-trivial tool input schema.
const toolSchema = `{
	"type": "object",
	"properties": {
		"path": {"type": "string", "minLength": 1},
		"mode": {"enum": ["r", "w"]},
		"count": {"type": "integer", "minimum": 1, "maximum": 10},
		"id": {"type": "string", "pattern": "^[0-9]+$"},
		"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
		"opts": {
			"type": "object",
			"properties": {"depth": {"type": "integer"}},
			"required": ["depth"]
		}
	},
	"required": ["path"],
	"additionalProperties": false
}`

// v builds the expected violations from path, message pairs.
func v(pairs ...string) []Violation {
	var out []Violation
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Violation{Path: pairs[i], Message: pairs[i+1]})
	}
	return out
}

func TestValidate(t *testing.T) {
	const draft07 = `{
		"$schema": "http://json-schema.org/draft-07/schema#",
		"type": "object",
		"definitions": {
			"point": {
				"type": "object",
				"properties": {"x": {"type": "number"}, "y": {"type": "number"}},
				"required": ["x", "y"]
			}
		},
		"properties": {"from": {"$ref": "#/definitions/point"}, "to": {"$ref": "#/definitions/point"}},
		"required": ["from"]
	}`
	const tuple07 = `{"$schema": "http://json-schema.org/draft-07/schema#",
		"properties": {"pair": {"items": [{"type": "string"}, {"type": "integer"}]}}}`
	const draft2019 = `{"$schema": "https://json-schema.org/draft/2019-09/schema",
		"type": "object", "dependentRequired": {"user": ["password"]}}`
	const exact = `{"type": "object", "properties": {"n": {"maximum": 10000000000000000000000}}}`

	tests := []struct {
		name   string
		schema string
		args   string
		want   []Violation // nil: valid
	}{
		// Trivial schemas: only "is it an object".
		{"empty schema, empty args", ``, ``, nil},
		{"empty schema, object", ``, `{"anything": [1, 2]}`, nil},
		{"null schema", `null`, `{"a": 1}`, nil},
		{"{} schema, null args", `{}`, `null`, nil},
		{"type object", `{"type":"object"}`, `{"a":1}`, nil},
		{"type object spaced", "{ \"type\": \"object\",\n \"properties\": {} }", ` {"a":1} `, nil},
		{"trivial, array args", `{"type":"object"}`, `[1]`, v("", "arguments must be a JSON object, got array")},
		{"trivial, string args", `{}`, `"x"`, v("", "arguments must be a JSON object, got string")},
		{"trivial, number args", ``, `12`, v("", "arguments must be a JSON object, got number")},
		{"trivial, boolean args", ``, `true`, v("", "arguments must be a JSON object, got boolean")},
		{"trivial, invalid JSON", `{"type":"object"}`, `{"a":`, v("", "arguments are not valid JSON")},
		{"trivial, trailing data", `{}`, `{} {}`, v("", "arguments are not valid JSON")},
		{"trivial by content", `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","title":"t","additionalProperties":true,"required":[]}`,
			`{"a":1}`, nil},
		{"trivial by content, array args", `{"type":["object"],"properties":{},"description":"d"}`,
			`[]`, v("", "arguments must be a JSON object, got array")},

		// A typical tool schema.
		{"valid", toolSchema, `{"path":"notes/todo.txt","mode":"r","count":3,"id":"42","tags":["a"],"opts":{"depth":2}}`, nil},
		{"required", toolSchema, `{}`, v("", "missing property 'path'")},
		{"null args are {}", toolSchema, `null`, v("", "missing property 'path'")},
		{"empty args are {}", toolSchema, ``, v("", "missing property 'path'")},
		{"type", toolSchema, `{"path":1}`, v("/path", "got number, want string")},
		{"enum", toolSchema, `{"path":"p","mode":"x"}`, v("/mode", "value must be one of 'r', 'w'")},
		{"nested", toolSchema, `{"path":"p","opts":{"depth":"deep"}}`, v("/opts/depth", "got string, want integer")},
		{"nested required", toolSchema, `{"path":"p","opts":{}}`, v("/opts", "missing property 'depth'")},
		{"array items", toolSchema, `{"path":"p","tags":["a",2]}`, v("/tags/1", "got number, want string")},
		{"maxItems", toolSchema, `{"path":"p","tags":["a","b","c","d"]}`, v("/tags", "number of items must be at most 3, got 4")},
		{"additionalProperties false", toolSchema, `{"path":"p","extra":1}`, v("", "additional properties 'extra' not allowed")},
		{"pattern", toolSchema, `{"path":"p","id":"abc"}`, v("/id", "'abc' does not match pattern '^[0-9]+$'")},
		{"minimum", toolSchema, `{"path":"p","count":0}`, v("/count", "must be at least 1, got 0")},
		{"maximum", toolSchema, `{"path":"p","count":11}`, v("/count", "must be at most 10, got 11")},
		{"integer", toolSchema, `{"path":"p","count":1.5}`, v("/count", "got number, want integer")},
		{"integer spelled 2.0", toolSchema, `{"path":"p","count":2.0}`, nil},
		{"minLength", toolSchema, `{"path":""}`, v("/path", "length must be at least 1, got 0")},
		{"every violation, sorted", toolSchema, `{"path":1,"mode":"x","tags":[1,"b",true],"zz":0}`, v(
			"", "additional properties 'zz' not allowed",
			"/mode", "value must be one of 'r', 'w'",
			"/path", "got number, want string",
			"/tags/0", "got number, want string",
			"/tags/2", "got boolean, want string",
		)},
		{"args not an object", toolSchema, `["path"]`, v("", "arguments must be a JSON object, got array")},
		{"args a string", toolSchema, `"{}"`, v("", "arguments must be a JSON object, got string")},
		{"args invalid JSON", toolSchema, `{"path":"p"`, v("", "arguments are not valid JSON")},
		{"args trailing data", toolSchema, `{"path":"p"} x`, v("", "arguments are not valid JSON")},
		{"args too deep", toolSchema, `{"path":` + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + `}`,
			v("", fmt.Sprintf("arguments are nested deeper than %d levels", MaxDepth))},
		{"args huge number", toolSchema, `{"path":"p","count":1e999999999}`,
			v("/count", "number too large or too long (at most 1000 characters and an exponent within ±1000)")},

		// Drafts.
		{"draft-07 $ref valid", draft07, `{"from":{"x":1,"y":2},"to":{"x":0,"y":-1.5}}`, nil},
		{"draft-07 $ref invalid", draft07, `{"from":{"x":"1"},"to":{"x":0,"y":0}}`, v(
			"/from", "missing property 'y'",
			"/from/x", "got string, want number",
		)},
		{"draft-07 tuple items", tuple07, `{"pair":["a",1]}`, nil},
		{"draft-07 tuple items invalid", tuple07, `{"pair":[1,"a"]}`, v(
			"/pair/0", "got number, want string",
			"/pair/1", "got string, want integer",
		)},
		{"2019-09 dependentRequired", draft2019, `{"user":"u"}`, v("", "properties 'password' required, if 'user' exists")},
		{"2019-09 dependentRequired valid", draft2019, `{"user":"u","password":"p"}`, nil},

		// Numbers are compared exactly, not as float64.
		{"exact numbers", exact, `{"n":10000000000000000000001}`, v("/n", "must be at most 10000000000000000000000, got 10000000000000000000001")},
		{"exact numbers valid", exact, `{"n":10000000000000000000000}`, nil},
		{"numeric bounds", `{"properties":{
			"a":{"exclusiveMinimum":0.5},"b":{"exclusiveMaximum":-1.25},"c":{"multipleOf":0.2},
			"d":{"minimum":1000},"e":{"maxLength":2},"f":{"minProperties":2},"g":{"minItems":1}}}`,
			`{"a":0.5,"b":1e3,"c":0.3,"d":999.999,"e":"abc","f":{},"g":[]}`, v(
				"/a", "must be greater than 0.5, got 0.5",
				"/b", "must be less than -1.25, got 1000",
				"/c", "must be a multiple of 0.2, got 0.3",
				"/d", "must be at least 1000, got 999.999",
				"/e", "length must be at most 2, got 3",
				"/f", "number of properties must be at least 2, got 0",
				"/g", "number of items must be at least 1, got 0",
			)},
		{"anyOf", `{"properties":{"x":{"anyOf":[{"type":"string"},{"type":"integer"}]}}}`, `{"x":true}`, v(
			"/x", "got boolean, want integer",
			"/x", "got boolean, want string",
		)},
		{"oneOf both", `{"properties":{"x":{"oneOf":[{"type":"number"},{"type":"integer"}]}}}`, `{"x":1}`, v(
			"/x", "'oneOf' failed, subschemas 0, 1 matched",
		)},
		{"false schema", `{"properties":{"x":false}}`, `{"x":1}`, v("/x", "false schema")},
		{"pointer escaping", `{"properties":{"a/b~c":{"type":"string"}}}`, `{"a/b~c":1}`, v("/a~1b~0c", "got number, want string")},
	}
	c := NewCache(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Validate(json.RawMessage(tt.schema), json.RawMessage(tt.args))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate: %v, want a *ValidationError", err)
			}
			if errors.Is(err, ErrSchema) {
				t.Fatalf("Validate: %v matches ErrSchema", err)
			}
			if !reflect.DeepEqual(verr.Violations, tt.want) {
				t.Fatalf("violations:\n got %q\nwant %q", verr.Violations, tt.want)
			}
		})
	}
}

func TestValidateTrivialSchemaDoesNotCompile(t *testing.T) {
	c := NewCache(0)
	for _, s := range []string{``, ` `, `null`, `{}`, `{"type":"object"}`, `{"type": "object", "properties": {}}`, `{"properties":{},"type":"object"}`} {
		if err := c.Validate(json.RawMessage(s), json.RawMessage(`{"a":1}`)); err != nil {
			t.Fatalf("Validate(%q): %v", s, err)
		}
	}
	if n := c.compiles.Load(); n != 0 {
		t.Fatalf("compiled %d schemas, want 0", n)
	}
	if n := c.Len(); n != 0 {
		t.Fatalf("Len() = %d, want 0", n)
	}
}

func TestValidateSchemaErrors(t *testing.T) {
	big := `{"description":"` + strings.Repeat("x", MaxSchemaBytes) + `"}`
	tests := []struct {
		name    string
		schema  string
		refuses bool // the loader must have been asked, and refused
	}{
		{"remote file ref", `{"properties":{"a":{"$ref":"file:///etc/passwd"}}}`, true},
		{"remote http ref", `{"properties":{"a":{"$ref":"http://127.0.0.1:1/x"}}}`, true},
		{"remote https ref", `{"$ref":"https://127.0.0.1:1/schema.json#/defs/a"}`, true},
		{"relative ref", `{"$ref":"other.json"}`, true},
		{"relative ref under $id", `{"$id":"http://127.0.0.1:1/dir/root.json","$ref":"item.json"}`, true},
		{"file meta-schema", `{"$schema":"file:///etc/passwd","type":"object"}`, true},
		{"http meta-schema", `{"$schema":"http://127.0.0.1:1/meta","type":"object"}`, true},
		{"unknown json-schema.org meta-schema", `{"$schema":"https://json-schema.org/draft/1999-01/schema"}`, true},
		{"missing local ref", `{"$ref":"#/$defs/missing"}`, false},
		{"invalid JSON", `{"type":`, false},
		{"not JSON", `type: object`, false},
		{"trailing data", `{"type":"object"} {}`, false},
		{"unknown type", `{"type":"foo"}`, false},
		{"bad regexp", `{"properties":{"a":{"pattern":"("}}}`, false},
		{"2020-12 forbids array items", `{"properties":{"a":{"items":[{"type":"string"}]}}}`, false},
		{"huge number", `{"properties":{"a":{"maximum":1e999999999}}}`, false},
		{"too deep", strings.Repeat(`{"not":`, MaxDepth+1) + `{}` + strings.Repeat(`}`, MaxDepth+1), false},
		{"oversized", big, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCache(0)
			err := c.Validate(json.RawMessage(tt.schema), json.RawMessage(`{"a":"x"}`))
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("Validate: %v, want ErrSchema", err)
			}
			var verr *ValidationError
			if errors.As(err, &verr) {
				t.Fatalf("Validate: %v is also a *ValidationError", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			if got := c.refused.Load() > 0; got != tt.refuses {
				t.Fatalf("loader refused a URL: %v, want %v (error %v)", got, tt.refuses, err)
			}
			// The failure is cached: no second compilation.
			compiles := c.compiles.Load()
			if err2 := c.Validate(json.RawMessage(tt.schema), json.RawMessage(`{}`)); !errors.Is(err2, ErrSchema) {
				t.Fatalf("second Validate: %v, want ErrSchema", err2)
			}
			if c.compiles.Load() != compiles {
				t.Fatalf("schema compiled again")
			}
		})
	}
}

// TestValidateNoExternalAccess checks that references to a readable file
// holding a valid schema, and to a live HTTP server, are refused without
// being read.
func TestValidateNoExternalAccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "string.json")
	if err := os.WriteFile(path, []byte(`{"type":"string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"type":"string"}`))
	}))
	defer srv.Close()

	for _, ref := range []string{"file://" + filepath.ToSlash(path), srv.URL + "/string.json"} {
		c := NewCache(0)
		schema := `{"properties":{"a":{"$ref":"` + ref + `"}}}`
		if err := c.Validate(json.RawMessage(schema), json.RawMessage(`{"a":"x"}`)); !errors.Is(err, ErrSchema) {
			t.Fatalf("$ref %s: Validate = %v, want ErrSchema", ref, err)
		}
		if c.refused.Load() != 1 {
			t.Fatalf("$ref %s: loader refused %d URLs, want 1", ref, c.refused.Load())
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("HTTP server got %d requests, want 0", n)
	}
}

func TestValidateBundledMetaSchemaRef(t *testing.T) {
	// The draft meta-schemas ship with the validator: referring to them
	// needs no loader.
	c := NewCache(0)
	schema := `{"properties":{"s":{"$ref":"https://json-schema.org/draft/2020-12/schema"}}}`
	if err := c.Validate(json.RawMessage(schema), json.RawMessage(`{"s":{"type":"string"}}`)); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	err := c.Validate(json.RawMessage(schema), json.RawMessage(`{"s":{"type":"nope"}}`))
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate: %v, want a *ValidationError", err)
	}
	if c.refused.Load() != 0 {
		t.Fatalf("loader asked for %d URLs, want 0", c.refused.Load())
	}
}

func TestValidationErrorBounded(t *testing.T) {
	items := make([]string, 120)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	args := `{"tags":[` + strings.Join(items, ",") + `]}`
	err := NewCache(0).Validate(json.RawMessage(`{"properties":{"tags":{"items":{"type":"string"}}}}`), json.RawMessage(args))
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate: %v, want a *ValidationError", err)
	}
	if len(verr.Violations) != MaxViolations {
		t.Fatalf("%d violations, want %d", len(verr.Violations), MaxViolations)
	}
	if !slices.IsSortedFunc(verr.Violations, func(a, b Violation) int {
		return strings.Compare(a.Path+"\x00"+a.Message, b.Path+"\x00"+b.Message)
	}) {
		t.Fatalf("violations not sorted: %v", verr.Violations)
	}
	if verr.Violations[0] != (Violation{Path: "/tags/0", Message: "got number, want string"}) {
		t.Fatalf("first violation %v", verr.Violations[0])
	}
}

func TestValidationErrorMessage(t *testing.T) {
	err := &ValidationError{Violations: v("", "missing property 'path'", "/n", "got string, want number")}
	want := "invalid tool arguments: missing property 'path'; /n: got string, want number"
	if err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
	long := strings.Repeat("é", 400)
	got := NewCache(0).Validate(json.RawMessage(`{"properties":{"s":{"pattern":"^a"}}}`), json.RawMessage(`{"s":"`+long+`"}`))
	var verr *ValidationError
	if !errors.As(got, &verr) || len(verr.Violations) != 1 {
		t.Fatalf("Validate: %v", got)
	}
	if m := verr.Violations[0].Message; len(m) > maxMessageBytes+len("…") || !strings.HasSuffix(m, "…") {
		t.Fatalf("message not truncated: %d bytes", len(m))
	}
}

func TestCacheCompilesOnce(t *testing.T) {
	c := NewCache(0)
	variants := []string{
		`{"type":"object","properties":{"n":{"type":"number","maximum":1}},"required":["n"]}`,
		`{"required":["n"],"properties":{"n":{"maximum":1,"type":"number"}},"type":"object"}`,
		"{\n  \"required\": [ \"n\" ],\n  \"type\": \"object\",\n  \"properties\": { \"n\": { \"maximum\": 1.0, \"type\": \"\\u006eumber\" } }\n}",
	}
	for range 3 {
		for _, s := range variants {
			if err := c.Validate(json.RawMessage(s), json.RawMessage(`{"n":0.5}`)); err != nil {
				t.Fatalf("Validate(%s): %v", s, err)
			}
			var verr *ValidationError
			if err := c.Validate(json.RawMessage(s), json.RawMessage(`{"n":2}`)); !errors.As(err, &verr) {
				t.Fatalf("Validate(%s): %v, want a *ValidationError", s, err)
			}
		}
	}
	if n := c.compiles.Load(); n != 1 {
		t.Fatalf("compiled %d times, want 1", n)
	}
	// One entry for the canonical form, one per non-canonical spelling.
	if n := c.Len(); n != 4 {
		t.Fatalf("Len() = %d, want 4", n)
	}
}

func TestCacheEviction(t *testing.T) {
	const size = 4
	c := NewCache(size)
	schema := func(i int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"properties":{"n":{"maximum":%d}}}`, i))
	}
	for i := range 20 {
		if err := c.Validate(schema(i), json.RawMessage(`{"n":0}`)); err != nil {
			t.Fatal(err)
		}
		if c.Len() > size {
			t.Fatalf("Len() = %d, want at most %d", c.Len(), size)
		}
	}
	if n := c.compiles.Load(); n != 20 {
		t.Fatalf("compiled %d times, want 20", n)
	}
	// The most recent schemas are still cached, the first is gone.
	if err := c.Validate(schema(19), json.RawMessage(`{"n":0}`)); err != nil {
		t.Fatal(err)
	}
	if n := c.compiles.Load(); n != 20 {
		t.Fatalf("recent schema recompiled")
	}
	if err := c.Validate(schema(0), json.RawMessage(`{"n":0}`)); err != nil {
		t.Fatal(err)
	}
	if n := c.compiles.Load(); n != 21 {
		t.Fatalf("compiled %d times, want 21 after evicted schema came back", n)
	}
	if NewCache(0).max != DefaultCacheSize || NewCache(-1).max != DefaultCacheSize {
		t.Fatalf("default size not applied")
	}
}

func TestCacheByteBound(t *testing.T) {
	c := NewCache(0)
	c.maxBytes = 64 << 10
	pad := strings.Repeat("x", 10<<10)
	for i := range 24 {
		schema := fmt.Sprintf(`{"description":"%d%s","properties":{"a":{"type":"string"}}}`, i, pad)
		if err := c.Validate(json.RawMessage(schema), json.RawMessage(`{"a":"x"}`)); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := 0
	for el := c.lru.Front(); el != nil; el = el.Next() {
		sum += el.Value.(*cacheItem).size
	}
	if sum != c.bytes {
		t.Fatalf("bytes = %d, items sum to %d", c.bytes, sum)
	}
	if c.bytes > c.maxBytes {
		t.Fatalf("cache holds %d bytes of schemas, more than %d", c.bytes, c.maxBytes)
	}
	if n := c.lru.Len(); n < 5 || n > 6 {
		t.Fatalf("cache holds %d entries", n)
	}
}

func TestValidateConcurrent(t *testing.T) {
	c := NewCache(3) // smaller than the schema set: entries are evicted under load
	type call struct {
		schema, args string
		valid        bool
	}
	var calls []call
	for i := range 5 {
		s := fmt.Sprintf(`{"type":"object","properties":{"n":{"type":"integer","maximum":%d}},"required":["n"]}`, i)
		calls = append(calls,
			call{s, fmt.Sprintf(`{"n":%d}`, i), true},
			call{s, fmt.Sprintf(`{"n":%d}`, i+1), false},
			call{s, `{}`, false},
		)
	}
	calls = append(calls, call{``, `{}`, true}, call{`{"type":"object"}`, `[]`, false})

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := range 200 {
				cl := calls[(g+i)%len(calls)]
				err := c.Validate(json.RawMessage(cl.schema), json.RawMessage(cl.args))
				var verr *ValidationError
				if cl.valid && err != nil || !cl.valid && !errors.As(err, &verr) {
					errs <- fmt.Errorf("Validate(%s, %s) = %v, want valid=%v", cl.schema, cl.args, err, cl.valid)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c.Len() > 3 {
		t.Fatalf("Len() = %d, want at most 3", c.Len())
	}
	if c.panics.Load() != 0 {
		t.Fatalf("validator panicked")
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{`null`, `null`},
		{` true `, `true`},
		{`false`, `false`},
		{`{ "b" : 1 , "a" : [ 1 , 2 ] }`, `{"a":[1,2],"b":1}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`{"é":1,"z":2,"Z":3,"":4}`, `{"":4,"Z":3,"z":2,"é":1}`},
		{`[]`, `[]`},
		{`{}`, `{}`},
		{`"\u0041\/\"\\\b\f\n\r\t\u0001\u001f\u007f"`, "\"A/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\""},
		{`"\u00e9\u2028\ud83d\ude00"`, "\"é\u2028😀\""},
		{`"\ud800x"`, "\"\uFFFDx\""},
		{"\"\xff\"", "\"\uFFFD\""},
		{`"<&>"`, `"<&>"`},
		{`0`, `0`},
		{`-0`, `0`},
		{`-0.0e5`, `0`},
		{`0e99999999999999999999999`, `0`},
		{`1`, `1`},
		{`1.0`, `1`},
		{`1.50`, `1.5`},
		{`10e-1`, `1`},
		{`0.1e1`, `1`},
		{`1E2`, `100`},
		{`1e+2`, `100`},
		{`-12.5e-1`, `-1.25`},
		{`100`, `100`},
		{`123456789012345678901`, `123456789012345678901`},
		{`1e20`, `100000000000000000000`},
		{`1e21`, `1e+21`},
		{`123e20`, `1.23e+22`},
		{`123456789012345678901234`, `1.23456789012345678901234e+23`},
		{`0.000001`, `0.000001`},
		{`0.0000001`, `1e-7`},
		{`0.00000012`, `1.2e-7`},
		{`-1e-400`, `-1e-400`},
		{`3.14159265358979323846264338327950288`, `3.14159265358979323846264338327950288`},
		{`9007199254740993`, `9007199254740993`},
	}
	for _, tt := range tests {
		got, err := Canonical([]byte(tt.in))
		if err != nil {
			t.Errorf("Canonical(%s): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Canonical(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalErrors(t *testing.T) {
	for _, in := range []string{
		``,
		` `,
		`{`,
		`{"a":1,}`,
		`[1 2]`,
		`{} {}`,
		`1 2`,
		`nul`,
		`01`,
		`1.`,
		`"\x"`,
		`1e1234567890123456`,
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	} {
		if out, err := Canonical([]byte(in)); err == nil {
			t.Errorf("Canonical(%q) = %s, want an error", in, out)
		}
	}
	deepest := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Canonical([]byte(deepest)); err != nil {
		t.Errorf("Canonical at depth %d: %v", MaxDepth, err)
	}
}

var fingerprintTools = []ToolDef{
	{Name: "read_file", Description: "Read a file.", InputSchema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}`)},
	{Name: "list_dir", Description: "List a directory.", InputSchema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"depth":{"type":"integer","maximum":5}}}`)},
	{Name: "ping", Description: ""},
}

// fingerprintGolden pins the canonical form: it changes only if that form
// changes, which would change every provider's fingerprint. It is the sha256
// of this text:
//
//	[{"description":"List a directory.","inputSchema":{"properties":{"depth":{"maximum":5,"type":"integer"},"path":{"type":"string"}},"type":"object"},"name":"list_dir"},{"description":"","inputSchema":{},"name":"ping"},{"description":"Read a file.","inputSchema":{"properties":{"path":{"type":"string"}},"required":["path"],"type":"object"},"name":"read_file"}]
const fingerprintGolden = "sha256:e58fd8aa921e731788b92735808f77dee219353cb5765fada457a47f8c0fcf9a"

func mustFingerprint(t *testing.T, tools []ToolDef) string {
	t.Helper()
	fp, err := Fingerprint(tools)
	if err != nil {
		t.Fatalf("Fingerprint: %v", err)
	}
	return fp
}

func TestFingerprintGolden(t *testing.T) {
	if got := mustFingerprint(t, fingerprintTools); got != fingerprintGolden {
		t.Fatalf("Fingerprint = %s, want %s", got, fingerprintGolden)
	}
	// The empty list hashes "[]".
	if got := mustFingerprint(t, nil); got != "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945" {
		t.Fatalf("Fingerprint(nil) = %s", got)
	}
}

func TestFingerprintInsensitive(t *testing.T) {
	base := mustFingerprint(t, fingerprintTools)
	same := map[string][]ToolDef{
		"reordered": {fingerprintTools[2], fingerprintTools[0], fingerprintTools[1]},
		"key order and whitespace": {
			{Name: "read_file", Description: "Read a file.", InputSchema: json.RawMessage("{\n \"required\" : [\"path\"],\n \"properties\": {\"path\": {\"type\": \"string\"}},\n \"type\": \"object\"\n}")},
			fingerprintTools[1], fingerprintTools[2],
		},
		"number spelling and escapes": {
			fingerprintTools[0],
			{Name: "list_dir", Description: "List a directory.", InputSchema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"\u0073tring"},"depth":{"type":"integer","maximum":5.0}}}`)},
			fingerprintTools[2],
		},
		"null schema is {}":  {fingerprintTools[0], fingerprintTools[1], {Name: "ping", InputSchema: json.RawMessage(`null`)}},
		"{} schema":          {fingerprintTools[0], fingerprintTools[1], {Name: "ping", InputSchema: json.RawMessage(` { } `)}},
		"empty schema is {}": {fingerprintTools[0], fingerprintTools[1], {Name: "ping", InputSchema: json.RawMessage{}}},
	}
	for name, tools := range same {
		if got := mustFingerprint(t, tools); got != base {
			t.Errorf("%s: fingerprint %s, want %s", name, got, base)
		}
	}
}

func TestFingerprintSensitive(t *testing.T) {
	base := mustFingerprint(t, fingerprintTools)
	change := func(f func(tools []ToolDef)) []ToolDef {
		tools := slices.Clone(fingerprintTools)
		f(tools)
		return tools
	}
	different := map[string][]ToolDef{
		"name":        {fingerprintTools[0], fingerprintTools[1], {Name: "pong"}},
		"description": change(func(tt []ToolDef) { tt[0].Description = "Read a file!" }),
		"schema property": change(func(tt []ToolDef) {
			tt[0].InputSchema = json.RawMessage(`{"type":"object","properties":{"path":{"type":"number"}},"required":["path"]}`)
		}),
		"schema number": change(func(tt []ToolDef) {
			tt[1].InputSchema = json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"depth":{"type":"integer","maximum":6}}}`)
		}),
		"schema array order":  change(func(tt []ToolDef) { tt[2].InputSchema = json.RawMessage(`{"enum":[2,1]}`) }),
		"tool removed":        fingerprintTools[:2],
		"tool duplicated":     append(slices.Clone(fingerprintTools), fingerprintTools[2]),
		"fields swapped":      change(func(tt []ToolDef) { tt[2].Name, tt[2].Description = "", "ping" }),
		"schema {} vs true":   change(func(tt []ToolDef) { tt[2].InputSchema = json.RawMessage(`true`) }),
		"description escaped": change(func(tt []ToolDef) { tt[0].Description = "Read a file.\n" }),
	}
	seen := map[string]string{base: "base"}
	for name, tools := range different {
		got := mustFingerprint(t, tools)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: fingerprint %s equals that of %s", name, got, prev)
		}
		seen[got] = name
	}
	if a, b := mustFingerprint(t, change(func(tt []ToolDef) { tt[2].InputSchema = json.RawMessage(`{"enum":[1,2]}`) })),
		mustFingerprint(t, change(func(tt []ToolDef) { tt[2].InputSchema = json.RawMessage(`{"enum":[2,1]}`) })); a == b {
		t.Errorf("array order ignored")
	}
}

func TestFingerprintInvalidSchema(t *testing.T) {
	_, err := Fingerprint([]ToolDef{{Name: "bad", InputSchema: json.RawMessage(`{"type":`)}})
	if err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("Fingerprint: %v, want an error naming the tool", err)
	}
}

func BenchmarkValidate(b *testing.B) {
	const typed = `{"type":"object","properties":{"path":{"type":"string"},"count":{"type":"integer"},"recursive":{"type":"boolean"}},"required":["path","count"]}`
	cases := []struct{ name, schema, args string }{
		{"trivial-empty", ``, `{"path":"notes/todo.txt","count":3,"recursive":true}`},
		{"trivial-object", `{"type": "object", "properties": {}}`, `{"path":"notes/todo.txt","count":3,"recursive":true}`},
		{"typed3-required", typed, `{"path":"notes/todo.txt","count":3,"recursive":true}`},
		{"typed3-required-invalid", typed, `{"path":1,"recursive":"yes"}`},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			c := NewCache(0)
			schema, args := json.RawMessage(bc.schema), json.RawMessage(bc.args)
			_ = c.Validate(schema, args) // compile outside the loop
			b.ReportAllocs()
			for b.Loop() {
				_ = c.Validate(schema, args)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		c := NewCache(0)
		_ = c.Validate(json.RawMessage(fmt.Sprintf(`{"type":"object","properties":{"n":{"maximum":%d}}}`, i)), json.RawMessage(`{}`))
	}
}
