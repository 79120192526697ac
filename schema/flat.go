package schema

import "encoding/json"

// A flat schema constrains only the JSON types of an object's top-level
// properties, which of them are required, and whether others may appear:
// the shape of most tool input schemas. Arguments for such a schema are
// checked by one scan of their bytes, without decoding them. The scan only
// ever says "valid"; whenever it is unsure (a nested value, an escaped key,
// a repeated key, a number with a fraction or exponent where an integer is
// wanted, or any violation) the full validator decides, so answers and
// error messages are those of the full validator.

// Type bits of a flat property.
const (
	flatString uint8 = 1 << iota
	flatNumber
	flatInteger
	flatBoolean
	flatNull
	flatObject
	flatArray

	flatAny = flatString | flatNumber | flatInteger | flatBoolean | flatNull | flatObject | flatArray
)

// maxFlatProps bounds the properties of a flat schema (one bit each).
const maxFlatProps = 64

var flatTypes = map[string]uint8{
	"string": flatString, "number": flatNumber, "integer": flatInteger,
	"boolean": flatBoolean, "null": flatNull, "object": flatObject, "array": flatArray,
}

type flatProp struct {
	name  string
	types uint8
}

type flatSchema struct {
	props    []flatProp
	required uint64 // bit i: props[i] is required
	closed   bool   // additionalProperties is false
}

// annotation reports whether key is a keyword that never affects validity.
func annotation(key string) bool {
	switch key {
	case "$comment", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly":
		return true
	}
	return false
}

// newFlat returns the flat form of a compiled schema document (decoded with
// UseNumber), or nil when it is not flat.
func newFlat(doc any) *flatSchema {
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil
	}
	f := &flatSchema{}
	var required []any
	for k, v := range obj {
		switch {
		case annotation(k), k == "$schema":
		case k == "type":
			if t, ok := typeBits(v); !ok || t != flatObject {
				return nil
			}
		case k == "properties":
			m, ok := v.(map[string]any)
			if !ok || len(m) > maxFlatProps {
				return nil
			}
			for name, sub := range m {
				t, ok := propTypes(sub)
				if !ok {
					return nil
				}
				f.props = append(f.props, flatProp{name: name, types: t})
			}
		case k == "required":
			if required, ok = v.([]any); !ok {
				return nil
			}
		case k == "additionalProperties":
			switch v := v.(type) {
			case bool:
				f.closed = !v
			case map[string]any:
				if len(v) != 0 {
					return nil
				}
			default:
				return nil
			}
		default:
			return nil
		}
	}
	for _, r := range required {
		name, ok := r.(string)
		if !ok {
			return nil
		}
		i := f.index(name)
		if i < 0 {
			return nil // required but not described: leave it to the validator
		}
		f.required |= 1 << i
	}
	return f
}

// propTypes returns the type bits a property schema allows, and false when
// the property says more than its type.
func propTypes(sub any) (uint8, bool) {
	if b, ok := sub.(bool); ok {
		return flatAny, b
	}
	m, ok := sub.(map[string]any)
	if !ok {
		return 0, false
	}
	types := flatAny
	for k, v := range m {
		switch {
		case annotation(k):
		case k == "type":
			t, ok := typeBits(v)
			if !ok {
				return 0, false
			}
			types = t
		default:
			return 0, false
		}
	}
	return types, true
}

// typeBits returns the bits of a "type" keyword's value.
func typeBits(v any) (uint8, bool) {
	switch v := v.(type) {
	case string:
		t, ok := flatTypes[v]
		return t, ok
	case []any:
		var bits uint8
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return 0, false
			}
			t, ok := flatTypes[s]
			if !ok {
				return 0, false
			}
			bits |= t
		}
		return bits, len(v) > 0
	}
	return 0, false
}

func (f *flatSchema) index(name string) int {
	for i := range f.props {
		if f.props[i].name == name {
			return i
		}
	}
	return -1
}

// accepts reports whether args certainly satisfy f; false means the full
// validator must decide. It does not allocate.
func (f *flatSchema) accepts(args []byte) bool {
	i := skipSpace(args, 0)
	if i == len(args) {
		return f.required == 0 // empty counts as {}
	}
	if !json.Valid(args) {
		return false
	}
	if args[i] == 'n' { // null counts as {}
		return f.required == 0
	}
	if args[i] != '{' {
		return false
	}
	var seen uint64
	i = skipSpace(args, i+1)
	if args[i] == '}' {
		return f.required == 0
	}
	for {
		// args is valid JSON: here is a key.
		start := i + 1
		j := start
		for args[j] != '"' {
			if args[j] == '\\' {
				return false
			}
			j++
		}
		key := args[start:j]
		i = skipSpace(args, j+1) + 1 // past ':'
		i = skipSpace(args, i)
		kind, end, ok := scalar(args, i)
		if !ok {
			return false
		}
		p := f.index(string(key))
		if p < 0 {
			if f.closed {
				return false
			}
		} else {
			if seen&(1<<p) != 0 || f.props[p].types&kind == 0 {
				return false
			}
			seen |= 1 << p
		}
		i = skipSpace(args, end)
		if args[i] == '}' {
			break
		}
		i = skipSpace(args, i+1) // past ','
	}
	return seen&f.required == f.required
}

// scalar classifies the scalar value starting at args[i] of valid JSON and
// returns the type bits it satisfies and where it ends; false for objects,
// arrays and numbers the validator must see.
func scalar(args []byte, i int) (uint8, int, bool) {
	switch args[i] {
	case '"':
		j := i + 1
		for args[j] != '"' {
			if args[j] == '\\' {
				j++
			}
			j++
		}
		return flatString, j + 1, true
	case 't':
		return flatBoolean, i + 4, true
	case 'f':
		return flatBoolean, i + 5, true
	case 'n':
		return flatNull, i + 4, true
	case '{', '[':
		return 0, 0, false
	}
	j, integer := i, true
	for j < len(args) {
		switch b := args[j]; {
		case b >= '0' && b <= '9', b == '-', b == '+':
		case b == '.', b == 'e', b == 'E':
			integer = false
		default:
			goto done
		}
		j++
	}
done:
	if !numberInRange(string(args[i:j])) {
		return 0, 0, false
	}
	if !integer { // 1.0 is an integer too: the validator compares by value
		return flatNumber, j, true
	}
	return flatNumber | flatInteger, j, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}
