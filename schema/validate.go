package schema

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

const (
	// DefaultCacheSize is the number of cache entries [NewCache] keeps when
	// asked for zero or fewer.
	DefaultCacheSize = 1024
	// MaxSchemaBytes bounds the size of an input schema; larger schemas fail
	// with [ErrSchema].
	MaxSchemaBytes = 1 << 20
	// MaxViolations bounds the violations a [ValidationError] lists.
	MaxViolations = 50
	// maxMessageBytes bounds the length of one violation message, which may
	// quote (part of) the offending value.
	maxMessageBytes = 300
	// maxNumberChars and maxNumberExponent bound the JSON numbers that are
	// handed to the validator, which computes with exact rationals: larger
	// numbers cost time and memory out of proportion to their text.
	maxNumberChars    = 1000
	maxNumberExponent = 1000
	// maxCacheBytes bounds the summed canonical size of the cached schemas,
	// a proxy for the memory their compiled forms take.
	maxCacheBytes = 16 << 20
	// schemaURL is the location the schema document is compiled under. It is
	// only a name: nothing is ever loaded from it.
	schemaURL = "mem:///tool-input-schema.json"
)

// ErrSchema is wrapped by the errors [Cache.Validate] returns when the tool's
// input schema itself is unusable: not valid JSON, larger than
// [MaxSchemaBytes], not a valid JSON Schema, or referring to documents
// outside itself.
var ErrSchema = errors.New("invalid tool input schema")

// maxSchemaErrorBytes bounds the text of a schema error, which may list many
// meta-schema violations.
const maxSchemaErrorBytes = 2000

// schemaError reports an unusable schema on one line; it matches ErrSchema
// and its cause with errors.Is and errors.As.
type schemaError struct {
	msg   string
	cause error
}

// newSchemaError wraps cause, which says what is wrong with a schema.
func newSchemaError(cause error) error {
	msg := strings.Join(strings.Fields(cause.Error()), " ")
	return &schemaError{msg: truncate(msg, maxSchemaErrorBytes), cause: cause}
}

func (e *schemaError) Error() string   { return ErrSchema.Error() + ": " + e.msg }
func (e *schemaError) Unwrap() []error { return []error{ErrSchema, e.cause} }

// errRefused is what the schema loader answers for every URL.
var errRefused = errors.New("references to other documents are not allowed")

// Violation is one way in which tool arguments break their schema.
type Violation struct {
	// Path is a JSON pointer (RFC 6901) into the arguments: "" for the
	// arguments object itself, "/path", "/items/0".
	Path string `json:"path"`
	// Message says what is wrong in plain English, e.g. "missing property
	// 'path'" or "got number, want string".
	Message string `json:"message"`
}

// ValidationError reports tool arguments that do not satisfy the tool's
// input schema, or that are not a JSON object at all. Callers should answer
// it as a client error.
type ValidationError struct {
	// Violations lists the problems sorted by Path, then Message, without
	// duplicates, and at most [MaxViolations] of them.
	Violations []Violation
}

// ErrInvalidArguments matches every *ValidationError with errors.Is, so
// code that maps errors to statuses needs no type switch.
var ErrInvalidArguments = errors.New("invalid tool arguments")

// Is reports whether target is ErrInvalidArguments.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidArguments }

// Error lists the violations on one line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid tool arguments: ")
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		if v.Path != "" {
			b.WriteString(v.Path)
			b.WriteString(": ")
		}
		b.WriteString(v.Message)
	}
	return b.String()
}

// argsError returns a ValidationError with one violation at the root.
func argsError(msg string) *ValidationError {
	return &ValidationError{Violations: []Violation{{Path: "", Message: msg}}}
}

// Cache compiles tool input schemas once and validates arguments against
// them. It holds at most the number of entries given to [NewCache], and
// schemas of at most 16 MiB in all, dropping the least recently used. A Cache
// is safe for concurrent use.
type Cache struct {
	max      int // entries
	maxBytes int // summed item sizes

	mu    sync.Mutex
	lru   *list.List // of *cacheItem, most recently used first
	items map[[sha256.Size]byte]*list.Element
	bytes int // sum of the items' sizes

	compiles atomic.Int64 // schemas compiled so far
	refused  atomic.Int64 // URLs the loader refused so far
	panics   atomic.Int64 // validator panics recovered so far
}

