package transports

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// item is one result of Reader.Next: a line, or a skipped oversized line
// with its prefix.
type item struct {
	line     string
	tooLarge bool
	prefix   string
}

func line(s string) item          { return item{line: s} }
func tooLarge(prefix string) item { return item{tooLarge: true, prefix: prefix} }

// readAll calls Next until io.EOF or another error and returns what it got.
func readAll(t testing.TB, r *Reader, limit int) ([]item, error) {
	t.Helper()
	var got []item
	for i := 0; ; i++ {
		if i > 1<<20 {
			t.Fatalf("Next never reached the end of the stream")
		}
		b, err := r.Next()
		var tl *TooLargeError
		switch {
		case err == nil:
			got = append(got, line(string(b)))
		case errors.As(err, &tl):
			if !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("TooLargeError %v does not match ErrMessageTooLarge", err)
			}
			if tl.Limit != limit {
				t.Fatalf("TooLargeError.Limit = %d, want %d", tl.Limit, limit)
			}
			got = append(got, tooLarge(string(tl.Prefix)))
		default:
			return got, err
		}
	}
}

func TestReader(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name  string
		in    string
		limit int
		want  []item
	}{
		{name: "empty input", in: "", limit: 10},
		{name: "only blank lines", in: "\n\r\n \n\t\r\n", limit: 10},
		{name: "LF", in: "a\nbb\n", limit: 10, want: []item{line("a"), line("bb")}},
		{name: "CRLF", in: "a\r\nbb\r\n", limit: 10, want: []item{line("a"), line("bb")}},
		{name: "mixed endings", in: "a\r\nb\nc\r\n", limit: 10, want: []item{line("a"), line("b"), line("c")}},
		{name: "blank lines skipped", in: "\n\na\n\r\n  \nb\n\n", limit: 10, want: []item{line("a"), line("b")}},
		{name: "white space trimmed", in: "  a b \t\r\n", limit: 10, want: []item{line("a b")}},
		{name: "final unterminated line", in: "a\nbc", limit: 10, want: []item{line("a"), line("bc")}},
		{name: "final unterminated line only", in: "abc", limit: 10, want: []item{line("abc")}},
		{name: "exactly at limit LF", in: "abcde\nf\n", limit: 5, want: []item{line("abcde"), line("f")}},
		{name: "exactly at limit CRLF", in: "abcde\r\nf\r\n", limit: 5, want: []item{line("abcde"), line("f")}},
		{name: "exactly at limit unterminated", in: "abcde", limit: 5, want: []item{line("abcde")}},
		{name: "one over limit LF", in: "abcdef\nok\n", limit: 5, want: []item{tooLarge("abcdef"), line("ok")}},
		{name: "one over limit CRLF", in: "abcdef\r\nok\r\n", limit: 5, want: []item{tooLarge("abcdef"), line("ok")}},
		{name: "one over limit unterminated", in: "ok\nabcdef", limit: 5, want: []item{line("ok"), tooLarge("abcdef")}},
		{name: "lone CR counts toward the limit", in: "abcde\r", limit: 5, want: []item{tooLarge("abcde\r")}},
		{name: "far over limit then next line", in: "0123456789abcdefghij\nok\n", limit: 5,
			want: []item{tooLarge("0123456789abcdefghij"), line("ok")}},
		{name: "over limit across many buffers", in: long + "\nok\n", limit: 20,
			want: []item{tooLarge(long[:maxPrefix]), line("ok")}},
		{name: "prefix cut at 256 bytes", in: long + "\r\n", limit: 100, want: []item{tooLarge(long[:maxPrefix])}},
		{name: "prefix of a line just over 256 bytes", in: long[:257] + "\r\nok\r\n", limit: 256,
			want: []item{tooLarge(long[:256]), line("ok")}},
		{name: "over limit twice in a row", in: "xxxxxxx\nyyyyyyy\nok\n", limit: 3,
			want: []item{tooLarge("xxxxxxx"), tooLarge("yyyyyyy"), line("ok")}},
		{name: "white space counts toward the limit", in: "     a\n", limit: 3, want: []item{tooLarge("     a")}},
		{name: "limit 1", in: "a\nbb\nc\r\n", limit: 1, want: []item{line("a"), tooLarge("bb"), line("c")}},
		{name: "limit 2 blank lines", in: "\n\n\nab\n\n", limit: 2, want: []item{line("ab")}},
		{name: "limit 16 MiB default", in: "a\n", limit: 0, want: []item{line("a")}},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				limit := tt.limit
				if limit <= 0 {
					limit = 16 << 20
				}
				r := NewReader(rd.wrap(strings.NewReader(tt.in)), tt.limit)
				got, err := readAll(t, r, limit)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("Next ended with %v, want io.EOF", err)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("got  %+v\nwant %+v", got, tt.want)
				}
				// The end of the stream is sticky.
				if _, err := r.Next(); !errors.Is(err, io.EOF) {
					t.Fatalf("Next after EOF = %v, want io.EOF", err)
				}
			})
		}
	}
}

