package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/fasthttp/websocket"
)

// cli talks to a running server's /api.
type cli struct {
	server string
	token  string
	http   *http.Client
}

func client(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	server := fs.String("server", envOr("SWITCHYARD_SERVER", "http://127.0.0.1:8000"), "server URL")
	token := fs.String("token", os.Getenv("SWITCHYARD_TOKEN"), "API key (or SWITCHYARD_TOKEN)")
	follow := fs.Bool("f", false, "follow (logs)")
	timeout := fs.Duration("timeout", 2*time.Minute, "request timeout")
	// Flags may come before or after the positional words.
	var words []string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) > 0 {
			words = append(words, rest[0])
			rest = rest[1:]
		}
	}
	c := &cli{server: strings.TrimRight(*server, "/"), token: *token, http: &http.Client{Timeout: *timeout}}
	switch args[0] {
	case "providers":
		if len(words) != 1 || words[0] != "ls" {
			return errors.New("usage: switchyard providers ls")
		}
		return c.providers(stdout)
	case "call":
		if len(words) < 2 {
			return errors.New("usage: switchyard call PROVIDER TOOL [key=value ...]")
		}
		return c.call(stdout, words[0], words[1], words[2:])
	default:
		if len(words) != 1 {
			return errors.New("usage: switchyard logs [-f] PROVIDER")
		}
		if *follow {
			return c.follow(stdout, words[0])
		}
		return c.logs(stdout, words[0])
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (c *cli) do(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.server+path, rd) // #nosec G704 -- the server URL is the user's own --server flag
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req) // #nosec G704 -- the server URL is the user's own --server flag
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s (%d %s)", e.Message, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}

func (c *cli) providers(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "PROVIDER\tSTATE\tMODE\tTOOLS\tHEALTH\tDESCRIPTION")
	// The list comes a page at a time; next_cursor names the next one.
	for cursor, pages := "", 0; ; pages++ {
		var res struct {
			Providers []struct {
				Provider    string `json:"provider"`
				State       string `json:"state"`
				Mode        string `json:"mode"`
				ToolsCount  int    `json:"tools_count"`
				Health      string `json:"health_status"`
				Description string `json:"description"`
			} `json:"providers"`
			Next string `json:"next_cursor"`
		}
		path := "/api/providers?limit=1000"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := c.do(http.MethodGet, path, nil, &res); err != nil {
			return err
		}
		for _, p := range res.Providers {
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", p.Provider, p.State, p.Mode, p.ToolsCount, p.Health, p.Description)
		}
		if res.Next == "" || pages == maxListPages {
			break
		}
		cursor = res.Next
	}
	return tw.Flush()
}

// maxListPages bounds the pages one listing follows.
const maxListPages = 1000

// parseArgs turns key=value words into an arguments object; values that
// parse as JSON (numbers, booleans, objects) keep their type.
func parseArgs(words []string) (map[string]any, error) {
	args := map[string]any{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("argument %q is not key=value", w)
		}
		var j any
		if err := json.Unmarshal([]byte(v), &j); err == nil {
			args[k] = j
		} else {
			args[k] = v
		}
	}
	return args, nil
}

func (c *cli) call(w io.Writer, provider, tool string, words []string) error {
	args, err := parseArgs(words)
	if err != nil {
		return err
	}
	var res json.RawMessage
	path := "/api/providers/" + url.PathEscape(provider) + "/tools/" + url.PathEscape(tool) + "/call"
	if err := c.do(http.MethodPost, path, map[string]any{"arguments": args}, &res); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, res, "", "  ") == nil {
		res = pretty.Bytes()
	}
	_, err = fmt.Fprintln(w, string(res))
	return err
}

type logLine struct {
	Timestamp time.Time `json:"timestamp"`
	Line      string    `json:"line"`
}

func (c *cli) logs(w io.Writer, provider string) error {
	var res struct {
		Logs []logLine `json:"logs"`
	}
	if err := c.do(http.MethodGet, "/api/providers/"+url.PathEscape(provider)+"/logs?lines=1000", nil, &res); err != nil {
		return err
	}
	for _, l := range res.Logs {
		_, _ = fmt.Fprintf(w, "%s %s\n", l.Timestamp.Format(time.RFC3339), l.Line)
	}
	return nil
}

func (c *cli) follow(w io.Writer, provider string) error {
	u, err := url.Parse(c.server)
	if err != nil {
		return err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/api/ws/providers/" + url.PathEscape(provider) + "/logs"
	h := http.Header{}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return fmt.Errorf("connect %s: %w", u.Redacted(), err)
	}
	go func() { <-ctx.Done(); _ = conn.Close() }()
	for {
		var ev struct {
			Timestamp time.Time `json:"timestamp"`
			Data      struct {
				Line string `json:"line"`
			} `json:"data"`
		}
		if err := conn.ReadJSON(&ev); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		_, _ = fmt.Fprintf(w, "%s %s\n", ev.Timestamp.Format(time.RFC3339), ev.Data.Line)
	}
}