// cacheItem is one key of the cache. A compiled schema is stored under the
// sha256 of its canonical bytes and, when they differ, also under the sha256
// of the exact bytes it arrived as, so that repeated identical schemas skip
// canonicalisation.
type cacheItem struct {
	key  [sha256.Size]byte
	ent  *compiled
	size int // ent.size when stored
}

// compiled is the outcome of compiling one schema, shared by all keys that
// lead to it.
type compiled struct {
	once  sync.Once
	c     *Cache
	canon []byte // input of compile; dropped once compiled
	size  int    // length of the canonical schema, a proxy for memory use

	sch     *jsonschema.Schema
	trivial bool        // schema accepts every object: skip decoding the arguments
	flat    *flatSchema // non-nil: valid arguments are recognised without decoding
	err     error       // wraps ErrSchema
}

// NewCache returns a Cache holding at most size entries; size <= 0 means
// [DefaultCacheSize]. A schema takes one entry, or two when it arrives in a
// non-canonical spelling.
func NewCache(size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Cache{
		max:      size,
		maxBytes: maxCacheBytes,
		lru:      list.New(),
		items:    make(map[[sha256.Size]byte]*list.Element),
	}
}

// Len returns the number of entries the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Validate checks args against schema, an MCP tool inputSchema.
//
// args must be the bytes of a JSON object; nil, empty or JSON null count as
// {}. A schema that is nil, empty, null, {}, or only says "type":"object"
// (with empty properties or required, or annotations such as title) accepts
// any object; then args are only checked to be a JSON object, without
// decoding them. Other schemas are compiled once and cached: they follow the
// draft their $schema names (draft-04, -06, -07, 2019-09, 2020-12), draft
// 2020-12 when they name none, and may use $ref only within themselves.
//
// Validate returns nil when args are valid, a *[ValidationError] listing the
// violations when they are not (also when args are not valid JSON or not an
// object), and an error wrapping [ErrSchema] when the schema cannot be used.
// Numbers in schemas and arguments must have at most 1000 characters and an
// exponent within ±1000; arrays and objects may nest at most [MaxDepth] deep.
//
// Validation time is not bounded for hostile schemas: like other JSON Schema
// validators, the underlying one can be made to apply a subschema
// exponentially often, by $ref chains that each double the work of the next
// or by alternatives (anyOf, oneOf) that recurse once per nesting level of
// the arguments.
func (c *Cache) Validate(schema, args json.RawMessage) error {
	if isTrivialLiteral(schema) {
		return checkObject(args)
	}
	if len(schema) > MaxSchemaBytes {
		return fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrSchema, len(schema), MaxSchemaBytes)
	}
	return c.check(c.lookup(schema), args)
}

// Slot remembers the compiled form of one tool's schema, so validating
// that tool's calls costs neither a hash of the schema nor the cache's
// lock. A tool definition holds one from the moment it is learned; the
// zero Slot is empty and fills on first use. Safe for concurrent use.
type Slot struct{ ent atomic.Pointer[compiled] }

// ValidateIn is Validate for a schema that slot belongs to (nil: plain
// Validate). The schema must not change for the slot's lifetime.
func (c *Cache) ValidateIn(slot *Slot, schema, args json.RawMessage) error {
	if slot == nil {
		return c.Validate(schema, args)
	}
	ent := slot.ent.Load()
	if ent == nil {
		if isTrivialLiteral(schema) {
			return checkObject(args)
		}
		if len(schema) > MaxSchemaBytes {
			return fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrSchema, len(schema), MaxSchemaBytes)
		}
		ent = c.lookup(schema)
		slot.ent.Store(ent)
	}
	return c.check(ent, args)
}

// check validates args against a compiled entry.
func (c *Cache) check(ent *compiled, args []byte) error {
	switch {
	case ent.err != nil:
		return ent.err
	case ent.trivial:
		return checkObject(args)
	case ent.flat != nil && ent.flat.accepts(args):
		return nil
	}
	return c.validate(ent.sch, args)
}

