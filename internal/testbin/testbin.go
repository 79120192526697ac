// Package testbin locates, and if need be builds, the helper programs that
// Switchyard's tests run as MCP backends.
//
// The test server (cmd/testserver) is found through the environment
// variable SWITCHYARD_TESTSERVER; when it is unset, Build compiles it once
// into a temporary directory. A package's TestMain calls Build (or Main,
// which also checks for leaked goroutines), and its tests call TestServer:
//
//	func TestMain(m *testing.M) { testbin.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		bin := testbin.TestServer(t)
//		...
//	}
package testbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// Environment variables naming prebuilt helpers.
const (
	// TestServerEnv names the path of a built cmd/testserver binary.
	TestServerEnv = "SWITCHYARD_TESTSERVER"
	// EverythingEnv names the path of @modelcontextprotocol/server-everything's
	// dist/index.js (installed under test/npm by `make npm-deps`).
	EverythingEnv = "SWITCHYARD_EVERYTHING"
)

var (
	mu    sync.Mutex
	built string // path set by Build, "" before
)

// Build returns the path of the test server binary: the value of
// SWITCHYARD_TESTSERVER when it is set, otherwise a binary freshly built
// with `go build ./cmd/testserver` into a temporary directory. cleanup
// removes what Build created (it is never nil, and safe to call when err is
// not nil). Call Build once from TestMain, before m.Run.
func Build() (path string, cleanup func(), err error) {
	cleanup = func() {}
	if p := os.Getenv(TestServerEnv); p != "" {
		if _, err := os.Stat(p); err != nil { // #nosec G703 -- the path is the test environment's own setting
			return "", cleanup, fmt.Errorf("testbin: %s: %w", TestServerEnv, err)
		}
		setBuilt(p)
		return p, cleanup, nil
	}
	path, remove, err := compile(context.Background(), "switchyard-testbin-")
	if err != nil {
		return "", cleanup, err
	}
	cleanup = func() {
		setBuilt("")
		remove()
	}
	setBuilt(path)
	return path, cleanup, nil
}

// Main is a complete TestMain: it builds the test server, runs the tests,
// checks that no goroutine leaked, removes the build and exits.
func Main(m *testing.M, opts ...goleak.Option) {
	_, cleanup, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	opts = append(opts, goleak.Cleanup(func(code int) {
		cleanup()
		runCleanups()
		os.Exit(code)
	}))
	goleak.VerifyTestMain(m, opts...)
}

// TestServer returns the path of the test server binary found or built by
// Build. When Build has not run, it uses SWITCHYARD_TESTSERVER, and fails
// the test when that is unset too.
func TestServer(tb testing.TB) string {
	tb.Helper()
	p := Path()
	if p == "" {
		tb.Fatalf("testbin: no test server: call testbin.Build from TestMain or set %s", TestServerEnv)
	}
	return p
}

// Everything returns the path of server-everything's dist/index.js from
// SWITCHYARD_EVERYTHING, or "" when it is not set. Tests that need it skip
// when it returns "":
//
//	if testbin.Everything() == "" {
//		t.Skip("SWITCHYARD_EVERYTHING is not set; run `make npm-deps` and set it to use server-everything")
//	}
func Everything() string { return os.Getenv(EverythingEnv) }

func setBuilt(p string) {
	mu.Lock()
	built = p
	mu.Unlock()
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output() // #nosec G204 -- the go tool on PATH, fixed arguments
	if err != nil {
		return "", fmt.Errorf("testbin: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("testbin: not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// compile builds a static test server (CGO_ENABLED=0, so it also runs in
// an image FROM scratch) into a new temporary directory that cleanup
// removes.
func compile(ctx context.Context, prefix string) (path string, cleanup func(), err error) {
	return compileCmd(ctx, prefix, "testserver")
}

// compileCmd builds the static program ./cmd/name into a new temporary
// directory that cleanup removes.
func compileCmd(ctx context.Context, prefix, name string) (path string, cleanup func(), err error) {
	cleanup = func() {}
	root, err := moduleRoot()
	if err != nil {
		return "", cleanup, err
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", cleanup, fmt.Errorf("testbin: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	path = filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", path, "./cmd/"+name) // #nosec G204 -- the go tool on PATH, a program of this module
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", func() {}, fmt.Errorf("testbin: CGO_ENABLED=0 go build ./cmd/%s: %w\n%s", name, err, out.Bytes())
	}
	return path, cleanup, nil
}

// goTool is the go command: the one on PATH (go test puts its own first).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
