package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// FuzzCanonical checks that Canonical accepts exactly the valid JSON within
// its bounds, and that its output is valid JSON, a fixed point, and the
// same value as its input. Seeds live in testdata/fuzz/FuzzCanonical.
func FuzzCanonical(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Canonical(data)
		if err != nil {
			if json.Valid(data) && !deeperThan(data, MaxDepth) && !errors.Is(err, errNumberRange) {
				t.Fatalf("Canonical(%q) rejected valid JSON: %v", data, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Canonical(%q) accepted invalid JSON", data)
		}
		if !json.Valid(out) {
			t.Fatalf("Canonical(%q) = %q, not valid JSON", data, out)
		}
		again, err := Canonical(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Canonical not idempotent: %q -> %q -> %q (%v)", data, out, again, err)
		}
		in, err := decodeJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		canon, err := decodeJSON(out)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(in, canon) {
			t.Fatalf("Canonical(%q) = %q, a different value", data, out)
		}
	})
}

// sameJSON reports whether two values decoded with UseNumber are equal as
// JSON values, numbers compared by value.
func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !sameJSON(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		return ok && sameNumber(string(a), string(b))
	default:
		return a == b
	}
}

// sameNumber compares two JSON numbers by value: as digits × 10^exponent
// with an arbitrary-precision exponent, and also as exact rationals when
// that is cheap (big exponents make big.Rat slow).
func sameNumber(a, b string) bool {
	da, ea := digitsExp(a)
	db, eb := digitsExp(b)
	same := da == db && ea.Cmp(eb) == 0
	if numberInRange(a) && numberInRange(b) {
		ra, oka := new(big.Rat).SetString(a)
		rb, okb := new(big.Rat).SetString(b)
		if !oka || !okb || (ra.Cmp(rb) == 0) != same {
			panic("number comparisons disagree on " + a + " and " + b)
		}
	}
	return same
}

// digitsExp splits a non-zero JSON number into its significant digits (with
// a leading '-' if negative, no leading or trailing zeros) and the power of
// ten they are multiplied by.
func digitsExp(s string) (string, *big.Int) {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	exp := new(big.Int)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp.SetString(strings.TrimPrefix(s[i+1:], "+"), 10)
		s = s[:i]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		exp.Sub(exp, big.NewInt(int64(len(s)-i-1)))
		s = s[:i] + s[i+1:]
	}
	s = strings.TrimLeft(s, "0")
	t := strings.TrimRight(s, "0")
	exp.Add(exp, big.NewInt(int64(len(s)-len(t))))
	if t == "" {
		return "0", new(big.Int)
	}
	return sign + t, exp
}

// fuzzCache is shared by FuzzValidate runs, small so that entries get
// evicted.
var fuzzCache = NewCache(16)

// FuzzValidate checks that Validate never panics or hangs, answers only in
// the documented ways, and answers the same with a warm cache, a cold cache
// and a cache that holds other schemas (violations exactly; schema errors by
// kind). Seeds live in
// testdata/fuzz/FuzzValidate.
func FuzzValidate(f *testing.F) {
	f.Fuzz(func(t *testing.T, schema, args []byte) {
		if len(schema) > 64<<10 || len(args) > 64<<10 {
			return
		}
		start := time.Now()
		fresh := NewCache(1)
		results := []error{
			fuzzCache.Validate(schema, args),
			fuzzCache.Validate(schema, args),
			fresh.Validate(schema, args),
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Validate(%q, %q) took %v", schema, args, d)
		}
		if n := fuzzCache.panics.Load() + fresh.panics.Load(); n != 0 {
			t.Fatalf("Validate(%q, %q) recovered from a panic: %v", schema, args, results[0])
		}
		for _, err := range results[1:] {
			// Schema errors must agree in kind only: the compiler walks maps
			// and may report a different one of several faults.
			if (err == nil) != (results[0] == nil) ||
				errors.Is(err, ErrSchema) != errors.Is(results[0], ErrSchema) ||
				err != nil && !errors.Is(err, ErrSchema) && err.Error() != results[0].Error() {
				t.Fatalf("Validate(%q, %q) not deterministic: %v, then %v", schema, args, results[0], err)
			}
		}
		err := results[0]
		var verr *ValidationError
		switch {
		case err == nil:
		case errors.As(err, &verr):
			if errors.Is(err, ErrSchema) {
				t.Fatalf("error is both a ValidationError and ErrSchema: %v", err)
			}
			checkViolations(t, verr.Violations)
		case errors.Is(err, ErrSchema):
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("schema error spans lines: %q", err)
			}
		default:
			t.Fatalf("Validate(%q, %q) = %v: neither a ValidationError nor ErrSchema", schema, args, err)
		}
	})
}

// checkViolations checks the documented shape of a violation list.
func checkViolations(t *testing.T, vs []Violation) {
	t.Helper()
	if len(vs) == 0 || len(vs) > MaxViolations {
		t.Fatalf("%d violations", len(vs))
	}
	cmp := func(a, b Violation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	}
	for i, v := range vs {
		if v.Message == "" || len(v.Message) > maxMessageBytes+len("…") {
			t.Fatalf("violation %d has a bad message: %q", i, v.Message)
		}
		if v.Path != "" && !strings.HasPrefix(v.Path, "/") {
			t.Fatalf("violation %d path %q is not a JSON pointer", i, v.Path)
		}
		if i > 0 && cmp(vs[i-1], v) >= 0 {
			t.Fatalf("violations not sorted or duplicated: %v", vs)
		}
	}
}