// lookup returns the compiled form of schema, compiling it when no entry
// holds it.
func (c *Cache) lookup(schema []byte) *compiled {
	rawKey := sha256.Sum256(schema)
	if ent := c.get(rawKey); ent != nil {
		ent.once.Do(ent.compile)
		return ent
	}
	canon, err := Canonical(schema)
	if err != nil {
		// Cache the failure under the exact bytes: it cannot change.
		ent := &compiled{err: newSchemaError(err)}
		ent.once.Do(func() {})
		ent = c.putIfAbsent(ent, rawKey)
		ent.once.Do(ent.compile) // whichever entry won, it is complete after this
		return ent
	}
	canonKey := sha256.Sum256(canon)
	ent := &compiled{c: c, canon: canon, size: len(canon)}
	if rawKey == canonKey {
		ent = c.putIfAbsent(ent, canonKey)
	} else {
		ent = c.putIfAbsent(ent, canonKey, rawKey)
	}
	ent.once.Do(ent.compile)
	return ent
}

// get returns the entry under key, marking it recently used, or nil.
func (c *Cache) get(key [sha256.Size]byte) *compiled {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheItem).ent
}

// putIfAbsent stores ent under keys[0] unless an entry already sits there, in
// which case that entry is used instead; the chosen entry is then also stored
// under the remaining keys. It returns the chosen entry.
func (c *Cache) putIfAbsent(ent *compiled, keys ...[sha256.Size]byte) *compiled {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[keys[0]]; ok {
		ent = el.Value.(*cacheItem).ent
	}
	for _, key := range keys {
		if el, ok := c.items[key]; ok {
			item := el.Value.(*cacheItem)
			c.bytes += ent.size - item.size
			item.ent, item.size = ent, ent.size
			c.lru.MoveToFront(el)
			continue
		}
		c.items[key] = c.lru.PushFront(&cacheItem{key: key, ent: ent, size: ent.size})
		c.bytes += ent.size
	}
	for c.lru.Len() > c.max || c.bytes > c.maxBytes && c.lru.Len() > len(keys) {
		el := c.lru.Back()
		item := el.Value.(*cacheItem)
		c.lru.Remove(el)
		delete(c.items, item.key)
		c.bytes -= item.size
	}
	return ent
}

// compile compiles ent.canon; it runs once per entry, under ent.once.
func (ent *compiled) compile() {
	canon := ent.canon
	ent.canon = nil
	ent.c.compiles.Add(1)
	defer func() {
		if r := recover(); r != nil {
			ent.c.panics.Add(1)
			ent.sch, ent.trivial = nil, false
			ent.err = fmt.Errorf("%w: compiler failure: %v", ErrSchema, r)
		}
	}()

	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(canon))
	if err != nil { // cannot happen: canon is canonical JSON
		ent.err = newSchemaError(err)
		return
	}
	if bad := badNumbers(doc); len(bad) > 0 {
		ent.err = fmt.Errorf("%w: number at %q is too large or too long", ErrSchema, bad[0])
		return
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.UseLoader(refusingLoader{ent.c})
	if err := comp.AddResource(schemaURL, doc); err != nil {
		ent.err = newSchemaError(err)
		return
	}
	sch, err := comp.Compile(schemaURL)
	if err != nil {
		ent.err = newSchemaError(err)
		return
	}
	ent.sch = sch
	ent.trivial = isTrivialDoc(doc)
	if !ent.trivial {
		ent.flat = newFlat(doc)
	}
}

// refusingLoader is the compiler's only way to fetch documents other than
// the schema being compiled and the bundled meta-schemas: it refuses them
// all, whatever their scheme (file, http, https or other), without any I/O.
type refusingLoader struct{ c *Cache }

// Load implements jsonschema.URLLoader.
func (l refusingLoader) Load(string) (any, error) {
	l.c.refused.Add(1)
	return nil, errRefused
}

