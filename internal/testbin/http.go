package testbin

import (
	"bufio"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// HTTPServer is the test server serving streamable HTTP in a process of its
// own.
type HTTPServer struct {
	// Addr is the host:port it listens on.
	Addr     string
	cmd      *exec.Cmd
	readDone chan struct{}
	once     sync.Once
}

// StartHTTP runs the test server at addr ("127.0.0.1:0" for any port),
// stateless or not, and waits until it listens. It is killed when the test
// ends, or earlier by Stop.
func StartHTTP(tb testing.TB, addr string, stateless bool) *HTTPServer {
	tb.Helper()
	args := []string{"--http", addr}
	if stateless {
		args = append(args, "--stateless")
	}
	return startServing(tb, addr, args)
}

// StartA2A runs the test server as an A2A agent called id on a loopback
// port and waits until it listens; extra flags (such as
// "--a2a-protocol", "1.0") are passed on. Its JSON-RPC endpoint is
// A2AURL.
func StartA2A(tb testing.TB, id string, extra ...string) *HTTPServer {
	tb.Helper()
	return startServing(tb, "127.0.0.1:0", append([]string{"--a2a", "127.0.0.1:0", "--a2a-id", id}, extra...))
}

// A2AURL is the agent's JSON-RPC endpoint (for a server from StartA2A).
func (s *HTTPServer) A2AURL() string { return "http://" + s.Addr + "/" }

// startServing runs the test server with args and waits for the address
// it announces on stderr.
func startServing(tb testing.TB, addr string, args []string) *HTTPServer {
	tb.Helper()
	cmd := exec.Command(TestServer(tb), args...) // #nosec G204 -- the test server
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatalf("stderr pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start test server: %v", err)
	}
	s := &HTTPServer{cmd: cmd, readDone: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		defer close(s.readDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				select {
				case listening <- a:
				default:
				}
			}
		}
	}()
	tb.Cleanup(s.Stop)
	select {
	case s.Addr = <-listening:
	case <-s.readDone:
		tb.Fatalf("test server at %s ended before listening", addr)
	case <-time.After(30 * time.Second):
		tb.Fatalf("test server at %s not listening within 30s", addr)
	}
	return s
}

// URL is the server's MCP endpoint.
func (s *HTTPServer) URL() string { return "http://" + s.Addr + "/mcp" }

// Stop kills the server and waits for it.
func (s *HTTPServer) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.readDone
		_ = s.cmd.Wait()
	})
}
