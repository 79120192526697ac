package jsonx

import (
	"bytes"
	"encoding/json"
	"testing"
)

var scanSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}]}}`,
	`{"a":[1,2.5,-3e10,0,-0.0e+1,true,false,null,"x\n\u00e9\"\\\/"],"b":{"c":{}}}`,
	`{"k\u0065y":"v"}`, `{"a":1,"a":2}`, `{"a":"\u12"}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`,
	`{"a":tru}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":1}x`, `[1]`, `"s"`, `{"a":"` + "\x01" + `"}`,
	`{"a":"` + "\xff" + `"}`, `{"a":[}`, `{"a":{"b":1]}`, `{"a":1 "b":2}`, ``, `   `, `{`, `{"a`,
	`{"a":"\x"}`, `{"a":[[[[[[[[[[]]]]]]]]]]}`, "\t{\r\n\"a\"\t:\n1\r}\n",
	"{\"\x80\":\"\"}",
}

func TestMembersAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range scanSeeds {
		membersAgree(t, []byte(s))
	}
}

func TestMembersStops(t *testing.T) {
	n := 0
	err := Members([]byte(`{"isError":true, garbage`), func(k, v []byte) bool {
		n++
		return string(k) != "isError"
	})
	if err != nil || n != 1 {
		t.Fatalf("Members = %v after %d members, want nil after 1", err, n)
	}
}

func TestDepthLimit(t *testing.T) {
	deep := bytes.Repeat([]byte("["), maxDepth+1)
	if Valid(append(deep, bytes.Repeat([]byte("]"), maxDepth+1)...)) {
		t.Fatal("nesting beyond the limit is valid")
	}
	ok := bytes.Repeat([]byte("["), 100)
	if !Valid(append(ok, bytes.Repeat([]byte("]"), 100)...)) {
		t.Fatal("nesting of 100 is not valid")
	}
}

// membersAgree checks Valid against json.Valid, and Members against
// json.Unmarshal into a map (the last of duplicate keys wins).
func membersAgree(t *testing.T, data []byte) {
	t.Helper()
	if got, want := Valid(data), json.Valid(data); got != want {
		t.Fatalf("Valid(%q) = %v, encoding/json says %v", data, got, want)
	}
	got := map[string]string{}
	err := Members(data, func(k, v []byte) bool {
		got[string(k)] = string(v)
		return true
	})
	var want map[string]json.RawMessage
	werr := json.Unmarshal(data, &want)
	isObject := werr == nil && want != nil
	if (err == nil) != isObject {
		t.Fatalf("Members(%q) = %v, encoding/json says %v", data, err, werr)
	}
	if err != nil {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("Members(%q) = %v, want %v", data, got, want)
	}
	for k, v := range want {
		if got[k] != string(v) {
			t.Fatalf("Members(%q)[%q] = %q, want %q", data, k, got[k], v)
		}
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { membersAgree(t, data) })
}

func BenchmarkMembers(b *testing.B) {
	data := []byte(`{"jsonrpc":"2.0","id":12345,"result":{"content":[{"type":"text","text":"Echo: hi"}],"isError":false}}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = Members(data, func(k, v []byte) bool { return true })
	}
}

func BenchmarkUnmarshalEnvelope(b *testing.B) {
	data := []byte(`{"jsonrpc":"2.0","id":12345,"result":{"content":[{"type":"text","text":"Echo: hi"}],"isError":false}}`)
	b.ReportAllocs()
	for b.Loop() {
		var env struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Result json.RawMessage `json:"result"`
		}
		_ = json.Unmarshal(data, &env)
	}
}
