package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults for net_probe, overridable through the environment.
const (
	probeAddrEnv     = "SY_TESTSERVER_PROBE_ADDR"
	probeHostEnv     = "SY_TESTSERVER_PROBE_HOST"
	defaultProbeAddr = "1.1.1.1:53"
	defaultProbeHost = "example.com"
	probeTimeout     = 2 * time.Second
	probeFile        = "/sy-probe"
)

// echoArgs are the arguments of echo and of tools added with add_tool.
type echoArgs struct {
	Text string `json:"text" jsonschema:"the text to return"`
}

// addArgs are the arguments of add.
type addArgs struct {
	A float64 `json:"a" jsonschema:"first addend"`
	B float64 `json:"b" jsonschema:"second addend"`
}

// sleepArgs are the arguments of sleep.
type sleepArgs struct {
	MS int `json:"ms" jsonschema:"milliseconds to sleep"`
}

// failArgs are the arguments of fail.
type failArgs struct {
	Message string `json:"message" jsonschema:"the error message to return"`
}

// crashArgs are the arguments of crash.
type crashArgs struct {
	Code int `json:"code" jsonschema:"the process exit code"`
}

// stderrArgs are the arguments of stderr.
type stderrArgs struct {
	N    int    `json:"n" jsonschema:"number of lines to write"`
	Text string `json:"text,omitempty" jsonschema:"line prefix; default \"log line\""`
}

// bigArgs are the arguments of big.
type bigArgs struct {
	Bytes int `json:"bytes" jsonschema:"length of the returned text"`
}

// noiseArgs are the arguments of noise.
type noiseArgs struct {
	Lines int `json:"lines" jsonschema:"number of non-JSON lines to write to stdout"`
}

// floodArgs are the arguments of flood.
type floodArgs struct {
	Bytes int `json:"bytes" jsonschema:"length of the single line written to stdout, without its newline"`
}

// envArgs are the arguments of env.
type envArgs struct {
	Name string `json:"name" jsonschema:"environment variable name"`
}

// askArgs are the arguments of ask.
type askArgs struct {
	Question string `json:"question" jsonschema:"what to ask the user"`
}

// toolNameArgs are the arguments of add_tool and remove_tool.
type toolNameArgs struct {
	Name string `json:"name" jsonschema:"tool name"`
}

// noArgs is the argument type of tools that take none.
type noArgs struct{}

// newServer returns the test server writing raw output to the process's
// stdout and stderr.
func newServer(name string) *mcp.Server {
	return buildServer(name, os.Stdout, os.Stderr)
}