// validate decodes args and checks them against sch.
func (c *Cache) validate(sch *jsonschema.Schema, args []byte) (err error) {
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		trimmed = []byte("{}")
	}
	if deeperThan(trimmed, MaxDepth) {
		return argsError(fmt.Sprintf("arguments are nested deeper than %d levels", MaxDepth))
	}
	doc, derr := jsonschema.UnmarshalJSON(bytes.NewReader(trimmed))
	if derr != nil {
		return argsError("arguments are not valid JSON")
	}
	if _, ok := doc.(map[string]any); !ok {
		return argsError("arguments must be a JSON object, got " + jsonType(doc))
	}
	if bad := badNumbers(doc); len(bad) > 0 {
		msg := fmt.Sprintf("number too large or too long (at most %d characters and an exponent within ±%d)", maxNumberChars, maxNumberExponent)
		verr := &ValidationError{}
		for _, path := range bad[:min(len(bad), MaxViolations)] {
			verr.Violations = append(verr.Violations, Violation{Path: path, Message: msg})
		}
		return verr
	}

	defer func() {
		if r := recover(); r != nil {
			c.panics.Add(1)
			err = fmt.Errorf("%w: validator failure: %v", ErrSchema, r)
		}
	}()
	verr := sch.Validate(doc)
	if verr == nil {
		return nil
	}
	var jerr *jsonschema.ValidationError
	if !errors.As(verr, &jerr) {
		return newSchemaError(verr)
	}
	return &ValidationError{Violations: flatten(jerr)}
}

// flatten lists the leaves of a jsonschema error tree as violations, sorted,
// without duplicates, and at most MaxViolations of them.
func flatten(root *jsonschema.ValidationError) []Violation {
	var out []Violation
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, cause := range e.Causes {
				walk(cause)
			}
			return
		}
		out = append(out, Violation{Path: pointer(e.InstanceLocation), Message: truncate(message(e), maxMessageBytes)})
	}
	walk(root)
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	out = slices.Compact(out)
	if len(out) == 0 { // a failure without details; keep the error non-empty
		out = append(out, Violation{Path: "", Message: "arguments do not match the schema"})
	}
	if len(out) > MaxViolations {
		out = out[:MaxViolations:MaxViolations]
	}
	return out
}

// message says in English what a leaf error of the validator found wrong.
// Numeric bounds are written here, exactly and without digit grouping; the
// rest uses the validator's own wording.
func message(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Minimum:
		return "must be at least " + decimal(k.Want) + ", got " + decimal(k.Got)
	case *kind.Maximum:
		return "must be at most " + decimal(k.Want) + ", got " + decimal(k.Got)
	case *kind.ExclusiveMinimum:
		return "must be greater than " + decimal(k.Want) + ", got " + decimal(k.Got)
	case *kind.ExclusiveMaximum:
		return "must be less than " + decimal(k.Want) + ", got " + decimal(k.Got)
	case *kind.MultipleOf:
		return "must be a multiple of " + decimal(k.Want) + ", got " + decimal(k.Got)
	case *kind.MinLength:
		return fmt.Sprintf("length must be at least %d, got %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("length must be at most %d, got %d", k.Want, k.Got)
	case *kind.MinItems:
		return fmt.Sprintf("number of items must be at least %d, got %d", k.Want, k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("number of items must be at most %d, got %d", k.Want, k.Got)
	case *kind.MinProperties:
		return fmt.Sprintf("number of properties must be at least %d, got %d", k.Want, k.Got)
	case *kind.MaxProperties:
		return fmt.Sprintf("number of properties must be at most %d, got %d", k.Want, k.Got)
	}
	if unit := e.BasicOutput(); unit.Error != nil {
		return unit.Error.String()
	}
	return "invalid value"
}

// decimal writes r exactly as a decimal when its denominator is a product
// of twos and fives (always the case for numbers read from JSON), else
// rounded to 20 decimals.
func decimal(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	d := new(big.Int).Set(r.Denom())
	twos := d.TrailingZeroBits()
	d.Rsh(d, twos)
	fives := 0
	five, rem := big.NewInt(5), new(big.Int)
	for d.Cmp(big.NewInt(1)) != 0 {
		q, m := new(big.Int).QuoRem(d, five, rem)
		if m.Sign() != 0 {
			return r.FloatString(20)
		}
		d = q
		fives++
	}
	s := r.FloatString(max(int(twos), fives))
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

// pointer encodes reference tokens as a JSON pointer.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		b.WriteByte('/')
		tok = strings.ReplaceAll(tok, "~", "~0")
		b.WriteString(strings.ReplaceAll(tok, "/", "~1"))
	}
	return b.String()
}

