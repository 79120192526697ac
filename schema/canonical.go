package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchyard-mcp/switchyard/internal/jsonx"
)

// MaxDepth is the deepest nesting of arrays and objects that [Canonical]
// accepts, and that [Cache.Validate] accepts in schemas and arguments.
const MaxDepth = 200

// maxExponentDigits bounds the significant digits of a number's exponent in
// [Canonical]; anything larger is far outside what JSON consumers can hold.
const maxExponentDigits = 15

var (
	errTooDeep     = fmt.Errorf("JSON nested deeper than %d levels", MaxDepth)
	errNumberRange = errors.New("JSON number exponent out of range")
)

// Canonical returns the canonical JSON encoding of the single JSON value in
// raw. It fails on invalid JSON, on data after the value, and on arrays and
// objects nested deeper than [MaxDepth].
//
// The canonical form has no insignificant whitespace; object members are
// sorted by key (byte order of the UTF-8 key, i.e. code point order), and
// when a key repeats the last member wins, as in encoding/json. Strings are
// re-encoded: only '"', '\\' and control characters are escaped (\b, \f, \n,
// \r, \t, else \u00xx with lower-case hex), everything else is written as
// UTF-8, and invalid UTF-8 or lone surrogates become U+FFFD.
//
// Numbers keep their exact value but not their spelling: the value is
// written as its shortest exact decimal, laid out as ECMAScript writes
// numbers (RFC 8785), without any rounding to float64. So 1, 1.0, 10e-1 and
// 0.1e1 all become 1; 1e21 becomes 1e+21; 0.0000001 becomes 1e-7; -0 becomes
// 0; 123456789012345678901234 becomes 1.23456789012345678901234e+23. Numbers
// whose exponent has more than 15 significant digits are rejected.
func Canonical(raw []byte) ([]byte, error) {
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	return appendCanonical(make([]byte, 0, len(raw)), v)
}

// decodeJSON decodes one JSON value keeping numbers as [json.Number],
// refusing trailing data and nesting deeper than [MaxDepth].
func decodeJSON(raw []byte) (any, error) {
	if deeperThan(raw, MaxDepth) {
		return nil, errTooDeep
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the top-level value")
	}
	return v, nil
}

// deeperThan reports whether raw nests arrays and objects deeper than max.
// It does not check that raw is valid JSON.
func deeperThan(raw []byte, limit int) bool {
	depth, inString, escaped := 0, false, false
	for _, b := range raw {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > limit {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// appendCanonical appends the canonical encoding of v, a value decoded by
// encoding/json with UseNumber.
func appendCanonical(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		return jsonx.AppendString(dst, v), nil
	case json.Number:
		return appendNumber(dst, string(v))
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendCanonical(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonx.AppendString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendCanonical(dst, v[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	default:
		return nil, fmt.Errorf("unexpected JSON value of type %T", v)
	}
}

// appendNumber appends the canonical form of the JSON number s (which must
// match the JSON number grammar); see [Canonical].
func appendNumber(dst []byte, s string) ([]byte, error) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	mant, expText := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText = s[:i], s[i+1:]
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	// The value is digits × 10^exp, digits without leading or trailing zeros.
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return append(dst, '0'), nil
	}
	trimmed := strings.TrimRight(digits, "0")
	exp, err := parseExponent(expText)
	if err != nil {
		return nil, err
	}
	exp += int64(len(digits)-len(trimmed)) - int64(len(frac))
	digits = trimmed

	if neg {
		dst = append(dst, '-')
	}
	k := int64(len(digits))
	n := exp + k // decimal point position: value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		for range n - k {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for range -n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, n-1, 10)
	}
	return dst, nil
}

// parseExponent parses the optional exponent of a JSON number ("", "5",
// "+05", "-12").
func parseExponent(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	s = strings.TrimLeft(s, "0")
	if len(s) > maxExponentDigits {
		return 0, errNumberRange
	}
	if s == "" {
		return 0, nil
	}
	e, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNumberRange, err)
	}
	if neg {
		e = -e
	}
	return e, nil
}

// ToolDef is the part of an MCP tool definition that [Fingerprint] covers.
type ToolDef struct {
	// Name is the tool's name.
	Name string
	// Description is the tool's human-readable description.
	Description string
	// InputSchema is the tool's inputSchema; absent (empty) or JSON null
	// counts as {}.
	InputSchema json.RawMessage
}

// Fingerprint returns "sha256:<lower-case hex>" over a canonical form of the
// tool definitions, so that two tool lists get the same fingerprint exactly
// when they define the same tools.
//
// The hashed text is a canonical JSON array (see [Canonical]) with one object
// per tool, {"description":...,"inputSchema":...,"name":...}, sorted by name
// (tools with the same name by their canonical encoding). An absent or null
// inputSchema is encoded as {}. Key order and whitespace in the schemas do
// not matter, nor do number spellings such as 1.0 for 1; any change of a
// name, description or schema does. It fails when an inputSchema is not
// valid JSON for [Canonical].
func Fingerprint(tools []ToolDef) (string, error) {
	type item struct {
		name string // the name with invalid UTF-8 replaced, the sort key
		enc  []byte // canonical encoding of the whole definition
	}
	items := make([]item, 0, len(tools))
	for _, t := range tools {
		schema := []byte("{}")
		if trimmed := bytes.TrimSpace(t.InputSchema); len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
			var err error
			if schema, err = Canonical(trimmed); err != nil {
				return "", fmt.Errorf("fingerprint of tool %q: inputSchema: %w", t.Name, err)
			}
		}
		name := replaceInvalidUTF8(t.Name)
		enc := make([]byte, 0, len(name)+len(t.Description)+len(schema)+48)
		enc = append(enc, `{"description":`...)
		enc = jsonx.AppendString(enc, t.Description)
		enc = append(enc, `,"inputSchema":`...)
		enc = append(enc, schema...)
		enc = append(enc, `,"name":`...)
		enc = jsonx.AppendString(enc, name)
		enc = append(enc, '}')
		items = append(items, item{name: name, enc: enc})
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return bytes.Compare(a.enc, b.enc)
	})
	h := sha256.New()
	h.Write([]byte{'['})
	for i, it := range items {
		if i > 0 {
			h.Write([]byte{','})
		}
		h.Write(it.enc)
	}
	h.Write([]byte{']'})
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// replaceInvalidUTF8 replaces each byte of s that is not part of valid UTF-8
// with U+FFFD, as [jsonx.AppendString] does.
func replaceInvalidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