// failReader returns its data and then err, and fails the test if read again
// after that.
type failReader struct {
	t    *testing.T
	data []byte
	err  error
	done bool
}

func (f *failReader) Read(p []byte) (int, error) {
	if f.done {
		f.t.Errorf("read again after %v", f.err)
		return 0, f.err
	}
	if len(f.data) == 0 {
		f.done = true
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReaderError(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		in   string
		want []item
	}{
		{name: "error after complete lines", in: "a\nb\n", want: []item{line("a"), line("b")}},
		{name: "partial line dropped on error", in: "a\npartial", want: []item{line("a")}},
		{name: "error while discarding an oversized line", in: "a\n" + strings.Repeat("x", 100), want: []item{line("a")}},
		{name: "error right after an oversized line", in: strings.Repeat("x", 100) + "\n", want: []item{tooLarge(strings.Repeat("x", 100))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(&failReader{t: t, data: []byte(tt.in), err: boom}, 10)
			got, err := readAll(t, r, 10)
			if !errors.Is(err, boom) {
				t.Fatalf("Next ended with %v, want %v", err, boom)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			for range 3 {
				if _, err := r.Next(); !errors.Is(err, boom) {
					t.Fatalf("Next after the error = %v, want it again", err)
				}
			}
		})
	}
}

// TestReaderMemoryBounded feeds a huge line through a small limit and checks
// that the reader's buffer never grows with it.
func TestReaderMemoryBounded(t *testing.T) {
	const limit = 1 << 10
	huge := io.MultiReader(
		io.LimitReader(repeatReader('z'), 64<<20),
		strings.NewReader("\n{\"ok\":true}\n"),
	)
	r := NewReader(huge, limit)
	if _, err := r.Next(); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Next = %v, want ErrMessageTooLarge", err)
	}
	if c := cap(r.buf); c > 4*limit {
		t.Fatalf("buffer grew to %d bytes for a limit of %d", c, limit)
	}
	b, err := r.Next()
	if err != nil || string(b) != `{"ok":true}` {
		t.Fatalf("Next = %q, %v; want the next message", b, err)
	}
}

type repeatReader byte

func (c repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// model is the reference behaviour of Reader: split on "\n", drop "\r" before
// it, refuse content over the limit, trim white space, skip blank lines.
func model(in []byte, limit int) []item {
	var out []item
	segs := bytes.Split(in, []byte{'\n'})
	for i, seg := range segs {
		last := i == len(segs)-1
		if last && len(seg) == 0 {
			break
		}
		if !last {
			seg = bytes.TrimSuffix(seg, []byte{'\r'})
		}
		if len(seg) > limit {
			out = append(out, tooLarge(string(seg[:min(len(seg), maxPrefix)])))
			continue
		}
		if s := bytes.TrimSpace(seg); len(s) > 0 {
			out = append(out, line(string(s)))
		}
	}
	return out
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nb\r\n\n c \nlast"), 4, uint8(0))
	f.Add([]byte("abcdef\nok\n"), 5, uint8(1))
	f.Add([]byte("abcde\r\n"), 5, uint8(2))
	f.Add([]byte("abcde\r"), 5, uint8(0))
	f.Add([]byte(strings.Repeat("x", 600)+"\r\ny\n"), 1, uint8(1))
	f.Add([]byte("\r\n\r\n\n"), 0, uint8(2))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`+"\n"), 40, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, limit int, mode uint8) {
		if limit > 1<<10 {
			limit %= 1 << 10
		}
		eff := limit
		if eff <= 0 {
			eff = 16 << 20
		}
		var src io.Reader = bytes.NewReader(in)
		switch mode % 3 {
		case 1:
			src = iotest.OneByteReader(src)
		case 2:
			src = iotest.HalfReader(src)
		}
		r := NewReader(src, limit)
		var got []item
		for {
			b, err := r.Next()
			if err != nil {
				var tl *TooLargeError
				if errors.As(err, &tl) {
					if len(tl.Prefix) > maxPrefix {
						t.Fatalf("prefix of %d bytes", len(tl.Prefix))
					}
					got = append(got, tooLarge(string(tl.Prefix)))
					continue
				}
				if !errors.Is(err, io.EOF) {
					t.Fatalf("Next: %v", err)
				}
				break
			}
			if len(b) > eff {
				t.Fatalf("line of %d bytes over the limit %d", len(b), eff)
			}
			if len(b) == 0 || bytes.IndexByte(b, '\n') >= 0 {
				t.Fatalf("bad line %q", b)
			}
			got = append(got, line(string(b)))
		}
		if want := model(in, eff); !slices.Equal(got, want) {
			t.Fatalf("limit %d input %q:\ngot  %+v\nwant %+v", eff, in, got, want)
		}
	})
}
