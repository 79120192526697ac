// Package transports holds the MCP client side of Switchyard: a bounded
// newline-delimited JSON-RPC reader, a multiplexer that keeps many calls in
// flight on one connection, the MCP session handshake, and the backends
// that carry them: a subprocess over stdio, a container over its attached
// stdio, and a remote server over streamable HTTP or legacy SSE.
package transports

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrMessageTooLarge is returned by Reader.Next for a line longer than the
// reader's limit. The line is skipped; the reader stays usable.
var ErrMessageTooLarge = errors.New("message exceeds the size limit")

// maxPrefix bounds TooLargeError.Prefix.
const maxPrefix = 256

// TooLargeError describes a skipped oversized line.
type TooLargeError struct {
	// Limit is the configured maximum size.
	Limit int
	// Prefix holds the first bytes of the skipped line without its line
	// ending (at most 256), so a caller can still find the JSON-RPC id it
	// answered.
	Prefix []byte
}

// Error reports the limit the line exceeded.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message exceeds the size limit of %d bytes", e.Limit)
}

// Is reports whether target is ErrMessageTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrMessageTooLarge }

// Reader splits a stream into newline-delimited messages of bounded size.
// Memory use is bounded by the limit whatever the peer sends.
type Reader struct {
	br    *bufio.Reader
	limit int
	buf   []byte
	err   error // sticky: once the source fails or ends, every later call reports it
}

// NewReader returns a Reader over r that refuses lines longer than limit
// bytes (limit <= 0 means 16 MiB). The limit counts a line's bytes without
// its line ending ("\n" or "\r\n").
func NewReader(r io.Reader, limit int) *Reader {
	if limit <= 0 {
		limit = 16 << 20
	}
	size := 64 << 10
	if size > limit {
		size = limit
	}
	return &Reader{br: bufio.NewReaderSize(r, size), limit: limit}
}

// Next returns the next non-empty line without its line ending and
// surrounding white space. The slice is valid until the next call. An
// oversized line yields a *TooLargeError (matching ErrMessageTooLarge) and is
// skipped. At the end of the stream Next returns io.EOF (a final
// unterminated line is returned first); after any read error Next keeps
// returning that error.
func (r *Reader) Next() ([]byte, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		return line, nil
	}
}

// readLine returns the next line, line ending included.
func (r *Reader) readLine() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if cap(r.buf) > 1<<20 {
		r.buf = nil // do not keep a large message's buffer for the connection's life
	}
	r.buf = r.buf[:0]
	var (
		line []byte
		// pre collects the start of a line known to be oversized, whose
		// rest is discarded; nil while the line may still fit.
		pre []byte
	)
	for {
		frag, err := r.br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if err != nil && !full {
			r.err = err
		}
		switch {
		case pre != nil:
			pre = appendMax(pre, frag, maxPrefix+2)
		case len(r.buf)+len(frag) > r.limit+2: // too long even with "\r\n"
			pre = make([]byte, 0, maxPrefix+2)
			pre = appendMax(pre, r.buf, maxPrefix+2)
			pre = appendMax(pre, frag, maxPrefix+2)
		case !full && len(r.buf) == 0:
			line = frag // the whole line is in the bufio buffer
		default:
			r.buf = append(r.buf, frag...)
			line = r.buf
		}
		if full {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		r.buf = r.buf[:0]
		if pre == nil && len(trimEOL(line)) > r.limit {
			pre = appendMax(make([]byte, 0, maxPrefix+2), line, maxPrefix+2)
		}
		switch {
		case pre != nil:
			pre = trimEOL(pre) // pre holds 2 bytes beyond maxPrefix for this
			return nil, &TooLargeError{Limit: r.limit, Prefix: pre[:min(len(pre), maxPrefix)]}
		case len(line) == 0: // end of stream
			return nil, err
		default:
			return line, nil
		}
	}
}

// appendMax appends to dst as much of src as fits in n bytes.
func appendMax(dst, src []byte, n int) []byte {
	return append(dst, src[:min(len(src), max(n-len(dst), 0))]...)
}

// trimEOL drops a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if b, ok := bytes.CutSuffix(b, []byte{'\n'}); ok {
		return bytes.TrimSuffix(b, []byte{'\r'})
	}
	return b
}
