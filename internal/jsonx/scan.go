package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and objects, as encoding/json does.
const maxDepth = 10000

// ErrSyntax is the error of data that is not the JSON expected.
var ErrSyntax = errors.New("invalid JSON")

// Members validates data as one JSON object (with surrounding white
// space) and calls fn with each member in order: the key, decoded as
// encoding/json decodes it, and the value exactly as written (aliasing
// data). Validity is that of encoding/json.Valid. When fn returns false the
// scan stops there and the rest of data is not checked. It costs one pass
// over data and allocates only for keys written with escapes or invalid
// UTF-8.
func Members(data []byte, fn func(key, value []byte) bool) error {
	s := scanner{data: data}
	s.space()
	if s.i >= len(s.data) || s.data[s.i] != '{' {
		return s.fail("want an object")
	}
	s.i++
	s.space()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return s.end()
	}
	for {
		s.space()
		start := s.i
		if err := s.str(); err != nil {
			return err
		}
		key := data[start+1 : s.i-1]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			var k string
			if err := json.Unmarshal(data[start:s.i], &k); err != nil {
				return s.fail("bad key")
			}
			key = []byte(k)
		}
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return s.fail("want ':'")
		}
		s.i++
		s.space()
		vstart := s.i
		if err := s.value(1); err != nil {
			return err
		}
		if !fn(key, data[vstart:s.i]) {
			return nil
		}
		s.space()
		if s.i >= len(s.data) {
			return s.fail("unterminated object")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return s.end()
		default:
			return s.fail("want ',' or '}'")
		}
	}
}

// Valid reports whether data is one JSON value, as encoding/json.Valid.
func Valid(data []byte) bool {
	s := scanner{data: data}
	s.space()
	if s.value(0) != nil {
		return false
	}
	return s.end() == nil
}

type scanner struct {
	data []byte
	i    int
}

func (s *scanner) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, what, s.i)
}

// end checks that only white space follows.
func (s *scanner) end() error {
	s.space()
	if s.i != len(s.data) {
		return s.fail("data after the value")
	}
	return nil
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) error {
	if s.i >= len(s.data) {
		return s.fail("want a value")
	}
	switch c := s.data[s.i]; {
	case c == '"':
		return s.str()
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return s.fail("nested too deeply")
		}
		return s.container(depth + 1)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.fail("want a value")
}

// container scans an object or an array.
func (s *scanner) container(depth int) error {
	obj := s.data[s.i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	s.i++
	s.space()
	if s.i < len(s.data) && s.data[s.i] == closer {
		s.i++
		return nil
	}
	for {
		s.space()
		if obj {
			if s.i >= len(s.data) || s.data[s.i] != '"' {
				return s.fail("want a key")
			}
			if err := s.str(); err != nil {
				return err
			}
			s.space()
			if s.i >= len(s.data) || s.data[s.i] != ':' {
				return s.fail("want ':'")
			}
			s.i++
			s.space()
		}
		if err := s.value(depth); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.data) {
			return s.fail("unterminated")
		}
		switch s.data[s.i] {
		case ',':
			s.i++
		case closer:
			s.i++
			return nil
		default:
			return s.fail("want ',' or a closing bracket")
		}
	}
}

// str scans a string literal (s.data[s.i] is its opening quote).
func (s *scanner) str() error {
	if s.i >= len(s.data) || s.data[s.i] != '"' {
		return s.fail("want a string")
	}
	s.i++
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			return nil
		case c == '\\':
			s.i++
			if s.i >= len(s.data) {
				return s.fail("unterminated string")
			}
			switch s.data[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+4 >= len(s.data) {
					return s.fail("short \\u escape")
				}
				for _, h := range s.data[s.i+1 : s.i+5] {
					if !isHex(h) {
						return s.fail("bad \\u escape")
					}
				}
				s.i += 5
			default:
				return s.fail("bad escape")
			}
		case c < 0x20:
			return s.fail("control character in string")
		default:
			s.i++
		}
	}
	return s.fail("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() error {
	if s.data[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.data) {
		return s.fail("bad number")
	}
	if s.data[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return s.fail("bad number")
	}
	if s.i < len(s.data) && s.data[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.fail("bad fraction")
		}
	}
	if s.i < len(s.data) && (s.data[s.i] == 'e' || s.data[s.i] == 'E') {
		s.i++
		if s.i < len(s.data) && (s.data[s.i] == '+' || s.data[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.fail("bad exponent")
		}
	}
	return nil
}

func (s *scanner) literal(word string) error {
	if !bytes.HasPrefix(s.data[s.i:], []byte(word)) {
		return s.fail("bad literal")
	}
	s.i += len(word)
	return nil
}
