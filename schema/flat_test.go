package schema

import (
	"encoding/json"
	"testing"
)

// flatSchemas are schemas the scan must recognise as flat.
var flatSchemas = []string{
	`{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}`,
	`{"type":"object","properties":{"a":{"type":"integer","description":"n"},"b":{"type":["string","null"]},"c":{"type":"boolean"}},"required":["a"],"additionalProperties":false}`,
	`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"n":{"type":"number"},"x":true,"y":{}},"additionalProperties":{}}`,
	`{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","properties":{"i":{"type":"integer"}},"required":["i"]}`,
	`{"properties":{"o":{"type":"object"},"l":{"type":"array"}},"title":"t"}`,
}

// notFlatSchemas say more than types, presence and closedness.
var notFlatSchemas = []string{
	`{"type":"object","properties":{"s":{"type":"string","minLength":2}}}`,
	`{"type":"object","properties":{"s":{"enum":["a","b"]}}}`,
	`{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"string"}}}}}`,
	`{"type":"object","properties":{"a":{"type":"string"}},"required":["b"]}`,
	`{"type":"object","properties":{"a":{"$ref":"#/$defs/s"}},"$defs":{"s":{"type":"string"}}}`,
	`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}`,
	`{"type":"object","properties":{"a":false}}`,
	`{"type":"object","properties":{"a":{"type":"string","format":"uri"}}}`,
	`{"type":"object","minProperties":1,"properties":{"a":{"type":"string"}}}`,
}

// flatArgs are arguments tried against every flat schema.
var flatArgs = []string{
	``, `null`, `{}`, ` { } `, `[]`, `"x"`, `1`, `{"message":"hi"}`, `{"message":"h\"i\\"}`,
	`{"message":5}`, `{"message":"hi","extra":1}`, `{"message":"a","message":"b"}`,
	`{"mess\u0061ge":"hi"}`, `{"a":1}`, `{"a":1.0}`, `{"a":1.5}`, `{"a":-2,"b":null,"c":true}`,
	`{"a":1e2}`, `{"a":"1"}`, `{"a":1,"b":"s","c":false,"d":0}`, `{"n":1.25e-3,"x":{"deep":[1]},"z":"q"}`,
	`{"n":"no"}`, `{"i":3}`, `{"i":3.0}`, `{"i":1e1001}`, `{"o":{},"l":[]}`, `{"o":[],"l":{}}`,
	`{"message":"hi"} x`, `{"message":"hi"`, "{\"message\":\"\xff\"}", `{"message":null}`,
}

func compiledFor(t testing.TB, c *Cache, sch string) *compiled {
	t.Helper()
	ent := c.lookup([]byte(sch))
	if ent.err != nil {
		t.Fatalf("schema %s: %v", sch, ent.err)
	}
	return ent
}

// TestFlatRecognition: the common tool schemas take the scan; schemas with
// any other constraint do not.
func TestFlatRecognition(t *testing.T) {
	c := NewCache(64)
	for _, sch := range flatSchemas {
		if compiledFor(t, c, sch).flat == nil {
			t.Errorf("not taken as flat: %s", sch)
		}
	}
	for _, sch := range notFlatSchemas {
		if compiledFor(t, c, sch).flat != nil {
			t.Errorf("taken as flat: %s", sch)
		}
	}
}

// TestFlatAgreesWithValidator: whatever the scan accepts, the full validator
// accepts, and the usual valid calls are accepted by the scan itself.
func TestFlatAgreesWithValidator(t *testing.T) {
	c := NewCache(64)
	for _, sch := range flatSchemas {
		ent := compiledFor(t, c, sch)
		for _, args := range flatArgs {
			if ent.flat.accepts([]byte(args)) {
				if err := c.validate(ent.sch, []byte(args)); err != nil {
					t.Errorf("schema %s, args %q: the scan accepted what the validator refuses: %v", sch, args, err)
				}
			}
		}
	}
	for _, tc := range []struct{ sch, args string }{
		{flatSchemas[0], `{"message":"hi"}`},
		{flatSchemas[0], ` {"message" : "h\"i\\", "other": 2 } `},
		{flatSchemas[1], `{"a":-2,"b":null,"c":true}`},
		{flatSchemas[1], `{"b":"s","a":7}`},
		{flatSchemas[2], `{"n":1.25e-3,"x":"any","z":false}`},
		{flatSchemas[3], `{"i":3}`},
		{flatSchemas[4], ``},
	} {
		ent := compiledFor(t, c, tc.sch)
		if !ent.flat.accepts([]byte(tc.args)) {
			t.Errorf("schema %s: the scan did not accept %q", tc.sch, tc.args)
		}
		if err := c.Validate(json.RawMessage(tc.sch), json.RawMessage(tc.args)); err != nil {
			t.Errorf("schema %s, args %q: %v", tc.sch, tc.args, err)
		}
	}
}

// TestFlatSameErrors: arguments the scan does not accept get the
// validator's own answer.
func TestFlatSameErrors(t *testing.T) {
	c := NewCache(64)
	sch := flatSchemas[1]
	ent := compiledFor(t, c, sch)
	for _, args := range []string{`{"a":"x"}`, `{"b":1}`, `{"a":1,"zz":2}`, `[1]`} {
		want := c.validate(ent.sch, []byte(args))
		got := c.Validate(json.RawMessage(sch), json.RawMessage(args))
		if want == nil || got == nil || want.Error() != got.Error() {
			t.Errorf("args %q: got %v, want %v", args, got, want)
		}
	}
}

// TestFlatScanDoesNotAllocate: the point of the scan.
func TestFlatScanDoesNotAllocate(t *testing.T) {
	c := NewCache(8)
	ent := compiledFor(t, c, flatSchemas[0])
	args := []byte(`{"message":"hi"}`)
	if n := testing.AllocsPerRun(100, func() { ent.flat.accepts(args) }); n != 0 {
		t.Fatalf("%v allocations per scan", n)
	}
}

// FuzzFlat: the scan never accepts arguments the validator refuses, and
// never panics on any input. The seeds run with every go test.
func FuzzFlat(f *testing.F) {
	for i, args := range flatArgs {
		f.Add(uint8(i), []byte(args))
	}
	c := NewCache(64)
	ents := make([]*compiled, len(flatSchemas))
	for i, sch := range flatSchemas {
		ents[i] = compiledFor(f, c, sch)
	}
	f.Fuzz(func(t *testing.T, pick uint8, args []byte) {
		ent := ents[int(pick)%len(ents)]
		if ent.flat.accepts(args) {
			if err := c.validate(ent.sch, args); err != nil {
				t.Fatalf("schema %d, args %q: accepted by the scan, refused by the validator: %v", int(pick)%len(ents), args, err)
			}
		}
	})
}