// truncate shortens s to at most max bytes plus an ellipsis, on a rune
// boundary.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// badNumbers returns, sorted, the JSON pointers of the numbers in v (decoded
// with UseNumber) that are too long or have too large an exponent to be
// handed to the validator.
func badNumbers(v any) []string {
	var out []string
	var walk func(v any, path []string)
	walk = func(v any, path []string) {
		switch v := v.(type) {
		case json.Number:
			if !numberInRange(string(v)) {
				out = append(out, pointer(path))
			}
		case []any:
			for i, e := range v {
				switch e.(type) {
				case json.Number, []any, map[string]any:
					walk(e, append(path, strconv.Itoa(i)))
				}
			}
		case map[string]any:
			for k, e := range v {
				switch e.(type) {
				case json.Number, []any, map[string]any:
					walk(e, append(path, k))
				}
			}
		}
	}
	walk(v, nil)
	slices.Sort(out)
	return out
}

// numberInRange reports whether the JSON number s is short enough and has a
// small enough exponent; see maxNumberChars and maxNumberExponent.
func numberInRange(s string) bool {
	if len(s) > maxNumberChars {
		return false
	}
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	exp := strings.TrimLeft(strings.TrimLeft(s[i+1:], "+-"), "0")
	return len(exp) < 4 || (len(exp) == 4 && exp <= "1000")
}

// checkObject checks that args is a JSON object (or empty or null, which
// count as {}) without decoding it.
func checkObject(args []byte) error {
	i := 0
	for i < len(args) && isSpace(args[i]) {
		i++
	}
	if i == len(args) {
		return nil
	}
	if !json.Valid(args) {
		return argsError("arguments are not valid JSON")
	}
	switch args[i] {
	case '{':
		return nil
	case 'n':
		return nil // null: json.Valid leaves nothing else starting with n
	case '[':
		return argsError("arguments must be a JSON object, got array")
	case '"':
		return argsError("arguments must be a JSON object, got string")
	case 't', 'f':
		return argsError("arguments must be a JSON object, got boolean")
	default:
		return argsError("arguments must be a JSON object, got number")
	}
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r'
}

// trivialLiterals are the usual spellings, without whitespace, of schemas
// that accept every object.
var trivialLiterals = []string{
	``,
	`null`,
	`{}`,
	`{"type":"object"}`,
	`{"type":"object","properties":{}}`,
	`{"properties":{},"type":"object"}`,
}

// isTrivialLiteral reports whether schema is, but for whitespace, one of
// trivialLiterals. It does not allocate.
func isTrivialLiteral(schema []byte) bool {
	var buf [40]byte
	n, inString, escaped := 0, false, false
	for _, b := range schema {
		if !inString && isSpace(b) {
			continue
		}
		if n == len(buf) {
			return false
		}
		buf[n] = b
		n++
		switch {
		case !inString:
			inString = b == '"'
		case escaped:
			escaped = false
		case b == '\\':
			escaped = true
		case b == '"':
			inString = false
		}
	}
	for _, lit := range trivialLiterals {
		if string(buf[:n]) == lit {
			return true
		}
	}
	return false
}

// isTrivialDoc reports whether a compiled schema document accepts every
// object: true, or an object whose only keywords are "type":"object", empty
// "properties", empty "required", "additionalProperties" true or {}, $schema
// and annotations.
func isTrivialDoc(doc any) bool {
	if b, ok := doc.(bool); ok {
		return b
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range obj {
		switch k {
		case "$schema", "$comment", "title", "description", "default", "examples":
		case "type":
			if v != "object" {
				if a, ok := v.([]any); !ok || len(a) != 1 || a[0] != "object" {
					return false
				}
			}
		case "properties":
			if m, ok := v.(map[string]any); !ok || len(m) != 0 {
				return false
			}
		case "required":
			if a, ok := v.([]any); !ok || len(a) != 0 {
				return false
			}
		case "additionalProperties":
			if m, ok := v.(map[string]any); v != true && (!ok || len(m) != 0) {
				return false
			}
		default:
			return false
		}
	}
	return true
}
