package jsonx

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "nl\n\r\t", "\x00\x01\x1f", "héllo ✓", "bad\xffutf8", "\u2028"} {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		want := s
		if !utf8.ValidString(s) {
			want = string([]rune(s)) // invalid bytes become U+FFFD
		}
		if got != want {
			t.Fatalf("%q round-trips to %q", s, got)
		}
	}
}

// TestAppendStringExact pins the escapes: schema.Canonical, and so every
// tool fingerprint, is built on them.
func TestAppendStringExact(t *testing.T) {
	in := "A/\"\\\b\f\n\r\t\x01\x1f\x7f<&>\u2028é\xff"
	want := `"A/\"\\\b\f\n\r\t\u0001\u001f` + "\x7f<&>\u2028é\ufffd" + `"`
	if got := string(AppendString([]byte("x"), in)); got != "x"+want {
		t.Fatalf("AppendString(%q) = %s, want %s", in, got, want)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00", "\xff", "✓"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("%q round-trips to %q", s, got)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendString(buf[:0], "provider__tool_name")
	}
}
