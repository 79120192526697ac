package testbin

import (
	"io"
	"net/http"
	"strings"
)

// Request builds a request exactly as given, the way a browser or curl
// sends it: hdr holds name, value pairs, no Content-Type is added, and a
// "Host" pair sets the Host the request names (so tests can act as a page
// reached through DNS rebinding).
func Request(method, url, body string, hdr ...string) (*http.Request, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req, nil
}
