package transports

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	// event is the event type ("" when the event named none).
	event string
	// id is the event's id; hasID reports whether it carried one.
	id    string
	hasID bool
	// data is the event's data, its lines joined by "\n".
	data []byte
	// tooLarge reports that the data exceeded the reader's limit; data is
	// then nil and prefix holds its first bytes.
	tooLarge bool
	prefix   []byte
}

// sseReader parses a text/event-stream body. Memory use is bounded by its
// limit whatever the server sends: an event whose data is larger is
// reported as tooLarge and its data discarded.
type sseReader struct {
	br    *bufio.Reader
	limit int
	line  []byte
	// retry is the reconnection time the last valid retry field set (0
	// while none did).
	retry time.Duration
}

// streamPos is where a client is in an event stream, for resuming it:
// the last event id, and the reconnection time the server set with a
// retry field (0 for none).
type streamPos struct {
	id    string
	retry time.Duration
}

// sseSlack is what a field line may hold beyond the data limit: the field
// name, the colon and space, and the line ending.
const sseSlack = 16

func newSSEReader(r io.Reader, limit int) *sseReader {
	size := 32 << 10
	if size > limit+sseSlack {
		size = limit + sseSlack
	}
	return &sseReader{br: bufio.NewReaderSize(r, max(size, 64)), limit: limit}
}

// readLine returns the next line without its line ending. A line longer
// than the limit is reported as long, with its first bytes (at most
// maxPrefix+sseSlack) as line.
func (s *sseReader) readLine() (line []byte, long bool, err error) {
	if cap(s.line) > 1<<20 {
		s.line = nil
	}
	s.line = s.line[:0]
	for {
		frag, err := s.br.ReadSlice('\n')
		if !long && len(s.line)+len(frag) > s.limit+sseSlack {
			long = true
		}
		if long {
			s.line = appendMax(s.line, frag, maxPrefix+sseSlack)
		} else {
			s.line = append(s.line, frag...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			// An event cut off by the end of the stream is discarded.
			return nil, false, err
		}
		return trimEOL(s.line), long, nil
	}
}

// next returns the next event. Comments and unknown fields are skipped; an
// event with no field at all is not reported. At the end of the stream it
// returns io.EOF; any other error is the body's.
func (s *sseReader) next() (sseEvent, error) {
	var (
		ev      sseEvent
		seen    bool // a field of this event was seen
		hasData bool
	)
	for {
		line, long, err := s.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 && !long {
			if seen {
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue // comment
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte{' '})
		}
		switch string(field) {
		case "data":
			seen = true
			switch {
			case ev.tooLarge:
			case long || len(ev.data)+len(value)+1 > s.limit:
				ev.tooLarge = true
				ev.prefix = appendMax(appendMax(make([]byte, 0, maxPrefix), ev.data, maxPrefix), value, maxPrefix)
				ev.data = nil
			default:
				if hasData {
					ev.data = append(ev.data, '\n')
				}
				ev.data = append(ev.data, value...)
			}
			hasData = true
		case "event":
			seen = true
			ev.event = string(value)
		case "retry":
			// Digits only, else ignored; it sets the stream's reconnection
			// time and makes no event by itself.
			if ms, ok := sseDigits(value); ok && !long {
				s.retry = time.Duration(ms) * time.Millisecond
			}
		case "id":
			seen = true
			if bytes.IndexByte(value, 0) < 0 && !long {
				ev.id, ev.hasID = string(value), true
			}
		}
	}
}

// sseDigits parses a retry field's value: ASCII digits only, at most
// a day of milliseconds.
func sseDigits(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= 24*3600*1000
}
