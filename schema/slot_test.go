package schema

import (
	"encoding/json"
	"errors"
	"testing"
)

// TestValidateInMatchesValidate: a tool's slot gives the same answers as
// the cache, and remembers the compiled schema after the first call.
func TestValidateInMatchesValidate(t *testing.T) {
	c := NewCache(8)
	sch := json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)
	var slot Slot
	for _, args := range []string{`{"text":"hi"}`, `{"text":5}`, `{}`, `[1]`, ``} {
		want := c.Validate(sch, json.RawMessage(args))
		got := c.ValidateIn(&slot, sch, json.RawMessage(args))
		if (want == nil) != (got == nil) || (want != nil && want.Error() != got.Error()) {
			t.Errorf("args %q: ValidateIn %v, Validate %v", args, got, want)
		}
	}
	if slot.ent.Load() == nil {
		t.Fatal("the slot did not keep the compiled schema")
	}
	if err := c.ValidateIn(nil, sch, json.RawMessage(`{"text":1}`)); !errors.Is(err, ErrInvalidArguments) {
		t.Fatalf("nil slot: %v", err)
	}
	var trivial Slot
	if err := c.ValidateIn(&trivial, json.RawMessage(`{"type":"object"}`), json.RawMessage(`{"x":1}`)); err != nil {
		t.Fatalf("trivial schema: %v", err)
	}
	if err := c.ValidateIn(&trivial, json.RawMessage(`{"type":"object"}`), json.RawMessage(`3`)); err == nil {
		t.Fatal("trivial schema accepted a non-object")
	}
	var bad Slot
	if err := c.ValidateIn(&bad, json.RawMessage(`{"type":12}`), json.RawMessage(`{}`)); !errors.Is(err, ErrSchema) {
		t.Fatalf("bad schema: %v", err)
	}
}