// buildServer returns a server with every test tool registered. Raw output
// of noise and flood goes to out, that of stderr to errOut.
func buildServer(name string, out, errOut io.Writer) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: name, Version: version}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
	})

	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Returns its text argument."}, echo)

	mcp.AddTool(srv, &mcp.Tool{Name: "add", Description: "Returns the sum of a and b."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
			return text(strconv.FormatFloat(in.A+in.B, 'f', -1, 64)), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "sleep", Description: "Sleeps ms milliseconds, then returns \"slept\"."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in sleepArgs) (*mcp.CallToolResult, any, error) {
			t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
			defer t.Stop()
			select {
			case <-t.C:
				return text("slept"), nil, nil
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "fail", Description: "Returns a tool error carrying message."},
		func(_ context.Context, _ *mcp.CallToolRequest, in failArgs) (*mcp.CallToolResult, any, error) {
			res := text(in.Message)
			res.IsError = true
			return res, nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "crash", Description: "Exits the process with code, without answering."},
		func(_ context.Context, _ *mcp.CallToolRequest, in crashArgs) (*mcp.CallToolResult, any, error) {
			os.Exit(in.Code)
			return nil, nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "stderr", Description: "Writes n lines \"<text> <i>\" to stderr."},
		func(_ context.Context, _ *mcp.CallToolRequest, in stderrArgs) (*mcp.CallToolResult, any, error) {
			prefix := in.Text
			if prefix == "" {
				prefix = "log line"
			}
			var b bytes.Buffer
			for i := 1; i <= in.N; i++ {
				fmt.Fprintf(&b, "%s %d\n", prefix, i)
			}
			if _, err := errOut.Write(b.Bytes()); err != nil {
				return nil, nil, err
			}
			return text("wrote " + strconv.Itoa(max(in.N, 0))), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "big", Description: "Returns a text of exactly bytes 'x' characters."},
		func(_ context.Context, _ *mcp.CallToolRequest, in bigArgs) (*mcp.CallToolResult, any, error) {
			if in.Bytes < 0 {
				return nil, nil, errors.New("bytes must not be negative")
			}
			return text(strings.Repeat("x", in.Bytes)), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "hang", Description: "Never returns until the call is cancelled."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, any, error) {
			<-ctx.Done()
			// Tests watch stderr to see a cancellation reach the server.
			fmt.Fprintln(os.Stderr, "hang: cancelled")
			return nil, nil, ctx.Err()
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "noise", Description: "Writes lines of non-JSON garbage straight to stdout."},
		func(_ context.Context, _ *mcp.CallToolRequest, in noiseArgs) (*mcp.CallToolResult, any, error) {
			var b bytes.Buffer
			for i := 1; i <= in.Lines; i++ {
				fmt.Fprintf(&b, "garbage line %d\n", i)
			}
			if _, err := out.Write(b.Bytes()); err != nil {
				return nil, nil, err
			}
			return text("noised"), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "flood", Description: "Writes one line of bytes 'z' characters straight to stdout."},
		func(_ context.Context, _ *mcp.CallToolRequest, in floodArgs) (*mcp.CallToolResult, any, error) {
			if in.Bytes < 0 {
				return nil, nil, errors.New("bytes must not be negative")
			}
			line := bytes.Repeat([]byte{'z'}, in.Bytes+1)
			line[in.Bytes] = '\n'
			if _, err := out.Write(line); err != nil {
				return nil, nil, err
			}
			return text("flooded"), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "env", Description: "Returns the value of environment variable name."},
		func(_ context.Context, _ *mcp.CallToolRequest, in envArgs) (*mcp.CallToolResult, any, error) {
			return text(os.Getenv(in.Name)), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "pid", Description: "Returns the server's process id."},
		func(_ context.Context, _ *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, any, error) {
			return text(strconv.Itoa(os.Getpid())), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "ask", Description: "Asks the user for an answer to question (elicitation) and returns it."},
		func(_ context.Context, req *mcp.CallToolRequest, in askArgs) (*mcp.CallToolResult, any, error) {
			if r, ok := req.Params.InputResponses["answer"].(*mcp.ElicitResult); ok {
				if r.Action != "accept" {
					return text("no answer: " + r.Action), nil, nil
				}
				return text(fmt.Sprintf("answer: %v", r.Content["answer"])), nil, nil
			}
			// Ask through the client (a multi round-trip input request; the
			// SDK turns it into elicitation/create for older clients).
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"answer": &mcp.ElicitParams{
				Message:         in.Question,
				RequestedSchema: json.RawMessage(`{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}`),
			}}}, nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "add_tool", Description: "Registers an echo tool called name, announcing the change."},
		func(_ context.Context, _ *mcp.CallToolRequest, in toolNameArgs) (*mcp.CallToolResult, any, error) {
			if in.Name == "" {
				return nil, nil, errors.New("name must not be empty")
			}
			mcp.AddTool(srv, &mcp.Tool{Name: in.Name, Description: "Returns its text argument (added at run time)."}, echo)
			return text("added"), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "remove_tool", Description: "Removes the tool called name, announcing the change."},
		func(_ context.Context, _ *mcp.CallToolRequest, in toolNameArgs) (*mcp.CallToolResult, any, error) {
			srv.RemoveTools(in.Name)
			return text("removed"), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "net_probe", Description: "Reports whether the network beyond this host can be reached."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, any, error) {
			return text(netProbe(ctx)), nil, nil
		})

	mcp.AddTool(srv, &mcp.Tool{Name: "fs_probe", Description: "Reports whether the root file system is writable."},
		func(_ context.Context, _ *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, any, error) {
			return text(fsProbe(probeFile)), nil, nil
		})

	return srv
}

// echo returns its text argument.
func echo(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
	return text(in.Text), nil, nil
}

// text returns a result holding one text content.
func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// netProbe dials a TCP address and resolves a host name at the same time,
// each within probeTimeout. Either success counts as reachable.
func netProbe(ctx context.Context) string {
	addr := envOr(probeAddrEnv, defaultProbeAddr)
	host := envOr(probeHostEnv, defaultProbeHost)

	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()

	dialc := make(chan error, 1)
	go func() {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
		}
		dialc <- err
	}()
	_, lookErr := net.DefaultResolver.LookupHost(ctx, host)
	dialErr := <-dialc
	if dialErr == nil || lookErr == nil {
		return "network: reachable"
	}
	return fmt.Sprintf("network: unreachable: dial %s: %v; resolve %s: %v", addr, dialErr, host, lookErr)
}

// fsProbe creates and removes path to test whether its file system is
// writable.
func fsProbe(path string) string {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // the probe path is fixed
	if err != nil {
		return "fs: read-only: " + err.Error()
	}
	_ = f.Close()
	_ = os.Remove(path)
	return "fs: writable"
}

// envOr returns the value of the environment variable key, or def if unset
// or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
